"""``ssm-server run --workers 2`` (issue 20, item 3): two processes answer one port and share the
store. One instance's reports, each on a new connection, land on both workers, and what must be
exact stays exact: over-usage is counted across them interval by interval (Out of Compliance at the
fifth over-usage interval, not before), a replayed request is refused by either, every report is
stored once. The lab plane's one-process controls are refused with their fix."""

from __future__ import annotations

import json
import sqlite3
import ssl
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization

from agent.fleet import PREMIUM
from shared import envelope, pki
from shared.clock import epoch
from shared.messages import (
    Identity,
    Register,
    Registered,
    ReportUsage,
    Usage,
    UsageAccepted,
    UsageReport,
    decode_reply,
    encode,
)
from shared.states import LicenseType, UsageMode
from tests.conftest import MakeAgent, RunningSSM
from tests.e2e.running import cli, stop, wait_for_file


class Client:
    """Each request on a new TLS connection, so the kernel may hand it to either worker."""

    def __init__(self, url: str, truststore: Path) -> None:
        self.url = url
        self.ctx = ssl.create_default_context(cafile=str(truststore))
        self.workers: set[str] = set()

    async def call(self, method: str, path: str, data: bytes | None = None, ctype: str = "") -> tuple[int, Any, str]:
        headers = {"Content-Type": ctype} if ctype else {}
        connector = aiohttp.TCPConnector(ssl=self.ctx, force_close=True)
        async with (
            aiohttp.ClientSession(connector=connector) as s,
            s.request(method, self.url + path, data=data, headers=headers) as r,
        ):
            self.workers.add(r.headers.get("X-SSM-Worker", "?"))
            return r.status, r.content_type, await r.text()

    async def device(self, body: bytes, ctype: str) -> tuple[int, Any]:
        status, _, text = await self.call("POST", "/licservice/license", body, ctype)
        if status != 200:
            return status, json.loads(text)
        signed = envelope.parse(text)
        return status, decode_reply(envelope.verify(signed, envelope.reply_chain(signed)[0].public_key()))  # type: ignore[arg-type]


@pytest.mark.e2e
async def test_two_workers_share_one_port_and_stay_exact(tmp_path: Path, pki_dir: Path) -> None:
    db = tmp_path / "ssm.db"
    port_file = tmp_path / "ssm.port"
    proc = subprocess.Popen(
        [cli("ssm-server"), "run", "--workers", "2", "--listen", "127.0.0.1:0", "--port-file", str(port_file),
         "--db", str(db), "--certs", str(pki_dir), "--log-format", "json", "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        port = wait_for_file(port_file, proc)
        client = Client(f"https://127.0.0.1:{port}", pki_dir / "truststore.pem")
        token = subprocess.run(
            [cli("ssm-server"), "token", "create", "--db", str(db), "--va", "DEFAULT", "-q"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip

        key = pki.new_key()
        reg = Register(
            sent_at=int(time.time()),
            nonce=envelope.new_nonce(),
            token=token,
            csr=pki.make_csr(key, common_name="wk-1", serial_number="WORKERS01").decode(),
            identity=Identity(
                instance_name="wk-1", product="CVP", udi_pid="CVP", serial_number="WORKERS01",
                hostname="wk-1.lab", deployment_type="CVP", license_type=LicenseType.FLEX,
                usage_mode=UsageMode.PRODUCTION,
            ),
        )  # fmt: skip
        status, registered = await client.device(encode(reg), "application/json")
        assert status == 200 and isinstance(registered, Registered)
        piid = registered.piid

        status, _, pools = await client.call("GET", "/_lab/pools")
        premium = next(p for p in json.loads(pools) if p["tag"] == PREMIUM and p["virtual_account"] == "DEFAULT")
        over = premium["purchased"] + 5

        start = int(time.time())
        bodies, verdicts = [], []
        for k in range(1, 7):
            end = start + k
            msg = ReportUsage(
                sent_at=int(time.time()),
                nonce=envelope.new_nonce(),
                piid=piid,
                reports=[UsageReport(f"{piid}:{end}", end - 900, end, [Usage(PREMIUM, over)])],
            )
            body = envelope.sign_request(encode(msg), key, piid=piid, want_chain=True).encode()
            bodies.append(body)
            status, reply = await client.device(body, envelope.CONTENT_TYPE)
            assert status == 200 and isinstance(reply, UsageAccepted), reply
            verdicts.append(reply.out_of_compliance_since is not None)
        assert verdicts == [False, False, False, False, True, True]  # the fifth over-usage interval

        for _ in range(6):  # a replay is refused whichever worker gets it
            status, err = await client.device(bodies[0], envelope.CONTENT_TYPE)
            assert (status, err["error"]) == (401, "request_replayed")

        status, _, text = await client.call("POST", "/_lab/clock", b'{"advance": "1d"}', "application/json")
        assert status == 409, text
        assert (status, json.loads(text)["error"]) == (409, "lab_needs_one_worker")
        assert "--workers 1" in json.loads(text)["fix"]
        status, _, _ = await client.call("GET", "/_lab/info")
        assert status == 200
        for _ in range(20):
            if client.workers >= {"0", "1"}:
                break
            await client.call("GET", "/_lab/health")
        assert client.workers == {"0", "1"}
    finally:
        err = stop(proc)
    assert "2 worker processes answer port" in err
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT COUNT(*) FROM usage_reports WHERE piid = ?", (piid,)).fetchone()[0]
    assert stored == 6
    left = subprocess.run(["pgrep", "-f", f"--worker-of {proc.pid}:"], capture_output=True, text=True)
    assert left.stdout.strip() == "", "a worker outlived the first process"


async def test_a_key_renewed_by_another_process_is_read_again(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Worker A cached an instance; worker B stored its renewed ID certificate: A's next request
    signed with the new key is verified against the row read again, not refused."""
    running = await make_agent()
    runner = running.agent.runner(None)
    await runner.register(await ssm.token())
    await running.agent.stop()
    piid, old = runner.state.piid or "", runner.key
    assert old is not None

    async def send(key: pki.PrivateKey) -> int:
        await ssm.clock.advance(timedelta(minutes=1))
        end = epoch(ssm.clock.now())
        report = UsageReport(f"{piid}:{end}", end - 900, end, [Usage(PREMIUM, 1)])
        msg = ReportUsage(sent_at=end, nonce=envelope.new_nonce(), piid=piid, reports=[report])
        status, _ = await ssm.post(envelope.sign_request(encode(msg), key, piid=piid).encode(), envelope.CONTENT_TYPE)
        return status

    assert await send(old) == 200  # the SSM (worker A) now holds the instance in its cache
    new = pki.new_key()
    public = new.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    await ssm.store.write(  # what worker B's registration renewal writes
        lambda u: u.instances.renew_certificate(
            piid, public_key=public, cert_pem="", cert_serial="renewed-elsewhere", issued_at=0, expires_at=2**40
        )
    )
    assert await send(new) == 200
    assert await send(pki.new_key()) == 401  # a key nobody stored is still refused
