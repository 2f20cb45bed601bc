"""Property tests of the one decoder and the edges of shared/ (issue 15): for every device message,
sync file and lab command, a valid document decodes and round-trips; any other document is
refused with a BadRequest naming its code and fix, never another exception. Durations and
instants from people stay in the domain-time window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import clockctl, wire
from shared.durations import parse_duration
from shared.errors import BadRequest
from shared.faults import FaultSpec
from shared.limits import DURATION_MAX, in_window
from shared.messages import Reply, Request, UsageReport
from shared.sync import SyncFile
from shared.transportsettings import TransportSettings
from tests.fuzzing import examples, refusal
from tests.strategies import WRONG, documents

TYPES: list[Any] = [Request, Reply, UsageReport, SyncFile, clockctl.ClockCommand, FaultSpec, TransportSettings]
N = examples(60)


@pytest.mark.parametrize("type_", TYPES, ids=lambda t: getattr(t, "__name__", str(t)))
@settings(max_examples=N, deadline=None)
@given(data=st.data())
def test_valid_documents_decode_and_round_trip(type_: Any, data: st.DataObject) -> None:
    doc = data.draw(documents(type_))
    value = wire.decode(msgspec.json.encode(doc), type_)
    assert wire.decode(msgspec.json.encode(value), type_) == value


@pytest.mark.parametrize("type_", TYPES, ids=lambda t: getattr(t, "__name__", str(t)))
@settings(max_examples=N, deadline=None)
@given(data=st.data())
def test_other_documents_are_refused_with_code_and_fix(type_: Any, data: st.DataObject) -> None:
    raw = msgspec.json.encode(data.draw(documents(type_, mutate=True) | WRONG))
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(raw)))
        raw = raw[:cut] + data.draw(st.binary(max_size=4)) + raw[cut + 1 :]
    err = refusal(lambda: wire.decode(raw, type_))
    assert err is None or (isinstance(err, BadRequest) and err.code and err.fix and err.message)


@settings(max_examples=N * 2, deadline=None)
@given(st.text(max_size=40) | st.from_regex(r"[0-9]{1,20}(\.[0-9]{1,3})?(mo|[smhdwy])", fullmatch=True))
def test_durations_are_bounded(text: str) -> None:
    err = refusal(lambda: parse_duration(text), ValueError)
    assert (err is not None and str(err)) or timedelta(0) <= parse_duration(text) <= DURATION_MAX


@settings(max_examples=N * 2, deadline=None)
@given(st.text(max_size=40) | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()))
def test_instants_stay_in_the_window(text: str) -> None:
    err = refusal(lambda: clockctl.parse_instant(text))
    if err is not None:
        assert isinstance(err, BadRequest) and err.code in ("invalid_instant", "instant_out_of_range") and err.fix
    else:
        assert in_window(clockctl.parse_instant(text))
