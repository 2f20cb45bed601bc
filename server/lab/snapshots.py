"""``POST /_lab/snapshot`` / ``/_lab/restore`` ``{"name": ...}`` (SQLite's backup API, while
serving) and ``POST /_lab/reset`` ``{"account": DOMAIN}`` (one Smart Account, or everything)."""

from __future__ import annotations

from pathlib import Path

import msgspec
from aiohttp import web

from plumbing.web.middleware import json_response
from server import accounts, keys, onprem
from server.lab.state import LAB
from server.timekeeping import save_clock, saved_clock
from shared import clockctl
from shared.errors import BadRequest
from shared.limits import Domain, SnapshotName


class NameBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: SnapshotName


class ResetBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    account: Domain | None = None


def _folder(request: web.Request, name: str) -> Path:
    return request.app[keys.SETTINGS].db_path.parent / "snapshots" / name


async def snapshot(request: web.Request, body: NameBody) -> web.Response:
    """Save the store, and the instant the clock has reached in it, under a name."""
    folder = _folder(request, body.name)
    folder.mkdir(parents=True, exist_ok=True)
    clock, store = request.app[keys.CLOCK], request.app[keys.STORE]
    clockctl.prepare_snapshot(clock)
    await save_clock(store, clock)
    await store.backup_to(folder / "ssm.db")
    return json_response({"saved": body.name, "path": str(folder / "ssm.db"), "at": clock.now().isoformat()})


async def restore(request: web.Request, body: NameBody) -> web.Response:
    """Load a saved store; the clock goes back (or on) to the instant saved with it."""
    source = _folder(request, body.name) / "ssm.db"
    if not source.exists():
        raise BadRequest(f"no snapshot {body.name!r}", code="snapshot_not_found", fix="list them: ssmlab snapshot list")
    clock, store = request.app[keys.CLOCK], request.app[keys.STORE]
    await store.restore_from(source)
    restored = await clockctl.restore_snapshot(clock, await saved_clock(store))
    await save_clock(store, clock)
    await request.app[keys.REGISTRY].forget_all()
    clock.poke(request.app[keys.SYNC_POKE])  # an On-Prem's next synchronization, from the restored link
    return json_response({"restored": body.name, "clock": restored})


async def reset(request: web.Request, body: ResetBody) -> web.Response:
    """Start over: everything, or one Smart Account and all it holds."""
    clock = request.app[keys.CLOCK]
    settings = request.app[keys.SETTINGS]
    store = request.app[keys.STORE]
    removed = await store.reset(body.account)
    await request.app[keys.REGISTRY].forget_all()
    request.app[LAB].faults.clear()
    request.app[LAB].journal.clear()
    if settings.mode == "onprem":
        await onprem.seed_onprem(store, clock.now())
    else:
        await accounts.seed_lab(store, clock.now())
    return json_response({"reset": body.account or "everything", "rows_removed": removed})
