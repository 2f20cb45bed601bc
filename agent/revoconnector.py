"""The agent's connector that checks the SSM's certificate for revocation on every new
connection, before any request goes out on it (as a TLS client does during its handshake),
per the Transport Settings option (``shared.revocation``).

A certificate that names no CRL or OCSP responder is not asked about (nothing to ask); answers
are kept per certificate for a minute of real time, so kept-alive and new connections of a burst
do not ask again.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from cryptography import x509

from agent.revocheck import ask_async
from shared import pki
from shared.errors import Unavailable
from shared.revocation import Answer, RevocationMode, finding, where_to_ask
from shared.tlsdiag import ssm_lab_url
from shared.transportsettings import DeviceUrl

#: How long answers about one certificate are reused (real seconds).
KEEP = 60.0


def peer_chain(ssl_object: Any) -> list[x509.Certificate]:
    """The verified chain of a connection, leaf first (CPython's ``get_verified_chain``)."""
    sslobj = getattr(ssl_object, "_sslobj", ssl_object)
    getter = getattr(sslobj, "get_verified_chain", None)
    if getter is None:
        return []
    return [x509.load_der_x509_certificate(c.public_bytes(ssl._ssl.ENCODING_DER)) for c in getter()]  # type: ignore[attr-defined]


class RevocationChecking(aiohttp.TCPConnector):
    """A ``TCPConnector`` refusing a connection whose certificate is revoked (or, hard-fail, unknown)."""

    def __init__(
        self, *, mode: Callable[[], RevocationMode], resolve: Mapping[str, str], timeout: float, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self._mode, self._resolve, self._timeout = mode, dict(resolve), timeout
        self._kept: dict[str, tuple[float, list[Answer]]] = {}

    async def _create_connection(self, req: Any, traces: Any, timeout: Any) -> Any:  # noqa: ASYNC109 - aiohttp's
        proto = await super()._create_connection(req, traces, timeout)
        mode = self._mode()
        if mode == RevocationMode.OFF or proto.transport is None:
            return proto
        chain = peer_chain(proto.transport.get_extra_info("ssl_object"))
        if len(chain) < 2 or not any(where_to_ask(chain[0])):
            return proto
        answers = await self.answers(chain[0], chain[1])
        host, port = req.url.host or "", req.url.port or 443
        peer = proto.transport.get_extra_info("peername")
        url = DeviceUrl(str(req.url), host, port, req.url.path)
        ssm = ssm_lab_url(url, (str(peer[0]), int(peer[1])) if peer and not req.proxy else None)
        refused = finding(chain[0], answers, mode, ssm)
        if refused is not None:
            proto.close()
            raise Unavailable(refused.message, code=refused.code, fix=refused.fix, detail=refused.detail())
        return proto

    async def answers(self, leaf: x509.Certificate, issuer: x509.Certificate) -> list[Answer]:
        key = pki.fingerprint(leaf)
        kept = self._kept.get(key)
        if kept is not None and time.monotonic() - kept[0] < KEEP:
            return kept[1]
        answers = await ask_async(leaf, issuer, resolve=self._resolve, per_fetch=self._timeout)
        self._kept[key] = (time.monotonic(), answers)
        return answers
