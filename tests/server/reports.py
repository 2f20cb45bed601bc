"""Usage reports as a test builds and sends them: a report, its signed body, the POST over TLS."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp

from shared import envelope, pki
from shared.catalog import LicenseKey
from shared.clock import epoch
from shared.messages import ReportUsage, Usage, UsageReport, decode_reply, encode
from shared.states import LicenseType, UsageMode
from tests.conftest import RunningSSM

PREMIUM_TAG = LicenseKey("Premium Agent", LicenseType.FLEX, UsageMode.PRODUCTION).tag


async def send(ssm: RunningSSM, pki_dir: Path, body: bytes, key: pki.PrivateKey, piid: str) -> tuple[int, object]:
    jws = envelope.sign_request(body, key, piid=piid, want_chain=True)
    ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            ssm.url + "/licservice/license", data=jws.encode(), headers={"Content-Type": "application/jose"}, ssl=ctx
        ) as r,
    ):
        if r.content_type == "application/json":
            return r.status, await r.json()
        text = await r.text()
        return r.status, decode_reply(envelope.verify(text, envelope.reply_chain(text)[0].public_key()))  # type: ignore[arg-type]


def report(
    ssm: RunningSSM,
    piid: str,
    *,
    n: int = 1,
    peak: int = 10,
    tag: str = PREMIUM_TAG,
    rid: str | None = None,
    start: int | None = None,
    end: int | None = None,
    usage: list[Usage] | None = None,
) -> UsageReport:
    e = end if end is not None else epoch(ssm.clock.now()) - (n - 1) * 900
    return UsageReport(
        report_id=rid or f"{piid}:{e}",
        interval_start=start if start is not None else e - 900,
        interval_end=e,
        usage=usage if usage is not None else [Usage(tag=tag, peak=peak)],
    )


def body(ssm: RunningSSM, piid: str, *reports: UsageReport, nonce: str | None = None) -> bytes:
    return encode(
        ReportUsage(
            sent_at=epoch(ssm.clock.now()), nonce=nonce or envelope.new_nonce(), piid=piid, reports=list(reports)
        )
    )
