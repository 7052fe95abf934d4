"""Errors of the audit tools, in the library's one tree so the CLI prints one line."""

from __future__ import annotations

from ledger_gw.errors import IntegrityError, RejectedError


class AuditError(RejectedError):
    """An audit input (bundle, state file, claim) is unusable: nothing was verified."""

    code = "audit_error"


class AuditFailedError(IntegrityError):
    """Verification ran and found at least one failure; the report says which."""

    code = "audit_failed"


class LogInconsistentError(IntegrityError):
    """A new checkpoint does not extend the one already trusted: the log forked or was rewritten."""

    code = "log_inconsistent"
