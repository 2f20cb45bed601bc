"""The whole story in a real browser against real processes (``ssmlab up``: an SSM, a Smart Agent and
the lab console, each its own process): a token made in the SSM portal is pasted in the agent page's
Register dialog; usage over the purchase and the clock advanced from the console put the agent page
Out of Compliance and the portal's pool red; licenses bought in the portal bring it back; a TLS
drill switched in the console makes Renew Authorization fail on the agent page with its code and
fix, and once the fix is applied the renewal succeeds; a refusal shows its reason."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lab.processes import Lab
from tests.lab.launcher import free_port, ssmlab
from tests.web.conftest import Shoot


@pytest.fixture
def lab(tmp_path: Path, pki_dir: Path) -> Iterator[Lab]:
    folder = tmp_path / "lab"
    ports = [free_port(), free_port(), free_port()]
    options = ["--ssm-port", str(ports[0]), "--agent-port", str(ports[1]), "--console-port", str(ports[2])]
    started = subprocess.run(
        ssmlab(folder, pki_dir, "up", "--fresh", "--rate", "0", *options), capture_output=True, text=True, timeout=120
    )
    try:
        assert started.returncode == 0, started.stderr
        yield Lab(folder, pki_dir).load()
    finally:
        subprocess.run(ssmlab(folder, pki_dir, "down"), capture_output=True, text=True, timeout=60)


def _to_evening(lab: Lab) -> str:
    """A duration that takes the lab to 17:05 domain time (the demo's instances are idle from 17:00
    to midnight: nothing of their daily usage profile interferes for the next hours)."""
    now = datetime.fromisoformat(lab.ssm("GET", "/_lab/clock")["now"])
    target = now.replace(hour=17, minute=5, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    return f"{int((target - now).total_seconds() // 60)}m"


async def test_token_register_out_of_compliance_purchase_and_a_tls_drill(lab: Lab, browser: Any, shoot: Shoot) -> None:
    from playwright.async_api import expect

    context = await browser.new_context(viewport={"width": 1280, "height": 800}, ignore_https_errors=True)
    portal, agent, console = await context.new_page(), await context.new_page(), await context.new_page()
    ssm_url = lab.ssm_url.rstrip("/")
    agent_url = lab.agent_url.rstrip("/")
    assert lab.console_url is not None
    console_url = lab.console_url.rstrip("/")

    # The console: take both clocks to the evening first.
    await console.goto(console_url + "/")
    await console.get_by_label("Advance by").fill(_to_evening(lab))
    await console.get_by_role("button", name="Advance", exact=True).click()
    await expect(console.locator("#clock-job")).to_contain_text("Advanced by", timeout=30000)

    # The portal: a new token, shown once.
    await portal.goto(ssm_url + "/inventory/general")
    await portal.get_by_role("button", name="New Token...").click()
    dialog = portal.get_by_role("dialog", name="Create Registration Token")
    await dialog.get_by_label("Description").fill("the story")
    await dialog.get_by_role("button", name="Create Token").click()
    token = (await portal.locator("#new-token-text").input_value()).strip()
    assert token
    await shoot(portal, "1-portal-token")

    # The agent page: paste it in the Register dialog.
    await agent.goto(agent_url + "/instances/ucce-1")
    await agent.get_by_role("button", name="Register", exact=True).click()
    box = agent.locator("#dlg-register")
    await box.get_by_label("Product Instance Registration Token").fill(token)
    await box.get_by_role("button", name="Register").click()
    await expect(agent.locator("#registration-status")).to_contain_text("Registered")
    await expect(agent.locator("#authorization-status")).to_contain_text("Authorized")
    await shoot(agent, "2-agent-registered")

    # The portal lists the instance.
    await portal.goto(ssm_url + "/inventory/instances")
    await expect(portal.locator("#instances")).to_contain_text("ucce-1")
    await shoot(portal, "3-portal-instances")

    # A refusal shows its reason: the License Type cannot change while registered.
    await agent.get_by_role("button", name="License Type", exact=True).click()
    box = agent.locator("#dlg-license-type")
    await box.get_by_label("Perpetual").check()
    await box.get_by_role("button", name="Save").click()
    await expect(box.locator(".error")).to_contain_text("deregister_first")
    await expect(box.locator(".error .fix")).to_contain_text("deregister")
    await shoot(agent, "4-agent-license-type-refused")
    await box.get_by_role("button", name="Cancel").click()

    # Usage over the purchase (100 in DEFAULT), then two hours from the console.
    await agent.get_by_label("Premium Agent").fill("130")
    await agent.get_by_role("button", name="Set usage").click()
    await expect(agent.locator("#flash")).to_contain_text("Premium Agent = 130")
    await console.get_by_label("Advance by").fill("2h")
    await console.get_by_role("button", name="Advance", exact=True).click()
    await expect(console.locator("#clock-job")).to_contain_text("Advanced by 2h", timeout=30000)
    await shoot(console, "5-console-advanced")
    await expect(agent.locator("#banner .banner.out-of-compliance")).to_contain_text("Out of Compliance", timeout=5000)
    await shoot(agent, "6-agent-out-of-compliance")
    await portal.goto(ssm_url + "/inventory/licenses")
    row = portal.locator('#licenses tr[data-license="Premium Agent|Flex|Production"]')
    await expect(row.locator(".pill")).to_have_text("Out of Compliance")
    await shoot(portal, "7-portal-pool-red")

    # Buy 40 in the portal: the next report (15 minutes later) is In Compliance again.
    await portal.get_by_role("button", name="Add Licenses...").click()
    dialog = portal.get_by_role("dialog", name="Add Licenses")
    await dialog.get_by_label("License", exact=True).select_option("Flex|Production|Premium Agent")
    await dialog.get_by_label("Quantity").fill("40")
    await dialog.get_by_role("button", name="Add Licenses").click()
    await expect(row.locator(".purchased")).to_have_text("140")
    await console.get_by_role("button", name="+15 min").click()
    await expect(row.locator(".pill")).to_have_text("In Compliance", timeout=10000)
    await expect(agent.locator("#authorization-status")).to_contain_text("Authorized", timeout=10000)
    await expect(agent.locator("#banner")).not_to_contain_text("Out of Compliance")
    await shoot(portal, "8-portal-in-compliance")
    await shoot(agent, "9-agent-in-compliance")

    # A TLS drill from the console: Renew Authorization fails with the code and the fix.
    await console.locator("#tls-card").scroll_into_view_if_needed()
    await console.locator("#mode-wrong-host").check()
    await console.get_by_role("button", name="Serve this certificate").click()
    await expect(console.locator("#tls-now .serving")).to_contain_text("Serving wrong-host")
    await agent.locator("#action-menu > summary").click()
    await agent.get_by_role("button", name="Renew Authorization").click()
    error = agent.locator("#flash .error")
    await expect(error).to_contain_text("tls_host_mismatch")
    await expect(error.locator(".fix")).not_to_be_empty()
    await shoot(agent, "10-agent-renew-tls-drill")

    # The SSM-side fix (serve the good certificate again), from the console; renew again: it works.
    await console.locator("#mode-good").check()
    await console.get_by_role("button", name="Serve this certificate").click()
    await expect(console.locator("#tls-now .serving")).to_contain_text("Serving good")
    await agent.locator("#action-menu > summary").click()
    await agent.get_by_role("button", name="Renew Authorization").click()
    await expect(agent.locator("#flash")).to_contain_text("Renew Authorization succeeded")
    await shoot(agent, "11-agent-renewed")
    await context.close()
