"""API clients of the admin API and the access tokens issued to them (OAuth2 client credentials).

A client is created by ``ssm-server api-client create``: its secret is printed once and only its
SHA-256 is stored. ``Authority`` issues and checks access tokens with the SSM's signing key, in
domain time (``shared.oauth``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec

from server.pki_files import LabPki
from server.store import Store, UnitOfWork
from server.store.rows import ApiClient
from shared import envelope, oauth
from shared.clock import epoch
from shared.errors import BadRequest, Conflict, NotFound


async def create(store: Store, *, name: str, now: datetime) -> oauth.NewClient:
    if not name.strip():
        raise BadRequest("an API client needs a name", code="invalid_api_client", fix="pass --name NAME")
    new = oauth.new_client()

    def body(uow: UnitOfWork) -> None:
        uow.api_clients.add(client_id=new.client_id, secret_hash=new.secret_hash, name=name, now=now)
        uow.events.add(at=epoch(now), kind="api_client_created", message=f"API client {new.client_id} ({name}) created")

    await store.write(body)
    return new


async def revoke(store: Store, client_id: str, *, now: datetime) -> None:
    def body(uow: UnitOfWork) -> None:
        if uow.api_clients.get(client_id) is None:
            raise NotFound(
                f"no API client {client_id!r}", code="api_client_not_found", fix="list them: ssm-server api-client list"
            )
        if not uow.api_clients.revoke(client_id, now):
            raise Conflict(f"API client {client_id} is already revoked", code="api_client_revoked")
        uow.events.add(at=epoch(now), kind="api_client_revoked", message=f"API client {client_id} revoked")

    await store.write(body)


async def listing(store: Store) -> list[ApiClient]:
    return await store.read(lambda uow: uow.api_clients.all())


@dataclass(frozen=True)
class Authority:
    """Issues and verifies the admin API's access tokens for one SSM."""

    lab_pki: LabPki
    mode: str

    @property
    def audience(self) -> str:
        return oauth.audience(self.mode)

    async def token(self, store: Store, creds: oauth.ClientCredentials, now: datetime) -> oauth.Issued:
        client = await store.read(lambda uow: uow.api_clients.get(creds.client_id))
        oauth.check_secret(
            client.secret_hash if client else None,
            client is not None and client.revoked_at is not None,
            creds,
        )
        issued = oauth.issue(
            creds.client_id,
            now=now,
            key=self.lab_pki.signing.key,
            kid=envelope.thumbprint(self.lab_pki.signing.cert),
            aud=self.audience,
        )
        await store.write(lambda uow: uow.api_clients.used(creds.client_id, now))
        return issued

    def check(self, header: str | None, now: datetime) -> str:
        """The client id an ``Authorization`` header's token was issued to (raises ``OAuthError``)."""
        public = self.lab_pki.signing.cert.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        return oauth.verify(oauth.bearer(header), key=public, now=now, aud=self.audience)
