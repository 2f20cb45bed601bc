"""The scenario runner: every built-in scenario passes on a private lab, a wrong expectation
fails the run (report and exit code), and a bad scenario file is refused before anything runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab import scenario

BUILTIN = [name for name, _ in scenario.builtin()]


def test_the_issue_s_scenarios_are_built_in() -> None:
    """Scenarios 1 and 2 of the seed, the three expiries, and one per TLS drill."""
    expected = {"scenario-1", "scenario-2", "evaluation-expiry", "authorization-expiry", "registration-expiry"}
    drills = {
        "wrong-host", "ip-only", "cn-only", "expired", "not-yet-valid", "self-signed", "untrusted-root",
        "incomplete-chain", "customer-ca",
        # issue 19
        "wildcard", "wildcard-mismatch", "sha1-signature", "weak-key", "tls1.0-only", "wrong-eku",
        "no-basic-constraints", "name-constraints", "expired-intermediate", "client-cert-required", "revoked",
    }  # fmt: skip
    assert expected | {f"tls-{d}" for d in drills} | {"clock-skew"} <= set(BUILTIN)
    # issue 19: mutual TLS (the ID-certificate drills) and the CA rollover
    later = {"tls-id-revoked", "tls-id-foreign", "tls-id-expired", "tls-ca-rollover", "tls-ca-rollover-prepared"}
    assert later <= set(BUILTIN)


def test_a_rollover_scenario_never_rolls_the_lab_s_own_pki_over(pki_dir: Path) -> None:
    """The scenario works on a copy of the certificates: the lab's root is the same after it."""
    before = (pki_dir / "ca.pem").read_bytes(), (pki_dir / "truststore.pem").read_bytes()
    report = scenario.run("tls-ca-rollover-prepared", certs=pki_dir, progress=False)
    assert report["passed"], report
    assert ((pki_dir / "ca.pem").read_bytes(), (pki_dir / "truststore.pem").read_bytes()) == before
    assert not (pki_dir / "next").exists() and not (pki_dir / "previous").exists()


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_scenario_passes(name: str, pki_dir: Path) -> None:
    report = scenario.run(name, certs=pki_dir, progress=False)
    failed = [c for c in report["checks"] if not c["passed"]]
    assert report["passed"], (report.get("error"), failed)
    assert report["checks"] and not failed
    assert "lab" not in report  # a passing run leaves nothing behind


WRONG = """
name = "wrong"
description = "expects what does not happen"

[[step]]
register = "ucce-1"

[[step]]
advance = "15m"

[[step]]
expect = "ucce-1"
authorization = "Out of Compliance"
"""


def test_a_wrong_expectation_fails_with_what_was_found(tmp_path: Path, pki_dir: Path) -> None:
    """The grader is not a rubber stamp: the failed check names expected and actual, the lab is
    kept for inspection, and the command exits 1 with a JSON report."""
    file = tmp_path / "wrong.toml"
    file.write_text(WRONG)
    report = scenario.run(str(file), certs=pki_dir, progress=False)
    assert report["passed"] is False and report["failed"] == 1
    (check,) = report["checks"]
    assert (check["expected"], check["actual"]) == ("Out of Compliance", "Authorized")
    assert Path(report["lab"]).is_dir()

    done = subprocess.run(
        [sys.executable, "-m", "lab", "--certs", str(pki_dir), "scenario", "run", str(file), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    graded = json.loads(done.stdout)
    assert graded["passed"] is False and graded["checks"][0]["actual"] == "Authorized"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[step]]\nwarp = '1d'\n", "give exactly one action"),
        ("[[step]]\nadvance = '1d'\nregister = 'x'\n", "give exactly one action"),
        ("[[step]]\nadvance = 'soon'\n", "step 1 (advance)"),
        ("[[step]]\nnetwork = 'flaky'\n", "'cut' or 'restore'"),
        ("[[step]]\nusage = 'ucce-1'\n", "missing ['set']"),
        ("[[step]]\nregister = 'ucce-1'\ncolour = 'red'\n", "unknown key(s) ['colour']"),
        ("name = 'x'\n", "no [[step]] tables"),
        ("[[step]\n", "not valid TOML"),
    ],
)
def test_bad_scenario_files_are_refused_with_the_step_named(text: str, message: str) -> None:
    with pytest.raises(scenario.ScenarioError) as exc:
        scenario.parse(text, "bad.toml")
    assert message in str(exc.value)


def test_an_unknown_scenario_is_a_clear_error(pki_dir: Path) -> None:
    report = scenario.run("no-such-scenario", certs=pki_dir, progress=False)
    assert report["passed"] is False and "ssmlab scenario list" in report["error"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[[step]]\nnote = 'x'\n[[step]]\nbuy = 'Premium Agent'\nquantity = '30'\n",
            "step 2 (buy): quantity: expected `int`",
        ),
        ("[[step]]\nusage = 'ucce-1'\nset = { 'Premium Agent' = 'many' }\n", "step 1 (usage): set"),
        ("[[step]]\nexpect = 'ucce-1'\nenforcement = 'no'\n", "step 1 (expect): enforcement: expected `bool`"),
        ("[[step]]\napply_fix = 'yes'\n", "step 1 (apply_fix): apply_fix: expected `bool`"),
        ("[[step]]\nrenew = 'auth'\n", "step 1 (renew): 'authorization' or 'registration', not 'auth'"),
        ("[[step]]\nexpect_event = 'ssm'\n", "step 1 (expect_event): missing ['kind']"),
    ],
)
def test_wrong_types_and_values_are_refused_when_the_file_loads(text: str, message: str) -> None:
    with pytest.raises(scenario.ScenarioError) as exc:
        scenario.parse(text, "bad.toml")
    assert message in str(exc.value)


def test_each_kind_of_step_is_typed_and_has_its_handler() -> None:
    """The player's table covers every kind the loader knows, and every built-in file decodes
    into those kinds (their arguments typed: counts are ints, expectations bools or strings)."""
    from lab.player import HANDLERS
    from lab.steps import STEPS, Buy, Expect

    assert set(HANDLERS) == set(STEPS.values())
    loaded = [scenario.load(name) for name in BUILTIN]
    kinds = {type(step) for s in loaded for step in s.steps}
    assert kinds <= set(STEPS.values())
    one = scenario.load("scenario-1")
    buy = next(s for s in one.steps if isinstance(s, Buy))
    assert (buy.buy, buy.quantity, buy.type) == ("Premium Agent", 30, "Flex")
    expect = next(s for s in one.steps if isinstance(s, Expect) and s.usage_count is not None)
    assert expect.usage_count == 130 and expect.given() == {
        "authorization": "Out of Compliance",
        "license": "Premium Agent",
        "usage_count": 130,
        "actual_usage": 90,
    }


@pytest.mark.parametrize("json_report", [False, True])
def test_a_scenario_file_without_steps_says_so(tmp_path: Path, pki_dir: Path, json_report: bool) -> None:
    """Exit 1 with the reason on stderr, with or without --json (with it, the report says it too)."""
    file = tmp_path / "empty.toml"
    file.write_text('name = "empty"\ndescription = "nothing to play"\n')
    args = [sys.executable, "-m", "lab", "--certs", str(pki_dir), "scenario", "run", str(file)]
    done = subprocess.run(args + (["--json"] if json_report else []), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "no [[step]] tables" in done.stderr and str(file) in done.stderr
    if json_report:
        assert "no [[step]] tables" in json.loads(done.stdout)["error"]
