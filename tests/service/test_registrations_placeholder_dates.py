"""Two people of one name whose birth date was recorded as 1 January, as many registries
record one they do not know: a keyed ID from those alone would be theirs together, and
each would be shown the other's history, consents and grants. A new ID needs an attribute
that tells them apart; one given before this rule is still found."""

from __future__ import annotations

import uuid

import pytest

from ledger_gw.errors import RejectedError, ValidationError
from ledger_gw.offchain.models import Person
from ledger_gw.services import registrations
from ledger_gw.services.gateway import Gateway
from tests.service.conftest import MakeCaller

NAMED = {"given_name": "Mohammad", "family_name": "Ahmadi", "date_of_birth": "1990-01-01"}


def test_two_people_of_one_name_born_on_a_placeholder_date_are_not_one(
    gateway: Gateway, caller: MakeCaller
) -> None:
    a = caller("AGENCY-A")
    with pytest.raises(ValidationError) as refused:
        registrations.register(gateway, a, NAMED)
    assert (refused.value.code, refused.value.field) == ("ambiguous_identity", "attributes")
    with pytest.raises(ValidationError):
        registrations.derive_pid(gateway, NAMED, None)
    with pytest.raises(ValidationError):
        registrations.keyed_pid(gateway, a, NAMED)
    first = registrations.register(gateway, a, {**NAMED, "father_name": "Reza"})
    second = registrations.register(gateway, a, {**NAMED, "father_name": "Ali"})
    assert first["pid"] != second["pid"]
    # Another day, or a person-held ID, needs nothing more.
    registrations.register(gateway, a, {**NAMED, "date_of_birth": "1990-01-02"})
    assert registrations.register(gateway, a, NAMED, id_scheme="held")["pid"].startswith("h.")


def test_one_registered_so_before_the_rule_is_still_found(
    gateway: Gateway, caller: MakeCaller
) -> None:
    a = caller("AGENCY-A")
    earlier = gateway.pseudonym_key.pseudonyms(NAMED)[0]
    with gateway.store("AGENCY-A").session() as s:
        s.add(Person(id=str(uuid.uuid4()), pid=earlier, attributes=NAMED))
    assert registrations.keyed_pid(gateway, a, NAMED) == earlier
    with pytest.raises(RejectedError) as info:
        registrations.register(gateway, a, NAMED)
    assert info.value.code == "already_registered"
