"""Registering a person whose name two service points type in two ways: she is found,
not registered twice, also when her registration holds the ID an earlier release gave."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

import pytest

from ledger_gw.errors import RejectedError
from ledger_gw.offchain.models import Person
from ledger_gw.services import registrations
from ledger_gw.services.gateway import Gateway
from tests.service.conftest import MakeCaller

#: As a registry abroad wrote her: harakat, ta marbuta, a hamza, Arabic-Indic digits.
REGISTRY = {"given_name": "فَاطِمَة", "family_name": "أحمد", "date_of_birth": "١٩٩١-٠٣-١٤"}
#: As a caseworker's keyboard types her: no vowels, ha for ta marbuta, bare alef.
TYPED = {"given_name": "فاطمه", "family_name": "احمد", "date_of_birth": "1991-03-14"}


def test_the_same_person_typed_otherwise_is_already_registered(
    gateway: Gateway, caller: MakeCaller
) -> None:
    a = caller("AGENCY-A")
    person = registrations.register(gateway, a, REGISTRY)
    with pytest.raises(RejectedError) as info:
        registrations.register(gateway, a, TYPED)
    assert (info.value.code, info.value.details) == (
        "already_registered",
        {"person_id": person["person_id"]},
    )
    assert registrations.keyed_pid(gateway, a, TYPED) == person["pid"]


def test_a_registration_under_the_id_an_earlier_release_gave_is_found(
    gateway: Gateway, caller: MakeCaller
) -> None:
    """Registered before these folds, with her vowelled name: her ID was derived from it
    as written. Typed so again, she is found under it, not registered again."""
    a = caller("AGENCY-A")
    typed = {**TYPED, "given_name": "فَاطِمَة"}
    canonical = '{"date_of_birth":"1991-03-14","family_name":"احمد","given_name":"فَاطِمَة"}'
    key = gateway.pseudonym_key
    label = f"pid/v1\nk{key.version}\n".encode()
    digest = hmac.new(key.secret, label + canonical.encode(), hashlib.sha256).digest()
    earlier = f"k{key.version}." + base64.b32encode(digest).decode().lower()[:26]
    with gateway.store("AGENCY-A").session() as s:
        s.add(Person(id=str(uuid.uuid4()), pid=earlier, attributes=typed))
    with pytest.raises(RejectedError) as info:
        registrations.register(gateway, a, typed)
    assert info.value.code == "already_registered"
    assert registrations.keyed_pid(gateway, a, typed) == earlier
