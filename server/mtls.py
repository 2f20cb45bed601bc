"""Mutual TLS on the device plane (``ssm-server run --device-mtls``), the SSM's side.

The handshake asks every client for a certificate and OpenSSL refuses one that does not chain to
a CA the SSM trusts for ID certificates (its issuing CA under the lab root) — an ID certificate of
another product's CA never reaches a handler. ID certificates carry domain-time validity, so the
handshake leaves dates alone (``X509_V_FLAG_NO_CHECK_TIME``) and ``DeviceMtls.check`` judges the
rest per signed request (``shared.clientcert``): presented at all, the signer's own key, not
revoked, valid on the domain clock. A registration (unsigned) needs none.

The SSM keeps what each instance presented last and the verdict (``GET /_lab/device-mtls``, the
portal's instance page), and the serials of the ID certificates it revoked (saved in the store's
settings, so a revocation survives restarts and travels with snapshots). Whether the SSM demands
ID certificates is the process's own (``--device-mtls``, or ``POST /_lab/device-mtls``), like a drill.
"""

from __future__ import annotations

import json
import ssl
from collections import OrderedDict

from aiohttp import web
from cryptography import x509

from server.store import Store
from server.store.rows import Instance
from shared import clientcert, sync
from shared.clientcert import Presented
from shared.clock import AnyClock

#: OpenSSL's X509_V_FLAG_NO_CHECK_TIME (Python's ssl.VerifyFlags has no name for it): ID
#: certificates live on the domain clock, which ``check`` judges.
NO_CHECK_TIME = 0x200000
REVOKED_SETTING = "revoked_id_serials"
_KEEP = 10_000  # instances whose last presented certificate is kept


def peer_certificate(request: web.Request) -> x509.Certificate | None:
    """The certificate the client presented in this connection's handshake, if any."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return x509.load_der_x509_certificate(der) if der else None


def allow_any_time(ctx: ssl.SSLContext, on: bool) -> None:
    """Let the handshake accept client certificates whatever their dates (checked on the domain clock)."""
    flags = int(ctx.verify_flags)
    ctx.verify_flags = ssl.VerifyFlags((flags | NO_CHECK_TIME) if on else (flags & ~NO_CHECK_TIME))


class DeviceMtls:
    """Whether the device plane demands ID certificates, what instances presented, what is revoked."""

    def __init__(self, *, enabled: bool = False) -> None:
        self.enabled = enabled
        self.revoked: set[str] = set()
        self.presented: OrderedDict[str, Presented] = OrderedDict()

    async def load(self, store: Store) -> None:
        """Read the revoked serials from the store (at start, after a restore or a reset); what
        instances presented is forgotten."""
        revoked = await store.read(lambda uow: uow.settings.get(REVOKED_SETTING))
        self.revoked = set(json.loads(revoked)) if revoked else set()
        self.presented.clear()

    async def revoke(self, store: Store, serial: str) -> None:
        """Put an ID certificate's serial on the SSM's revocation list (committed before it counts)."""
        revoked = sorted({*self.revoked, serial})
        await store.write(lambda uow: uow.settings.set(REVOKED_SETTING, json.dumps(revoked)))
        self.revoked = set(revoked)

    def _remember(self, piid: str, seen: Presented) -> None:
        self.presented[piid] = seen
        self.presented.move_to_end(piid)
        if len(self.presented) > _KEEP:
            self.presented.popitem(last=False)

    def check(self, instance: Instance, presented: x509.Certificate | None, clock: AnyClock) -> None:
        """Judge what ``instance`` presented for a signed request (nothing to do when switched off).

        Raises:
            Unauthorized: the refusals of ``shared.clientcert.judge``.
        """
        if instance.product == sync.ONPREM_PRODUCT:
            return  # an SSM On-Prem synchronizing with the cloud presents no ID certificate
        if not self.enabled:
            # No certificate in the handshake; the SSM still knows which one it issued, and a
            # revoked ID certificate's key signs for nobody.
            if instance.cert_serial in self.revoked:
                raise clientcert.revoked_signer(instance.piid, instance.cert_serial)
            return
        keys = [instance.public_key] + ([instance.prev_public_key] if instance.prev_public_key else [])
        try:
            seen = clientcert.judge(presented, piid=instance.piid, keys=keys, revoked=self.revoked, now=clock.now())
        except clientcert.Refused as refused:
            self._remember(instance.piid, refused.seen)
            raise
        self._remember(instance.piid, seen)

    def view(self) -> dict[str, object]:
        return {
            "enabled": self.enabled,
            "revoked": sorted(self.revoked),
            "presented": {piid: seen.to_dict() for piid, seen in reversed(self.presented.items())},
        }
