"""The subprocess lab: ``ssm-server run`` and ``smart-agent run`` as real processes on free
loopback ports, both on a virtual clock from the same instant (``lab.processes.Lab`` does the
work, as for ``ssmlab up``). For products under test that must reach a real port of their own
process, or a test of the command lines themselves."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from lab.processes import ANY_PORT, Lab
from ssmlab_pytest.backend import LabFolder


class SubprocessLab(LabFolder):
    def __init__(self, folder: Path, instances: list[dict[str, Any]], start: datetime) -> None:
        super().__init__(folder, instances, start)
        self._lab = Lab(folder, self.certs)

    @property
    def api_client_file(self) -> Path:
        return self._lab.api_client_file

    @property
    def ssm_url(self) -> str:
        return self._lab.ssm_url

    @property
    def agent_url(self) -> str:
        return self._lab.agent_url

    def start(self) -> SubprocessLab:
        self._lab.prepare(self.instances, fresh=True, ssm_port=ANY_PORT, agent_port=ANY_PORT)
        self._lab.start(rate=0, clock="virtual", epoch=self.start_at.isoformat())
        return self

    def close(self) -> None:
        self._lab.stop()
