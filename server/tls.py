"""The TLS context the SSM serves with, and the drill switch that changes its certificate at
runtime (transport time: OpenSSL checks real validity).

``TlsSwitch.set`` builds the drill's chain and loads it into the one ``SSLContext`` the listening
socket uses: ``load_cert_chain`` on a live context applies to every handshake from then on, with
no restart. Connections already open keep the certificate they were set up with.
"""

from __future__ import annotations

import os
import ssl
import tempfile

from server.pki_files import LabPki
from server.tlsdrills import Drill, DrillMode, build
from shared.clock import real_now


def server_context(lab_pki: LabPki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(lab_pki.paths.server_cert, lab_pki.paths.server_key)
    return ctx


class TlsSwitch:
    """The SSM's TLS context and the drill mode it serves."""

    def __init__(self, lab_pki: LabPki) -> None:
        self.lab_pki = lab_pki
        self.context = server_context(lab_pki)
        self.drill: Drill = build(DrillMode.GOOD, lab_pki, now=real_now())

    @property
    def mode(self) -> DrillMode:
        return self.drill.mode

    def prepare(self, mode: DrillMode) -> Drill:
        """Build ``mode``'s chain (at real time) without serving it yet."""
        return build(mode, self.lab_pki, now=real_now())

    def serve(self, drill: Drill) -> None:
        """Serve ``drill`` on every new handshake."""
        if drill.mode is DrillMode.GOOD:
            self.context.load_cert_chain(self.lab_pki.paths.server_cert, self.lab_pki.paths.server_key)
        else:
            # load_cert_chain reads files only: a private temporary pair, removed once loaded.
            folder = self.lab_pki.paths.root
            fd_cert, cert_path = tempfile.mkstemp(prefix=".drill-", suffix=".pem", dir=folder)
            fd_key, key_path = tempfile.mkstemp(prefix=".drill-", suffix=".key", dir=folder)
            try:
                with os.fdopen(fd_cert, "wb") as f:
                    f.write(drill.chain_pem())
                with os.fdopen(fd_key, "wb") as f:
                    f.write(drill.leaf.key_pem())
                self.context.load_cert_chain(cert_path, key_path)
            finally:
                os.unlink(cert_path)
                os.unlink(key_path)
        self.drill = drill
