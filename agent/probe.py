"""One look at the SSM's TLS endpoint, step by step, without verifying anything.

``probe`` resolves the URL host (through agent.toml's [resolve] first, like the transport),
connects (through the HTTP/HTTPS proxy with CONNECT when one is set), and completes a TLS
handshake that accepts any certificate, to capture the chain exactly as the SSM sends it. When
asked, it also fetches ``/_lab/tls/ca.pem`` on that connection: the CA the lab SSM publishes
(like Cisco publishes its root), which a fix may import after checking it issued the chain.

Blocking sockets, run in a thread (``asyncio.to_thread``): it is a diagnostic, used on
failures and by ``smart-agent diagnose``; every step is timed and any failure is reported
with the step and a code, never raised.
"""

from __future__ import annotations

import socket
import ssl
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography import x509

from shared import pki
from shared.transportsettings import DeviceUrl, is_ip

CA_PATH = "/_lab/tls/ca.pem"
_MAX_HEADER = 16 * 1024
_MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class StepError:
    step: str
    code: str
    message: str
    fix: str


@dataclass
class ProbeResult:
    url: DeviceUrl
    proxy: tuple[str, int] | None
    #: What the first hop resolved to ("via [resolve]" or "via DNS").
    resolved: list[str] = field(default_factory=list)
    resolved_by: str = ""
    #: The address connected to (the proxy's when there is one).
    peer: tuple[str, int] | None = None
    proxy_status: str = ""
    connect_ms: float = 0.0
    handshake_ms: float = 0.0
    tls_version: str = ""
    cipher: str = ""
    chain: list[x509.Certificate] = field(default_factory=list)
    offered: list[x509.Certificate] = field(default_factory=list)
    #: The SSM ended the connection for want of a client certificate (mutual TLS).
    client_cert_required: bool = False
    error: StepError | None = None

    @property
    def ssm_peer(self) -> tuple[str, int] | None:
        """The SSM's own address, when the agent connected to it directly."""
        return None if self.proxy else self.peer


def override(resolve: Mapping[str, str], host: str, port: int) -> tuple[str, int] | None:
    """agent.toml's [resolve] entry for ``host:port`` (like curl --connect-to), if any."""
    for src, dst in resolve.items():
        sh, _, sp = src.rpartition(":")
        if sh.strip("[]").lower() == host.lower() and sp == str(port):
            dh, _, dp = dst.rpartition(":")
            return dh.strip("[]"), int(dp)
    return None


def _resolve(result: ProbeResult, host: str, port: int, resolve: Mapping[str, str]) -> list[tuple[str, int]]:
    mapped = override(resolve, host, port)
    if mapped is not None:
        result.resolved, result.resolved_by = [f"{mapped[0]}:{mapped[1]}"], "[resolve] in agent.toml"
        return [mapped]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addrs = list(dict.fromkeys((str(i[4][0]), int(i[4][1])) for i in infos))
    result.resolved, result.resolved_by = [f"{a}:{p}" for a, p in addrs], "DNS"
    return addrs


def _read_head(sock: socket.socket | ssl.SSLSocket) -> tuple[bytes, bytes]:
    """Read an HTTP response head; return (head, the body bytes already read)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > _MAX_HEADER:
            break
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _connect_through_proxy(sock: socket.socket, url: DeviceUrl, result: ProbeResult) -> StepError | None:
    target = f"[{url.host}]:{url.port}" if ":" in url.host else f"{url.host}:{url.port}"
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head, _ = _read_head(sock)
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    result.proxy_status = status_line
    parts = status_line.split(" ", 2)
    if len(parts) >= 2 and parts[1] == "200":
        return None
    status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
    upstream = status in (502, 503, 504)
    return StepError(
        "proxy",
        "proxy_upstream_failed" if upstream else "proxy_refused",
        f"the proxy answered CONNECT {target} with {status_line or 'nothing'}",
        f"the proxy cannot reach the SSM: check its DNS and routes to {url.host}:{url.port}"
        if upstream
        else f"allow CONNECT to {target} on the proxy for this agent (it sends no proxy credentials), "
        "or select another connection (smart-agent transport set --direct)",
    )


def _fetch_offered(tls: ssl.SSLSocket, url: DeviceUrl) -> list[x509.Certificate]:
    host = f"[{url.host}]" if ":" in url.host else url.host
    tls.sendall(f"GET {CA_PATH} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    head, body = _read_head(tls)
    if not head:
        raise ConnectionResetError("the SSM closed the connection without an answer")
    if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
        return []
    while len(body) < _MAX_BODY and (chunk := tls.recv(4096)):
        body += chunk
    try:
        return pki.load_certs(body)
    except ValueError:
        return []


def seeing_context() -> ssl.SSLContext:
    """A client context that completes a handshake with whatever the SSM serves: no verification,
    OpenSSL security level 0 and TLS 1.0 upwards, so that a SHA-1 or RSA-1024 certificate or a
    TLS 1.0-only server is seen and judged rather than refused unseen."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # to see what is served; judging it is the caller's job
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():  # ssl.TLSVersion.TLSv1 is deprecated: seeing it is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    return ctx


def probe(
    url: DeviceUrl,
    *,
    resolve: Mapping[str, str],
    proxy: tuple[str, int] | None,
    timeout: float,
    fetch_ca: bool = False,
) -> ProbeResult:
    """Resolve, connect, (CONNECT,) handshake unverified; see the module docstring."""
    result = ProbeResult(url, proxy)
    host, port = proxy or (url.host, url.port)
    try:
        addrs = _resolve(result, host, port, resolve)
    except OSError as exc:
        result.error = StepError(
            "resolve",
            "proxy_unreachable" if proxy else "dns_failed",
            f"cannot resolve {host}: {exc}",
            "check the proxy host name"
            if proxy
            else "check the URL host, or map it to the SSM in agent.toml [resolve]",
        )
        return result
    sock: socket.socket | None = None
    started = time.perf_counter()
    last: OSError | None = None
    for addr in addrs:
        try:
            sock = socket.create_connection(addr, timeout=timeout)
            break
        except OSError as exc:
            last = exc
    if sock is None:
        result.error = StepError(
            "connect",
            "proxy_unreachable" if proxy else "connection_failed",
            f"cannot connect to {'the proxy ' if proxy else ''}{host}:{port} ({', '.join(result.resolved)}): {last}",
            f"check that the proxy runs at {host}:{port}, or select another connection"
            if proxy
            else "check that the SSM is running and that the URL (and [resolve]) point at it",
        )
        return result
    with sock:
        result.connect_ms = (time.perf_counter() - started) * 1000
        peer = sock.getpeername()
        result.peer = (str(peer[0]), int(peer[1]))
        try:
            if proxy and (err := _connect_through_proxy(sock, url, result)) is not None:
                result.error = err
                return result
            ctx = seeing_context()
            asked = _watch_certificate_request(ctx)
            started = time.perf_counter()
            with ctx.wrap_socket(sock, server_hostname=None if is_ip(url.host) else url.host) as tls:
                result.handshake_ms = (time.perf_counter() - started) * 1000
                result.tls_version = tls.version() or ""
                result.cipher = (tls.cipher() or ("",))[0]
                result.chain = _chain(tls)
                if fetch_ca:
                    try:
                        result.offered = _fetch_offered(tls, url)
                    except TimeoutError:
                        result.offered = []
                    except OSError:
                        # Asked for a client certificate and then closed without an answer: the
                        # SSM refused the connection for want of one (mutual TLS).
                        result.offered = []
                        result.client_cert_required = bool(asked)
                elif asked:
                    result.client_cert_required = _closes_on_us(tls, timeout)
        except TimeoutError:
            result.error = StepError(
                "tls", "timeout", f"no answer from {host}:{port} in {timeout:g} s", "check the network path to the SSM"
            )
        except (ssl.SSLError, OSError) as exc:
            result.error = StepError(
                "tls",
                "tls_handshake_failed",
                f"the TLS handshake with {url.host}:{url.port} failed: {exc}",
                "check that the URL points at the SSM's HTTPS port",
            )
    return result


#: TLS record content type and handshake message type of a CertificateRequest (RFC 8446 4.3.2).
_HANDSHAKE, _CERTIFICATE_REQUEST = 22, 13


def _watch_certificate_request(ctx: ssl.SSLContext) -> list[bool]:
    """Note when the SSM asks for a client certificate in the handshake (through OpenSSL's message
    callback, which Python exposes as ``SSLContext._msg_callback``; TLS 1.3 asks inside the
    encrypted part, where nothing else can see it)."""
    seen: list[bool] = []

    def watch(conn: object, direction: str, version: object, content_type: int, msg_type: int, data: bytes) -> None:
        if direction == "read" and content_type == _HANDSHAKE and msg_type == _CERTIFICATE_REQUEST:
            seen.append(True)

    setattr(ctx, "_msg_callback", watch)  # noqa: B010 - private in CPython, present since 3.8
    return seen


def _closes_on_us(tls: ssl.SSLSocket, timeout: float) -> bool:
    """After asking for a client certificate, does the SSM end the connection without one? Listens
    only (sends no request: nothing reaches the SSM's handlers or its journal)."""
    tls.settimeout(min(timeout, 2.0))
    try:
        return tls.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:  # an alert, or a reset
        return True


def _chain(tls: ssl.SSLSocket) -> list[x509.Certificate]:
    sslobj = getattr(tls, "_sslobj", None)
    getter = getattr(sslobj, "get_unverified_chain", None)  # public from Python 3.13 on
    if getter is not None:
        return [x509.load_der_x509_certificate(c.public_bytes(ssl._ssl.ENCODING_DER)) for c in getter()]  # type: ignore[attr-defined]
    der = tls.getpeercert(binary_form=True)
    return [x509.load_der_x509_certificate(der)] if der else []
