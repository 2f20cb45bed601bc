"""SSM On-Prem's side of its link with the cloud SSM.

The On-Prem registers to a cloud Smart Account with a cloud token (``registration``), keeping the
link in its store (``link``); a synchronization (``exchange``) sends its product instances and the
total usage of each license over the network (``cloud``) in Connected mode, or in a file a person
carries in Disconnected mode, and applies the answer: the cloud's entitlements, in-use totals and
Out-of-Compliance dates become the state of the On-Prem's own pools, against which its own ledger
judges its instances (``pools``).

This package is the On-Prem's side; the cloud's side is ``server.satellite``.
"""

from server.deployment import ONPREM_ACCOUNT, ONPREM_DOMAIN
from server.onprem.exchange import (
    SyncResult,
    apply_response,
    build_request,
    export_request,
    import_response,
    sync_now,
)
from server.onprem.link import Link, again, load_link, require_link, seed_onprem, stale
from server.onprem.registration import default_name, register

__all__ = [
    "ONPREM_ACCOUNT",
    "ONPREM_DOMAIN",
    "Link",
    "SyncResult",
    "again",
    "apply_response",
    "build_request",
    "default_name",
    "export_request",
    "import_response",
    "load_link",
    "register",
    "require_link",
    "seed_onprem",
    "stale",
    "sync_now",
]
