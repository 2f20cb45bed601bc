"""An SSM and a Smart Agent in this process on one VirtualClock, over real TLS on loopback (as the
integration tests run them): what ``bench/year.py`` and ``bench/cut.py`` measure on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

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
{instances}
"""


@dataclass
class InProcess:
    clock: VirtualClock
    store: Store
    app: web.Application
    agent: Agent

    async def token(self) -> str:
        """A registration token of the lab account's DEFAULT virtual account."""
        account = await resolve_account(self.store, LAB_DOMAIN)
        made = await create_token(
            self.store, account=account, va_name="DEFAULT", now=self.clock.now(), policy=DEFAULT_POLICY
        )
        return made.minted.text


@asynccontextmanager
async def ssm_and_agent(
    work: Path, name: str, instances: str, *, log_level: str = "warning"
) -> AsyncIterator[InProcess]:
    """Both started (files ``<name>-ssm.db``, ``<name>-agent/`` in ``work``), stopped at the end;
    ``instances`` is the agent.toml text of its ``[[instances]]``."""
    clock = VirtualClock(datetime(2027, 1, 4, tzinfo=UTC))
    configure_logging(clock=clock, json=True, level=log_level)
    lab_pki = load_lab_pki(work / "certs")
    db = work / f"{name}-ssm.db"
    store = await Store.open(db)
    app = create_app(ServerSettings(db_path=db), clock=clock, lab_pki=lab_pki, store=store)
    runner, port = await serve.start(app, "127.0.0.1", 0, ssl_context=server_context(lab_pki))
    data, trust = work / f"{name}-agent", work / "certs/truststore.pem"
    text = AGENT.format(data=data, trust=trust, port=port, instances=instances)
    cfg = parse_config(text, base=work)
    astore = await AgentStore.open(cfg.data_path / "agent.db")
    transport = await open_transport(cfg, astore)
    agent = Agent(config=cfg, clock=clock, store=astore, transport=transport, policy=DEFAULT_POLICY)
    try:
        await agent.start()
        yield InProcess(clock, store, app, agent)
    finally:
        await agent.stop()
        await transport.close()
        await astore.close()
        await runner.cleanup()
        await store.close()
