"""A cloud SSM (and its portal) shared by a test module, with agents started on its clock, and one
Chromium for every portal test: one SSM per module and one browser per session keep the browser
tests quick; each test works in virtual accounts of its own. The portal's tests run in the
session's event loop (``LOOP``), where the shared browser lives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from server.accounts import LAB_DOMAIN, create_virtual_account, resolve_account
from server.pki_files import LabPki
from shared.clock import VirtualClock
from tests.conftest import NO_VERIFY, START, RunningAgent, RunningSSM, agent_config, open_agent, serve_ssm
from tests.web.conftest import CHROMIUM, FLAGS, _require_browser

#: The event loop of the portal's tests (the shared browser lives in it).
LOOP = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator[Any]:
    _require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(chromium: Any) -> AsyncIterator[Any]:
    """A fresh page at 1280x800 (the lab CA is not in Chromium's store: the certificate is not
    checked by the browser; the tests' own clients check it). A confirm() (hx-confirm) is
    accepted; an alert() or a script error fails the test (an injected script would show one)."""
    context = await chromium.new_context(viewport={"width": 1280, "height": 800}, ignore_https_errors=True)
    pg = await context.new_page()
    errors: list[str] = []

    async def on_dialog(d: Any) -> None:
        if d.type == "confirm":
            await d.accept()
        else:
            errors.append(f"unexpected {d.type}: {d.message}")
            await d.dismiss()

    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("dialog", on_dialog)
    try:
        yield pg
    finally:
        await context.close()
    assert errors == []


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def cloud(tmp_path_factory: Any, lab_pki: LabPki, pki_dir: Path) -> AsyncIterator[RunningSSM]:
    """A cloud SSM over TLS on a virtual clock, for the whole module."""
    async with serve_ssm(tmp_path_factory.mktemp("portal"), VirtualClock(START), lab_pki, pki_dir) as running:
        yield running


async def new_va(ssm: RunningSSM, name: str, description: str = "") -> None:
    account = await resolve_account(ssm.store, LAB_DOMAIN)
    await create_virtual_account(ssm.store, account=account, name=name, description=description, now=ssm.clock.now())


async def start_agent(
    ssm: RunningSSM, tmp: Path, pki_dir: Path, instances: list[dict[str, str]] | None = None
) -> RunningAgent:
    """An in-process agent on the SSM's clock (close it at the end of the test)."""
    return await open_agent(agent_config(tmp, pki_dir, ssm.port, instances), ssm)


class Client:
    """The portal as a script sees it: pages, and forms posted with the page's CSRF token."""

    def __init__(self, ssm: RunningSSM, session: aiohttp.ClientSession) -> None:
        self.ssm = ssm
        self.session = session
        self.csrf = ""

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        async with self.session.get(self.ssm.url + path, ssl=NO_VERIFY, **kw) as r:
            text = await r.text()
            if 'name="csrf-token"' in text:
                self.csrf = text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
            return r.status, text

    async def post(self, path: str, data: Any = None, *, token: bool = True, **kw: Any) -> tuple[int, str]:
        if token and not self.csrf:
            await self.get("/inventory/general")
        headers = {"X-CSRF-Token": self.csrf, "HX-Request": "true"} if token else {}
        headers.update(kw.pop("headers", {}))
        async with self.session.post(self.ssm.url + path, data=data, headers=headers, ssl=NO_VERIFY, **kw) as r:
            return r.status, await r.text()


@pytest_asyncio.fixture(loop_scope="session")
async def client(cloud: RunningSSM) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(cloud, session)
