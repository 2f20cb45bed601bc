"""The lab console, in Chromium and over plain HTTP, against a real lab (the SSM and the agent as the
launcher starts them, the console as ``ssmlab up`` starts it): the clock moves both processes, a
TLS drill is switched and served, a fault with a TTL is listed and removed, a snapshot is saved and
loaded, a built-in scenario plays with its checks turning green; text is escaped, a foreign Host,
another site's form and a missing CSRF token are refused, and nothing changes when they are."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509

from lab.player import Check
from lab.processes import Lab
from lab.web.app import create_app
from lab.web.keys import RUNNER
from lab.web.runner import Run
from plumbing.clients.lab import LabError
from plumbing.web.serve import start
from tests.lab.launcher import free_port, port_closed, ssmlab
from tests.web.conftest import SHOTS, Shoot

SCRIPT = "<script>alert(1)</script>"


@dataclass
class Up:
    lab: Lab
    said: str
    pages: str


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory, pki_dir: Path) -> Iterator[Up]:
    """A lab as ``make run`` brings it up (``ssmlab up``, frozen clocks): SSM, agent, and the console
    beside them; ``ssmlab down`` at the end stops all three."""
    folder = tmp_path_factory.mktemp("console") / "lab"
    ports = [free_port(), free_port(), free_port()]
    options = ["--ssm-port", str(ports[0]), "--agent-port", str(ports[1]), "--console-port", str(ports[2])]
    started = subprocess.run(
        ssmlab(folder, pki_dir, "up", "--fresh", "--rate", "0", *options), capture_output=True, text=True, timeout=120
    )
    try:
        assert started.returncode == 0, started.stderr
        pages = (
            f"lab console http://127.0.0.1:{ports[2]}/   SSM portal https://127.0.0.1:{ports[0]}/   "
            f"agent page http://127.0.0.1:{ports[1]}/"
        )
        yield Up(Lab(folder, pki_dir).load(), started.stdout, pages)
    finally:
        down = subprocess.run(ssmlab(folder, pki_dir, "down"), capture_output=True, text=True, timeout=60)
    assert "stopped" in down.stdout
    assert all(port_closed(p) for p in ports)


@pytest.fixture
def lab(up: Up) -> Lab:
    return up.lab


@pytest.fixture
def url(lab: Lab) -> str:
    assert lab.console_url is not None
    return lab.console_url.rstrip("/")


def when(instant: str | datetime) -> str:
    """An instant as the pages show it."""
    value = datetime.fromisoformat(instant) if isinstance(instant, str) else instant
    return value.strftime("%Y-%m-%d %H:%M UTC")


async def token_of(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url + "/") as r:
        found = re.search(r'name="csrf-token" content="([^"]+)"', await r.text())
    assert found
    return found.group(1)


# -- without a browser: the refusals ----------------------------------------------------------------


async def test_refusals_change_nothing(lab: Lab, url: str) -> None:
    faults_before = lab.ssm("GET", "/_lab/faults")
    clock_before = lab.ssm("GET", "/_lab/clock")["now"]
    mode_before = lab.ssm("GET", "/_lab/tls")["mode"]
    async with aiohttp.ClientSession() as s:
        token = await token_of(s, url)
        form = {"kind": "status", "status": "503", "_csrf": token}
        async with s.get(url + "/", headers={"Host": "attacker.example"}) as r:
            assert r.status == 421 and "host_not_served" in await r.text()  # DNS rebinding
        async with s.post(url + "/faults", data={"kind": "status"}) as r:
            assert r.status == 403 and "csrf_token_missing" in await r.text()
        async with s.post(url + "/faults", data=form, headers={"Origin": "http://evil.example"}) as r:
            assert r.status == 403 and "cross_origin" in await r.text()
        async with s.post(url + "/faults", data={**form, "status": "lots"}, allow_redirects=False) as r:
            text = await r.text()  # a plain form post: the page again, with the card's refusal
            assert r.status == 400 and "invalid_fault" in text and "HTTP status must be a whole number" in text
            assert 'value="lots"' in text  # what was typed stays there to be fixed
        htmx = {"HX-Request": "true", "X-CSRF-Token": token}
        refused = {
            "/faults": ({"kind": "latency"}, "invalid_fault"),
            "/clock/advance": ({"duration": "soon"}, "invalid_duration"),
            "/clock/rate": ({"rate": "fast"}, "invalid_rate"),
            "/tls": ({"mode": "nope"}, "tls_mode_unknown"),
            "/snapshots/save": ({"name": "../outside"}, "invalid_snapshot_name"),
            "/snapshots/load": ({"name": "never-saved"}, "snapshot_not_found"),
            "/scenarios/run": ({"name": "nope"}, "scenario_unknown"),
            "/faults/99/remove": ({}, "fault_not_found"),
        }
        for path, (data, code) in refused.items():
            async with s.post(url + path, data=data, headers=htmx) as r:
                text = await r.text()
                assert r.status == 200 and 'class="error"' in text and code in text, (path, text)
        async with s.get(url + "/live/timeline?limit=0") as r:
            assert r.status == 400 and (await r.json())["error"] == "invalid_query"
        async with s.post(url + "/faults", data={**form, "ttl": "1h"}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/#faults-card"  # the form, without a script
    (added,) = lab.ssm("GET", "/_lab/faults")
    lab.ssm("DELETE", f"/_lab/faults/{added['id']}")
    assert lab.ssm("GET", "/_lab/faults") == faults_before
    assert lab.ssm("GET", "/_lab/clock")["now"] == clock_before
    assert lab.ssm("GET", "/_lab/tls")["mode"] == mode_before
    assert not (lab.folder / "outside").exists() and not (lab.folder / "snapshots" / "never-saved").exists()


async def test_the_form_token_outlives_a_restart(lab: Lab, url: str) -> None:
    """Kept in the lab folder, readable by its owner only: a tab open across a restart still works."""
    kept = lab.folder / "console-csrf"
    async with aiohttp.ClientSession() as s:
        assert await token_of(s, url) == kept.read_text()
    assert kept.stat().st_mode & 0o777 == 0o600


def test_the_console_listens_on_loopback_only(lab: Lab) -> None:
    port = int(lab.state["console_port"])
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) == 0
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.2", port)) != 0  # bound to 127.0.0.1, not to every address


def test_up_and_status_print_the_three_pages(up: Up, pki_dir: Path) -> None:
    """``make run`` shows where the three pages are (the console, the SSM portal, the agent's page)."""
    assert up.pages in up.said
    status = subprocess.run(ssmlab(up.lab.folder, pki_dir, "status"), capture_output=True, text=True, timeout=60)
    assert up.pages in status.stdout


def test_a_run_stops_at_its_next_step() -> None:
    """What the runner's Stop does: the player's next report raises, which ends the run there (its
    lab stopped and kept); the page then says 'stopped', not 'failed'."""
    run = Run("tls-expired", "", total=9, started=0.0)
    run.watch(1, "2027-01-04T08:00:00+00:00", "register ucce-1: done", [])
    assert run.state == "running" and run.steps[0].passed is None
    run.stop.set()
    assert run.state == "stopping"
    with pytest.raises(LabError) as stopped:
        run.watch(2, "2027-01-04T08:00:00+00:00", "the SSM serves the expired certificate", [])
    assert stopped.value.code == "stopped" and len(run.steps) == 2
    run.report = {"passed": False, "error": "step 2: stopped from the lab console"}
    assert run.state == "stopped" and not run.running


async def test_a_failed_check_shows_red_with_what_was_found(lab: Lab, aiohttp_client: Any) -> None:
    app = create_app(lab)
    runner = app[RUNNER]
    runner.current = run = Run("wrong", "expects what does not happen", total=2, started=0.0)
    failed = Check(2, "ucce-1 authorization", "Out of Compliance", "Authorized", "2027-01-04T08:15:00+00:00")
    run.watch(1, "2027-01-04T08:00:00+00:00", "register ucce-1: done", [])
    run.watch(2, "2027-01-04T08:15:00+00:00", "expect ucce-1: authorization=Out of Compliance", [failed])
    run.report = {"passed": False, "error": None, "checks": [failed.view()], "lab": "/tmp/kept"}
    client = await aiohttp_client(app)
    html = await (await client.get("/live/run")).text()
    assert '<span class="pill failed">failed</span>' in html and '<li class="failed">' in html
    assert "expected <code>Out of Compliance</code>, found <code>Authorized</code>" in html
    assert '<span class="checks-count">0/1 check(s) passed</span>' in html and "/tmp/kept" in html


# -- in Chromium ---------------------------------------------------------------------------------------


async def test_the_clock_moves_both_processes(lab: Lab, url: str, page: Any, shoot: Shoot) -> None:
    from playwright.async_api import expect

    await page.goto(url + "/")
    await shoot(page, "console")
    start = datetime.fromisoformat(lab.ssm("GET", "/_lab/clock")["now"])
    await page.click("#advance-1d")
    for side in ("ssm", "agent"):
        await expect(page.locator(f"#clock-{side} .now")).to_have_text(when(start + timedelta(days=1)), timeout=20000)
    await expect(page.locator("#clock-job")).to_contain_text("Advanced by 1d to", timeout=20000)
    for call in (lab.ssm, lab.agent):
        assert datetime.fromisoformat(call("GET", "/_lab/clock")["now"]) == start + timedelta(days=1)
    await expect(page.locator("header .clock")).to_contain_text(when(start + timedelta(days=1)))
    await shoot(page, "advanced")

    await page.fill("#duration", "36h")
    await page.press("#duration", "Enter")  # the keyboard submits it
    target = when(start + timedelta(days=1, hours=36))
    await expect(page.locator("#clock-agent .now")).to_have_text(target, timeout=20000)

    await page.fill("#rate", "3600")
    await page.click("text=Set rate")
    await expect(page.locator("#clock-card .notice")).to_contain_text("both clocks run at 3600")
    await expect(page.locator("#clock-ssm .rate")).to_have_text("×3600 (1 h/s)")
    await expect(page.locator("#clock-agent .rate")).to_have_text("×3600 (1 h/s)")
    await page.fill("#rate", "0")
    await page.click("text=Set rate")
    await expect(page.locator("#clock-agent .rate")).to_have_text("frozen")
    assert lab.agent("GET", "/_lab/clock")["rate"] == 0 == lab.ssm("GET", "/_lab/clock")["rate"]


def served_leaf(port: int) -> x509.Certificate:
    """The certificate the SSM serves now, from a real handshake (no verification: a drill)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port)) as raw, ctx.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


async def test_a_tls_drill_is_switched_and_served(lab: Lab, url: str, page: Any, shoot: Shoot) -> None:
    from playwright.async_api import expect

    await page.goto(url + "/")
    await page.check("#mode-expired")
    await page.click("text=Serve this certificate")
    await expect(page.locator("#tls-card .notice")).to_contain_text("serves the expired certificate")
    await expect(page.locator("#tls-now .serving")).to_contain_text("Serving expired")
    await expect(page.locator("label[for=mode-expired] .pill")).to_have_text("serving")
    assert served_leaf(lab.ssm_port).not_valid_after_utc < datetime.now(UTC)  # what the handshake sends
    await page.locator("#tls-card").scroll_into_view_if_needed()
    await shoot(page, "expired")
    async with page.expect_download() as download:
        await page.click("text=download ca.pem")
    assert (await download.value).suggested_filename == "ssmlab-expired-ca.pem"
    await page.check("#mode-good")
    await page.click("text=Serve this certificate")
    await expect(page.locator("#tls-now .serving")).to_contain_text("Serving good")
    assert served_leaf(lab.ssm_port).not_valid_after_utc > datetime.now(UTC)


async def test_the_second_catalog_is_in_the_drill_switch(lab: Lab, url: str, page: Any, shoot: Shoot) -> None:
    """Issue 19's drills are in the switch, each with its line; the console still drives the SSM
    while it speaks TLS 1.0 only or demands a client certificate (the lab's own clients cope)."""
    from playwright.async_api import expect

    from server.tlsdrills import DESCRIPTIONS, DrillMode

    await page.goto(url + "/")
    for mode in list(DrillMode)[10:]:
        await expect(page.locator(f"label[for='mode-{mode}']")).to_contain_text(DESCRIPTIONS[mode])
    for mode in ("client-cert-required", "tls1.0-only"):
        await page.check(f"#mode-{mode}".replace(".", "\\."))
        await page.click("text=Serve this certificate")
        await expect(page.locator("#tls-now .serving")).to_contain_text(f"Serving {mode}")
    await page.locator("#tls-card").scroll_into_view_if_needed()
    await shoot(page, "tls10-only")
    await page.check("#mode-good")
    await page.click("text=Serve this certificate")
    await expect(page.locator("#tls-now .serving")).to_contain_text("Serving good")
    assert served_leaf(lab.ssm_port).not_valid_after_utc > datetime.now(UTC)


async def test_a_fault_with_a_ttl_is_listed_then_removed(lab: Lab, url: str, page: Any, shoot: Shoot) -> None:
    from playwright.async_api import expect

    await page.goto(url + "/")
    await page.select_option("#f-kind", "status")
    await page.fill("#f-status", "503")
    await page.fill("#f-retry", "30")
    await page.fill("#f-path", f"/licservice/{SCRIPT}")
    await page.fill("#f-ttl", "2h")
    await page.click("text=Add fault")
    # No endpoint is under that path: the fault could never fire, so the SSM refuses it (issue 16,
    # item 13); its message names the path, shown as text, never run.
    await expect(page.locator("#faults-card .error")).to_contain_text(f"/licservice/{SCRIPT}")
    assert await page.locator("#faults-card script").count() == 0
    assert lab.ssm("GET", "/_lab/faults") == []
    await page.fill("#f-path", "/licservice/")
    await page.click("text=Add fault")
    await expect(page.locator("#faults-card .notice")).to_contain_text("added")
    row = page.locator("#fault-list li")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("HTTP 503, Retry-After 30 s")
    await expect(row).to_contain_text("/licservice/")
    (fault,) = lab.ssm("GET", "/_lab/faults")
    assert fault["ttl"] == "2h" and fault["path"] == "/licservice/"
    await expect(row).to_contain_text(f"reverts at {when(fault['expires_at'])}")
    await page.locator("#faults-card").scroll_into_view_if_needed()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1280  # nothing pushes the page wider
    await shoot(page, "fault-listed")
    await page.click(f"#remove-fault-{fault['id']}")
    await expect(page.locator("#faults-card .notice")).to_have_text(f"fault {fault['id']} removed")
    await expect(page.locator("#fault-list")).to_contain_text("No faults")
    assert lab.ssm("GET", "/_lab/faults") == []

    # A fault reverts itself at the end of its time to live: the live list drops it.
    lab.ssm("POST", "/_lab/faults", {"kind": "drop", "ttl": "1h"})
    await expect(row).to_have_count(1, timeout=5000)
    await page.click("#advance-1h")
    await expect(page.locator("#fault-list")).to_contain_text("No faults", timeout=20000)


async def test_a_snapshot_is_saved_and_loaded(lab: Lab, url: str, page: Any, shoot: Shoot) -> None:
    from playwright.async_api import expect

    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.goto(url + "/")
    pools = lab.ssm("GET", "/_lab/pools")
    await page.fill("#snapshot-name", "before-buy")
    await page.click("text=Save snapshot")
    await expect(page.locator("#snapshots-card .notice")).to_have_text("snapshot before-buy saved on both sides")
    await expect(page.locator(".snapshot-list")).to_contain_text("before-buy")
    lab.ssm("POST", "/_lab/licenses", {"name": "Premium Agent", "quantity": 20})
    assert lab.ssm("GET", "/_lab/pools") != pools
    await page.click("[aria-label='Load snapshot before-buy']")
    await expect(page.locator("#snapshots-card .notice")).to_have_text("snapshot before-buy loaded on both sides")
    assert lab.ssm("GET", "/_lab/pools") == pools
    await shoot(page, "snapshot-loaded")

    lab.ssm("POST", "/_lab/licenses", {"name": "Premium Agent", "quantity": 20})
    lab.ssm("POST", "/_lab/faults", {"kind": "drop", "path": "/licservice/license"})
    await page.click("#open-reset")
    await expect(page.locator("#reset-dialog")).to_be_visible()
    await expect(page.locator("#reset-account")).to_be_focused()
    # The viewport only: a full-page screenshot shows the dialog's backdrop over part of the page.
    await page.screenshot(path=str(SHOTS / "test_a_snapshot_is_saved_and_loaded-reset-dialog.png"))
    await page.click("#reset-dialog button.danger")
    await expect(page.locator("#snapshots-card .notice")).to_contain_text("the lab was reset")
    await expect(page.locator("#reset-dialog")).to_be_hidden()
    assert lab.ssm("GET", "/_lab/pools") == pools and lab.ssm("GET", "/_lab/faults") == []  # the seed again
    assert Lab(lab.folder, lab.certs).load().state["demo_start"] == lab.ssm("GET", "/_lab/clock")["now"]


async def test_a_scenario_plays_and_its_checks_turn_green(url: str, page: Any, shoot: Shoot) -> None:
    from playwright.async_api import expect

    await page.goto(url + "/scenarios")
    await shoot(page, "scenarios")
    await page.click("#run-tls-expired")
    await expect(page.locator("#run h2 .pill")).to_have_text("running")
    await expect(page.locator("#run .check .pill.passed").first).to_be_visible(timeout=60000)
    await shoot(page, "playing")
    await expect(page.locator("#run h2 .pill")).to_have_text("passed", timeout=120000)
    await expect(page.locator("#run .checks-count")).to_have_text("6/6 check(s) passed")
    assert await page.locator("#run .check .pill.failed").count() == 0
    await shoot(page, "passed")


async def test_the_journal_and_the_timeline_show_text_as_text(lab: Lab, url: str, page: Any, shoot: Shoot) -> None:
    from playwright.async_api import expect

    path = "/%3Cimg%20src=x%20onerror=alert(1)%3E"
    with pytest.raises(Exception, match="no endpoint"):
        lab.ssm("GET", path)  # journalled (a lab-plane 404), its path decoded: <img src=x onerror=alert(1)>
    await page.goto(url + "/journal")
    await page.check("#lab")
    await expect(page.locator("#journal-rows")).to_contain_text("GET /<img src=x onerror=alert(1)>", timeout=5000)
    assert await page.locator("#journal-rows img").count() == 0
    await shoot(page, "journal")
    await page.goto(url + "/timeline")
    await expect(page.locator("#timeline-rows tbody tr").first).to_be_visible()
    await shoot(page, "timeline")


async def test_another_site_s_form_is_refused(lab: Lab, url: str, page: Any, shoot: Shoot) -> None:
    """The attack itself: a page elsewhere (another origin) posts a form to the console."""
    from playwright.async_api import expect

    async def attacker(_request: web.Request) -> web.Response:
        form = (
            f'<form method="post" action="{url}/faults"><input name="kind" value="drop">'
            '<button id="go">Win a prize</button></form>'
        )
        return web.Response(text=f"<!doctype html><html><body>{form}</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", attacker)
    runner, port = await start(app, "127.0.0.1", 0)
    try:
        await page.goto(f"http://localhost:{port}/")
        await page.click("#go")
        await expect(page.locator("h1")).to_contain_text("csrf_token_missing")
        await shoot(page, "refused")
    finally:
        await runner.cleanup()
    assert lab.ssm("GET", "/_lab/faults") == []


async def reload_until(page: Any, url: str, selector: str, text: str) -> None:
    """Load the console until ``selector`` shows ``text`` (it reads what changed outside it within a second)."""
    from playwright.async_api import expect

    for _ in range(20):
        await page.goto(url + "/")
        found = page.locator(selector)
        if await found.count() and text in (await found.inner_text()):
            return
        await asyncio.sleep(0.25)
    await expect(page.locator(selector)).to_contain_text(text)


async def test_mutual_tls_and_an_id_certificate_drill_from_the_console(
    lab: Lab, url: str, page: Any, shoot: Shoot
) -> None:
    """The console switches mutual TLS on, shows what the instance presented, runs the revoked
    drill (the next renewal is refused) and refuses a bad rollover overlap with its fix, changing
    nothing. The instance leaves the lab as it found it (unregistered, mutual TLS off)."""
    from playwright.async_api import expect

    await page.goto(url + "/")
    await page.get_by_role("button", name="Demand ID certificates").click()
    await expect(page.locator("#pki-card .notice")).to_contain_text("demands ID certificates")
    token = lab.ssm("POST", "/_lab/tokens", {"va": "DEFAULT", "description": "console test"})["token"]
    lab.agent("POST", "/api/v1/instances/ucce-1/register", {"token": token})
    try:
        lab.agent("POST", "/api/v1/instances/ucce-1/renew-authorization")
        await reload_until(page, url, "#pki-card table", "ssmlab Issuing CA")
        await page.check("#idc-revoked")
        await page.select_option("#idc-instance", "ucce-1")
        await page.get_by_role("button", name="Run the drill").click()
        await expect(page.locator("#pki-card .notice")).to_contain_text("the SSM revoked ID certificate")
        with pytest.raises(LabError) as refused:
            lab.agent("POST", "/api/v1/instances/ucce-1/renew-authorization")
        assert "client_cert_revoked" in str(refused.value) or refused.value.code == "client_cert_revoked"
        await reload_until(page, url, "#pki-card table", "client_cert_revoked")
        await page.fill("#overlap", "soon")
        await page.get_by_role("button", name="Start a rollover").click()
        await expect(page.locator("#pki-card .error")).to_contain_text("invalid_duration")
        assert lab.ssm("GET", "/_lab/pki/rollover")["phase"] == "none"
        await page.locator("#pki-card").scroll_into_view_if_needed()
        await shoot(page, "mtls-revoked")
    finally:
        lab.ssm("POST", "/_lab/device-mtls", {"enabled": False})
        lab.agent("POST", "/api/v1/instances/ucce-1/deregister")


async def test_the_pages_at_phone_width(url: str, browser: Any, shoot: Shoot) -> None:
    from playwright.async_api import expect

    context = await browser.new_context(viewport={"width": 390, "height": 844})
    try:
        phone = await context.new_page()
        for path, name in (("/", "console"), ("/scenarios", "scenarios"), ("/timeline", "timeline")):
            await phone.goto(url + path)
            await expect(phone.locator("h1")).to_be_visible()
            assert await phone.evaluate("document.documentElement.scrollWidth") <= 390, path  # no sideways scroll
            await shoot(phone, f"phone-{name}")
    finally:
        await context.close()
