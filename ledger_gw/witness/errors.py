"""Why a witness refuses to cosign: one reason per answer the witness protocol gives.

The reasons name what went wrong, not how it travels; the server maps them to the
status codes of C2SP tlog-witness, and the client maps those codes back.
"""

from __future__ import annotations

from enum import StrEnum

from ledger_gw.errors import LedgerError


class Reason(StrEnum):
    MALFORMED = "malformed_request"
    UNKNOWN_LOG = "unknown_log"
    BAD_SIGNATURE = "bad_log_signature"
    OLD_SIZE = "old_size_mismatch"
    FORK = "root_mismatch"
    BAD_PROOF = "bad_consistency_proof"


class WitnessError(LedgerError):
    """Root of the witness's errors."""

    code = "witness_error"


class RefusedError(WitnessError):
    """The witness did not cosign, and remembers nothing of the request."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message, code=reason.value)
        self.reason = reason


class SizeConflictError(RefusedError):
    """The request's old size is not the size the witness last cosigned: ``size`` is."""

    def __init__(self, size: int) -> None:
        super().__init__(Reason.OLD_SIZE, f"the witness last cosigned tree size {size}")
        self.size = size


class WitnessUnavailableError(WitnessError):
    """The witness could not be reached, or answered something that is not the protocol."""

    code = "witness_unavailable"
