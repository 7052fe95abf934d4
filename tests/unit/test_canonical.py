"""canonical_json is RFC 8785 for the ledger's values: the same bytes as the standard
library's sorted, compact, UTF-8 form, and floats and oversized integers refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaincode.canonical import canonical_json, canonical_json_of_validated

ascii_keys = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8)
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)  # no lone surrogates
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ascii_keys, inner, max_size=4),
    max_leaves=20,
)


def _reference(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@given(values)
def test_matches_the_reference_form(value: Any) -> None:
    assert canonical_json(value) == _reference(value)
    assert canonical_json_of_validated(value) == _reference(value)


def test_escapes_are_the_minimal_ones() -> None:
    assert (
        canonical_json({"s": '\n\t\x01"\\/é\u2028'})
        == b'{"s":"\\n\\t\\u0001\\"\\\\/\xc3\xa9\xe2\x80\xa8"}'
    )


@pytest.mark.parametrize("bad", [1.5, {"a": 0.0}, [2**53], {1: "x"}, {"é": 1}, object()], ids=repr)
def test_refuses_what_has_no_single_spelling(bad: Any) -> None:
    with pytest.raises(TypeError):
        canonical_json(bad)
