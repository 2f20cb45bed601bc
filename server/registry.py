"""The SSM side of the device plane, as one object per SSM: requests in, signed replies out.

``register`` turns a token, an identity and a CSR into a product instance with an ID certificate;
``handle_signed`` verifies a signed request (``server.identity``) and hands it to the operation its
message type names (``OPERATIONS``): authorization and usage (``server.licensing``), ID-certificate
renewal and deregistration (``server.registration``), On-Prem synchronization
(``server.satellite``). Every change is committed before the reply is signed. Replies are compact
JWS signed with the SSM's response-signing key (ES256), carrying the chain in ``x5c``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from cryptography import x509

from server import licensing, registration, satellite, watch
from server.context import Context
from server.identity import Authenticated, Identity
from server.mtls import DeviceMtls
from server.pki_files import LabPki
from server.store import Store, UnitOfWork
from server.store.rows import Instance
from shared import envelope, sync
from shared.clock import AnyClock
from shared.errors import BadRequest
from shared.messages import (
    Authorize,
    Deregister,
    Register,
    Registered,
    RenewRegistration,
    Reply,
    ReportUsage,
    SignedRequest,
    SyncRequest,
    SyncResponse,
    encode,
)
from shared.policy import Policy

Operation = Callable[[Context, Authenticated], Awaitable[Reply]]


async def _sync(ctx: Context, auth: Authenticated) -> SyncResponse:
    msg = auth.msg
    assert isinstance(msg, SyncRequest)
    return await satellite.handle_sync(
        ctx.store, auth.instance, msg, ctx.clock.now(), ctx.policy, lambda uow: ctx.identity.remember(uow, auth)
    )


#: The operation of each signed message type.
OPERATIONS: dict[type[SignedRequest], Operation] = {
    Authorize: licensing.authorize,
    ReportUsage: licensing.report_usage,
    RenewRegistration: registration.renew_registration,
    Deregister: registration.deregister,
    SyncRequest: _sync,
}


class Registry:
    """Device-plane operations of one SSM."""

    def __init__(
        self, *, store: Store, clock: AnyClock, policy: Policy, lab_pki: LabPki, mtls: DeviceMtls | None = None
    ) -> None:
        self.ctx = Context(
            store=store,
            clock=clock,
            policy=policy,
            pki=lab_pki,
            identity=Identity(store=store, clock=clock, policy=policy),
            mtls=mtls or DeviceMtls(),
        )
        self._sign_chain = (lab_pki.signing.cert, *lab_pki.signing.chain)

    @property
    def pki(self) -> LabPki:
        return self.ctx.pki

    def rotate(self, new: LabPki) -> None:
        """A CA rollover's cutover: replies signed, and ID certificates issued, by the new PKI."""
        self.ctx.pki = new
        self._sign_chain = (new.signing.cert, *new.signing.chain)

    @property
    def watch_changed(self) -> asyncio.Event:
        return self.ctx.watch_changed

    def sign(self, reply: Reply, *, include_chain: bool | str = True) -> str:
        """The signed reply; its certificate chain travels when the client asked for it, or named a
        signing certificate other than the SSM's (``include_chain`` is then its ``kid``)."""
        if isinstance(include_chain, str):
            include_chain = include_chain != envelope.thumbprint(self._sign_chain[0])
        return envelope.sign_reply(encode(reply), self.pki.signing.key, self._sign_chain, include_chain=include_chain)

    async def register(self, msg: Register) -> Registered:
        return await registration.register(self.ctx, msg)

    async def handle_signed(self, body: str, *, presented: x509.Certificate | None = None) -> tuple[Reply, bool | str]:
        """Verify and apply a signed request; the reply, and whether its chain was asked for.

        ``presented``: the client certificate of the connection, judged when the SSM demands
        mutual TLS (before the request's nonce is used: a refused request may be sent again).
        """
        auth = await self.ctx.identity.authenticate(body)
        self.ctx.mtls.check(auth.instance, presented, self.ctx.clock)
        return await OPERATIONS[type(auth.msg)](self.ctx, auth), auth.want_chain

    async def remove_instance(self, piid: str, *, by: str = "ssm-server") -> Instance:
        instance = await registration.remove_instance(self.ctx.store, piid, self.ctx.clock.now(), by=by)
        self.ctx.identity.forget(piid)
        return instance

    def poke_watch(self) -> None:
        """Something the watch schedules changed (a subscription term bought or renewed)."""
        self.ctx.clock.poke(self.ctx.watch_changed)

    async def forget_all(self) -> None:
        """After the store was reset or restored: nothing cached stands, and the watch looks again."""
        self.ctx.identity.forget_all()
        await self.ctx.mtls.load(self.ctx.store)
        self.ctx.clock.poke(self.ctx.watch_changed)

    async def import_sync_file(self, data: bytes) -> bytes:
        """Disconnected mode, on the cloud: a request file in, a signed response file out."""
        f = sync.read_file(data, expect="request")
        auth = await self.ctx.identity.authenticate(f.jws, fresh=False)
        instance, msg = auth.instance, auth.msg
        if not isinstance(msg, SyncRequest):
            raise BadRequest(
                f"the file carries a {msg.__class__.__name__} request, not a synchronization",
                code="sync_file_tampered",
                fix="carry the file exactly as 'ssm-server sync export' wrote it",
            )
        sync.check_envelope(f, account_domain=msg.account_domain, onprem=msg.piid, sequence=msg.sequence)
        piid = instance.piid

        def live(uow: UnitOfWork) -> Instance:
            return self.ctx.identity.live(uow, piid)

        reply = await satellite.handle_sync(self.ctx.store, instance, msg, self.ctx.clock.now(), self.ctx.policy, live)
        return sync.write_file(
            direction="response",
            account_domain=reply.account_domain,
            onprem=reply.piid,
            sequence=reply.sequence,
            jws=self.sign(reply),
        )

    # -- the watch --------------------------------------------------------------------------------
    async def next_watch(self) -> int | None:
        return await watch.next_due(self.ctx)

    async def run_watch(self, now: datetime) -> int:
        return await watch.run(self.ctx, now)

    async def prune_nonces(self, now: datetime) -> int:
        return await watch.prune_nonces(self.ctx, now)
