"""The TLS context the SSM serves with, and the drill switch that changes its certificate at
runtime (transport time: OpenSSL checks real validity).

The listening socket keeps its one ``SSLContext`` for good. ``TlsSwitch.serve`` changes what every
new handshake gets, with no restart:

- the certificate: each drill's chain is loaded into a context of its own, which the listening
  context's ``sni_callback`` (called for every ClientHello, with or without SNI) hands to the
  connection. A context holds one certificate per key type, so loading an RSA drill into the
  listening context itself would leave it beside the EC one, and clients would still get EC;
- the protocol versions, cipher list (OpenSSL security level) and client-certificate demand: set
  on the listening context, which decides them before the callback runs.

Connections already open keep what they were set up with.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import warnings
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from cryptography import x509

from server import mtls
from server.pki_files import LabPki, write_private
from server.rollover import previous_roots
from server.tlsdrills import Drill, DrillMode, Handshake, build
from shared import pki
from shared.clock import real_now

#: Python's own default cipher string for a server context (security level 2), restored after a
#: drill that needed level 0.
DEFAULT_CIPHERS = "@SECLEVEL=2:ECDH+AESGCM:ECDH+CHACHA20:ECDH+AES:DHE+AES:!aNULL:!eNULL:!aDSS:!SHA1:!AESCCM"
#: Security level 0 lets OpenSSL load a SHA-1 signed or RSA-1024 certificate and speak TLS 1.0
#: (OpenSSL 3 refuses both at level 1 and above); SHA-1 MAC suites are what TLS 1.0 clients offer.
LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"


def server_context(lab_pki: LabPki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(lab_pki.paths.server_cert, lab_pki.paths.server_key)
    return ctx


def _trust_clients(ctx: ssl.SSLContext, roots: Sequence[x509.Certificate]) -> None:
    """Client certificates are judged against the lab root (and the roots a CA rollover replaced,
    for the ID certificates their CAs issued); a client sends its issuing CA with its certificate
    (an instance, the chain the SSM gave it with its ID certificate). Issuing CAs are never loaded
    here: OpenSSL would complete the server's own chain from this store, and the incomplete-chain
    drill would be whole again."""
    for root in roots:
        ctx.load_verify_locations(cadata=pki.cert_pem(root).decode())


def _certificate_context(
    drill: Drill, lab_pki: LabPki, *, client_roots: Sequence[x509.Certificate], device_mtls: bool = False
) -> ssl.SSLContext:
    """A context holding the drill's chain only (and the CAs that judge client certificates)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers(LEGACY_CIPHERS if drill.handshake.legacy else DEFAULT_CIPHERS)
    _trust_clients(ctx, client_roots)
    mtls.allow_any_time(ctx, device_mtls)
    if drill.mode is DrillMode.GOOD:
        ctx.load_cert_chain(lab_pki.paths.server_cert, lab_pki.paths.server_key)
        return ctx
    # load_cert_chain reads files only: a private temporary pair, removed once loaded.
    folder = lab_pki.paths.root
    fd_cert, cert_path = tempfile.mkstemp(prefix=".drill-", suffix=".pem", dir=folder)
    fd_key, key_path = tempfile.mkstemp(prefix=".drill-", suffix=".key", dir=folder)
    try:
        with os.fdopen(fd_cert, "wb") as f:
            f.write(drill.chain_pem())
        with os.fdopen(fd_key, "wb") as f:
            f.write(drill.leaf.key_pem())
        ctx.load_cert_chain(cert_path, key_path)
    finally:
        os.unlink(cert_path)
        os.unlink(key_path)
    return ctx


OPERATOR_CN = "ssmlab lab operator"


def _operator_pem(lab_pki: LabPki) -> bytes:
    """The lab operator's client certificate (clientAuth, issued by the lab's issuing CA), its chain
    and key in one PEM: what the lab's own clients present to a drill that demands one."""
    now = real_now()
    operator = pki.make_signing_cert(
        lab_pki.issuer, common_name=OPERATOR_CN, not_before=now - timedelta(days=1), not_after=now + timedelta(days=30)
    )
    return operator.chain_pem() + operator.key_pem()


class TlsSwitch:
    """The SSM's TLS context and the drill mode it serves."""

    def __init__(self, lab_pki: LabPki, *, operator: Path | None = None, device_mtls: bool = False) -> None:
        self.lab_pki = lab_pki
        #: Where the lab operator's client certificate goes while a drill demands client certificates.
        self.operator = operator
        #: Ask every client for a certificate (``--device-mtls``; server.mtls judges it).
        self.device_mtls = device_mtls
        #: Roots whose client certificates the handshake accepts: the lab root and those a CA
        #: rollover replaced (``server.rollover``).
        self.client_roots = [lab_pki.root, *previous_roots(lab_pki.paths.root)]
        self.context = server_context(lab_pki)
        _trust_clients(self.context, self.client_roots)
        self.context.sni_callback = self._hand_over
        self.drill: Drill = build(DrillMode.GOOD, lab_pki, now=real_now())
        self._certificate = self._context_for(self.drill)
        self._handshake(self.drill.handshake)

    def _context_for(self, drill: Drill) -> ssl.SSLContext:
        return _certificate_context(drill, self.lab_pki, client_roots=self.client_roots, device_mtls=self.device_mtls)

    def rotate(self, new: LabPki) -> None:
        """A CA rollover's cutover: serve the new PKI's chain (in the current drill mode), and keep
        accepting client certificates of the root it replaced."""
        self.client_roots = [new.root, *(r for r in self.client_roots if r != new.root)]
        self.lab_pki = new
        self.context.load_cert_chain(new.paths.server_cert, new.paths.server_key)
        _trust_clients(self.context, self.client_roots)
        self.serve(self.prepare(self.drill.mode))

    def _hand_over(self, conn: ssl.SSLObject, server_name: str | None, ctx: ssl.SSLContext) -> None:
        conn.context = self._certificate

    @property
    def mode(self) -> DrillMode:
        return self.drill.mode

    def prepare(self, mode: DrillMode) -> Drill:
        """Build ``mode``'s chain (at real time) without serving it yet."""
        return build(mode, self.lab_pki, now=real_now())

    def serve(self, drill: Drill) -> None:
        """Serve ``drill`` on every new handshake."""
        certificate = self._context_for(drill)
        if drill.handshake.client_cert and self.operator is not None:
            write_private(self.operator, _operator_pem(self.lab_pki))
        self._handshake(drill.handshake)
        self._certificate = certificate
        self.drill = drill

    def _handshake(self, h: Handshake) -> None:
        ctx = self.context
        ctx.set_ciphers(LEGACY_CIPHERS if h.legacy else DEFAULT_CIPHERS)
        with warnings.catch_warnings():  # ssl.TLSVersion.TLSv1 is deprecated: that is the drill
            warnings.simplefilter("ignore", DeprecationWarning)
            if h.tls10_only:
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = ssl.TLSVersion.TLSv1
            else:
                ctx.maximum_version = ssl.TLSVersion.MAXIMUM_SUPPORTED
                ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if h.client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
        else:
            ctx.verify_mode = ssl.CERT_OPTIONAL if self.device_mtls else ssl.CERT_NONE
        mtls.allow_any_time(ctx, self.device_mtls and not h.client_cert)

    def demand_id_certificates(self, on: bool) -> None:
        """Ask (or stop asking) every client for its certificate from the next handshake on."""
        self.device_mtls = on
        self.serve(self.drill)
