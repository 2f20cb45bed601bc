"""A lab PKI of one test's own, for tests that may roll the SSM's PKI over (``POST
/_lab/pki/rollover`` moves its files): import both fixtures into the module, they replace the
session's shared ones there."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.pki_files import LabPki, init_lab_pki, load_lab_pki


@pytest.fixture
def pki_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "certs"
    init_lab_pki(folder)
    return folder


@pytest.fixture
def lab_pki(pki_dir: Path) -> LabPki:
    return load_lab_pki(pki_dir)
