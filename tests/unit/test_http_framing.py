"""Where a request ends: what the buffering worker waits for before a thread serves it."""

from __future__ import annotations

from api.http_framing import MAX_HEAD, READY, framing

HEAD = b"POST /v1/events HTTP/1.1\r\nHost: gw\r\n"


def test_a_head_without_its_empty_line_waits() -> None:
    assert not framing(b"GET / HTTP/1.1\r\nHost: gw\r\n", 100).complete


def test_a_head_without_a_body_is_complete() -> None:
    assert framing(b"GET / HTTP/1.1\r\nHost: gw\r\n\r\n", 100).complete


def test_a_body_waits_for_its_content_length() -> None:
    request = HEAD + b"Content-Length: 5\r\n\r\nabc"
    assert not framing(request, 100).complete
    assert framing(request + b"de", 100).complete


def test_a_chunked_body_waits_for_its_last_chunk_and_trailers() -> None:
    request = HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
    assert not framing(request, 100).complete
    assert not framing(request + b"0\r\n", 100).complete
    assert framing(request + b"0\r\n\r\n", 100).complete
    assert not framing(request + b"0\r\nX-T: 1\r\n", 100).complete
    assert framing(request + b"0\r\nX-T: 1\r\n\r\n", 100).complete


def test_a_body_over_the_limit_is_handed_over_at_once_to_be_refused() -> None:
    found = framing(HEAD + b"Content-Length: 101\r\n\r\n", 100)
    assert found.complete
    assert found.body_too_large
    chunked = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"ff\r\n" + b"a" * 200
    found = framing(chunked, 100)
    assert found.complete
    assert found.body_too_large


def test_an_endless_head_is_refused() -> None:
    found = framing(b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD, 100)
    assert not found.complete
    assert found.head_too_large


def test_malformed_framing_is_left_to_the_parser() -> None:
    assert framing(HEAD + b"Content-Length: x\r\n\r\n", 100).complete
    assert framing(HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 100).complete


def test_an_expected_continue_is_noted_until_the_body_starts() -> None:
    request = HEAD + b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    assert framing(request, 100).expects_continue
    assert not framing(request + b"ab", 100).expects_continue


def test_a_chunk_size_is_hex_digits_only() -> None:
    """int(x, 16) reads "-6", "+6" and "0x6": a size of -6 walked back to where it began."""
    for size in (b"-6", b"+6", b"0x6", b" ", b"6" * 17):
        request = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + size + b"\r\n"
        assert framing(request, 100) == READY, size  # malformed: the parser answers it
    endless = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"1" * 5000 + b"\r\n"
    assert framing(endless, 100) == READY


def test_a_content_length_is_ascii_digits_only() -> None:
    for length in (b"\xb2", b"\xb9", b"0" * 5000, b"-1", b"5,5"):
        assert framing(HEAD + b"Content-Length: " + length + b"\r\n\r\n", 100) == READY


def test_a_head_past_the_limit_is_refused_even_once_it_ends() -> None:
    found = framing(b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD + b"\r\n\r\n", 100)
    assert found.head_too_large


def test_a_chunk_is_too_large_once_its_data_past_the_limit_has_arrived() -> None:
    """Declared sizes alone prove nothing: the app reads what arrived, so it must be there."""
    request = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"1000000\r\n"
    assert not framing(request + b"a" * 100, 100).complete
    assert framing(request + b"a" * 101, 100).body_too_large
