"""Settings of one SSM process (parsed from the command line by ``server.cli``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from server.deployment import Kind, SyncMode
from server.store.location import PgUrl
from shared.policy import DEFAULT_POLICY, Policy


@dataclass(frozen=True, slots=True)
class ServerSettings:
    #: The store's kind (``server.deployment``; the app claims it when it opens the store).
    mode: Kind = Kind.CLOUD
    host: str = "127.0.0.1"
    port: int = 8443
    #: An On-Prem's separate admin listener (None: everything on one listener, as the cloud).
    admin_host: str = "127.0.0.1"
    admin_port: int | None = None
    #: On-Prem synchronization: on a schedule over the network, or by files carried by hand.
    sync: SyncMode = SyncMode.CONNECTED
    #: A SQLite file or a PostgreSQL URL (``server.store.location``); its ``parent`` holds our own files.
    db_path: Path | PgUrl = Path("var/ssm/ssm.db")
    certs: Path = Path("certs")
    policy: Policy = field(default=DEFAULT_POLICY)
    #: Largest device-plane request body accepted (bytes).
    max_device_body: int = 64 * 1024
    #: Largest body of any other request (bytes).
    max_body: int = 1024 * 1024
    #: ``--lab-exposed``: the lab plane answers non-loopback peers that send this token (None:
    #: loopback only). See ``plumbing.web.guard``.
    lab_token: str | None = None
    #: ``--workers``: how many processes answer the port (``server.workers``), and which one this is.
    workers: int = 1
    worker: int = 0
    #: ``--device-mtls``: the device plane demands the instances' ID certificates (``server.mtls``).
    device_mtls: bool = False
    #: ``--smtp HOST:PORT``: the server the notifications are e-mailed through (None: they wait).
    smtp: tuple[str, int] | None = None
    #: ``--smtp-from``: the e-mails' sender.
    smtp_from: str = "ssm@ssmlab.invalid"
