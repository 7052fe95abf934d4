"""What of this machine the process may use."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on: on Linux its CPU affinity, so a container
    pinned to one core of a 32-core host counts one, not 32 (a CPU quota without pinning
    is not seen). macOS and Windows say only how many the machine has."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
