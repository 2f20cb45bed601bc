"""Ask the CRL distribution point and the OCSP responder the SSM's certificate names whether it
is revoked (issue 19), and judge the answers with ``shared.revocation``.

The URLs are fetched as the agent reaches the SSM: agent.toml's ``[resolve]`` first (the lab's
revocation service is on the SSM's lab plane), and without verifying the server's certificate:
a CRL and an OCSP response are signed by the CA, which is what is checked. Blocking sockets, run
in a thread; each fetch is bounded in time and size, and a failure is an UNKNOWN answer.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from cryptography import x509

from agent.probe import override, seeing_context
from shared.clock import real_now
from shared.revocation import Answer, Status, judge_crl, judge_ocsp, ocsp_request, where_to_ask

_MAX = 256 * 1024


def _get(url: str, resolve: Mapping[str, str], timeout: float) -> bytes:
    """GET ``url`` (http or https); the body of a 200 answer. Raises OSError otherwise."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    addr = override(resolve, host, port) or (host, port)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    with socket.create_connection(addr, timeout=timeout) as raw:
        sock = seeing_context().wrap_socket(raw, server_hostname=host) if https else raw
        with sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while len(data) < _MAX and (chunk := sock.recv(65536)):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        raise OSError(f"answered {status.decode('latin-1') or 'nothing'}")
    return body


def ask(
    leaf: x509.Certificate, issuer: x509.Certificate, *, resolve: Mapping[str, str], timeout: float
) -> list[Answer]:
    """Every answer about ``leaf``: its CRL distribution points, then its OCSP responders."""
    crls, responders = where_to_ask(leaf)
    answers: list[Answer] = []
    for url in crls:
        try:
            answers.append(judge_crl(url, _get(url, resolve, timeout), leaf, issuer, real_now()))
        except OSError as exc:
            answers.append(Answer("CRL", url, Status.UNKNOWN, f"unreachable: {exc}"))
    if responders:
        request = quote(base64.b64encode(ocsp_request(leaf, issuer)).decode(), safe="")
        for url in responders:
            try:
                data = _get(f"{url.rstrip('/')}/{request}", resolve, timeout)
                answers.append(judge_ocsp(url, data, leaf, issuer, real_now()))
            except OSError as exc:
                answers.append(Answer("OCSP", url, Status.UNKNOWN, f"unreachable: {exc}"))
    return answers


async def ask_async(
    leaf: x509.Certificate, issuer: x509.Certificate, *, resolve: Mapping[str, str], per_fetch: float
) -> list[Answer]:
    """``ask`` in a thread; ``per_fetch`` bounds each fetch (seconds)."""
    return await asyncio.to_thread(ask, leaf, issuer, resolve=resolve, timeout=per_fetch)
