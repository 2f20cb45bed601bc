"""Fixtures shared by the integration tests: a lab PKI, a virtual clock, an SSM served over real
TLS on loopback, and agents pointed at it through a resolve override (never /etc/hosts)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.config import AgentConfig, parse_config
from agent.daemon import Agent, open_transport
from agent.store import AgentStore
from agent.transport import Transport
from lab.proxy import pipe
from plumbing.web import serve
from server import keys
from server.accounts import LAB_DOMAIN, create_token, resolve_account
from server.app import create_app
from server.pki_files import LabPki, init_lab_pki, load_lab_pki
from server.settings import ServerSettings
from server.store import Store
from shared.clock import VirtualClock
from shared.policy import DEFAULT_POLICY, Policy

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("certs")
    init_lab_pki(folder)
    return folder


@pytest.fixture(scope="session")
def lab_pki(pki_dir: Path) -> LabPki:
    return load_lab_pki(pki_dir)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@dataclass
class RunningSSM:
    url: str
    port: int
    store: Store
    clock: VirtualClock
    policy: Policy
    db_path: Path

    async def token(self, va: str = "DEFAULT", **kw: object) -> str:
        account = await resolve_account(self.store, LAB_DOMAIN)
        created = await create_token(
            self.store, account=account, va_name=va, now=self.clock.now(), policy=self.policy, **kw
        )  # type: ignore[arg-type]
        return created.minted.text

    def snapshot(self, *, skip: tuple[str, ...] = ("settings",)) -> dict[str, list[tuple[object, ...]]]:
        """Every row of every table (a committed view through a separate connection)."""
        conn = sqlite3.connect(self.db_path)
        try:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            return {
                t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)  # noqa: S608
                for t in tables
                if t not in skip
            }
        finally:
            conn.close()


@pytest.fixture
async def ssm(tmp_path: Path, clock: VirtualClock, lab_pki: LabPki) -> AsyncIterator[RunningSSM]:
    db = tmp_path / "ssm.db"
    store = await Store.open(db)
    settings = ServerSettings(db_path=db, policy=DEFAULT_POLICY)
    try:
        app = create_app(settings, clock=clock, lab_pki=lab_pki, store=store)
        runner, port = await serve.start(app, "127.0.0.1", 0, ssl_context=app[keys.TLS].context)
        try:
            yield RunningSSM(f"https://127.0.0.1:{port}", port, store, clock, DEFAULT_POLICY, db)
        finally:
            await runner.cleanup()
    finally:
        await store.close()


AGENT_TOML = """
data_dir = "{data}"
api = "127.0.0.1:0"
[transport]
truststore = "{truststore}"
timeout_seconds = 5
{extra}
[resolve]
"smartreceiver.cisco.com:443" = "127.0.0.1:{port}"
"tools.cisco.com:443" = "127.0.0.1:{port}"
"wrong-host.ssmlab.example:443" = "127.0.0.1:{port}"
{instances}
"""

INSTANCE = """
[[instances]]
name = "{name}"
product = "{product}"
deployment_type = "{deployment}"
license_type = "{license_type}"
usage_mode = "{usage_mode}"
{extra}
"""


def agent_config(
    tmp: Path,
    pki_dir: Path,
    port: int,
    instances: list[dict[str, str]] | None = None,
    data: str = "agent",
    *,
    truststore: Path | None = None,
    extra: str = "",
) -> AgentConfig:
    """An agent.toml for the test SSM; ``extra`` is TOML added to [transport] (mode, url, proxy)
    and [resolve] is extended with ``wrong-host.ssmlab.example`` (a name the drills use)."""
    insts = instances or [{"name": "ucce-1"}]
    text = AGENT_TOML.format(
        data=tmp / data,
        truststore=truststore or pki_dir / "truststore.pem",
        extra=extra,
        port=port,
        instances="".join(
            INSTANCE.format(
                name=i["name"],
                product=i.get("product", "Unified CCE"),
                deployment=i.get("deployment_type", "Unified CCE 2000 Agents"),
                license_type=i.get("license_type", "Flex"),
                usage_mode=i.get("usage_mode", "Production"),
                extra="".join(
                    f"{k} = {v}\n"
                    for k, v in i.items()
                    if k not in ("name", "product", "deployment_type", "license_type", "usage_mode")
                ),
            )
            for i in insts
        ),
    )
    return parse_config(text, base=tmp)


@dataclass
class RunningAgent:
    agent: Agent
    store: AgentStore
    transport: Transport
    closed: bool = False

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.agent.stop()
            await self.transport.close()
            await self.store.close()


MakeAgent = Callable[..., Awaitable[RunningAgent]]


@pytest.fixture
async def make_agent(tmp_path: Path, pki_dir: Path, ssm: RunningSSM) -> AsyncIterator[MakeAgent]:
    """Start (or restart: same data dir) an in-process agent pointed at the test SSM."""
    opened: list[RunningAgent] = []

    async def make(
        instances: list[dict[str, str]] | None = None,
        *,
        data: str = "agent",
        truststore: Path | None = None,
        port: int | None = None,
        extra: str = "",
    ) -> RunningAgent:
        cfg = agent_config(tmp_path, pki_dir, port or ssm.port, instances, data, truststore=truststore, extra=extra)
        store = await AgentStore.open(cfg.data_path / "agent.db")
        transport = await open_transport(cfg, store)
        agent = Agent(config=cfg, clock=ssm.clock, store=store, transport=transport, policy=ssm.policy)
        await agent.start()
        running = RunningAgent(agent, store, transport)
        opened.append(running)
        return running

    yield make
    for r in opened:
        await r.close()


class NetCut:
    """A TCP forwarder on loopback between the agent and the SSM that can be cut (connections
    reset, new ones refused) and restored on the same port: a network outage, in one process."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self.connections = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._conns |= {writer, up_writer}
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._conns -= {writer, up_writer}

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._conns):
                w.transport.abort()
            await self._server.wait_closed()
            self._server = None


@pytest.fixture
async def netcut(ssm: RunningSSM) -> AsyncIterator[NetCut]:
    cut = NetCut(ssm.port)
    await cut.restore()
    yield cut
    await cut.cut()
