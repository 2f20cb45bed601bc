"""Command lines given a path they cannot use print one line and its fix, never a traceback
(issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import cli as agent_cli
from lab import cli as lab_cli
from server import cli as server_cli


def test_ssm_server_sync_import_of_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "request.json"
    assert server_cli.main(["sync", "import", str(missing), "--db", str(tmp_path / "ssm.db")]) == 2
    err = capsys.readouterr().err
    assert f"cannot use {missing}: No such file or directory" in err and "fix:" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 2


def test_ssm_server_sync_import_of_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder given where a file is read."""
    assert server_cli.main(["sync", "import", str(tmp_path), "--db", str(tmp_path / "ssm.db")]) == 2
    err = capsys.readouterr().err
    assert "cannot use" in err and "name a file, not a folder" in err and "Traceback" not in err


def test_ssmlab_scenario_run_of_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lab_cli.main(["scenario", "run", str(tmp_path / "mine.toml")]) == 1
    err = capsys.readouterr().err
    assert "no built-in scenario and no file named" in err and "ssmlab scenario list" in err


def test_smart_agent_with_a_missing_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert agent_cli.main(["--config", str(tmp_path / "agent.toml"), "run"]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "--config" in err and "Traceback" not in err


def test_smart_agent_trust_import_of_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = agent_cli.main(["--api", "http://127.0.0.1:9", "trust", "import", str(tmp_path / "ca.pem"), "--alias", "ca"])
    assert code != 0
    err = capsys.readouterr().err
    assert "ca.pem" in err and "Traceback" not in err
