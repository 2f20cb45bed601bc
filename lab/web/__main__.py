"""``python -m lab.web --dir var/lab --certs certs --port 8780``: the lab console, on loopback, until
SIGTERM or Ctrl-C. ``ssmlab run`` and ``ssmlab up`` start it beside the SSM and the agent."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from lab.processes import Lab
from lab.web.app import create_app
from plumbing.web import serve
from shared.clock import SystemClock
from shared.logging import configure_logging, get_logger


async def serve_console(lab: Lab, port: int) -> None:
    runner, bound = await serve.start(create_app(lab), "127.0.0.1", port)
    get_logger("lab.console").info("console_started", url=f"http://127.0.0.1:{bound}/", lab=str(lab.folder))
    try:
        await serve.wait_for_signal()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.web", description="the ssmlab lab console (loopback only)")
    p.add_argument("--dir", type=Path, default=Path("var/lab"), help="the lab folder (default var/lab)")
    p.add_argument("--certs", type=Path, default=Path("certs"))
    p.add_argument("--port", type=int, default=8780)
    args = p.parse_args(argv)
    lab = Lab(args.dir, args.certs).load()
    if not lab.state_file.exists():
        print(f"lab console: no lab in {args.dir}; start one with 'ssmlab up'", file=sys.stderr)
        return 2
    # The console owns no domain clock: the 'vt' of its log lines is real time.
    configure_logging(clock=SystemClock(), json=True, stream=sys.stdout)
    asyncio.run(serve_console(lab, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
