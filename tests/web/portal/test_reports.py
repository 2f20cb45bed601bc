"""The License Consumption report and the subscription terms in the portal, in a real browser:
the period choice, the chart of actual against reported (locked) usage, the summary per instance,
the CSV download; a purchase with a term, its subscription listed and renewed. Screenshots at
1280x800 and at phone width (390x844) go to var/screenshots/."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from server.accounts import LAB_DOMAIN, add_licenses, resolve_account
from shared.states import LicenseType, UsageMode
from tests.conftest import RunningSSM
from tests.web.conftest import Shoot
from tests.web.portal.conftest import LOOP, new_va, start_agent

pytestmark = LOOP
Q = timedelta(minutes=15)
PHONE = {"width": 390, "height": 844}


def at(ssm: RunningSSM, path: str, va: str, **more: str) -> str:
    return f"{ssm.url}{path}?{urlencode({'sa': LAB_DOMAIN, 'va': va, **more})}"


async def test_consumption_report_chart_summary_and_csv(
    cloud: RunningSSM, page: Any, shoot: Shoot, tmp_path: Path, pki_dir: Path
) -> None:
    from playwright.async_api import expect

    await new_va(cloud, "usage-report")
    account = await resolve_account(cloud.store, LAB_DOMAIN)
    await add_licenses(
        cloud.store,
        account=account,
        va_name="usage-report",
        license_type=LicenseType.FLEX,
        usage_mode=UsageMode.PRODUCTION,
        name="Premium Agent",
        quantity=100,
        now=cloud.clock.now(),
    )
    running = await start_agent(cloud, tmp_path, pki_dir)
    try:
        inst = running.agent.runner(None)
        await inst.register(await cloud.token("usage-report"))
        await inst.set_usage({"Premium Agent": 60})
        await cloud.clock.advance(8 * Q)
        await inst.set_usage({"Premium Agent": 130})
        await cloud.clock.advance(5 * Q)  # Out of Compliance at the fifth interval over
        await inst.set_usage({"Premium Agent": 90})
        await cloud.clock.advance(4 * Q)  # locked at 130
    finally:
        await running.close()

    await page.goto(at(cloud, "/reports/consumption", "usage-report", days="1"))
    await expect(page.locator("h1")).to_contain_text("License Consumption")
    await expect(page.get_by_label("Period", exact=True)).to_have_value("1")
    chart = page.locator("svg.chart.consumption")
    await expect(chart).to_have_count(1)
    await expect(chart.locator("rect.over")).to_have_count(5)  # the locked intervals, shaded
    label = await chart.get_attribute("aria-label")
    assert label is not None and "highest actual peak 130" in label and "highest reported usage 130" in label
    row = page.locator("table.consumption tbody tr", has_text="Premium Agent")
    await expect(row.locator('td[data-label="Highest Actual"]')).to_have_text("130")
    await expect(row.locator('td[data-label="Intervals Locked"]')).to_have_text("5")
    await expect(row.locator(".pill")).to_have_text("Out of Compliance")
    await shoot(page, "consumption")

    async with page.expect_download() as info:
        await page.get_by_role("link", name="Download CSV").click()
    download = await info.value
    rows = list(csv.DictReader(Path(await download.path()).read_text().splitlines()))
    premium = [r for r in rows if r["license"] == "Premium Agent"]
    assert [r["actual_peak"] for r in premium[-4:]] == ["90"] * 4
    assert [r["reported_usage"] for r in premium[-4:]] == ["130"] * 4
    assert all(r["locked"] == "yes" and r["compliance_status"] == "Out of Compliance" for r in premium[-5:])
    assert download.suggested_filename == "license-consumption.csv"

    # another period from the list
    await page.get_by_label("Period", exact=True).select_option("30")
    await page.get_by_role("button", name="Show").last.click()
    await expect(page.get_by_label("Period", exact=True)).to_have_value("30")
    await expect(page.locator("svg.chart.consumption")).to_have_count(1)
    # an unknown period is refused with its fix
    await page.goto(at(cloud, "/reports/consumption", "usage-report", days="12"))
    await expect(page.locator(".error")).to_contain_text("choose a period from the list")

    await page.set_viewport_size(PHONE)
    await page.goto(at(cloud, "/reports/consumption", "usage-report", days="1"))
    await expect(page.locator("svg.chart.consumption")).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the report scrolls sideways at phone width ({width}px)"
    await shoot(page, "phone-consumption")


async def test_a_purchase_with_a_term_is_listed_and_renewed(cloud: RunningSSM, page: Any, shoot: Shoot) -> None:
    from playwright.async_api import expect

    await new_va(cloud, "terms")
    await page.goto(at(cloud, "/inventory/licenses", "terms"))
    await expect(page.locator("#subscriptions")).to_contain_text("No subscription terms")
    await page.get_by_role("button", name="Add Licenses...").click()
    dialog = page.get_by_role("dialog", name="Add Licenses")
    await dialog.get_by_label("License", exact=True).select_option("Flex|Production|Premium Agent")
    await dialog.get_by_label("Quantity").fill("25")
    await dialog.get_by_label("Term (Flex only)").select_option("3y")
    await shoot(page, "add-licenses-term")
    await dialog.get_by_role("button", name="Add Licenses").click()
    await expect(dialog).to_be_hidden()
    row = page.locator("#subscriptions tbody tr")
    await expect(row).to_have_count(1)
    start = cloud.clock.now().date()
    end = start.replace(year=start.year + 3) - timedelta(days=1)
    await expect(row.locator(".end-date")).to_have_text(end.isoformat())
    await expect(row.locator('td[data-label="Quantity"]')).to_have_text("25")
    await shoot(page, "subscription")
    await row.get_by_role("button", name="Renew").click()
    renewed = end.replace(year=end.year + 1)
    await expect(row.locator(".end-date")).to_have_text(renewed.isoformat())
    await expect(page.locator("#flash")).to_contain_text(f"valid until {renewed.isoformat()}")
    await shoot(page, "subscription-renewed")
    # a Perpetual purchase with a term is refused in the dialog, with the fix
    await page.get_by_role("button", name="Add Licenses...").click()
    await dialog.get_by_label("License", exact=True).select_option("Perpetual|Production|Premium Agent")
    await dialog.get_by_label("Term (Flex only)").select_option("1y")
    await dialog.get_by_role("button", name="Add Licenses").click()
    await expect(dialog.locator(".error")).to_contain_text("never expire")
    await shoot(page, "term-on-perpetual")
    await page.keyboard.press("Escape")
    await page.set_viewport_size(PHONE)
    await page.goto(at(cloud, "/inventory/licenses", "terms"))
    await expect(page.locator("#subscriptions tbody tr")).to_have_count(1)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the licenses tab scrolls sideways at phone width ({width}px)"
    await shoot(page, "phone-subscriptions")
