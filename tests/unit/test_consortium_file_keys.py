"""Which changes of a member's key list a running ledger takes from its consortium file:
what a rotation makes, never a rewrite of the past."""

from __future__ import annotations

import datetime as dt

from ledger_gw.embedded.consortium_file import _extends
from ledger_gw.identity import KeyPeriod

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(days=30)
T2 = T1 + dt.timedelta(days=30)
OLD = KeyPeriod("aa" * 32, T0)
NEW = KeyPeriod("bb" * 32, T1)


def test_a_rotation_is_taken() -> None:
    assert _extends((OLD,), (KeyPeriod(OLD.fingerprint, T0, T1), NEW))


def test_a_retired_key_listed_again_is_not() -> None:
    """A file that lists the retired key once more, as if rotated back to it, would
    let a key rotated out (perhaps stolen) sign again."""
    rotated = (KeyPeriod(OLD.fingerprint, T0, T1), NEW)
    back = (KeyPeriod(OLD.fingerprint, T0, T1), KeyPeriod(NEW.fingerprint, T1, T2))
    assert not _extends(rotated, (*back, KeyPeriod(OLD.fingerprint, T2)))


def test_a_period_reopened_or_dropped_is_not() -> None:
    rotated = (KeyPeriod(OLD.fingerprint, T0, T1), NEW)
    assert not _extends(rotated, (OLD, NEW))
    assert not _extends(rotated, (NEW,))
