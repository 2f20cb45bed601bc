"""The product's "Smart License Management" page, in Chromium, against a real agent and a real SSM
over TLS: the seed's clicks (Transport Settings, License Type, Register, the Action menu,
Deregister), the banner and the consumption summary updating by themselves on the domain clock,
Specific License Reservation, the truststore, diagnose and a TLS drill, escaping, and the phone.
Every state and dialog is saved under var/screenshots/ (look at them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.api import create_api
from plumbing.web import serve
from server import reservations
from server.accounts import LAB_DOMAIN, resolve_account
from server.reservations import Wanted
from shared import pki
from tests.conftest import MakeAgent, RunningAgent, RunningSSM, no_persist
from tests.web.conftest import Shoot

Q = timedelta(minutes=15)
SCRIPT = "<script>alert(1)</script>"


@dataclass
class Site:
    url: str
    running: RunningAgent


async def serve_agent(running: RunningAgent) -> tuple[Any, str]:
    runner, port = await serve.start(create_api(running.agent, no_persist), "127.0.0.1", 0)
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def site(make_agent: MakeAgent) -> AsyncIterator[Site]:
    running = await make_agent()
    runner, url = await serve_agent(running)
    try:
        yield Site(url, running)
    finally:
        await runner.cleanup()


async def snap(page: Any, shoot: Shoot, name: str) -> None:
    """A dialog's state as the viewport shows it (a full-page shot would not dim the rest)."""
    path = await shoot(page, name)
    await page.screenshot(path=str(path), full_page=False)


async def open_dialog(page: Any, opener: str, dialog: str) -> Any:
    await page.get_by_role("button", name=opener, exact=True).first.click()
    box = page.locator(f"#{dialog}")
    from playwright.async_api import expect

    await expect(box).to_be_visible()
    return box


async def test_register_refusal_out_of_compliance_and_deregister(
    site: Site, ssm: RunningSSM, page: Any, shoot: Shoot
) -> None:
    """The seed's task flow, click by click: Transport Settings (a URL refused by a rule, the
    suggested URL used), License Type, Register with a token, a refusal with its reason and fix,
    Renew Authorization, usage over the purchase until the Out of Compliance banner, Learn More,
    Deregister with confirmation; then the page at phone width."""
    from playwright.async_api import expect

    await page.goto(site.url + "/")
    assert page.url.endswith("/instances/ucce-1")
    await expect(page.locator("#banner .banner.evaluation")).to_contain_text("Evaluation")
    await expect(page.locator("#registration-status")).to_contain_text("Unregistered")
    await expect(page.locator("#evaluation-remaining")).to_have_text("90 days")
    await shoot(page, "1-evaluation")
    controls = page.locator("input:not([type=hidden]), textarea, select")
    assert await controls.count() > 15
    unlabeled = await controls.evaluate_all("els => els.filter(e => e.labels.length === 0).map(e => e.outerHTML)")
    assert unlabeled == []  # every control of the page and its dialogs has a label

    # Transport Settings: a Smart Call Home path while the mode is Smart Transport is refused by the
    # rule 'path fits the mode', with the URL to use; "Use this URL" saves it.
    box = await open_dialog(page, "Transport Settings", "dlg-transport")
    await box.get_by_label("Transport Gateway").check()
    await box.get_by_label("URL", exact=True).fill(
        "https://smartreceiver.cisco.com/its/service/oddce/services/DDCEService"
    )
    await box.get_by_role("button", name="Save").click()
    await expect(box.locator(".error")).to_contain_text("url_path_other_mode")
    await expect(box.locator(".error .fix")).to_contain_text("select the transport mode Smart Call Home")
    await expect(box.locator("#suggested-url")).to_have_text("https://smartreceiver.cisco.com/licservice/license")
    await snap(page, shoot, "2-transport-refused")
    await box.get_by_role("button", name="Use this URL").click()
    await expect(box).to_be_hidden()
    await expect(page.locator("#flash")).to_contain_text(
        "Transport Settings saved: Smart Transport, Transport Gateway, https://smartreceiver.cisco.com/licservice/license"
    )
    assert site.running.agent.transport.settings.url == "https://smartreceiver.cisco.com/licservice/license"

    box = await open_dialog(page, "License Type", "dlg-license-type")
    await expect(box.get_by_label("Flex")).to_be_checked()
    await snap(page, shoot, "3-license-type")
    await box.get_by_role("button", name="Cancel").click()

    # Register: "Smart Software Licensing Product Registration", paste the token (keyboard only).
    await expect(page.locator(".sl-actions").get_by_role("button", name="Register", exact=True)).to_have_count(1)
    await page.get_by_role("button", name="Register", exact=True).focus()
    await page.keyboard.press("Enter")
    box = page.locator("#dlg-register")
    field = box.get_by_label("Product Instance Registration Token")
    await expect(field).to_be_focused()
    await page.keyboard.insert_text(await ssm.token())
    await snap(page, shoot, "4-register-dialog")
    await page.keyboard.press("Tab")  # Cancel
    await page.keyboard.press("Tab")  # Register
    await expect(box.get_by_role("button", name="Register")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(box).to_be_hidden()
    await expect(page.locator("#registration-status")).to_contain_text("Registered")
    await expect(page.locator("#authorization-status")).to_contain_text("Authorized")
    await expect(page.locator("#virtual-account")).to_have_text("DEFAULT")
    # registered: Register leaves the header (the Action menu has Reregister), without a reload
    await expect(page.locator(".sl-actions").get_by_role("button", name="Register", exact=True)).to_have_count(0)
    await expect(page.locator("#banner")).to_be_empty()
    await shoot(page, "5-registered")

    # A refusal: the License Type cannot change while registered; the reason and the fix are shown.
    box = await open_dialog(page, "License Type", "dlg-license-type")
    await box.get_by_label("Perpetual").check()
    await box.get_by_role("button", name="Save").click()
    error = box.locator(".error")
    await expect(error).to_contain_text("registered")
    await expect(error.locator(".fix")).to_contain_text("deregister")
    await snap(page, shoot, "6-license-type-refused")
    await box.get_by_role("button", name="Cancel").click()
    assert site.running.agent.runner(None).state.license_type == "Flex"

    # Action > Renew Authorization.
    await page.locator("#action-menu > summary").click()
    await snap(page, shoot, "7-action-menu")
    before = site.running.agent.runner(None).state.authorized_at
    await ssm.clock.advance(timedelta(hours=1))
    await page.get_by_role("button", name="Renew Authorization").click()
    await expect(page.locator("#flash")).to_contain_text("Renew Authorization succeeded")
    await expect(page.locator("#action-menu")).not_to_have_attribute("open", "")
    assert site.running.agent.runner(None).state.authorized_at != before

    # Usage over the purchase (100 Premium Agent) for five reports: Out of Compliance, by itself.
    await page.get_by_label("Premium Agent").fill("130")
    await page.get_by_role("button", name="Set usage").click()
    await expect(page.locator("#flash")).to_contain_text("Usage set: Premium Agent = 130")
    await ssm.clock.advance(5 * Q)
    await expect(page.locator("#banner .banner.out-of-compliance")).to_contain_text("Out of Compliance")
    row = page.locator("#consumption tr", has_text="Premium Agent")
    await expect(row).to_contain_text("Out of Compliance")
    await expect(row).to_contain_text("130")
    await shoot(page, "8-out-of-compliance")
    await page.get_by_role("link", name="Learn More").click()
    await expect(page.locator("#compliance-report")).to_contain_text("130 in use in the virtual account, 100 purchased")
    await shoot(page, "9-compliance-report")
    await page.go_back()

    # Action > Deregister > "Confirm Deregistration" > Yes.
    await page.locator("#action-menu > summary").click()
    await page.get_by_role("button", name="Deregister").click()
    box = page.locator("#dlg-deregister")
    await expect(box).to_be_visible()
    await snap(page, shoot, "10-confirm-deregistration")
    await box.get_by_role("button", name="Yes").click()
    await expect(box).to_be_hidden()
    await expect(page.locator("#flash")).to_contain_text("Deregistered")
    await expect(page.locator("#registration-status")).to_contain_text("Unregistered")
    await expect(page.locator("#banner .banner.evaluation")).to_be_visible()
    await shoot(page, "11-deregistered")

    await page.set_viewport_size({"width": 390, "height": 844})
    await shoot(page, "12-phone")
    box = await open_dialog(page, "Transport Settings", "dlg-transport")
    await snap(page, shoot, "13-phone-transport")


def _ca_pem(name: str) -> bytes:
    now = datetime.now(UTC)  # a real certificate's validity (the truststore is infrastructure)
    return pki.cert_pem(pki.make_ca(name, not_before=now - timedelta(days=1), not_after=now + timedelta(days=30)).cert)


async def test_connection_truststore_diagnose_and_a_tls_drill(
    site: Site, ssm: RunningSSM, page: Any, shoot: Shoot, tmp_path: Path
) -> None:
    """The truststore takes a PEM file; diagnose shows every step; in the wrong-host drill Renew
    Authorization shows the code and the fix, and so does diagnose."""
    from playwright.async_api import expect

    await site.running.agent.runner(None).register(await ssm.token())
    await page.goto(site.url + "/connection")
    await expect(page.locator("#transport-summary")).to_contain_text("Smart Transport")
    pem = tmp_path / "customer-root.pem"
    pem.write_bytes(_ca_pem("Customer Root CA"))
    await page.get_by_label("Alias").fill("customer-root")
    await page.get_by_label("Certificate file (PEM or DER)").set_input_files(str(pem))
    await page.get_by_role("button", name="Import").click()
    await expect(page.locator("#truststore .notice")).to_contain_text("added to the truststore as customer-root")
    await expect(page.locator("#trust-entries")).to_contain_text("CN=Customer Root CA")
    assert "customer-root" in [e.alias for e in site.running.agent.trust_list()]

    await page.get_by_role("button", name="Diagnose").click()
    steps = page.locator("#diagnosis-steps")
    await expect(steps).to_contain_text("hostname")
    await expect(page.locator("#diagnosis h2")).to_contain_text("OK")
    await shoot(page, "1-connection-ok")
    await page.get_by_role("button", name="Remove customer-root from the truststore").click()
    await expect(page.locator("#truststore .notice")).to_contain_text("customer-root removed from the truststore")
    await expect(page.locator("#trust-entries")).not_to_contain_text("Customer Root CA")

    await ssm.set_tls("wrong-host")
    await page.goto(site.url + "/instances/ucce-1")
    await page.locator("#action-menu > summary").click()
    await page.get_by_role("button", name="Renew Authorization").click()
    flash = page.locator("#flash .error")
    await expect(flash).to_contain_text("tls_host_mismatch")
    await expect(flash.locator(".fix")).to_contain_text("smart-agent transport set")
    await expect(page.locator("#last-failure")).to_contain_text("tls_host_mismatch")
    await shoot(page, "2-renew-tls-drill")

    await page.goto(site.url + "/connection")
    await page.get_by_role("button", name="Diagnose").click()
    await expect(page.locator("#diagnosis .error")).to_contain_text("tls_host_mismatch")
    await expect(page.locator("#diagnosis h2")).to_contain_text("FAIL")
    await shoot(page, "3-diagnose-tls-drill")

    # The fix, applied from the diagnosis (the URL the certificate names), then renew again.
    await page.get_by_role("button", name="Use https://wrong-host.ssmlab.example/licservice/license").click()
    await expect(page.locator("#flash")).to_contain_text("Transport Settings saved")
    await expect(page.locator("#transport-summary")).to_contain_text(
        "https://wrong-host.ssmlab.example/licservice/license"
    )
    await page.goto(site.url + "/instances/ucce-1")
    await page.locator("#action-menu > summary").click()
    await page.get_by_role("button", name="Renew Authorization").click()
    await expect(page.locator("#flash")).to_contain_text("Renew Authorization succeeded")
    await expect(page.locator("#last-failure")).to_have_count(0)
    await shoot(page, "4-fix-applied-renewed")


async def test_picker_escaping_and_reservation(
    ssm: RunningSSM, make_agent: MakeAgent, page: Any, shoot: Shoot, lab_pki: Any
) -> None:
    """Several instances: the picker. A virtual account called <script> renders as text (ssmlab's
    SSM refuses that name, but the page must not trust what an SSM sends: the row is written
    straight into the store). Specific License Reservation: the request code with Copy, the
    authorization code installed, returned."""
    from playwright.async_api import expect

    running = await make_agent([{"name": "ucce-1"}, {"name": "cvp-1", "product": "CVP", "deployment_type": "CVP"}])
    account = await resolve_account(ssm.store, LAB_DOMAIN)
    now = ssm.clock.now()
    await ssm.store.write(
        lambda u: u.accounts.add_virtual_account(
            account_id=account.id, name=SCRIPT, description="", is_default=False, now=now
        )
    )
    await running.agent.runner("ucce-1").register(await ssm.token(va=SCRIPT))
    await running.agent.runner("cvp-1").set_enabled(False)
    runner, url = await serve_agent(running)
    try:
        await page.goto(url + "/")
        await expect(page.locator("#compliance-report")).to_contain_text("cvp-1")
        await expect(page.locator("#alerts")).to_contain_text("Smart Agent is not enabled")
        await expect(page.locator("#alerts-button .badge")).to_contain_text("1")
        await shoot(page, "1-picker")
        await page.get_by_role("button", name="Enable the Smart Agent").click()
        await expect(page.locator("#alerts-button .badge")).to_have_count(0)

        await page.goto(url + "/instances/ucce-1")
        await expect(page.locator("#virtual-account")).to_have_text(SCRIPT)
        assert await page.locator("script:not([src])").count() == 0

        await page.goto(url + "/instances/cvp-1")
        box = await open_dialog(page, "Specific License Reservation", "dlg-slr")
        await box.get_by_role("button", name="Request a reservation code").click()
        code = box.locator("#slr-request-code")
        await expect(box).to_contain_text("Reservation In Progress")
        reservation = running.agent.runner("cvp-1").state.reservation
        assert reservation is not None
        await expect(code).to_have_value(reservation.request_code)
        await snap(page, shoot, "2-reservation-requested")

        va = await ssm.store.read(lambda u: u.accounts.virtual_account(1))
        pool = next(
            p for p in await ssm.store.read(lambda u: u.pools.of(1)) if p.name == "Premium Agent" and p.quantity
        )
        [outcome] = await reservations.reserve(
            ssm.store,
            va,
            [(await code.input_value(), "SPECIFIC", [Wanted(pool.tag, 4)])],
            now=ssm.clock.now(),
            lab_pki=lab_pki,
        )
        await box.get_by_label("Authorization code").fill(outcome.reservation.authorization_code)
        await box.get_by_role("button", name="Install authorization code").click()
        await expect(box.locator("#slr-code-1")).to_have_value(outcome.reservation.confirmation_code)
        await expect(box).to_contain_text("Registered - Specific License Reservation")
        await snap(page, shoot, "3-reservation-installed")
        await box.get_by_role("button", name="Return reservation").click()
        await expect(box.locator("#slr-code-1")).to_have_value(outcome.reservation.return_code)
        await snap(page, shoot, "4-reservation-returned")
        await box.get_by_role("button", name="Close").click()
        await expect(page.locator("#flash")).to_contain_text("Reservation returned")

        # 91 days unregistered: Enforcement (evaluation expiry), its way out, adding agents refused.
        await ssm.clock.advance(timedelta(days=91))
        await expect(page.locator("#banner .banner.enforcement")).to_contain_text("Enforcement")
        await expect(page.locator("#enforcement")).to_contain_text("Evaluation expiry")
        await page.get_by_role("button", name="Add agents").click()
        await expect(page.locator("#flash .error")).to_contain_text("enforcement")
        await shoot(page, "5-enforcement")
    finally:
        await runner.cleanup()
