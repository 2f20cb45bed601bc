"""What both kinds of lab are made of: a folder (its lab PKI in ``certs/``), the agent's product
instances, and the instant both clocks start from (``Backend``: what the fixtures need of one)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Protocol


class Backend(Protocol):
    """An in-process or subprocess lab that has started."""

    folder: Path
    instances: list[dict[str, Any]]

    @property
    def ssm_url(self) -> str: ...

    @property
    def agent_url(self) -> str: ...

    @property
    def ca_bundle(self) -> Path: ...

    @property
    def api_client_file(self) -> Path: ...

    def start(self) -> Backend: ...

    def close(self) -> None: ...


class LabFolder:
    """The part both labs share: where they live, what they play, from when."""

    def __init__(self, folder: Path, instances: list[dict[str, Any]], start: datetime) -> None:
        self.folder = folder
        self.certs = folder / "certs"
        self.instances = instances
        self.start_at = start

    @property
    def ca_bundle(self) -> Path:
        """The lab CA's truststore (PEM): what a client verifies the SSM's certificate against."""
        return self.certs / "truststore.pem"
