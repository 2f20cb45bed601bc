"""A small synchronous client of the agent's local API, for the command line."""

from __future__ import annotations

from typing import Any

from plumbing.clients.lab import LabError, call


class ApiError(Exception):
    def __init__(self, message: str, code: str = "", fix: str = "") -> None:
        super().__init__(message)
        self.message, self.code, self.fix = message, code, fix


class Client:
    def __init__(self, base: str, timeout: float = 120.0) -> None:
        self.base = base
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            return call(self.base + path, method, body, timeout=self.timeout)
        except LabError as exc:
            if exc.code == "unreachable":
                raise ApiError(
                    f"cannot reach the agent's local API: {exc.message}",
                    "agent_unreachable",
                    "start it with 'smart-agent run --config agent.toml' (or pass --api URL)",
                ) from None
            raise ApiError(exc.message, exc.code, exc.fix) from None
