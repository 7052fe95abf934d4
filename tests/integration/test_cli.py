"""`ledger-gw` end to end, as a user runs it: a subprocess per command."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from cryptography import x509

from ledger_gw.bootstrap import embedded_ledger
from ledger_gw.client import OrgClient
from ledger_gw.consortium import Consortium
from ledger_gw.embedded.packing import pack, unpack
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import leaf_hash, verify_consistency, verify_inclusion
from ledger_gw.node.revoked import revocation_key
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.cli import clean_failure, own_pin, run_cli

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli") / "demo"
    init = run_cli("init", str(directory))
    assert init.returncode == 0, init.stderr
    assert (directory / "consortium.json").exists()
    demo = run_cli("demo", "--dir", str(directory))
    assert demo.returncode == 0, demo.stderr
    assert "Whole ledger verified" in demo.stdout
    told = " ".join(demo.stdout.split())  # the terminal wraps lines
    for step in (
        "Humanitarian service point 1",
        "registered her from it",  # AGENCY-B, from AGENCY-A's hand-over
        "not asked again at AGENCY-B",
        "Humanitarian service point 2",
        "409 already_registered, her existing registration",
        "Humanitarian service point 3",
        "AGENCY-C verified her card offline against its pinned consortium",
        "AGENCY-C continues her cash where AGENCY-A's ends, citing it",
    ):
        assert step in told, step
    assert (directory / "fatima-card.png").read_bytes().startswith(b"\x89PNG")
    return directory


def _log_key(directory: Path) -> ckpt.NoteVerifier:
    return ckpt.NoteVerifier.from_vkey(Consortium.load(directory / "consortium.json").log_vkey)


def _witnesses(directory: Path) -> list[ckpt.NoteVerifier]:
    return Consortium.load(directory / "consortium.json").witness_verifiers()


def _entry(directory: Path, position: int) -> bytes:
    with closing(sqlite3.connect(directory / "ledger.db")) as db:
        row = db.execute("SELECT entry FROM log WHERE seq = ?", (position,)).fetchone()
    assert row is not None
    return unpack(bytes(row[0]))


def _size(directory: Path) -> int:
    with closing(sqlite3.connect(directory / "ledger.db")) as db:
        (n,) = db.execute("SELECT COUNT(*) FROM log").fetchone()
    return int(n)


def _b64(items: list[str]) -> list[bytes]:
    return [base64.b64decode(x) for x in items]


def test_verify(demo_dir: Path) -> None:
    done = run_cli("verify", "--dir", str(demo_dir), *own_pin(demo_dir))
    assert done.returncode == 0, done.stderr
    assert "ledger verifies" in done.stdout
    assert f"{_size(demo_dir)} entries" in done.stdout


def test_prove_inclusion(demo_dir: Path) -> None:
    done = run_cli("prove", "inclusion", "--dir", str(demo_dir), "--index", "3")
    assert done.returncode == 0, done.stderr
    proof = json.loads(done.stdout)
    assert proof["index"] == 3
    cp = ckpt.open_checkpoint(proof["checkpoint"], _log_key(demo_dir)).checkpoint
    assert cp.size == proof["size"] == _size(demo_dir)
    leaf = leaf_hash(_entry(demo_dir, 3))  # recomputed from the stored entry, not trusted
    assert base64.b64decode(proof["leaf_hash"]) == leaf
    verify_inclusion(leaf, 3, cp.size, _b64(proof["proof"]), cp.root_hash)


def test_prove_inclusion_by_tx_against_older_size(demo_dir: Path) -> None:
    with closing(sqlite3.connect(demo_dir / "ledger.db")) as db:
        (tx_id,) = db.execute("SELECT tx_id FROM log WHERE seq = 1").fetchone()
    done = run_cli("prove", "inclusion", "--dir", str(demo_dir), "--tx", tx_id.hex(), "--size", "4")
    assert done.returncode == 0, done.stderr
    proof = json.loads(done.stdout)
    assert (proof["index"], proof["size"]) == (1, 4)
    cp = ckpt.open_checkpoint(proof["checkpoint"], _log_key(demo_dir)).checkpoint
    assert cp.size == 4
    verify_inclusion(leaf_hash(_entry(demo_dir, 1)), 1, 4, _b64(proof["proof"]), cp.root_hash)


def test_prove_consistency(demo_dir: Path) -> None:
    done = run_cli("prove", "consistency", "--dir", str(demo_dir), "2")
    assert done.returncode == 0, done.stderr
    proof = json.loads(done.stdout)
    log_key = _log_key(demo_dir)
    cp1 = ckpt.open_checkpoint(proof["checkpoint1"], log_key).checkpoint
    cp2 = ckpt.open_checkpoint(proof["checkpoint2"], log_key).checkpoint
    assert (cp1.size, cp2.size) == (2, _size(demo_dir))
    verify_consistency(2, cp2.size, _b64(proof["proof"]), cp1.root_hash, cp2.root_hash)


def _cosigners(demo_dir: Path, size: int) -> tuple[str, ...]:
    note = run_cli("checkpoint", "show", "--dir", str(demo_dir), "--size", str(size)).stdout
    return ckpt.open_checkpoint(note, _log_key(demo_dir), _witnesses(demo_dir), 0).witnesses


def test_checkpoint_show_and_cosign(demo_dir: Path) -> None:
    shown = run_cli("checkpoint", "show", "--dir", str(demo_dir))
    assert shown.returncode == 0, shown.stderr
    opened = ckpt.open_checkpoint(shown.stdout, _log_key(demo_dir), _witnesses(demo_dir), 2)
    assert opened.checkpoint.size == _size(demo_dir)
    # The demo's two witnesses, processes of their own, cosigned what the demo wrote.
    assert sorted(opened.witnesses) == ["witness.agency-a", "witness.auditor-x"]
    assert not list(demo_dir.rglob("witness.key"))
    assert len(list((demo_dir.parent / "demo-witnesses").glob("*/witness.key"))) == 2

    beyond = run_cli("checkpoint", "cosign", "--dir", str(demo_dir), "--size", str(10**30))
    assert "not_found" in clean_failure(beyond)
    twice = run_cli("checkpoint", "cosign", "--dir", str(demo_dir))
    assert "already" in clean_failure(twice)

    # One more write while the witnesses are stopped (they stopped with the demo): its
    # checkpoint has no cosignature, and asking for one fails cleanly, changing nothing.
    ws = Workspace.load(demo_dir)
    ledger = embedded_ledger(ws)
    try:
        OrgClient(ledger, ws.signer("AGENCY-A")).submit(ev.consent_granted(ev.pid()))
    finally:
        ledger.close()
    latest = _size(demo_dir)
    assert _cosigners(demo_dir, latest) == ()
    before = run_cli("checkpoint", "show", "--dir", str(demo_dir), "--size", str(latest)).stdout
    gone = run_cli("checkpoint", "cosign", "--dir", str(demo_dir), "--size", str(latest))
    assert "witnesses_unavailable" in clean_failure(gone)
    after = run_cli("checkpoint", "show", "--dir", str(demo_dir), "--size", str(latest)).stdout
    assert after == before
    assert run_cli("verify", "--dir", str(demo_dir), *own_pin(demo_dir)).returncode == 0


def test_verify_missing_directory() -> None:
    done = run_cli("verify", "--dir", "/nonexistent/consortium/directory/of/a/long/path/name")
    assert "config_error" in clean_failure(done)


def test_prove_inclusion_out_of_range(demo_dir: Path) -> None:
    done = run_cli("prove", "inclusion", "--dir", str(demo_dir), "--index", "999")
    assert "not_found" in clean_failure(done)


def test_add_witness_lists_a_members_witness(demo_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "demo"
    shutil.copytree(demo_dir, copy)
    made = run_cli("witness", "init", "--org", "AGENCY-C", "--dir", str(tmp_path / "wc"))
    vkey = made.stdout.strip()
    add = ("consortium", "add-witness", "--dir", str(copy))
    before = (copy / "consortium.json").read_text()
    for bad, what in (
        (("--org", "AGENCY-Z", "--vkey", vkey, "--url", "http://127.0.0.1:9"), "AGENCY-Z"),
        (("--org", "AGENCY-C", "--vkey", "nonsense", "--url", "http://x"), "malformed"),
        (("--org", "AGENCY-C", "--vkey", vkey, "--url", "ftp://x"), "URL"),
        (("--org", "AGENCY-C", "--vkey", vkey, "--url", "http://x", "--quorum", "4"), "quorum"),
    ):
        assert what in clean_failure(run_cli(*add, *bad))
        assert (copy / "consortium.json").read_text() == before
    done = run_cli(
        *add, "--org", "AGENCY-C", "--vkey", vkey, "--url", "http://127.0.0.1:9/", "--quorum", "3"
    )
    assert done.returncode == 0, done.stderr
    listed = Consortium.load(copy / "consortium.json")
    assert listed.witness_quorum == 3
    assert listed.witness_urls()["AGENCY-C"] == ("http://127.0.0.1:9", vkey)


def test_tampered_ledger_fails_verification(demo_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "demo"
    shutil.copytree(demo_dir, copy)
    with closing(sqlite3.connect(copy / "ledger.db")) as db:
        (entry,) = db.execute("SELECT entry FROM log WHERE seq = 4").fetchone()
        db.execute(
            "UPDATE log SET entry = ? WHERE seq = 4",
            (pack(unpack(entry).replace(b'"type":"', b'"type":"x', 1)),),
        )
        db.commit()
    line = clean_failure(run_cli("verify", "--dir", str(copy), *own_pin(copy)))
    assert "integrity_error" in line
    assert "position 4" in line
    assert run_cli("verify", "--dir", str(demo_dir), *own_pin(demo_dir)).returncode == 0


def test_demo_without_dir_never_touches_the_served_directory(tmp_path: Path) -> None:
    """`ledger-gw demo --fresh` alone replays in var/journey, as `make demo` does: not in
    var/demo (what `ledger-gw serve --demo` serves), nor in LEDGER_GW_DIR."""
    served = tmp_path / "var" / "demo"
    served.mkdir(parents=True)
    (served / "ledger.db").write_bytes(b"the served ledger")
    done = subprocess.run(
        [sys.executable, "-m", "ledger_gw.cli", "demo", "--fresh"],
        cwd=tmp_path,
        env={**os.environ, "LEDGER_GW_DIR": str(served), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (served / "ledger.db").read_bytes() == b"the served ledger"
    assert (tmp_path / "var" / "journey" / "ledger.db").exists()


def test_prepare_splits_a_consortium_once_and_refuses_a_bad_witness(tmp_path: Path) -> None:
    site = tmp_path / "site"
    base = ("consortium", "prepare", "--dir", str(tmp_path / "c"), "--site", str(site))
    bad = run_cli(*base, "--witness", "AGENCY-A")  # no URL
    assert bad.returncode == 2, bad
    assert "is not ORG=URL" in bad.stderr
    assert not site.exists()
    witness = ("--witness", "AUDITOR-X=http://w:8070", "--node-host", "node.example")
    done = run_cli(*base, "--agency", "AGENCY-B", *witness)
    assert done.returncode == 0, done.stderr
    parties = sorted(p.name for p in site.iterdir() if p.is_dir())
    assert parties == ["AGENCY-B", "node", "witness-AUDITOR-X"]
    assert Consortium.load(site / "AGENCY-B" / "consortium.json").witness_urls()["AUDITOR-X"][
        0
    ] == ("http://w:8070")
    before = (site / "node" / "node" / "log.key").read_bytes()
    again = run_cli(*base, "--agency", "AGENCY-B", *witness)
    assert again.returncode == 2, again
    assert "prepared once" in again.stderr
    assert (site / "node" / "node" / "log.key").read_bytes() == before


def test_a_client_certificate_issued_again_names_the_one_to_revoke(tmp_path: Path) -> None:
    directory = tmp_path / "ws"
    assert run_cli("init", str(directory)).returncode == 0
    issue = ("log", "client-cert", "--dir", str(directory), "--org", "AGENCY-A")
    assert run_cli(*issue).returncode == 0
    pem = directory / "orgs" / "AGENCY-A" / "tls-client.pem"
    old = tmp_path / "old.pem"
    old.write_bytes(pem.read_bytes())
    again = run_cli(*issue)
    assert again.returncode == 0, again.stderr
    cert = x509.load_pem_x509_certificate(old.read_bytes())
    old_print = revocation_key(cert)
    assert f"replaces sha256 {old_print}" in " ".join(again.stdout.split())
    revoked = run_cli("log", "revoke-client", "--dir", str(directory), str(old))
    assert revoked.returncode == 0, revoked.stderr
    assert old_print in (directory / "node" / "revoked-clients").read_text()
