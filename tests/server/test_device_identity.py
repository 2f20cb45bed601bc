"""Device-plane identity (issue 15): what a signed request names is tied to its signer and to its
registration, and a register request is replay-protected like a signed one. Each refusal has its
code and fix and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.store.rows import StoredReport
from shared import pki
from shared.clock import epoch
from shared.messages import Register, UsageAccepted, decode_request, encode
from tests.conftest import MakeAgent, RunningSSM
from tests.server.reports import body, report, send


@pytest.fixture
async def two(ssm: RunningSSM, make_agent: MakeAgent) -> list[tuple[str, pki.PrivateKey]]:
    """Two registered instances whose agents are stopped (the tests send their reports)."""
    running = await make_agent([{"name": "ucce-1"}, {"name": "cvp-1", "product": "CVP"}])
    out = []
    for name in ("ucce-1", "cvp-1"):
        runner = running.agent.runner(name)
        await runner.register(await ssm.token())
        assert runner.key is not None and runner.state.piid is not None
        out.append((runner.state.piid, runner.key))
    await running.agent.stop()
    return out


async def test_a_report_id_of_another_instance_is_refused(
    ssm: RunningSSM, pki_dir: Path, two: list[tuple[str, pki.PrivateKey]]
) -> None:
    """A report id naming another instance's interval is refused (report_id_foreign), not stored:
    that instance's own report is later accepted, not dropped as a duplicate."""
    (a, key_a), (b, key_b) = two
    await ssm.clock.advance_to(ssm.clock.now().replace(minute=15))
    theirs = report(ssm, b, rid=f"{b}:{epoch(ssm.clock.now())}", peak=7)
    before = ssm.snapshot(skip=("settings", "nonces"))
    for stolen_id in (theirs.report_id, f"report-{epoch(ssm.clock.now())}"):
        stolen = report(ssm, a, rid=stolen_id, peak=99)
        status, err = await send(ssm, pki_dir, body(ssm, a, stolen), key_a, a)
        assert status == 403 and isinstance(err, dict), err
        assert err["error"] == "report_id_foreign" and err["fix"]
    assert ssm.snapshot(skip=("settings", "nonces")) == before
    status, reply = await send(ssm, pki_dir, body(ssm, b, theirs), key_b, b)
    assert status == 200 and isinstance(reply, UsageAccepted)
    assert reply.accepted == [theirs.report_id] and reply.duplicates == []


async def test_a_report_id_stored_for_another_instance_is_no_duplicate(
    ssm: RunningSSM, pki_dir: Path, two: list[tuple[str, pki.PrivateKey]]
) -> None:
    """A store that already holds a report id for another instance (written before report ids were
    tied to their signer) refuses it with report_id_foreign rather than answering duplicate."""
    (a, key_a), (b, _) = two
    await ssm.clock.advance_to(ssm.clock.now().replace(minute=15))
    mine = report(ssm, a, peak=5)
    t = epoch(ssm.clock.now())
    await ssm.store.write(
        lambda u: u.usage.store([StoredReport(mine.report_id, b, t - 900, t, t, "[]")])  # type: ignore[func-returns-value]
    )
    before = ssm.snapshot(skip=("settings", "nonces"))
    status, err = await send(ssm, pki_dir, body(ssm, a, mine), key_a, a)
    assert status == 403 and isinstance(err, dict), err
    assert err["error"] == "report_id_foreign" and err["fix"]
    assert ssm.snapshot(skip=("settings", "nonces")) == before


async def test_a_report_from_before_the_registration_is_refused(
    ssm: RunningSSM, pki_dir: Path, two: list[tuple[str, pki.PrivateKey]]
) -> None:
    """An interval ending in 1970 (before the instance registered) never becomes its latest usage."""
    (a, key_a), _ = two
    old = report(ssm, a, rid=f"{a}:900", start=0, end=900, peak=50)
    before = ssm.snapshot(skip=("settings", "nonces"))
    status, err = await send(ssm, pki_dir, body(ssm, a, old), key_a, a)
    assert status == 400 and isinstance(err, dict), err
    assert err["error"] == "invalid_report" and "before the product instance registered" in err["message"]
    assert ssm.snapshot(skip=("settings", "nonces")) == before
    assert await ssm.store.read(lambda u: u.usage.latest(a)) == []


async def test_a_replayed_registration_is_refused(ssm: RunningSSM, pki_dir: Path) -> None:
    """A captured register request with force, sent again byte for byte, re-registers nothing."""
    token = await ssm.token()
    first = ssm.register_body(token)
    assert (await ssm.post(first))[0] == 200
    msg = decode_request(first)
    assert isinstance(msg, Register)
    forced = encode(
        Register(
            sent_at=msg.sent_at, nonce="forced-nonce-1", token=token, identity=msg.identity, csr=msg.csr, force=True
        )
    )
    assert (await ssm.post(forced))[0] == 200  # a real reregistration
    before = ssm.snapshot()
    for captured in (forced, first):
        status, err = await ssm.post(captured)
        assert status == 401 and isinstance(err, dict), err
        assert err["error"] == "request_replayed" and err["fix"]
    assert ssm.snapshot() == before
    active = await ssm.store.read(lambda u: u.instances.page())
    assert len(active) == 1


async def test_a_refused_registration_can_be_sent_again(ssm: RunningSSM, pki_dir: Path) -> None:
    """The nonce is remembered with the registration only: a refused one (unknown token) leaves no trace."""
    token = await ssm.token()
    good = ssm.register_body(token)
    msg = decode_request(good)
    assert isinstance(msg, Register)
    status, err = await ssm.post(good.replace(token.encode()[:12], b"A" * 12))
    assert status in (400, 403) and isinstance(err, dict)
    assert (await ssm.post(good))[0] == 200
