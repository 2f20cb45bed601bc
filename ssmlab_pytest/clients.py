"""What a test holds: ``SSM`` (the ``ssm`` fixture) and ``SmartAgent`` (the ``smart_agent`` fixture).

Both talk HTTP to the lab, in-process or subprocess alike (``ssmlab_pytest.inprocess``,
``ssmlab_pytest.processes``); errors are ``plumbing.clients.lab.LabError`` with the server's
``message``, ``fix`` and ``code``.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from lab import clock as lockstep
from plumbing.clients.lab import LabError, call
from ssmlab_pytest.backend import Backend

SNAPSHOT = "ssmlab-pytest-start"


class AdminAPI:
    """The SSM's admin API (Cisco's REST API) as an OAuth2 client of its own: every call carries
    a fresh-enough bearer token, and the certificate is verified against the lab CA."""

    def __init__(self, ssm: SSM) -> None:
        self._ssm = ssm
        creds = json.loads(ssm.backend.api_client_file.read_text())
        self.client_id: str = creds["client_id"]
        self.client_secret: str = creds["client_secret"]
        self._token: str | None = None

    def access_token(self) -> str:
        """A new access token (client credentials grant at ``/as/token.oauth2``)."""
        status, body = self.request(
            "POST",
            "/as/token.oauth2",
            {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret},
            auth=False,
        )
        if status != 200:
            raise LabError(f"the SSM refused the lab's API client: {body}", code="invalid_client")
        self._token = str(body["access_token"])
        return self._token

    def forget(self) -> None:
        self._token = None

    def request(
        self, method: str, path: str, body: object = None, *, auth: bool = True, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """(status, decoded JSON or text) of one call; errors are answers here, not exceptions."""
        sent = dict(headers or {})
        if auth:
            sent.setdefault("Authorization", f"Bearer {self._token or self.access_token()}")
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self._ssm.url + path, data=data, method=method, headers=sent)  # noqa: S310
        ctx = ssl.create_default_context(cafile=str(self._ssm.ca_bundle))
        try:
            with urllib.request.urlopen(req, timeout=60, context=ctx) as resp:  # noqa: S310 (https to the lab)
                status, raw, ctype = resp.status, resp.read(), resp.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            status, raw, ctype = exc.code, exc.read(), exc.headers.get_content_type()
        return status, (json.loads(raw or b"null") if ctype == "application/json" else raw.decode(errors="replace"))

    def get(self, path: str) -> Any:
        """GET ``path``; the JSON answer, or LabError when it is not a 2xx."""
        return self._ok(*self.request("GET", path))

    def post(self, path: str, body: object = None) -> Any:
        return self._ok(*self.request("POST", path, body))

    @staticmethod
    def _ok(status: int, body: Any) -> Any:
        if not 200 <= status < 300:
            raise LabError(f"HTTP {status}: {body}", code=str(status))
        return body


class SSM:
    """A running SSM (cloud mode) with its own lab PKI, store and virtual clock, on loopback.

    ``url``, ``port``, ``ca_bundle`` (pass it as ``verify=`` to requests/httpx), ``api`` (the admin
    API with credentials), and helpers: ``token``, ``buy``, ``advance``, ``now``, ``fault``,
    ``clear_faults``, ``tls``, ``journal``, ``verify``, ``instances``, ``pools``, ``lab``."""

    def __init__(self, backend: Backend, mode: str) -> None:
        self.backend = backend
        self.mode = mode
        self.url = backend.ssm_url
        self.port = int(urllib.parse.urlsplit(self.url).port or 443)
        self.ca_bundle: Path = backend.ca_bundle
        self.api = AdminAPI(self)
        self._tls = "good"  # the TLS drill each test starts with (save_start reads it)
        self._clocks = [
            lockstep.Endpoint("ssm", self.url, insecure=True),
            lockstep.Endpoint("agent", backend.agent_url),
        ]

    def lab(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A call to the SSM's lab plane (``/_lab/...``); its certificate is not verified there,
        since a TLS drill may break it on purpose."""
        return call(self.url + path, method, body, insecure=True, timeout=120)

    def token(self, va: str = "DEFAULT", *, days: int | None = None, uses: int | None = None) -> str:
        """A new registration token of the lab account's virtual account ``va``."""
        body: dict[str, Any] = {"va": va}
        if days is not None:
            body["days"] = days
        if uses is not None:
            body["uses"] = uses
        return str(self.lab("POST", "/_lab/tokens", body)["token"])

    def buy(
        self,
        license: str,
        quantity: int,
        *,
        license_type: str = "Flex",
        usage_mode: str = "Production",
        va: str = "DEFAULT",
    ) -> int:
        """Purchase licenses into ``va``; returns the pool's purchased total."""
        body = {"name": license, "quantity": quantity, "license_type": license_type, "usage_mode": usage_mode, "va": va}
        return int(self.lab("POST", "/_lab/licenses", body)["purchased"])

    def now(self) -> datetime:
        """The SSM's domain time."""
        return datetime.fromisoformat(self.lab("GET", "/_lab/clock")["now"])

    def advance(self, duration: str) -> datetime:
        """Move the SSM's and the agent's clocks together (``"15m"``, ``"36h"``, ``"30d"``, ``"P1Y"``):
        every timer on either side fires at its own instant. Returns the time reached."""
        reached, _steps = lockstep.advance(self._clocks, duration)
        return reached

    def fault(self, kind: str = "status", **spec: Any) -> dict[str, Any]:
        """Inject a fault (as ``ssmlab fault add``): ``status=503``, ``path="/as/token.oauth2"``,
        ``piid=...``, ``message="authorization"``, ``times=1``, ``ttl="2h"``... Returns it (its ``id``)."""
        return dict(self.lab("POST", "/_lab/faults", {"kind": kind, **spec}))

    def clear_faults(self) -> None:
        self.lab("DELETE", "/_lab/faults")

    def tls(self, mode: str) -> dict[str, Any]:
        """Serve a TLS drill (``expired``, ``wrong-host``, ``untrusted-root``..., ``good`` to go back)."""
        return dict(self.lab("POST", "/_lab/tls", {"mode": mode}))

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        """The journalled requests, oldest first; filters as ``GET /_lab/journal`` takes them:
        ``path``, ``method``, ``instance``, ``since``, ``until``, ``limit``."""
        query = urllib.parse.urlencode({k: v for k, v in filters.items() if v is not None})
        return list(self.lab("GET", "/_lab/journal" + (f"?{query}" if query else "")))

    def verify(
        self,
        *,
        count: int | None = None,
        at_least: int | None = None,
        at_most: int | None = None,
        **filters: Any,
    ) -> int:
        """Assert how many journalled requests match ``filters`` (as ``journal``); returns the count."""
        query = urllib.parse.urlencode({k: v for k, v in filters.items() if v is not None})
        found = int(self.lab("GET", "/_lab/journal/count" + (f"?{query}" if query else ""))["count"])
        wanted = [
            f"{word} {n}"
            for word, n, ok in (
                ("exactly", count, count is None or found == count),
                ("at least", at_least, at_least is None or found >= at_least),
                ("at most", at_most, at_most is None or found <= at_most),
            )
            if not ok
        ]
        assert not wanted, f"{found} request(s) matched {filters}, expected {' and '.join(wanted)}"
        return found

    def reset_journal(self) -> None:
        self.lab("DELETE", "/_lab/journal")

    def instances(self) -> list[dict[str, Any]]:
        """The product instances the SSM knows (the first 100, in registration order)."""
        return list(self.lab("GET", "/_lab/instances")["instances"])

    def pools(self, va: str | None = None) -> list[dict[str, Any]]:
        """The license pools (purchased, in use, status) of every virtual account, or of ``va``."""
        return list(self.lab("GET", "/_lab/pools" + (f"?va={urllib.parse.quote(va)}" if va else "")))

    # -- between tests --------------------------------------------------------------------------
    def save_start(self, agent: SmartAgent) -> None:
        """Remember this moment on both sides (the state every function-scoped test starts from)."""
        self.lab("POST", "/_lab/snapshot", {"name": SNAPSHOT})
        agent.lab("POST", "/_lab/snapshot", {"name": SNAPSHOT})
        self._tls = next((m["mode"] for m in self.lab("GET", "/_lab/tls")["modes"] if m.get("current")), "good")

    def back_to_start(self, agent: SmartAgent) -> None:
        """Back to ``save_start``: stores, clocks, no faults, the first TLS mode, an empty journal."""
        self.clear_faults()
        if next((m["mode"] for m in self.lab("GET", "/_lab/tls")["modes"] if m.get("current")), None) != self._tls:
            self.tls(self._tls)
        for endpoint in self._clocks:
            endpoint.post({"rate": 0})
        agent.lab("POST", "/_lab/restore", {"name": SNAPSHOT})
        self.lab("POST", "/_lab/restore", {"name": SNAPSHOT})
        self.reset_journal()
        self.api.forget()

    def close(self) -> None:
        for endpoint in self._clocks:
            endpoint.close()


class SmartAgent:
    """A running Smart Agent whose product instances trust the ``ssm`` fixture's SSM (its
    truststore is the lab CA; Cisco's host names resolve to the SSM's port).

    ``url`` (its local API), ``names`` (the instances), and helpers: ``register``, ``deregister``,
    ``renew``, ``status``, ``set_usage``, ``consumption``, ``call``, ``lab``."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.url = backend.agent_url
        self.names = [str(i["name"]) for i in backend.instances]

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A call to the agent's local API (``/api/v1/...``)."""
        return call(self.url + path, method, body, timeout=120)

    lab = call

    def _one(self, name: str | None) -> str:
        return f"/api/v1/instances/{urllib.parse.quote(name or self.names[0])}"

    def register(self, name: str | None = None, token: str = "") -> dict[str, Any]:
        """Register instance ``name`` (default: the first) with a token (``ssm.token()``)."""
        return dict(self.call("POST", self._one(name) + "/register", {"token": token}))

    def deregister(self, name: str | None = None) -> dict[str, Any]:
        return dict(self.call("POST", self._one(name) + "/deregister"))

    def renew(self, name: str | None = None, what: str = "authorization") -> dict[str, Any]:
        """Renew the authorization (or ``what="registration"``) now."""
        return dict(self.call("POST", self._one(name) + f"/renew-{what}"))

    def status(self, name: str | None = None) -> dict[str, Any]:
        """The instance's status (``registration``, ``authorization``, ...)."""
        return dict(self.call("GET", self._one(name) + "/status"))

    def set_usage(self, name: str, usage: dict[str, int]) -> dict[str, Any]:
        """Set how many of each license instance ``name`` uses (``{"Premium Agent": 130}``); the
        SSM sees it at the instance's next usage report (every 15 minutes)."""
        return dict(self.call("PUT", self._one(name) + "/usage", dict(usage)))

    def consumption(self, name: str | None = None) -> dict[str, Any]:
        return dict(self.call("GET", self._one(name) + "/consumption"))
