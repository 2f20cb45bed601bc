"""The portal's Notifications page in a real browser (issue 21): an e-mail address and a webhook
added through their dialogs, the secret shown once, the account's next event reaching a loopback
receiver signed and showing in the delivery log, an e-mail waiting without --smtp, refusals as text."""

from __future__ import annotations

from typing import Any

from server.accounts import LAB_DOMAIN
from shared.clock import epoch
from tests.conftest import RunningSSM
from tests.server.notifying import receiver
from tests.web.conftest import Shoot
from tests.web.portal.conftest import LOOP, new_va

pytestmark = LOOP
PHONE = {"width": 390, "height": 844}


def at(ssm: RunningSSM, path: str) -> str:
    return f"{ssm.url}{path}?sa={LAB_DOMAIN}&va=DEFAULT"


async def test_addresses_webhooks_and_their_deliveries(
    cloud: RunningSSM, page: Any, chromium: Any, shoot: Shoot
) -> None:
    from playwright.async_api import expect

    await page.goto(at(cloud, "/notifications"))
    await expect(page.get_by_role("heading", name="Notifications", level=1)).to_be_visible()
    await shoot(page, "empty")

    await page.get_by_role("button", name="Add E-mail Address...").click()
    dialog = page.get_by_role("dialog", name="Add E-mail Address")
    await dialog.get_by_label("E-mail address").fill("<script>@x")  # the browser's type=email check aside
    await dialog.locator("input").evaluate("e => e.type = 'text'")
    await dialog.get_by_role("button", name="Add Address").click()
    await expect(dialog.locator(".error")).to_contain_text("invalid_address")
    await expect(dialog.locator(".error")).to_contain_text("<script>@x")
    await shoot(page, "address-refused")
    await dialog.get_by_label("E-mail address").fill("NOC@Example.com")
    await dialog.get_by_role("button", name="Add Address").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#notify-state")).to_contain_text("noc@example.com")

    async with receiver(cloud.clock) as hook:
        await page.get_by_role("button", name="Add Webhook...").click()
        dialog = page.get_by_role("dialog", name="Add Webhook")
        await dialog.get_by_label("Webhook URL").fill(hook.url)
        await shoot(page, "webhook-dialog")
        await dialog.get_by_role("button", name="Add Webhook").click()
        await expect(dialog).to_be_hidden()
        secret = page.locator("#new-webhook-secret")
        await expect(secret).to_be_visible()
        hook.secret = await secret.input_value()
        assert hook.secret.startswith("whsec_")
        await expect(page.locator("#notify-state")).to_contain_text(hook.url)
        await shoot(page, "webhook-created")

        await new_va(cloud, "notified")  # an event of the account
        await hook.wait(1)
        assert hook.calls[0].verdict == "ok" and hook.calls[0].event["virtual_account"] == "notified"
        log = page.locator("table", has=page.locator("caption", has_text="Webhook delivery attempts"))
        await expect(log).to_contain_text("virtual_account_created", timeout=10000)
        await expect(log.locator(".pill").first).to_have_text("delivered")

    def raise_alert(uow: Any) -> None:
        va = uow.accounts.virtual_accounts(uow.accounts.by_domain(LAB_DOMAIN).id)[0]
        uow.events.notify(
            at=epoch(cloud.clock.now()), kind="Insufficient Licenses", severity="warning", va_id=va.id,
            subject="Insufficient Licenses: UCCE", body="3 in use, 2 purchased",
        )  # fmt: skip

    await cloud.store.write(raise_alert)
    mails = page.locator("table", has=page.locator("caption", has_text="Notification e-mails"))
    await expect(mails).to_contain_text("noc@example.com")
    await expect(mails.locator(".pill").first).to_have_text("pending")
    await expect(page.locator("#notify-state")).to_contain_text("without --smtp")
    assert page.locator("#new-webhook-secret") is not None
    await page.reload()
    assert hook.secret not in await page.content()  # shown once: never listed again
    await shoot(page, "deliveries")

    context = await chromium.new_context(viewport=PHONE, ignore_https_errors=True)
    try:
        phone = await context.new_page()
        await phone.goto(at(cloud, "/notifications"))
        await expect(phone.get_by_role("heading", name="Notifications", level=1)).to_be_visible()
        assert await phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
        await shoot(phone, "phone")
    finally:
        await context.close()
