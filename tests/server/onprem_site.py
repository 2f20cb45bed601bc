"""An SSM On-Prem for the server tests, served in-process beside the ``ssm`` fixture's cloud on
the same virtual clock, and what the On-Prem tests do with it (the ``site`` fixture is in
``tests/server/conftest.py``)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from plumbing.web import serve
from server import cli, onprem
from server.accounts import create_token, resolve_account
from server.app import create_app
from server.pki_files import LabPki
from server.settings import ServerSettings
from server.store import Store
from server.tls import server_context
from shared.policy import DEFAULT_POLICY, Policy
from shared.states import ConnectionMode
from shared.transportsettings import TransportSettings
from tests.conftest import MakeAgent, RunningSSM

Q = timedelta(minutes=15)


@dataclass
class OnPrem:
    url: str
    port: int
    store: Store
    db: Path

    def snapshot(self) -> object:
        return RunningSSM.snapshot(self, skip=("nonces",))  # type: ignore[arg-type]

    @property
    def db_path(self) -> Path:
        return self.db


#: A Connected On-Prem whose schedule never comes due in a test: the tests synchronize by hand.
BY_HAND = dataclasses.replace(DEFAULT_POLICY, sync_interval=timedelta(days=3650))


async def start_onprem(
    tmp_path: Path,
    name: str,
    ssm: RunningSSM,
    lab_pki: LabPki,
    sync_mode: str = "disconnected",
    policy: Policy = DEFAULT_POLICY,
) -> tuple[OnPrem, object]:
    db = tmp_path / f"{name}.db"
    store = await Store.open(db)
    settings = ServerSettings(
        mode="onprem",
        db_path=db,
        policy=policy,
        sync=sync_mode,  # type: ignore[arg-type]
        certs=lab_pki.paths.root,
    )
    app = create_app(settings, clock=ssm.clock, lab_pki=lab_pki, store=store)
    runner, port = await serve.start(app, "127.0.0.1", 0, ssl_context=server_context(lab_pki))
    return OnPrem(f"https://127.0.0.1:{port}", port, store, db), runner


CONNECTED = pytest.mark.parametrize("site", ["connected"], indirect=True)


def cloud_resolve(ssm: RunningSSM) -> dict[str, str]:
    return {"smartreceiver.cisco.com:443": f"127.0.0.1:{ssm.port}"}


CLOUD_URL = "https://smartreceiver.cisco.com/licservice/license"


async def bind(op: OnPrem, ssm: RunningSSM, pki_dir: Path, token: str | None = None, **kw: object) -> onprem.Link:
    return await onprem.register(
        op.store,
        ssm.clock.now(),
        token=token or await ssm.token(),
        cloud_url=CLOUD_URL,
        truststore=pki_dir / "truststore.pem",
        resolve=cloud_resolve(ssm),
        **kw,  # type: ignore[arg-type]
    )


async def onprem_token(op: OnPrem, ssm: RunningSSM) -> str:
    account = await resolve_account(op.store, onprem.ONPREM_DOMAIN)
    return (
        await create_token(op.store, account=account, va_name="DEFAULT", now=ssm.clock.now(), policy=DEFAULT_POLICY)
    ).minted.text


async def cloud_pool(ssm: RunningSSM, name: str = "Premium Agent") -> int:
    return next(
        p.pool.in_use
        for p in await ssm.store.read(lambda u: u.pools.all())
        if p.name == name and p.license_type.value == "Flex" and p.virtual_account_id == 1
    )


async def agent_on(make_agent: MakeAgent, op: OnPrem):  # type: ignore[no-untyped-def]
    """An agent whose Smart Transport URL is the On-Prem's /SmartTransport."""
    running = await make_agent(port=op.port, data="agent-onprem")
    await running.agent.set_transport(
        TransportSettings(connection=ConnectionMode.GATEWAY, url="https://smartreceiver.cisco.com/SmartTransport")
    )
    return running


#: A log line of the in-process servers (they log to the same stdout as the verbs print to).
LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")


async def ssm_server(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``ssm-server ARGV`` as typed (its own event loop, in a thread): its exit status, what it
    printed (without the in-process servers' log lines) and its errors."""
    capsys.readouterr()
    status = await asyncio.to_thread(cli.main, list(argv))
    out = capsys.readouterr()
    return status, "\n".join(line for line in out.out.splitlines() if not LOG.match(line)), out.err
