"""A small HTTP CONNECT proxy for the lab: ``ssmlab proxy``.

It plays the corporate HTTP/HTTPS proxy of the seed's Transport Settings: the agent asks it to
``CONNECT smartreceiver.cisco.com:443`` and then speaks TLS to the SSM through the tunnel (the
proxy sees only ciphertext). ``connect_to`` is the proxy's own name resolution, like the
agent's [resolve] (``smartreceiver.cisco.com:443`` -> ``127.0.0.1:8443``). ``refuse`` answers
every CONNECT with 403, as a proxy that does not allow the agent.

Only CONNECT is served; every tunnel is counted and logged on stderr, so a test (or a person)
sees that the traffic passed through it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from plumbing.clients.device import parse_overrides

_MAX_HEAD = 16 * 1024


@dataclass
class Tunnel:
    target: str
    upstream: str
    bytes_up: int = 0
    bytes_down: int = 0

    def count_up(self, n: int) -> None:
        self.bytes_up += n

    def count_down(self, n: int) -> None:
        self.bytes_down += n


@dataclass
class ConnectProxy:
    connect_to: Mapping[str, str] = field(default_factory=dict)
    refuse: bool = False
    verbose: bool = False
    tunnels: list[Tunnel] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._handle, host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):
                w.transport.abort()
            await self._server.wait_closed()
            self._server = None

    def _log(self, text: str) -> None:
        if self.verbose:
            print(f"ssmlab proxy: {text}", file=sys.stderr, flush=True)

    async def _answer(self, writer: asyncio.StreamWriter, status: str) -> None:
        writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                writer.close()
                return
            if len(head) > _MAX_HEAD:
                await self._answer(writer, "431 Request Header Fields Too Large")
                return
            method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
            target = rest.partition(" ")[0]
            if method != "CONNECT" or ":" not in target:
                await self._answer(writer, "405 Method Not Allowed")
                return
            if self.refuse:
                self.refused.append(target)
                self._log(f"refused CONNECT {target}")
                await self._answer(writer, "403 Forbidden")
                return
            upstream = self.connect_to.get(target, target)
            host, _, port = upstream.rpartition(":")
            try:
                up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
            except (OSError, ValueError):
                self._log(f"CONNECT {target}: cannot reach {upstream}")
                await self._answer(writer, "502 Bad Gateway")
                return
            tunnel = Tunnel(target, upstream)
            self.tunnels.append(tunnel)
            self._log(f"CONNECT {target} -> {upstream}")
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            await writer.drain()
            self._writers.add(up_writer)
            await asyncio.gather(pipe(reader, up_writer, tunnel.count_up), pipe(up_reader, writer, tunnel.count_down))
            self._writers.discard(up_writer)
        finally:
            self._writers.discard(writer)


async def pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counted: Callable[[int], None] | None = None
) -> None:
    """Copy ``reader`` to ``writer`` until either side ends, then close ``writer``."""
    try:
        while data := await reader.read(65536):
            if counted:
                counted(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


def _pairs(items: list[str]) -> dict[str, str]:
    try:
        return parse_overrides(items)
    except ValueError as exc:
        raise SystemExit(f"ssmlab proxy: --connect-to {exc}") from None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    px = sub.add_parser("proxy", help="an HTTP CONNECT proxy for the agent's HTTP/HTTPS proxy connection")
    px.add_argument("--listen", default="127.0.0.1:3128", help="HOST:PORT (default 127.0.0.1:3128)")
    px.add_argument(
        "--connect-to",
        action="append",
        default=[],
        metavar="HOST:PORT=ADDR:PORT",
        help="the proxy's own resolution, e.g. smartreceiver.cisco.com:443=127.0.0.1:8443",
    )
    px.add_argument("--refuse", action="store_true", help="answer every CONNECT with 403")
    px.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    host, _, port = args.listen.rpartition(":")
    proxy = ConnectProxy(connect_to=_pairs(args.connect_to), refuse=args.refuse, verbose=True)

    async def serve() -> None:
        bound = await proxy.start(host or "127.0.0.1", int(port))
        print(f"ssmlab proxy: listening on {host}:{bound}" + (" (refusing every CONNECT)" if args.refuse else ""))
        try:
            await asyncio.Event().wait()
        finally:
            await proxy.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0
