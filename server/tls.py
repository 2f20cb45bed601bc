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
from datetime import timedelta
from pathlib import Path

from server.pki_files import LabPki, write_private
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


def _certificate_context(drill: Drill, lab_pki: LabPki) -> ssl.SSLContext:
    """A context holding the drill's chain only (and the lab root, to judge client certificates)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers(LEGACY_CIPHERS if drill.handshake.legacy else DEFAULT_CIPHERS)
    ctx.load_verify_locations(cadata=pki.cert_pem(lab_pki.root).decode())
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

    def __init__(self, lab_pki: LabPki, *, operator: Path | None = None) -> None:
        self.lab_pki = lab_pki
        #: Where the lab operator's client certificate goes while a drill demands client certificates.
        self.operator = operator
        self.context = server_context(lab_pki)
        self.context.load_verify_locations(cadata=pki.cert_pem(lab_pki.root).decode())
        self.context.sni_callback = self._hand_over
        self.drill: Drill = build(DrillMode.GOOD, lab_pki, now=real_now())
        self._certificate = _certificate_context(self.drill, lab_pki)

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
        certificate = _certificate_context(drill, self.lab_pki)
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
        ctx.verify_mode = ssl.CERT_REQUIRED if h.client_cert else ssl.CERT_NONE
