"""Fixtures for the contract's unit tests; the in-memory Stub is cc_support.FakeStub.

The embedded ledger runs the same contract in the integration tier; this fake only
honours the Stub protocol: sorted range scans, one event per tx.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The project is not installed into the venv; make `import chaincode` work from a plain
# `.venv/bin/pytest` run. (Setting `pythonpath = ["."]` in pyproject would make this moot.)
_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from cc_support import Ledger  # noqa: E402


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()
