"""Smart Accounts, virtual accounts, license pools and registration tokens (SSM side).

Used by the CLI (``ssm-server token create`` ...), the lab plane and, later, the admin API.
Every change is one transaction, committed before the caller reports success.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from server import books, subscriptions
from server.store import Store, UnitOfWork
from server.store.rows import Account, VirtualAccount
from shared import rejudge, terms, tokens
from shared.catalog import OFFERED, LicenseKey, all_license_keys, lab_quantity
from shared.clock import epoch
from shared.errors import BadRequest, Conflict, Forbidden, NotFound
from shared.limits import COUNT_MAX, DOMAIN_PATTERN, Domain, check, check_count, check_name, check_text
from shared.policy import Policy
from shared.states import LicenseType, UsageMode

LAB_DOMAIN = "lab.ssmlab.example"
LAB_ACCOUNT = "ssmlab Lab Account"
DEFAULT_VA = "DEFAULT"
#: The most uses a registration token may allow.
MAX_USES = 1_000_000


@dataclass(frozen=True, slots=True)
class CreatedToken:
    minted: tokens.MintedToken
    virtual_account: str
    account_domain: str
    record: tokens.TokenRecord


async def seed_lab(store: Store, now: datetime) -> bool:
    """Create the lab Smart Account with its DEFAULT virtual account and pools, once."""

    def body(uow: UnitOfWork) -> bool:
        if uow.accounts.by_domain(LAB_DOMAIN) is not None:
            return False
        account_id = uow.accounts.add(domain=LAB_DOMAIN, name=LAB_ACCOUNT, export_control_allowed=True, now=now)
        va_id = uow.accounts.add_virtual_account(
            account_id=account_id, name=DEFAULT_VA, description="Default virtual account", is_default=True, now=now
        )
        for key in all_license_keys():
            qty = lab_quantity(key)
            uow.pools.purchase(
                va_id=va_id,
                name=key.name,
                license_type=key.license_type,
                usage_mode=key.usage_mode,
                tag=key.tag,
                quantity=qty,
                at=epoch(now),
            )
        uow.events.add(
            at=epoch(now), kind="account_created", message=f"Smart Account {LAB_ACCOUNT} ({LAB_DOMAIN}) seeded"
        )
        return True

    return await store.write(body)


def find_account(uow: UnitOfWork, domain: str | None) -> Account:
    """The account named by ``domain``, or the only/first account when none is given.

    Raises:
        NotFound: ``account_not_found`` naming the accounts there are.
    """
    if domain:
        account = uow.accounts.by_domain(domain)
        if account is None:
            known = ", ".join(a.domain for a in uow.accounts.all()) or "none"
            raise NotFound(
                f"no Smart Account with domain {domain!r}",
                code="account_not_found",
                fix=f"use one of: {known}",
            )
        return account
    accounts = uow.accounts.all()
    if not accounts:
        raise NotFound(
            "this SSM has no Smart Account yet",
            code="account_not_found",
            fix="start the server once ('ssm-server run') to seed the lab account",
        )
    return accounts[0]


def find_va(uow: UnitOfWork, account: Account, name: str) -> VirtualAccount:
    """The virtual account ``name`` of ``account``.

    Raises:
        NotFound: ``virtual_account_not_found`` naming the ones there are.
    """
    va = uow.accounts.virtual_account_named(account.id, name)
    if va is None:
        known = ", ".join(v.name for v in uow.accounts.virtual_accounts(account.id)) or "none"
        raise NotFound(
            f"no virtual account {name!r} in Smart Account {account.domain}",
            code="virtual_account_not_found",
            fix=f"use one of: {known} (or create it: 'ssm-server va create --name {name}')",
        )
    return va


async def resolve_account(store: Store, domain: str | None) -> Account:
    """``find_account`` over a read snapshot."""
    return await store.read(lambda uow: find_account(uow, domain))


async def resolve_va(store: Store, account: Account, name: str) -> VirtualAccount:
    """``find_va`` over a read snapshot."""
    return await store.read(lambda uow: find_va(uow, account, name))


async def create_account(
    store: Store, *, domain: str, name: str, export_control_allowed: bool, now: datetime
) -> Account:
    check(
        domain,
        Domain,
        what="the account domain",
        code="invalid_account",
        fix=f"use a DNS-like domain ({DOMAIN_PATTERN}), e.g. example.com",
    )
    check_name(name, "the account name")

    def body(uow: UnitOfWork) -> Account:
        if uow.accounts.by_domain(domain):
            raise Conflict(
                f"a Smart Account with domain {domain!r} exists",
                code="account_exists",
                fix="use another domain, or use the existing account ('ssm-server account list')",
            )
        account_id = uow.accounts.add(domain=domain, name=name, export_control_allowed=export_control_allowed, now=now)
        uow.accounts.add_virtual_account(
            account_id=account_id, name=DEFAULT_VA, description="Default virtual account", is_default=True, now=now
        )
        uow.events.add(at=epoch(now), kind="account_created", message=f"Smart Account {name} ({domain}) created")
        account = uow.accounts.get(account_id)
        assert account is not None
        return account

    return await store.write(body)


async def create_virtual_account(
    store: Store, *, account: Account, name: str, description: str, now: datetime
) -> VirtualAccount:
    check_name(name, "the virtual account name")
    check_text(description)

    def body(uow: UnitOfWork) -> VirtualAccount:
        if uow.accounts.virtual_account_named(account.id, name):
            raise Conflict(
                f"virtual account {name!r} exists in {account.domain}",
                code="virtual_account_exists",
                fix="choose another name, or use the existing virtual account",
            )
        va_id = uow.accounts.add_virtual_account(
            account_id=account.id, name=name, description=description, is_default=False, now=now
        )
        uow.events.add(
            at=epoch(now),
            kind="virtual_account_created",
            va_id=va_id,
            message=f"virtual account {name} created in {account.domain}",
        )
        va = uow.accounts.virtual_account(va_id)
        assert va is not None
        return va

    return await store.write(body)


async def create_token(
    store: Store,
    *,
    account: Account,
    va_name: str,
    now: datetime,
    policy: Policy,
    days: int | None = None,
    uses: int | None = None,
    description: str = "",
    export_controlled: bool = False,
    created_by: str = "ssm-server",
) -> CreatedToken:
    """Mint a registration token in a virtual account; only its hash is stored.

    Raises:
        Forbidden: ``export_control_not_allowed`` for an account not permitted to use it.
        BadRequest: days or uses out of range.
    """
    days = tokens.validate_days(
        policy.token_default_days if days is None else days,
        minimum=policy.token_min_days,
        maximum=policy.token_max_days,
    )
    if uses is not None and not 1 <= uses <= MAX_USES:
        raise BadRequest(
            f"a token allows 1 to {MAX_USES} uses, not {uses}",
            code="token_uses_out_of_range",
            fix=f"pass --uses from 1 to {MAX_USES}, or leave it out for unlimited uses",
        )
    check_text(description, "the token description")
    if export_controlled and not account.export_control_allowed:
        raise Forbidden(
            f"Smart Account {account.domain} is not permitted to use Export-Controlled functionality",
            code="export_control_not_allowed",
            fix="create the token without --export-controlled (the option does not exist for this "
            "account, as on software.cisco.com)",
        )
    minted = tokens.mint(expires_at=now + timedelta(days=days))

    def body(uow: UnitOfWork) -> CreatedToken:
        va = find_va(uow, account, va_name)
        record = tokens.TokenRecord(
            token_id=minted.token_id,
            secret_hash=minted.secret_hash,
            virtual_account_id=va.id,
            description=description,
            created_at=now,
            expires_at=minted.expires_at,
            max_uses=uses,
            uses=0,
            export_controlled=export_controlled,
            revoked_at=None,
            created_by=created_by,
        )
        uow.tokens.add(record)
        uow.events.add(
            at=epoch(now),
            kind="token_created",
            va_id=va.id,
            message=f"registration token {minted.token_id} created in {va.name} "
            f"(expires {minted.expires_at.isoformat()}, uses {uses or 'unlimited'}, "
            f"export-controlled {'allowed' if export_controlled else 'not allowed'})",
        )
        return CreatedToken(minted, va.name, account.domain, record)

    return await store.write(body)


async def revoke_token(store: Store, token_id: str, now: datetime) -> None:
    def body(uow: UnitOfWork) -> None:
        record = uow.tokens.get(token_id)
        if record is None:
            raise NotFound(
                f"no registration token {token_id!r}",
                code="token_not_found",
                fix="list tokens with 'ssm-server token list'",
            )
        if not uow.tokens.revoke(token_id, now):
            raise Conflict(
                f"token {token_id} is already revoked",
                code="token_already_revoked",
                fix="nothing to do; list tokens with 'ssm-server token list'",
            )
        uow.events.add(
            at=epoch(now),
            kind="token_revoked",
            va_id=record.virtual_account_id,
            message=f"registration token {token_id} revoked",
        )

    await store.write(body)


def check_pool_room(uow: UnitOfWork, va: VirtualAccount, tag: str, adding: int) -> None:
    """A pool never holds more than the codec carries (``shared.limits.COUNT_MAX``): a larger one
    could not go down to an SSM On-Prem in a synchronization.

    Raises:
        BadRequest: ``quantity_out_of_range``.
    """
    held = next((p.quantity for p in uow.pools.of(va.id) if p.tag == tag), 0)
    if held + adding > COUNT_MAX:
        raise BadRequest(
            f"{va.name} would hold {held + adding} of this license; a pool holds at most {COUNT_MAX}",
            code="quantity_out_of_range",
            fix=f"add at most {max(0, COUNT_MAX - held)}",
        )


async def add_licenses(
    store: Store,
    *,
    account: Account,
    va_name: str,
    license_type: LicenseType,
    usage_mode: UsageMode,
    name: str,
    quantity: int,
    now: datetime,
    length: terms.Length | None = None,
) -> int:
    """Purchase ``quantity`` licenses into a virtual account's pool; returns the new total. The
    account is re-judged at once (``shared.rejudge.purchase``): a pool the purchase covers is back
    In Compliance, and so is each instance consuming it (it learns it at its next contact).
    ``length``: a Flex subscription term (``server.subscriptions``); without one they stay.

    Raises:
        BadRequest: ``unknown_license`` (not in the catalog for that type and mode), a
            non-positive quantity, ``term_on_perpetual`` or ``invalid_term``.
    """
    subscriptions.check_length(license_type, length)
    if length is not None:
        terms.end_of(epoch(now), length)  # refused before anything is written
    offered = OFFERED.get((license_type, usage_mode), ())
    if name not in offered:
        raise BadRequest(
            f"{license_type} {usage_mode} offers no license named {name!r}",
            code="unknown_license",
            fix=f"use one of: {', '.join(offered) or '(none: this type and mode offer no licenses)'}",
        )
    if quantity < 1:
        raise BadRequest(
            f"a purchase adds at least 1 license, not {quantity}",
            code="invalid_quantity",
            fix="pass a quantity of 1 or more",
        )
    check_count(quantity, "the quantity", minimum=1)
    key = LicenseKey(name, license_type, usage_mode)

    def body(uow: UnitOfWork) -> int:
        va = find_va(uow, account, va_name)
        check_pool_room(uow, va, key.tag, quantity)
        loaded = books.load_account(uow, va.id)
        pool = loaded.pools.get(key.tag)
        total = (pool.purchased if pool else 0) + quantity
        outcome = rejudge.purchase(loaded, {key.tag: total}, epoch(now))
        uow.events.add(
            at=epoch(now),
            kind="licenses_added",
            va_id=va.id,
            message=f"{quantity} {license_type} {usage_mode} {name} added to {va.name} (now {total})"
            + (f", subscription term {length}" if length is not None else ""),
        )
        books.write_rejudgement(uow, outcome, va_id=va.id, at=epoch(now))
        if length is not None:
            row = uow.pools.by_tag(va.id, key.tag)
            assert row is not None
            subscriptions.start_term(uow, row, quantity, epoch(now), length)
        return total

    return await store.write(body)
