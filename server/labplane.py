"""The SSM's lab plane beyond health and clock: injected faults, the request journal, Prometheus
metrics, ``/_lab/info``, reset and snapshots.

- ``GET/POST/DELETE /_lab/faults[/{id}]``: faults on device-plane requests (``shared.faults``).
- ``GET /_lab/journal``: the last requests (method, path, instance, status, latency, TLS).
- ``GET /metrics``: Prometheus text (reports, registrations, pools, instance states, failures).
- ``GET /_lab/info``: version, mode, clock, PKI fingerprints, policy.
- ``POST /_lab/reset`` ``{"account": DOMAIN}`` (or everything) and ``POST /_lab/snapshot`` /
  ``/_lab/restore`` ``{"name": ...}`` (SQLite's backup API, while serving).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import re
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from plumbing.body import BODY, read_body
from plumbing.middleware import json_response
from server import keys
from server.admin import routing
from server.store import UnitOfWork
from server.store.rows import License, VirtualAccount
from shared import callhome, clockctl, envelope, faults, tokens
from shared.errors import BadRequest, SmartLicensingError
from shared.logging import get_logger

log = get_logger("ssm.lab")
T = TypeVar("T")
VERSION = "0.1.0"
JOURNAL_SIZE = 2000


@dataclass
class LabState:
    """Per-app lab state: faults, the journal ring, metrics (no globals)."""

    faults: faults.FaultTable = field(default_factory=faults.FaultTable)
    journal: collections.deque[dict[str, object]] = field(
        default_factory=lambda: collections.deque(maxlen=JOURNAL_SIZE)
    )
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter("ssm_requests", "Device-plane requests", ["kind", "status"], registry=r)
        self.faults_injected = Counter("ssm_faults_injected", "Requests hit by an injected fault", ["kind"], registry=r)
        self.pool_in_use = Gauge(
            "ssm_pool_in_use",
            "Licenses in use per pool",
            ["virtual_account", "license", "license_type", "usage_mode"],
            registry=r,
        )
        self.pool_purchased = Gauge(
            "ssm_pool_purchased",
            "Licenses purchased per pool",
            ["virtual_account", "license", "license_type", "usage_mode"],
            registry=r,
        )
        self.pool_ooc = Gauge(
            "ssm_pool_out_of_compliance",
            "1 while a pool is Out of Compliance",
            ["virtual_account", "license", "license_type", "usage_mode"],
            registry=r,
        )
        self.instances = Gauge("ssm_instances", "Registered product instances per status", ["status"], registry=r)
        self.notifications = Gauge("ssm_notifications", "Notifications in the outbox per kind", ["kind"], registry=r)


LAB = web.AppKey("lab", LabState)

_KINDS = {
    "register": "registration",
    "report_usage": "report",
    "authorize": "authorization",
    "renew_registration": "registration_renewal",
    "deregister": "deregistration",
    "sync_request": "sync",
}
_TYPE = re.compile(rb'"type"\s*:\s*"([a-z_]+)"')


def _segment(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _peek(body: bytes, ctype: str) -> tuple[str | None, str | None, str]:
    """(piid, token id, message kind) of a device request, for the journal and fault targets.

    Nothing here is trusted or verified (the handler does that): a quick look at the JWS header
    and payload, or at the register request's token, inside a Call Home envelope too."""
    if ctype in callhome.ACCEPTED_TYPES:
        try:
            env = callhome.decode(body, "request")
        except SmartLicensingError:
            return None, None, "malformed"
        signed = env.encoding is callhome.Encoding.JWS
        return _peek(env.payload.encode(), envelope.CONTENT_TYPE if signed else "application/json")
    if ctype == envelope.CONTENT_TYPE:
        try:
            head, payload, _ = body.decode("ascii").strip().split(".")
            kid = msgspec.json.decode(_segment(head)).get("kid")
            m = _TYPE.search(_segment(payload))
            return (kid if isinstance(kid, str) else None), None, _KINDS.get(m.group(1).decode() if m else "", "signed")
        except (msgspec.DecodeError, UnicodeDecodeError, AttributeError, ValueError):
            return None, None, "malformed"
    m = _TYPE.search(body)
    token_id = None
    try:
        raw = msgspec.json.decode(body)
        if isinstance(raw, dict) and isinstance(raw.get("token"), str):
            token_id = tokens.parse(raw["token"]).token_id
    except (msgspec.DecodeError, SmartLicensingError):
        pass
    return None, token_id, _KINDS.get(m.group(1).decode() if m else "", "unsigned")


def _is_device(path: str) -> bool:
    """Device-plane paths (journal kind, faults); the lab plane and the admin API are not."""
    return not path.startswith(("/_lab", "/metrics", "/openapi.json")) and not routing.is_admin(path)


def lab_middleware() -> Middleware:
    """Journal every request; inject faults into device-plane requests."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        lab = request.app[LAB]
        clock = request.app[keys.CLOCK]
        started = time.perf_counter()
        piid = token_id = None
        kind = "lab"
        if _is_device(request.path) and request.method == "POST":
            settings = request.app[keys.SETTINGS]
            try:
                body = await read_body(request, limit=settings.max_device_body)
            except SmartLicensingError:
                body = b""  # the handler reads the limit error itself
                request.pop(BODY, None)
            piid, token_id, kind = _peek(body, request.content_type)
        fault = (
            lab.faults.match(faults.Target(request.path, piid, token_id), clock.now())
            if _is_device(request.path)
            else None
        )
        status: int | str = 0
        try:
            if fault is not None and fault.spec.kind == "latency":
                lab.faults_injected.labels("latency").inc()
                await asyncio.sleep(fault.spec.latency_ms / 1000)  # transport time: real seconds
            elif fault is not None:
                lab.faults_injected.labels(fault.spec.kind).inc()
                response = _inject(request, fault)
                if response is None:
                    status = fault.spec.kind  # dropped or reset: no answer
                    raise ConnectionResetError(f"fault {fault.id} ({fault.spec.kind})")
                status = response.status
                return response
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except SmartLicensingError as err:
            status = err.http_status
            raise
        finally:
            if kind != "lab":
                lab.requests.labels(kind, str(status)).inc()
            ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
            lab.journal.append(
                {
                    "at": clock.now().isoformat(timespec="seconds"),
                    "method": request.method,
                    "path": request.path,
                    "kind": kind,
                    "piid": piid or request.get(keys.PIID),
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "tls": ssl_object.version() if ssl_object is not None else None,
                    "fault": fault.id if fault is not None else None,
                }
            )

    return middleware


def _inject(request: web.Request, fault: faults.Fault) -> web.StreamResponse | None:
    """The fault's answer, or None after dropping or resetting the connection."""
    s = fault.spec
    transport = request.transport
    if s.kind in ("drop", "reset"):
        if transport is not None:
            if s.kind == "reset":
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            if s.kind == "reset":
                transport.abort()
            else:
                transport.close()
        return None
    headers = {"Retry-After": str(s.retry_after)} if s.retry_after is not None else None
    return web.json_response(
        {
            "error": "injected_fault",
            "status": s.status,
            "message": f"fault {fault.id} injected by the lab: HTTP {s.status}",
            "fix": "remove it ('ssmlab fault clear') or wait for its ttl",
        },
        status=s.status,
        headers=headers,
    )


# -- handlers ------------------------------------------------------------------------------------

_spec_decoder = msgspec.json.Decoder(faults.FaultSpec)


async def list_faults(request: web.Request) -> web.Response:
    lab = request.app[LAB]
    for gone in lab.faults.expire(request.app[keys.CLOCK].now()):
        log.info("fault_reverted", fault=gone.id)
    return json_response([f.view() for f in lab.faults.active()])


async def add_fault(request: web.Request) -> web.Response:
    try:
        spec = _spec_decoder.decode(await read_body(request, limit=4096))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadRequest(
            f"invalid fault: {exc}",
            code="invalid_fault",
            fix='e.g. {"kind": "status", "status": 503, "retry_after": 30, "ttl": "2h"}',
        ) from None
    fault = request.app[LAB].faults.add(spec, request.app[keys.CLOCK].now())
    log.info("fault_added", fault=fault.id, kind=spec.kind)
    return json_response(fault.view(), status=201)


async def delete_fault(request: web.Request) -> web.Response:
    try:
        fault_id = int(request.match_info["id"])
    except ValueError:
        raise BadRequest("a fault id is a number", code="invalid_fault") from None
    return json_response(request.app[LAB].faults.remove(fault_id).view())


async def clear_faults(request: web.Request) -> web.Response:
    return json_response({"removed": len(request.app[LAB].faults.clear())})


async def journal(request: web.Request) -> web.Response:
    try:
        limit = max(1, min(JOURNAL_SIZE, int(request.query.get("limit", "100"))))
    except ValueError:
        limit = 100
    return json_response(list(request.app[LAB].journal)[-limit:])


async def metrics(request: web.Request) -> web.Response:
    lab = request.app[LAB]
    store = request.app[keys.STORE]

    Counts = list[tuple[str, int]]

    def read(uow: UnitOfWork) -> tuple[dict[int, VirtualAccount], list[License], Counts, Counts]:
        return (
            uow.accounts.all_virtual_accounts(),
            uow.pools.all(),
            uow.instances.count_by_status(),
            uow.events.notification_counts(),
        )

    vas, pools, statuses, kinds = await store.read(read)
    lab.pool_in_use.clear()
    lab.pool_purchased.clear()
    lab.pool_ooc.clear()
    for p in pools:
        va = vas.get(p.virtual_account_id)
        labels = (va.name if va else "?", p.name, str(p.license_type), str(p.usage_mode))
        lab.pool_in_use.labels(*labels).set(p.pool.in_use)
        lab.pool_purchased.labels(*labels).set(p.quantity)
        lab.pool_ooc.labels(*labels).set(1 if p.pool.ooc_since is not None else 0)
    lab.instances.clear()
    for status, count in statuses:
        lab.instances.labels(status).set(count)
    lab.notifications.clear()
    for kind, count in kinds:
        lab.notifications.labels(kind).set(count)
    return web.Response(body=generate_latest(lab.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def info(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    registry = request.app[keys.REGISTRY]
    return json_response(
        {
            "service": "ssm",
            "version": VERSION,
            "mode": settings.mode,
            "sync": settings.sync,
            "listeners": {"device": request.app[keys.LISTENERS].device, "admin": request.app[keys.LISTENERS].admin},
            "db": str(settings.db_path),
            "clock": clockctl.view(request.app[keys.CLOCK]),
            "pki": registry.pki.fingerprints(),
            "policy": settings.policy.describe(),
            "faults": len(request.app[LAB].faults.active()),
            "instances": await request.app[keys.STORE].read(lambda uow: uow.instances.count()),
        }
    )


class NameBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str


class ResetBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    account: str | None = None


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _snapshot_dir(request: web.Request, name: str) -> Path:
    if not _NAME.match(name):
        raise BadRequest(
            f"snapshot name {name!r} is not a plain name",
            code="invalid_snapshot_name",
            fix="letters, digits, '.', '_' and '-' only",
        )
    return request.app[keys.SETTINGS].db_path.parent / "snapshots" / name


async def snapshot(request: web.Request) -> web.Response:
    body = msgspec.json.decode(await read_body(request, limit=1024), type=NameBody)
    folder = _snapshot_dir(request, body.name)
    folder.mkdir(parents=True, exist_ok=True)
    await request.app[keys.STORE].backup_to(folder / "ssm.db")
    return json_response(
        {"saved": body.name, "path": str(folder / "ssm.db"), "at": request.app[keys.CLOCK].now().isoformat()}
    )


async def restore(request: web.Request) -> web.Response:
    body = msgspec.json.decode(await read_body(request, limit=1024), type=NameBody)
    source = _snapshot_dir(request, body.name) / "ssm.db"
    if not source.exists():
        raise BadRequest(f"no snapshot {body.name!r}", code="snapshot_not_found", fix="list them: ssmlab snapshot list")
    await request.app[keys.STORE].restore_from(source)
    request.app[keys.REGISTRY].forget_all()
    return json_response({"restored": body.name})


async def reset(request: web.Request) -> web.Response:
    body = msgspec.json.decode(await read_body(request, limit=1024) or b"{}", type=ResetBody)
    clock = request.app[keys.CLOCK]
    settings = request.app[keys.SETTINGS]
    removed = await request.app[keys.STORE].reset(body.account)
    request.app[keys.REGISTRY].forget_all()
    request.app[LAB].faults.clear()
    request.app[LAB].journal.clear()
    from server.accounts import seed_lab
    from server.onprem import seed_onprem

    if settings.mode == "onprem":
        await seed_onprem(request.app[keys.STORE], clock.now())
    else:
        await seed_lab(request.app[keys.STORE], clock.now())
    return json_response({"reset": body.account or "everything", "rows_removed": removed})


class TokenBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    va: str = "DEFAULT"
    account: str | None = None
    days: int | None = None
    uses: int | None = None
    description: str = "lab"
    export_controlled: bool = False


class LicenseBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    quantity: int
    license_type: str = "Flex"
    usage_mode: str = "Production"
    va: str = "DEFAULT"
    account: str | None = None


def _decode(data: bytes, type_: type[T], example: str) -> T:
    try:
        return msgspec.json.decode(data or b"{}", type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadRequest(f"invalid body: {exc}", code="invalid_body", fix=f"send JSON like {example}") from None


async def create_token(request: web.Request) -> web.Response:
    """A registration token (the lab's shortcut to 'ssm-server token create')."""
    from server.accounts import create_token as mint
    from server.accounts import resolve_account

    body = _decode(await read_body(request, limit=4096), TokenBody, '{"va": "DEFAULT", "days": 30}')
    store = request.app[keys.STORE]
    created = await mint(
        store,
        account=await resolve_account(store, body.account),
        va_name=body.va,
        now=request.app[keys.CLOCK].now(),
        policy=request.app[keys.SETTINGS].policy,
        days=body.days,
        uses=body.uses,
        description=body.description,
        export_controlled=body.export_controlled,
    )
    return json_response(
        {
            "token": created.minted.text,
            "token_id": created.record.token_id,
            "expires_at": created.record.expires_at.isoformat(),
        },
        status=201,
    )


async def add_licenses(request: web.Request) -> web.Response:
    """Purchase licenses (the lab's shortcut to 'ssm-server license add')."""
    from server.accounts import add_licenses as buy
    from server.accounts import resolve_account
    from shared.states import LicenseType, UsageMode

    body = _decode(
        await read_body(request, limit=4096),
        LicenseBody,
        '{"name": "Premium Agent", "quantity": 30, "license_type": "Flex"}',
    )
    try:
        ltype, mode = LicenseType(body.license_type), UsageMode(body.usage_mode)
    except ValueError:
        raise BadRequest(
            "license_type is Flex or Perpetual; usage_mode Production or Non-Production", code="invalid_body"
        ) from None
    store = request.app[keys.STORE]
    total = await buy(
        store,
        account=await resolve_account(store, body.account),
        va_name=body.va,
        license_type=ltype,
        usage_mode=mode,
        name=body.name,
        quantity=body.quantity,
        now=request.app[keys.CLOCK].now(),
    )
    return json_response({"license": body.name, "purchased": total}, status=201)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/_lab/tokens", create_token)
    app.router.add_post("/_lab/licenses", add_licenses)
    app.router.add_get("/_lab/faults", list_faults)
    app.router.add_post("/_lab/faults", add_fault)
    app.router.add_delete("/_lab/faults", clear_faults)
    app.router.add_delete("/_lab/faults/{id}", delete_fault)
    app.router.add_get("/_lab/journal", journal)
    app.router.add_get("/_lab/info", info)
    app.router.add_post("/_lab/reset", reset)
    app.router.add_post("/_lab/snapshot", snapshot)
    app.router.add_post("/_lab/restore", restore)
    app.router.add_get("/metrics", metrics)
