"""A person's credential, checkable offline by any member: an SD-JWT VC signed by the
issuing agency, carrying her pseudonymous ID, the claims of its kind (an entitlement's terms, or
the date she registered) she chose to disclose, and the
ledger event that established it with its C2SP tlog-proof under a witnessed checkpoint.

Domain logic only (issue, verify, the printed card): no HTTP, no storage. The verifier's
trust roots are the consortium file it pins, never a key the credential carries.
"""

from ledger_gw.credentials.format import (
    CARD_HEADER,
    DISCLOSABLE,
    DISCLOSABLE_OF,
    KINDS,
    REFERENCES,
    Binding,
    Credential,
)
from ledger_gw.credentials.issue import Subject, issue
from ledger_gw.credentials.verify import Verified, as_issued, verify

__all__ = [
    "CARD_HEADER",
    "DISCLOSABLE",
    "DISCLOSABLE_OF",
    "KINDS",
    "REFERENCES",
    "Binding",
    "Credential",
    "Subject",
    "Verified",
    "as_issued",
    "issue",
    "verify",
]
