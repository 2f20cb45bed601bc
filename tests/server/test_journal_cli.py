"""``ssmlab journal verify | reset | export | replay`` against an SSM given by ``--url`` (issue 18,
items 3 and 4)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from lab.cli import main
from server import apiclients
from server.pki_files import LabPki
from shared.clock import VirtualClock
from tests.conftest import START, MakeAgent, RunningSSM, serve_ssm
from tests.server.conftest import Api

LEGACY_VAS = "/services/api/smart-accounts-and-licensing/v1/accounts/lab.ssmlab.example/customer/virtual-accounts"
Run = Any


@pytest.fixture
def ssmlab(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    """``ssmlab ARGS`` in a thread (the SSM serves on this loop): (exit status, its own lines)."""

    async def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = await asyncio.to_thread(main, ["--dir", str(tmp_path / "no-lab"), *args])
        out, err = capsys.readouterr()
        # the in-process SSM logs to the same stdout: keep what the command printed
        mine = [line for line in out.splitlines() if not line.startswith("20")]
        return code, "\n".join(mine), err

    return run


async def test_verify_counts_and_says_what_it_expected(ssm: RunningSSM, ssmlab: Run) -> None:
    for _ in range(3):
        assert (await ssm.lab("POST", "/_lab/tokens", {}))[0] == 201
    ok = await ssmlab(
        "journal", "verify", "--url", ssm.url, "--path", "/_lab/tokens", "--method", "POST", "--count", "3"
    )
    assert ok[0] == 0 and "ok: 3 request(s) matched" in ok[1]
    code, out, _ = await ssmlab("journal", "verify", "--url", ssm.url, "--path", "/_lab/tokens", "--count", "2")
    assert code == 1 and "verification failed: 3 request(s) matched (path=/_lab/tokens), expected exactly 2" in out
    assert (await ssmlab("journal", "verify", "--url", ssm.url, "--path", "/_lab/*", "--at-least", "3"))[0] == 0
    code, out, _ = await ssmlab("journal", "verify", "--url", ssm.url, "--path", "/_lab/*", "--at-most", "1")
    assert code == 1 and "expected at most 1" in out
    code, _, err = await ssmlab("journal", "verify", "--url", ssm.url)
    assert code == 2 and "--count" in err
    code, out, _ = await ssmlab("journal", "reset", "--url", ssm.url)
    assert code == 0 and "3 request(s) removed" in out
    code, out, _ = await ssmlab("journal", "verify", "--url", ssm.url, "--path", "/_lab/tokens", "--count", "0")
    assert code == 0


async def record(ssm: RunningSSM, api: Api, make_agent: MakeAgent) -> None:
    """What a test of a product might do: the admin API, purchases, time, a token, a device."""
    await api.login()
    assert (await api.call("GET", LEGACY_VAS))[0] == 200
    body = {"name": "Premium Agent", "quantity": 5}
    assert (await ssm.lab("POST", "/_lab/licenses", body))[1]["purchased"] == 105
    assert (await ssm.lab("POST", "/_lab/clock", {"advance": "1d"}))[0] == 200
    status, made = await ssm.lab("POST", "/_lab/tokens", {"days": 7})
    assert status == 201
    await (await make_agent()).agent.runner(None).register(made["token"])
    assert (await ssm.lab("POST", "/_lab/licenses", {"name": "Wizard", "quantity": -1}))[0] == 400


async def test_export_and_replay_against_a_fresh_ssm(
    ssm: RunningSSM, api: Api, make_agent: MakeAgent, ssmlab: Run, tmp_path: Path, lab_pki: LabPki, pki_dir: Path
) -> None:
    await record(ssm, api, make_agent)
    export = tmp_path / "lab.jsonl"
    code, out, _ = await ssmlab("journal", "export", str(export), "--url", ssm.url)
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert code == 0 and f"exported {len(lines)} request(s)" in out
    assert (lines[0]["at"], lines[-1]["at"]) == ("2026-01-05T09:00:00+00:00", "2026-01-06T09:00:00+00:00")
    assert api.secret not in export.read_text() and api.token not in export.read_text()
    code, _, err = await ssmlab("journal", "replay", str(export), "--url", ssm.url)  # its clock is a day on
    assert code == 1 and "is past the recording's first request" in err and "fix: start a fresh SSM" in err

    async with serve_ssm(tmp_path / "fresh", VirtualClock(START), lab_pki, pki_dir) as fresh:
        client = await apiclients.create(fresh.store, name="replay", now=START)
        creds = tmp_path / "client.json"
        creds.write_text(json.dumps({"client_id": client.client_id, "client_secret": client.client_secret}))
        args = ("journal", "replay", str(export), "--url", fresh.url, "--api-client", str(creds), "--verbose")
        code, out, err = await ssmlab(*args, "--cacert", str(pki_dir / "truststore.pem"))
        assert code == 0, out + err
        device = sum(e["kind"] != "lab" for e in lines)
        assert f"replayed {len(lines)} request(s): {len(lines) - device} same, 0 differ, {device} skipped" in out
        assert "POST /licservice/license: skipped: a device request" in out
        assert (await fresh.lab("GET", "/_lab/clock"))[1]["now"] == "2026-01-06T09:00:00+00:00"

    async with serve_ssm(tmp_path / "changed", VirtualClock(START), lab_pki, pki_dir) as changed:
        await changed.lab("POST", "/_lab/licenses", {"name": "Premium Agent", "quantity": 1})
        await changed.lab("DELETE", "/_lab/journal")
        code, out, _ = await ssmlab("journal", "replay", str(export), "--url", changed.url)
        assert code == 1
        assert "POST /_lab/licenses: differs: reply.purchased: 105 -> 106" in out
        assert "skipped: it carried an Authorization (masked): give --api-client" in out
        assert "1 differ" in out
