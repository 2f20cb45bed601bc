"""What the page's templates show, gathered from the agent: no rule is decided here.

Every status comes from the agent's own views (``InstanceRunner.status`` is seed Table 2,
``consumption`` Table 5, ``Agent.banner`` and ``Agent.alerts`` the portal's banner and system
alerts); this module only groups them for the templates (the alerts by machine, the choices of
the Transport Settings and License Type dialogs from their declarations in ``shared``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.daemon import Agent
from agent.instance import InstanceRunner
from shared.banner import NO_SERIAL, NOT_ENABLED, SystemAlert
from shared.catalog import OFFERED, ROGGER_LOGGER
from shared.states import ConnectionMode, LicenseType, TransportMode, UsageMode
from shared.transportsettings import DEFAULT_URL, PATHS, UrlRule


@dataclass(frozen=True, slots=True)
class Machine:
    """One machine of the inventory with its red alerts (none: a green circle)."""

    name: str
    red: tuple[SystemAlert, ...]

    @property
    def dot(self) -> str:
        return "red" if self.red else "green"


def machines(alerts: list[SystemAlert]) -> list[Machine]:
    names = list(dict.fromkeys(a.machine for a in alerts))
    return [Machine(n, tuple(a for a in alerts if a.machine == n and a.state == "red")) for n in names]


#: The alerts a button on the page clears: (the instance's action, the button's words). The
#: third ("not initialized") clears itself when the agent has started.
ALERT_FIXES: dict[str, tuple[str, str]] = {
    NOT_ENABLED: ("enable", "Enable the Smart Agent"),
    NO_SERIAL: ("serial", "Generate the serial number"),
}


def chrome(agent: Agent, *, current: str | None = None) -> dict[str, Any]:
    """What every page shows around its content: the instances (the picker), the banner, the
    Alerts button's badge, the machines' red and green circles and the domain time."""
    alerts = agent.alerts()
    found = machines(alerts)
    return {
        "instances": list(agent.runners),
        "current": current,
        "banner": agent.banner(),
        "red_alerts": sum(1 for a in alerts if a.state == "red"),
        "machines": found,
        "dots": {m.name: m.dot for m in found},
        "alert_fixes": ALERT_FIXES,
        "now": agent.clock.now(),
        "result": None,
    }


def picker(agent: Agent) -> dict[str, Any]:
    """The picker (the License Compliance report): every instance's Table 2 beside the report."""
    return {**chrome(agent), "statuses": {name: r.status() for name, r in agent.runners.items()}}


def live(agent: Agent, runner: InstanceRunner) -> dict[str, Any]:
    """The instance's live region: Table 2 and what comes next, Table 5, the system alerts."""
    return {
        **chrome(agent, current=runner.name),
        "name": runner.name,
        "status": runner.status(),
        "lines": runner.consumption(),
    }


def transport(agent: Agent) -> dict[str, Any]:
    """The Transport Settings dialog: the saved settings and the choices with their URL rules."""
    s = agent.transport.settings
    return {
        "settings": s,
        "effective_url": s.effective_url,
        "proxy_url": s.proxy_url,
        "modes": list(TransportMode),
        "connections": list(ConnectionMode),
        "default_urls": DEFAULT_URL,
        "paths": PATHS,
        "rules": list(UrlRule),
    }


def license_type(runner: InstanceRunner) -> dict[str, Any]:
    """The License Type dialog: the choice made, what the deployment uses, the licenses offered."""
    view = runner.status()
    return {
        "name": runner.name,
        "chosen": (view.configured_license_type, view.usage_mode),
        "effective": view.license_type,
        "deployment_type": view.deployment_type,
        "rogger_logger": ROGGER_LOGGER,
        "license_types": list(LicenseType),
        "usage_modes": list(UsageMode),
        "offered": OFFERED,
    }


def instance(agent: Agent, runner: InstanceRunner) -> dict[str, Any]:
    """The whole License Management page of one instance."""
    return {
        **live(agent, runner),
        "transport": transport(agent),
        "license_type": license_type(runner),
        "usage_names": [line.license_name for line in runner.consumption()],
    }
