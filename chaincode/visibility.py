"""Consent-gated reads: what one reader may see of a person's records.

Auditors see everything (they verify the whole log anyway). An agency always sees
what it wrote and the objects it is a party to (sender or receiver of a referral,
granter of an entitlement, collector/grantee of a consent). Anything else about a
person it sees only under a consent that is active at the query's timestamp and
covers the reader, the purpose and the record's data category.
"""

from __future__ import annotations

from chaincode import consent, fields
from chaincode.errors import ValidationError
from chaincode.store import Obj, Tx, consent_key, entitlement_key, referral_key


def check_purpose(purpose: str) -> str:
    if purpose not in fields.PURPOSES:
        raise ValidationError("invalid_code", "purpose is not in its vocabulary", "purpose")
    return purpose


class Reader:
    """One query's reader; caches the objects it looks up and what consents allow it."""

    def __init__(self, tx: Tx, purpose: str | None) -> None:
        self.tx = tx
        self.org = tx.org
        self.auditor = tx.creator.role == "auditor"
        self.purpose = purpose
        # Whether a consent covers this reader, at this time, for this purpose: per
        # person and category, judged once. A person's records are many, and an agency
        # may file many consents about her: one judgement per record would cost every
        # other reader their product.
        self._covered: dict[tuple[str, str], bool] = {}
        self._objects: dict[str, Obj | None] = {}

    def _object(self, key: str) -> Obj | None:
        if key not in self._objects:
            self._objects[key] = self.tx.get(key)
        return self._objects[key]

    def consented(self, pid: str, category: str) -> bool:
        purpose = self.purpose
        if purpose is None:
            return False
        if (pid, category) not in self._covered:
            consents = consent.for_pid(self.tx, pid)
            for each in fields.DATA_CATEGORIES | {category}:
                self._covered[(pid, each)] = any(
                    consent.covers(c, self.tx.date, self.org, purpose, each) for c in consents
                )
        return self._covered[(pid, category)]

    def is_party(self, record: Obj) -> bool:
        """The reader is a party to the object this event is about."""
        event = record["event"]
        category = record["category"]
        if category == "referrals":
            obj = self._object(referral_key(event["referral_id"]))
            return obj is not None and self.org in (obj["from_org"], obj["to_org"])
        if category in ("entitlements", "assistance"):
            obj = self._object(entitlement_key(event["entitlement_id"]))
            return obj is not None and obj["granted_by"] == self.org
        obj = self._object(consent_key(event["consent_id"]))
        return obj is not None and consent.is_party(obj, self.org)

    def sees_event(self, record: Obj) -> bool:
        return (
            self.auditor
            or record["org"] == self.org
            or self.is_party(record)
            or self.consented(record["pid"], record["category"])
        )

    def sees_referral(self, referral: Obj) -> bool:
        return (
            self.auditor
            or self.org in (referral["from_org"], referral["to_org"])
            or self.consented(referral["pid"], "referrals")
        )

    def sees_entitlement(self, entitlement: Obj) -> bool:
        return (
            self.auditor
            or entitlement["granted_by"] == self.org
            or self.consented(entitlement["pid"], "entitlements")
        )

    def sees_assistance(self, entitlement: Obj) -> bool:
        """What was delivered against an entitlement the reader sees."""
        return (
            self.auditor
            or entitlement["granted_by"] == self.org
            or self.consented(entitlement["pid"], "assistance")
        )

    def sees_consent(self, record: Obj) -> bool:
        return self.auditor or consent.is_party(record, self.org)
