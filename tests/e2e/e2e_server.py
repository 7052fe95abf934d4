"""The running gateway an end-to-end test talks to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Server:
    url: str
    directory: Path
    tokens: dict[str, str]

    def headers(self, org: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[org]}"}
