"""SmartAgent.log is a sink of the agent's structured log: the events marked ``smartlog`` become
its human-readable lines (the README's format); every event goes on to the structured log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from structlog.testing import capture_logs

from agent.smartlog import FILENAME, agent_logger
from shared.clock import epoch

AT = epoch(datetime(2026, 11, 28, 17, 36, tzinfo=UTC))


def test_failures_and_notices_become_smartagent_log_lines(tmp_path: Path) -> None:
    """A failure is an ERROR line with its code, message and fix; a notice an INFO line; an
    agent-wide notice names "agent"; an event not marked stays out of the file."""
    log = agent_logger(tmp_path)
    with capture_logs() as captured:
        log.warning(
            "renew_authorization_failed",
            instance="ucce-1",
            action="renew_authorization",
            at=AT,
            code="proxy_unreachable",
            error="cannot connect to the HTTP/HTTPS proxy:\n refused",
            fix="check the proxy host and port",
            attempts=1,
            smartlog=True,
        )
        log.info(
            "communication_restored",
            instance="ucce-1",
            action="authorization_renewed",
            at=AT + 9,
            notice="communication with the SSM restored",
            smartlog=True,
        )
        log.info("trust_imported", action="trust", at=AT + 10, notice="imported lab: CN=Root", smartlog=True)
        log.info("transition", instance="ucce-1", kind="authorization_authorized", at=AT)
    assert (tmp_path / FILENAME).read_text().splitlines() == [
        "2026-11-28 17:36:00 UTC  ERROR  ucce-1  renew_authorization  proxy_unreachable: cannot connect to the "
        "HTTP/HTTPS proxy: refused | fix: check the proxy host and port",
        "2026-11-28 17:36:09 UTC  INFO   ucce-1  authorization_renewed  communication with the SSM restored",
        "2026-11-28 17:36:10 UTC  INFO   agent  trust  imported lab: CN=Root",
    ]
    assert [(e["event"], e["log_level"]) for e in captured] == [
        ("renew_authorization_failed", "warning"),
        ("communication_restored", "info"),
        ("trust_imported", "info"),
        ("transition", "info"),
    ]
    assert "smartlog" not in captured[0] and captured[0]["attempts"] == 1


def test_a_failure_without_a_fix_has_no_fix_part(tmp_path: Path) -> None:
    """No fix: the line ends with the message."""
    agent_logger(tmp_path / "data").warning(
        "register_failed", instance="x", action="register", at=AT, code="c", error="m", fix="", smartlog=True
    )
    assert (tmp_path / "data" / FILENAME).read_text() == "2026-11-28 17:36:00 UTC  ERROR  x  register  c: m\n"
