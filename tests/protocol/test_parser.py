"""Sans-IO tests of the request parser and the reply encoder: bytes in, argv out.

The rules mirror redis-server 7.0's processInlineBuffer / processMultibulkBuffer;
test_robustness.py checks the same cases byte for byte against a live server.
"""

from __future__ import annotations

import math

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.protocol import (
    NULL_ARRAY,
    OK,
    Double,
    ErrorReply,
    MapReply,
    Push,
    QueryBufferOverflow,
    RequestParser,
    SetReply,
    Status,
    Verbatim,
    encode,
    encode_error,
    format_double,
    split_args,
)
from cairn.protocol.parser import INLINE_MAX_SIZE

Argv = list[bytes]


def multibulk(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def feed_all(parser: RequestParser, chunks: list[bytes]) -> tuple[list[Argv], str | None]:
    """Feed chunks like the connection does: stop at the first protocol error."""
    commands: list[Argv] = []
    for chunk in chunks:
        if not chunk:
            continue
        out, error = parser.feed(chunk)
        while True:
            commands.extend(out)
            if error is not None:
                return commands, str(error)
            if not parser.more:  # unauthenticated: one request per feed
                break
            out, error = parser.feed(b"")
    return commands, None


def parse(data: bytes, **kwargs: object) -> tuple[list[Argv], str | None]:
    return feed_all(RequestParser(**kwargs), [data])  # type: ignore[arg-type]


# -- multibulk -----------------------------------------------------------------


def test_single_multibulk() -> None:
    assert parse(multibulk(b"SET", b"k", b"v")) == ([[b"SET", b"k", b"v"]], None)


def test_pipelined_multibulk() -> None:
    data = multibulk(b"PING") + multibulk(b"ECHO", b"a b") + multibulk(b"GET", b"")
    assert parse(data) == ([[b"PING"], [b"ECHO", b"a b"], [b"GET", b""]], None)


def test_binary_safe_arguments() -> None:
    arg = bytes(range(256)) * 3
    assert parse(multibulk(b"SET", b"\r\n\0", arg)) == ([[b"SET", b"\r\n\0", arg]], None)


def test_byte_by_byte() -> None:
    data = multibulk(b"SET", b"key", b"value") + b"PING\r\n" + multibulk(b"ECHO", b"x" * 40)
    parser = RequestParser()
    got: list[Argv] = []
    for i in range(len(data)):
        out, error = parser.feed(data[i : i + 1])
        assert error is None
        got.extend(out)
    assert got == [[b"SET", b"key", b"value"], [b"PING"], [b"ECHO", b"x" * 40]]
    assert parser.buffered == 0


def test_partial_then_rest_reports_buffered() -> None:
    parser = RequestParser()
    data = multibulk(b"ECHO", b"hello")
    assert parser.feed(data[:9]) == ([], None)
    assert parser.buffered > 0
    assert parser.feed(data[9:]) == ([[b"ECHO", b"hello"]], None)
    assert parser.buffered == 0


def test_empty_and_negative_multibulk_are_ignored() -> None:
    data = b"*0\r\n*-1\r\n*-5\r\n" + multibulk(b"PING")
    assert parse(data) == ([[b"PING"]], None)


def test_trailing_crlf_of_bulk_is_not_checked() -> None:
    # redis-server skips the two bytes after a bulk without looking at them.
    assert parse(b"*1\r\n$4\r\nPINGxx" + multibulk(b"PING")) == ([[b"PING"], [b"PING"]], None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"*x\r\n", "invalid multibulk length"),
        (b"*01\r\n", "invalid multibulk length"),
        (b"*+1\r\n", "invalid multibulk length"),
        (b"* 1\r\n", "invalid multibulk length"),
        (b"*\r\n", "invalid multibulk length"),
        (b"*2147483648\r\n", "invalid multibulk length"),
        (b"*99999999999999999999999\r\n", "invalid multibulk length"),
        (b"*1\r\n:1\r\n", "expected '$', got ':'"),
        (b"*1\r\n*1\r\n$1\r\na\r\n", "expected '$', got '*'"),
        (b"*1\r\n\r\n", "expected '$', got '\r'"),
        (b"*1\r\n$-1\r\n", "invalid bulk length"),
        (b"*1\r\n$-0\r\n", "invalid bulk length"),
        (b"*1\r\n$04\r\nPING\r\n", "invalid bulk length"),
        (b"*1\r\n$+4\r\nPING\r\n", "invalid bulk length"),
        (b"*1\r\n$x\r\n", "invalid bulk length"),
        (b"*1\r\n$536870913\r\n", "invalid bulk length"),
        (b"*1\r\n$9223372036854775808\r\n", "invalid bulk length"),
    ],
)
def test_multibulk_errors(data: bytes, message: str) -> None:
    assert parse(data) == ([], message)
    # The same bytes after a complete command: the command still comes out.
    assert parse(multibulk(b"PING") + data) == ([[b"PING"]], message)


def test_largest_multibulk_and_bulk_lengths_wait_for_data() -> None:
    assert parse(b"*2147483647\r\n") == ([], None)
    assert parse(b"*1\r\n$536870912\r\n") == ([], None)


def test_too_big_count_strings() -> None:
    digits = b"1" * (INLINE_MAX_SIZE + 10)
    assert parse(b"*" + digits) == ([], "too big mbulk count string")
    assert parse(b"*1\r\n$" + digits) == ([], "too big bulk count string")
    # Below the limit it just waits for the rest.
    assert parse(b"*" + b"1" * 1000) == ([], None)


def test_max_bulk_len_is_enforced_on_the_fast_path_too() -> None:
    data = multibulk(b"SET", b"k", b"x" * 64)
    assert parse(data, max_bulk_len=16) == ([], "invalid bulk length")
    assert parse(data, max_bulk_len=64) == ([[b"SET", b"k", b"x" * 64]], None)


def test_unauthenticated_limits() -> None:
    parser = RequestParser()
    parser.authenticated = False
    assert feed_all(parser, [b"*11\r\n"]) == ([], "unauthenticated multibulk length")
    parser = RequestParser()
    parser.authenticated = False
    assert feed_all(parser, [multibulk(*[b"a"] * 10)]) == ([[b"a"] * 10], None)
    parser = RequestParser()
    parser.authenticated = False
    assert feed_all(parser, [b"*2\r\n$4\r\nAUTH\r\n$16385\r\n"]) == ([], "unauthenticated bulk length")
    parser = RequestParser()
    parser.authenticated = False
    arg = b"p" * 16384
    assert feed_all(parser, [multibulk(b"AUTH", arg)]) == ([[b"AUTH", arg]], None)


def test_nul_hides_the_line_end_like_strchr() -> None:
    # redis-server finds line ends with strchr(), which stops at a NUL byte: the
    # request never completes (until it grows past the inline limit).
    for data in (b"PING\0\r\n", b"*1\0\r\n", b"*1\r\n$4\0\r\nPING\r\n", b"ab\0cd\r\n"):
        parser = RequestParser()
        assert feed_all(parser, [data, b"PING\r\n"]) == ([], None)
    assert parse(b"ab\0" + b"x" * INLINE_MAX_SIZE + b"\r\n") == ([], "too big inline request")
    # NULs inside a bulk are data.
    assert parse(multibulk(b"ECHO", b"\0\0")) == ([[b"ECHO", b"\0\0"]], None)


def test_query_buffer_limit() -> None:
    parser = RequestParser(query_buffer_limit=1024)
    with pytest.raises(QueryBufferOverflow):
        parser.feed(b"*1\r\n$100000\r\n" + b"x" * 2000)


# -- inline --------------------------------------------------------------------


def test_inline_commands() -> None:
    data = b"PING\r\nECHO hello\nSET  k   v \r\n"
    assert parse(data) == ([[b"PING"], [b"ECHO", b"hello"], [b"SET", b"k", b"v"]], None)


def test_empty_inline_lines_are_ignored() -> None:
    assert parse(b"\r\n\n   \r\n\t\nPING\r\n") == ([[b"PING"]], None)


def test_inline_quotes() -> None:
    assert parse(b'ECHO "a b\\n\\x41\\x4g"\r\n') == ([[b"ECHO", b"a b\nAx4g"]], None)
    assert parse(b"ECHO 'it\\'s \\n'\r\n") == ([[b"ECHO", b"it's \\n"]], None)
    assert parse(b'ECHO ""\r\n') == ([[b"ECHO", b""]], None)


@pytest.mark.parametrize("line", [b'ECHO "abc', b"ECHO 'abc", b'ECHO "a"b', b"ECHO 'a'b", b'"\\x4'])
def test_unbalanced_quotes(line: bytes) -> None:
    assert parse(line + b"\r\n") == ([], "unbalanced quotes in request")


def test_too_big_inline_request() -> None:
    assert parse(b"x" * (INLINE_MAX_SIZE + 1)) == ([], "too big inline request")
    assert parse(b"x" * INLINE_MAX_SIZE) == ([], None)
    # A complete line longer than the limit is fine when it arrives whole.
    long = b"ECHO " + b"y" * (INLINE_MAX_SIZE + 5)
    assert parse(long + b"\r\n") == ([[b"ECHO", b"y" * (INLINE_MAX_SIZE + 5)]], None)


def test_mixed_inline_and_multibulk() -> None:
    data = b"PING\r\n" + multibulk(b"ECHO", b"x") + b"ECHO y\r\n" + multibulk(b"PING")
    assert parse(data) == ([[b"PING"], [b"ECHO", b"x"], [b"ECHO", b"y"], [b"PING"]], None)


def test_split_args() -> None:
    assert split_args(b"") == []
    assert split_args(b"  a  b\tc\n") == [b"a", b"b", b"c"]
    assert split_args(b'"\\t\\r\\a\\b\\"\\\\"') == [b'\t\r\x07\x08"\\']
    assert split_args(b'"\\xff\\x00"') == [b"\xff\x00"]
    assert split_args(b'a"b c"') == [b"ab c"]
    assert split_args(b'a"b c"d') is None  # a closing quote must end the word
    assert split_args(b'"unterminated') is None
    assert split_args(b"'x'y") is None


def test_parser_recovers_after_error_state_reset() -> None:
    parser = RequestParser()
    out, error = parser.feed(b"*1\r\n$4\r\nPING\r\n*1\r\n:")
    assert out == [[b"PING"]]
    assert error is None  # ':' needs its line end before Redis looks at it
    out, error = parser.feed(b"1\r\n")
    assert (out, str(error)) == ([], "expected '$', got ':'")
    assert parser.buffered == 0


# -- Hypothesis: random splits and round trips -----------------------------------

_args = st.lists(st.binary(max_size=40), min_size=1, max_size=8)
_inline_word = st.binary(min_size=1, max_size=12).filter(
    lambda w: not any(b in b" \t\r\n\v\f\0\"'" for b in w)
)


@st.composite
def _request(draw: st.DrawFn) -> tuple[bytes, Argv]:
    if draw(st.booleans()):
        argv = draw(_args)
        return multibulk(*argv), argv
    words = draw(st.lists(_inline_word, min_size=1, max_size=5))
    if words[0].startswith(b"*"):
        words[0] = b"x" + words[0]  # a line starting with '*' is a multibulk header
    sep = draw(st.sampled_from([b" ", b"  ", b"\t"]))
    end = draw(st.sampled_from([b"\r\n", b"\n"]))
    return sep.join(words) + end, words


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks, last = [], 0
    for p in points:
        chunks.append(data[last:p])
        last = p
    chunks.append(data[last:])
    return chunks


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_request(), min_size=1, max_size=20), st.lists(st.integers(0, 10**6), max_size=12))
def test_random_splits_of_a_valid_pipeline(
    requests: list[tuple[bytes, Argv]], cuts: list[int]
) -> None:
    data = b"".join(r for r, _ in requests)
    expected = [argv for _, argv in requests]
    assert parse(data) == (expected, None)
    parser = RequestParser()
    assert feed_all(parser, _split(data, cuts)) == (expected, None)
    assert parser.buffered == 0


@settings(max_examples=300)
@given(_args)
def test_argv_round_trip_through_hiredis_encoding(argv: Argv) -> None:
    # Encode with hiredis (what clients use), parse with ours, and back.
    data = hiredis.pack_command(tuple(argv))
    assert parse(data) == ([argv], None)
    assert parse(multibulk(*argv)) == ([argv], None)


_junk = st.lists(
    st.one_of(
        st.sampled_from(
            [b"*", b"$", b"\r\n", b"\n", b"\r", b"*1\r\n", b"*2\r\n", b"$1\r\n", b"$0\r\n",
             b"$-1\r\n", b"*-1\r\n", b"*0\r\n", b":1\r\n", b'"', b"'", b"\\x4", b"\0", b" "]
        ),
        st.binary(max_size=6),
        _request().map(lambda r: r[0]),
    ),
    max_size=25,
).map(b"".join)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(_junk, st.lists(st.integers(0, 10**6), max_size=10), st.booleans())
def test_any_bytes_parse_the_same_however_split(data: bytes, cuts: list[int], authed: bool) -> None:
    whole = RequestParser()
    whole.authenticated = authed
    expected = feed_all(whole, [data])
    split = RequestParser()
    split.authenticated = authed
    assert feed_all(split, _split(data, cuts)) == expected


# -- reply encoding ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "resp2", "resp3"),
    [
        (b"abc", b"$3\r\nabc\r\n", b"$3\r\nabc\r\n"),
        (b"", b"$0\r\n\r\n", b"$0\r\n\r\n"),
        (bytearray(b"x"), b"$1\r\nx\r\n", b"$1\r\nx\r\n"),
        (0, b":0\r\n", b":0\r\n"),
        (-1, b":-1\r\n", b":-1\r\n"),
        (1023, b":1023\r\n", b":1023\r\n"),
        (1024, b":1024\r\n", b":1024\r\n"),
        (-(2**63), b":-9223372036854775808\r\n", b":-9223372036854775808\r\n"),
        (None, b"$-1\r\n", b"_\r\n"),
        (OK, b"+OK\r\n", b"+OK\r\n"),
        (Status("QUEUED"), b"+QUEUED\r\n", b"+QUEUED\r\n"),
        (ErrorReply("ERR bad\r\nthing"), b"-ERR bad  thing\r\n", b"-ERR bad  thing\r\n"),
        ([b"a", 1, None], b"*3\r\n$1\r\na\r\n:1\r\n$-1\r\n", b"*3\r\n$1\r\na\r\n:1\r\n_\r\n"),
        ([], b"*0\r\n", b"*0\r\n"),
        (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
        (SetReply([b"m"]), b"*1\r\n$1\r\nm\r\n", b"~1\r\n$1\r\nm\r\n"),
        (MapReply([(b"k", 1)]), b"*2\r\n$1\r\nk\r\n:1\r\n", b"%1\r\n$1\r\nk\r\n:1\r\n"),
        ({b"k": b"v"}, b"*2\r\n$1\r\nk\r\n$1\r\nv\r\n", b"%1\r\n$1\r\nk\r\n$1\r\nv\r\n"),
        (1.5, b"$3\r\n1.5\r\n", b",1.5\r\n"),
        (Double(math.inf), b"$3\r\ninf\r\n", b",inf\r\n"),
        (True, b":1\r\n", b"#t\r\n"),
        (False, b":0\r\n", b"#f\r\n"),
        (Verbatim(b"hi"), b"$2\r\nhi\r\n", b"=6\r\ntxt:hi\r\n"),
        (Push([b"message", b"c", b"m"]),
         b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n",
         b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"),
        ([[b"nested", []]], b"*1\r\n*2\r\n$6\r\nnested\r\n*0\r\n", b"*1\r\n*2\r\n$6\r\nnested\r\n*0\r\n"),
    ],
)
def test_encode(value: object, resp2: bytes, resp3: bytes) -> None:
    assert encode(value) == resp2
    assert encode(value, resp3=True) == resp3


def test_format_double() -> None:
    # Redis 7.2's shortest round-trip spelling (7.0 wrote "%.17g": 0.10000000000000001).
    assert format_double(0.1) == b"0.1"
    assert format_double(-math.inf) == b"-inf"
    assert format_double(math.nan) == b"nan"
    assert format_double(1e300) == b"1e+300"
    assert format_double(2.5) == b"2.5"


def test_encode_error_keeps_one_line() -> None:
    assert encode_error("ERR a\nb\rc") == b"-ERR a b c\r\n"


def test_encode_rejects_unknown_types() -> None:
    with pytest.raises(TypeError):
        encode(object())


_reply = st.recursive(
    st.one_of(
        st.binary(max_size=20),
        st.integers(-(2**63), 2**63 - 1),
        st.none(),
        st.sampled_from([OK, Status("PONG")]),
    ),
    lambda inner: st.lists(inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300)
@given(_reply)
def test_encoded_replies_decode_with_hiredis(value: object) -> None:
    for resp3 in (False, True):
        reader = hiredis.Reader()
        reader.feed(encode(value, resp3))
        decoded = reader.gets()
        assert decoded == _normalise(value)
        assert reader.gets() is False


def _normalise(value: object) -> object:
    if isinstance(value, Status):
        return value.encode()
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value
