"""Fuzzing the admin API with schemathesis against the OpenAPI document the SSM serves.

Every operation of ``GET /openapi.json`` gets generated valid and invalid requests (the coverage
and fuzzing phases); the run fails on any 5xx answer, an undocumented status, a non-JSON answer
or an answer outside its schema. Path parameters are pinned to the lab account so operations
reach the store rather than stopping at 404. The seed is fixed: a failure is reproducible with
the command line printed.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from server.accounts import LAB_DOMAIN
from tests.conftest import RunningSSM
from tests.fuzzing import examples, schemathesis
from tests.server.conftest import Api
from tests.server.ownpki import lab_pki, pki_dir  # noqa: F401 - fuzzed lab routes may roll the PKI over

pytestmark = pytest.mark.e2e

CONFIG = """
[parameters]
domain = "{domain}"
va = "DEFAULT"
virtualAccountName = "DEFAULT"
"""


async def test_admin_api_survives_fuzzing(ssm: RunningSSM, api: Api, pki_dir: Path, tmp_path: Path) -> None:
    await api.login()
    (tmp_path / "schemathesis.toml").write_text(CONFIG.format(domain=LAB_DOMAIN))
    st = Path(sys.executable).parent / "st"
    args = [
        str(st),
        "run",
        f"{ssm.url}/openapi.json",
        "--tls-verify",
        str(pki_dir / "truststore.pem"),
        "-H",
        f"Authorization: Bearer {api.token}",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--phases",
        "coverage,fuzzing",
        "--max-examples",
        str(examples(12)),
        "--seed",
        "20261206",
        "--generation-database",
        "none",
        "--workers",
        "1",
        "--no-color",
    ]
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=600)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-6000:]
    cases = re.search(r"(\d+) generated, (\d+) passed", text)
    assert cases is not None and cases.group(1) == cases.group(2) and int(cases.group(1)) > 1000, text[-3000:]
    tested = re.search(r"Tested: (\d+)", text)
    assert tested is not None and int(tested.group(1)) >= 40, text[-3000:]  # every admin operation


async def test_lab_plane_survives_fuzzing(ssm: RunningSSM, tmp_path: Path) -> None:
    """The SSM's lab plane (its own document, /_lab/openapi.json): no 5xx, every refusal JSON with
    its code and fix. TLS is not verified: a fuzzed POST /_lab/tls switches the certificate."""
    await schemathesis(
        f"{ssm.url}/_lab/openapi.json",
        cwd=tmp_path,
        parameters={"piid": "no-such-instance", "id": "1"},
        max_examples=examples(6),
        min_operations=20,  # every lab route, the clock's and liveness included
    )
