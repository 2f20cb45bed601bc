"""What every device-plane operation of one SSM works with: its store, clock, policy, lab PKI and
the identities of its signers. One object per SSM, built by ``server.registry.Registry``."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field

from cryptography import x509

from server.identity import Identity
from server.mtls import DeviceMtls
from server.pki_files import LabPki
from server.store import Store
from shared import pki, watch
from shared.clock import AnyClock
from shared.policy import Policy
from shared.states import AuthorizationStatus


@functools.lru_cache(maxsize=8)
def _pem(cert: x509.Certificate) -> str:
    return pki.cert_pem(cert).decode()  # the same issuer for every registration: encoded once


@dataclass
class Context:
    store: Store
    clock: AnyClock
    policy: Policy
    pki: LabPki
    identity: Identity
    #: Mutual TLS on the device plane: what instances present, and the revoked ID certificates.
    mtls: DeviceMtls = field(default_factory=DeviceMtls)
    #: Set whenever an instance's next watch instant may have moved earlier.
    watch_changed: asyncio.Event = field(default_factory=asyncio.Event)

    def issuer_chain(self) -> list[str]:
        """The PEM chain sent with a new ID certificate."""
        return [_pem(self.pki.issuer.cert)]

    def next_check(self, *, registered_at: int, authorized_at: int | None, contact: int) -> int | None:
        """When the watch must next look at an instance that just made contact."""
        return watch.next_check(
            watch.Watched(registered_at, authorized_at, contact, AuthorizationStatus.AUTHORIZED, None), self.policy
        )
