"""/v1/log as C2SP tlog-tiles, read by a client written from the spec (tlog_tiles_client):
the tiles rebuild the signed root, entry bundles hash to level-0 tiles, only auditors read
entries, and no path (beyond the tree, or hostile) gets anything but a 4xx problem."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import Api
from tlog_tiles_client import bundle_entries, leaf, split, tile_path, tree_root

from ledger_gw.client import OrgClient
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.services.gateway import Gateway
from tests.support import events as ev
from tests.support.events import PID, entitlement_granted

SIZE = 300  # one full level-0 tile, a partial one of 44, a partial level-1 tile of 1


def _grow(api: Api, gateway: Gateway, size: int) -> None:
    """One event through the API, the rest straight into the ledger (faster)."""
    assert api.as_("AGENCY-A").post("/v1/events", json=entitlement_granted(PID)).status_code == 201
    client = OrgClient(gateway.ledger, gateway.signers["AGENCY-A"])
    for outcome in client.submit_many([ev.independent(i) for i in range(size - 1)]):
        outcome.unwrap()
    assert gateway.ledger.settle_witnesses(30)  # tiles are served at the witnessed size


def _fetcher(api: Api, org: str, role: str) -> Any:
    def get(path: str) -> bytes:
        r = api.as_(org, role).get(f"/v1/log/{path}")
        assert r.status_code == 200, (path, r.json)
        assert r.mimetype == "application/octet-stream"
        return bytes(r.data)

    return get


def test_tiles_rebuild_the_signed_root(api: Api, gateway: Gateway) -> None:
    _grow(api, gateway, SIZE)
    r = api.as_("DONOR-Y", "donor").get("/v1/log/checkpoint")
    assert r.status_code == 200
    assert r.content_type == "text/plain; charset=utf-8"
    assert r.headers["Cache-Control"] == "private, max-age=5"
    log_key = ckpt.NoteVerifier.from_vkey(gateway.workspace.consortium.log_vkey)
    head = ckpt.open_checkpoint(r.get_data(as_text=True), log_key).checkpoint
    assert head.size == SIZE
    readers = (("DONOR-Y", "donor"), ("AGENCY-B", "agency-reader"), ("AUDITOR-X", "auditor"))
    for org, role in readers:
        assert tree_root(SIZE, _fetcher(api, org, role)) == head.root_hash


def test_full_and_partial_tiles_and_bundles(api: Api, gateway: Gateway) -> None:
    _grow(api, gateway, SIZE)
    auditor = api.as_("AUDITOR-X", "auditor")
    full = auditor.get("/v1/log/" + tile_path(0, 0))
    assert full.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    partial = auditor.get("/v1/log/" + tile_path(0, 1, 44))
    assert partial.headers["Cache-Control"] == "private, max-age=5"
    level0 = split(full.data) + split(partial.data)
    assert len(level0) == SIZE

    bundle = auditor.get("/v1/log/" + tile_path("entries", 0))
    assert bundle.status_code == 200
    assert bundle.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    entries = bundle_entries(bundle.data)
    entries += bundle_entries(auditor.get("/v1/log/" + tile_path("entries", 1, 44)).data)
    assert [leaf(e) for e in entries] == level0

    # A narrower partial tile is a prefix of the wider one; level 1 has one hash.
    assert auditor.get("/v1/log/" + tile_path(0, 1, 3)).data == partial.data[: 3 * 32]
    assert len(auditor.get("/v1/log/" + tile_path(1, 0, 1)).data) == 32


def test_only_auditors_read_entry_bundles(api: Api, gateway: Gateway) -> None:
    _grow(api, gateway, 3)
    path = "/v1/log/" + tile_path("entries", 0, 3)
    entries = bundle_entries(api.as_("AUDITOR-X", "auditor").get(path).data)
    assert len(entries) == 3
    for org, role in (
        ("DONOR-Y", "donor"),
        ("AGENCY-B", "agency-reader"),
        ("AGENCY-B", "agency-writer"),
        ("AGENCY-A", "agency-writer"),  # even the author of some of them
        ("AGENCY-A", "admin"),
    ):
        r = api.as_(org, role).get(path)
        assert r.status_code == 403, (org, role)
        assert r.mimetype == "application/problem+json"
        assert r.json["code"] == "role_forbidden"
        # Nothing of any entry reaches them, on any route of the log.
        for url in (path, "/v1/log/checkpoint", "/v1/log/" + tile_path(0, 0, 3)):
            body = api.as_(org, role).get(url).data
            assert PID.encode() not in body
            assert not any(e[:64] in body or e[-64:] in body for e in entries)


@pytest.mark.parametrize(
    "path",
    [
        tile_path(0, 1),  # full tile beyond a tree of 300
        tile_path(0, 1, 45),
        tile_path(0, 2, 1),
        tile_path(1, 0),
        tile_path(1, 0, 2),
        tile_path(2, 0, 1),
        tile_path(63, 0, 1),
        tile_path("entries", 1),
        tile_path("entries", 1, 45),
        tile_path(0, 1234067, 1),
    ],
)
def test_tiles_beyond_the_tree_are_404(api: Api, gateway: Gateway, path: str) -> None:
    _grow(api, gateway, SIZE)
    r = api.as_("AUDITOR-X", "auditor").get(f"/v1/log/{path}")
    assert r.status_code == 404, path
    assert r.mimetype == "application/problem+json"
    assert r.json["code"] == "no_such_tile"


HOSTILE = [
    "tile/x",
    "tile/-1/000",
    "tile/0/-1",
    "tile/0/x",
    "tile/0/0",
    "tile/0/00",
    "tile/0/0000",
    "tile/00/000",
    "tile/64/000",
    "tile/0/000.p/0",
    "tile/0/000.p/256",
    "tile/0/000.p/01",
    "tile/0/000.p/",
    "tile/0/000.p",
    "tile/0/x000/001",  # not canonical
    "tile/0/001/002",
    "tile/0/x001",
    "tile/0/" + "x999/" * 40 + "999",  # huge
    "tile/0/" + "9" * 3000,
    "tile/99999999999999999999999/000",
    "tile/0/000/../000",
    "tile/0/..",
    "tile/../checkpoint",
    "tile/entries/x",
    "tile/entries/000.p/0",
    "tile/entries/000.p/256",
    "tile/entries/entries/000",
    "tile/entries",
    "tile/",
    "tile/0/%00",
    "tile/0/000%2F..%2F001",
]


@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_paths_are_4xx_problems(api: Api, gateway: Gateway, path: str) -> None:
    _grow(api, gateway, 3)
    r = api.as_("AUDITOR-X", "auditor").get(f"/v1/log/{path}")
    assert r.status_code in (400, 404), (path, r.status_code)
    assert r.mimetype == "application/problem+json"


def test_an_empty_log_has_no_checkpoint_and_no_tiles(api: Api) -> None:
    for path in ("checkpoint", tile_path(0, 0, 1), tile_path("entries", 0, 1)):
        r = api.as_("AUDITOR-X", "auditor").get(f"/v1/log/{path}")
        assert r.status_code == 404, path
        assert r.mimetype == "application/problem+json"


class _BlockChain:
    """What a Fabric-backed gateway's log answers: blocks, not a Merkle tree."""

    def checkpoint(self, size: int | None) -> Any:
        return {"channel": "referrals", "height": 3, "head_hash": "00" * 32}


def test_a_fabric_ledger_answers_no_tiles_clearly(api: Api, gateway: Gateway) -> None:
    gateway._log = _BlockChain()  # type: ignore[assignment]
    for path in ("checkpoint", tile_path(0, 0, 1), tile_path("entries", 0, 1)):
        r = api.as_("AUDITOR-X", "auditor").get(f"/v1/log/{path}")
        assert r.status_code == 404, path
        assert r.json["code"] == "no_tiled_log"
        assert "Fabric" in r.json["detail"]
