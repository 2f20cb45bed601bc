"""The SSM's lab plane: faults on real requests (status with Retry-After, drop, reset, latency,
by instance or token, reverting after their ttl), the journal, Prometheus metrics, info, reset
and snapshots."""

from __future__ import annotations

import ssl
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared import tokens
from shared.errors import RemoteError, Unavailable
from tests.conftest import MakeAgent, RunningSSM


async def call(
    ssm: RunningSSM,
    pki_dir: Path,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))
    async with aiohttp.ClientSession() as s, s.request(method, ssm.url + path, json=body, ssl=ctx) as r:
        data = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, data, dict(r.headers)


async def test_a_status_fault_answers_with_retry_after_then_reverts(
    ssm: RunningSSM, pki_dir: Path, make_agent: MakeAgent
) -> None:
    """A 503 fault with Retry-After hits the instance's renewals; after its ttl (domain time) it is
    gone and the next attempt succeeds."""
    running = await make_agent()
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    status, fault, _ = await call(
        ssm,
        pki_dir,
        "POST",
        "/_lab/faults",
        {"kind": "status", "status": 503, "retry_after": 30, "piid": inst.state.piid, "ttl": "2h"},
    )
    assert status == 201
    with pytest.raises(RemoteError) as exc:
        await inst.renew_authorization()
    assert exc.value.code == "injected_fault" and exc.value.remote_status == 503
    journal = (await call(ssm, pki_dir, "GET", "/_lab/journal"))[1]
    assert journal[-1]["fault"] == fault["id"] and journal[-1]["status"] == 503
    await ssm.clock.advance(timedelta(hours=3))
    assert (await call(ssm, pki_dir, "GET", "/_lab/faults"))[1] == []
    view = await inst.renew_authorization()
    assert view.reason is None


async def test_drop_and_reset_faults_on_a_token(ssm: RunningSSM, pki_dir: Path, make_agent: MakeAgent) -> None:
    """Registrations with one token are dropped (then reset); other tokens pass."""
    running = await make_agent([{"name": "a"}, {"name": "b"}])
    bad = await ssm.token()
    for kind in ("drop", "reset"):
        await call(
            ssm, pki_dir, "POST", "/_lab/faults", {"kind": kind, "token_id": tokens.parse(bad).token_id, "times": 1}
        )
        with pytest.raises(Unavailable) as exc:
            await running.agent.runner("a").register(bad)
        assert exc.value.code in ("connection_lost", "connection_failed")
    view = await running.agent.runner("b").register(await ssm.token())
    assert view.registration_status == "Registered"


async def test_latency_fault_delays_but_answers(ssm: RunningSSM, pki_dir: Path, make_agent: MakeAgent) -> None:
    """A latency fault delays the answer (real time) and lets it through."""
    running = await make_agent()
    await call(ssm, pki_dir, "POST", "/_lab/faults", {"kind": "latency", "latency_ms": 300, "times": 1})
    import time

    started = time.perf_counter()
    view = await running.agent.runner(None).register(await ssm.token())
    assert time.perf_counter() - started >= 0.3
    assert view.registration_status == "Registered"


async def test_bad_faults_are_refused(ssm: RunningSSM, pki_dir: Path) -> None:
    """Unknown kinds and unreadable ttls are 400 with a code; an unknown id is 404."""
    for body in ({"kind": "explode"}, {"kind": "status", "ttl": "soon"}, {"kind": "status", "status": 200}):
        status, err, _ = await call(ssm, pki_dir, "POST", "/_lab/faults", body)
        assert status == 400 and err["error"] == "invalid_fault"
    assert (await call(ssm, pki_dir, "DELETE", "/_lab/faults/77"))[0] == 404


async def test_metrics_and_info(ssm: RunningSSM, pki_dir: Path, make_agent: MakeAgent) -> None:
    """/metrics exposes pools, instance states and request counters; /_lab/info the PKI and clock."""
    running = await make_agent()
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    await inst.set_usage({"Premium Agent": 7})
    await ssm.clock.advance(timedelta(minutes=15))
    _, text, headers = await call(ssm, pki_dir, "GET", "/metrics")
    assert headers["Content-Type"].startswith("text/plain")
    assert (
        'ssm_pool_in_use{license="Premium Agent",license_type="Flex",usage_mode="Production",'
        'virtual_account="DEFAULT"} 7.0' in text
    )
    assert 'ssm_requests_total{kind="report",status="200"} 1.0' in text
    assert 'ssm_requests_total{kind="registration",status="200"} 1.0' in text
    assert 'ssm_instances{status="Authorized"} 1.0' in text
    _, info, _ = await call(ssm, pki_dir, "GET", "/_lab/info")
    assert info["mode"] == "cloud" and set(info["pki"]) == {"root", "intermediate", "server", "signing"}
    assert info["clock"]["kind"] == "virtual"


async def test_snapshot_save_change_load(ssm: RunningSSM, pki_dir: Path, make_agent: MakeAgent) -> None:
    """Save, change (a registration), load: the earlier state is back."""
    assert (await call(ssm, pki_dir, "POST", "/_lab/snapshot", {"name": "before"}))[0] == 200
    running = await make_agent()
    await running.agent.runner(None).register(await ssm.token())
    assert len(await ssm.store.read(lambda u: u.instances.page())) == 1
    assert (await call(ssm, pki_dir, "POST", "/_lab/restore", {"name": "before"}))[0] == 200
    assert await ssm.store.read(lambda u: u.instances.page()) == []
    status, err, _ = await call(ssm, pki_dir, "POST", "/_lab/restore", {"name": "../etc"})
    assert status == 400 and err["error"] == "invalid_snapshot_name"
    status, err, _ = await call(ssm, pki_dir, "POST", "/_lab/restore", {"name": "never"})
    assert status == 400 and err["error"] == "snapshot_not_found"


async def test_a_snapshot_brings_back_its_clock(ssm: RunningSSM, pki_dir: Path) -> None:
    """Loading a snapshot restores the domain time it was saved at, and saves it as the SSM's clock
    (a restart continues from there)."""
    from server.timekeeping import load_clock

    saved_at = ssm.clock.now()
    status, snap, _ = await call(ssm, pki_dir, "POST", "/_lab/snapshot", {"name": "day0"})
    assert status == 200 and snap["at"] == saved_at.isoformat()
    await ssm.clock.advance(timedelta(days=30))
    status, loaded, _ = await call(ssm, pki_dir, "POST", "/_lab/restore", {"name": "day0"})
    assert status == 200 and loaded["clock"]["now"] == saved_at.isoformat()
    assert ssm.clock.now() == saved_at
    persisted = await load_clock(ssm.store)
    assert persisted is not None and persisted.now() == saved_at


async def test_reset_everything_or_one_account(ssm: RunningSSM, pki_dir: Path, make_agent: MakeAgent) -> None:
    """Reset of one account removes it and all it holds; a full reset reseeds the lab account."""
    from server.accounts import create_account

    await create_account(
        ssm.store, domain="other.example", name="Other", export_control_allowed=True, now=ssm.clock.now()
    )
    running = await make_agent()
    await running.agent.runner(None).register(await ssm.token())
    status, body, _ = await call(ssm, pki_dir, "POST", "/_lab/reset", {"account": "other.example"})
    assert status == 200 and body["rows_removed"] > 0
    assert [a.domain for a in await ssm.store.read(lambda u: u.accounts.all())] == ["lab.ssmlab.example"]
    assert len(await ssm.store.read(lambda u: u.instances.page())) == 1
    await call(ssm, pki_dir, "POST", "/_lab/reset", {})
    assert [a.domain for a in await ssm.store.read(lambda u: u.accounts.all())] == ["lab.ssmlab.example"]
    assert await ssm.store.read(lambda u: u.instances.page()) == []
    status, _, _ = await call(ssm, pki_dir, "POST", "/_lab/reset", {"account": "nobody.example"})
    assert status == 404


async def test_a_fault_for_an_instance_hits_it_over_call_home_too(
    ssm: RunningSSM, pki_dir: Path, make_agent: MakeAgent
) -> None:
    """Fault targets and the journal see inside the Call Home envelope: the instance's renewal
    over Smart Call Home is hit, and the journal names the instance and the message kind."""
    running = await make_agent(extra='mode = "call-home"')
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    body = {"kind": "status", "status": 503, "piid": inst.state.piid, "times": 1}
    assert (await call(ssm, pki_dir, "POST", "/_lab/faults", body))[0] == 201
    with pytest.raises(RemoteError) as exc:
        await inst.renew_authorization()
    assert exc.value.remote_status == 503
    journal = (await call(ssm, pki_dir, "GET", "/_lab/journal"))[1]
    last = journal[-1]
    assert last["path"] == "/its/service/oddce/services/DDCEService"
    assert (last["piid"], last["kind"], last["status"]) == (inst.state.piid, "authorization", 503)
    registered = next(e for e in journal if e["kind"] == "registration")
    assert registered["status"] == 200 and registered["path"] == last["path"]
    await inst.renew_authorization()  # the fault was for one request


async def test_a_fault_on_the_token_endpoint_fires(ssm: RunningSSM, pki_dir: Path) -> None:
    """A fault naming an admin path (the OAuth2 token endpoint) hits it; one without a path hits
    device requests only, so the admin API answers through it (issue 16, item 13)."""
    ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))

    async def token_status() -> int:
        form = {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}
        async with aiohttp.ClientSession() as s, s.post(ssm.url + "/as/token.oauth2", data=form, ssl=ctx) as r:
            return r.status

    assert await token_status() == 401
    everything = await call(ssm, pki_dir, "POST", "/_lab/faults", {"kind": "status", "status": 503})
    assert everything[0] == 201 and await token_status() == 401
    await call(ssm, pki_dir, "DELETE", "/_lab/faults")
    status, fault, _ = await call(
        ssm, pki_dir, "POST", "/_lab/faults", {"kind": "status", "status": 503, "path": "/as/token.oauth2", "times": 1}
    )
    assert status == 201 and fault["path"] == "/as/token.oauth2"
    assert await token_status() == 503
    journal = (await call(ssm, pki_dir, "GET", "/_lab/journal"))[1]
    assert (journal[-1]["path"], journal[-1]["status"], journal[-1]["fault"]) == ("/as/token.oauth2", 503, fault["id"])
    assert await token_status() == 401  # once


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"kind": "status", "path": "/_lab/clock"}, "lab plane"),
        ({"kind": "drop", "path": "/nowhere"}, "no endpoint"),
        ({"kind": "status", "path": "/as/token.oauth2", "piid": "p-1"}, "pick device requests"),
        ({"kind": "status", "path": "/as/token.oauth2", "message": "authorization"}, "pick device requests"),
        ({"kind": "drop", "status": 503}, "a drop fault takes no status"),
        ({"kind": "reset", "retry_after": 5}, "takes no retry_after"),
        ({"kind": "status", "latency_ms": 50}, "takes no latency_ms"),
    ],
)
async def test_a_fault_that_could_never_fire_is_refused(
    ssm: RunningSSM, pki_dir: Path, body: dict[str, Any], says: str
) -> None:
    status, err, _ = await call(ssm, pki_dir, "POST", "/_lab/faults", body)
    assert (status, err["error"]) == (400, "invalid_fault") and says in err["message"], err
    assert (await call(ssm, pki_dir, "GET", "/_lab/faults"))[1] == []


async def test_a_drop_fault_is_listed_by_its_kind_and_logged_as_a_drop(
    ssm: RunningSSM, pki_dir: Path, make_agent: MakeAgent
) -> None:
    """A drop fault has no status to list, and the request it drops is one log line saying so, not
    a 500 with a stack trace (issue 16, item 13)."""
    from structlog.testing import capture_logs

    running = await make_agent()
    status, fault, _ = await call(ssm, pki_dir, "POST", "/_lab/faults", {"kind": "drop", "times": 1})
    assert status == 201 and fault["kind"] == "drop"
    assert "status" not in fault and "retry_after" not in fault and "latency_ms" not in fault
    listed = (await call(ssm, pki_dir, "GET", "/_lab/faults"))[1]
    assert [(f["kind"], "status" in f) for f in listed] == [("drop", False)]
    with capture_logs() as logs, pytest.raises(Unavailable):
        await running.agent.runner(None).register(await ssm.token())
    assert not [e for e in logs if e.get("log_level") in ("error", "exception") or e["event"] == "request_failed"]
    dropped = [e for e in logs if e["event"] == "request" and e.get("path") == "/licservice/license"]
    assert [e["status"] for e in dropped] == ["drop (fault 1)"]
    journal = (await call(ssm, pki_dir, "GET", "/_lab/journal"))[1]
    assert journal[-1]["status"] == "drop"
