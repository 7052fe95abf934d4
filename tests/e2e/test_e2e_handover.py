"""A consented referral hand-over between two real gateways, each serving one agency with
its own off-chain database and keys over one shared ledger: the referring gateway seals,
the receiving one fetches with its organisation's signature, opens, checks the ledger's
hash and pre-fills the registration. Every way it must fail is tried for real, and no
byte of the package's plaintext is found in a third agency's files or the log's."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from ledger_gw.bootstrap import open_gateway
from ledger_gw.demo.consortium import DEMO
from ledger_gw.handover import package
from ledger_gw.handover import request as signed
from ledger_gw.services.access import issue_token
from ledger_gw.services.config import GatewayConfig
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.gunicorn import gunicorn

pytestmark = pytest.mark.slow

GIVEN_NAME = "Fatimaqx"
FAMILY_NAME = "Haddadzw"
NOTE = "Needs insulin follow-up, speaks Tigrinya-kv7"
ATTRIBUTES = {"given_name": GIVEN_NAME, "family_name": FAMILY_NAME, "date_of_birth": "1991-02-03"}


@dataclass
class Pair:
    root: Path
    a: str
    b: str
    tokens: dict[str, dict[str, str]]
    pid: str


def _token(root: Path, org: str) -> dict[str, str]:
    gw = open_gateway(GatewayConfig(directory=root, orgs=(org,)))
    try:
        secret = issue_token(gw.store(org), gw.org_role(org), "agency-writer")[1]
    finally:
        gw.close()
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("handover") / "ws"
    Workspace.create(root, DEMO)
    tokens = {org: _token(root, org) for org in ("AGENCY-A", "AGENCY-B", "AGENCY-C")}
    with gunicorn(root, None, 1, {"LEDGER_GW_ORGS": "AGENCY-A"}, "gw-a.log") as a:
        b_env = {"LEDGER_GW_ORGS": "AGENCY-B", "LEDGER_GW_PEERS": f"AGENCY-A={a}"}
        with gunicorn(root, None, 1, b_env, "gw-b.log") as b:
            r = requests.post(
                f"{a}/v1/registrations",
                headers=tokens["AGENCY-A"],
                json={"attributes": ATTRIBUTES},
                timeout=30,
            )
            assert r.status_code == 201, r.text
            yield Pair(root, a, b, tokens, r.json()["pid"])


def _post(p: Pair, org: str, event: dict[str, Any]) -> None:
    url = p.a if org == "AGENCY-A" else p.b
    r = requests.post(f"{url}/v1/events", headers=p.tokens[org], json=event, timeout=60)
    assert r.status_code == 201, r.text


def _referral(p: Pair) -> tuple[str, str]:
    """A consent naming B for referral data, a referral citing it, the hand-over sealed."""
    consent = ev.consent_granted(
        p.pid, grantees=["AGENCY-B"], purposes=["referral"], categories=["referrals"]
    )
    referral = ev.referral_created(p.pid, consent_id=consent["consent_id"])
    _post(p, "AGENCY-A", consent)
    _post(p, "AGENCY-A", referral)
    rid = referral["referral_id"]
    r = requests.post(
        f"{p.a}/v1/handovers",
        headers=p.tokens["AGENCY-A"],
        json={"referral_id": rid, "note": NOTE},
        timeout=60,
    )
    assert r.status_code == 201, r.text
    return rid, consent["consent_id"]


def _take(p: Pair, rid: str) -> requests.Response:
    return requests.post(
        f"{p.b}/v1/registrations/from-referral",
        headers=p.tokens["AGENCY-B"],
        json={"referral_id": rid},
        timeout=60,
    )


def _refused(r: requests.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.json()["code"] == code, r.text


def _b_persons(p: Pair) -> int:
    with sqlite3.connect(p.root / "offchain-AGENCY-B.db") as db:
        return int(db.execute("SELECT count(*) FROM persons").fetchone()[0])


def _replace_package(p: Pair, rid: str, sealed: bytes) -> None:
    with sqlite3.connect(p.root / "offchain-AGENCY-A.db") as db:
        changed = db.execute(
            "UPDATE handovers SET sealed = ? WHERE referral_id = ?", (sealed, rid)
        ).rowcount
    assert changed == 1


def _package(p: Pair, rid: str) -> bytes:
    with sqlite3.connect(p.root / "offchain-AGENCY-A.db") as db:
        row = db.execute("SELECT sealed FROM handovers WHERE referral_id = ?", (rid,)).fetchone()
    return bytes(row[0])


def test_the_receiver_gets_her_registration_prefilled_once(pair: Pair) -> None:
    rid, _ = _referral(pair)
    r = _take(pair, rid)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["attributes"] == ATTRIBUTES
    assert (body["note"], body["from_org"], body["pid"]) == (NOTE, "AGENCY-A", pair.pid)
    # A deleted it once B had it: a second take finds nothing.
    _refused(_take(pair, rid), 404, "handover_not_found")
    assert _package_count(pair, rid) == 0
    # The caseworker confirms: the normal registration path gives her the same pseudonym.
    made = requests.post(
        f"{pair.b}/v1/registrations",
        headers=pair.tokens["AGENCY-B"],
        json={"attributes": body["attributes"]},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    assert made.json()["pid"] == pair.pid


def test_the_receiver_registers_her_under_the_referrals_id_and_the_sender_logs_it(
    pair: Pair,
) -> None:
    """A corrected her name since registering her, and B's caseworker corrects her date of
    birth: her attributes derive another ID now, but B registers her under the referral's,
    and A's audit log names who fetched whose package."""
    registered = requests.post(
        f"{pair.a}/v1/registrations",
        headers=pair.tokens["AGENCY-A"],
        json={"attributes": {**ATTRIBUTES, "given_name": "Amalqx"}},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    person = registered.json()
    corrected = requests.patch(
        f"{pair.a}/v1/registrations/{person['person_id']}",
        headers=pair.tokens["AGENCY-A"],
        json={"attributes": {**ATTRIBUTES, "given_name": "Amalqy"}},
        timeout=30,
    )
    assert corrected.status_code == 200, corrected.text
    her = Pair(pair.root, pair.a, pair.b, pair.tokens, person["pid"])
    rid, _ = _referral(her)
    taken = _take(her, rid)
    assert taken.status_code == 200, taken.text
    confirmed = {**taken.json()["attributes"], "date_of_birth": "1991-03-02"}
    body = {"attributes": confirmed, "referral_id": rid}
    early = requests.post(
        f"{pair.b}/v1/registrations", headers=pair.tokens["AGENCY-B"], json=body, timeout=30
    )
    _refused(early, 409, "referral_not_accepted")  # not before B takes her on
    _post(her, "AGENCY-B", ev.referral_step("accepted", rid))
    made = requests.post(
        f"{pair.b}/v1/registrations", headers=pair.tokens["AGENCY-B"], json=body, timeout=30
    )
    assert made.status_code == 201, made.text
    assert made.json()["pid"] == person["pid"]
    with sqlite3.connect(pair.root / "offchain-AGENCY-A.db") as db:
        rows = db.execute(
            "SELECT token_id, role, status FROM audit_log WHERE route = ? AND pid = ?",
            ("/v1/handovers/<uuid:referral_id>", person["pid"]),
        ).fetchall()
    assert rows == [("AGENCY-B", "peer-gateway", 200)]


def _package_count(p: Pair, rid: str) -> int:
    with sqlite3.connect(p.root / "offchain-AGENCY-A.db") as db:
        query = "SELECT count(*) FROM handovers WHERE referral_id = ?"
        return int(db.execute(query, (rid,)).fetchone()[0])


def test_a_revoked_consent_stops_the_hand_over(pair: Pair) -> None:
    rid, consent_id = _referral(pair)
    _post(pair, "AGENCY-A", ev.consent_revoked(consent_id))
    before = _b_persons(pair)
    _refused(_take(pair, rid), 409, "consent_inactive")
    assert _b_persons(pair) == before


def test_a_closed_referral_stops_the_hand_over(pair: Pair) -> None:
    rid, _ = _referral(pair)
    _post(pair, "AGENCY-A", ev.referral_step("cancelled", rid))
    _refused(_take(pair, rid), 409, "referral_closed")


def test_a_tampered_package_is_refused(pair: Pair) -> None:
    rid, _ = _referral(pair)
    sealed = bytearray(_package(pair, rid))
    at = sealed.index(b'"ciphertext":"') + 20
    sealed[at] = ord("A") if sealed[at] != ord("A") else ord("B")
    _replace_package(pair, rid, bytes(sealed))
    before = _b_persons(pair)
    _refused(_take(pair, rid), 422, "handover_tampered")
    assert _b_persons(pair) == before


def test_another_package_sealed_to_the_receiver_is_not_the_recorded_one(pair: Pair) -> None:
    """An insider at A swaps in a well-formed package of its own: B's public key is public,
    but the ledger's salted hash is not that package's."""
    rid, _ = _referral(pair)
    ws = Workspace.load(pair.root)
    binding = package.Binding(rid, "AGENCY-A", "AGENCY-B")
    forged = package.new_handover(binding, pair.pid, {"given_name": "Someone"}, "forged")
    _replace_package(pair, rid, package.seal(forged, ws.consortium.handover_key("AGENCY-B")))
    _refused(_take(pair, rid), 422, "handover_hash_mismatch")


def test_a_package_sealed_to_another_organisation_is_refused(pair: Pair) -> None:
    rid, _ = _referral(pair)
    ws = Workspace.load(pair.root)
    to_c = package.Binding(rid, "AGENCY-A", "AGENCY-C")
    other = package.new_handover(to_c, pair.pid, ATTRIBUTES, NOTE)
    _replace_package(pair, rid, package.seal(other, ws.consortium.handover_key("AGENCY-C")))
    _refused(_take(pair, rid), 422, "handover_not_for_you")
    # Claimed for B but sealed to C's key: B's key does not open it.
    rid, _ = _referral(pair)
    to_b = package.Binding(rid, "AGENCY-A", "AGENCY-B")
    wrong_key = package.seal(
        package.new_handover(to_b, pair.pid, ATTRIBUTES, NOTE),
        ws.consortium.handover_key("AGENCY-C"),
    )
    _replace_package(pair, rid, wrong_key)
    _refused(_take(pair, rid), 422, "handover_tampered")


def _fetch(p: Pair, rid: str, headers: dict[str, str]) -> requests.Response:
    return requests.get(f"{p.a}/v1/handovers/{rid}", headers=headers, timeout=30)


def test_only_the_receivers_gateway_fetches_and_only_once(pair: Pair) -> None:
    rid, _ = _referral(pair)
    ws = Workspace.load(pair.root)
    path = f"/v1/handovers/{rid}"
    now = dt.datetime.now(dt.UTC)
    _refused(_fetch(pair, rid, {}), 401, "request_unsigned")
    # a third agency, signing with its own organisation's key
    as_c = signed.sign(ws.signer("AGENCY-C"), "GET", path, now)
    _refused(_fetch(pair, rid, as_c), 403, "handover_not_for_you")
    # B's request for another path does not verify for this one
    elsewhere = signed.sign(ws.signer("AGENCY-B"), "GET", f"/v1/handovers/{ev.uid()}", now)
    _refused(_fetch(pair, rid, elsewhere), 401, "request_signature_invalid")
    stale = signed.sign(ws.signer("AGENCY-B"), "GET", path, now - dt.timedelta(minutes=10))
    _refused(_fetch(pair, rid, stale), 401, "request_stale")
    as_b = signed.sign(ws.signer("AGENCY-B"), "GET", path, now)
    fetched = _fetch(pair, rid, as_b)
    assert fetched.status_code == 200, fetched.text
    assert b"ciphertext" in fetched.content
    assert GIVEN_NAME.encode() not in fetched.content
    _refused(_fetch(pair, rid, as_b), 401, "request_replayed")


def test_no_plaintext_in_a_third_agencys_or_the_logs_files(pair: Pair) -> None:
    rid, _ = _referral(pair)
    assert _take(pair, rid).status_code == 200  # a package made, fetched and opened
    secrets = [GIVEN_NAME.encode(), FAMILY_NAME.encode(), NOTE.encode(), b"Tigrinya-kv7"]
    files = [f for f in pair.root.glob("ledger.db*") if f.is_file()]
    files += [f for f in (pair.root / "orgs" / "AGENCY-C").rglob("*") if f.is_file()]
    files += [f for f in pair.root.glob("offchain-AGENCY-C.db*") if f.is_file()]
    assert any(f.name == "ledger.db" for f in files)
    for f in files:
        data = f.read_bytes()
        for secret in secrets:
            assert secret not in data, f"{secret!r} found in {f}"
    assert _package_count(pair, rid) == 0  # and the sender keeps no package once fetched


@pytest.mark.parametrize("sealed_before_packages_named_her", [False, True])
def test_erasing_her_withdraws_the_package(
    pair: Pair, sealed_before_packages_named_her: bool
) -> None:
    """Her erasure at the referring agency takes the package with it: the receiver gets
    neither her data nor the salt that would link the ledger's hash to her."""
    registered = requests.post(
        f"{pair.a}/v1/registrations",
        headers=pair.tokens["AGENCY-A"],
        json={
            "attributes": {
                **ATTRIBUTES,
                "given_name": f"Zubeida{int(sealed_before_packages_named_her)}",
            }
        },
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    her = Pair(pair.root, pair.a, pair.b, pair.tokens, registered.json()["pid"])
    rid, _ = _referral(her)
    if sealed_before_packages_named_her:
        with sqlite3.connect(pair.root / "offchain-AGENCY-A.db") as db:
            db.execute("UPDATE handovers SET person_id = NULL WHERE referral_id = ?", (rid,))
    erased = requests.delete(
        f"{pair.a}/v1/registrations/{registered.json()['person_id']}",
        headers=pair.tokens["AGENCY-A"],
        timeout=30,
    )
    assert erased.status_code == 204, erased.text
    before = _b_persons(pair)
    # the erasure withdrew the consent the referral cites: B's gateway asks for nothing
    _refused(_take(pair, rid), 409, "consent_inactive")
    assert _b_persons(pair) == before
    # nor does A give anything to a request signed as B that skips that check
    now = dt.datetime.now(dt.UTC)
    as_b = signed.sign(
        Workspace.load(pair.root).signer("AGENCY-B"), "GET", f"/v1/handovers/{rid}", now
    )
    if sealed_before_packages_named_her:  # kept until asked for, then refused and deleted
        _refused(_fetch(pair, rid, as_b), 409, "consent_inactive")
    else:  # gone with her
        _refused(_fetch(pair, rid, as_b), 404, "handover_not_found")
    assert _package_count(pair, rid) == 0
