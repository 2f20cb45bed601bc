"""Fixtures shared by the integration tests: a lab PKI, a virtual clock, an SSM served over real
TLS on loopback, and agents pointed at it through a resolve override (never /etc/hosts)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import os
import sqlite3
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import aiosqlite
import psycopg
import pytest

from agent.config import AgentConfig, parse_config
from agent.daemon import Agent, open_transport
from agent.store import AgentStore
from agent.transport import Transport
from lab.proxy import pipe
from plumbing import pgcluster
from plumbing.clients.lab import CLIENT_CERT_FILE, lab_plane_context
from server.accounts import LAB_DOMAIN, create_token, resolve_account
from server.pki_files import LabPki, init_lab_pki, load_lab_pki
from server.store import Store
from server.store.location import PgUrl
from shared import envelope, pki
from shared.clock import AnyClock, VirtualClock, epoch
from shared.messages import Identity, Register, encode
from shared.policy import DEFAULT_POLICY, Policy
from shared.states import LicenseType, UsageMode
from ssmlab_pytest.inprocess import serve_ssm as serve_in_loop

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

#: The tests whose behaviour depends on the store's engine run on SQLite and on PostgreSQL (every
#: test there using the ``ssm`` fixture, or ``db_engine``); the rest run on SQLite alone (the
#: whole suite twice would take CI past its budget, see docs/scale-out.md).
BOTH_ENGINES = frozenset(
    {
        "tests/server/test_store.py",
        "tests/server/test_pg_store.py",
        "tests/server/test_register.py",
        "tests/server/test_reports.py",
        "tests/server/test_signed_requests.py",
        "tests/server/test_purchases.py",
        "tests/server/test_subscriptions.py",
        "tests/server/test_consumption_report.py",
        "tests/server/test_notify.py",
        "tests/server/test_device_mtls.py",
        "tests/server/test_reservation.py",
        "tests/server/test_admin_api.py",
        "tests/server/test_mcssmapi.py",
        "tests/server/test_labplane.py",
        "tests/server/test_edges.py",
        "tests/server/test_device_identity.py",
        "tests/server/test_onprem_compliance.py",
        "tests/agent/test_agent.py",
    }
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``db_engine`` is sqlite and postgresql for the tests of ``BOTH_ENGINES``, sqlite elsewhere."""
    if "db_engine" not in metafunc.fixturenames:
        return
    module = Path(metafunc.definition.path).relative_to(Path(__file__).parent.parent).as_posix()
    if module in BOTH_ENGINES:
        metafunc.parametrize("db_engine", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pgcluster.Cluster]:
    """A throwaway PostgreSQL cluster for the session (Debian's package; with CI set it must run)."""
    try:
        manager = pgcluster.running(durable=False)
        cluster = manager.__enter__()
    except pgcluster.Unavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and the PostgreSQL leg cannot run: {exc}")
        pytest.skip(f"the PostgreSQL leg skips: {exc}")
    try:
        yield cluster
    finally:
        manager.__exit__(None, None, None)


_SCHEMAS = itertools.count()


@pytest.fixture
def db_engine(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def ssm_db(request: pytest.FixtureRequest, tmp_path: Path, db_engine: str) -> Iterator[Path | PgUrl]:
    """Where the test's SSM keeps its books: ``tmp_path``/ssm.db, or a fresh schema of the session's
    PostgreSQL cluster (its own files in ``tmp_path``)."""
    if db_engine == "sqlite":
        yield tmp_path / "ssm.db"
        return
    cluster: pgcluster.Cluster = request.getfixturevalue("pg_cluster")
    schema = f"t{os.getpid()}_{next(_SCHEMAS)}"
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield PgUrl(f"{cluster.url()}?options=-csearch_path%3D{schema}", state=tmp_path)
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the SQLite threads of stores a failed test left open. aiosqlite's worker thread is not
    a daemon: one store still open (kept alive by the failure's traceback) would keep pytest from
    ever exiting after its summary, and CI would hang instead of reporting the failure."""
    leaked = [
        conn for conn in gc.get_objects() if isinstance(conn, aiosqlite.Connection) and conn._connection is not None
    ]
    for conn in leaked:
        conn.stop()
    if leaked:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"note: stopped {len(leaked)} SQLite connection(s) that tests left open", yellow=True)


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


#: For the lab plane of an SSM whose TLS drill breaks its certificate on purpose.
NO_VERIFY = ssl.create_default_context()
NO_VERIFY.check_hostname = False
NO_VERIFY.verify_mode = ssl.CERT_NONE


def identity(serial: str = "SSM0001TEST") -> Identity:
    """The identity of a Unified CCE product instance ``ucce-1``."""
    return Identity(
        instance_name="ucce-1",
        product="Unified CCE",
        udi_pid="UCCE",
        serial_number=serial,
        hostname="ucce-1.lab.local",
        deployment_type="Unified CCE 2000 Agents",
        license_type=LicenseType.FLEX,
        usage_mode=UsageMode.PRODUCTION,
    )


async def no_persist(_clock: AnyClock) -> None:
    """A local API's clock persistence that keeps nothing (tests)."""
    return None


@dataclass
class RunningSSM:
    url: str
    port: int
    store: Store
    clock: VirtualClock
    policy: Policy
    db_path: Path | PgUrl
    truststore: Path

    def register_body(self, token: str, serial: str = "SSM0001TEST", csr: bytes | None = None) -> bytes:
        """A register request for ``ucce-1`` with a fresh key (or the CSR given)."""
        csr = csr or pki.make_csr(pki.new_key(), common_name="ucce-1", serial_number=serial)
        return encode(
            Register(
                sent_at=epoch(self.clock.now()),
                nonce=envelope.new_nonce(),
                token=token,
                identity=identity(serial),
                csr=csr.decode(),
            )
        )

    async def post(
        self, body: bytes, ctype: str = "application/json", path: str = "/licservice/license"
    ) -> tuple[int, Any]:
        """POST to the SSM over TLS (verified); the status and the JSON (or text) answer."""
        ctx = ssl.create_default_context(cafile=str(self.truststore))
        async with (
            aiohttp.ClientSession() as s,
            s.post(self.url + path, data=body, headers={"Content-Type": ctype}, ssl=ctx) as r,
        ):
            if r.content_type == "application/json":
                return r.status, await r.json()
            return r.status, await r.text()

    def lab_context(self) -> ssl.SSLContext:
        """As the lab's own clients reach the lab plane, whatever TLS drill is served (issue 19)."""
        return lab_plane_context(self.db_path.parent / CLIENT_CERT_FILE)

    async def lab(self, method: str, path: str = "/_lab/tls", body: object = None) -> tuple[int, Any]:
        """A lab-plane call that does not verify the certificate (a drill may break it)."""
        async with (
            aiohttp.ClientSession() as s,
            s.request(method, self.url + path, json=body, ssl=self.lab_context()) as r,
        ):
            return r.status, (await r.json() if r.content_type == "application/json" else await r.read())

    async def set_tls(self, mode: str) -> dict[str, Any]:
        """Serve a TLS drill mode."""
        status, view = await self.lab("POST", body={"mode": mode})
        assert status == 200, view
        return dict(view)

    async def token(self, va: str = "DEFAULT", **kw: object) -> str:
        account = await resolve_account(self.store, LAB_DOMAIN)
        created = await create_token(
            self.store, account=account, va_name=va, now=self.clock.now(), policy=self.policy, **kw
        )  # type: ignore[arg-type]
        return created.minted.text

    def snapshot(self, *, skip: tuple[str, ...] = ("settings",)) -> dict[str, list[tuple[object, ...]]]:
        """Every row of every table (a committed view through a separate connection)."""
        if isinstance(self.db_path, PgUrl):
            return _pg_rows(self.db_path, skip)
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


def _pg_rows(url: PgUrl, skip: tuple[str, ...]) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                "AND table_name <> 'schema_version'"
            )
        ]
        return {
            t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)  # noqa: S608
            for t in tables
            if t not in skip
        }


@pytest.fixture
async def ssm(
    tmp_path: Path, clock: VirtualClock, lab_pki: LabPki, pki_dir: Path, ssm_db: Path | PgUrl
) -> AsyncIterator[RunningSSM]:
    async with serve_ssm(tmp_path, clock, lab_pki, pki_dir, db=ssm_db) as running:
        yield running


@contextlib.asynccontextmanager
async def serve_ssm(
    folder: Path, clock: VirtualClock, lab_pki: LabPki, pki_dir: Path, *, db: Path | PgUrl | None = None
) -> AsyncIterator[RunningSSM]:
    """A cloud SSM over TLS on loopback, its store in ``folder`` (the ``ssm`` fixture's, or a
    module's shared one) or in ``db``."""
    db = db or folder / "ssm.db"
    async with serve_in_loop(db, clock, lab_pki) as (store, port):
        yield RunningSSM(
            f"https://127.0.0.1:{port}", port, store, clock, DEFAULT_POLICY, db, pki_dir / "truststore.pem"
        )


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


async def open_agent(cfg: AgentConfig, ssm: RunningSSM, policy: Policy | None = None) -> RunningAgent:
    """Start an in-process agent of ``cfg`` on the SSM's clock, with the SSM's policy unless
    another is given (close it after use)."""
    store = await AgentStore.open(cfg.data_path / "agent.db")
    transport = await open_transport(cfg, store)
    agent = Agent(config=cfg, clock=ssm.clock, store=store, transport=transport, policy=policy or ssm.policy)
    await agent.start()
    return RunningAgent(agent, store, transport)


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
        policy: Policy | None = None,
    ) -> RunningAgent:
        cfg = agent_config(tmp_path, pki_dir, port or ssm.port, instances, data, truststore=truststore, extra=extra)
        running = await open_agent(cfg, ssm, policy)
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
