"""Smart Transport from the agent to the SSM: HTTPS POST of a message, a verified reply back.

- TLS: the SSM's certificate is verified against the agent truststore (a PEM bundle) with
  hostname checking, as Java's cacerts would be.
- Resolve override (like curl's ``--connect-to``): ``smartreceiver.cisco.com:443`` can be sent
  to ``127.0.0.1:8443`` while the URL, SNI and hostname check keep the real name. /etc/hosts is
  never touched.
- Replies: a compact JWS whose ``x5c`` chain must lead to a truststore root and whose
  signature must verify; the reply must answer the nonce sent. Errors come back as JSON and
  are raised as ``RemoteError`` with the SSM's code; failures to reach the SSM as
  ``Unavailable`` with a code of their own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from cryptography import x509

from plumbing.httpclient import OverrideResolver, ReplyVerifier, client_context
from shared import envelope, pki
from shared.errors import RemoteError, SmartLicensingError, Unavailable
from shared.messages import Register, Reply, SignedRequest, encode
from shared.pki import PrivateKey


def _unavailable(code: str, message: str, fix: str) -> Unavailable:
    return Unavailable(message, code=code, fix=fix)


def classify(exc: BaseException, url: str) -> SmartLicensingError:
    """Turn a client-side failure into an error with a stable code and a fix."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        err = exc.certificate_error
        detail = getattr(err, "verify_message", None) or str(err)
        return _unavailable(
            "tls_certificate_invalid",
            f"the SSM's TLS certificate was refused: {detail}",
            "run 'smart-agent diagnose' to see the certificate served and the fix "
            "(import the issuing CA with 'smart-agent trust import', or fix the URL host)",
        )
    if isinstance(exc, aiohttp.ClientConnectorSSLError):
        return _unavailable(
            "tls_handshake_failed",
            f"TLS handshake with {url} failed: {exc.os_error}",
            "check that the URL points at the SSM's HTTPS port",
        )
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return _unavailable(
            "dns_failed",
            f"cannot resolve the host of {url}: {exc.os_error}",
            "check the URL host, or map it to the SSM in agent.toml [resolve]",
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _unavailable(
            "connection_failed",
            f"cannot connect to {url}: {exc.os_error}",
            "check that the SSM is running and that the URL (and [resolve]) point at it",
        )
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return _unavailable(
            "timeout",
            f"no answer from {url} in time",
            "check the network path to the SSM; raise transport.timeout_seconds if it is slow",
        )
    if isinstance(exc, aiohttp.ClientError):
        return _unavailable(
            "connection_lost",
            f"the connection to {url} failed: {exc}",
            "retry; check any proxy or gateway between the agent and the SSM",
        )
    return _unavailable("comm_failed", f"communication with {url} failed: {exc}", "retry")


class Transport:
    """One HTTPS client to the SSM (a pool of keep-alive connections)."""

    def __init__(
        self,
        *,
        url: str,
        truststore: Path,
        resolve: dict[str, str] | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.url = url
        self.truststore = truststore
        self._resolve = dict(resolve or {})
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._roots: list[x509.Certificate] = []
        self._verifier: ReplyVerifier | None = None

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._roots = pki.load_certs(self.truststore.read_bytes())
            connector = aiohttp.TCPConnector(
                ssl=client_context(self.truststore),
                resolver=OverrideResolver(self._resolve),
                limit=64,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                headers={"User-Agent": "ssmlab-smart-agent/0.1"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def register(self, msg: Register) -> Reply:
        return await self._post(encode(msg), "application/json", msg.nonce)

    async def send(self, msg: SignedRequest, key: PrivateKey) -> Reply:
        want = self._verifier is None or self._verifier.needs_chain
        body = envelope.sign_request(encode(msg), key, piid=msg.piid, want_chain=want).encode()
        return await self._post(body, envelope.CONTENT_TYPE, msg.nonce)

    async def _post(self, body: bytes, content_type: str, nonce: str) -> Reply:
        try:
            session = self._open()
        except OSError as exc:
            raise _unavailable(
                "truststore_unreadable",
                f"cannot read the truststore {self.truststore}: {exc}",
                "create the lab PKI ('make certs') or fix transport.truststore",
            ) from None
        try:
            async with session.post(self.url, data=body, headers={"Content-Type": content_type}) as resp:
                text = await resp.text()
                status = resp.status
                rtype = resp.content_type
        except Exception as exc:  # every client failure becomes a coded error
            raise classify(exc, self.url) from exc
        if status == 200 and rtype == envelope.CONTENT_TYPE:
            return self._verify_reply(text.strip(), nonce)
        raise _remote_error(status, text)

    def _verify_reply(self, jws: str, nonce: str) -> Reply:
        if self._verifier is None:
            self._verifier = ReplyVerifier(self._roots)
        return self._verifier.verify(jws, nonce)


class _ErrorBody(msgspec.Struct):
    error: Any = None
    message: str = ""
    fix: str = ""


def _remote_error(status: int, text: str) -> RemoteError:
    try:
        body = msgspec.json.decode(text, type=_ErrorBody)
        code = body.error if isinstance(body.error, str) else f"http_{status}"
        message = body.message or text[:200]
        fix = body.fix
    except (msgspec.DecodeError, msgspec.ValidationError):
        code, message, fix = (
            f"http_{status}",
            f"the SSM answered HTTP {status}: {text[:200]}",
            ("check that the URL points at an SSM device endpoint"),
        )
    return RemoteError(message, code=code, fix=fix, remote_status=status)
