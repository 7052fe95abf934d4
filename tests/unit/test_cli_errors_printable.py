"""What the command line prints of an error reaches a terminal: a server's or a file's
words it quotes must not carry control characters there (an escape sequence that clears
the screen and prints a verdict of its own)."""

from __future__ import annotations

import pytest

import ledger_gw.cli as cli_module
from ledger_gw.errors import UnavailableError


def test_an_errors_control_characters_are_shown_not_sent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    said = "no\x1b[2J\x1b[Hledger verifies: 13 entries\x07"

    def refuse(**_: object) -> None:
        raise UnavailableError(f"the gateway said: {said}", code="gateway_unreachable")

    monkeypatch.setattr(cli_module.cli, "main", refuse)
    with pytest.raises(SystemExit) as stopped:
        cli_module.main()
    assert stopped.value.code == 1
    printed = capsys.readouterr().err
    assert "\x1b" not in printed
    assert "\x07" not in printed
    assert "\\u001b[2J\\u001b[Hledger verifies: 13 entries\\u0007" in printed
