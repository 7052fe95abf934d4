"""Consent-gated reads, referral chains, proofs and checkpoints through the API."""

from __future__ import annotations

import base64

from api_helpers import Api

from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import leaf_hash, verify_consistency, verify_inclusion
from ledger_gw.services.gateway import Gateway
from tests.support.events import (
    PID,
    consent_granted,
    entitlement_granted,
    pid,
    referral_created,
    referral_step,
    uid,
)
from tests.support.witnesses import settled


def _ok(r: object) -> dict[str, object]:
    assert r.status_code in (200, 201), r.json  # type: ignore[attr-defined]
    return r.json  # type: ignore[attr-defined,no-any-return]


def test_history_is_consent_gated(api: Api) -> None:
    _ok(api.as_("AGENCY-A").post("/v1/events", json=entitlement_granted(PID)))
    url = f"/v1/persons/{PID}/history?purpose=service_continuity"
    assert len(_ok(api.as_("AGENCY-A", "agency-reader").get(url))["events"]) == 1
    assert _ok(api.as_("AGENCY-C").get(url))["events"] == []  # no consent yet
    _ok(api.as_("AGENCY-A").post("/v1/events", json=consent_granted(PID, ["AGENCY-C"])))
    assert len(_ok(api.as_("AGENCY-C").get(url))["events"]) == 2
    assert _ok(api.as_("AGENCY-B").get(url))["events"] == []  # consent names C only
    assert len(_ok(api.as_("AUDITOR-X", "auditor").get(url))["events"]) >= 1
    r = api.as_("DONOR-Y", "donor").get(url)
    assert r.status_code == 403
    ents = _ok(api.as_("AGENCY-C").get(f"/v1/persons/{PID}/entitlements?purpose=deduplication"))
    assert len(ents["entitlements"]) == 1
    consents = _ok(api.as_("AGENCY-A").get(f"/v1/persons/{PID}/consents"))
    assert len(consents["consents"]) == 1


def test_person_reads_validate_arguments(api: Api) -> None:
    r = api.as_("AGENCY-A").get(f"/v1/persons/{PID}/history")
    assert (r.status_code, r.json["field"]) == (422, "purpose")
    r = api.as_("AGENCY-A").get("/v1/persons/Fatima/history?purpose=referral")
    assert (r.status_code, r.json["field"]) == (422, "pid")


def test_referral_and_chain(api: Api) -> None:
    _ok(api.as_("AGENCY-A").post("/v1/events", json=consent_granted(PID)))
    first = referral_created(PID, "AGENCY-B")
    _ok(api.as_("AGENCY-A").post("/v1/events", json=first))
    accept = referral_step("accepted", first["referral_id"])
    _ok(api.as_("AGENCY-B").post("/v1/events", json=accept))
    second = referral_created(PID, "AGENCY-C", parent_referral_id=first["referral_id"])
    _ok(api.as_("AGENCY-B").post("/v1/events", json=second))
    r = _ok(api.as_("AGENCY-C").get(f"/v1/referrals/{second['referral_id']}"))
    assert r["referral_id"] == second["referral_id"]
    assert (r["state"], r["from_org"], r["to_org"]) == ("created", "AGENCY-B", "AGENCY-C")
    assert r["parent_referral_id"] == first["referral_id"]
    assert [e["event"]["type"] for e in r["events"]] == ["referral.created"]
    chain = _ok(api.as_("AUDITOR-X", "auditor").get(f"/v1/referrals/{second['referral_id']}/chain"))
    assert [c["referral_id"] for c in chain["chain"]] == [
        second["referral_id"],
        first["referral_id"],
    ]
    assert api.as_("AGENCY-A").get(f"/v1/referrals/{uid()}").status_code == 404
    assert api.as_("AGENCY-A").get("/v1/referrals/not-a-uuid").status_code == 404


def test_proofs_verify(api: Api, gateway: Gateway) -> None:
    for _ in range(5):
        _ok(api.as_("AGENCY-A").post("/v1/events", json=entitlement_granted(PID)))
    cp = _ok(api.as_("DONOR-Y", "donor").get("/v1/checkpoints/latest"))
    assert cp["size"] == 5
    log_key = ckpt.NoteVerifier.from_vkey(gateway.workspace.consortium.log_vkey)
    head = ckpt.open_checkpoint(str(cp["note"]), log_key, []).checkpoint
    proof = _ok(api.as_("AGENCY-A").get("/v1/proofs/inclusion?index=2"))
    entry = base64.b64decode(str(proof["entry"]))
    hashes = [base64.b64decode(h) for h in proof["proof"]]  # type: ignore[attr-defined]
    verify_inclusion(leaf_hash(entry), 2, 5, hashes, head.root_hash)
    old = _ok(api.as_("AGENCY-A").get("/v1/checkpoints/3"))
    old_head = ckpt.open_checkpoint(str(old["note"]), log_key, []).checkpoint
    cons = _ok(api.as_("AUDITOR-X", "auditor").get("/v1/proofs/consistency?size1=3"))
    verify_consistency(
        3, 5, [base64.b64decode(h) for h in cons["proof"]],  # type: ignore[attr-defined]
        old_head.root_hash, head.root_hash,
    )  # fmt: skip
    for url, status in (
        ("/v1/proofs/inclusion?index=9", 404),
        ("/v1/proofs/inclusion", 422),
        ("/v1/proofs/inclusion?index=-1", 422),
        ("/v1/proofs/consistency?size1=9", 404),
        ("/v1/checkpoints/99", 404),
    ):
        assert api.as_("AGENCY-A").get(url).status_code == status, url


def test_inclusion_by_tx_id(api: Api) -> None:
    result = _ok(api.as_("AGENCY-A").post("/v1/events", json=entitlement_granted(PID)))
    proof = _ok(api.as_("AGENCY-A").get(f"/v1/proofs/inclusion?tx_id={result['tx_id']}"))
    assert proof["index"] == 0


def test_cosign(api: Api, gateway: Gateway) -> None:
    admin = api.as_("AGENCY-A", "admin")
    assert admin.post("/v1/checkpoints/cosign", json={}).status_code == 404
    _ok(api.as_("AGENCY-A").post("/v1/events", json=entitlement_granted(PID)))
    settled(gateway.ledger)  # the ledger pushed its checkpoint to the witnesses itself
    log_key = ckpt.NoteVerifier.from_vkey(gateway.workspace.consortium.log_vkey)
    witnesses = gateway.workspace.consortium.witness_verifiers()
    latest = _ok(api.as_("AGENCY-A").get("/v1/checkpoints/latest"))["note"]
    assert ckpt.open_checkpoint(str(latest), log_key, witnesses, quorum=2)
    again = admin.post("/v1/checkpoints/cosign", json={})
    assert (again.status_code, again.json["code"]) == (409, "already_cosigned")
    for size in (2, 2**63 - 1, 2**63, 10**40):
        body = f'{{"size": {size}}}'  # raw: beyond what the JSON encoders here write
        beyond = admin.post("/v1/checkpoints/cosign", data=body, content_type="application/json")
        # beyond the log: 404; beyond what JSON numbers carry exactly (2^53): 400 first
        expected = (404, "not_found") if size < 2**53 else (400, "number_out_of_range")
        assert (beyond.status_code, beyond.json["code"]) == expected, (size, beyond.json)
        assert api.as_("AGENCY-A").get(f"/v1/checkpoints/{size}").status_code == 404
    assert _ok(api.as_("AGENCY-A").get("/v1/checkpoints/latest"))["note"] == latest
    r = api.as_("AGENCY-A").post("/v1/checkpoints/cosign", json={})
    assert r.status_code == 403


def test_inclusion_proofs_carry_entries_only_to_who_may_read_them(api: Api) -> None:
    people = [pid() for _ in range(12)]
    for person in people:
        _ok(api.as_("AGENCY-A").post("/v1/events", json=entitlement_granted(person)))
    for index, person in enumerate(people):
        url = f"/v1/proofs/inclusion?index={index}"
        for org, role in (("DONOR-Y", "donor"), ("AGENCY-B", "agency-reader")):
            r = api.as_(org, role)
            proof = _ok(r.get(url))
            assert "entry" not in proof
            assert proof["leaf_hash"]
            assert isinstance(proof["proof"], list)
            assert not any(p in r.get(url).get_data(as_text=True) for p in people)
        for org, role in (("AUDITOR-X", "auditor"), ("AGENCY-A", "agency-reader")):
            entry = base64.b64decode(str(_ok(api.as_(org, role).get(url))["entry"]))
            assert person.encode() in entry
            assert base64.b64decode(str(proof["leaf_hash"])) == leaf_hash(entry)


def test_inclusion_entry_follows_consent(api: Api) -> None:
    _ok(api.as_("AGENCY-A").post("/v1/events", json=entitlement_granted(PID)))
    url = "/v1/proofs/inclusion?index=0&purpose=service_continuity"
    assert "entry" not in _ok(api.as_("AGENCY-C", "agency-reader").get(url))
    _ok(api.as_("AGENCY-A").post("/v1/events", json=consent_granted(PID, ["AGENCY-C"])))
    assert "entry" in _ok(api.as_("AGENCY-C", "agency-reader").get(url))
    assert "entry" not in _ok(api.as_("AGENCY-B", "agency-reader").get(url))


def test_reusing_another_organisations_event_id_reveals_none_of_its_entry(api: Api) -> None:
    """B writes its own event under A's event ID: asking for A's entry, it is judged on
    A's record (which it may not read), not on its own event of that ID."""
    secret = entitlement_granted(pid())
    first = _ok(api.as_("AGENCY-A").post("/v1/events", json=secret))
    mine = {**entitlement_granted(pid()), "event_id": secret["event_id"]}
    _ok(api.as_("AGENCY-B").post("/v1/events", json=mine))
    own = _ok(api.as_("AGENCY-B", "agency-reader").get(f"/v1/events/{secret['event_id']}"))
    assert own["org"] == "AGENCY-B"
    url = f"/v1/proofs/inclusion?tx_id={first['tx_id']}"
    proof = _ok(api.as_("AGENCY-B", "agency-reader").get(url))
    assert "entry" not in proof
    assert secret["pid"] not in api.as_("AGENCY-B", "agency-reader").get(url).get_data(as_text=True)
    assert "entry" in _ok(api.as_("AGENCY-A", "agency-reader").get(url))


def test_hostile_sizes_and_indexes_are_refused_not_500(api: Api) -> None:
    _ok(api.as_("AGENCY-A").post("/v1/events", json=entitlement_granted(PID)))
    huge, beyond = 2**63 - 1, 2**63
    for url in (
        f"/v1/proofs/inclusion?index={beyond}",
        f"/v1/proofs/inclusion?index={huge}",
        "/v1/proofs/inclusion?index=-1",
        f"/v1/proofs/inclusion?index=0&size={beyond}",
        f"/v1/proofs/inclusion?index=0&size={huge}",
        f"/v1/proofs/inclusion?index=0&size={2**70}",
        f"/v1/proofs/consistency?size1={beyond}",
        f"/v1/proofs/consistency?size1=1&size2={huge}",
        "/v1/proofs/consistency?size1=-5",
        f"/v1/checkpoints/{beyond}",
        f"/v1/checkpoints/{huge}",
        f"/v1/checkpoints/{2**80}",
        "/v1/checkpoints/-1",
        f"/v1/audit/bundles?subject={uid()}&size={beyond}",
        f"/v1/audit/bundles?subject={uid()}&size={huge}",
        f"/v1/audit/bundles?subject={uid()}&size=-1",
    ):
        r = api.as_("AUDITOR-X", "auditor").get(url)
        assert r.status_code in (404, 422), (url, r.status_code)
        assert r.headers["Content-Type"] == "application/problem+json", url


def test_what_a_caller_may_not_read_answers_as_if_unknown(api: Api) -> None:
    """No consent covers C: the referral and the event it may not read are 404 like IDs
    nobody used, so a refusal does not tell C that they exist."""
    person = pid()
    referral = referral_created(person, "AGENCY-B")
    created = _ok(api.as_("AGENCY-A").post("/v1/events", json=referral))
    assert _ok(api.as_("AGENCY-B").get(f"/v1/referrals/{referral['referral_id']}"))
    for known, unknown in (
        (f"/v1/referrals/{referral['referral_id']}", f"/v1/referrals/{uid()}"),
        (f"/v1/referrals/{referral['referral_id']}/chain", f"/v1/referrals/{uid()}/chain"),
        (f"/v1/events/{created['event_id']}", f"/v1/events/{uid()}"),
    ):
        hidden, missing = api.as_("AGENCY-C").get(known), api.as_("AGENCY-C").get(unknown)
        assert hidden.status_code == missing.status_code == 404, (known, hidden.json)
        assert {k: v for k, v in hidden.json.items() if k != "instance"} == {
            k: v for k, v in missing.json.items() if k != "instance"
        }
