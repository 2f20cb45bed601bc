"""``agent.toml``: what the Smart Agent hosts and how it reaches the SSM.

Read with tomllib, validated strictly with msgspec: an unknown key or a wrong type is an error
that names the key. Relative paths are relative to the config file's folder.

Example::

    data_dir = "var/agent"
    api = "127.0.0.1:8787"

    [transport]            # the initial Transport Settings (saved by the agent; 'smart-agent transport' changes them)
    mode = "smart-transport"                                     # or "call-home"
    url = "https://smartreceiver.cisco.com/licservice/license"   # the default: Direct; another: Transport Gateway
    # proxy = "proxy.example.com:3128"                           # HTTP/HTTPS proxy (to the default URL)
    truststore = "certs/truststore.pem"                          # seeds <data_dir>/cacerts at the first start

    [resolve]   # like curl --connect-to: reach a name:port at another address
    "smartreceiver.cisco.com:443" = "127.0.0.1:8443"

    [[instances]]
    name = "ucce-1"
    product = "Unified CCE"
    deployment_type = "Unified CCE 2000 Agents"
    license_type = "Flex"
    usage_mode = "Production"
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from shared.catalog import DEPLOYMENT_TYPES, LICENSE_NAMES
from shared.errors import BadRequest
from shared.states import LicenseType, UsageMode
from shared.transportsettings import TransportSettings, initial_settings
from shared.usage import Profile, ProfileAnchor, ProfileStep

InstanceName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class ConfigError(Exception):
    """agent.toml cannot be used; the message names the key and the fix."""


class InstanceConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: InstanceName
    product: str = "Unified CCE"
    deployment_type: str = "Unified CCE 2000 Agents"
    license_type: LicenseType = LicenseType.FLEX
    usage_mode: UsageMode = UsageMode.PRODUCTION
    serial_number: str | None = None
    #: False leaves the serial number empty until 'smart-agent serial generate' (a system alert drill).
    generate_serial: bool = True
    udi_pid: str | None = None
    hostname: str | None = None
    #: Constant in-use counts from the first start, e.g. {"Premium Agent" = 80}.
    usage: dict[str, int] = {}
    #: A time series: [{after = "0m", set = {"Premium Agent" = 80}}, {after = "2h", set = {...}}].
    usage_profile: list[ProfileStep] = []
    #: Repeat the profile every this long (e.g. "1d").
    usage_repeat: str | None = None
    #: What the profile's ``after`` counts from: "first-start", or "midnight" (00:00 UTC, domain
    #: time: with usage_repeat = "1d" the steps are times of day).
    usage_anchor: ProfileAnchor = ProfileAnchor.FIRST_START
    #: Entitlement tags to send instead of the catalog's, by license name: a product release whose
    #: tags the SSM does not know ("Invalid Tag"), e.g. {"Premium Agent" = "regid.2099-01.com.cisco.X,9.0_..."}.
    entitlement_tags: dict[str, Annotated[str, msgspec.Meta(min_length=1, max_length=512)]] = {}

    def profile(self) -> Profile | None:
        steps = list(self.usage_profile)
        if self.usage:
            steps.insert(0, ProfileStep(after="0s", set=dict(self.usage)))
        return Profile.build(steps, self.usage_repeat, self.usage_anchor) if steps else None


class TransportConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    mode: str = "smart-transport"
    #: None: the mode's default URL (Direct); another URL: Transport Gateway.
    url: str | None = None
    #: HOST:PORT of an HTTP/HTTPS proxy (to the mode's default URL).
    proxy: str | None = None
    truststore: str = "certs/truststore.pem"
    timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=600)] = 15.0


class ClockConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    kind: Literal["scaled", "virtual", "system"] = "scaled"
    rate: float | None = None
    epoch: str | None = None
    anchor: float | None = None


class AgentConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    data_dir: str = "var/agent"
    api: str = "127.0.0.1:8787"
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "info"
    transport: TransportConfig = TransportConfig()
    clock: ClockConfig | None = None
    resolve: dict[str, str] = {}
    policy: dict[str, str] = {}
    instances: list[InstanceConfig] = []
    #: Folder of the config file; relative paths resolve against it.
    base: str = "."

    def path(self, p: str) -> Path:
        q = Path(p)
        return q if q.is_absolute() else Path(self.base) / q

    @property
    def data_path(self) -> Path:
        return self.path(self.data_dir)

    def initial_transport(self) -> TransportSettings:
        """The Transport Settings agent.toml describes (the value before any is saved)."""
        t = self.transport
        return initial_settings(mode=t.mode, url=t.url, proxy=t.proxy)

    @property
    def api_address(self) -> tuple[str, int]:
        host, _, port = self.api.rpartition(":")
        return host or "127.0.0.1", int(port)


def _check(cfg: AgentConfig) -> AgentConfig:
    names = [i.name for i in cfg.instances]
    if not names:
        raise ConfigError("agent.toml hosts no product instance; add an [[instances]] table with a name")
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(f"instance names must be unique; repeated: {', '.join(sorted(dupes))}")
    for inst in cfg.instances:
        try:
            inst.profile()
        except BadRequest as exc:
            raise ConfigError(
                f"instance {inst.name}: usage: {exc.message}" + (f" ({exc.fix})" if exc.fix else "")
            ) from None
        unknown = sorted(set(inst.entitlement_tags) - set(LICENSE_NAMES))
        if unknown:
            raise ConfigError(
                f"instance {inst.name}: entitlement_tags: {', '.join(map(repr, unknown))} is no Unified CCE license; "
                f"use one of: {', '.join(LICENSE_NAMES)}"
            )
        if inst.deployment_type not in DEPLOYMENT_TYPES:
            raise ConfigError(
                f"instance {inst.name}: unknown deployment_type {inst.deployment_type!r}; "
                f"use one of: {', '.join(DEPLOYMENT_TYPES)}"
            )
    host, sep, port = cfg.api.rpartition(":")
    if not sep or not port.isdigit() or host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        raise ConfigError(f"api = {cfg.api!r}: the local API listens on loopback only, e.g. '127.0.0.1:8787'")
    try:
        cfg.initial_transport()
    except BadRequest as exc:
        raise ConfigError(f"[transport]: {exc.message} ({exc.fix})") from None
    for k, v in cfg.resolve.items():
        if ":" not in k or ":" not in v:
            raise ConfigError(f"[resolve] {k!r} = {v!r}: both sides are HOST:PORT")
    return cfg


def parse_config(text: str, *, base: Path) -> AgentConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"agent.toml is not valid TOML: {exc}") from None
    raw["base"] = str(base)
    try:
        cfg = msgspec.convert(raw, AgentConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"agent.toml: {exc}") from None
    return _check(cfg)


def load_config(path: Path) -> AgentConfig:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}; pass --config PATH") from None
    return parse_config(text, base=path.resolve().parent)
