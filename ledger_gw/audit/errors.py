"""Errors of the audit tools, under the library's one root so the CLI prints one line."""

from __future__ import annotations

from ledger_gw.errors import LedgerError


class AuditError(LedgerError):
    """An audit input (bundle, state file, claim) is unusable."""

    code = "audit_error"


class AuditFailedError(LedgerError):
    """Verification ran and found at least one failure; the report says which."""

    code = "audit_failed"


class LogInconsistentError(LedgerError):
    """A new checkpoint does not extend the one already trusted: the log forked or was rewritten."""

    code = "log_inconsistent"
