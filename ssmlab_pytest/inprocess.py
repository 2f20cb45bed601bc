"""The in-process lab: an SSM and a Smart Agent served from one background thread's event loop.

The test's thread stays free (a plain ``def`` test, or an async one on its own loop), and both
processes listen on real loopback ports, so a test talks to them exactly as it would to the
subprocess lab (``ssmlab_pytest.processes``). Each has its own virtual clock, as two processes
would; ``SSM.advance`` moves them in lockstep.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import threading
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from agent.api import create_api
from agent.config import parse_config
from agent.daemon import Agent, open_transport
from agent.store import AgentStore
from lab.agenttoml import AGENT_TOML, LAB_RESOLVE, instance_toml
from plumbing.web import serve
from server import apiclients, keys
from server.app import create_app
from server.pki_files import LabPki, init_lab_pki, load_lab_pki
from server.settings import ServerSettings
from server.store import Store
from server.store.location import PgUrl
from shared.clock import AnyClock, VirtualClock
from shared.clockstate import dump_state
from shared.policy import DEFAULT_POLICY
from ssmlab_pytest.backend import LabFolder

T = TypeVar("T")


@contextlib.asynccontextmanager
async def serve_ssm(db: Path | PgUrl, clock: AnyClock, lab_pki: LabPki) -> AsyncIterator[tuple[Store, int]]:
    """A cloud SSM (store ``db``, the lab PKI's certificate) over TLS on a free loopback port, in
    the running event loop: its store and port (tests/conftest.py's ``ssm`` fixture serves it too)."""
    store = await Store.open(db)
    try:
        app = create_app(ServerSettings(db_path=db, policy=DEFAULT_POLICY), clock=clock, lab_pki=lab_pki, store=store)
        runner, port = await serve.start(app, "127.0.0.1", 0, ssl_context=app[keys.TLS].context)
        try:
            yield store, port
        finally:
            await runner.cleanup()
    finally:
        await store.close()


class InProcessLab(LabFolder):
    """Start with ``start()``, stop with ``close()``; the addresses and files are attributes."""

    def __init__(self, folder: Path, instances: list[dict[str, Any]], start: datetime) -> None:
        super().__init__(folder, instances, start)
        self.ssm_url = self.agent_url = ""
        self.api_client_file = folder / "api-client.json"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ssmlab-inprocess", daemon=True)
        self._stack = contextlib.AsyncExitStack()

    def _run(self, coro: Awaitable[T], timeout: float = 60) -> T:
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        return future.result(timeout)

    def start(self) -> InProcessLab:
        self._thread.start()
        self._run(self._start())
        return self

    async def _start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        init_lab_pki(self.certs)
        clock = VirtualClock(self.start_at)
        store, port = await self._stack.enter_async_context(
            serve_ssm(self.folder / "ssm.db", clock, load_lab_pki(self.certs))
        )
        self.ssm_url = f"https://127.0.0.1:{port}"
        client = await apiclients.create(store, name="pytest", now=self.start_at)
        creds = {"client_id": client.client_id, "client_secret": client.client_secret}
        fd = os.open(self.api_client_file, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)  # a secret: 0600
        with os.fdopen(fd, "w") as f:
            json.dump(creds, f)

        text = AGENT_TOML.format(
            agent_port=0,
            resolve="\n".join(f'"{key}" = "127.0.0.1:{port}"' for key in LAB_RESOLVE),
            truststore=self.ca_bundle.resolve(),
            instances="".join(instance_toml(i) for i in self.instances),
        )
        (self.folder / "agent.toml").write_text(text)
        cfg = parse_config(text, base=self.folder)
        agent_store = await AgentStore.open(cfg.data_path / "agent.db")
        self._stack.push_async_callback(agent_store.close)

        async def persist_clock(clk: AnyClock) -> None:
            await agent_store.set_setting("clock", dump_state(clk))

        agent_clock = VirtualClock(self.start_at)  # its own, as another process's would be
        await persist_clock(agent_clock)
        transport = await open_transport(cfg, agent_store)
        self._stack.push_async_callback(transport.close)
        agent = Agent(config=cfg, clock=agent_clock, store=agent_store, transport=transport, policy=DEFAULT_POLICY)
        await agent.start()
        self._stack.push_async_callback(agent.stop)
        agent_runner, agent_port = await serve.start(create_api(agent, persist_clock), "127.0.0.1", 0)
        self._stack.push_async_callback(agent_runner.cleanup)
        self.agent_url = f"http://127.0.0.1:{agent_port}"

    async def _stop(self) -> None:
        await self._stack.aclose()

    def close(self) -> None:
        if self._thread.is_alive():
            try:
                self._run(self._stop())
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(10)
                self._loop.close()
