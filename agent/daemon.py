"""The Smart Agent daemon: loads the configured product instances and serves the local API.

An instance is created at its first start (evaluation begins then and is persisted); later
starts load it from the store, so no restart resets anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import string

from agent.config import AgentConfig, InstanceConfig
from agent.instance import InstanceRunner
from agent.store import AgentStore
from agent.transport import Transport
from shared import lifecycle, pki
from shared.clock import AnyClock, epoch
from shared.errors import NotFound
from shared.logging import get_logger
from shared.policy import Policy
from shared.states import RegistrationStatus
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
                usage_state = UsageState()
            else:
                state = stored.state
                usage_state = stored.usage
                key = pki.load_key(stored.key_pem) if stored.key_pem else None
                wanted = (cfg.license_type, cfg.usage_mode)
                if wanted != (state.license_type, state.usage_mode):
                    if state.registration is RegistrationStatus.UNREGISTERED:
                        state = lifecycle.set_license_type(state, *wanted)
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
            self.runners[cfg.name] = InstanceRunner(
                usage_state=usage_state,
                profile=cfg.profile(),
                state=state,
                key=key,
                transport=self.transport,
                store=self.store,
                clock=self.clock,
                policy=self.policy,
            )

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
                code="instance_required",
                fix=f"pass --instance with one of: {', '.join(self.runners)}",
            )
        try:
            return self.runners[name]
        except KeyError:
            raise NotFound(
                f"no product instance {name!r} on this agent",
                code="instance_not_found",
                fix=f"use one of: {', '.join(self.runners)}",
            ) from None
