"""HTTP/HTTPS proxy: the agent reaches the SSM only through a real CONNECT proxy on loopback
(its own route to the SSM is dead), and a refusing, absent or stranded proxy has its own code."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from lab.proxy import ConnectProxy
from shared.errors import Unavailable
from shared.states import ConnectionMode, RegistrationStatus
from shared.transportsettings import TransportSettings
from tests.conftest import MakeAgent, RunningAgent, RunningSSM


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def proxy(ssm: RunningSSM) -> AsyncIterator[ConnectProxy]:
    p = ConnectProxy(
        connect_to={
            "smartreceiver.cisco.com:443": f"127.0.0.1:{ssm.port}",
            "tools.cisco.com:443": f"127.0.0.1:{ssm.port}",
        }
    )
    await p.start()
    yield p
    await p.close()


async def proxied_agent(make_agent: MakeAgent, port: int, mode: str = "smart-transport") -> RunningAgent:
    """An agent whose own [resolve] leads nowhere: only the proxy can reach the SSM."""
    return await make_agent(port=free_port(), extra=f'mode = "{mode}"\nproxy = "127.0.0.1:{port}"')


@pytest.mark.parametrize("mode", ["smart-transport", "call-home"])
async def test_agent_registers_through_the_proxy(
    ssm: RunningSSM, make_agent: MakeAgent, proxy: ConnectProxy, mode: str
) -> None:
    """Registration (and its authorization) travel through CONNECT tunnels to the mode's default
    host; without the proxy the agent has no route to the SSM."""
    running = await proxied_agent(make_agent, proxy.port, mode)
    assert running.transport.settings.connection is ConnectionMode.PROXY
    view = await running.agent.runner(None).register(await ssm.token())
    assert view.registration_status is RegistrationStatus.REGISTERED
    host = "smartreceiver.cisco.com:443" if mode == "smart-transport" else "tools.cisco.com:443"
    assert proxy.tunnels and {t.target for t in proxy.tunnels} == {host}
    assert all(t.bytes_up > 0 and t.bytes_down > 0 for t in proxy.tunnels)
    await running.agent.set_transport(TransportSettings(mode=running.transport.settings.mode))
    with pytest.raises(Unavailable) as exc:  # Direct: the agent's own route is dead
        await running.agent.runner(None).renew_authorization()
    assert exc.value.code == "connection_failed"


async def test_diagnose_goes_through_the_proxy(ssm: RunningSSM, make_agent: MakeAgent, proxy: ConnectProxy) -> None:
    """diagnose resolves and connects to the proxy, reports its CONNECT answer, and checks the SSM
    through the tunnel."""
    running = await proxied_agent(make_agent, proxy.port)
    report = await running.agent.diagnose()
    assert report.ok, report.failure
    steps = {s.step: s for s in report.steps}
    assert "the proxy 127.0.0.1" in steps["resolve"].detail
    assert "200 Connection Established" in steps["proxy"].detail
    assert report.proxy == f"http://127.0.0.1:{proxy.port}"


async def test_refusing_proxy_is_proxy_refused(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """A proxy answering CONNECT with 403: proxy_refused, in the failure and in diagnose."""
    refusing = ConnectProxy(refuse=True)
    await refusing.start()
    try:
        running = await proxied_agent(make_agent, refusing.port)
        with pytest.raises(Unavailable) as exc:
            await running.agent.runner(None).register(await ssm.token())
        assert exc.value.code == "proxy_refused" and "403" in exc.value.message
        assert refusing.refused == ["smartreceiver.cisco.com:443"]
        report = await running.agent.diagnose()
        assert report.failure is not None and report.failure.code == "proxy_refused"
    finally:
        await refusing.close()


async def test_absent_proxy_is_proxy_unreachable(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Nothing listens at the proxy's address: proxy_unreachable (not the SSM's fault)."""
    running = await proxied_agent(make_agent, free_port())
    with pytest.raises(Unavailable) as exc:
        await running.agent.runner(None).register(await ssm.token())
    assert exc.value.code == "proxy_unreachable"
    report = await running.agent.diagnose()
    assert report.failure is not None and report.failure.code == "proxy_unreachable"


async def test_proxy_that_cannot_reach_the_ssm_is_proxy_upstream_failed(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """The proxy accepts CONNECT but cannot reach the SSM (502): proxy_upstream_failed."""
    stranded = ConnectProxy(connect_to={"smartreceiver.cisco.com:443": f"127.0.0.1:{free_port()}"})
    await stranded.start()
    try:
        running = await proxied_agent(make_agent, stranded.port)
        with pytest.raises(Unavailable) as exc:
            await running.agent.runner(None).register(await ssm.token())
        assert exc.value.code == "proxy_upstream_failed"
    finally:
        await stranded.close()
