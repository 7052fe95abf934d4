"""A witness: an independent party that cosigns a log's checkpoints only while the log
stays append-only (C2SP tlog-witness and tlog-cosignature).

It remembers, in its own directory, the last checkpoint it cosigned for each log and
cosigns a new one only with a consistency proof from it: a forked or rolled-back log
gets no cosignature.
"""

from ledger_gw.witness.client import Answer, request_cosignature
from ledger_gw.witness.core import Cosigned, TrustedLog, Witnessed, add_checkpoint, attach
from ledger_gw.witness.errors import (
    Reason,
    RefusedError,
    SizeConflictError,
    WitnessError,
    WitnessUnavailableError,
)
from ledger_gw.witness.home import WitnessHome
from ledger_gw.witness.protocol import AddCheckpoint
from ledger_gw.witness.server import create_app, serve
from ledger_gw.witness.service import Witness
from ledger_gw.witness.store import WitnessStore

__all__ = [
    "AddCheckpoint",
    "Answer",
    "Cosigned",
    "Reason",
    "RefusedError",
    "SizeConflictError",
    "TrustedLog",
    "Witness",
    "WitnessError",
    "WitnessHome",
    "WitnessStore",
    "WitnessUnavailableError",
    "Witnessed",
    "add_checkpoint",
    "attach",
    "create_app",
    "request_cosignature",
    "serve",
]
