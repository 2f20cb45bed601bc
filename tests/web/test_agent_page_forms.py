"""The Smart License Management page's handlers without a browser: a refusal shows the code and
the fix the command line shows (the local API's own) and changes nothing; a refused URL names its
rule and the URL to use; the guards (CSRF, Host) hold; bad forms, unknown instances and files are
refused as pages; everything shown is escaped; live fragments answer 204 while unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from agent.api import create_api
from plumbing.web import pages
from shared import banner
from tests.conftest import MakeAgent, NetCut, RunningAgent, RunningSSM, no_persist

HTMX = {"HX-Request": "true"}


@pytest.fixture
async def page_api(
    make_agent: MakeAgent, aiohttp_client: Any
) -> tuple[RunningAgent, TestClient[Any, Any], dict[str, str]]:
    running = await make_agent()
    client: TestClient[Any, Any] = await aiohttp_client(create_api(running.agent, no_persist))
    return running, client, {"X-CSRF-Token": client.server.app[pages.CSRF]}


async def test_a_refusal_shows_the_code_and_fix_of_the_local_api_and_changes_nothing(
    ssm: RunningSSM, page_api: tuple[RunningAgent, TestClient[Any, Any], dict[str, str]]
) -> None:
    running, api, csrf = page_api
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    report = await (await api.get("/compliance")).text()
    assert 'id="banner-note"' in report and banner.ALL_CLEAR in report  # no banner: the report says why
    before = inst.state
    r = await api.put(
        "/api/v1/instances/ucce-1/license-type", json={"license_type": "Perpetual", "usage_mode": "Production"}
    )
    refused = await r.json()
    assert r.status == 409

    form = {"license_type": "Perpetual", "usage_mode": "Production"}
    r = await api.post("/instances/ucce-1/license-type", data=form, headers=csrf)
    html = await r.text()
    assert r.status == 409 and r.content_type == "text/html"  # a plain form post: the whole page, the status
    assert refused["error"] in html and pages_escaped(refused["fix"]) in html
    r = await api.post("/instances/ucce-1/license-type", data=form, headers={**csrf, **HTMX})
    fragment = await r.text()
    assert r.status == 200 and 'id="form-license-type"' in fragment  # htmx swaps 2xx only: the dialog's form
    assert refused["error"] in fragment and 'class="error"' in fragment
    assert 'value="Perpetual" checked' in fragment  # the choice made is kept beside its refusal
    assert inst.state == before


def pages_escaped(text: str) -> str:
    return text.replace("'", "&#39;").replace('"', "&#34;").replace("<", "&lt;").replace(">", "&gt;")


async def test_a_refused_url_names_its_rule_and_the_url_to_use(
    page_api: tuple[RunningAgent, TestClient[Any, Any], dict[str, str]],
) -> None:
    running, api, csrf = page_api
    saved = running.agent.transport.settings
    form = {
        "mode": "Smart Transport",
        "connection": "Transport Gateway",
        "url": "http://ssm.example.com/SmartTransport",
    }
    r = await api.post("/transport", data=form, headers={**csrf, **HTMX})
    html = await r.text()
    assert r.status == 200 and "url_not_https" in html and "URL rule &#39;https only&#39;" in html
    assert 'id="suggested-url">https://ssm.example.com/SmartTransport<' in html
    assert 'name="use_url" value="https://ssm.example.com/SmartTransport"' in html
    assert 'value="http://ssm.example.com/SmartTransport"' in html  # what was typed stays in the field
    assert running.agent.transport.settings == saved

    r = await api.post(
        "/transport",
        data={"mode": "Smart Transport", "use_url": "https://ssm.example.com/SmartTransport"},
        headers={**csrf, **HTMX},
    )
    html = await r.text()
    assert (
        "Transport Settings saved: Smart Transport, Transport Gateway, https://ssm.example.com/SmartTransport" in html
    )
    assert 'hx-swap-oob="true"' in html  # the page's flash, out of band; the dialog's form has no error: it closes
    assert running.agent.transport.settings.url == "https://ssm.example.com/SmartTransport"
    page = await (await api.get("/instances/ucce-1")).text()
    assert 'name="url" value="https://ssm.example.com/SmartTransport"' in page

    r = await api.post(
        "/transport", data={"connection": "HTTP/HTTPS Proxy", "proxy_host": "p", "proxy_port": "many"}, headers=csrf
    )
    assert r.status == 400 and "invalid_form" in await r.text() and "proxy_port" in await r.text()


async def test_the_guards_and_unknown_things_are_refused_as_pages(
    ssm: RunningSSM, page_api: tuple[RunningAgent, TestClient[Any, Any], dict[str, str]]
) -> None:
    running, api, csrf = page_api
    inst = running.agent.runner(None)
    token = await ssm.token()
    r = await api.post("/instances/ucce-1/register", data={"token": token})
    assert r.status == 403 and "csrf_token_missing" in await r.text()
    r = await api.post(
        "/instances/ucce-1/register", data={"token": token}, headers={**csrf, "Origin": "http://evil.example"}
    )
    assert r.status == 403 and "cross_origin" in await r.text()
    r = await api.get("/instances/ucce-1", headers={"Host": "rebound.example:8787"})
    assert r.status == 421 and "host_not_served" in await r.text()
    assert inst.state.registration == "Unregistered"

    r = await api.get("/instances/nope")
    html = await r.text()
    assert r.status == 404 and "instance_not_found" in html and "use one of: ucce-1" in html
    r = await api.post("/instances/nope/renew-authorization", headers=csrf)
    assert r.status == 404 and r.content_type == "text/html"

    r = await api.post("/instances/ucce-1/register", data={"token": "<script>alert(1)</script>"}, headers=csrf)
    html = await r.text()
    assert r.status >= 400 and "<script>alert(1)" not in html and 'class="error"' in html
    assert inst.state.registration == "Unregistered"


async def test_truststore_refusals_match_the_local_api(
    page_api: tuple[RunningAgent, TestClient[Any, Any], dict[str, str]],
) -> None:
    running, api, csrf = page_api
    entries = [e.alias for e in running.agent.trust_list()]
    form = FormData()
    form.add_field("alias", "nothing")
    r = await api.post("/trust", data=form, headers={**csrf, **HTMX})
    assert r.status == 200 and "certificate_file_missing" in await r.text()
    form = FormData()
    form.add_field("alias", "junk")
    form.add_field("file", b"not a certificate", filename="junk.pem", content_type="application/x-pem-file")
    r = await api.post("/trust", data=form, headers=csrf)
    api_refusal = await (
        await api.post("/api/v1/trust", json={"alias": "junk", "data": "bm90IGEgY2VydGlmaWNhdGU="})
    ).json()
    assert r.status == 400 and api_refusal["error"] in await r.text()
    r = await api.post("/trust/unknown/remove", headers=csrf)
    assert r.status == 404 and "alias_not_found" in await r.text()
    assert [e.alias for e in running.agent.trust_list()] == entries


async def test_live_fragments_answer_204_while_unchanged(
    page_api: tuple[RunningAgent, TestClient[Any, Any], dict[str, str]],
) -> None:
    _running, api, csrf = page_api
    tags = {}
    for path in ("/instances/ucce-1/live", "/live", "/live/chrome"):
        tags[path] = (await api.get(path)).headers["ETag"]
        assert (await api.get(path, headers={"X-Shown": tags[path]})).status == 204
    r = await api.post("/instances/ucce-1/usage", data={"Premium Agent": "7"}, headers={**csrf, **HTMX})
    assert r.status == 200 and r.headers["HX-Trigger"] == "refresh" and "Usage set: Premium Agent = 7" in await r.text()
    r = await api.get("/instances/ucce-1/live", headers={"X-Shown": tags["/instances/ucce-1/live"]})
    assert r.status == 200 and ">7<" in await r.text()


async def test_deregister_offline_says_to_remove_it_on_the_ssm(
    ssm: RunningSSM, make_agent: MakeAgent, netcut: NetCut, aiohttp_client: Any
) -> None:
    running = await make_agent(port=netcut.port)
    api: TestClient[Any, Any] = await aiohttp_client(create_api(running.agent, no_persist))
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    piid = inst.state.piid or ""
    await netcut.cut()
    r = await api.post("/instances/ucce-1/deregister", headers={"X-CSRF-Token": api.server.app[pages.CSRF], **HTMX})
    html = await r.text()
    assert r.status == 200 and 'class="notice warn"' in html and "WARNING: Deregistered locally" in html
    assert f"Remove product instance {piid} from the SSM by hand" in html
    assert inst.state.registration == "Unregistered"


async def test_the_non_production_banner(make_agent: MakeAgent, aiohttp_client: Any) -> None:
    running = await make_agent([{"name": "lab-1", "license_type": "Perpetual", "usage_mode": "Non-Production"}])
    api: TestClient[Any, Any] = await aiohttp_client(create_api(running.agent, no_persist))
    assert "You are using a Non-Production System" not in await (await api.get("/instances/lab-1")).text()
    await running.agent.runner(None).set_usage({"Regular Agent": 3})
    html = await (await api.get("/instances/lab-1/live")).text()
    assert 'class="banner non-production"' in html and "You are using a Non-Production System" in html
