"""Two product instances with licenses in use, the network cut, 91 virtual days: every usage
interval queues a report that cannot be sent (the queue grows to its bound) while the renewals
fail and back off. SSM and agent share one VirtualClock in this process (as ``bench/year.py``);
the figures are the wall time of each third of the period: a queue persisted incrementally keeps
the last third as quick as the first."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.config import parse_config
from agent.daemon import Agent, open_transport
from agent.store import AgentStore
from plumbing.web import serve
from server.accounts import LAB_DOMAIN, create_token, resolve_account
from server.app import create_app
from server.lab.state import LAB
from server.pki_files import load_lab_pki
from server.settings import ServerSettings
from server.store import Store
from server.tls import server_context
from shared.clock import VirtualClock
from shared.faults import FaultSpec
from shared.logging import configure_logging
from shared.policy import DEFAULT_POLICY

AGENT = """
data_dir = "{data}"
api = "127.0.0.1:0"
[transport]
truststore = "{trust}"
[resolve]
"smartreceiver.cisco.com:443" = "127.0.0.1:{port}"
[[instances]]
name = "ucce-1"
[[instances]]
name = "cvp-1"
product = "CVP"
deployment_type = "CVP"
"""


async def _run(work: Path, days: int) -> tuple[list[float], int]:
    clock = VirtualClock(datetime(2027, 1, 4, tzinfo=UTC))
    configure_logging(clock=clock, json=True, level="critical")
    lab_pki = load_lab_pki(work / "certs")
    store = await Store.open(work / "cut-ssm.db")
    app = create_app(ServerSettings(db_path=work / "cut-ssm.db"), clock=clock, lab_pki=lab_pki, store=store)
    runner, port = await serve.start(app, "127.0.0.1", 0, ssl_context=server_context(lab_pki))
    cfg = parse_config(AGENT.format(data=work / "cut-agent", trust=work / "certs/truststore.pem", port=port), base=work)
    astore = await AgentStore.open(cfg.data_path / "agent.db")
    transport = await open_transport(cfg, astore)
    agent = Agent(config=cfg, clock=clock, store=astore, transport=transport, policy=DEFAULT_POLICY)
    try:
        await agent.start()
        account = await resolve_account(store, LAB_DOMAIN)
        for name, count in (("ucce-1", 70), ("cvp-1", 45)):
            tok = (
                await create_token(store, account=account, va_name="DEFAULT", now=clock.now(), policy=DEFAULT_POLICY)
            ).minted.text
            inst = agent.runner(name)
            await inst.register(tok)
            await inst.set_usage({"Premium Agent": count})
        app[LAB].faults.add(FaultSpec(kind="drop"), clock.now())  # the network cut
        thirds = []
        for part in range(3):
            share = days // 3 + (1 if part < days % 3 else 0)
            started = time.perf_counter()
            await clock.advance(timedelta(days=share))
            thirds.append(time.perf_counter() - started)
        queued = sum(len(agent.runner(n).usage.queue) for n in ("ucce-1", "cvp-1"))
        return thirds, queued
    finally:
        await agent.stop()
        await transport.close()
        await astore.close()
        await runner.cleanup()
        await store.close()


def run(work: Path, *, days: int = 91) -> tuple[list[float], int]:
    """(wall seconds of each third of ``days``, reports queued at the end)."""
    return asyncio.run(_run(work, days))
