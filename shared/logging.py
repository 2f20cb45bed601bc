"""The one structlog configuration: JSON off a TTY, a console renderer on one, domain time on
every line (``vt``), real time too (``ts``), and secrets redacted by key name.

Pure apart from configuring structlog: the caller decides the output stream and the format.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from shared.clock import Clock

#: Event keys whose values never reach a log line.
SECRET_KEYS = frozenset({"token", "secret", "client_secret", "password", "key", "private_key", "authorization"})


def _domain_time(clock: Clock) -> structlog.types.Processor:
    def add_vt(_logger: object, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event["vt"] = clock.now().isoformat(timespec="seconds")
        return event

    return add_vt


def _redact(_logger: object, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for k in list(event):
        if k.lower() in SECRET_KEYS:
            event[k] = "[redacted]"
    return event


def configure_logging(
    *,
    clock: Clock,
    json: bool,
    level: str = "info",
    stream: TextIO | None = None,
) -> None:
    """Configure structlog for a process. Call once, at start."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        _domain_time(clock),
        _redact,
    ]
    if json:
        # Tracebacks without local variables: a request's locals can hold a client secret.
        transformer = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        processors.append(structlog.processors.ExceptionRenderer(transformer))
    processors.append(renderer)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
