"""Consent-gated reads: what one reader may see of a person's records.

Auditors see everything (they verify the whole log anyway). An agency always sees
what it wrote and the objects it is a party to (sender or receiver of a referral,
granter of an entitlement, collector/grantee of a consent). Anything else about a
person it sees only under a consent that the organisation which wrote the record
recorded, active at the query's timestamp, covering the reader, the purpose and the
record's data category. Each agency answers for its records (what it wrote, and the
events on its referrals and entitlements) and shares them under the consent it holds:
a consent another member records, the reader itself say, is that member's word, and
opens nothing of the records another member answers for.
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
        # person, recording organisation and category, judged once. A person's records
        # are many, and an agency may file many consents about her: one judgement per
        # record would cost every other reader their product.
        self._covered: dict[tuple[str, str, str], bool] = {}
        self._consents: dict[str, list[Obj]] = {}
        self._objects: dict[str, Obj | None] = {}

    def _object(self, key: str) -> Obj | None:
        if key not in self._objects:
            self._objects[key] = self.tx.get(key)
        return self._objects[key]

    def consented(self, pid: str, category: str, owner: str) -> bool:
        """Whether a consent ``owner`` recorded lets this reader see ``owner``'s records
        of ``category`` about her."""
        purpose = self.purpose
        if purpose is None:
            return False
        if (pid, owner, category) not in self._covered:
            if pid not in self._consents:
                self._consents[pid] = consent.for_pid(self.tx, pid)
            held = [c for c in self._consents[pid] if c["collected_by"] == owner]
            for each in fields.DATA_CATEGORIES | {category}:
                self._covered[(pid, owner, each)] = any(
                    consent.covers(c, self.tx.date, self.org, purpose, each) for c in held
                )
        return self._covered[(pid, owner, category)]

    def _about(self, record: Obj) -> Obj | None:
        """The object (referral, entitlement, consent) this event record is about."""
        event, category = record["event"], record["category"]
        if category == "referrals":
            return self._object(referral_key(event["referral_id"]))
        if category in ("entitlements", "assistance"):
            return self._object(entitlement_key(event["entitlement_id"]))
        return self._object(consent_key(event["consent_id"]))

    def is_party(self, record: Obj) -> bool:
        """The reader is a party to the object this event is about."""
        obj = self._about(record)
        if obj is None:
            return False
        if record["category"] == "referrals":
            return self.org in (obj["from_org"], obj["to_org"])
        if record["category"] in ("entitlements", "assistance"):
            return bool(obj["granted_by"] == self.org)
        return consent.is_party(obj, self.org)

    def _owner(self, record: Obj) -> str:
        """Whose consent shares this record: that of the organisation whose object it is
        about (a referral's sender, an entitlement's granter), as the object's own view
        is shared; a consent's events are their writer's."""
        obj = self._about(record) if record["category"] != "consent" else None
        if obj is None:
            return str(record["org"])
        return str(obj["from_org"] if record["category"] == "referrals" else obj["granted_by"])

    def sees_event(self, record: Obj) -> bool:
        return (
            self.auditor
            or record["org"] == self.org
            or self.is_party(record)
            or self.consented(record["pid"], record["category"], self._owner(record))
        )

    def sees_referral(self, referral: Obj) -> bool:
        return (
            self.auditor
            or self.org in (referral["from_org"], referral["to_org"])
            or self.consented(referral["pid"], "referrals", referral["from_org"])
        )

    def sees_entitlement(self, entitlement: Obj) -> bool:
        return (
            self.auditor
            or entitlement["granted_by"] == self.org
            or self.consented(entitlement["pid"], "entitlements", entitlement["granted_by"])
        )

    def sees_entitlement_id(self, entitlement_id: str) -> bool:
        entitlement = self._object(entitlement_key(entitlement_id))
        return entitlement is not None and self.sees_entitlement(entitlement)

    def sees_assistance(self, entitlement: Obj) -> bool:
        """What was delivered against an entitlement the reader sees."""
        return (
            self.auditor
            or entitlement["granted_by"] == self.org
            or self.consented(entitlement["pid"], "assistance", entitlement["granted_by"])
        )

    def sees_consent(self, record: Obj) -> bool:
        return self.auditor or consent.is_party(record, self.org)
