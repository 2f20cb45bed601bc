"""The SSM's lab plane (emulator-only): what the lab, the drills and the tests control and see.

- ``views``: health, the event log, the outbox, instances, pools, remove, On-Prem sync;
- ``faults``, ``journal`` and ``recording``: injected faults, the request journal and what it keeps;
- ``metrics``: ``/metrics`` (Prometheus) and ``/_lab/info``;
- ``snapshots``: save, load and reset the store;
- ``shortcuts``: a registration token, a purchase;
- ``tls``: the TLS drill switch; ``pki``: the lab CA's CRL and OCSP responder;
- ``idcerts``: mutual TLS on the device plane and the ID-certificate drills;
- ``rollover``: the CA rollover of the SSM's PKI.

``ROUTES`` is the plane's route table (the clock's routes come from ``plumbing.web.clock``).
"""

from __future__ import annotations

from plumbing.web import openapi
from plumbing.web.routes import LAB_TYPES, Body, Plane, Route
from server.lab import faults, idcerts, journal, metrics, pki, recording, rollover, shortcuts, snapshots, tls, views
from shared.faults import FaultSpec
from shared.limits import SNAPSHOT_FIX

LAB = Plane.LAB
_SMALL = 4096
SNAPSHOT = Body(
    snapshots.NameBody,
    limit=1024,
    types=LAB_TYPES,
    invalid="invalid_snapshot_name",
    fix='send {"name": "day2"}; ' + SNAPSHOT_FIX,
)

ROUTES: list[Route] = [
    Route("GET", "/_lab/health", views.health, Plane.PROBE),
    Route("GET", "/_lab/events", views.events, LAB, query=views.EventsQuery),
    Route("GET", "/_lab/outbox", views.outbox, LAB, query=views.OutboxQuery),
    Route("GET", "/_lab/instances", views.instances, LAB, query=views.InstancesQuery),
    Route("GET", "/_lab/pools", views.pools, LAB, query=views.PoolsQuery),
    Route("POST", "/_lab/instances/{piid}/remove", views.remove_instance, LAB),
    Route(
        "POST",
        "/_lab/tokens",
        shortcuts.create_token,
        LAB,
        body=Body(
            shortcuts.TokenBody,
            limit=_SMALL,
            types=LAB_TYPES,
            empty=b"{}",
            fix='send JSON like {"va": "DEFAULT", "days": 30}',
        ),
    ),
    Route(
        "POST",
        "/_lab/licenses",
        shortcuts.add_licenses,
        LAB,
        body=Body(
            shortcuts.LicenseBody,
            limit=_SMALL,
            types=LAB_TYPES,
            fix='send JSON like {"name": "Premium Agent", "quantity": 30, "license_type": "Flex"}; license_type '
            'is Flex or Perpetual, usage_mode Production or Non-Production; a Flex term: "term": "3y" or '
            '"ends": "2029-01-31"',
        ),
    ),
    Route(
        "POST",
        "/_lab/licenses/renew",
        shortcuts.renew,
        LAB,
        body=Body(
            shortcuts.RenewBody,
            limit=_SMALL,
            types=LAB_TYPES,
            fix='send JSON like {"subscription_id": "Sub000001-1", "term": "1y"} (or "ends": "2030-01-31")',
        ),
    ),
    Route("GET", "/_lab/faults", faults.list_faults, LAB),
    Route(
        "POST",
        "/_lab/faults",
        faults.add_fault,
        LAB,
        body=Body(
            FaultSpec,
            limit=_SMALL,
            types=LAB_TYPES,
            malformed="invalid_fault",
            invalid="invalid_fault",
            fix='e.g. {"kind": "status", "status": 503, "retry_after": 30, "ttl": "2h"}',
        ),
    ),
    Route("DELETE", "/_lab/faults", faults.clear_faults, LAB),
    Route("DELETE", "/_lab/faults/{id}", faults.delete_fault, LAB),
    Route("GET", "/_lab/journal", journal.show, LAB, query=recording.Filter),
    Route("GET", "/_lab/journal/count", journal.count, LAB, query=recording.Filter),
    Route("DELETE", "/_lab/journal", journal.clear, LAB),
    Route("GET", "/_lab/info", metrics.info, LAB),
    Route("GET", "/metrics", metrics.metrics, LAB, media="text/plain"),
    Route(
        "POST",
        "/_lab/reset",
        snapshots.reset,
        LAB,
        body=Body(
            snapshots.ResetBody, limit=1024, types=LAB_TYPES, empty=b"{}", fix='send {} or {"account": "DOMAIN"}'
        ),
    ),
    Route(
        "POST",
        "/_lab/snapshot",
        snapshots.snapshot,
        LAB,
        body=SNAPSHOT,
    ),
    Route(
        "POST",
        "/_lab/restore",
        snapshots.restore,
        LAB,
        body=SNAPSHOT,
    ),
    Route("GET", "/_lab/tls", tls.get_tls, LAB),
    Route(
        "POST",
        "/_lab/tls",
        tls.set_tls,
        LAB,
        body=Body(tls.ModeBody, limit=_SMALL, types=LAB_TYPES, fix='send {"mode": "expired"}'),
    ),
    Route("GET", "/_lab/tls/ca.pem", tls.ca_pem, LAB, media="application/x-pem-file"),
    Route("GET", "/_lab/pki/crl", pki.crl, LAB, media="application/pkix-crl"),
    Route("GET", "/_lab/pki/rollover", rollover.show, LAB),
    Route(
        "POST",
        "/_lab/pki/rollover",
        rollover.start,
        LAB,
        body=Body(rollover.StartBody, limit=_SMALL, types=LAB_TYPES, fix='send {"overlap": "30d"}'),
    ),
    Route("POST", "/_lab/pki/rollover/cutover", rollover.cutover, LAB),
    Route("GET", "/_lab/pki/next-ca.pem", rollover.next_ca, LAB, media="application/x-pem-file"),
    Route("GET", "/_lab/device-mtls", idcerts.show, LAB),
    Route(
        "POST",
        "/_lab/device-mtls",
        idcerts.switch,
        LAB,
        body=Body(idcerts.SwitchBody, limit=_SMALL, types=LAB_TYPES, fix='send {"enabled": true}'),
    ),
    Route(
        "POST",
        "/_lab/instances/{piid}/id-cert",
        idcerts.drill,
        LAB,
        body=Body(
            idcerts.DrillBody, limit=_SMALL, types=LAB_TYPES, fix='send {"drill": "revoked"} (or foreign, expired)'
        ),
    ),
    Route("GET", "/_lab/pki/ocsp/{request}", pki.ocsp, LAB, media="application/ocsp-response"),
    openapi.document_route("/_lab/openapi.json", LAB, openapi.LAB_STYLE, documents=(LAB, Plane.PROBE)),
]

#: An On-Prem's link to the cloud (served by an On-Prem only).
ONPREM_ROUTES: list[Route] = [
    Route("GET", "/_lab/sync", views.sync_status, LAB),
    Route("POST", "/_lab/sync", views.sync_now, LAB),
]
