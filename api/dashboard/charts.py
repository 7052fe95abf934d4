"""Geometry of the dashboard's bar charts, computed here and drawn as inline SVG by the
templates: no chart library, no script, nothing fetched. A suppressed value is not drawn
as a bar of any length (that would leak it); it gets a hatched marker and its label
says "suppressed (< k)"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LABEL_WIDTH = 90
BAR_GAP = 6


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | None
    x: float
    y: float
    width: float
    height: float

    @property
    def suppressed(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    horizontal: bool
    bars: tuple[Bar, ...]
    k: int

    @property
    def empty(self) -> bool:
        return not self.bars


def _scale(values: Sequence[int | None]) -> int:
    return max([v for v in values if v is not None] + [1])


def horizontal(
    title: str, items: Sequence[tuple[str, int | None]], k: int, width: int = 420
) -> Chart:
    """One bar per row, labels on the left: for the referral funnel and sectors."""
    row = 28
    top = max(_scale([v for _, v in items]), 1)
    span = width - LABEL_WIDTH - 130
    bars = tuple(
        Bar(
            label,
            value,
            LABEL_WIDTH,
            i * row + BAR_GAP / 2,
            span * (value / top) if value is not None else span * 0.15,
            row - BAR_GAP,
        )
        for i, (label, value) in enumerate(items)
    )
    return Chart(title, width, max(len(items), 1) * row + 4, True, bars, k)


def vertical(
    title: str, items: Sequence[tuple[str, int | None]], k: int, width: int = 640
) -> Chart:
    """One column per period, labels underneath: for deliveries over time."""
    plot, bottom = 180, 40
    top = _scale([v for _, v in items])
    slot = width / max(len(items), 1)
    bars = []
    for i, (label, value) in enumerate(items):
        height = plot * (value / top) if value is not None else plot * 0.15
        bars.append(
            Bar(label, value, i * slot + BAR_GAP, 20 + plot - height, slot - 2 * BAR_GAP, height)
        )
    return Chart(title, width, 20 + plot + bottom, False, tuple(bars), k)
