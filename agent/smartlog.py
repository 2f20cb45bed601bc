"""``SmartAgent.log`` in the agent's data directory: one human-readable line per failure, with
its stable code and the fix, and a line when communication works again.

    2026-01-05 09:00:00 UTC  ERROR  ucce-1  register  tls_host_name_vs_ip: <what> | fix: <how>
    2026-01-05 09:02:00 UTC  INFO   ucce-1  register  communication with the SSM restored

Times are the agent's domain time (the same clock as ``smart-agent events``). Messages carry
no secret: errors never include tokens or keys.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from shared.errors import SmartLicensingError

FILENAME = "SmartAgent.log"


def _one_line(text: str) -> str:
    return " ".join(text.split())


class SmartLog:
    def __init__(self, folder: Path) -> None:
        self.path = folder / FILENAME

    def _write(self, at: datetime, level: str, who: str, action: str, text: str) -> None:
        line = f"{at.strftime('%Y-%m-%d %H:%M:%S UTC')}  {level:<5}  {who}  {action or '-'}  {_one_line(text)}\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)

    def failure(self, at: datetime, who: str, action: str, err: SmartLicensingError) -> None:
        text = f"{err.code}: {err.message}" + (f" | fix: {err.fix}" if err.fix else "")
        self._write(at, "ERROR", who, action, text)

    def info(self, at: datetime, who: str, action: str, text: str) -> None:
        self._write(at, "INFO", who, action, text)
