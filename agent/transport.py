"""The agent's transport to the SSM: HTTPS POST of a message, a verified reply back.

- Transport Settings (``shared.transportsettings``): Smart Transport posts the message itself
  (JSON for register, a JWS after); Smart Call Home wraps it in the XML envelope of
  ``shared.callhome``. Direct and Transport Gateway connect to the URL; HTTP/HTTPS proxy tunnels
  to it with CONNECT. ``configure`` applies new settings to the next request.
- TLS: the SSM's certificate is verified against the agent's truststore only (``cacerts`` in
  its data directory), with hostname checking; the truststore is reloaded whenever its file
  changes. Connections are kept alive; a truststore change opens new ones, and the lab SSM closes
  them when a TLS drill changes its certificate, so the next request sees the change.
- Resolve override (like curl's ``--connect-to``): ``smartreceiver.cisco.com:443`` can be sent
  to ``127.0.0.1:8443`` while the URL, SNI and hostname check keep the real name. /etc/hosts is
  never touched.
- Failures: a certificate the handshake refuses is examined (``agent.certcheck``) and raised
  with its precise code and fix; others get a code of their own (``classify``). The SSM's own
  refusals (JSON) are raised as ``RemoteError`` with its code.
- Replies: a compact JWS whose ``x5c`` chain must lead to a truststore root and whose
  signature must verify; the reply must answer the nonce sent.
- Mutual TLS: once an SSM has answered ``client_cert_missing`` (``ssm-server run --device-mtls``),
  each registered instance presents its ID certificate in its own connections (the request is sent
  again at once: a refused request used no nonce). A connection the SSM drops while an ID
  certificate is presented is tried once without it: if the SSM then asks for one, it refused
  that certificate in the handshake, and the error says so (``id_cert_refused``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from cryptography import x509

from agent.certcheck import examine, failure_of
from agent.revoconnector import RevocationChecking
from agent.truststore import TrustStore
from plumbing.clients.device import OverrideResolver, ReplyVerifier, client_context
from shared import callhome, clientcert, clockskew, envelope, pki
from shared.codes import ErrorCode
from shared.errors import BadRequest, RemoteError, SmartLicensingError, Unavailable
from shared.messages import Register, Reply, SignedRequest, encode
from shared.pki import PrivateKey
from shared.states import TransportMode
from shared.transportsettings import TransportSettings


def _unavailable(code: str, message: str, fix: str) -> Unavailable:
    return Unavailable(message, code=code, fix=fix)


def classify(exc: BaseException, url: str) -> SmartLicensingError:
    """Turn a client-side failure into an error with a stable code and a fix."""
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return _unavailable(
            "proxy_unreachable",
            f"cannot connect to the HTTP/HTTPS proxy: {exc.os_error}",
            "check the proxy host and port (smart-agent transport show), that the proxy runs, "
            "or select another connection (smart-agent transport set --direct)",
        )
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        if exc.status in (502, 503, 504):
            return _unavailable(
                "proxy_upstream_failed",
                f"the proxy could not reach {url}: it answered CONNECT with {exc.status} {exc.message}",
                "check the proxy's DNS and routes to the SSM",
            )
        return _unavailable(
            "proxy_refused",
            f"the proxy refused to tunnel to {url}: it answered CONNECT with {exc.status} {exc.message}",
            "allow CONNECT to the SSM's host and port on the proxy for this agent (it sends no proxy "
            "credentials), or select another connection (smart-agent transport set --direct)",
        )
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
    """The agent's client of the SSM's device plane."""

    def __init__(
        self,
        *,
        settings: TransportSettings,
        truststore: TrustStore,
        resolve: dict[str, str] | None = None,
        timeout: float = 15.0,
        workdir: Path,
    ) -> None:
        self._settings = settings
        self.truststore = truststore
        self.resolve = dict(resolve or {})
        self.timeout = timeout
        self.workdir = workdir
        self._session: aiohttp.ClientSession | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._roots: list[x509.Certificate] = []
        self._verifier: ReplyVerifier | None = None
        #: Requests sent: lets a test see what went where.
        self.requests = 0
        #: The SSM demands ID certificates (learned from its ``client_cert_missing``).
        self.present_id_certs = False
        self._identities: dict[str, ssl.SSLContext] = {}

    @property
    def settings(self) -> TransportSettings:
        return self._settings

    @property
    def url(self) -> str:
        return self._settings.effective_url

    async def configure(self, settings: TransportSettings) -> None:
        """Use ``settings`` (already checked) from the next request on."""
        self._settings = settings
        self.present_id_certs = False  # another SSM, perhaps: it says again whether it demands them
        await self.close()

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _open(self) -> aiohttp.ClientSession:
        stamp = self.truststore.stamp()
        if stamp != self._stamp:
            # Other roots: replies must show their signing chain again.
            self._roots = self.truststore.roots()
            self._verifier = ReplyVerifier(self._roots)
            self._stamp = stamp
            self._identities.clear()
            await self.close()
        if self._session is None or self._session.closed:
            connector = RevocationChecking(
                mode=lambda: self._settings.revocation,
                resolve=self.resolve,
                timeout=self.timeout,
                ssl=client_context(self.truststore.pem()),
                resolver=OverrideResolver(self.resolve),
                # Connections are kept alive (a renewal every 15 minutes of domain time may be a
                # millisecond of real time); the lab SSM closes them when its certificate changes.
                limit=64,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": "ssmlab-smart-agent/0.1"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def register(self, msg: Register) -> Reply:
        return await self._post(encode(msg).decode(), signed=False, nonce=msg.nonce)

    async def send(self, msg: SignedRequest, key: PrivateKey, *, cert_pem: str | None = None) -> Reply:
        """Send a signed request; ``cert_pem``: the signer's ID certificate, presented when the SSM
        demands mutual TLS."""
        await self._session_or_fail()  # the truststore as it is now decides whether the chain is needed
        want = self._verifier is None or self._verifier.needs_chain
        known = None if want or self._verifier is None else self._verifier.last_kid
        jws = envelope.sign_request(encode(msg), key, piid=msg.piid, want_chain=want, known_kid=known)
        identity = self._identity(cert_pem, key) if cert_pem and self.present_id_certs else None
        try:
            return await self._post(jws, signed=True, nonce=msg.nonce, identity=identity)
        except RemoteError as err:
            if err.code != ErrorCode.CLIENT_CERT_MISSING or not cert_pem or identity is not None:
                raise
            self.present_id_certs = True
            return await self._post(jws, signed=True, nonce=msg.nonce, identity=self._identity(cert_pem, key))
        except Unavailable as err:
            if identity is None or err.code not in (ErrorCode.CONNECTION_LOST, ErrorCode.CONNECTION_FAILED):
                raise
            assert cert_pem is not None
            return await self._without_identity(jws, msg.nonce, cert_pem, err)

    async def _without_identity(self, jws: str, nonce: str, cert_pem: str, lost: Unavailable) -> Reply:
        """The SSM dropped a connection that presented an ID certificate: ask again without it."""
        try:
            reply = await self._post(jws, signed=True, nonce=nonce)
        except RemoteError as err:
            if err.code != ErrorCode.CLIENT_CERT_MISSING:
                raise
            cert = pki.load_cert(cert_pem.encode())
            issuer = clientcert.issuer_name(cert)
            raise Unavailable(
                f"the SSM refused this instance's ID certificate in the TLS handshake (serial "
                f"{clientcert.serial_of(cert)}, issued by '{issuer}') and demands one: it does not trust "
                f"'{issuer}' to issue ID certificates",
                code=ErrorCode.ID_CERT_REFUSED,
                fix=clientcert.REREGISTER,
                detail={"serial": clientcert.serial_of(cert), "issuer": issuer},
            ) from None
        except Unavailable:
            raise lost from None
        self.present_id_certs = False  # it answered without one: it no longer demands them
        return reply

    def _identity(self, cert_pem: str, key: PrivateKey) -> ssl.SSLContext:
        """A TLS context presenting this ID certificate (kept per certificate until the truststore changes)."""
        name = hashlib.sha256(cert_pem.encode()).hexdigest()
        ctx = self._identities.get(name)
        if ctx is None:
            ctx = client_context(self.truststore.pem())
            # load_cert_chain reads files only: a private temporary file (0600), removed once loaded.
            fd, path = tempfile.mkstemp(prefix=".id-", suffix=".pem", dir=self.workdir)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(cert_pem.encode() + pki.key_pem(key))
                ctx.load_cert_chain(path)
            finally:
                os.unlink(path)
            self._identities[name] = ctx
        return ctx

    def _wrap(self, payload: str, *, signed: bool) -> tuple[bytes, str]:
        """The body and content type of ``payload`` in the selected transport mode."""
        if self._settings.mode is TransportMode.CALL_HOME:
            encoding = callhome.Encoding.JWS if signed else callhome.Encoding.JSON
            return callhome.encode("request", encoding, payload), callhome.CONTENT_TYPE
        return payload.encode(), envelope.CONTENT_TYPE if signed else "application/json"

    async def _session_or_fail(self) -> aiohttp.ClientSession:
        try:
            return await self._open()
        except OSError as exc:
            raise _unavailable(
                "truststore_unreadable",
                f"cannot read the truststore {self.truststore.path}: {exc}",
                "check the file, or remove it to have it seeded again from transport.truststore",
            ) from None

    async def exchange(
        self, body: bytes, content_type: str, *, url: str | None = None, identity: ssl.SSLContext | None = None
    ) -> tuple[int, str, bytes]:
        """POST ``body`` to the URL (or ``url``); (status, content type, body). Failures are coded errors.
        ``identity``: a TLS context presenting an ID certificate (connections of their own)."""
        session = await self._session_or_fail()
        self.requests += 1
        try:
            async with session.post(
                url or self.url,
                data=body,
                headers={"Content-Type": content_type},
                proxy=self._settings.proxy_url,
                ssl=identity if identity is not None else True,
            ) as resp:
                return resp.status, resp.content_type, await resp.read()
        except Exception as exc:  # every client failure becomes a coded error
            raise await self.explain(exc, url=url) from exc

    async def explain(self, exc: BaseException, *, url: str | None = None) -> SmartLicensingError:
        """The coded error for a failed request to ``url`` (default: the settings' URL), naming it;
        a refused certificate is examined for its cause."""
        if isinstance(exc, SmartLicensingError):  # already coded (a revoked certificate)
            return exc
        err = classify(exc, url or self.url)
        # A lost or reset connection is also what a server that demands a client certificate, or
        # speaks only an old protocol, looks like from here: the probe tells.
        lost = err.code in ("connection_lost", "connection_failed")
        if err.code not in (ErrorCode.TLS_CERTIFICATE_INVALID, ErrorCode.TLS_HANDSHAKE_FAILED) and not lost:
            return err
        try:
            exam = await examine(
                self._settings,
                self.truststore,
                resolve=self.resolve,
                probe_timeout=self.timeout,
                workdir=self.workdir,
                url=url,
                fetch_ca=not lost,  # a lost connection is looked at, not asked anything
            )
        except (OSError, SmartLicensingError):
            return err
        if lost:  # only the handshake's own refusal explains a lost connection better
            handshake = exam.assessment.handshake if exam.assessment else None
            return (failure_of(exam) or err) if handshake is not None else err
        return failure_of(exam) or err

    async def _post(self, payload: str, *, signed: bool, nonce: str, identity: ssl.SSLContext | None = None) -> Reply:
        body, ctype = self._wrap(payload, signed=signed)
        status, rtype, raw = await self.exchange(body, ctype, identity=identity)
        text = raw.decode("utf-8", "replace")
        if status == 200 and self._settings.mode is TransportMode.CALL_HOME and rtype in callhome.ACCEPTED_TYPES:
            try:
                jws = callhome.decode(raw, "reply").payload
            except BadRequest as exc:
                raise RemoteError(
                    f"the SSM's Call Home reply is not a valid envelope: {exc.message}",
                    code="reply_malformed",
                    fix="check that the URL points at an SSM Call Home endpoint",
                    remote_status=502,
                ) from None
            return self._verify_reply(jws, nonce)
        if status == 200 and rtype == envelope.CONTENT_TYPE:
            return self._verify_reply(text.strip(), nonce)
        raise remote_error(status, text)

    def _verify_reply(self, jws: str, nonce: str) -> Reply:
        if self._verifier is None:
            self._verifier = ReplyVerifier(self._roots)
        return self._verifier.verify(jws, nonce)


class _ErrorBody(msgspec.Struct):
    error: Any = None
    message: str = ""
    fix: str = ""
    detail: Any = None


def remote_error(status: int, text: str) -> RemoteError:
    try:
        body = msgspec.json.decode(text, type=_ErrorBody)
        code = body.error if isinstance(body.error, str) else f"http_{status}"
        message = body.message or text[:200]
        fix = body.fix
        if code == ErrorCode.REQUEST_STALE and isinstance(body.detail, dict):
            message, fix = clockskew.explain(body.detail) or (message, fix)
    except (msgspec.DecodeError, msgspec.ValidationError):
        code, message, fix = (
            f"http_{status}",
            f"the SSM answered HTTP {status}: {text[:200]}",
            ("check that the URL points at an SSM device endpoint"),
        )
    return RemoteError(message, code=code, fix=fix, remote_status=status)
