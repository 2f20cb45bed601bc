"""The admin verbs of this change, as typed: bad arguments and unknown ids get a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from server import cli


def test_api_client_verbs_and_their_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "ssm.db")
    assert cli.main(["api-client", "create", "--name", "script", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "client_secret:" in out and "shown once" in out
    client_id = next(line.split()[-1] for line in out.splitlines() if "client_id:" in line)
    assert cli.main(["api-client", "revoke", "nobody", "--db", db]) == 2
    assert "no API client 'nobody'" in capsys.readouterr().err
    assert cli.main(["api-client", "revoke", client_id, "--db", db]) == 0
    assert cli.main(["api-client", "revoke", client_id, "--db", db]) == 2
    assert "already revoked" in capsys.readouterr().err
    assert cli.main(["api-client", "list", "--db", db]) == 0
    assert "revoked" in capsys.readouterr().out


def test_reservation_release_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "ssm.db")
    with pytest.raises(SystemExit, match="UDI_PID:SERIAL"):
        cli.main(["reservation", "release", "no-colon", "--db", db])
    assert cli.main(["reservation", "release", "UCCE:SN-NONE", "--db", db]) == 2
    assert "no reservation for device UCCE:SN-NONE" in capsys.readouterr().err
    assert cli.main(["reservation", "list", "--db", db]) == 0
    assert "no reservation" in capsys.readouterr().out
