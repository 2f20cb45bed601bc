"""Mutual TLS on the device plane (issue 19): the SSM demands each registered instance's ID
certificate, judges it on the domain clock, shows what each presented; the three ID-certificate
drills (revoked, another product's CA, expired) refuse the instance with a diagnosis, and
registering again with a new token fixes each."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import pytest

from agent.instance import InstanceRunner
from shared import clientcert, pki
from shared.errors import BadRequest, RemoteError, SmartLicensingError, Unauthorized
from shared.states import AuthorizationStatus
from tests.conftest import MakeAgent, RunningSSM
from tests.server.conftest import registered_runner


async def mtls(ssm: RunningSSM, on: bool = True) -> dict[str, Any]:
    status, view = await ssm.lab("POST", "/_lab/device-mtls", {"enabled": on})
    assert status == 200, view
    return dict(view)


async def presented(ssm: RunningSSM, piid: str) -> dict[str, Any]:
    status, view = await ssm.lab("GET", "/_lab/device-mtls")
    assert status == 200
    return dict(view["presented"].get(piid) or {})


async def test_a_registered_instance_presents_its_id_certificate_once_demanded(
    ssm: RunningSSM, make_agent: MakeAgent
) -> None:
    """Without --device-mtls nothing is asked or recorded; once demanded, the agent's next renewal
    presents the instance's ID certificate (after one client_cert_missing) and the SSM records it."""
    inst = await registered_runner(ssm, make_agent)
    piid = inst.state.piid
    assert piid
    await inst.renew_authorization()
    assert await presented(ssm, piid) == {}
    assert not inst.transport.present_id_certs

    await mtls(ssm)
    status = await inst.renew_authorization()
    assert status.license_authorization_status is AuthorizationStatus.AUTHORIZED
    assert status.reason is None
    assert inst.transport.present_id_certs
    seen = await presented(ssm, piid)
    assert inst.cert_pem
    cert = pki.load_cert(inst.cert_pem.encode())
    assert seen["serial"] == clientcert.serial_of(cert) and seen["verdict"] == "ok"
    assert seen["issuer"] == "ssmlab Issuing CA" and seen["fingerprint"] == pki.fingerprint(cert)


async def test_a_signed_request_without_a_certificate_is_refused_with_a_fix(
    ssm: RunningSSM, make_agent: MakeAgent
) -> None:
    """A client that presents nothing gets 401 client_cert_missing (its nonce unused: the same
    request sent again with the certificate is answered)."""
    inst = await registered_runner(ssm, make_agent)
    await mtls(ssm)
    assert inst.key is not None and inst.state.piid
    from shared import envelope
    from shared.messages import Authorize

    msg = Authorize(sent_at=int(ssm.clock.now().timestamp()), nonce=envelope.new_nonce(), piid=inst.state.piid)
    with pytest.raises(RemoteError) as err:
        await inst.transport.send(msg, inst.key)  # no certificate to present
    assert err.value.code == "client_cert_missing" and err.value.remote_status == 401
    assert "--device-mtls" in err.value.fix
    reply = await inst.transport.send(msg, inst.key, cert_pem=inst.cert_pem)  # the same nonce: not used up
    assert reply is not None


async def refused(inst: InstanceRunner, code: str) -> SmartLicensingError:
    with pytest.raises(SmartLicensingError) as err:
        await inst.renew_authorization()
    assert err.value.code == code, err.value
    return err.value


async def _refused_then_fixed(ssm: RunningSSM, inst: InstanceRunner, code: str, *, words: str) -> dict[str, Any]:
    await refused(inst, code)
    reason = inst.status().reason
    assert reason is not None and reason.code == code, reason
    assert words in reason.message, reason.message
    assert "reregister" in reason.fix
    # the fix: a new token, a new ID certificate
    fixed = await inst.register(await ssm.token(), force=True)
    assert fixed.reason is None, fixed.reason
    again = await inst.renew_authorization()
    assert again.reason is None and again.license_authorization_status is AuthorizationStatus.AUTHORIZED
    return await presented(ssm, inst.state.piid or "")


async def test_revoked_id_certificate_drill(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    inst = await registered_runner(ssm, make_agent)
    await mtls(ssm)
    await inst.renew_authorization()
    piid = inst.state.piid
    status, answer = await ssm.lab("POST", f"/_lab/instances/{piid}/id-cert", {"drill": "revoked"})
    assert status == 200, answer
    assert answer["serial"] == clientcert.serial_of(pki.load_cert((inst.cert_pem or "").encode()))
    _, view = await ssm.lab("GET", "/_lab/device-mtls")
    assert answer["serial"] in view["revoked"]
    seen = await _refused_then_fixed(ssm, inst, "client_cert_revoked", words="revoked by the SSM")
    assert seen["verdict"] == "ok" and seen["serial"] != answer["serial"]


async def test_expired_id_certificate_drill(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    inst = await registered_runner(ssm, make_agent)
    await mtls(ssm)
    piid = inst.state.piid
    status, answer = await ssm.lab("POST", f"/_lab/instances/{piid}/id-cert", {"drill": "expired"})
    assert status == 200, answer
    await inst.install_id_cert(answer["pem"])
    await refused(inst, "client_cert_expired")
    seen = await presented(ssm, piid or "")
    assert seen["verdict"] == "client_cert_expired" and seen["serial"] == answer["serial"]
    await _refused_then_fixed(ssm, inst, "client_cert_expired", words="expired at")


async def test_foreign_id_certificate_drill_is_refused_in_the_handshake(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """An ID certificate of another product's CA never reaches a handler: OpenSSL refuses it; the
    agent tries once without it, sees the SSM demand one, and says its certificate was refused."""
    inst = await registered_runner(ssm, make_agent)
    await mtls(ssm)
    await inst.renew_authorization()
    piid = inst.state.piid
    status, answer = await ssm.lab("POST", f"/_lab/instances/{piid}/id-cert", {"drill": "foreign"})
    assert status == 200 and answer["issuer"] == "ssmlab Other Product CA", answer
    await inst.install_id_cert(answer["pem"])
    before = await presented(ssm, piid or "")
    err = await refused(inst, "id_cert_refused")
    assert "ssmlab Other Product CA" in err.message
    assert await presented(ssm, piid or "") == before  # the handshake refused it: no handler saw it
    await _refused_then_fixed(ssm, inst, "id_cert_refused", words="in the TLS handshake")


async def test_without_mutual_tls_a_revoked_id_certificate_still_signs_for_nobody(
    ssm: RunningSSM, make_agent: MakeAgent
) -> None:
    """The revoked drill works without --device-mtls too (the SSM knows the serial it issued); the
    drills that change what is presented in the handshake are refused while none is asked for."""
    inst = await registered_runner(ssm, make_agent)
    piid = inst.state.piid
    status, body = await ssm.lab("POST", f"/_lab/instances/{piid}/id-cert", {"drill": "foreign"})
    assert status == 409 and body["error"] == "device_mtls_off" and "mtls on" in body["fix"]
    status, answer = await ssm.lab("POST", f"/_lab/instances/{piid}/id-cert", {"drill": "revoked"})
    assert status == 200, answer
    await _refused_then_fixed(ssm, inst, "client_cert_revoked", words="signs for nobody")


async def test_a_certificate_for_another_key_is_refused_by_the_agent(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    inst = await registered_runner(ssm, make_agent)
    other = pki.make_ca("not the instance's key", not_before=ssm.clock.now(), not_after=ssm.clock.now())
    with pytest.raises(BadRequest) as err:
        await inst.install_id_cert(other.cert_pem().decode())
    assert err.value.code == "id_cert_invalid"


async def test_id_certificate_drills_refuse_unknown_instances_and_drills(ssm: RunningSSM) -> None:
    status, body = await ssm.lab("POST", "/_lab/instances/NOPE/id-cert", {"drill": "revoked"})
    assert status == 404 and body["error"] == "instance_not_found"
    status, body = await ssm.lab("POST", "/_lab/instances/NOPE/id-cert", {"drill": "stolen"})
    assert status == 400 and "fix" in body


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line")
async def test_openssl_sees_the_certificate_request_and_its_ca_names(ssm: RunningSSM) -> None:
    """With --device-mtls the handshake asks for a client certificate (naming the lab's CAs) but
    does not demand one: a client without one still gets its answer."""
    await mtls(ssm)
    proc = await asyncio.create_subprocess_exec(
        "openssl",
        "s_client",
        "-connect",
        f"127.0.0.1:{ssm.port}",
        "-CAfile",
        str(ssm.truststore),
        "-ign_eof",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(
        proc.communicate(b"GET /_lab/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 30
    )
    text = out.decode(errors="replace")
    assert "Requested Signature Algorithms" in text, text
    assert "HTTP/1.1 200" in text
    await mtls(ssm, on=False)


def test_judge_table(lab_pki: Any) -> None:
    """shared.clientcert.judge: each refusal, in its order of precedence."""
    from datetime import UTC, datetime, timedelta

    now = datetime(2027, 1, 1, tzinfo=UTC)
    key = pki.new_key()
    mine = clientcert.public_der(key.public_key())

    def cert(start: datetime, days: int) -> Any:
        return pki.id_certificate_for(
            lab_pki.issuer,
            key.public_key(),
            piid="P",
            serial_number="S",
            not_before=start,
            validity=timedelta(days=days),
        )

    good = cert(now - timedelta(days=1), 365)
    assert clientcert.judge(good, piid="P", keys=[mine], revoked=(), now=now).verdict == "ok"
    cases = [
        (good, [b"other"], (), "client_cert_mismatch"),
        (good, [mine], (clientcert.serial_of(good),), "client_cert_revoked"),
        (cert(now - timedelta(days=10), 5), [mine], (), "client_cert_expired"),
        (cert(now + timedelta(days=10), 5), [mine], (), "client_cert_not_yet_valid"),
    ]
    for presented_cert, keys, revoked, code in cases:
        with pytest.raises(clientcert.Refused) as err:
            clientcert.judge(presented_cert, piid="P", keys=keys, revoked=revoked, now=now)
        assert err.value.code == code and err.value.seen.verdict == code and err.value.fix
    # the instant of expiry is already expired
    edge = cert(now - timedelta(days=5), 5)
    with pytest.raises(clientcert.Refused):
        clientcert.judge(edge, piid="P", keys=[mine], revoked=(), now=now)
    with pytest.raises(Unauthorized) as missing:
        clientcert.judge(None, piid="P", keys=[mine], revoked=(), now=now)
    assert missing.value.code == "client_cert_missing"
