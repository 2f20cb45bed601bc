"""The SSM's watch over silent instances: Failed to Renew once a renewal is a grace late,
Failed to Connect (and Authorization Expired) after 90 days without contact."""

from __future__ import annotations

from shared import watch
from shared.policy import DEFAULT_POLICY as P
from shared.states import AuthorizationStatus as A

D = 86400


def w(**kw: object) -> watch.Watched:
    base: dict[str, object] = {
        "registered_at": 0,
        "authorized_at": 0,
        "last_contact_at": 0,
        "status": A.AUTHORIZED,
        "renew_alerted_at": None,
    }
    base.update(kw)
    return watch.Watched(**base)  # type: ignore[arg-type]


def test_nothing_before_the_renewal_grace() -> None:
    """Until renewal + grace nothing is raised and the next check is that instant."""
    v = watch.check(w(), 30 * D, P)
    assert v.alerts == [] and v.next_check_at == 31 * D


def test_failed_to_renew_once_per_renewal() -> None:
    """A renewal a day late raises Failed to Renew once; the next check is the expiry."""
    v = watch.check(w(), 31 * D, P)
    assert [a.kind for a in v.alerts] == [watch.FAILED_TO_RENEW]
    again = watch.check(w(renew_alerted_at=v.renew_alerted_at), 40 * D, P)
    assert again.alerts == [] and again.next_check_at == 90 * D


def test_failed_to_connect_after_ninety_days() -> None:
    """90 days without contact: Failed to Connect, status Authorization Expired, nothing further."""
    v = watch.check(w(renew_alerted_at=31 * D), 90 * D, P)
    assert [a.kind for a in v.alerts] == [watch.FAILED_TO_CONNECT]
    assert v.status is A.AUTHORIZATION_EXPIRED and v.next_check_at is None
    assert watch.check(w(renew_alerted_at=31 * D, status=A.AUTHORIZATION_EXPIRED), 200 * D, P).alerts == []


def test_a_renewal_resets_the_watch() -> None:
    """After a renewal the next alert is a renewal period + grace later."""
    assert watch.next_check(w(authorized_at=30 * D, last_contact_at=30 * D), P) == 61 * D
