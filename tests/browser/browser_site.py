"""The running dashboard a browser test talks to, and where its screenshots go."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@dataclass
class Site:
    url: str
    directory: Path
    tokens: dict[str, str]
    referrals: list[str]


def screenshot(driver: Any, name: str, directory: Path = SCREENSHOTS) -> Path:
    """Save the whole page (the window grown to the document's height) for people to see."""
    directory.mkdir(parents=True, exist_ok=True)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1280, max(900, min(height + 120, 6000)))
    path = directory / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
