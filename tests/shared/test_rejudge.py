"""A virtual account re-judged outside any interval, pure and table-driven: a purchase (or any new
purchased quantity) and every authorization renewal reach the idle instances of the account."""

from __future__ import annotations

import dataclasses

import pytest

from shared import compliance, ledger, rejudge
from shared.catalog import LicenseKey
from shared.compliance import PoolState
from shared.states import AuthorizationStatus, LicenseType, UsageMode

Q = 900
T = 40 * Q
PREMIUM = LicenseKey("Premium Agent", LicenseType.FLEX, UsageMode.PRODUCTION)
PERPETUAL = LicenseKey("Premium Agent", LicenseType.PERPETUAL, UsageMode.PRODUCTION)
A = AuthorizationStatus


def pool(key: LicenseKey = PREMIUM, purchased: int = 100, reserved: int = 0, **state: int | None) -> ledger.Pool:
    return ledger.Pool(key.tag, key.name, key.license_type, key.usage_mode, purchased, reserved, PoolState(**state))  # type: ignore[arg-type]


def member(piid: str, *lines: ledger.Line, ooc_since: int | None = None, **kw: object) -> ledger.Books:
    fields: dict[str, object] = {
        "piid": piid,
        "name": piid,
        "va_name": "DEFAULT",
        "license_type": LicenseType.FLEX,
        "usage_mode": UsageMode.PRODUCTION,
        "ooc_since": ooc_since,
        "pools": {},
        "latest": {line.tag: line for line in lines},
        "status": A.OUT_OF_COMPLIANCE if ooc_since is not None else A.AUTHORIZED,
    }
    fields.update(kw)
    return ledger.Books(**fields)  # type: ignore[arg-type]


def account(*pools: ledger.Pool, members: tuple[ledger.Books, ...] = ()) -> rejudge.Account:
    by_tag = {p.tag: p for p in pools}
    return rejudge.Account("DEFAULT", by_tag, {m.piid: dataclasses.replace(m, pools=by_tag) for m in members})


def idle_out_of_compliance(purchased: int = 100) -> rejudge.Account:
    """Seed Scenario 1 gone idle: 101 used, Out of Compliance since interval 5, the lock holds 101
    after the instance reported 0 once; the instance then sends nothing."""
    line = ledger.Line(PREMIUM.tag, 6 * Q, 0, locked=101)
    return account(
        pool(purchased=purchased, in_use=101, actual=0, last_interval=6 * Q, ooc_since=5 * Q),
        members=(member("idle", line, ooc_since=5 * Q),),
    )


@pytest.mark.parametrize(
    ("state", "purchased", "left"),
    [
        (PoolState(in_use=101, ooc_since=Q), 101, True),  # the purchase covers the lock
        (PoolState(in_use=101, ooc_since=Q), 100, False),
        (PoolState(in_use=130, interval_over=True, count_before=3), 200, False),  # not Out of Compliance
        (PoolState(in_use=0, ooc_since=Q), 0, True),  # nothing locked any more
    ],
)
def test_compliance_rejudge_only_ever_leaves(state: PoolState, purchased: int, left: bool) -> None:
    after, change = compliance.rejudge(state, purchased)
    assert change.left is left and not change.entered
    assert (after.ooc_since is None) is (left or state.ooc_since is None)
    if left:
        assert (after.interval_over, after.count_before) == (False, 0)
    else:
        assert after == state


def test_a_purchase_reaches_an_idle_out_of_compliance_instance() -> None:
    """Issue 16.1: licenses bought after the instance went idle end Out of Compliance at once."""
    out = rejudge.purchase(idle_out_of_compliance(), {PREMIUM.tag: 101}, T)
    bought = out.pools[PREMIUM.tag]
    assert bought.purchased == 101 and bought.state.ooc_since is None
    assert bought.state.in_use == 0  # the lock released: back to the actual usage
    assert out.unlocked == [PREMIUM.tag]
    verdict, status = out.verdicts["idle"]
    assert verdict.since is None and status is A.AUTHORIZED
    assert [n.kind for n in out.notes] == ["pool_in_compliance", "instance_in_compliance"]


def test_a_purchase_short_of_the_lock_changes_only_the_quantity() -> None:
    out = rejudge.purchase(idle_out_of_compliance(), {PREMIUM.tag: 100}, T)
    assert out.pools[PREMIUM.tag].state.ooc_since == 5 * Q
    assert out.unlocked == [] and out.verdicts == {} and out.notes == []


def test_reservations_come_first() -> None:
    """101 purchased but 10 reserved: 91 for usage do not cover the lock of 101."""
    acct = idle_out_of_compliance()
    held = dataclasses.replace(acct.pools[PREMIUM.tag], reserved=10)
    out = rejudge.purchase(dataclasses.replace(acct, pools={PREMIUM.tag: held}), {PREMIUM.tag: 101}, T)
    assert out.pools[PREMIUM.tag].state.ooc_since == 5 * Q


def test_an_expired_authorization_keeps_its_status_but_not_the_verdict() -> None:
    acct = idle_out_of_compliance()
    expired = dataclasses.replace(acct.members["idle"], status=A.AUTHORIZATION_EXPIRED)
    out = rejudge.purchase(dataclasses.replace(acct, members={"idle": expired}), {PREMIUM.tag: 120}, T)
    verdict, status = out.verdicts["idle"]
    assert verdict.since is None and status is A.AUTHORIZATION_EXPIRED


def test_a_license_type_bought_clears_the_type_verdict_and_a_new_pool_is_created() -> None:
    """A Flex instance in an account holding only Perpetual: Out of Compliance by its license type
    until Flex licenses are bought."""
    acct = account(pool(PERPETUAL), members=(member("flex", ooc_since=3 * Q),))
    assert ledger.verdict(acct.members["flex"], T).since == 3 * Q
    out = rejudge.purchase(acct, {PREMIUM.tag: 10}, T)
    created = out.pools[PREMIUM.tag]
    assert not created.exists and created.purchased == 10
    assert out.verdicts["flex"][0].since is None


def test_licenses_moved_away_put_the_instances_of_that_type_out_of_compliance() -> None:
    """The last Flex licenses transferred away: the Flex instance is Out of Compliance now."""
    acct = account(pool(purchased=10), members=(member("flex"),))
    out = rejudge.purchase(acct, {PREMIUM.tag: 0}, T)
    verdict, status = out.verdicts["flex"]
    assert verdict.since == T and status is A.OUT_OF_COMPLIANCE
    assert [n.kind for n in out.notes] == ["instance_out_of_compliance"]


def test_nothing_to_change_writes_nothing_but_the_quantity() -> None:
    acct = account(pool(in_use=40, actual=40), members=(member("ok", ledger.Line(PREMIUM.tag, Q, 40)),))
    out = rejudge.purchase(acct, {PREMIUM.tag: 120}, T)
    assert list(out.pools) == [PREMIUM.tag] and out.pools[PREMIUM.tag].purchased == 120
    assert out.verdicts == {} and out.notes == [] and out.unlocked == []
    assert rejudge.rejudge(acct, T).pools == {}


def test_an_unknown_tag_or_a_negative_quantity_is_the_callers_bug() -> None:
    with pytest.raises(ValueError, match="no license"):
        rejudge.purchase(account(), {"regid.bogus": 1}, T)
    with pytest.raises(ValueError, match="negative"):
        rejudge.purchase(account(pool()), {PREMIUM.tag: -1}, T)


def test_an_authorization_renewal_rejudges_the_account_first() -> None:
    """Quantities changed behind the ledger's back (an older SSM, a sync): the next renewal of any
    instance of the account finds the pool covered, and answers every instance's verdict."""
    acct = idle_out_of_compliance(purchased=101)
    busy = member("busy", ledger.Line(PREMIUM.tag, 6 * Q, 0), ooc_since=5 * Q)
    acct = dataclasses.replace(acct, members={**acct.members, "busy": dataclasses.replace(busy, pools=acct.pools)})
    out = rejudge.renewal(acct, acct.members["busy"], [(PREMIUM.tag, 0)], T)
    assert out.verdict is not None and out.verdict.since is None
    assert out.grants[0].reported == 0  # unlocked before answering
    assert out.rejudged is not None
    assert set(out.rejudged.verdicts) == {"idle"}  # the renewing instance is judged by authorize
    assert [n.kind for n in out.notes] == ["instance_in_compliance"]
    assert out.books.pools[PREMIUM.tag].state.ooc_since is None


def test_verdicts_judge_the_instances_against_the_pools_as_they_are() -> None:
    """An SSM On-Prem's pools carry the cloud's verdict: they are not judged again locally, only
    each instance against them."""
    acct = idle_out_of_compliance(purchased=200)  # covered here, but the cloud says Out of Compliance
    out = rejudge.verdicts(
        dataclasses.replace(acct, members={**acct.members, "new": member("new", ledger.Line(PREMIUM.tag, Q, 5))}), T
    )
    assert out.pools == {} and out.unlocked == []
    assert set(out.verdicts) == {"new"} and out.verdicts["new"][0].since == 5 * Q
