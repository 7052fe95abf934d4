"""Registrations stay off-chain, in the caller's organisation's store only."""

from __future__ import annotations

import pytest

from ledger_gw.errors import RejectedError
from ledger_gw.services import registrations
from ledger_gw.services.gateway import Gateway
from tests.service.conftest import MakeCaller
from tests.support.memory_ledger import MemoryLedger

FATIMA = {"given_name": "Fatima", "family_name": "Al-Hassan", "date_of_birth": "1987-04-12"}


def test_register_read_correct_erase(
    gateway: Gateway, ledger: MemoryLedger, caller: MakeCaller
) -> None:
    a = caller("AGENCY-A")
    person = registrations.register(gateway, a, FATIMA)
    assert person["pid"] == gateway.pseudonym_key.pseudonym(FATIMA)
    assert registrations.get(gateway, a, person["person_id"])["attributes"] == FATIMA
    assert registrations.is_registered(gateway, a, person["pid"])
    corrected = {**FATIMA, "family_name": "Al-Hasan"}
    after = registrations.correct(gateway, a, person["person_id"], corrected)
    assert (after["attributes"], after["pid"]) == (corrected, person["pid"])  # the pid stays
    assert registrations.erase(gateway, a, person["person_id"]) == person["pid"]
    with pytest.raises(RejectedError) as info:
        registrations.get(gateway, a, person["person_id"])
    assert (info.value.kind, info.value.code) == ("not_found", "registration_not_found")
    assert not registrations.is_registered(gateway, a, person["pid"])
    assert ledger.size() == 0  # nothing of it reaches the ledger


def test_one_registration_per_person_and_organisation(gateway: Gateway, caller: MakeCaller) -> None:
    a, b = caller("AGENCY-A"), caller("AGENCY-B")
    person = registrations.register(gateway, a, FATIMA)
    with pytest.raises(RejectedError) as info:
        registrations.register(gateway, a, FATIMA)
    assert (info.value.kind, info.value.code) == ("conflict", "already_registered")
    assert not registrations.is_registered(gateway, b, person["pid"])
    with pytest.raises(RejectedError):
        registrations.get(gateway, b, person["person_id"])
    # Another agency registering her derives the same pseudonymous ID.
    assert registrations.register(gateway, b, FATIMA)["pid"] == person["pid"]


def test_person_held_ids(gateway: Gateway, caller: MakeCaller) -> None:
    a = caller("AGENCY-A")
    held = registrations.register(gateway, a, {"given_name": "Amina"}, id_scheme="held")
    assert held["pid"].startswith("h.")
    other = registrations.register(gateway, a, {"given_name": "Omar"}, held_id="h." + "c" * 26)
    assert other["pid"] == "h." + "c" * 26
    with pytest.raises(RejectedError) as info:
        registrations.register(gateway, a, {"given_name": "Omar"}, held_id="k1." + "c" * 26)
    assert (info.value.code, info.value.field) == ("invalid_held_id", "held_id")


def test_documents_carry_a_keyed_hash(gateway: Gateway, caller: MakeCaller) -> None:
    a = caller("AGENCY-A")
    person = registrations.register(gateway, a, FATIMA)
    doc = registrations.add_document(gateway, a, person["person_id"], "referral", b"form")
    read = registrations.get_document(gateway, a, person["person_id"], doc["document_id"])
    assert (read["content"], read["hash"], doc["pid"]) == ("form", doc["hash"], person["pid"])
    again = registrations.add_document(gateway, a, person["person_id"], "referral", b"form")
    assert again["hash"] != doc["hash"]  # salted: equal documents do not link on the ledger
    with pytest.raises(RejectedError) as info:
        registrations.add_document(gateway, a, person["person_id"], "passport", b"x")
    assert (info.value.code, info.value.field) == ("invalid_code", "kind")
    with pytest.raises(RejectedError) as info:
        registrations.add_document(gateway, a, person["person_id"], "other", b"x" * ((1 << 20) + 1))
    assert info.value.code == "too_large"
