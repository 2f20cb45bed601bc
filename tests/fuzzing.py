"""Running schemathesis against a plane's OpenAPI document (issue 15), for the fuzz tests.

``SSMLAB_FUZZ_EXAMPLES`` sets the examples per operation (``make fuzz`` raises it); the default
keeps ``make test`` within its budget. The seed is fixed: a failure is reproducible with the
command line printed in the failure."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from shared.errors import BadRequest

#: Every answer is checked: no 5xx, a documented status, a documented media type, and a body of
#: its documented schema (every refusal: JSON with its code and fix).
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
SEED = "20261206"


def examples(default: int) -> int:
    """Examples per operation: ``$SSMLAB_FUZZ_EXAMPLES`` or ``default``."""
    return int(os.environ.get("SSMLAB_FUZZ_EXAMPLES", default))


async def schemathesis(
    document: str,
    *,
    cwd: Path,
    parameters: dict[str, str],
    tls_verify: str = "false",
    headers: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    max_examples: int = 8,
    min_operations: int = 1,
) -> str:
    """Fuzz the operations of ``document`` (but those whose handler is named in ``exclude``); its
    output. Fails on any failed check."""
    (cwd / "schemathesis.toml").write_text("[parameters]\n" + "".join(f'{k} = "{v}"\n' for k, v in parameters.items()))
    args = [str(Path(sys.executable).parent / "st"), "run", document, "--tls-verify", tls_verify]
    for h in headers:
        args += ["-H", h]
    if exclude:  # by handler name: operation ids are METHOD-HANDLER-N
        args += ["--exclude-operation-id-regex", "^[a-z]+-(" + "|".join(map(re.escape, exclude)) + ")-[0-9]+$"]
    args += ["--checks", CHECKS, "--phases", "coverage,fuzzing", "--max-examples", str(max_examples)]
    args += ["--seed", SEED, "--generation-database", "none", "--workers", "1", "--no-color"]
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=1800)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-6000:]
    cases = re.search(r"(\d+) generated, (\d+) passed", text)
    assert cases is not None and cases.group(1) == cases.group(2), text[-3000:]
    tested = re.search(r"Tested: (\d+)", text)
    assert tested is not None and int(tested.group(1)) >= min_operations, text[-3000:]
    return text


def refusal(call: Callable[[], object], kind: type[Exception] = BadRequest) -> Exception | None:
    """The refusal ``call`` raised (of ``kind``), or None; any other exception fails the test."""
    try:
        call()
    except kind as err:
        return err
    return None
