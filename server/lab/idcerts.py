"""Mutual TLS on the device plane, on the lab plane: the switch, what instances presented, and the
ID-certificate drills (issue 19).

GET  /_lab/device-mtls                   {"enabled", "revoked": [serials], "presented": {piid: ...}}
POST /_lab/device-mtls                   {"enabled": true}: demand ID certificates from the next handshake
POST /_lab/instances/{piid}/id-cert      {"drill": "revoked" | "foreign" | "expired"}

A drill makes the instance's ID certificate one the SSM refuses:

- ``revoked``: the SSM puts the instance's current ID certificate on its revocation list;
- ``foreign``: an ID certificate for the instance's own key, issued by "ssmlab Other Product CA"
  (a CA of another product, which the SSM does not trust): the answer carries it, and the lab
  installs it in the agent (``ssmlab id-cert``), whose next handshake the SSM refuses;
- ``expired``: one issued by the SSM's own issuing CA whose validity ended yesterday (domain time).

Each is fixed the way a real one is: the instance is registered again with a new token, and the
SSM issues it a new ID certificate.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path

import msgspec
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from plumbing.web import serve
from plumbing.web.middleware import json_response
from server import keys
from server.pki_files import load_pair, write_private, write_public
from shared import clientcert, pki
from shared.clock import real_now
from shared.errors import BadRequest, Conflict, NotFound

OTHER_PRODUCT_CN = "ssmlab Other Product CA"


class IdCertDrill(StrEnum):
    REVOKED = "revoked"
    FOREIGN = "foreign"
    EXPIRED = "expired"


class SwitchBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    enabled: bool


class DrillBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    drill: IdCertDrill


def other_product_ca(folder: Path) -> pki.CertifiedKey:
    """Another product's CA (made once, kept beside the drills' certificates)."""
    cert, key = folder / "drills" / "other-product-ca.pem", folder / "drills" / "other-product-ca.key"
    pair = load_pair(cert, key)
    if pair is None:
        now = real_now()
        pair = pki.make_ca(OTHER_PRODUCT_CN, not_before=now - timedelta(days=1), not_after=now + timedelta(days=3650))
        cert.parent.mkdir(parents=True, exist_ok=True)
        write_public(cert, pair.cert_pem())
        write_private(key, pair.key_pem())
    return pair


async def show(request: web.Request) -> web.Response:
    """Whether ID certificates are demanded, the revoked ones, and what each instance presented last."""
    return json_response(request.app[keys.REGISTRY].ctx.mtls.view())


async def switch(request: web.Request, body: SwitchBody) -> web.Response:
    """Demand (or stop demanding) ID certificates from the next handshake on."""
    mtls = request.app[keys.REGISTRY].ctx.mtls
    mtls.enabled = body.enabled
    request.app[keys.TLS].demand_id_certificates(body.enabled)
    request.app[serve.SERVER].close_connections(keep=request.protocol)
    return json_response(mtls.view())


async def drill(request: web.Request, body: DrillBody) -> web.Response:
    """Make an instance's ID certificate one the SSM refuses (see the module's doc)."""
    registry = request.app[keys.REGISTRY]
    piid = request.match_info["piid"]
    instance = await registry.ctx.store.read(lambda uow: uow.instances.get(piid))
    if instance is None:
        raise NotFound(
            f"no product instance {piid!r} on this SSM",
            code="instance_not_found",
            fix="use a PIID that GET /_lab/instances lists (ssmlab id-cert resolves agent instance names)",
        )
    if instance.removed_at is not None:
        raise Conflict(
            f"product instance {instance.piid} is no longer registered",
            code="instance_removed",
            fix="run the drill on a registered instance (ssmlab status lists them)",
        )
    if body.drill is not IdCertDrill.REVOKED and not registry.ctx.mtls.enabled:
        raise Conflict(
            f"the {body.drill} drill changes the certificate an instance presents in the handshake, and this SSM "
            "does not ask for one",
            code="device_mtls_off",
            fix='demand ID certificates first: ssmlab mtls on (POST /_lab/device-mtls {"enabled": true}), '
            "or start the SSM with --device-mtls",
        )
    now = registry.ctx.clock.now()
    answer: dict[str, object] = {"drill": str(body.drill), "piid": instance.piid, "fix": clientcert.REREGISTER}
    if body.drill is IdCertDrill.REVOKED:
        await registry.ctx.mtls.revoke(registry.ctx.store, instance.cert_serial)
        answer["serial"] = instance.cert_serial
        return json_response(answer)
    public = serialization.load_der_public_key(instance.public_key)
    if not isinstance(public, ec.EllipticCurvePublicKey):  # every ID key is P-256 (checked at registration)
        raise BadRequest("the instance's key is not an EC key", code="instance_key_unsupported", fix="reregister it")
    if body.drill is IdCertDrill.FOREIGN:
        issuer = other_product_ca(registry.ctx.pki.paths.root)
        start, validity = now, registry.ctx.policy.id_cert_validity
    else:
        issuer = registry.ctx.pki.issuer
        start, validity = now - timedelta(days=366), timedelta(days=365)
    cert = pki.id_certificate_for(
        issuer, public, piid=instance.piid, serial_number=instance.serial_number, not_before=start, validity=validity
    )
    answer.update(
        serial=clientcert.serial_of(cert),
        issuer=clientcert.issuer_name(cert),
        not_after=cert.not_valid_after_utc.isoformat(),
        # with its issuer, as the SSM sends an ID certificate: the handshake needs the chain
        pem=(pki.cert_pem(cert) + pki.cert_pem(issuer.cert)).decode(),
    )
    return json_response(answer)
