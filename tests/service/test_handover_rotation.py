"""A gateway whose ledger follows no consortium file (on a log node, on Fabric) reads the
file itself to judge a hand-over fetch: a member's key rotated while it runs, the
rotated-out key takes no package and the new one does, with no restart."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from ledger_gw.bootstrap import rotate_key
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.consortium_file import CHECK_EVERY_S
from ledger_gw.errors import AuthenticationError
from ledger_gw.handover import request as signed
from ledger_gw.identity import Signer
from ledger_gw.services import handover, registrations
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace
from tests.service.conftest import MakeCaller
from tests.support import events as ev


@pytest.fixture
def consortium_dir(tmp_path: Path) -> Path:
    """A consortium of this test's own: the rotation rewrites its file."""
    return Workspace.create(tmp_path / "ws", DEMO).root


def _sealed_for_b(gateway: Gateway, caller: MakeCaller, name: str) -> str:
    a = caller("AGENCY-A")
    pid = registrations.register(gateway, a, {"given_name": name})["pid"]
    consent = ev.consent_granted(
        pid, grantees=["AGENCY-B"], purposes=["referral"], categories=["referrals"]
    )
    referral = ev.referral_created(pid, consent_id=consent["consent_id"])
    for event in (consent, referral):
        gateway.client(a).submit(event)
    rid = str(referral["referral_id"])
    handover.prepare(gateway, a, rid, "")
    return rid


def _fetch(gateway: Gateway, signer: Signer, rid: str) -> bytes:
    path = handover.path_of(rid)
    return handover.release(gateway, rid, signed.sign(signer, "GET", path, dt.datetime.now(dt.UTC)))


def test_a_gateway_reading_the_file_itself_takes_a_rotation(
    gateway: Gateway, caller: MakeCaller, consortium_dir: Path
) -> None:
    before, after = _sealed_for_b(gateway, caller, "Amina"), _sealed_for_b(gateway, caller, "Omar")
    old = Workspace.load(consortium_dir).signer("AGENCY-B")
    assert _fetch(gateway, old, before)  # the keys are read: those of before the rotation
    rotated = rotate_key(consortium_dir, "AGENCY-B")
    time.sleep(CHECK_EVERY_S)
    with pytest.raises(AuthenticationError) as refused:
        _fetch(gateway, old, after)
    assert refused.value.code == "request_signature_invalid"
    assert _fetch(gateway, rotated.signer("AGENCY-B"), after)
