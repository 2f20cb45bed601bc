"""The Smart Agent daemon: loads the configured product instances and serves the local API.

An instance is created at its first start (evaluation begins then and is persisted); later
starts load it from the store, so no restart resets anything. The same holds for the Transport
Settings (agent.toml gives the first value; a saved change wins) and the truststore (seeded once
into the data directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import string

import msgspec

from agent.config import AgentConfig, InstanceConfig
from agent.diagnose import Report, diagnose
from agent.instance import InstanceRunner
from agent.smartlog import agent_logger
from agent.store import AgentStore
from agent.transport import Transport
from agent.truststore import Entry, TrustStore
from shared import lifecycle, permits, pki
from shared.banner import Banner, SystemAlert, system_alerts
from shared.banner import banner as compose_banner
from shared.clock import AnyClock, epoch
from shared.codes import ErrorCode
from shared.errors import NotFound
from shared.logging import get_logger
from shared.policy import Policy
from shared.states import RegistrationStatus
from shared.transportsettings import TransportSettings, check_settings, decode_settings, encode_settings
from shared.usage import UsageState

log = get_logger("agent.daemon")

_PIDS = {"Unified CCE": "UCCE", "Packaged CCE": "PCCE", "CVP": "CVP", "Unified CVP": "CVP"}


def new_serial_number() -> str:
    """A Cisco-looking serial number: 3 letters, 4 digits, 4 alphanumerics (e.g. FCH2241A7QZ)."""
    alnum = string.ascii_uppercase + string.digits
    return (
        "SSM"
        + "".join(secrets.choice(string.digits) for _ in range(4))
        + "".join(secrets.choice(alnum) for _ in range(4))
    )


TRANSPORT_SETTING = "transport"


async def open_transport(cfg: AgentConfig, store: AgentStore) -> Transport:
    """The transport with the saved Transport Settings (agent.toml's at the first start, saved
    then) and the truststore of the data directory (seeded from transport.truststore once)."""
    truststore = TrustStore.open(cfg.data_path / "cacerts", seed=cfg.path(cfg.transport.truststore))
    saved = await store.setting(TRANSPORT_SETTING)
    if saved is None:
        settings = cfg.initial_transport()
        await store.set_setting(TRANSPORT_SETTING, encode_settings(settings))
    else:
        settings = decode_settings(saved)
        if settings != cfg.initial_transport():
            log.info(
                "transport_settings_saved_win", effective=settings.effective_url, why="changed since the first start"
            )
    return Transport(
        settings=settings,
        truststore=truststore,
        resolve=cfg.resolve,
        timeout=cfg.transport.timeout_seconds,
        workdir=cfg.data_path,
    )


def _pid(cfg: InstanceConfig) -> str:
    return cfg.udi_pid or _PIDS.get(cfg.product, cfg.product.upper().replace(" ", "-")[:24])


class Agent:
    """The product instances one agent hosts."""

    def __init__(
        self, *, config: AgentConfig, clock: AnyClock, store: AgentStore, transport: Transport, policy: Policy
    ) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.transport = transport
        self.policy = policy
        #: The structured log, and SmartAgent.log for the events marked ``smartlog``.
        self.log = agent_logger(config.data_path)
        self.runners: dict[str, InstanceRunner] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Load the instances and start each one's timer loop."""
        await self.load()
        for runner in self.runners.values():
            wake = await runner.step()  # catch up with what happened while the agent was down
            task = asyncio.create_task(runner.run(wake), name=f"instance:{runner.name}")
            self.clock.track(task)
            self._tasks.append(task)

    async def reload(self) -> None:
        """After the store was reset or restored: stop the timers, load every instance again, restart."""
        await self.stop()
        self.runners.clear()
        await self.start()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def load(self) -> None:
        """Load each configured instance, creating (and persisting) it at its first start."""
        for cfg in self.config.instances:
            stored = await self.store.load(cfg.name)
            now = self.clock.now()
            if stored is None:
                state = lifecycle.new_instance(
                    name=cfg.name,
                    product=cfg.product,
                    udi_pid=_pid(cfg),
                    serial_number=cfg.serial_number or (new_serial_number() if cfg.generate_serial else ""),
                    hostname=cfg.hostname or f"{cfg.name}.lab.local",
                    deployment_type=cfg.deployment_type,
                    license_type=cfg.license_type,
                    usage_mode=cfg.usage_mode,
                    now=now,
                )
                await self.store.save(
                    state,
                    now,
                    events=[
                        (
                            state.first_started_at,
                            "first_start",
                            f"first start; serial number {state.serial_number}; "
                            f"evaluation period of {self.policy.evaluation_period.days} days began",
                        )
                    ],
                )
                log.info("instance_created", instance=cfg.name, serial=state.serial_number)
                key = None
                cert_pem = None
                usage_state = UsageState()
            else:
                state = stored.state
                usage_state = stored.usage
                key = pki.load_key(stored.key_pem) if stored.key_pem else None
                cert_pem = stored.cert_pem
                wanted = (cfg.license_type, cfg.usage_mode)
                if wanted != (state.license_type, state.usage_mode):
                    if state.registration is RegistrationStatus.UNREGISTERED:
                        state = permits.set_license_type(state, *wanted)
                        await self.store.save(
                            state,
                            now,
                            events=[
                                (
                                    epoch(now),
                                    "license_type_changed",
                                    f"license type {wanted[0]} {wanted[1]} (from agent.toml)",
                                )
                            ],
                        )
                    else:
                        log.warning(
                            "license_type_kept",
                            instance=cfg.name,
                            configured=f"{wanted[0]} {wanted[1]}",
                            kept=f"{state.license_type} {state.usage_mode}",
                            why="registered; deregister first to change the license type",
                        )
            if state.entitlement_tags != cfg.entitlement_tags:
                state = msgspec.structs.replace(state, entitlement_tags=dict(cfg.entitlement_tags))
                tags = ", ".join(f"{k} = {v}" for k, v in cfg.entitlement_tags.items()) or "the catalog's"
                await self.store.save(
                    state, now, events=[(epoch(now), "entitlement_tags", f"entitlement tags: {tags}")]
                )
            self.runners[cfg.name] = InstanceRunner(
                usage_state=usage_state,
                profile=cfg.profile(),
                state=state,
                key=key,
                cert_pem=cert_pem,
                transport=self.transport,
                store=self.store,
                clock=self.clock,
                policy=self.policy,
                log=self.log,
                reports_alone=self._reports_alone,
            )

    # -- what the Administration portal shows above every page --------------------------------
    def banner(self) -> Banner:
        """The aggregate banner and the License Compliance report of every instance, now."""
        return compose_banner([(r.state, r.usage) for r in self.runners.values()], self.clock.now(), self.policy)

    def alerts(self) -> list[SystemAlert]:
        """The system alerts of every machine (instance), red while their condition holds."""
        return [
            alert
            for r in self.runners.values()
            for alert in system_alerts(
                r.name, initialized=r.initialized, enabled=r.state.enabled, serial=r.state.serial_number, since={}
            )
        ]

    # -- Transport Settings, truststore, diagnosis ---------------------------------------------
    async def set_transport(self, settings: TransportSettings) -> TransportSettings:
        """Save new Transport Settings (checked by the URL rules), then use them. Allowed while
        registered: the same ID certificate signs the requests in either mode."""
        settings = check_settings(settings)
        await self.store.set_setting(TRANSPORT_SETTING, encode_settings(settings))
        await self.transport.configure(settings)
        self._notice(
            "transport_settings_saved",
            "transport",
            f"Transport Settings saved: {settings.mode}, {settings.connection}, {settings.effective_url}"
            + (f" via {settings.proxy_url}" if settings.proxy_url else ""),
        )
        return settings

    def _notice(self, event: str, action: str, notice: str) -> None:
        """An agent-wide change, in the structured log and SmartAgent.log."""
        self.log.info(event, action=action, at=epoch(self.clock.now()), notice=notice, smartlog=True)

    def trust_list(self) -> list[Entry]:
        return self.transport.truststore.entries()

    def trust_import(self, alias: str, data: bytes) -> Entry:
        entry = self.transport.truststore.add(alias, data)
        self._notice("trust_imported", "trust", f"imported {alias}: {entry.cert.subject.rfc4514_string()}")
        return entry

    def trust_remove(self, alias: str) -> Entry:
        entry = self.transport.truststore.remove(alias)
        self._notice("trust_removed", "trust", f"removed {alias}: {entry.cert.subject.rfc4514_string()}")
        return entry

    async def diagnose(self, url: str | None = None) -> Report:
        return await diagnose(self.transport, url)

    def _reports_alone(self) -> bool:
        """At most one of this agent's instances is registered and enabled (so reports it
        batches during a clock jump cannot interleave with another's in a shared pool)."""
        reporting = [
            r
            for r in self.runners.values()
            if r.machine.state.enabled and r.machine.state.registration is RegistrationStatus.REGISTERED
        ]
        return len(reporting) <= 1

    def runner(self, name: str | None) -> InstanceRunner:
        """The named instance, or the only one when ``name`` is None.

        Raises:
            NotFound: ``instance_not_found`` naming the instances this agent hosts.
        """
        if name is None:
            if len(self.runners) == 1:
                return next(iter(self.runners.values()))
            raise NotFound(
                f"this agent hosts {len(self.runners)} product instances; say which",
                code=ErrorCode.INSTANCE_REQUIRED,
                fix=f"pass --instance with one of: {', '.join(self.runners)}",
            )
        try:
            return self.runners[name]
        except KeyError:
            raise NotFound(
                f"no product instance {name!r} on this agent",
                code=ErrorCode.INSTANCE_NOT_FOUND,
                fix=f"use one of: {', '.join(self.runners)}",
            ) from None
