"""Fixtures for the contract's unit tests; the in-memory Stub is cc_support.FakeStub.

The embedded ledger runs the same contract in the integration tier; this fake only
honours the Stub protocol: sorted range scans, one event per tx.
"""

from __future__ import annotations

import pytest
from cc_support import Ledger


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()
