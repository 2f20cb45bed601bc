"""The license consumption summary of a product instance (seed Table 5), as a person reads it:
License Name, Usage Count (the reported, possibly locked, quantity), the actual usage and the
entitlement status. Besides the SSM's answer (In Compliance, Out of Compliance, No License in Use,
Invalid Tag): Disabled while the Smart Agent is disabled (or the SSM removed the instance), Not
Authorized while registered but unauthorized, Invalid while the SSM refuses the requests that
carry the entitlements, Waiting for usage the SSM has not seen yet.

Pure: no IO, no clock.
"""

from __future__ import annotations

import msgspec

from shared.catalog import LICENSE_NAMES, OFFERED
from shared.lifecycle import InstanceState
from shared.messages import EntitlementGrant
from shared.states import AuthorizationStatus, EntitlementStatus, RegistrationStatus
from shared.usage import UsageState


class ConsumptionLine(msgspec.Struct, frozen=True, kw_only=True):
    license_name: str
    usage_count: int  # the reported (possibly locked) quantity
    actual_usage: int
    status: EntitlementStatus


def consumption(s: InstanceState, u: UsageState, *, waiting: bool = False) -> list[ConsumptionLine]:
    """License Name, Usage Count, actual usage and Status for each license of the instance."""
    ltype, mode = s.effective_license_type, s.usage_mode
    offered = OFFERED.get((ltype, mode), ())
    # The SSM answers by tag (an unknown tag's grant may have no name); a reserved license of
    # another type than the instance's is matched by its name.
    by_tag = {g.tag: g for g in s.entitlements}
    by_name = {g.name: g for g in s.entitlements if g.name}
    names = list(dict.fromkeys([*offered, *sorted(u.current), *by_name]))
    lines = []
    for name in names:
        actual = u.current.get(name, 0)
        grant = by_tag.get(s.tag_of(name)) or by_name.get(name)
        counted = grant.reported if grant is not None and grant.status is not EntitlementStatus.DISABLED else actual
        lines.append(
            ConsumptionLine(
                license_name=name,
                usage_count=actual
                if s.registration is RegistrationStatus.REGISTERED_SLR
                else max(counted, actual)
                if grant is None
                else counted,
                actual_usage=actual,
                status=_status(s, name, actual, grant, name in offered, waiting),
            )
        )
    return lines


def _status(
    s: InstanceState, name: str, actual: int, grant: EntitlementGrant | None, offered: bool, waiting: bool
) -> EntitlementStatus:
    if not s.enabled or (grant is not None and grant.status is EntitlementStatus.DISABLED):
        return EntitlementStatus.DISABLED  # the Smart Agent disabled, or the instance removed by the SSM
    if not offered and name in LICENSE_NAMES:
        return EntitlementStatus.NOT_APPLICABLE
    if s.registration is RegistrationStatus.REGISTERED_SLR:
        # Judged on the instance against the installed code: usage up to the reserved count.
        if actual == 0 and (grant is None or grant.reported == 0):
            return EntitlementStatus.NO_LICENSE_IN_USE
        if grant is not None and actual <= grant.reported:
            return EntitlementStatus.RESERVED_IN_COMPLIANCE
        return EntitlementStatus.OUT_OF_COMPLIANCE
    if s.registration in (RegistrationStatus.UNREGISTERED, RegistrationStatus.RESERVATION_IN_PROGRESS):
        if s.authorization is AuthorizationStatus.EVALUATION_EXPIRED:
            return EntitlementStatus.EVALUATION_EXPIRED
        return EntitlementStatus.EVALUATION
    if s.authorization is AuthorizationStatus.AUTHORIZATION_EXPIRED:
        return EntitlementStatus.AUTHORIZATION_EXPIRED
    if s.authorization is AuthorizationStatus.UNAUTHORIZED:
        return EntitlementStatus.NOT_AUTHORIZED
    if s.refused_at is not None:
        return EntitlementStatus.INVALID  # the SSM refused the last request carrying them
    if waiting:
        return EntitlementStatus.WAITING
    if grant is None:
        return EntitlementStatus.NO_LICENSE_IN_USE if actual == 0 else EntitlementStatus.WAITING
    if grant.status is EntitlementStatus.NO_LICENSE_IN_USE and actual > 0:
        return EntitlementStatus.WAITING  # the SSM has not seen this usage yet
    return grant.status
