"""One product instance through a year of virtual time over real TLS: 35,040 usage reports,
12 authorization renewals and 2 registration renewals. SSM and agent share one VirtualClock in
this process, as the integration tests do; the figure is the wall time."""

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
from server.pki_files import load_lab_pki
from server.settings import ServerSettings
from server.store import Store
from server.tls import server_context
from shared.clock import VirtualClock
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
name = "year"
"""


async def _run(work: Path, days: int) -> tuple[float, int]:
    clock = VirtualClock(datetime(2027, 1, 4, tzinfo=UTC))
    configure_logging(clock=clock, json=True, level="warning")
    lab_pki = load_lab_pki(work / "certs")
    store = await Store.open(work / "year-ssm.db")
    app = create_app(ServerSettings(db_path=work / "year-ssm.db"), clock=clock, lab_pki=lab_pki, store=store)
    runner, port = await serve.start(app, "127.0.0.1", 0, ssl_context=server_context(lab_pki))
    cfg = parse_config(
        AGENT.format(data=work / "year-agent", trust=work / "certs/truststore.pem", port=port), base=work
    )
    astore = await AgentStore.open(cfg.data_path / "agent.db")
    transport = await open_transport(cfg, astore)
    agent = Agent(config=cfg, clock=clock, store=astore, transport=transport, policy=DEFAULT_POLICY)
    try:
        await agent.start()
        account = await resolve_account(store, LAB_DOMAIN)
        tok = (
            await create_token(store, account=account, va_name="DEFAULT", now=clock.now(), policy=DEFAULT_POLICY)
        ).minted.text
        inst = agent.runner(None)
        await inst.register(tok)
        await inst.set_usage({"Premium Agent": 42})
        started = time.perf_counter()
        await clock.advance(timedelta(days=days))
        wall = time.perf_counter() - started
        reports = len(await store.read(lambda u: u.usage.reports(inst.state.piid or "", limit=10**6)))
        return wall, reports
    finally:
        await agent.stop()
        await transport.close()
        await astore.close()
        await runner.cleanup()
        await store.close()


def run(work: Path, *, days: int = 365) -> tuple[float, int]:
    return asyncio.run(_run(work, days))
