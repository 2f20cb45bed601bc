"""Who signed a device request: the instance, its key, and the checks that make it trusted.

``Identity.authenticate`` verifies a signed request (known signer, valid signature by the current
or the previous ID-certificate key, speaks for its signer, fresh, instance still registered) from
a cached view of the instance; ``Identity.remember`` checks it again inside the write transaction
and records the request's nonce there, so a replay is refused even across restarts.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.store import Store, UnitOfWork
from server.store.rows import Instance
from shared import envelope, sync
from shared.clock import AnyClock, epoch, utc
from shared.errors import Forbidden, Unauthorized
from shared.messages import SignedRequest, decode_signed_request
from shared.policy import Policy

_CACHE_SIZE = 200_000


def spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _load_key(der: bytes) -> ec.EllipticCurvePublicKey:
    key = serialization.load_der_public_key(der)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A signed request whose signature checked out."""

    instance: Instance  # as last read; the write transaction checks it again
    msg: SignedRequest
    used_previous: bool  # signed with the key of the previous ID certificate
    #: The client asks for the SSM's signing chain in the reply (True), or names the signing
    #: certificate it holds (its ``kid``: the chain travels when the SSM signs with another).
    want_chain: bool | str


def unknown(piid: str) -> Unauthorized:
    return Unauthorized(
        f"no product instance {piid!r} is registered with this SSM",
        code="signer_unknown",
        fix="register the product instance ('smart-agent register TOKEN'); if it was registered with "
        "another SSM, point the agent's transport URL there",
    )


#: An SSM On-Prem registers with its own verb, not the agent's.
_ONPREM_AGAIN = (
    "register the SSM On-Prem again with a new token of this virtual account: on the On-Prem, "
    "'ssm-server onprem register TOKEN --cloud URL --force' (--force: a Disconnected On-Prem cannot know "
    "the cloud removed it)"
)


def check_live(instance: Instance, now: datetime) -> None:
    """Refuse an instance that was removed or whose ID certificate expired (domain time).

    Raises:
        Forbidden: ``instance_removed``.
        Unauthorized: ``registration_expired``.
    """
    if instance.removed_at is not None:
        how = "deregistered" if instance.removed_reason == "deregistered" else "removed from the SSM"
        raise Forbidden(
            f"product instance {instance.piid} was {how} at {utc(instance.removed_at).isoformat()}",
            code="instance_removed",
            fix=_ONPREM_AGAIN
            if instance.product == sync.ONPREM_PRODUCT
            else "register it again with a new token ('smart-agent register TOKEN')",
        )
    if epoch(now) >= instance.cert_expires_at:
        raise Unauthorized(
            f"the ID certificate of {instance.piid} expired at {utc(instance.cert_expires_at).isoformat()}",
            code="registration_expired",
            fix=_ONPREM_AGAIN
            if instance.product == sync.ONPREM_PRODUCT
            else "reregister the product instance with a new token ('smart-agent reregister TOKEN')",
        )


class Identity:
    """The signers of device requests, with their keys cached (loading a key costs more than
    verifying with it) and their rows cached for the checks before the transaction."""

    def __init__(self, *, store: Store, clock: AnyClock, policy: Policy) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy
        self._keys: OrderedDict[str, tuple[str, ec.EllipticCurvePublicKey]] = OrderedDict()
        self._instances: OrderedDict[str, Instance] = OrderedDict()

    def _public_key(self, instance: Instance) -> ec.EllipticCurvePublicKey:
        cached = self._keys.get(instance.piid)
        if cached and cached[0] == instance.cert_serial:
            self._keys.move_to_end(instance.piid)
            return cached[1]
        key = _load_key(instance.public_key)
        self._keys[instance.piid] = (instance.cert_serial, key)
        if len(self._keys) > _CACHE_SIZE:
            self._keys.popitem(last=False)
        return key

    async def _snapshot(self, piid: str) -> Instance | None:
        cached = self._instances.get(piid)
        if cached is not None:
            self._instances.move_to_end(piid)
            return cached
        instance = await self.store.read(lambda uow: uow.instances.get(piid))
        if instance is not None and instance.removed_at is None:
            self._instances[piid] = instance
            if len(self._instances) > _CACHE_SIZE:
                self._instances.popitem(last=False)
        return instance

    def prime(self, instance: Instance) -> None:
        """Cache an instance just registered: its first report needs no read of its row."""
        self._instances[instance.piid] = instance
        if len(self._instances) > _CACHE_SIZE:
            self._instances.popitem(last=False)

    def forget(self, piid: str) -> None:
        """Call after changing an instance's keys or removing it."""
        self._instances.pop(piid, None)
        self._keys.pop(piid, None)

    def forget_all(self) -> None:
        """After the store was reset or restored: nothing cached stands."""
        self._instances.clear()
        self._keys.clear()

    def _verify(self, signed: envelope.Signed, instance: Instance) -> tuple[bytes, bool]:
        """The payload, and whether the previous key signed it (just after a registration renewal)."""
        try:
            return envelope.verify(signed, self._public_key(instance)), False
        except Unauthorized:
            if instance.prev_public_key is None:
                raise
            return envelope.verify(signed, _load_key(instance.prev_public_key)), True

    async def authenticate(self, body: str, *, fresh: bool = True) -> Authenticated:
        """Verify a signed request: known signer, valid signature, fresh, ID cert valid.

        Raises:
            Unauthorized: ``signer_unknown``, ``signature_invalid``, ``signer_mismatch``,
                ``request_stale``, ``registration_expired``.
            Forbidden: ``instance_removed``.
        """
        signed = envelope.parse(body)
        piid, want_chain = envelope.request_header(signed)
        cached = piid in self._instances
        instance = await self._snapshot(piid)
        if instance is None:
            raise unknown(piid)
        try:
            payload, used_previous = self._verify(signed, instance)
        except Unauthorized:
            if not cached:
                raise
            # The cached row may be older than a renewal another process (--workers) stored.
            self.forget(piid)
            instance = await self._snapshot(piid)
            if instance is None:
                raise unknown(piid) from None
            payload, used_previous = self._verify(signed, instance)
        msg = decode_signed_request(payload)
        if msg.piid != piid:
            raise Unauthorized(
                f"the request is signed by {piid} but speaks for {msg.piid}",
                code="signer_mismatch",
                fix="each product instance signs only its own requests",
            )
        now = self.clock.now()
        if fresh:  # a file carried by hand is days old by design; its sequence guards replays
            envelope.check_fresh(msg.sent_at, now, self.policy.skew_window(self.clock.rate))
        check_live(instance, now)
        return Authenticated(instance, msg, used_previous, want_chain)

    def live(self, uow: UnitOfWork, piid: str) -> Instance:
        """The instance as it stands in the transaction: still registered, ID certificate valid."""
        instance = uow.instances.get(piid)
        if instance is None:
            raise unknown(piid)
        check_live(instance, self.clock.now())
        return instance

    def remember(self, uow: UnitOfWork, auth: Authenticated) -> Instance:
        """Check the instance again inside the transaction and record the request's nonce;
        the instance as it stands.

        Raises:
            Unauthorized: ``request_replayed`` (and the refusals of ``check_live``).
        """
        instance = self.live(uow, auth.instance.piid)
        if not uow.instances.remember_nonce(instance.piid, auth.msg.nonce, auth.msg.sent_at):
            raise Unauthorized(
                f"request nonce {auth.msg.nonce} from {instance.piid} was already used (a replay)",
                code="request_replayed",
                fix="send each request once with a fresh nonce",
            )
        if instance.prev_public_key is not None and not auth.used_previous:
            uow.instances.forget_previous_key(instance.piid)
            self._instances.pop(instance.piid, None)
        return instance
