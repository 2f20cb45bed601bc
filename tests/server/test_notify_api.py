"""The lab plane's notification addresses, webhook subscriptions and delivery logs (issue 21), and
the ssm-server verbs over the same database: clear refusals that change nothing."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import RunningSSM


async def test_addresses_add_list_remove(ssm: RunningSSM) -> None:
    status, body = await ssm.lab("POST", "/_lab/notify-addresses", {"address": "NOC@Example.com"})
    assert (status, body["addresses"], body["added"]) == (201, ["noc@example.com"], True)
    status, body = await ssm.lab("POST", "/_lab/notify-addresses", {"address": "noc@example.com"})
    assert (status, body["added"]) == (200, False)
    status, body = await ssm.lab("POST", "/_lab/notify-addresses", {"address": "not an address"})
    assert (status, body["error"]) == (400, "invalid_address") and body["fix"]
    status, body = await ssm.lab("DELETE", "/_lab/notify-addresses/nobody@example.com")
    assert (status, body["error"]) == (404, "address_not_found")
    status, body = await ssm.lab("DELETE", "/_lab/notify-addresses/noc@example.com")
    assert (status, body["addresses"]) == (200, [])


async def test_webhook_secret_is_shown_once_and_refusals_change_nothing(ssm: RunningSSM) -> None:
    status, made = await ssm.lab("POST", "/_lab/webhooks", {"url": "http://127.0.0.1:9/hook"})
    assert status == 201 and made["secret"].startswith("whsec_") and len(made["secret"]) > 40
    status, listed = await ssm.lab("GET", "/_lab/webhooks")
    assert status == 200 and [w["id"] for w in listed] == [made["id"]]
    assert all("secret" not in w for w in listed)
    before = ssm.snapshot()
    for body, code in (
        ({"url": "ftp://127.0.0.1/x"}, "invalid_webhook_url"),
        ({"url": "/relative"}, "invalid_webhook_url"),
    ):
        status, err = await ssm.lab("POST", "/_lab/webhooks", body)
        assert (status, err["error"]) == (400, code)
    status, err = await ssm.lab("POST", "/_lab/webhooks", {"url": "http://127.0.0.1:9/", "account": "nobody.example"})
    assert (status, err["error"]) == (404, "account_not_found")
    status, err = await ssm.lab("GET", "/_lab/webhooks/99/deliveries")
    assert (status, err["error"]) == (404, "webhook_not_found")
    status, err = await ssm.lab("DELETE", "/_lab/webhooks/x1")
    assert (status, err["error"]) == (400, "invalid_webhook_id")
    assert ssm.snapshot() == before
    status, _ = await ssm.lab("DELETE", f"/_lab/webhooks/{made['id']}")
    assert status == 200
    status, listed = await ssm.lab("GET", "/_lab/webhooks")
    assert listed == []
    status, kept = await ssm.lab("GET", f"/_lab/webhooks/{made['id']}/deliveries")
    assert status == 200 and isinstance(kept, list)  # a removed subscription keeps its log, readable
    status, log = await ssm.lab("GET", "/_lab/mail")
    assert (status, log) == (200, [])


def test_the_cli_verbs(tmp_path: object) -> None:
    db = f"{tmp_path}/ssm.db"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "server", *args, "--db", db], capture_output=True, text=True, check=False
        )

    assert run("account", "create", "--domain", "acme.example", "--name", "Acme").returncode == 0
    added = run("notify-address", "add", "noc@acme.example", "--account", "acme.example")
    assert added.returncode == 0, added.stderr
    assert run("notify-address", "list", "--account", "acme.example").stdout.split() == ["noc@acme.example"]
    hook = run("webhook", "add", "--url", "http://127.0.0.1:9/hook", "--account", "acme.example")
    secret = hook.stdout.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    listing = run("webhook", "list")
    assert "http://127.0.0.1:9/hook" in listing.stdout and secret not in listing.stdout
    bad = run("webhook", "add", "--url", "ftp://x")
    assert bad.returncode == 2 and "fix:" in bad.stderr
    assert "no delivery attempts" in run("webhook", "deliveries", "1").stdout
    assert run("webhook", "remove", "1").returncode == 0
    assert run("webhook", "remove", "1").returncode == 2
