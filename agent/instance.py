"""One product instance inside the agent: its state, its ID key, and the requests it sends.

The licensing rules are in ``shared.lifecycle``; this shell builds messages, sends them through
the transport, applies the replies and persists the result before answering the caller.
Requests of one instance are serialized by a lock.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from agent.store import AgentStore
from agent.transport import Transport
from shared import envelope, lifecycle, pki, tokens
from shared.catalog import OFFERED, LicenseKey
from shared.clock import AnyClock, epoch
from shared.errors import SmartLicensingError
from shared.lifecycle import InstanceState, StatusView
from shared.logging import get_logger
from shared.messages import Authorization, Authorize, EntitlementRequest, Register, Registered
from shared.policy import Policy

log = get_logger("agent.instance")


class InstanceRunner:
    def __init__(
        self,
        *,
        state: InstanceState,
        key: pki.PrivateKey | None,
        transport: Transport,
        store: AgentStore,
        clock: AnyClock,
        policy: Policy,
    ) -> None:
        self.state = state
        self.key = key
        self.transport = transport
        self.store = store
        self.clock = clock
        self.policy = policy
        self.lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self.state.name

    def status(self) -> StatusView:
        return lifecycle.status_view(self.state, self.clock.now(), self.policy)

    async def _save(
        self,
        state: InstanceState,
        now: datetime,
        *events: tuple[str, str],
        key: bytes | None = None,
        cert: str | None = None,
    ) -> None:
        await self.store.save(state, now, key_pem=key, cert_pem=cert, events=list(events))
        self.state = state

    async def _fail(self, err: SmartLicensingError, action: str) -> None:
        now = self.clock.now()
        state = lifecycle.on_failure(self.state, err, now, action=action)
        await self._save(state, now, (f"{action}_failed", f"{err.code}: {err.message}"))
        log.warning(f"{action}_failed", instance=self.name, code=err.code, error=err.message)

    # -- actions ---------------------------------------------------------------------------------
    async def register(self, token: str, *, force: bool = False) -> StatusView:
        """Register with a token (``force``: reregister). Raises the SSM's or the network's error."""
        async with self.lock:
            action = "reregister" if force else "register"
            try:
                if not force:
                    lifecycle.check_can_register(self.state)
                tokens.parse(token)  # a mistyped token is told here, before any network
            except SmartLicensingError as err:
                await self._fail(err, action)
                raise
            key = pki.new_key()
            csr = pki.make_csr(key, common_name=self.state.name, serial_number=self.state.serial_number)
            msg = Register(
                sent_at=epoch(self.clock.now()),
                nonce=envelope.new_nonce(),
                token=token,
                identity=self.state.identity(),
                csr=csr.decode(),
                force=force,
            )
            try:
                reply = await self.transport.register(msg)
            except SmartLicensingError as err:
                await self._fail(err, action)
                raise
            assert isinstance(reply, Registered)
            now = self.clock.now()
            state = lifecycle.on_registered(self.state, reply, now)
            self.key = key
            await self._save(
                state,
                now,
                ("registered", f"registered to {reply.smart_account} / {reply.virtual_account} as {reply.piid}"),
                key=pki.key_pem(key),
                cert=reply.id_cert,
            )
            log.info("registered", instance=self.name, piid=reply.piid, va=reply.virtual_account)
            await self._authorize_locked()
        return self.status()

    def _entitlement_requests(self) -> list[EntitlementRequest]:
        offered = OFFERED.get((self.state.effective_license_type, self.state.usage_mode), ())
        return [
            EntitlementRequest(tag=LicenseKey(n, self.state.effective_license_type, self.state.usage_mode).tag, count=0)
            for n in offered
        ]

    async def _authorize_locked(self) -> bool:
        """Request authorization; on failure record the reason and return False."""
        assert self.key is not None and self.state.piid is not None
        msg = Authorize(
            sent_at=epoch(self.clock.now()),
            nonce=envelope.new_nonce(),
            piid=self.state.piid,
            entitlements=self._entitlement_requests(),
        )
        try:
            reply = await self.transport.send(msg, self.key)
        except SmartLicensingError as err:
            await self._fail(err, "authorize")
            return False
        assert isinstance(reply, Authorization)
        now = self.clock.now()
        state = lifecycle.on_authorized(self.state, reply, now)
        await self._save(state, now, ("authorized", f"authorized at {now.isoformat()}"))
        return True
