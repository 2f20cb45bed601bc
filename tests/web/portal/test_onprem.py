"""The portal of an SSM On-Prem (its admin listener, styled as the Licensing workspace): the
Synchronization page before registration, a Disconnected round trip carried by hand through
both portals (request file down, up to the cloud, response file down, up to the On-Prem), and
Connected mode's "Synchronize now"."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio

from plumbing.web import serve
from server import keys, onprem
from server.app import create_app
from server.pki_files import LabPki
from server.settings import ServerSettings
from server.store import Store
from shared.policy import DEFAULT_POLICY
from tests.conftest import NO_VERIFY, RunningSSM
from tests.web.conftest import Shoot
from tests.web.portal.conftest import LOOP

pytestmark = LOOP
CLOUD_URL = "https://smartreceiver.cisco.com/licservice/license"


@dataclass
class Site:
    admin: str
    device: str
    store: Store

    def at(self, path: str) -> str:
        return f"{self.admin}{path}?sa={onprem.ONPREM_DOMAIN}&va=DEFAULT"


Start = Callable[[str, str], Any]


@pytest_asyncio.fixture(loop_scope="session")
async def start_onprem(
    cloud: RunningSSM,
    tmp_path: Path,
    lab_pki: LabPki,
    pki_dir: Path,
) -> AsyncIterator[Start]:
    """Start On-Prems on the cloud's clock, each with a device and an admin listener."""
    running: list[tuple[Any, Store]] = []

    async def start(name: str, sync: str) -> Site:
        db = tmp_path / f"{name}.db"
        store = await Store.open(db)
        settings = ServerSettings(
            mode="onprem",
            db_path=db,
            policy=DEFAULT_POLICY,
            sync=sync,
            certs=pki_dir,
            admin_port=0,  # type: ignore[arg-type]
        )
        app = create_app(settings, clock=cloud.clock, lab_pki=lab_pki, store=store)
        runner, _ = await serve.start(app, "127.0.0.1", 0, ssl_context=app[keys.TLS].context, also=("127.0.0.1", 0))
        device, admin = serve.bound_ports(runner)
        app[keys.LISTENERS].device, app[keys.LISTENERS].admin = device, admin
        running.append((runner, store))
        return Site(f"https://127.0.0.1:{admin}", f"https://127.0.0.1:{device}", store)

    yield start
    for runner, store in running:
        await runner.cleanup()
        await store.close()


async def register(site: Site, cloud: RunningSSM, pki_dir: Path) -> None:
    await onprem.register(
        site.store,
        cloud.clock.now(),
        token=await cloud.token(),
        cloud_url=CLOUD_URL,
        truststore=pki_dir / "truststore.pem",
        resolve={"smartreceiver.cisco.com:443": f"127.0.0.1:{cloud.port}"},
    )


async def test_disconnected_round_trip_through_both_portals(
    cloud: RunningSSM,
    start_onprem: Start,
    page: Any,
    shoot: Shoot,
    pki_dir: Path,
    tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    site = await start_onprem("disconnected", "disconnected")
    await page.goto(site.at("/synchronization"))
    await expect(page.locator("body")).to_have_class("portal onprem")
    await expect(page.locator(".brand")).to_contain_text("SSM On-Prem")
    await expect(page.locator("#sync .error")).to_contain_text("onprem_not_registered")
    await shoot(page, "not-registered")
    async with aiohttp.ClientSession() as s, s.get(site.device + "/inventory/general", ssl=NO_VERIFY) as r:
        assert r.status == 404  # the pages are served on the admin listener only

    await register(site, cloud, pki_dir)
    await expect(page.locator("#sync")).to_contain_text("Disconnected (files)", timeout=3000)
    await page.reload()
    await shoot(page, "registered")
    async with page.expect_download() as got:
        await page.get_by_role("button", name="Download request file").click()
    request_file = tmp_path / "request.json"
    await (await got.value).save_as(request_file)
    assert b'"direction": "request"' in request_file.read_bytes()

    await page.goto(f"{cloud.url}/synchronization")
    await page.get_by_label("Request file", exact=True).set_input_files(request_file)
    await shoot(page, "cloud-answers")
    async with page.expect_download() as got:
        await page.get_by_role("button", name="Upload and download the response file").click()
    response_file = tmp_path / "response.json"
    await (await got.value).save_as(response_file)

    await page.goto(site.at("/synchronization"))
    await page.get_by_label("Response file").set_input_files(response_file)
    await page.get_by_role("button", name="Upload response file").click()
    await expect(page.locator("#flash")).to_contain_text("Synchronization file applied (sequence 1)")
    await expect(page.locator("#sync .last-sync")).not_to_have_text("Never")
    await expect(page.locator("#sync .deadline")).to_contain_text("UTC")
    link = await onprem.require_link(site.store)
    assert link.applied == 1 and link.deadline is not None
    await expect(page.locator("#sync")).to_contain_text(link.name)
    await shoot(page, "synchronized")
    # the cloud lists the On-Prem with its last synchronization and its deadline
    await page.goto(f"{cloud.url}/synchronization")
    row = page.locator("#sync tbody tr", has_text=link.name)
    await expect(row).to_contain_text("registered")
    await expect(row.locator("td").nth(3)).not_to_have_text("—")
    await shoot(page, "cloud-lists-onprems")
    # the cloud's entitlements are the On-Prem's licenses now
    await page.goto(site.at("/inventory/licenses"))
    await expect(page.locator("#licenses tbody tr").first).to_be_visible()
    await shoot(page, "onprem-licenses")

    # the same response again is refused with its code, and nothing changes
    await page.goto(site.at("/synchronization"))
    await page.get_by_label("Response file").set_input_files(response_file)
    await page.get_by_role("button", name="Upload response file").click()
    await expect(page.locator("#upload-result .error")).to_contain_text("sync_replayed")
    assert (await onprem.require_link(site.store)).applied == 1


async def test_connected_synchronize_now(
    cloud: RunningSSM,
    start_onprem: Start,
    page: Any,
    shoot: Shoot,
    pki_dir: Path,
) -> None:
    from playwright.async_api import expect

    site = await start_onprem("connected", "connected")
    await register(site, cloud, pki_dir)
    await page.goto(site.at("/synchronization"))
    await expect(page.locator("#sync")).to_contain_text("Connected (network)")
    await expect(page.locator("#sync .last-sync")).to_have_text("Never")
    await page.get_by_role("button", name="Synchronize now").click()
    await expect(page.locator("#flash")).to_contain_text("Synchronized with the cloud (sequence 1)")
    await expect(page.locator("#sync .last-sync")).not_to_have_text("Never", timeout=3000)
    await expect(page.locator("#sync")).to_contain_text("Next scheduled")
    await shoot(page, "connected")
