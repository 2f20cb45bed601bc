"""Every refusal a person or a script can meet names its fix (issue 15): each place that raises a
``SmartLicensingError`` (or one of its children) passes ``fix=``. Read from the source, so a new
refusal without a fix fails here before anyone meets it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("shared", "server", "agent", "plumbing", "lab")
ERRORS = {
    "SmartLicensingError",
    "BadRequest",
    "CsrInvalid",
    "Unauthorized",
    "Forbidden",
    "TokenRefused",
    "NotFound",
    "Conflict",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "OAuthError",
    "RequestTooLarge",
}


def test_every_refusal_names_its_fix() -> None:
    missing = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ERRORS):
                    continue
                names = {k.arg for k in node.keywords}
                if "fix" not in names and None not in names:  # None: **kwargs passed through
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.id}")
    assert missing == [], "refusals without a fix:\n" + "\n".join(missing)
