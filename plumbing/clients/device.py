"""The client half of the device plane, shared by every process that talks to an SSM (the agent
to its SSM, an SSM On-Prem to the cloud): a resolve override (like curl's ``--connect-to``), a TLS
context that trusts only the given truststore, and the verification of signed replies.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Sequence
from pathlib import Path

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from shared import envelope, pki
from shared.clock import real_now
from shared.errors import Unauthorized
from shared.messages import Reply, decode_reply


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """``HOST:PORT=ADDR:PORT`` pairs (``--resolve``, ``--connect-to``) as a map for ``OverrideResolver``.

    Raises:
        ValueError: an item not of that form (the message quotes it).
    """
    out = {}
    for item in items:
        src, sep, dst = item.partition("=")
        if not sep or ":" not in src or ":" not in dst:
            raise ValueError(f"takes HOST:PORT=ADDR:PORT, got {item!r}")
        out[src] = dst
    return out


class OverrideResolver(AbstractResolver):
    """Send ``host:port`` to another ``addr:port``; everything else resolves normally."""

    def __init__(self, overrides: dict[str, str]) -> None:
        self._map: dict[tuple[str, int], tuple[str, int]] = {}
        for src, dst in overrides.items():
            sh, _, sp = src.rpartition(":")
            dh, _, dp = dst.rpartition(":")
            self._map[(sh.lower().strip("[]"), int(sp))] = (dh.strip("[]"), int(dp))
        self._default = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        target = self._map.get((host.lower(), port))
        if target is None:
            return await self._default.resolve(host, port, family)
        addr, tport = target
        infos = await self._default.resolve(addr, tport, socket.AF_UNSPEC)
        return [{**info, "hostname": host} for info in infos]

    async def close(self) -> None:
        await self._default.close()


def client_context(trusted: Path | str) -> ssl.SSLContext:
    """Verify the server against the truststore only (never the system CAs), with hostname check.

    ``trusted`` is a PEM bundle file or the PEM text itself.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname, no default CAs
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    pem = trusted.read_text() if isinstance(trusted, Path) else trusted
    if pem.strip():
        ctx.load_verify_locations(cadata=pem)
    return ctx


class ReplyVerifier:
    """Checks signed SSM replies: the x5c chain against the truststore (real time, cached by
    fingerprint), the signature, and that the reply answers the nonce sent."""

    def __init__(self, roots: list[x509.Certificate]) -> None:
        self._roots = roots
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}
        self._stale = False
        #: The ``kid`` of the signing certificate verified last (the request names it).
        self.last_kid: str | None = None

    @classmethod
    def from_file(cls, truststore: Path) -> ReplyVerifier:
        return cls(pki.load_certs(truststore.read_bytes()))

    @property
    def needs_chain(self) -> bool:
        """True until a signing chain has been verified (or after an unknown ``kid``): the next
        request should ask the SSM to send its chain."""
        return not self._keys or self._stale

    def key_for(self, jws: envelope.Signed) -> ec.EllipticCurvePublicKey:
        header = envelope.reply_header(jws)
        kid = header.kid
        key = self._keys.get(kid) if kid else None
        if key is not None:
            self.last_kid = kid
            return key
        if header.x5c is None:
            self._stale = True
            raise Unauthorized(
                f"the reply is signed by an SSM key this client has not verified yet (kid {kid})",
                code="reply_signer_unknown",
                fix="retry: the next request asks the SSM for its signing certificate chain",
            )
        chain = envelope.reply_chain(jws)
        leaf = chain[0]
        public = leaf.public_key()
        if pki.common_name(leaf) != pki.SIGNING_CN or not isinstance(public, ec.EllipticCurvePublicKey):
            # Another certificate of the same CA (an ID certificate, the TLS one) signs no reply.
            raise Unauthorized(
                "the reply is not signed by an SSM's response-signing certificate",
                code="reply_signer_untrusted",
                fix="point the agent at an SSM (its replies are signed by its response-signing key)",
            )
        try:
            pki.verify_client_chain(leaf, chain[1:], self._roots, at=real_now())
        except pki.ChainError as exc:
            raise Unauthorized(
                f"the reply is signed by a certificate the truststore does not trust: {exc.reason}",
                code="reply_signer_untrusted",
                fix="import the SSM's root CA into the truststore ('smart-agent trust import FILE --alias NAME')",
            ) from None
        if isinstance(kid, str) and kid != envelope.thumbprint(leaf):
            raise Unauthorized(
                "the reply's kid does not name its signing certificate",
                code="reply_signer_untrusted",
                fix="point the agent at an SSM that signs its replies with the certificate it names",
            )
        self._keys[envelope.thumbprint(leaf)] = public
        self._stale = False
        self.last_kid = envelope.thumbprint(leaf)
        return public

    def verify(self, jws: str, nonce: str | None) -> Reply:
        """The reply, once its chain and signature check out (and it answers ``nonce``)."""
        signed = envelope.parse(jws)
        reply = decode_reply(envelope.verify(signed, self.key_for(signed), what="reply"))
        if nonce is not None:
            envelope.check_reply_binding(reply.in_reply_to, nonce)
        return reply
