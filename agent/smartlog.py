"""``SmartAgent.log`` in the agent's data directory, as a sink of the agent's structured log: one
human-readable line per failure, with its stable code and the fix, a line when communication
works again, and the agent's own notices (Transport Settings, truststore).

    2026-01-05 09:00:00 UTC  ERROR  ucce-1  register  tls_host_name_vs_ip: <what> | fix: <how>
    2026-01-05 09:02:00 UTC  INFO   ucce-1  register  communication with the SSM restored

The agent logs through ``agent_logger``: every event goes on to the process's structured log
(as ``shared.logging`` configured it, level filter included); an event logged with
``smartlog=True`` is also written here, whatever the level. Its fields give the line: ``at``
(domain time, epoch seconds: the same clock as ``smart-agent events``), ``instance`` (else
"agent"), ``action``, and either the failure's ``code``, ``error`` and ``fix`` or a ``notice``.
A warning or worse is an ERROR line, anything else INFO. Messages carry no secret: errors never
include tokens or keys.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import structlog

from shared.clock import utc

FILENAME = "SmartAgent.log"

_ERROR_LEVELS = frozenset({"warning", "warn", "error", "critical", "exception", "fatal"})


def _one_line(text: str) -> str:
    return " ".join(text.split())


def line(method_name: str, event: MutableMapping[str, Any]) -> str:
    """The SmartAgent.log line of a structured log event."""
    level = "ERROR" if method_name in _ERROR_LEVELS else "INFO"
    if "code" in event:
        text = f"{event['code']}: {event.get('error', '')}" + (f" | fix: {event['fix']}" if event.get("fix") else "")
    else:
        text = str(event.get("notice", event.get("event", "")))
    stamp = utc(event["at"]).strftime("%Y-%m-%d %H:%M:%S UTC")
    who = event.get("instance") or "agent"
    return f"{stamp}  {level:<5}  {who}  {event.get('action') or '-'}  {_one_line(text)}\n"


class SmartLogSink:
    """A structlog processor: appends the line of each event marked ``smartlog`` to the file,
    then passes the event on unchanged (the mark removed)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / FILENAME

    def __call__(self, _logger: object, method_name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if event.pop("smartlog", False):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line(method_name, event))
        return event


class _Onward:
    """The end of the agent logger's chain: each event continues into the process's structured
    log, looked up at every call so a later ``configure_logging`` applies."""

    def __init__(self, name: str) -> None:
        self._name = name

    def _emit(self, level: str, event: dict[str, Any]) -> None:
        logger = structlog.get_logger(self._name)
        getattr(logger, level)(event.pop("event"), **event)

    def debug(self, **event: Any) -> None:
        self._emit("debug", event)

    def info(self, **event: Any) -> None:
        self._emit("info", event)

    def warning(self, **event: Any) -> None:
        self._emit("warning", event)

    def error(self, **event: Any) -> None:
        self._emit("error", event)


def agent_logger(folder: Path, name: str = "agent") -> structlog.BoundLogger:
    """The agent's logger: SmartAgent.log in ``folder`` for the events marked ``smartlog``, then
    the process's structured log for every event."""
    logger: structlog.BoundLogger = structlog.wrap_logger(
        _Onward(name), processors=[SmartLogSink(folder)], wrapper_class=structlog.BoundLogger, context_class=dict
    )
    return logger
