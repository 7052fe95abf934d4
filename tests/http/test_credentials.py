"""A person's credential: issued by the agency that granted her entitlement, verified by
any member against the consortium file it pins, each forgery refused with its own code.

Real SQLite ledger, real witnesses (quorum 2), real signatures; attacks hold keys of
their own, never the issuer's.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageFilter

from ledger_gw.bootstrap import open_gateway
from ledger_gw.client import OrgClient
from ledger_gw.consortium import Consortium
from ledger_gw.credentials import card
from ledger_gw.credentials.issue import HIDDEN_END_LIFETIME
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import CredentialError, ForbiddenError, LedgerError, NotFoundError
from ledger_gw.identity import cert_pem, issue_member, load_signing_key
from ledger_gw.services import credentials, queries
from ledger_gw.services.access import Caller, authenticate, issue_token
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace
from tests.support import credentials as forge
from tests.support import events as ev
from tests.support.witnesses import settled

PURPOSE = "service_continuity"


def as_(gateway: Gateway, org: str, role: str = "agency-writer") -> Caller:
    store = gateway.store(org)
    return authenticate(store, issue_token(store, gateway.org_role(org), role)[1])


def granted(gateway: Gateway, pid: str | None = None, **terms: Any) -> dict[str, Any]:
    """AGENCY-A grants her an entitlement, under a checkpoint both witnesses cosigned."""
    grant = ev.entitlement_granted(pid or ev.pid(), **terms)
    gateway.client(as_(gateway, "AGENCY-A")).submit(grant)
    settled(gateway.ledger)
    return grant


@pytest.fixture
def issued(gateway: Gateway) -> tuple[dict[str, Any], str]:
    grant = granted(gateway)
    made = credentials.issue(
        gateway, as_(gateway, "AGENCY-A"), grant["event_id"], PURPOSE, ["programme", "valid_until"]
    )
    return grant, made.credential.text()


def refused(text: str | bytes, consortium: Consortium, **kw: Any) -> str:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(CredentialError) as caught:
        credentials.verify_offline(data, consortium, **kw)
    return caught.value.code


def test_issue_then_verify_shows_only_what_she_chose(
    gateway: Gateway, issued: tuple[dict[str, Any], str]
) -> None:
    grant, text = issued
    result = credentials.verify(gateway, as_(gateway, "AGENCY-A"), text.encode(), PURPOSE)
    assert result["status"] == "active"
    assert (result["issuer"], result["pid"]) == ("AGENCY-A", grant["pid"])
    assert result["disclosed"] == {"programme": "MPCA-2026", "valid_until": ev.PERIOD[1]}
    assert result["expires"] == f"{int(ev.PERIOD[1][:4]) + 1}-01-01T00:00:00Z"
    assert result["event"]["entitlement_id"] == grant["entitlement_id"]
    assert sorted(result["witnesses"]) == ["witness.agency-a", "witness.auditor-x"]
    # what she hid is nowhere in it: no disclosure of it, no value in clear
    assert set(forge.disclosed(text)) == {"programme", "valid_until"}
    assert "cash" not in text
    assert ev.PERIOD[0] not in text


def test_a_member_without_her_consent_cannot_tell_the_status(
    gateway: Gateway, issued: tuple[dict[str, Any], str]
) -> None:
    grant, text = issued
    reader = as_(gateway, "AGENCY-B", "agency-reader")
    offline = credentials.verify(gateway, reader, text.encode(), PURPOSE, online=False)
    assert offline["status"] == "not checked"
    with pytest.raises(ForbiddenError) as caught:
        credentials.verify(gateway, reader, text.encode(), PURPOSE)
    assert caught.value.code == "credential_status_unknown"
    gateway.client(as_(gateway, "AGENCY-A")).submit(ev.consent_granted(grant["pid"]))
    assert credentials.verify(gateway, reader, text.encode(), PURPOSE)["status"] == "active"


@pytest.mark.parametrize(("step", "code"), [("revoked", "credential_revoked"),
                                            ("suspended", "credential_suspended")])  # fmt: skip
def test_revoked_or_suspended_since_fails_online_only(
    gateway: Gateway, issued: tuple[dict[str, Any], str], step: str, code: str
) -> None:
    grant, text = issued
    agency = as_(gateway, "AGENCY-A")
    gateway.client(agency).submit(ev.entitlement_step(step, grant["entitlement_id"]))
    with pytest.raises(CredentialError) as caught:
        credentials.verify(gateway, agency, text.encode(), PURPOSE)
    assert caught.value.code == code
    # offline, a verifier cannot know: the signed facts still hold
    assert credentials.verify(gateway, agency, text.encode(), PURPOSE, online=False)["ok"]
    with pytest.raises(CredentialError) as again:  # and none is issued for it any more
        credentials.issue(gateway, agency, grant["event_id"], PURPOSE, [])
    assert again.value.code == code


FIELD_CLOCK = dt.timedelta(minutes=9)  # ahead: the ledger takes a clock ten minutes off


def _stepped(gateway: Gateway, grant: dict[str, Any], *steps: tuple[str, dt.timedelta]) -> None:
    """AGENCY-A's offices record each step, by a clock that runs so much ahead."""
    signer = gateway.workspace.signer("AGENCY-A")
    for step, ahead in steps:
        office = OrgClient(gateway.ledger, signer, clock=partial(_ahead, ahead))
        office.submit(ev.entitlement_step(step, grant["entitlement_id"]))


def _ahead(by: dt.timedelta) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + by


def test_the_status_is_the_contracts_whatever_times_its_events_state(
    gateway: Gateway, issued: tuple[dict[str, Any], str]
) -> None:
    """Headquarters suspends, the field office (its clock nine minutes ahead) resumes,
    headquarters revokes: the contract, in log order, holds it revoked; her history, in
    the order its events state their times, ends with the resumption."""
    grant, text = issued
    agency, now = as_(gateway, "AGENCY-A"), dt.timedelta()
    _stepped(gateway, grant, ("suspended", now), ("resumed", FIELD_CLOCK), ("revoked", now))
    history = queries.history(gateway, agency, grant["pid"], PURPOSE)["events"]
    assert history[-1]["event"]["type"] == "entitlement.resumed"
    for reader in (agency, as_(gateway, "AUDITOR-X", "auditor")):
        with pytest.raises(CredentialError) as caught:
            credentials.verify(gateway, reader, text.encode(), PURPOSE)
        assert caught.value.code == "credential_revoked"
    with pytest.raises(CredentialError) as again:  # and none is issued for it
        credentials.issue(gateway, agency, grant["event_id"], PURPOSE, [])
    assert again.value.code == "credential_revoked"
    with pytest.raises(ForbiddenError) as unknown:  # who may not read it learns nothing
        credentials.verify(gateway, as_(gateway, "AGENCY-B"), text.encode(), PURPOSE)
    assert unknown.value.code == "credential_status_unknown"

    # the other way: suspended by the field office, resumed at headquarters, it stands
    resumed = granted(gateway)
    _stepped(gateway, resumed, ("suspended", FIELD_CLOCK), ("resumed", now))
    held = credentials.issue(gateway, agency, resumed["event_id"], PURPOSE, []).credential
    assert credentials.verify(gateway, agency, held.text().encode(), PURPOSE)["status"] == "active"
    closed = granted(gateway)
    _stepped(gateway, closed, ("suspended", FIELD_CLOCK), ("closed", now))
    with pytest.raises(CredentialError) as ended:
        credentials.issue(gateway, agency, closed["event_id"], PURPOSE, [])
    assert ended.value.code == "credential_closed"


def test_every_card_issuing_makes_stands_online(gateway: Gateway) -> None:
    """The online check holds a card to what issuing it from its grant would make: each
    choice of what to show, an expiry asked, a not-before, all stand."""
    agency, now = as_(gateway, "AGENCY-A"), dt.datetime.now(dt.UTC)
    grant = granted(gateway)
    sooner = now + dt.timedelta(days=2)
    for shown, asked in (([], None), (["programme"], None), (credentials.DISCLOSABLE, sooner)):
        made = credentials.issue(gateway, agency, grant["event_id"], PURPOSE, shown, expires=asked)
        text = made.credential.text().encode()
        assert credentials.verify(gateway, agency, text, PURPOSE)["status"] == "active"
    first = now.date() + dt.timedelta(days=5)
    later = granted(gateway, start=first.isoformat(), end=ev.PERIOD[1])
    ahead = credentials.issue(gateway, agency, later["event_id"], PURPOSE, ["valid_from"])
    text = ahead.credential.text().encode()
    assert credentials.verify(gateway, agency, text, PURPOSE, now=_day(first))["status"] == "active"


def test_only_the_granting_agency_issues_and_consent_rules_reads(gateway: Gateway) -> None:
    grant = granted(gateway)
    other = as_(gateway, "AGENCY-B")
    with pytest.raises(NotFoundError):  # without her consent B cannot read the grant at all
        credentials.issue(gateway, other, grant["event_id"], PURPOSE, [])
    gateway.client(as_(gateway, "AGENCY-A")).submit(ev.consent_granted(grant["pid"]))
    with pytest.raises(ForbiddenError) as caught:
        credentials.issue(gateway, other, grant["event_id"], PURPOSE, [])
    assert caught.value.code == "not_granting_org"
    with pytest.raises(ForbiddenError):  # a reader role issues nothing
        credentials.issue(gateway, as_(gateway, "AGENCY-A", "agency-reader"),
                          grant["event_id"], PURPOSE, [])  # fmt: skip


def test_forged_signature_or_payload(gateway: Gateway, issued: tuple[dict[str, Any], str]) -> None:
    _, text = issued
    pinned = gateway.workspace.consortium
    jwt, disclosures, proof = forge.split(text)
    head, body, signature = jwt.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert refused(forge.join(f"{head}.{body}.{flipped}", disclosures, proof), pinned) == (
        "credential_forged"
    )
    someone_else = forge.with_payload(jwt, sub=ev.pid())
    assert refused(forge.join(someone_else, disclosures, proof), pinned) == "credential_forged"
    longer = forge.with_payload(jwt, exp=2_000_000_000)
    assert refused(forge.join(longer, disclosures, proof), pinned) == "credential_forged"


def test_altered_disclosures(gateway: Gateway, issued: tuple[dict[str, Any], str]) -> None:
    _, text = issued
    pinned = gateway.workspace.consortium
    jwt, disclosures, proof = forge.split(text)
    changed = [forge.disclosure("programme", "OTHER-2026"), *disclosures[1:]]
    added = [*disclosures, forge.disclosure("assistance_type", "food")]
    twice = [*disclosures, disclosures[0]]
    for altered in (changed, added, twice):
        assert refused(forge.join(jwt, altered, proof), pinned) == "credential_altered"
    # dropping a disclosure is her right: it still verifies, showing less
    fewer = credentials.verify_offline(forge.join(jwt, disclosures[:1], proof).encode(), pinned)
    assert len(fewer.disclosed) == 1


def _payload(text: str) -> dict[str, Any]:
    return dict(forge.unb64url(forge.split(text)[0].split(".")[1]))


def _day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def test_a_credential_that_hides_when_the_entitlement_ends_does_not_expire_then(
    gateway: Gateway,
) -> None:
    """The attack: a verifier reads the hidden valid_until off the expiry every
    credential shows."""
    grant = granted(gateway)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    made = credentials.issue(
        gateway, as_(gateway, "AGENCY-A"), grant["event_id"], PURPOSE, ["programme"], now=now
    )
    text = made.credential.text()
    ends = _day(dt.date.fromisoformat(ev.PERIOD[1]) + dt.timedelta(days=1))
    assert _payload(text)["exp"] == int((now + HIDDEN_END_LIFETIME).timestamp())
    assert made.verified.expires == now + HIDDEN_END_LIFETIME < ends
    assert ev.PERIOD[1] not in text
    asked = now + dt.timedelta(days=3)
    sooner = credentials.issue(
        gateway, as_(gateway, "AGENCY-A"), grant["event_id"], PURPOSE, [], now=now, expires=asked
    )
    assert sooner.verified.expires == asked


def test_a_credential_hiding_the_end_is_refused_where_it_would_outlast_it(
    gateway: Gateway,
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    last = today + dt.timedelta(days=10)
    grant = granted(gateway, start=ev.PERIOD[0], end=last.isoformat())
    a = as_(gateway, "AGENCY-A")
    with pytest.raises(LedgerError) as outlasts:
        credentials.issue(gateway, a, grant["event_id"], PURPOSE, ["programme"])
    assert outlasts.value.code == "credential_outlasts_subject"
    with pytest.raises(LedgerError) as asked_beyond:
        credentials.issue(
            gateway, a, grant["event_id"], PURPOSE, [], expires=_day(last + dt.timedelta(days=2))
        )
    assert asked_beyond.value.code == "credential_outlasts_subject"
    shown = credentials.issue(gateway, a, grant["event_id"], PURPOSE, ["valid_until"])
    assert shown.verified.expires == _day(last + dt.timedelta(days=1))  # shown: it may say so


def test_a_credential_for_an_entitlement_that_begins_later_is_valid_only_from_then(
    gateway: Gateway,
) -> None:
    """The attack: a card issued today for next month's entitlement, shown today."""
    first = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=5)
    grant = granted(gateway, start=first.isoformat(), end=ev.PERIOD[1])
    a, pinned = as_(gateway, "AGENCY-A"), gateway.workspace.consortium
    with pytest.raises(LedgerError) as hidden:  # the day it begins would be told
        credentials.issue(gateway, a, grant["event_id"], PURPOSE, ["programme"])
    assert hidden.value.code == "credential_before_subject"
    made = credentials.issue(gateway, a, grant["event_id"], PURPOSE, ["valid_from", "valid_until"])
    text = made.credential.text()
    assert _payload(text)["nbf"] == int(_day(first).timestamp())
    assert made.verified.not_before == _day(first)  # checked by its issuer, ahead
    assert credentials.render_card(text.encode(), pinned, "png")[:4] == b"\x89PNG"
    assert refused(text, pinned) == "credential_not_yet_valid"
    assert refused(text, pinned, now=_day(first) - dt.timedelta(seconds=1)) == (
        "credential_not_yet_valid"
    )
    assert credentials.verify_offline(text.encode(), pinned, now=_day(first)).kind == "entitlement"
    issuer = gateway.workspace.signer("AGENCY-A")
    jwt = forge.split(text)[0]
    for forged, code in (
        (forge.with_payload(jwt, nbf=None), "credential_forged"),  # the issuer's, altered
        (forge.resign(jwt, issuer, nbf="soon"), "credential_malformed"),  # no time
    ):
        assert refused(text.replace(jwt, forged), pinned, now=_day(first)) == code


def test_expired(gateway: Gateway, issued: tuple[dict[str, Any], str]) -> None:
    _, text = issued
    pinned = gateway.workspace.consortium
    end = dt.datetime.combine(
        dt.date.fromisoformat(ev.PERIOD[1]) + dt.timedelta(days=1), dt.time(), dt.UTC
    )
    assert credentials.verify_offline(text.encode(), pinned, now=end - dt.timedelta(seconds=1))
    assert refused(text, pinned, now=end) == "credential_expired"


def test_wrong_issuer(gateway: Gateway, issued: tuple[dict[str, Any], str]) -> None:
    _, text = issued
    ws, pinned = gateway.workspace, gateway.workspace.consortium
    jwt, disclosures, proof = forge.split(text)
    as_a_by_b = forge.resign(jwt, ws.signer("AGENCY-B"))  # B signs, claiming to be A
    assert refused(forge.join(as_a_by_b, disclosures, proof), pinned) == "credential_wrong_issuer"
    donor = forge.resign(jwt, ws.signer("DONOR-Y"), iss="DONOR-Y")  # a member, not an agency
    assert refused(forge.join(donor, disclosures, proof), pinned) == "credential_wrong_issuer"
    b_itself = forge.resign(jwt, ws.signer("AGENCY-B"), iss="AGENCY-B")  # a real agency's own
    assert credentials.verify_offline(forge.join(b_itself, disclosures, proof).encode(), pinned)


def test_foreign_consortium(
    gateway: Gateway, issued: tuple[dict[str, Any], str], tmp_path: Path
) -> None:
    """Another consortium with the same members' names, CAs and log of its own: its
    credentials fail against the verifier's pin, and the verifier's pin is what counts."""
    _, text = issued
    pinned = gateway.workspace.consortium
    elsewhere = Workspace.create(tmp_path / "elsewhere", DEMO)
    jwt, disclosures, proof = forge.split(text)
    their_a = forge.resign(jwt, elsewhere.signer("AGENCY-A"))
    assert refused(forge.join(their_a, disclosures, proof), pinned) == (
        "credential_foreign_consortium"
    )
    assert refused(text, elsewhere.consortium) == "credential_foreign_consortium"
    other_ledger = forge.resign(
        jwt,
        gateway.workspace.signer("AGENCY-A"),
        ledger={**forge.unb64url(jwt.split(".")[1])["ledger"], "origin": "ledger.example/other"},
    )
    assert refused(forge.join(other_ledger, disclosures, proof), pinned) == (
        "credential_foreign_consortium"
    )  # fmt: skip


def test_event_proof_must_be_witnessed_and_prove_the_signed_leaf(
    gateway: Gateway, issued: tuple[dict[str, Any], str]
) -> None:
    _, text = issued
    pinned = gateway.workspace.consortium
    jwt, disclosures, proof = forge.split(text)
    body, _, note = proof.partition("\n\n")
    lines = note.rstrip("\n").split("\n")
    one_witness = "\n".join(line for line in lines if "witness.auditor-x" not in line) + "\n"
    stripped = forge.join(jwt, disclosures, f"{body}\n\n{one_witness}")
    assert refused(stripped, pinned) == "credential_not_witnessed"
    assert credentials.verify_offline(stripped.encode(), pinned, quorum=1)
    # the proof of another event: a genuine tlog-proof, not of the leaf the issuer signed
    other = credentials.issue(
        gateway, as_(gateway, "AGENCY-A"), granted(gateway)["event_id"], PURPOSE, []
    )
    _, _, other_proof = forge.split(other.credential.text())
    assert refused(forge.join(jwt, disclosures, other_proof), pinned) == "credential_unproven"


def test_a_card_proving_another_entry_than_its_event_is_refused_online(
    gateway: Gateway, issued: tuple[dict[str, Any], str]
) -> None:
    """The issuer signs where its event is: one naming its grant's transaction with
    another entry's place and proof checks out offline (the signature vouches for the
    pairing), never against the ledger."""
    _, text = issued
    jwt, disclosures, _ = forge.split(text)
    other = credentials.issue(
        gateway, as_(gateway, "AGENCY-A"), granted(gateway)["event_id"], PURPOSE, []
    )
    other_jwt, _, other_proof = forge.split(other.credential.text())
    claims, elsewhere = forge.unb64url(jwt.split(".")[1]), forge.unb64url(other_jwt.split(".")[1])
    ledger = {**claims["ledger"], **{k: elsewhere["ledger"][k] for k in ("index", "leaf_hash")}}
    paired = forge.join(
        forge.resign(jwt, gateway.workspace.signer("AGENCY-A"), ledger=ledger),
        disclosures,
        other_proof,
    )
    caller = as_(gateway, "AGENCY-A")
    assert credentials.verify(gateway, caller, paired.encode(), PURPOSE, online=False)["ok"]
    with pytest.raises(CredentialError) as caught:
        credentials.verify(gateway, caller, paired.encode(), PURPOSE)
    assert caught.value.code == "credential_unproven"
    assert credentials.verify(gateway, caller, text.encode(), PURPOSE)["status"] == "active"


@pytest.mark.parametrize(
    "garbage",
    [b"", b"hello", b"ledger-gw-credential@v1\nnot-a-jwt~\nx", b"\xff\xfe", b"\x89PNG\r\n\x1a\n"],
)
def test_malformed(gateway: Gateway, garbage: bytes) -> None:
    assert refused(garbage, gateway.workspace.consortium) == "credential_malformed"


def test_card_png_and_pdf_round_trip(
    gateway: Gateway, issued: tuple[dict[str, Any], str], tmp_path: Path
) -> None:
    """Render the card, read its QR code back from the image, verify what it holds."""
    grant, text = issued
    pinned = gateway.workspace.consortium
    png = credentials.render_card(text.encode(), pinned, "png")
    pdf = credentials.render_card(text.encode(), pinned, "pdf")
    assert png.startswith(b"\x89PNG")
    assert pdf.startswith(b"%PDF")
    assert credentials.read(png).decode() == text
    seen = credentials.verify(gateway, as_(gateway, "AGENCY-A"), png, PURPOSE)
    assert (seen["pid"], seen["status"]) == (grant["pid"], "active")
    jwt, _disclosures, proof = forge.split(text)
    altered = forge.join(jwt, [forge.disclosure("programme", "X")], proof)
    with pytest.raises(CredentialError):  # a card of an altered credential is not made
        credentials.render_card(altered.encode(), pinned, "png")


def test_the_card_prints_the_last_day_it_is_valid(gateway: Gateway) -> None:
    """A card showing its entitlement's last day expires at the midnight after it: the
    card names that last day, never the day it is refused on."""
    last = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=60)
    grant = granted(gateway, start=ev.PERIOD[0], end=last.isoformat())
    agency, pinned = as_(gateway, "AGENCY-A"), gateway.workspace.consortium
    made = credentials.issue(gateway, agency, grant["event_id"], PURPOSE, ["valid_until"])
    lines = card._lines(made.verified)
    assert f"Valid through {last} (UTC)" in lines
    after = _day(last + dt.timedelta(days=1))
    assert not any(str(after.date()) in line for line in lines)
    text = made.credential.text()
    assert credentials.verify_offline(text.encode(), pinned, now=after - dt.timedelta(seconds=1))
    assert refused(text, pinned, now=after) == "credential_expired"
    # one that ends within a day is valid up to the minute, which the card prints
    asked = dt.datetime.combine(last, dt.time(17, 45, 30), dt.UTC)
    sooner = credentials.issue(gateway, agency, grant["event_id"], PURPOSE, [], expires=asked)
    assert f"Valid until {last} 17:45 UTC" in card._lines(sooner.verified)


def _photographed(png: bytes) -> bytes:
    """The card as a phone would photograph it: on a table, askew, soft, JPEG."""
    card = Image.open(io.BytesIO(png)).convert("RGB")
    table = Image.new("RGB", (card.width * 7 // 5, card.height * 8 // 5), (120, 110, 95))
    table.paste(card, (card.width // 5, card.height * 3 // 10))
    askew = table.rotate(6, resample=Image.Resampling.BICUBIC, fillcolor=(120, 110, 95))
    out = io.BytesIO()
    askew.filter(ImageFilter.GaussianBlur(0.8)).save(out, format="JPEG", quality=70)
    return out.getvalue()


def test_card_read_from_a_photo(gateway: Gateway, issued: tuple[dict[str, Any], str]) -> None:
    _, text = issued
    pinned = gateway.workspace.consortium
    photo = _photographed(credentials.render_card(text.encode(), pinned, "png"))
    assert photo.startswith(b"\xff\xd8")
    from_photo = credentials.verify_offline(photo, pinned)
    assert from_photo == credentials.verify_offline(text.encode(), pinned)
    blank = io.BytesIO()
    Image.new("RGB", (400, 300), (255, 255, 255)).save(blank, format="PNG")
    assert refused(blank.getvalue(), pinned) == "credential_malformed"


def test_not_an_entitlement(gateway: Gateway) -> None:
    consent = ev.consent_granted(ev.pid())
    agency = as_(gateway, "AGENCY-A")
    gateway.client(agency).submit(consent)
    with pytest.raises(LedgerError) as caught:
        credentials.issue(gateway, agency, consent["event_id"], PURPOSE, [])
    assert caught.value.code == "not_an_entitlement"


def test_a_key_rotation_keeps_the_cards_issued_before_it(
    gateway: Gateway, issued: tuple[dict[str, Any], str]
) -> None:
    """People carry their cards for months and cannot all be reached again: a routine
    rotation of the issuer's key leaves what it signed before valid. What the retired
    key signs after it, or says it signs in the future, is refused by its own code."""
    _, text = issued
    issued_at = dt.datetime.fromtimestamp(_payload(text)["iat"], dt.UTC)
    ws = gateway.workspace
    org = ws.consortium.organisation("AGENCY-A")
    ca_key = load_signing_key(ws.root / "orgs" / "AGENCY-A" / "ca.key")
    _, new_cert = issue_member(ca_key, org.ca_cert, "AGENCY-A", org.role, "gateway.agency-a")
    rotation = issued_at + dt.timedelta(seconds=1)
    rotated = ws.consortium.with_rotated_key("AGENCY-A", cert_pem(new_cert), rotation)
    later = rotation + dt.timedelta(days=2)
    assert credentials.verify_offline(text.encode(), rotated, now=later).issuer == "AGENCY-A"

    jwt, disclosures, proof = forge.split(text)
    old_key = ws.signer("AGENCY-A")
    after = forge.resign(jwt, old_key, iat=int((rotation + dt.timedelta(hours=1)).timestamp()))
    assert refused(forge.join(after, disclosures, proof), rotated, now=later) == (
        "credential_issuer_key_retired"
    )
    ahead = forge.resign(jwt, old_key, iat=int((later + dt.timedelta(hours=1)).timestamp()))
    assert refused(forge.join(ahead, disclosures, proof), rotated, now=later) == (
        "credential_not_yet_valid"
    )
    for iat in ("yesterday", 10**20, True):
        bad = forge.resign(jwt, old_key, iat=iat)
        assert refused(forge.join(bad, disclosures, proof), rotated, now=later) == (
            "credential_malformed"
        )


def test_no_credential_before_a_checkpoint_is_witnessed(
    consortium_dir: Path, tmp_path: Path
) -> None:
    """Before the witness quorum has cosigned any checkpoint (its witnesses unreachable,
    say) the log anchors at its latest, signed by its key alone: a credential proven
    there would be refused by every verifier, so none is issued (409, as at any time an
    event is newer than the latest cosigned checkpoint)."""
    copy = tmp_path / "ws"
    shutil.copytree(consortium_dir, copy)
    listed = json.loads((copy / "consortium.json").read_text())
    for member in listed["organisations"]:
        if "witness_url" in member:
            member["witness_url"] = "http://127.0.0.1:9"  # nothing listens there
    (copy / "consortium.json").write_text(json.dumps(listed))
    config = GatewayConfig(
        directory=copy,
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        offchain_url=f"sqlite:///{tmp_path}/offchain-{{org}}.db",
    )
    gw = open_gateway(config)
    try:
        grant = ev.entitlement_granted(ev.pid())
        gw.client(as_(gw, "AGENCY-A")).submit(grant)
        with pytest.raises(LedgerError) as refused:
            credentials.issue(gw, as_(gw, "AGENCY-A"), grant["event_id"], PURPOSE, ["programme"])
        assert refused.value.code == "not_yet_witnessed"
    finally:
        gw.close()
