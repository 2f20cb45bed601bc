"""``smart-agent run``: the daemon — its product instances, the local API — until SIGTERM or
Ctrl-C. The one verb that is not a client of the local API."""

from __future__ import annotations

import argparse
import os
import sys

import msgspec

from agent.api import create_api
from agent.cli.common import Parents, SubParsers
from agent.config import AgentConfig, ClockConfig, ConfigError, load_config
from agent.daemon import Agent, open_transport
from agent.store import AgentStore
from plumbing import loop
from plumbing.web import serve
from shared.clock import AnyClock, ScaledClock, choose_clock, load_state
from shared.clockctl import parse_instant
from shared.clockstate import dump_state
from shared.logging import configure_logging
from shared.policy import DEFAULT_POLICY


def add_parsers(sub: SubParsers, parents: Parents) -> None:
    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--clock", choices=["scaled", "virtual", "system"], help="overrides agent.toml [clock]")
    run.add_argument("--rate", type=float, help="domain seconds per real second (scaled clock)")
    run.add_argument("--epoch", help="domain time at the anchor (ISO 8601)")
    run.add_argument("--anchor", type=float, help="real epoch seconds the domain epoch is pinned to")
    run.set_defaults(func=_start)


def _start(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if args.clock or args.rate is not None or args.epoch or args.anchor is not None:
        current = cfg.clock or ClockConfig()
        cfg = msgspec.structs.replace(
            cfg,
            clock=ClockConfig(
                kind=args.clock or current.kind,
                rate=args.rate if args.rate is not None else current.rate,
                epoch=args.epoch or current.epoch,
                anchor=args.anchor if args.anchor is not None else current.anchor,
            ),
        )
    return loop.run(_run(cfg))


async def _run(cfg: AgentConfig) -> int:
    data = cfg.data_path
    data.mkdir(parents=True, exist_ok=True)
    os.chmod(data, 0o700)
    store = await AgentStore.open(data / "agent.db")
    try:
        saved_text = await store.setting("clock")
        c = cfg.clock
        clock = choose_clock(
            kind=c.kind if c else None,
            rate=c.rate if c else None,
            start=parse_instant(c.epoch) if c and c.epoch else None,
            anchor=c.anchor if c else None,
            saved=load_state(saved_text) if saved_text else None,
        )
        json_logs = cfg.log_format == "json" or (cfg.log_format == "auto" and not sys.stderr.isatty())
        configure_logging(clock=clock, json=json_logs, level=cfg.log_level)
        try:
            policy = DEFAULT_POLICY.with_overrides(cfg.policy)
        except ValueError as exc:
            raise ConfigError(f"[policy]: {exc}") from None

        async def persist_clock(clk: AnyClock) -> None:
            await store.set_setting("clock", dump_state(clk))

        await persist_clock(clock)
        transport = await open_transport(cfg, store)
        agent = Agent(config=cfg, clock=clock, store=store, transport=transport, policy=policy)
        await agent.start()
        host, port = cfg.api_address
        try:
            runner, bound = await serve.start(create_api(agent, persist_clock), host, port)
        except OSError as exc:
            await agent.stop()  # its instances stop before the store closes
            await transport.close()
            raise ConfigError(
                f"cannot listen on {host}:{port} for the local API: {exc.strerror} "
                "(is another smart-agent running? change 'api' in agent.toml)"
            ) from None
        url = f"http://{host}:{bound}"
        (data / "api.url").write_text(url + "\n")
        print(
            f"smart-agent: {len(agent.runners)} product instance(s) "
            f"({', '.join(agent.runners)}); local API {url}; SSM {transport.url} ({transport.settings.mode}); "
            f"clock {clock.state().kind} rate {clock.rate:g}",
            file=sys.stderr,
            flush=True,
        )
        print(f"smart-agent: Smart License Management page {url}/", file=sys.stderr, flush=True)
        try:
            await serve.wait_for_signal()
        finally:
            print("smart-agent: shutting down", file=sys.stderr, flush=True)
            await agent.stop()
            await runner.cleanup()
            if isinstance(clock, ScaledClock):
                clock.rebase()  # record the domain time reached: a restart resumes from here
                await persist_clock(clock)
            await transport.close()
    finally:
        await store.close()
    return 0
