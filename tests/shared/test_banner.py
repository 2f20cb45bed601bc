"""The aggregate banner, pure: its level, and without one the note that says whether every instance
is in order or which need attention the banner does not show (issue 16.4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared import banner
from shared.lifecycle import InstanceState
from shared.policy import DEFAULT_POLICY as P
from shared.states import AuthorizationStatus as A
from shared.states import Enforcement as E
from shared.states import RegistrationStatus as R
from shared.usage import UsageState
from tests.shared.instances import inst as registered

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def inst(name: str, **kw: object) -> InstanceState:
    return registered(name=name, **kw)


OK = inst("ok")


@pytest.mark.parametrize(
    ("other", "level", "named"),
    [
        (OK, None, None),
        (inst("x", authorization=A.NO_LICENSE_IN_USE), None, None),
        (inst("x", authorization=A.AUTHORIZATION_EXPIRED), None, "x Authorization Expired"),
        (inst("x", enabled=False), None, "x Smart Agent disabled"),
        (inst("x", registration=R.REGISTRATION_EXPIRED, authorization=A.AUTHORIZATION_EXPIRED), None, "x Registration"),
        (inst("x", authorization=A.UNAUTHORIZED), None, "x Unauthorized"),
        (inst("x", authorization=A.OUT_OF_COMPLIANCE, ooc_since=0), "Out of Compliance", None),
        (inst("x", authorization=A.AUTHORIZATION_EXPIRED, enforcement=E.AUTHORIZATION_EXPIRY), "Enforcement", None),
        (inst("x", registration=R.UNREGISTERED, authorization=A.EVALUATION), "Evaluation", None),
    ],
)
def test_no_banner_never_claims_compliance_it_has_not_seen(
    other: InstanceState, level: str | None, named: str | None
) -> None:
    b = banner.banner([(OK, UsageState()), (other, UsageState())], T0, P)
    assert b.level == level
    if level is not None:
        assert b.note is None
    elif named is None:
        assert b.note == banner.ALL_CLEAR
    else:
        assert b.note is not None and named in b.note and "compliant" not in b.note
        row = next(r for r in b.report if r.instance == "x")
        assert row.detail
