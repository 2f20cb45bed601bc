"""What the lab plane keeps per SSM app (no globals): injected faults, the request journal, and
the Prometheus registry with its metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from server.lab.recording import Journal
from shared import faults

VERSION = "0.1.0"


@dataclass
class LabState:
    """Per-app lab state: faults, the journal ring, metrics."""

    faults: faults.FaultTable = field(default_factory=faults.FaultTable)
    journal: Journal = field(default_factory=Journal)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        pool_labels = ["virtual_account", "license", "license_type", "usage_mode"]
        self.requests = Counter("ssm_requests", "Device-plane requests", ["kind", "status"], registry=r)
        self.faults_injected = Counter("ssm_faults_injected", "Requests hit by an injected fault", ["kind"], registry=r)
        self.pool_in_use = Gauge("ssm_pool_in_use", "Licenses in use per pool", pool_labels, registry=r)
        self.pool_purchased = Gauge("ssm_pool_purchased", "Licenses purchased per pool", pool_labels, registry=r)
        self.pool_ooc = Gauge(
            "ssm_pool_out_of_compliance", "1 while a pool is Out of Compliance", pool_labels, registry=r
        )
        self.instances = Gauge("ssm_instances", "Registered product instances per status", ["status"], registry=r)
        self.notifications = Gauge("ssm_notifications", "Notifications in the outbox per kind", ["kind"], registry=r)


LAB = web.AppKey("lab", LabState)
