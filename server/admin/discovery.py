"""Smart Account and virtual account discovery, the calls clients start with (Software APIs 1.0.2):

- ``GET pnp/v2/accounts`` and ``GET pnp/v2/accounts/{domain}/virtual-accounts``: Plug & Play
  Connect's listings (``startIdx``/``rowsPerPage`` paging, ``totalRows``), the names and ids
  FDM_Licensing_Client and the Smart Licensing MCP server read first;
- ``GET accounts/v1/user/search-smart-accounts``: the Smart Accounts a user holds roles in.

The lab has no user directory: whatever ``userId`` is asked, the answer is the API client's own
view, the administrator of every Smart Account the SSM holds (as ``GET v2/accounts`` answers).
"""

from __future__ import annotations

from typing import Literal

import msgspec
from aiohttp import web

from plumbing.web.routes import Route
from server import keys
from server.admin import bodies, errors, views
from server.admin.common import api
from server.admin.routing import SOFTWARE
from server.store import UnitOfWork
from server.store.rows import Account, VirtualAccount
from shared.errors import BadRequest
from shared.limits import Int64, PageOffset

#: Cisco's role names (the legacy ``v2/accounts`` answers the first one too).
ACCOUNT_ADMIN = "Smart Account Administrator"
VA_ADMIN = "Virtual Account Administrator"
#: PnP's page size when ``rowsPerPage`` is not given (and its cap).
PNP_PAGE = 50
PNP_PAGE_MAX = 1000


class PnpPage(msgspec.Struct, kw_only=True):
    startIdx: PageOffset = 0
    rowsPerPage: Int64 = PNP_PAGE
    #: SD-WAN overlay filters: the lab has no SD-WAN overlay, so they are read and ignored
    networkId: bodies.Short = ""
    organizationName: bodies.Short = ""

    def size(self) -> int:
        return PNP_PAGE if self.rowsPerPage <= 0 else min(self.rowsPerPage, PNP_PAGE_MAX)


class PnpAccounts(PnpPage, kw_only=True):
    accountDomain: bodies.Short = ""


def _pnp(rows: list[dict[str, object]], q: PnpPage) -> dict[str, object]:
    size = q.size()
    return {
        "status": "COMPLETE",
        "message": "SUCCESS",
        "messageCode": "DMS-SUCCESS",
        "totalRows": len(rows),
        "pageSize": size,
        "startIdx": q.startIdx,
        "data": views.page(rows, size, q.startIdx),
    }


async def pnp_accounts(request: web.Request, q: PnpAccounts) -> web.Response:
    """The Smart Accounts (PnP): ``accountDomain`` matches a part of the domain, in any case."""
    found = [
        a
        for a in await request.app[keys.STORE].read(lambda uow: uow.accounts.all())
        if q.accountDomain.lower() in a.domain.lower()
    ]
    rows: list[dict[str, object]] = [
        {"companyName": a.name, "domainIdentifier": a.domain, "accountIdentifier": str(a.id)} for a in found
    ]
    return web.json_response(_pnp(rows, q))


async def pnp_virtual_accounts(request: web.Request, q: PnpPage) -> web.Response:
    """The virtual accounts of a Smart Account (PnP), with their numeric ids."""
    account = await views.account_of(request)
    vas = await request.app[keys.STORE].read(lambda uow: uow.accounts.virtual_accounts(account.id))
    rows: list[dict[str, object]] = [
        {"virtualAccountName": v.name, "virtualAccountId": v.id, "default": "true" if v.is_default else "false"}
        for v in vas
    ]
    return web.json_response(_pnp(rows, q))


class UserSearch(msgspec.Struct, kw_only=True):
    userId: bodies.Short
    accountType: Literal["CUSTOMER", "HOLDING"] | None = None
    addVirtualAccounts: Literal["true", "false"] = "false"
    roleName: bodies.Short = ""
    smartAccountDomain: bodies.Short = ""
    #: sic, as Cisco's document spells it (role names are always shown)
    addRoleDipslayName: bodies.Short = ""


def _roles(vas: list[VirtualAccount], q: UserSearch) -> list[dict[str, object]]:
    roles: list[dict[str, object]] = [{"role": ACCOUNT_ADMIN}]
    if q.addVirtualAccounts == "true":
        roles += [{"role": VA_ADMIN, "virtualAccountName": v.name} for v in vas]
    return [r for r in roles if not q.roleName or r["role"] == q.roleName]


async def user_search(request: web.Request, q: UserSearch) -> web.Response:
    """The Smart Accounts the user holds roles in (the lab: every account, as administrator)."""
    if not q.userId.strip():
        raise BadRequest("userId is blank", code="user_id_required", fix="pass userId (the lab answers for any user)")

    def read(uow: UnitOfWork) -> list[tuple[Account, list[VirtualAccount]]]:
        return [(a, uow.accounts.virtual_accounts(a.id)) for a in uow.accounts.all()]

    out = []
    for a, vas in await request.app[keys.STORE].read(read):
        if q.accountType == "HOLDING" or (q.smartAccountDomain and q.smartAccountDomain != a.domain):
            continue  # every lab account is a CUSTOMER account
        roles = _roles(vas, q)
        if roles:
            out.append(
                {
                    "accountId": a.id,
                    "accountName": a.name,
                    "accountDomain": a.domain,
                    "accountType": "CUSTOMER",
                    "roles": roles,
                }
            )
    return web.json_response({"status": "SUCCESS", "accounts": out})


ROUTES: list[Route] = [
    api("GET", SOFTWARE + "/pnp/v2/accounts", pnp_accounts, query=PnpAccounts, errors=errors.PNP),
    api(
        "GET",
        SOFTWARE + "/pnp/v2/accounts/{domain}/virtual-accounts",
        pnp_virtual_accounts,
        query=PnpPage,
        errors=errors.PNP,
    ),
    api(
        "GET",
        SOFTWARE + "/accounts/v1/user/search-smart-accounts",
        user_search,
        query=UserSearch,
        errors=errors.cisco(errors.ERROR_V1),
    ),
]
