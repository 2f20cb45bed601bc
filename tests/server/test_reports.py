"""Usage reports on the device plane: bad reports are refused with a clear code and change
nothing; a replayed request is refused; a resent report is acknowledged but never counted twice;
an unknown entitlement tag is answered Invalid Tag and not counted."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from server.store import UnitOfWork
from shared import pki
from shared.clock import epoch
from shared.messages import Usage, UsageAccepted
from shared.states import EntitlementStatus
from tests.conftest import MakeAgent, RunningSSM
from tests.server.reports import PREMIUM_TAG, body, report, send


async def test_a_report_is_stored_and_counted(
    ssm: RunningSSM, pki_dir: Path, registered: tuple[str, pki.PrivateKey]
) -> None:
    """A valid report is accepted and the pool counts it."""
    piid, key = registered
    status, reply = await send(ssm, pki_dir, body(ssm, piid, report(ssm, piid, peak=42)), key, piid)
    assert status == 200 and isinstance(reply, UsageAccepted)
    assert len(reply.accepted) == 1 and reply.duplicates == []
    assert [g.status for g in reply.entitlements] == [EntitlementStatus.IN_COMPLIANCE]
    pool = next(
        p for p in await ssm.store.read(lambda u: u.pools.all()) if p.tag == PREMIUM_TAG and p.virtual_account_id == 1
    )
    assert pool.pool.in_use == 42


async def test_a_resent_report_is_not_counted_twice(
    ssm: RunningSSM, pki_dir: Path, registered: tuple[str, pki.PrivateKey]
) -> None:
    """The same report id in a new request (a lost reply): acknowledged as a duplicate; the pool
    and the stored reports are unchanged."""
    piid, key = registered
    r = report(ssm, piid, peak=42)
    await send(ssm, pki_dir, body(ssm, piid, r), key, piid)
    before = ssm.snapshot(skip=("settings", "nonces", "instances", "events"))
    status, reply = await send(ssm, pki_dir, body(ssm, piid, r), key, piid)
    assert status == 200 and isinstance(reply, UsageAccepted)
    assert reply.accepted == [] and reply.duplicates == [r.report_id]
    assert ssm.snapshot(skip=("settings", "nonces", "instances", "events")) == before


async def test_a_replayed_request_is_refused(
    ssm: RunningSSM, pki_dir: Path, registered: tuple[str, pki.PrivateKey]
) -> None:
    """The same signed request twice: the second is request_replayed and changes nothing."""
    piid, key = registered
    b = body(ssm, piid, report(ssm, piid))
    await send(ssm, pki_dir, b, key, piid)
    before = ssm.snapshot()
    status, reply = await send(ssm, pki_dir, b, key, piid)
    assert status == 401 and isinstance(reply, dict) and reply["error"] == "request_replayed"
    assert ssm.snapshot() == before


async def test_an_unknown_tag_is_invalid_and_not_counted(
    ssm: RunningSSM, pki_dir: Path, registered: tuple[str, pki.PrivateKey]
) -> None:
    """A tag the SSM does not know: Invalid Tag in the answer, no pool touched."""
    piid, key = registered
    bogus = "regid.2099-01.com.example.NOT_A_LICENSE,1.0_00000000-0000-0000-0000-000000000000"
    pools_before = [(p.tag, p.pool.in_use) for p in await ssm.store.read(lambda u: u.pools.all())]
    status, reply = await send(ssm, pki_dir, body(ssm, piid, report(ssm, piid, tag=bogus)), key, piid)
    assert status == 200 and isinstance(reply, UsageAccepted)
    assert [g.status for g in reply.entitlements] == [EntitlementStatus.INVALID_TAG]
    assert [(p.tag, p.pool.in_use) for p in await ssm.store.read(lambda u: u.pools.all())] == pools_before


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (
            lambda ssm, piid: report(ssm, piid, start=epoch(ssm.clock.now()), end=epoch(ssm.clock.now()) - 900),
            "invalid_report",
        ),
        (lambda ssm, piid: report(ssm, piid, end=epoch(ssm.clock.now()) + 86400), "invalid_report"),
        (
            lambda ssm, piid: report(ssm, piid, usage=[Usage(tag=PREMIUM_TAG, peak=1), Usage(tag=PREMIUM_TAG, peak=2)]),
            "invalid_report",
        ),
    ],
)
async def test_invalid_reports_are_refused(
    ssm: RunningSSM, pki_dir: Path, registered: tuple[str, pki.PrivateKey], make: object, code: str
) -> None:
    """An interval that ends before it starts, ends in the future, or names a license twice."""
    piid, key = registered
    before = ssm.snapshot()
    status, reply = await send(ssm, pki_dir, body(ssm, piid, make(ssm, piid)), key, piid)  # type: ignore[operator]
    assert status == 400 and isinstance(reply, dict) and reply["error"] == code
    assert ssm.snapshot() == before


async def test_negative_counts_are_refused(
    ssm: RunningSSM, pki_dir: Path, registered: tuple[str, pki.PrivateKey]
) -> None:
    """A negative peak is not a count: invalid_message naming the field."""
    piid, key = registered
    raw = body(ssm, piid, report(ssm, piid, peak=5)).replace(b'"peak":5', b'"peak":-5')
    before = ssm.snapshot()
    status, reply = await send(ssm, pki_dir, raw, key, piid)
    assert status == 400 and isinstance(reply, dict) and reply["error"] == "invalid_message"
    assert "peak" in str(reply["message"])
    assert ssm.snapshot() == before


async def test_reports_for_another_instance_are_refused(
    ssm: RunningSSM, pki_dir: Path, make_agent: MakeAgent, registered: tuple[str, pki.PrivateKey]
) -> None:
    """Signed by one instance, speaking for another: signer_mismatch, nothing stored."""
    piid, key = registered
    other = "22222222-2222-4222-8222-222222222222"
    before = ssm.snapshot()
    status, reply = await send(ssm, pki_dir, body(ssm, other, report(ssm, other)), key, piid)
    assert status == 401 and isinstance(reply, dict) and reply["error"] == "signer_mismatch"
    assert ssm.snapshot() == before


async def test_a_batch_of_reports_keeps_each_interval_in_the_pool_history(
    ssm: RunningSSM, pki_dir: Path, registered: tuple[str, pki.PrivateKey]
) -> None:
    """Three intervals in one request (an agent catching up): the pool's history (the portal's chart)
    has a sample at each interval whose in-use quantity moved, not only the last."""
    piid, key = registered
    await ssm.clock.advance(timedelta(minutes=45))
    now = epoch(ssm.clock.now())
    batch = [report(ssm, piid, end=now - 1800, peak=10), report(ssm, piid, end=now - 900, peak=20),
             report(ssm, piid, end=now, peak=30)]  # fmt: skip
    status, _ = await send(ssm, pki_dir, body(ssm, piid, *batch), key, piid)
    assert status == 200

    def history(uow: UnitOfWork) -> list[tuple[int, int]]:
        pool = uow.pools.by_tag(1, PREMIUM_TAG)
        assert pool is not None
        return [(s.at, s.in_use) for s in uow.pools.history(pool.id)]

    assert (await ssm.store.read(history))[-3:] == [(now - 1800, 10), (now - 900, 20), (now, 30)]
