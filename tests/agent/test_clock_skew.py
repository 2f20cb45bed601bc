"""Clock skew (issue 19): the SSM's stale refusal says by how much, and the agent names the skew,
which clock is ahead, and its size."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from agent.transport import remote_error
from shared import clockskew, envelope
from shared.clock import epoch
from shared.errors import Unauthorized

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)


@pytest.mark.parametrize(
    ("offset", "says"),
    [
        (timedelta(days=3), "this agent's clock is 3 days (259200 s) ahead of the SSM's"),
        (-timedelta(hours=1, minutes=30), "this agent's clock is 1 hour 30 minutes (5400 s) behind the SSM's"),
    ],
)
def test_a_stale_refusal_names_the_skew_and_its_size(offset: timedelta, says: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        envelope.check_fresh(epoch(NOW + offset), NOW, WINDOW)
    body = caught.value.to_dict()
    assert body["detail"]["skew_seconds"] == int(offset.total_seconds())  # type: ignore[index]
    err = remote_error(401, json.dumps(body))
    assert err.code == "request_stale"
    assert says in err.message and "within 5 minutes of its time" in err.message
    assert "ssmlab clock skew 0" in err.fix and "NTP" in err.fix


def test_within_the_window_nothing_is_refused() -> None:
    envelope.check_fresh(epoch(NOW + timedelta(minutes=4)), NOW, WINDOW)


def test_a_refusal_without_detail_keeps_the_ssm_s_words() -> None:
    """An SSM that sends no detail (an older one): its own message and fix, unchanged."""
    err = remote_error(401, json.dumps({"error": "request_stale", "message": "stale", "fix": "retry"}))
    assert (err.message, err.fix) == ("stale", "retry")


@pytest.mark.parametrize(
    ("seconds", "text"), [(259200, "3 days"), (5400, "1 hour 30 minutes"), (42, "42 seconds"), (90061, "1 day 1 hour")]
)
def test_size(seconds: int, text: str) -> None:
    assert clockskew.size(seconds) == text
