"""The TLS context the SSM serves with (transport time: OpenSSL checks real validity)."""

from __future__ import annotations

import ssl

from server.pki_files import LabPki


def server_context(lab_pki: LabPki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(lab_pki.paths.server_cert, lab_pki.paths.server_key)
    return ctx
