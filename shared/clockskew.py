"""Naming a clock skew between the agent and the SSM, and its size (issue 19).

The SSM refuses a signed request whose ``sent_at`` is further than its window from its own time
(``request_stale``, ``shared.envelope.check_fresh``) and says by how much in the error's
``detail``; ``explain`` turns that into what a person reads: which clock is ahead, by how much,
and what to do. Pure: no IO, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping

STALE_FIX = (
    "set the agent's and the SSM's clocks from one time source (NTP), then retry; "
    "in the lab: ssmlab clock skew 0 (ssmlab clock show shows both)"
)


def size(seconds: float) -> str:
    """``259200`` -> ``3 days``; ``5400`` -> ``1 hour 30 minutes``; ``42`` -> ``42 seconds``."""
    left = int(abs(seconds))
    parts = []
    for unit, span in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if left >= span:
            count, left = divmod(left, span)
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    if left or not parts:
        parts.append(f"{left} second{'s' if left != 1 else ''}")
    return " ".join(parts[:2])


def explain(detail: Mapping[str, object]) -> tuple[str, str] | None:
    """(message, fix) for a ``request_stale`` refusal with the SSM's detail; None without it."""
    skew, allowed = detail.get("skew_seconds"), detail.get("allowed_seconds")
    ssm_time, sent_at = detail.get("ssm_time"), detail.get("sent_at")
    if not isinstance(skew, int | float) or not isinstance(allowed, int | float):
        return None
    way = "ahead of" if skew > 0 else "behind"
    message = (
        f"clock skew: this agent's clock is {size(skew)} ({int(abs(skew))} s) {way} the SSM's "
        f"(request sent at {sent_at}, the SSM's time {ssm_time}); the SSM accepts signed requests "
        f"within {size(allowed)} of its time and refused this one as stale"
    )
    return message, STALE_FIX
