"""A registration made while a character nobody sees, between a letter and its accent,
still kept them apart: typed so again she is found under the ID she was given, not
registered a second time; typed without it she derives the ID every agency derives."""

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

TYPED = {"given_name": "Jose\u200d\u0301", "family_name": "Haddad", "date_of_birth": "1987-11-02"}


def test_her_registration_under_the_id_given_before_is_found(
    gateway: Gateway, caller: MakeCaller
) -> None:
    a = caller("AGENCY-A")
    key = gateway.pseudonym_key
    held_apart = '{"date_of_birth":"1987-11-02","family_name":"haddad","given_name":"jose\u0301"}'
    label = f"pid/v1\nk{key.version}\n".encode()
    digest = hmac.new(key.secret, label + held_apart.encode(), hashlib.sha256).digest()
    before = f"k{key.version}." + base64.b32encode(digest).decode().lower()[:26]
    with gateway.store("AGENCY-A").session() as s:
        s.add(Person(id=str(uuid.uuid4()), pid=before, attributes=TYPED))
    with pytest.raises(RejectedError) as info:
        registrations.register(gateway, a, TYPED)
    assert info.value.code == "already_registered"
    assert registrations.keyed_pid(gateway, a, TYPED) == before
    composed = {**TYPED, "given_name": "José"}
    b = caller("AGENCY-B")
    assert registrations.register(gateway, b, TYPED)["pid"] == key.pseudonym(composed) != before
