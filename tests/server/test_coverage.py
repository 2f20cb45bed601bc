"""COVERAGE.md lists every admin API route the SSM serves (the document cannot fall behind)."""

from __future__ import annotations

from pathlib import Path

from server.admin.openapi import admin_document
from server.admin.routing import LEGACY, SOFTWARE
from server.app import create_app
from server.pki_files import LabPki
from server.settings import ServerSettings
from shared.clock import VirtualClock
from tests.conftest import START

COVERAGE = Path(__file__).resolve().parents[2] / "COVERAGE.md"


def test_every_served_route_is_in_coverage(tmp_path: Path, lab_pki: LabPki) -> None:
    app = create_app(ServerSettings(db_path=tmp_path / "x.db"), clock=VirtualClock(START), lab_pki=lab_pki)
    text = COVERAGE.read_text().replace("\\|", "|")
    paths = admin_document(app)["paths"]
    assert len(paths) >= 39
    missing = []
    for template in paths:
        rel = template
        for prefix in (LEGACY + "/", SOFTWARE + "/"):
            rel = rel.removeprefix(prefix)
        rel = rel.replace("{version}", "v1|v2")
        if rel not in text:
            missing.append(template)
    assert not missing, f"served but not in COVERAGE.md: {missing}"
