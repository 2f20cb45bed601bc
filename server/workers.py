"""``ssm-server run --workers N``: N processes answering one port, sharing one store.

The first process binds the listener with ``SO_REUSEPORT`` (learning the port when asked for port
0) and starts N-1 more with the same arguments, the bound port and its clock's exact timeline
(epoch, anchor, rate: a scaled clock pinned to one anchor reads the same domain time in every
process). The kernel spreads connections over the processes.

What stays exact across them lives in the store, inside each write transaction (``BEGIN
IMMEDIATE``): replay protection (nonces), report ids, over-usage counting and locking, token
uses. What lives in a process does not travel, so with more than one worker:
- housekeeping (the watch, nonce pruning, On-Prem sync) runs in the first process only;
- the lab plane's process-state controls (clock, faults, TLS drills, reset, snapshots) are refused
  with ``lab_needs_one_worker``: they would act on the one process that got the request; store-only
  ones (tokens, licenses, removing an instance) work;
- each answer names its process in ``X-SSM-Worker`` (0 is the first).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from plumbing.web.routes import Plane, route_of
from shared.clock import AnyClock, utc
from shared.errors import Conflict

#: Lab-plane routes (method, path) whose state lives in the process that answers.
ONE_PROCESS = frozenset(
    {
        ("POST", "/_lab/clock"),
        ("POST", "/_lab/faults"),
        ("DELETE", "/_lab/faults"),
        ("DELETE", "/_lab/faults/{id}"),
        ("POST", "/_lab/tls"),
        ("POST", "/_lab/device-mtls"),
        ("POST", "/_lab/pki/rollover"),
        ("POST", "/_lab/pki/rollover/cutover"),
        ("POST", "/_lab/instances/{piid}/id-cert"),
        ("POST", "/_lab/reset"),
        ("POST", "/_lab/snapshot"),
        ("POST", "/_lab/restore"),
    }
)
HEADER = "X-SSM-Worker"


def guard(workers: int) -> Middleware:
    """Refuse the one-process lab controls when several processes answer the port."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        if route is not None and route.plane is Plane.LAB and (route.method, route.path) in ONE_PROCESS:
            raise Conflict(
                f"{request.method} {route.path} changes one process, and this SSM runs {workers} worker processes",
                code="lab_needs_one_worker",
                fix="restart ssm-server with --workers 1 to drive its clock, faults, TLS drills, reset and "
                "snapshots (tokens, licenses and the device plane work with any number of workers)",
            )
        return await handler(request)

    return middleware


def name_worker(app: web.Application, index: int) -> None:
    """Every answer of this process says which worker it came from."""

    async def stamp(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers[HEADER] = str(index)

    app.on_response_prepare.append(stamp)


def child_argv(argv: Sequence[str], *, host: str, port: int, clock: AnyClock, index: int) -> list[str]:
    """The command line of worker ``index``: the first process's, on its bound port and clock
    timeline, without the options only the first process acts on."""
    drop_with_value = {"--listen", "--port-file", "--clock", "--rate", "--epoch", "--anchor"}
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in drop_with_value:
            skip = "=" not in arg
            continue
        out.append(arg)
    state = clock.state()
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    out += ["--listen", listen, "--worker-of", f"{os.getpid()}:{index}"]
    out += ["--clock", state.kind, "--rate", repr(state.rate), "--epoch", utc(state.epoch).isoformat()]
    if state.kind != "virtual":
        out += ["--anchor", repr(state.anchor)]
    return out


READY = b"ssm-server worker ready\n"


def spawn(argv: Sequence[str], *, host: str, port: int, clock: AnyClock, workers: int) -> list[subprocess.Popen[bytes]]:
    """Start workers 1..N-1 (``python -m server`` with their command lines); ``ready`` waits for them."""
    return [
        subprocess.Popen(
            [sys.executable, "-m", "server", *child_argv(argv, host=host, port=port, clock=clock, index=i)],
            stdout=subprocess.PIPE,
        )
        for i in range(1, workers)
    ]


def ready(children: Sequence[subprocess.Popen[bytes]]) -> None:
    """Block until every worker listens (each writes ``READY`` on its stdout once bound).

    Raises:
        RuntimeError: a worker exited before it listened.
    """
    for child in children:
        assert child.stdout is not None
        if child.stdout.readline() != READY:
            raise RuntimeError(f"worker process {child.pid} stopped before it listened (exit {child.wait()})")


def announce_ready() -> None:
    """A worker's word to the first process that it listens."""
    sys.stdout.buffer.write(READY)
    sys.stdout.buffer.flush()


def stop(children: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM the workers and wait for them (a stuck one is killed after 10 s)."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def orphaned(parent: int) -> None:
    """Return when the first process is gone (a worker then stops too)."""
    while os.getppid() == parent:  # noqa: ASYNC110 - no event tells a process its parent died
        await asyncio.sleep(1.0)
