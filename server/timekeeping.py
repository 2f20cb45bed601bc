"""Persisting and restoring the SSM's domain clock.

The clock's state is saved in the store (``settings.clock``) whenever it changes, so a restart
continues the same timeline and the CLI (``ssm-server token create``) computes the same ``now``
as the running server.
"""

from __future__ import annotations

from server.store import Store
from shared.clock import AnyClock, load_state
from shared.clockstate import dump_state

_KEY = "clock"


async def save_clock(store: Store, clock: AnyClock) -> None:
    state = dump_state(clock)
    await store.write(lambda uow: uow.settings.set(_KEY, state))


async def saved_clock(store: Store) -> str | None:
    """The clock's state as saved in the store (``shared.clockstate.dump_state``), or None."""
    return await store.read(lambda uow: uow.settings.get(_KEY))


async def load_clock(store: Store) -> AnyClock | None:
    raw = await saved_clock(store)
    return load_state(raw) if raw is not None else None
