"""Transport Settings in the agent: Smart Call Home carries registration and usage reports for
real; the mode may change after registration; settings are saved before they are acknowledged,
survive a restart, and a refused change loses nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.api import create_api
from agent.config import ConfigError, parse_config
from agent.daemon import TRANSPORT_SETTING
from agent.transport import Transport
from shared import callhome
from shared.states import ConnectionMode, RegistrationStatus, TransportMode
from shared.transportsettings import CALL_HOME_URL, SMART_TRANSPORT_URL, TransportSettings, decode_settings
from tests.conftest import MakeAgent, RunningAgent, RunningSSM, no_persist


def record(monkeypatch: pytest.MonkeyPatch, transport: Transport) -> list[tuple[str, str]]:
    """Every (URL, content type) the transport posts."""
    sent: list[tuple[str, str]] = []
    real = transport.exchange

    async def spy(body: bytes, content_type: str, *, url: str | None = None, **kw: Any) -> tuple[int, str, bytes]:
        sent.append((url or transport.url, content_type))
        return await real(body, content_type, url=url, **kw)

    monkeypatch.setattr(transport, "exchange", spy)
    return sent


async def test_registration_and_usage_report_over_call_home(
    ssm: RunningSSM, make_agent: MakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Smart Call Home (Direct) the agent registers and reports usage as XML envelopes on the
    Call Home URL, and the SSM counts the usage."""
    running = await make_agent(extra='mode = "call-home"')
    sent = record(monkeypatch, running.transport)
    inst = running.agent.runner(None)
    assert running.transport.settings.mode is TransportMode.CALL_HOME
    view = await inst.register(await ssm.token())
    assert view.registration_status is RegistrationStatus.REGISTERED
    await inst.set_usage({"Premium Agent": 42})
    await ssm.clock.advance(timedelta(minutes=16))
    assert not inst.usage.queue  # the interval was reported and acknowledged
    assert sent and all(s == (CALL_HOME_URL, callhome.CONTENT_TYPE) for s in sent)
    assert len(sent) >= 3  # register, authorize, report_usage
    rows = await ssm.store.read(lambda u: u.instances.page())
    assert [r.piid for r in rows] == [view.piid]
    listed = [u for u in (await _ssm_usage(ssm)) if u["license"] == "Premium Agent"]
    assert listed and listed[0]["reported"] == 42


async def _ssm_usage(ssm: RunningSSM) -> list[dict[str, Any]]:
    from server import views

    return list((await views.instances(ssm.store))[0]["usage"])


async def test_mode_changes_after_registration(
    ssm: RunningSSM, make_agent: MakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registered over Smart Transport, the instance renews over Smart Call Home and back: the
    same ID certificate signs its requests in either envelope (seed: the mode may change after
    registration)."""
    running = await make_agent()
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    sent = record(monkeypatch, running.transport)
    await running.agent.set_transport(TransportSettings(mode=TransportMode.CALL_HOME))
    await ssm.clock.advance(timedelta(days=1))
    await inst.renew_authorization()
    await running.agent.set_transport(TransportSettings(mode=TransportMode.SMART_TRANSPORT))
    await inst.renew_registration()
    assert sent == [(CALL_HOME_URL, callhome.CONTENT_TYPE), (SMART_TRANSPORT_URL, "application/jose")]
    assert inst.status().reason is None


@pytest.fixture
async def api(ssm: RunningSSM, make_agent: MakeAgent, aiohttp_client: Any) -> tuple[TestClient[Any, Any], RunningAgent]:
    running = await make_agent()
    client: TestClient[Any, Any] = await aiohttp_client(create_api(running.agent, no_persist))
    return client, running


async def test_saved_settings_are_committed_and_survive_a_restart(
    ssm: RunningSSM, make_agent: MakeAgent, api: tuple[TestClient[Any, Any], RunningAgent]
) -> None:
    """PUT /api/v1/transport saves before it answers; a restarted agent uses the saved settings,
    not agent.toml's first value."""
    client, running = api
    url = f"https://127.0.0.1:{ssm.port}/licservice/license"
    resp = await client.put("/api/v1/transport", json={"connection": "Transport Gateway", "url": url})
    assert resp.status == 200
    body = await resp.json()
    assert body["effective_url"] == url and body["settings"]["connection"] == "Transport Gateway"
    saved = await running.store.setting(TRANSPORT_SETTING)
    assert saved is not None and decode_settings(saved).url == url
    await running.close()
    again = await make_agent()
    assert again.transport.settings.connection is ConnectionMode.GATEWAY and again.transport.url == url
    await again.agent.runner(None).register(await ssm.token())  # and it works at that URL


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {
                "connection": "Transport Gateway",
                "url": "https://10.0.0.5/Transportgateway/services/DeviceRequestHandler",
            },
            "url_path_other_mode",
        ),
        ({"connection": "Transport Gateway", "url": "http://10.0.0.5/SmartTransport"}, "url_not_https"),
        ({"connection": "Transport Gateway"}, "url_required"),
        ({"connection": "HTTP/HTTPS Proxy", "proxy_host": "proxy.lab"}, "proxy_invalid"),
        ({"mode": "Carrier Pigeon"}, "invalid_body"),
    ],
)
async def test_refused_settings_change_nothing(
    api: tuple[TestClient[Any, Any], RunningAgent], body: dict[str, Any], code: str
) -> None:
    """A refused change is a 400 naming the rule; the saved and the used settings stay as they were."""
    client, running = api
    before_saved = await running.store.setting(TRANSPORT_SETTING)
    before = running.transport.settings
    resp = await client.put("/api/v1/transport", json=body)
    err = await resp.json()
    assert (resp.status, err["error"]) == (400, code)
    assert err["fix"]
    if code.startswith("url_path"):
        assert "URL rule 'path fits the mode'" in err["message"]
        assert err["detail"]["suggestion"] == "https://10.0.0.5/SmartTransport"
    assert await running.store.setting(TRANSPORT_SETTING) == before_saved
    assert running.transport.settings == before


def test_agent_toml_transport_is_checked_by_the_url_rules(tmp_path: Path) -> None:
    """agent.toml's [transport] obeys the same rules; the refusal names the rule."""
    url = "https://ssm.example.com/its/service/oddce/services/DDCEService"
    text = f'[transport]\nurl = "{url}"\n[[instances]]\nname = "a"\n'
    with pytest.raises(ConfigError) as exc:
        parse_config(text, base=tmp_path)
    assert "path fits the mode" in str(exc.value) and "https://ssm.example.com/licservice/license" in str(exc.value)
    cfg = parse_config(text.replace("[transport]\n", '[transport]\nmode = "call-home"\n'), base=tmp_path)
    assert cfg.initial_transport().connection is ConnectionMode.GATEWAY
