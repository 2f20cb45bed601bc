"""Transport Settings (seed "Configure transport settings for smart licensing") and the URL
rules checked when they are saved.

Settings: a transport mode (Smart Transport, or Smart Call Home (Deprecated)) and a connection:

- **Direct**: the mode's default URL (``SMART_TRANSPORT_URL`` / ``CALL_HOME_URL``);
- **Transport Gateway**: a URL of the user's (an SSM On-Prem, a gateway, a lab SSM);
- **HTTP/HTTPS proxy**: host and port of a CONNECT proxy; the mode's default URL through it.

URL rules, each refusal naming its rule (``UrlRule``) and, where one exists, the URL to use:

- ``https only``: the device plane is HTTPS;
- ``path fits the mode``: Smart Transport posts to ``/licservice/license`` (cloud) or
  ``/SmartTransport`` (On-Prem); Smart Call Home to ``/its/service/oddce/services/DDCEService``
  (cloud) or ``/Transportgateway/services/DeviceRequestHandler`` (On-Prem). A path of the other
  mode is refused with the same deployment's path of this mode suggested.

Pure: no IO, no clock.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

import msgspec

from shared import wire
from shared.errors import BadRequest
from shared.revocation import RevocationMode
from shared.states import ConnectionMode, TransportMode

SMART_TRANSPORT_URL = "https://smartreceiver.cisco.com/licservice/license"
CALL_HOME_URL = "https://tools.cisco.com/its/service/oddce/services/DDCEService"

ST_CLOUD_PATH = "/licservice/license"
ST_ONPREM_PATH = "/SmartTransport"
CH_CLOUD_PATH = "/its/service/oddce/services/DDCEService"
CH_ONPREM_PATH = "/Transportgateway/services/DeviceRequestHandler"

DEFAULT_URL: dict[TransportMode, str] = {
    TransportMode.SMART_TRANSPORT: SMART_TRANSPORT_URL,
    TransportMode.CALL_HOME: CALL_HOME_URL,
}
#: The device paths of each mode: (cloud, On-Prem).
PATHS: dict[TransportMode, tuple[str, str]] = {
    TransportMode.SMART_TRANSPORT: (ST_CLOUD_PATH, ST_ONPREM_PATH),
    TransportMode.CALL_HOME: (CH_CLOUD_PATH, CH_ONPREM_PATH),
}
#: The same deployment (cloud or On-Prem) in the other mode.
COUNTERPART: dict[str, str] = {
    ST_CLOUD_PATH: CH_CLOUD_PATH,
    ST_ONPREM_PATH: CH_ONPREM_PATH,
    CH_CLOUD_PATH: ST_CLOUD_PATH,
    CH_ONPREM_PATH: ST_ONPREM_PATH,
}


class UrlRule(StrEnum):
    """The rules a transport URL must pass; the value is the name a refusal quotes."""

    WELL_FORMED = "well-formed URL"
    HTTPS_ONLY = "https only"
    PATH_FITS_MODE = "path fits the mode"


_CODES: dict[UrlRule, str] = {
    UrlRule.WELL_FORMED: "url_malformed",
    UrlRule.HTTPS_ONLY: "url_not_https",
    UrlRule.PATH_FITS_MODE: "url_path_wrong",
}


class UrlRefused(BadRequest):
    """A URL broke ``rule``; ``suggestion`` is the URL that would pass, when there is one."""

    code = "url_refused"

    def __init__(self, rule: UrlRule, message: str, *, fix: str, suggestion: str | None = None, code: str = "") -> None:
        detail: dict[str, str | int | float | bool | None] = {"rule": str(rule)}
        if suggestion:
            detail["suggestion"] = suggestion
        super().__init__(f"URL rule '{rule}': {message}", code=code or _CODES[rule], fix=fix, detail=detail)
        self.rule = rule
        self.suggestion = suggestion


@dataclass(frozen=True, slots=True)
class DeviceUrl:
    """A transport URL that passed the rules."""

    url: str
    host: str
    port: int
    path: str

    @property
    def is_ip(self) -> bool:
        return is_ip(self.host)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _authority(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port == 443 else f"{shown}:{port}"


def with_host(url: DeviceUrl, host: str, port: int | None = None, path: str | None = None) -> str:
    """``url`` with another host (and port, path): the URL a suggestion offers."""
    return f"https://{_authority(host, url.port if port is None else port)}{url.path if path is None else path}"


def mode_of_path(path: str) -> TransportMode | None:
    for mode, paths in PATHS.items():
        if path in paths:
            return mode
    return None


def check_url(url: str, mode: TransportMode) -> DeviceUrl:
    """Apply the URL rules for ``mode``.

    Raises:
        UrlRefused: naming the broken rule, with the URL to use where one can be inferred.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise UrlRefused(
            UrlRule.WELL_FORMED, f"{url!r} is not a URL ({exc})", fix=f"e.g. {DEFAULT_URL[mode]}"
        ) from None
    if not host or parts.username or parts.password or parts.query or parts.fragment:
        raise UrlRefused(
            UrlRule.WELL_FORMED,
            f"{url!r} needs a host and nothing but scheme, host, port and path (no user, query or fragment)",
            fix=f"e.g. {DEFAULT_URL[mode]}",
        )
    found = DeviceUrl(text, host.lower().rstrip("."), port or 443, parts.path or "/")
    right_path = _right_path(found.path, mode)
    if parts.scheme.lower() != "https":
        suggestion = with_host(found, found.host, found.port if port else 443, right_path)
        raise UrlRefused(
            UrlRule.HTTPS_ONLY,
            f"{url!r} uses {parts.scheme or 'no scheme'}; the device plane is HTTPS only",
            fix=f"use {suggestion}",
            suggestion=suggestion,
        )
    if found.path not in PATHS[mode]:
        raise _wrong_path(found, mode, right_path)
    return found


def _right_path(path: str, mode: TransportMode) -> str:
    """The path of ``mode`` that ``path`` most likely meant (the cloud path when nothing fits)."""
    cloud, onprem = PATHS[mode]
    norm = path.rstrip("/").lower()
    for p in PATHS[mode]:
        if p.lower() == norm:
            return p
    other = mode_of_path(path.rstrip("/"))
    if other is not None and other is not mode:
        return COUNTERPART[path.rstrip("/")]
    return onprem if norm.startswith(("/smarttransport", "/transportgateway")) else cloud


def _wrong_path(url: DeviceUrl, mode: TransportMode, right: str) -> UrlRefused:
    suggestion = with_host(url, url.host, path=right)
    other = mode_of_path(url.path.rstrip("/"))
    allowed = " or ".join(PATHS[mode])
    if other is not None and other is not mode:
        return UrlRefused(
            UrlRule.PATH_FITS_MODE,
            f"{url.path} is a {other} path, but the transport mode is {mode}",
            code="url_path_other_mode",
            fix=f"use {suggestion}, or select the transport mode {other}",
            suggestion=suggestion,
        )
    return UrlRefused(
        UrlRule.PATH_FITS_MODE,
        f"{url.path} is not a {mode} path ({mode} posts to {allowed})",
        fix=f"use {suggestion}",
        suggestion=suggestion,
    )


# -- settings --------------------------------------------------------------------------------------

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


class TransportSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the Transport Settings page saves. ``url`` is for Transport Gateway only; the proxy
    host and port for HTTP/HTTPS proxy only; Direct uses the mode's default URL."""

    mode: TransportMode = TransportMode.SMART_TRANSPORT
    connection: ConnectionMode = ConnectionMode.DIRECT
    url: Annotated[str, msgspec.Meta(max_length=2048)] | None = None
    proxy_host: Annotated[str, msgspec.Meta(max_length=253)] | None = None
    proxy_port: Port | None = None
    #: Whether the SSM's TLS certificate is checked against its CRL / OCSP responder (issue 19):
    #: ``soft-fail`` refuses a revoked certificate and goes on when no answer comes.
    revocation: RevocationMode = RevocationMode.SOFT_FAIL

    @property
    def effective_url(self) -> str:
        """The URL requests are posted to."""
        if self.connection is ConnectionMode.GATEWAY and self.url:
            return self.url
        return DEFAULT_URL[self.mode]

    @property
    def proxy_url(self) -> str | None:
        if self.connection is not ConnectionMode.PROXY or not self.proxy_host:
            return None
        return f"http://{_authority(self.proxy_host, self.proxy_port or 0)}"


def _refuse(message: str, *, code: str, fix: str) -> BadRequest:
    return BadRequest(message, code=code, fix=fix)


def check_settings(s: TransportSettings) -> TransportSettings:
    """Validate ``s`` and return it normalized (fields of the other connections cleared).

    Raises:
        UrlRefused: a gateway URL breaks a URL rule.
        BadRequest: ``url_not_applicable``, ``url_required``, ``proxy_invalid``.
    """
    if s.connection is ConnectionMode.DIRECT:
        if s.url and s.url.strip() != DEFAULT_URL[s.mode]:
            raise _refuse(
                f"Direct uses the default {s.mode} URL {DEFAULT_URL[s.mode]}, not {s.url}",
                code="url_not_applicable",
                fix="to post to another URL select Transport Gateway with that URL",
            )
        return TransportSettings(mode=s.mode, connection=s.connection, revocation=s.revocation)
    if s.connection is ConnectionMode.GATEWAY:
        if not s.url:
            raise _refuse(
                "Transport Gateway needs a URL",
                code="url_required",
                fix=f"give the gateway's URL, e.g. https://ssm-onprem.example.com{PATHS[s.mode][1]}",
            )
        checked = check_url(s.url, s.mode)
        return TransportSettings(mode=s.mode, connection=s.connection, url=checked.url, revocation=s.revocation)
    if s.url and s.url.strip() != DEFAULT_URL[s.mode]:
        raise _refuse(
            f"HTTP/HTTPS proxy carries requests to the default {s.mode} URL {DEFAULT_URL[s.mode]}, not {s.url}",
            code="url_not_applicable",
            fix="give only the proxy's host and port (or select Transport Gateway for another URL)",
        )
    host = (s.proxy_host or "").strip().strip("[]")
    if not host or not (is_ip(host) or _HOSTNAME.match(host)):
        raise _refuse(
            f"proxy host {s.proxy_host!r} is not a host name or an IP address",
            code="proxy_invalid",
            fix="give the proxy as HOST:PORT, e.g. proxy.example.com:3128",
        )
    if s.proxy_port is None:
        raise _refuse("HTTP/HTTPS proxy needs a port", code="proxy_invalid", fix="e.g. proxy.example.com:3128")
    return TransportSettings(
        mode=s.mode, connection=s.connection, proxy_host=host, proxy_port=s.proxy_port, revocation=s.revocation
    )


_MODE_NAMES: dict[str, TransportMode] = {
    "smart-transport": TransportMode.SMART_TRANSPORT,
    "smart transport": TransportMode.SMART_TRANSPORT,
    "call-home": TransportMode.CALL_HOME,
    "smart call home": TransportMode.CALL_HOME,
    "smart call home (deprecated)": TransportMode.CALL_HOME,
}


def parse_mode(text: str) -> TransportMode:
    """A transport mode by its display name or short name (``smart-transport``, ``call-home``)."""
    try:
        return _MODE_NAMES[text.strip().lower()]
    except KeyError:
        raise _refuse(
            f"unknown transport mode {text!r}",
            code="transport_mode_unknown",
            fix="use smart-transport (Smart Transport) or call-home (Smart Call Home (Deprecated))",
        ) from None


def parse_proxy(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) of a proxy."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise _refuse(f"proxy {text!r} is not HOST:PORT", code="proxy_invalid", fix="e.g. proxy.example.com:3128")
    return host.strip("[]"), int(port)


def initial_settings(*, mode: str, url: str | None, proxy: str | None) -> TransportSettings:
    """The settings agent.toml describes: a proxy gives HTTP/HTTPS proxy; a URL other than the
    mode's default gives Transport Gateway; else Direct."""
    m = parse_mode(mode)
    if proxy:
        host, port = parse_proxy(proxy)
        return check_settings(
            TransportSettings(mode=m, connection=ConnectionMode.PROXY, url=url, proxy_host=host, proxy_port=port)
        )
    if url is None or url.strip() == DEFAULT_URL[m]:
        return TransportSettings(mode=m)
    return check_settings(TransportSettings(mode=m, connection=ConnectionMode.GATEWAY, url=url))


def encode_settings(s: TransportSettings) -> str:
    return msgspec.json.encode(s).decode()


def decode_settings(text: str | bytes) -> TransportSettings:
    """Settings from JSON (the API body, the agent's saved copy), validated by ``check_settings``."""
    data = text.encode() if isinstance(text, str) else text
    raw = wire.decode(
        data,
        TransportSettings,
        what="transport settings",
        fix='send JSON like {"mode": "Smart Transport", "connection": "Transport Gateway", '
        '"url": "https://ssm.example.com/SmartTransport"}',
        malformed="invalid_body",
    )
    return check_settings(raw)
