"""The ``ssmlab`` pytest plugin as a user of an installed ssmlab meets it: a new project (pytester's
folder, none of our conftest) with only test files, run by pytest in a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

#: The README's example, word for word: register, Out of Compliance, back In Compliance.
TEN_LINES = """
def test_out_of_compliance_and_back(ssm, smart_agent):
    smart_agent.register("ucce-1", ssm.token())
    smart_agent.set_usage("ucce-1", {"Premium Agent": 130})  # 100 are purchased
    ssm.advance("75m")  # five 15-minute usage reports over the pool
    assert smart_agent.status("ucce-1")["license_authorization_status"] == "Out of Compliance"
    ssm.buy("Premium Agent", 30)
    ssm.advance("15m")
    assert smart_agent.status("ucce-1")["license_authorization_status"] == "Authorized"
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=300)


def test_the_ten_line_test_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ooc=TEN_LINES)
    run(pytester).assert_outcomes(passed=1)


def test_the_readme_example_is_that_test(pytester: pytest.Pytester) -> None:
    """The README's "For integration testers" example, taken from the README and run as it is."""
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    section = readme[readme.index("## For integration testers") :]
    example = section[section.index("```python\n") + len("```python\n") : section.index("\n```\n")]
    assert example.count("\n") <= 10 and "def test_" in example
    assert example in (root / "docs" / "testing.md").read_text()  # the manual's page shows the same test
    pytester.makepyfile(test_compliance=example)
    run(pytester).assert_outcomes(passed=1)


def test_the_ten_line_test_fails_when_it_should(pytester: pytest.Pytester) -> None:
    """The same test without the purchase: it stays Out of Compliance, and says so."""
    pytester.makepyfile(test_ooc=TEN_LINES.replace('ssm.buy("Premium Agent", 30)', "pass"))
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*'Out of Compliance' == 'Authorized'*"])


def test_fixtures_lists_both_with_their_docs(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--fixtures")
    result.stdout.fnmatch_lines(
        [
            "*fixtures defined from ssmlab_pytest.plugin*",
            "ssm -- *",
            "*A running SSM (cloud) on a free loopback port*",
            "smart_agent -- *",
            "*A running Smart Agent whose product instances*",
            "ssm_session *session scope*",
        ]
    )


def test_each_test_starts_from_the_same_lab(pytester: pytest.Pytester) -> None:
    """Whatever a test did (an instance, a purchase, time, a fault, a TLS drill, requests), the
    next test's ``ssm`` is back where the first started; ``ssm_session`` is never reset."""
    pytester.makepyfile(
        test_reset="""
        import pytest
        from plumbing.clients.lab import LabError

        START = "2026-01-05T09:00:00+00:00"

        def premium(ssm):
            return next(p for p in ssm.pools() if p["license"] == "Premium Agent" and p["license_type"] == "Flex"
                        and p["usage_mode"] == "Production")

        @pytest.mark.parametrize("round", [1, 2])
        def test_changes_everything(ssm, smart_agent, round):
            assert ssm.now().isoformat() == START
            assert smart_agent.status("ucce-1")["registration_status"] == "Unregistered"
            assert ssm.instances() == [] and premium(ssm)["purchased"] == 100
            assert ssm.lab("GET", "/_lab/faults") == [] and ssm.journal() == []
            smart_agent.register("ucce-1", ssm.token())
            ssm.buy("Premium Agent", 5)
            ssm.advance("2d")
            ssm.fault(status=503, path="/licservice/license")
            ssm.tls("expired")
            assert len(ssm.instances()) == 1 and premium(ssm)["purchased"] == 105

        def test_the_session_lab_keeps_its_state_1(ssm_session, smart_agent_session):
            smart_agent_session.register("cvp-1", ssm_session.token())
            ssm_session.advance("1d")

        def test_the_session_lab_keeps_its_state_2(ssm_session, smart_agent_session):
            assert smart_agent_session.status("cvp-1")["registration_status"] == "Registered"
            assert ssm_session.now().isoformat() == "2026-01-06T09:00:00+00:00"
        """
    )
    run(pytester, "-p", "no:randomly").assert_outcomes(passed=4)


def test_the_helpers(pytester: pytest.Pytester) -> None:
    """The admin API with credentials, the CA bundle for requests, faults on the token endpoint,
    and counting journalled requests."""
    pytester.makepyfile(
        test_helpers="""
        import pytest
        import requests

        VAS = "/services/api/smart-accounts-and-licensing/v1/accounts/lab.ssmlab.example/customer/virtual-accounts"

        def test_admin_api_and_ca_bundle(ssm):
            assert requests.get(ssm.url + "/_lab/health", verify=ssm.ca_bundle, timeout=10).status_code == 200
            with pytest.raises(requests.exceptions.SSLError):
                requests.get(ssm.url + "/_lab/health", timeout=10)  # the lab CA is not the system's
            assert ssm.api.request("GET", VAS, auth=False)[0] == 401
            status, body = ssm.api.request("GET", VAS)
            assert status == 200, body
            ssm.verify(path="/as/token.oauth2", method="POST", count=1)
            ssm.verify(path=VAS, count=2)

        def test_a_fault_on_the_token_endpoint(ssm):
            fault = ssm.fault(status=503, path="/as/token.oauth2", times=1)
            status, body = ssm.api.request("POST", "/as/token.oauth2", {"grant_type": "client_credentials"}, auth=False)
            assert (status, body["error"]) == (503, "injected_fault")
            assert ssm.journal(path="/as/token.oauth2")[-1]["fault"] == fault["id"]
            assert ssm.api.access_token()  # times=1: the next one is served
            with pytest.raises(AssertionError, match="2 request.* expected exactly 3"):
                ssm.verify(path="/as/token.oauth2", count=3)

        def test_a_tls_drill(ssm):
            ssm.tls("expired")
            with pytest.raises(requests.exceptions.SSLError):
                requests.get(ssm.url + "/_lab/health", verify=ssm.ca_bundle, timeout=10)
        """
    )
    run(pytester).assert_outcomes(passed=3)


@pytest.mark.e2e
def test_real_processes_on_request(pytester: pytest.Pytester) -> None:
    """``@pytest.mark.ssmlab_subprocess``: ``ssm-server run`` and ``smart-agent run`` of their own,
    which the ten-line test passes against too; ``--ssmlab-subprocess`` does it for every test."""
    marked = TEN_LINES.replace("def test_", "import pytest\n@pytest.mark.ssmlab_subprocess\ndef test_")
    pytester.makepyfile(
        test_ooc=marked
        + """
@pytest.mark.ssmlab_subprocess
def test_processes(ssm, smart_agent):
    assert ssm.mode == "subprocess"
    assert (ssm.backend.folder / "ssm.log").exists() and (ssm.backend.folder / "agent.log").exists()
"""
    )
    run(pytester).assert_outcomes(passed=2)


async def test_our_conftest_fixtures_win_over_the_plugins(ssm: object) -> None:
    """tests/conftest.py's ``ssm`` (an SSM in the test's own event loop) overrides the plugin's of
    the same name, as a project's own fixtures always do: this suite keeps its fixtures."""
    assert type(ssm).__name__ == "RunningSSM" and type(ssm).__module__.endswith("conftest")


def test_other_instances_and_a_wrong_mode(pytester: pytest.Pytester) -> None:
    """A project's conftest.py chooses the agent's instances; a mode the plugin does not know is
    refused with the ones it does."""
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def ssmlab_instances():
            return [{"name": "cvp-9", "product": "CVP", "deployment_type": "CVP", "license_type": "Flex",
                     "usage_mode": "Production"}]
        """
    )
    pytester.makepyfile(
        test_names="""
        def test_names(ssm, smart_agent):
            assert smart_agent.names == ["cvp-9"]
            assert smart_agent.register("cvp-9", ssm.token())["registration_status"] == "Registered"
        """
    )
    run(pytester).assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nssmlab_mode = docker\n")
    result = run(pytester)
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*ssmlab_mode = 'docker': give one of inprocess, subprocess*"])
