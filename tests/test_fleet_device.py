"""The Locust fleet's product instance (``bench.fleet.device``) against a real SSM: it registers with
a CSR, reports each interval as it closes on the SSM's clock, verifies each reply, and counts a
report acknowledged only when the SSM names it accepted; the reports stored are those."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import requests

from bench.fleet.device import Device, Request
from plumbing.clients.device import ReplyVerifier


def _post(url: str, truststore: str, req: Request) -> str:
    answer = requests.post(
        url + "/licservice/license", data=req.body, headers={"Content-Type": req.ctype}, verify=truststore, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.text


async def test_a_fleet_device_registers_and_reports_each_closed_interval_once(ssm) -> None:  # type: ignore[no-untyped-def]
    device = Device(clock=ssm.clock, verifier=ReplyVerifier.from_file(ssm.truststore))
    trust = str(ssm.truststore)
    req = device.register(await ssm.token())
    registered = device.registered(req, await asyncio.to_thread(_post, ssm.url, trust, req))
    assert device.sim.piid == registered.piid
    assert device.closed_interval() is None  # nothing closed since the registration
    assert device.until_next(rate=900) <= 1.0  # at 900x an interval closes within a real second

    for _ in range(2):
        await ssm.clock.advance(timedelta(seconds=900))
        end = device.closed_interval()
        assert end is not None
        req = device.report(end)
        device.reported(req, await asyncio.to_thread(_post, ssm.url, trust, req))
        assert device.closed_interval() is None

    stored = await ssm.store.read(lambda uow: uow.usage.reports(device.sim.piid))
    assert sorted(r.report_id for r in stored) == sorted(device.acknowledged) and len(device.acknowledged) == 2

    again = await asyncio.to_thread(
        requests.post,
        ssm.url + "/licservice/license",
        data=req.body,
        headers={"Content-Type": req.ctype},
        verify=trust,
        timeout=10,
    )
    assert again.status_code != 200 and "replay" in again.text  # a replayed body is refused, never acknowledged
