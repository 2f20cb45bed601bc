"""``ssmlab fault ... --url URL``: the faults of another SSM than the lab's (issue 16, item 13)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lab.cli import main
from tests.conftest import RunningSSM


async def test_fault_verbs_target_the_ssm_at_url(
    tmp_path: Path, ssm: RunningSSM, capsys: pytest.CaptureFixture[str]
) -> None:
    """add, list, remove and clear go to the SSM named by --url; no lab needs to exist."""

    def ssmlab(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(["--dir", str(tmp_path / "no-lab"), "fault", *args, "--url", ssm.url])
        # the in-process SSM logs to the same stdout: keep what the command printed
        printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("{", "no faults"))]
        return code, "\n".join(printed)

    code, out = await asyncio.to_thread(ssmlab, "add", "--kind", "drop", "--path", "/licservice/license")
    assert code == 0
    added = json.loads(out)
    assert (added["kind"], added["path"]) == ("drop", "/licservice/license") and "status" not in added
    code, out = await asyncio.to_thread(ssmlab, "list")
    assert code == 0 and [json.loads(line)["id"] for line in out.splitlines()] == [added["id"]]
    code, out = await asyncio.to_thread(ssmlab, "remove", str(added["id"]))
    assert code == 0 and json.loads(out)["id"] == added["id"]
    await asyncio.to_thread(ssmlab, "add", "--kind", "status", "--status", "429")
    code, out = await asyncio.to_thread(ssmlab, "clear")
    assert code == 0 and json.loads(out) == {"removed": 1}
    code, out = await asyncio.to_thread(ssmlab, "list")
    assert out.strip() == "no faults"


async def test_a_refused_fault_says_why(tmp_path: Path, ssm: RunningSSM, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--dir", str(tmp_path), "fault", "add", "--kind", "status", "--path", "/_lab/clock", "--url", ssm.url]
    assert await asyncio.to_thread(main, argv) == 1
    err = capsys.readouterr().err
    assert "lab plane" in err and "fix:" in err
