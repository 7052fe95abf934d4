"""The witness's own directory: its key and its memory, apart from any log operator's.

witness.key     the cosigning key (skey, readable by the owner only)
witness.db      the last checkpoint cosigned for each log (SQLite), and the key it is
                the memory of

The two are made together and kept together: a key whose memory is gone has cosigned
checkpoints it no longer remembers, and would cosign a fork of them. Such a witness
does not start unless its operator says, in so many words, that it starts afresh; nor
does one whose witness.db is empty without saying it was made for its key (a stale
copy, or one SQLite made in place of a lost file), or is another witness's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ledger_gw.errors import ConfigError
from ledger_gw.files import SECRET, make_dirs, read_secret, write_file
from ledger_gw.log.checkpoint import CheckpointError, dump_signer, parse_signer
from ledger_gw.log.note import NoteError, NoteSigner, SigType, generate_signer
from ledger_gw.witness.core import TrustedLog
from ledger_gw.witness.service import Witness
from ledger_gw.witness.store import MemoryLostError, WitnessStore

_log = logging.getLogger(__name__)

KEY_FILE = "witness.key"
STATE_FILE = "witness.db"
# Files that mark a log operator's directory (see ledger_gw.workspace).
_OPERATOR_FILES = ("consortium.json", "node/log.key")


def key_name(org_id: str) -> str:
    """The witness key's name for an organisation, as the consortium file names it."""
    return f"witness.{org_id.lower()}"


@dataclass(frozen=True)
class WitnessHome:
    root: Path

    @property
    def state_url(self) -> str:
        return f"sqlite:///{self.root / STATE_FILE}"

    def signer(self) -> NoteSigner:
        path = self.root / KEY_FILE
        try:
            return parse_signer(read_secret(path, "witness key")).as_type(SigType.COSIGNATURE_V1)
        except (CheckpointError, NoteError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc

    def open(self, logs: Iterable[TrustedLog], *, new_memory: bool = False) -> Witness:
        """The witness this directory holds, serving ``logs``, with the memory its key
        was made with. ``new_memory`` starts an empty one where that is gone: the
        witness will then trust whatever checkpoint it sees next, a fork included."""
        signer = self.signer()
        try:
            store = WitnessStore(self.state_url, witness=signer.verifier, create=False)
        except MemoryLostError as exc:
            if not new_memory:
                raise MemoryLostError(
                    f"witness {signer.name} has lost its memory ({exc}): it would cosign "
                    "a fork of what it cosigned before. Restore the file from a backup, or "
                    "start afresh with --new-memory, trusting the next checkpoint it sees"
                ) from None
            store = WitnessStore(self.state_url, witness=signer.verifier)
            _log.warning(
                "witness %s starts with a new, empty memory (%s): it will trust the next "
                "checkpoint it sees for each log",
                signer.name,
                exc,
            )
        return Witness(signer, logs, store)

    @classmethod
    def create(cls, root: Path, org_id: str) -> WitnessHome:
        """A new witness key in ``root`` and its (empty) memory beside it; never
        overwrites a key, never in an operator's directory."""
        for name in _OPERATOR_FILES:
            if (root / name).exists():
                raise ConfigError(f"{root} is a log operator's directory: a witness keeps its own")
        path = root / KEY_FILE
        if path.exists():
            raise ConfigError(f"{path} already exists")
        make_dirs(root)
        signer, _ = generate_signer(key_name(org_id), SigType.COSIGNATURE_V1)
        write_file(path, dump_signer(signer), SECRET)
        home = cls(root)
        try:
            WitnessStore(home.state_url, witness=signer.verifier).close()
        except BaseException:
            path.unlink()  # no key without its memory
            raise
        return home

    @classmethod
    def load(cls, root: Path) -> WitnessHome:
        home = cls(root)
        home.signer()
        return home
