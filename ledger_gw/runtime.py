"""Tuning for the gateway's long-lived server processes."""

from __future__ import annotations

import gc

# Requests and appends allocate many short-lived containers and hardly any cycles: with
# Python's default threshold (700), the cycle collector took a tenth of the writer's time.
GC_THRESHOLDS = (50_000, 50, 100)


def settle_gc() -> None:
    """Once a process has loaded what it keeps for life: the collector leaves that alone
    (gc.freeze) and runs less often."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
