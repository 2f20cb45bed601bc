"""The ID-certificate drills, as the lab plays them on both sides (``ssmlab id-cert``, the
scenarios' ``id_cert`` step): the SSM revokes the instance's ID certificate, or forges one (of
another product's CA, or expired) that the agent's instance then presents."""

from __future__ import annotations

from typing import Any, Protocol

DRILLS = ("revoked", "foreign", "expired")


class LabSides(Protocol):
    def ssm(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any: ...

    def agent(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any: ...


class NotRegistered(Exception):
    """The instance has no ID certificate to drill on."""


def play(lab: LabSides, drill: str, instance: str) -> dict[str, Any]:
    """Run ``drill`` on the agent's ``instance``; the SSM's answer (serial, issuer, fix; ``pem`` when
    the agent was given a certificate)."""
    piid = lab.agent("GET", f"/api/v1/instances/{instance}/status").get("piid")
    if not piid:
        raise NotRegistered(f"{instance} is not registered; register it first (the drill needs its ID certificate)")
    made: dict[str, Any] = lab.ssm("POST", f"/_lab/instances/{piid}/id-cert", {"drill": drill})
    if "pem" in made:
        lab.agent("POST", f"/_lab/instances/{instance}/id-cert", {"pem": made["pem"]})
    return made


def describe(made: dict[str, Any], instance: str) -> str:
    if "pem" in made:
        return (
            f"{instance} now presents ID certificate {made['serial'][:16]} issued by '{made['issuer']}' "
            f"(valid until {made['not_after'][:10]})"
        )
    return f"the SSM revoked ID certificate {made['serial'][:16]} of {instance}"
