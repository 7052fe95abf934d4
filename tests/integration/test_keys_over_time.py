"""A person's registration against the keys that change over time: the pseudonymisation
key rotated and her name corrected since she was registered, a signing key rotated
between a hand-over's sealing and its fetch, a receiver holding another hand-over key
than the one the consortium file publishes, and her erasure after all of it.

Real gateway on SQLite files (ledger and off-chain stores), real signatures, real HPKE."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from ledger_gw.bootstrap import open_gateway, rotate_key
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import ConfigError, RejectedError
from ledger_gw.files import SECRET, write_file
from ledger_gw.handover import keys as handover_keys
from ledger_gw.offchain.models import SealedHandover
from ledger_gw.services import events, handover, registrations
from ledger_gw.services.access import Caller, Role
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import HANDOVER_KEY, Workspace
from tests.support import events as ev

ORGS = ("AGENCY-A", "AGENCY-B")
A = Caller("t", "AGENCY-A", Role.AGENCY_WRITER)
B = Caller("t", "AGENCY-B", Role.AGENCY_WRITER)
TYPED = {"given_name": "Qwfatimazx", "family_name": "Alhasanvbn", "date_of_birth": "1987-04-12"}
CORRECTED = {**TYPED, "family_name": "Alhassanmk"}
OMAR = {"given_name": "Omarpoiuy", "family_name": "Haddadlkj", "date_of_birth": "1985-07-30"}


@pytest.fixture
def config(tmp_path: Path) -> GatewayConfig:
    """A consortium of this test's own: its keys rotate."""
    ws = Workspace.create(tmp_path / "ws", DEMO)
    return GatewayConfig(
        directory=ws.root,
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        offchain_url=f"sqlite:///{tmp_path}/offchain-{{org}}.db",
        orgs=ORGS,
    )


@pytest.fixture
def gateway(config: GatewayConfig) -> Iterator[Gateway]:
    gw = open_gateway(config)
    yield gw
    gw.close()


def _restarted_after_pseudonym_rotation(gw: Gateway, config: GatewayConfig) -> Gateway:
    gw.close()
    Workspace.load(config.directory).rotate_pseudonym_key()
    return open_gateway(config)


def _on_disk(tmp_path: Path, org: str = "AGENCY-A") -> bytes:
    return b"".join(p.read_bytes() for p in sorted(tmp_path.glob(f"offchain-{org}.db*")))


def _referred(gw: Gateway, pid: str) -> str:
    consent = ev.consent_granted(
        pid, grantees=["AGENCY-B"], purposes=["referral"], categories=["referrals"]
    )
    referral = ev.referral_created(pid, consent_id=consent["consent_id"])
    events.submit_batch(gw, A, [consent, referral])
    return str(referral["referral_id"])


@pytest.mark.parametrize("corrected", ["before the rotation", "after it"])
def test_rotated_and_corrected_she_is_found_by_old_and_new_attributes_and_merged_with_no_one(
    gateway: Gateway, config: GatewayConfig, corrected: str
) -> None:
    her = registrations.register(gateway, A, TYPED)
    assert her["pid"].startswith("k1.")
    if corrected == "before the rotation":
        registrations.correct(gateway, A, her["person_id"], CORRECTED)
    gw = _restarted_after_pseudonym_rotation(gateway, config)
    try:
        omar = registrations.register(gw, A, OMAR)
        assert omar["pid"].startswith("k2.")
        if corrected == "after it":
            registrations.correct(gw, A, her["person_id"], CORRECTED)

        for attributes in (TYPED, CORRECTED):
            assert registrations.keyed_pid(gw, A, attributes) == her["pid"]
            with pytest.raises(RejectedError) as refused:
                registrations.register(gw, A, attributes)
            assert refused.value.details == {"person_id": her["person_id"]}
        assert registrations.keyed_pid(gw, A, OMAR) == omar["pid"]
        # Neither is corrected into the other, whichever key derived whose ID.
        for who, into, named in ((omar, CORRECTED, her), (omar, TYPED, her), (her, OMAR, omar)):
            with pytest.raises(RejectedError) as refused:
                registrations.correct(gw, A, who["person_id"], into)
            assert refused.value.details == {"person_id": named["person_id"]}
        assert registrations.get(gw, A, omar["person_id"])["attributes"] == OMAR
    finally:
        gw.close()


def test_erased_after_a_rotation_a_correction_and_a_hand_over_nothing_of_her_stays_on_disk(
    gateway: Gateway, config: GatewayConfig, tmp_path: Path
) -> None:
    """Among enough others that their pages split and merge as she goes: her names as
    typed and as corrected, her aliases, her document and its salt, and the package
    sealed from her registration are in neither the database file nor its WAL."""

    def another(n: int) -> str:
        wordy = {**OMAR, "given_name": f"Filler{n:04d}" + "x" * 180, "place_of_birth": "p" * 150}
        return str(registrations.register(gateway, A, wordy)["person_id"])

    filler = [another(n) for n in range(150)]
    her = registrations.register(gateway, A, TYPED)
    filler += [another(n) for n in range(150, 300)]
    gw = _restarted_after_pseudonym_rotation(gateway, config)
    try:
        registrations.correct(gw, A, her["person_id"], CORRECTED)
        registrations.add_document(gw, A, her["person_id"], "referral", b"Zxdocumentqw" * 50)
        rid = _referred(gw, her["pid"])
        handover.prepare(gw, A, rid, "Notereferralpl")
        store = gw.stores["AGENCY-A"]
        with store.engine.connect() as conn:
            aliases = list(conn.execute(text("SELECT pid FROM person_aliases")).scalars())
            salt = bytes(conn.execute(text("SELECT salt FROM documents")).scalar_one())
        with store.reading() as s:
            sealed = json.loads(s.scalars(select(SealedHandover.sealed)).one())
        ciphertext = sealed["ciphertext"][:40].encode()
        enc = sealed["enc"].encode()
        secrets = [
            b"Qwfatimazx",
            b"Alhasanvbn",
            b"Alhassanmk",
            b"Zxdocumentqw",
            salt,
            ciphertext,
            enc,
            *(a.encode() for a in aliases),
        ]
        assert aliases
        assert all(s in _on_disk(tmp_path) for s in secrets[2:])  # the check can see them

        for person_id in filler[100:200]:  # pages about her emptied and merged
            registrations.erase(gw, A, person_id)
        registrations.erase(gw, A, her["person_id"])
        data = _on_disk(tmp_path)
        assert [s for s in secrets if s in data] == []
    finally:
        gw.close()


def test_a_sender_key_rotated_between_sealing_and_fetch_leaves_the_package_to_its_receiver(
    gateway: Gateway, config: GatewayConfig
) -> None:
    her = registrations.register(gateway, A, TYPED)
    rid = _referred(gateway, her["pid"])
    sealed = handover.prepare(gateway, A, rid, "why")
    gateway.close()
    rotate_key(config.directory, "AGENCY-A")  # its gateway restarted to sign with the new key
    gw = open_gateway(config)
    try:
        opened = handover.from_referral(gw, B, rid)
    finally:
        gw.close()
    assert (opened["pid"], opened["document_hash"]) == (her["pid"], sealed["document_hash"])


def _waiting(gw: Gateway) -> int:
    with gw.stores["AGENCY-A"].reading() as s:
        return len(s.scalars(select(SealedHandover.referral_id)).all())


def _receiver_key(config: GatewayConfig) -> Path:
    return config.directory / "orgs" / "AGENCY-B" / HANDOVER_KEY


def test_a_receiver_holding_another_hand_over_key_than_the_published_one_takes_no_package(
    gateway: Gateway, config: GatewayConfig
) -> None:
    """Its directory restored from elsewhere, or its key replaced by hand with the
    consortium file unchanged: what it fetched it could not open, and the fetch would have
    deleted the package at the sender. It is refused before it fetches."""
    her = registrations.register(gateway, A, TYPED)
    rid = _referred(gateway, her["pid"])
    handover.prepare(gateway, A, rid, "why")
    published = _receiver_key(config).read_bytes()
    write_file(_receiver_key(config), handover_keys.private_pem(handover_keys.generate()), SECRET)

    with pytest.raises(ConfigError) as refused:
        handover.from_referral(gateway, B, rid)
    assert "not the hand-over key" in str(refused.value)
    assert _waiting(gateway) == 1  # still there for the key that opens it

    write_file(_receiver_key(config), published, SECRET)
    assert handover.from_referral(gateway, B, rid)["pid"] == her["pid"]


def test_a_receiver_whose_hand_over_key_it_may_not_read_takes_no_package(
    gateway: Gateway, config: GatewayConfig
) -> None:
    her = registrations.register(gateway, A, TYPED)
    rid = _referred(gateway, her["pid"])
    handover.prepare(gateway, A, rid, "why")
    _receiver_key(config).chmod(0o640)

    with pytest.raises(ConfigError) as refused:
        handover.from_referral(gateway, B, rid)
    assert refused.value.code == "key_not_private"
    assert _waiting(gateway) == 1

    _receiver_key(config).chmod(0o600)
    assert handover.from_referral(gateway, B, rid)["pid"] == her["pid"]
