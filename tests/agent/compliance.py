"""Compliance steps several tests take: buy licenses, take an instance idle while Out of Compliance."""

from __future__ import annotations

from datetime import timedelta

from server.accounts import LAB_DOMAIN, add_licenses, resolve_account
from shared.states import AuthorizationStatus, LicenseType, UsageMode
from tests.conftest import RunningSSM

Q = timedelta(minutes=15)
PREMIUM = "Premium Agent"


async def buy(ssm: RunningSSM, quantity: int, name: str = PREMIUM) -> int:
    account = await resolve_account(ssm.store, LAB_DOMAIN)
    return await add_licenses(
        ssm.store,
        account=account,
        va_name="DEFAULT",
        license_type=LicenseType.FLEX,
        usage_mode=UsageMode.PRODUCTION,
        name=name,
        quantity=quantity,
        now=ssm.clock.now(),
    )


async def go_idle_out_of_compliance(ssm: RunningSSM, inst, over: int = 101) -> None:  # type: ignore[no-untyped-def]
    """Over the pool for five intervals, then nothing in use (reported once): locked, then silent."""
    await inst.set_usage({PREMIUM: over})
    await ssm.clock.advance(5 * Q)
    await inst.set_usage({PREMIUM: 0})
    await ssm.clock.advance(2 * Q)
    assert inst.status().license_authorization_status is AuthorizationStatus.OUT_OF_COMPLIANCE
