"""Injected faults, pure: targets, probability with a seed (repeatable), hit counts, time to live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import BadRequest, NotFound
from shared.faults import FaultSpec, FaultTable, Target

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_targets_path_piid_and_token() -> None:
    """A fault hits only requests matching its path prefix, piid and token id."""
    table = FaultTable()
    table.add(FaultSpec(kind="status", piid="p-1"), T0)
    table.add(FaultSpec(kind="drop", token_id="t-9"), T0)
    table.add(FaultSpec(kind="reset", path="/SmartTransport"), T0)
    assert table.match(Target("/licservice/license", piid="p-2"), T0) is None
    assert table.match(Target("/licservice/license", piid="p-1"), T0).spec.kind == "status"  # type: ignore[union-attr]
    assert table.match(Target("/licservice/license", token_id="t-9"), T0).spec.kind == "drop"  # type: ignore[union-attr]
    assert table.match(Target("/SmartTransport"), T0).spec.kind == "reset"  # type: ignore[union-attr]


def test_targets_a_kind_of_device_message() -> None:
    """``message``: only that kind of request (a registration passes, its authorization fails)."""
    table = FaultTable()
    table.add(FaultSpec(kind="status", message="authorization"), T0)
    assert table.needs_body
    assert table.match(Target("/licservice/license", token_id="t-1", message="registration"), T0) is None
    assert table.match(Target("/licservice/license", piid="p-1", message="authorization"), T0) is not None
    assert table.match(Target("/licservice/license"), T0) is None


def test_probability_is_repeatable_with_a_seed() -> None:
    """The same seed draws the same hits; the share of hits follows the probability."""

    def hits(seed: int) -> list[bool]:
        table = FaultTable()
        table.add(FaultSpec(kind="status", probability=0.3, seed=seed), T0)
        return [table.match(Target("/x"), T0) is not None for _ in range(1000)]

    assert hits(42) == hits(42)
    assert hits(42) != hits(43)
    assert 230 < sum(hits(42)) < 370


def test_times_and_ttl_revert_the_fault() -> None:
    """A fault for N hits is gone after them; one with a ttl reverts when domain time passes it."""
    table = FaultTable()
    table.add(FaultSpec(kind="status", times=2), T0)
    assert table.match(Target("/x"), T0) is not None
    assert table.match(Target("/x"), T0) is not None
    assert table.match(Target("/x"), T0) is None
    table.add(FaultSpec(kind="status", ttl="2h"), T0)
    assert table.match(Target("/x"), T0 + timedelta(hours=1)) is not None
    assert table.match(Target("/x"), T0 + timedelta(hours=2)) is None
    assert table.active() == []


def test_bad_faults_are_refused() -> None:
    """An unreadable ttl or a latency fault without latency is refused; removing an unknown id too."""
    table = FaultTable()
    with pytest.raises(BadRequest):
        table.add(FaultSpec(kind="status", ttl="later"), T0)
    with pytest.raises(BadRequest):
        table.add(FaultSpec(kind="latency"), T0)
    with pytest.raises(NotFound):
        table.remove(99)


def test_a_fault_without_a_path_hits_device_requests_only() -> None:
    """An admin-plane request (``device=False``) is hit only by a fault naming its path."""
    table = FaultTable()
    table.add(FaultSpec(kind="status"), T0)
    assert table.match(Target("/as/token.oauth2", device=False), T0) is None
    table.add(FaultSpec(kind="status", status=429, path="/as/"), T0)
    hit = table.match(Target("/as/token.oauth2", device=False), T0)
    assert hit is not None and hit.status == 429
    assert table.match(Target("/licservice/license"), T0).status == 503  # type: ignore[union-attr]


def test_a_fault_is_listed_with_the_settings_of_its_kind() -> None:
    """A drop fault lists no status (it answers none); a status fault its status, 503 by default."""
    table = FaultTable()
    drop = table.add(FaultSpec(kind="drop"), T0).view()
    assert drop["kind"] == "drop" and not {"status", "retry_after", "latency_ms"} & set(drop)
    status = table.add(FaultSpec(kind="status", retry_after=30), T0).view()
    assert (status["status"], status["retry_after"]) == (503, 30) and "latency_ms" not in status
    latency = table.add(FaultSpec(kind="latency", latency_ms=80), T0).view()
    assert latency["latency_ms"] == 80 and "status" not in latency
    with pytest.raises(BadRequest):
        table.add(FaultSpec(kind="drop", status=503), T0)
