"""The ``ssmlab`` pytest plugin (entry point ``pytest11``): an SSM and a Smart Agent for your tests.

Fixtures:

- ``ssm``: a running SSM (``ssmlab_pytest.clients.SSM``), brought back before each test to the
  state it started in (store, clock, faults, TLS drill, journal: a snapshot restore, cheap);
- ``smart_agent``: a Smart Agent (``SmartAgent``) whose product instances trust that SSM;
- ``ssm_session`` / ``smart_agent_session``: another lab, shared by the whole session and never
  reset (state carries from test to test);
- ``ssmlab_instances``: the agent's product instances (override it in your conftest.py).

Both labs run in-process (a background thread, real loopback ports: fast) unless asked for real
processes (``ssm-server run`` and ``smart-agent run``): ``--ssmlab-subprocess`` or the ini option
``ssmlab_mode = subprocess`` for the whole run, or ``@pytest.mark.ssmlab_subprocess`` on a test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from lab.demo import INSTANCES as DEMO
from ssmlab_pytest.backend import Backend
from ssmlab_pytest.clients import SSM, SmartAgent
from ssmlab_pytest.inprocess import InProcessLab
from ssmlab_pytest.processes import SubprocessLab

#: Where every lab's virtual clock starts (a Monday morning, domain time).
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MODES = ("inprocess", "subprocess")

#: The default product instances: the demo's Unified CCE deployment and CVP, without its usage
#: profiles (a test sets usage itself): agent.toml's [[instances]] tables as dicts.
INSTANCES: list[dict[str, Any]] = [{k: v for k, v in i.items() if not k.startswith("usage_")} for i in DEMO]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ssmlab", "ssmlab: an SSM and a Smart Agent for integration tests")
    group.addoption(
        "--ssmlab-subprocess",
        action="store_true",
        default=None,
        help="run the ssm and smart_agent fixtures as real processes (ssm-server run, smart-agent run)",
    )
    parser.addini("ssmlab_mode", "inprocess (default) or subprocess: how the ssm fixtures run", default="inprocess")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "ssmlab_subprocess: this test's ssm and smart_agent are real processes (ssm-server, smart-agent)"
    )
    _mode(config)  # a wrong ssmlab_mode stops the run before any test


def _mode(config: pytest.Config, node: pytest.Item | None = None) -> str:
    if node is not None and node.get_closest_marker("ssmlab_subprocess") is not None:
        return "subprocess"
    if config.getoption("--ssmlab-subprocess"):
        return "subprocess"
    mode = str(config.getini("ssmlab_mode")).strip() or "inprocess"
    if mode not in MODES:
        raise pytest.UsageError(f"ssmlab_mode = {mode!r}: give one of {', '.join(MODES)}")
    return mode


@dataclass
class _Lab:
    backend: Backend
    ssm: SSM
    agent: SmartAgent


class _Labs:
    """The labs of this session, started on first use, one per (mode, shared or reset)."""

    def __init__(self, factory: pytest.TempPathFactory, instances: list[dict[str, Any]]) -> None:
        self._factory = factory
        self._instances = instances
        self._labs: dict[tuple[str, bool], _Lab] = {}

    def get(self, mode: str, *, reset: bool) -> _Lab:
        key = (mode, reset)
        if key not in self._labs:
            folder = self._factory.mktemp(f"ssmlab-{mode}-{'fn' if reset else 'session'}")
            kind = InProcessLab if mode == "inprocess" else SubprocessLab
            backend: Backend = kind(folder, self._instances, START)
            try:
                backend.start()
            except BaseException:
                backend.close()
                raise
            ssm = SSM(backend, mode)
            lab = _Lab(backend, ssm, SmartAgent(backend))
            if reset:
                ssm.save_start(lab.agent)
            self._labs[key] = lab
        return self._labs[key]

    def close(self) -> None:
        for lab in self._labs.values():
            lab.ssm.close()
            lab.backend.close()
        self._labs.clear()


@pytest.fixture(scope="session")
def ssmlab_instances() -> list[dict[str, Any]]:
    """The Smart Agent's product instances (agent.toml ``[[instances]]`` tables as dicts): by
    default ``ucce-1`` (Unified CCE, Flex, Production) and ``cvp-1`` (CVP). Override this
    session-scoped fixture in your conftest.py to play other products."""
    return [dict(i) for i in INSTANCES]


@pytest.fixture(scope="session")
def _ssmlab_labs(tmp_path_factory: pytest.TempPathFactory, ssmlab_instances: list[dict[str, Any]]) -> Iterator[_Labs]:
    labs = _Labs(tmp_path_factory, ssmlab_instances)
    yield labs
    labs.close()


@pytest.fixture
def ssm(request: pytest.FixtureRequest, _ssmlab_labs: _Labs) -> SSM:
    """A running SSM (cloud) on a free loopback port, with its own lab PKI, store and virtual clock
    (from 2026-01-05 09:00 UTC), in the state it started in: each test gets it back (store and
    clocks restored from a snapshot, faults cleared, TLS drill back, journal empty).

    ``ssm.url``, ``ssm.ca_bundle`` (``verify=`` for requests/httpx), ``ssm.api`` (the admin API
    with credentials: ``ssm.api.get(path)``, ``ssm.api.access_token()``), ``ssm.token()``,
    ``ssm.buy(license, n)``, ``ssm.advance("1h")`` (both clocks in lockstep), ``ssm.fault(...)``,
    ``ssm.tls(mode)``, ``ssm.journal(...)``, ``ssm.verify(path=..., count=n)``, ``ssm.pools()``.
    In-process by default; real processes with ``--ssmlab-subprocess``, ``ssmlab_mode =
    subprocess`` or ``@pytest.mark.ssmlab_subprocess``."""
    lab = _ssmlab_labs.get(_mode(request.config, request.node), reset=True)
    lab.ssm.back_to_start(lab.agent)
    return lab.ssm


@pytest.fixture
def smart_agent(request: pytest.FixtureRequest, ssm: SSM, _ssmlab_labs: _Labs) -> SmartAgent:
    """A running Smart Agent whose product instances (``ssmlab_instances``: ``ucce-1``, ``cvp-1``)
    trust the ``ssm`` fixture's SSM; its clock moves with the SSM's (``ssm.advance``).

    ``smart_agent.register(name, token)``, ``.status(name)``, ``.set_usage(name, {"Premium Agent":
    130})``, ``.renew(name)``, ``.deregister(name)``, ``.call(method, path, body)`` (local API)."""
    return _ssmlab_labs.get(_mode(request.config, request.node), reset=True).agent


@pytest.fixture(scope="session")
def ssm_session(request: pytest.FixtureRequest, _ssmlab_labs: _Labs) -> SSM:
    """As ``ssm``, but one SSM for the whole session, never reset: what a test leaves, the next
    finds (a separate lab from ``ssm``'s)."""
    return _ssmlab_labs.get(_mode(request.config), reset=False).ssm


@pytest.fixture(scope="session")
def smart_agent_session(request: pytest.FixtureRequest, ssm_session: SSM, _ssmlab_labs: _Labs) -> SmartAgent:
    """As ``smart_agent``, trusting ``ssm_session``'s SSM, never reset."""
    return _ssmlab_labs.get(_mode(request.config), reset=False).agent
