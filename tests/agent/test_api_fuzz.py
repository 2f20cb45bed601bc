"""Fuzzing the Smart Agent's local API and its lab plane with schemathesis against the documents
it serves (``/api/v1/openapi.json``, ``/_lab/openapi.json``): no 5xx, every refusal JSON with its
code and fix (issue 15). The agent is real, pointed at a real SSM on loopback.

Left out of the run, because they reach out to URLs the request names (never anything but
loopback here) or change how the agent reaches the SSM: ``diagnose``, ``PUT transport``, and the
truststore's import and removal. Their input is fuzzed below as pure functions (hypothesis)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.api import create_api
from plumbing.web import serve
from shared.errors import SmartLicensingError
from shared.transportsettings import TransportSettings, check_settings
from tests.conftest import MakeAgent, RunningSSM
from tests.fuzzing import examples, refusal, schemathesis
from tests.strategies import values

pytestmark = pytest.mark.e2e


@pytest.fixture
async def agent_api(ssm: RunningSSM, make_agent: MakeAgent) -> AsyncIterator[str]:
    running = await make_agent([{"name": "ucce-1"}])

    async def persist(_clock: object) -> None:
        return None

    runner, port = await serve.start(create_api(running.agent, persist), "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_local_api_survives_fuzzing(agent_api: str, tmp_path: Path) -> None:
    await schemathesis(
        f"{agent_api}/api/v1/openapi.json",
        cwd=tmp_path,
        parameters={"name": "ucce-1", "alias": "no-such-alias"},
        exclude=("post_diagnose", "put_transport", "post_trust", "delete_trust"),
        max_examples=examples(5),
        min_operations=20,
    )


async def test_agent_lab_plane_survives_fuzzing(agent_api: str, tmp_path: Path) -> None:
    await schemathesis(
        f"{agent_api}/_lab/openapi.json",
        cwd=tmp_path,
        parameters={},
        max_examples=examples(5),
        min_operations=8,
    )


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values(TransportSettings, mutate=True) | st.builds(TransportSettings, url=st.text(max_size=300)))
def test_transport_settings_are_checked_without_surprise(settings_: object) -> None:
    """The URL rules refuse with a code and a fix, or accept; never another exception."""
    if not isinstance(settings_, TransportSettings):
        return
    err = refusal(lambda: check_settings(settings_), SmartLicensingError)
    assert err is None or (isinstance(err, SmartLicensingError) and err.code and err.fix)
