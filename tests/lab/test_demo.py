"""The demo's script on a running lab (issue 16, item 12): a reset from another terminal starts the
story over for the demo that runs; a fault added early is ridden out and reported, never the end of
the demo; 'ssmlab status' shows what comes next and never plays it; a snapshot keeps the script's
progress with the lab's state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from lab import clock as lockstep
from lab import demo
from lab.cli import main
from lab.processes import LAB_MAILBOX, Lab

START = "2027-01-04T08:00:00+00:00"


@pytest.fixture(scope="module")
def demo_lab(tmp_path_factory: pytest.TempPathFactory, pki_dir: Path) -> Iterator[Path]:
    """The demo's lab on virtual clocks, started once for this module (its folder)."""
    lab = Lab(tmp_path_factory.mktemp("demo") / "lab", pki_dir)
    lab.prepare(demo.INSTANCES, fresh=True, ssm_port=0, agent_port=0)
    try:
        lab.start(rate=0, clock="virtual", epoch=START)
        yield lab.folder
    finally:
        lab.stop()


@pytest.fixture
def running(demo_lab: Path, pki_dir: Path) -> Iterator[Lab]:
    """The lab as 'ssmlab run' holds it (this object is the run loop's), its story starting now:
    both sides reset, no fault, the script from its start."""
    lab = Lab(demo_lab, pki_dir).load()
    lab.ssm("DELETE", "/_lab/faults")
    lab.ssm("POST", "/_lab/reset", {})
    lab.agent("POST", "/_lab/reset")
    demo.restart(lab)
    yield lab
    lab.close()


def ssmlab(lab: Lab, *args: str) -> int:
    """A command from another terminal: its own view of the lab folder."""
    return main(["--dir", str(lab.folder), "--certs", str(lab.certs), *args])


def registration(lab: Lab) -> set[str]:
    return {s["registration_status"] for s in lab.agent("GET", "/api/v1/status")["instances"]}


def advance(lab: Lab, duration: str) -> None:
    lockstep.advance(lab.endpoints(), duration)


def test_a_reset_starts_the_running_demo_s_story_over(running: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    advance(running, "2d")
    assert [line.split(" ", 2)[2] for line in demo.run_due(running)] == ["registered ucce-1, cvp-1"]
    assert ssmlab(running, "reset") == 0
    assert "the demo script starts over" in capsys.readouterr().out
    assert registration(running) == {"Unregistered"}
    assert demo.run_due(running) == []  # its day 2 is two days away again
    advance(running, "2d")
    assert [line.split(" ", 2)[2] for line in demo.run_due(running)] == ["registered ucce-1, cvp-1"]
    assert registration(running) == {"Registered"}


def test_a_fault_added_early_is_ridden_out_and_reported(running: Lab) -> None:
    fault = running.ssm("POST", "/_lab/faults", {"kind": "drop"})
    advance(running, "2d")
    (failed,) = demo.run_due(running)
    assert "register failed (" in failed and "tries again every 15 minutes" in failed
    assert demo.run_due(running) == []  # not again before its retry
    advance(running, "15m")
    assert demo.run_due(running) == []  # tried again, the same reason: not said twice
    assert registration(running) == {"Unregistered"}
    running.ssm("DELETE", f"/_lab/faults/{fault['id']}")
    advance(running, "15m")
    (done,) = demo.run_due(running)
    assert done.endswith("registered ucce-1, cvp-1 (after 2 failed attempt(s))")
    assert registration(running) == {"Registered"}
    assert "demo_failed" not in json.loads(running.state_file.read_text())


def test_status_shows_the_next_step_and_never_plays_it(running: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    advance(running, "2d")
    assert ssmlab(running, "status") == 0
    out = capsys.readouterr().out
    start = datetime.fromisoformat(json.loads(running.state_file.read_text())["demo_start"])
    assert f"DEMO: next step 'register' at {start + timedelta(days=2):%Y-%m-%d %H:%M}" in out
    assert registration(running) == {"Unregistered"}
    assert "demo_done" not in json.loads(running.state_file.read_text())


def test_a_snapshot_keeps_the_script_s_progress(running: Lab) -> None:
    assert ssmlab(running, "snapshot", "save", "start") == 0
    advance(running, "2d")
    assert demo.run_due(running) != []
    assert ssmlab(running, "snapshot", "load", "start") == 0
    assert registration(running) == {"Unregistered"}
    advance(running, "2d")
    assert [line.split(" ", 2)[2] for line in demo.run_due(running)] == ["registered ucce-1, cvp-1"]


def test_a_reset_keeps_the_lab_s_notification_address(running: Lab) -> None:
    """The reset reseeds the lab account; 'ssmlab reset' gives it its address again, so the SSM's
    alerts keep reaching the lab's mail catcher."""
    assert ssmlab(running, "reset") == 0
    assert running.ssm("GET", "/_lab/notify-addresses")["addresses"] == [LAB_MAILBOX]
