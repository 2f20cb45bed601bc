"""The event loop a long-running process runs on: uvloop when it is installed (Linux and macOS;
it halves the loop's own cost per request: transports, TLS buffers, timers), asyncio's otherwise.
``SSMLAB_LOOP=asyncio`` forces the standard loop (to compare, or to debug with asyncio's tools)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None for asyncio's default."""
    if os.environ.get("SSMLAB_LOOP", "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def name() -> str:
    """Which loop :func:`run` uses: ``uvloop`` or ``asyncio``."""
    return "uvloop" if factory() else "asyncio"


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the loop :func:`factory` picks."""
    with asyncio.Runner(loop_factory=factory()) as runner:
        return runner.run(main)
