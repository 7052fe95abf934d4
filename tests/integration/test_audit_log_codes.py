"""The audit log keeps a request's row whatever its refusal code held: a code longer than
its column, or with a NUL in it, would make PostgreSQL refuse the row and every row
committed with it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from ledger_gw.offchain.models import AuditRecord
from ledger_gw.offchain.store import OffchainStore
from ledger_gw.services import request_log


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[OffchainStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/offchain.db"
    else:
        url = request.getfixturevalue("pg_database")()
    opened = OffchainStore("AGENCY-B", url)
    opened.migrate()
    yield opened
    opened.close()


@pytest.mark.parametrize(
    ("code", "kept"),
    [
        ("handover_" + "x" * 91, "handover_" + "x" * 55),
        ("handover\x00not_found", "handovernot_found"),
        ("\x00", None),
    ],
)
def test_a_code_the_column_cannot_hold_is_cut_to_fit(
    store: OffchainStore, code: str, kept: str | None
) -> None:
    for route, given in (("/v1/first", code), ("/v1/second", "peer_refused")):
        store.audit(request_log.row(
            token_id="0123456789abcdef", role="agency-writer", method="POST",
            route=route, pid=None, status=403, code=given,
        ))  # fmt: skip
    with store.reading() as s:
        rows = s.execute(select(AuditRecord.route, AuditRecord.code).order_by(AuditRecord.id))
        assert [tuple(r) for r in rows] == [("/v1/first", kept), ("/v1/second", "peer_refused")]
