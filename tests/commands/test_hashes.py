"""Hash commands against the real redis-server (RESP2 and RESP3), plus in-process
checks of their effects (what the transaction log records) and of replay."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import hiredis
import pytest
from harness import Pair
from inprocess import EffectsCapture

import cairn.commands  # noqa: F401  (registers every command)
from cairn.commands.context import Server
from cairn.commands.replay import Replayer
from cairn.protocol import ErrorReply
from cairn.types.hash import Hash, HashTable

HASH_COMMANDS = ["HSET", "HSETNX", "HGET", "HMGET", "HMSET", "HDEL", "HLEN", "HSTRLEN",
                 "HEXISTS", "HKEYS", "HVALS", "HGETALL", "HINCRBY", "HINCRBYFLOAT",
                 "HRANDFIELD", "HSCAN"]


def _parse(data: bytes) -> Any:
    reader = hiredis.Reader()
    reader.feed(data)
    return reader.gets()


def _as_dict(pair: Pair, reply: Any) -> dict[bytes, bytes]:
    """HGETALL's reply (a RESP2 flat array or a RESP3 map) as a dict."""
    if isinstance(reply, dict):
        return reply
    assert len(reply) % 2 == 0
    return dict(zip(reply[::2], reply[1::2], strict=True))


def same_hash(pair: Pair, key: str) -> dict[bytes, bytes]:
    """Both servers hold the same fields and values at key (any order)."""
    real, ours = pair.both("HGETALL", key)
    a, b = _as_dict(pair, _parse(real)), _as_dict(pair, _parse(ours))
    assert a == b, (key, a, b)
    return b


@pytest.fixture
def small_limits(pair: Pair) -> Iterator[Pair]:
    """hash-max-listpack-entries 4 and hash-max-listpack-value 8 on both servers."""
    pair.check("CONFIG", "SET", "hash-max-listpack-entries", "4")
    pair.check("CONFIG", "SET", "hash-max-listpack-value", "8")
    try:
        yield pair
    finally:
        pair.check("CONFIG", "SET", "hash-max-listpack-entries", "512")
        pair.check("CONFIG", "SET", "hash-max-listpack-value", "64")


# -- HSET / HGET and the plain reads -------------------------------------------------------


def test_config_defaults(pair: Pair) -> None:
    pair.check("CONFIG", "GET", "hash-max-listpack-entries")
    pair.check("CONFIG", "GET", "hash-max-listpack-value")
    pair.check("CONFIG", "GET", "hash-max-ziplist-entries")


def test_hset_and_reads(pair: Pair) -> None:
    pair.check("HSET", "h", "a", "1")
    pair.check("HSET", "h", "b", "2", "c", "3", "a", "10")
    pair.check("HSET", "h", "b", "2")  # an update: 0 added
    pair.check("HSET", "h", "x", "1", "x", "2")  # the same field twice in one call
    pair.check("HGET", "h", "x")
    pair.check("HGET", "h", "a")
    pair.check("HGET", "h", "missing")
    pair.check("HGET", "nokey", "a")
    pair.check("HMGET", "h", "a", "missing", "c", "a")
    pair.check("HMGET", "nokey", "a", "b")
    pair.check("HLEN", "h")
    pair.check("HLEN", "nokey")
    pair.check("HEXISTS", "h", "a")
    pair.check("HEXISTS", "h", "zz")
    pair.check("HEXISTS", "nokey", "a")
    pair.check("HSTRLEN", "h", "a")
    pair.check("HSTRLEN", "h", "zz")
    pair.check("HSTRLEN", "nokey", "a")
    pair.check("HKEYS", "h")
    pair.check("HVALS", "h")
    pair.check("HGETALL", "h")
    pair.check("HKEYS", "nokey")
    pair.check("HVALS", "nokey")
    pair.check("HGETALL", "nokey")
    pair.check("TYPE", "h")
    pair.check("OBJECT", "ENCODING", "h")


def test_binary_fields_and_values(pair: Pair) -> None:
    pair.check("HSET", "h", b"\x00\xff\r\n", b"\r\n\x00", "", "", "123", "-0")
    pair.check("HGETALL", "h")
    pair.check("HGET", "h", "")
    pair.check("HSTRLEN", "h", "")
    pair.check("HSTRLEN", "h", b"\x00\xff\r\n")
    pair.check("HSTRLEN", "h", "123")
    pair.check("HEXISTS", "h", "")


# Bytes the packed listpack form (cairn/types/hash.py) uses as markers and escapes.
_MARKERS = [b"\xff", b"\xfe", b"\xfd", b"\xfd\x00", b"\xfd\x01", b"\xfd\x02", b"\xff\xfe",
            b"a\xfeb", b"\xfe\xff\xfd", b"\x00\x01\x02", "é".encode(), b"\xfd\xfd\x01"]


def test_marker_bytes_in_fields_and_values(pair: Pair) -> None:
    # Every marker as a field and as a value, updated, read, deleted: a listpack
    # keeps them in insertion order, so the replies are exact.
    for i, m in enumerate(_MARKERS):
        pair.check("HSET", "h", m, b"v%d" % i, b"f%d" % i, m)
    pair.check("HGETALL", "h")
    pair.check("HLEN", "h")
    for i, m in enumerate(_MARKERS):
        pair.check("HGET", "h", m)
        pair.check("HGET", "h", b"f%d" % i)
        pair.check("HSTRLEN", "h", m)
        pair.check("HEXISTS", "h", m)
    pair.check("HGET", "h", b"\xfd\x03")
    pair.check("HGET", "h", b"v0\xfe")
    pair.check("HSET", "h", b"\xfe", b"\xff\xff", b"f0", b"")
    pair.check("HDEL", "h", b"\xfd", b"f3", b"\xff")
    pair.check("HKEYS", "h")
    pair.check("HVALS", "h")
    pair.check("HSCAN", "h", "0", "MATCH", "*\xfe*")
    pair.check("HRANDFIELD", "h", "100", "WITHVALUES")
    pair.check("HINCRBY", "h", b"\xff\xfe", "5")
    pair.check("HGETALL", "h")
    # A value that looks like "field marker": no false match.
    pair.check("HSET", "x", "a", "b", "b", "c")
    pair.check("HGET", "x", "c")
    pair.check("HEXISTS", "x", "c")
    pair.check("HSET", "x", "c", "d")
    pair.check("HGETALL", "x")


def test_integer_looking_values_keep_their_text(pair: Pair) -> None:
    for value in ("0", "-1", "007", "9223372036854775807", "-9223372036854775808",
                  "18446744073709551616", "1.0", " 1", "+1", "1e3"):
        pair.check("HSET", "h", value, value)
    pair.check("HGETALL", "h")
    pair.check("HSTRLEN", "h", "007")


def test_arity_and_pairs(pair: Pair) -> None:
    pair.check("HSET", "h", "f")
    pair.check("HSET", "h", "f", "v", "g")
    pair.check("HSET", "h")
    pair.check("HMSET", "h", "f")
    pair.check("HMSET", "h", "f", "v", "g")
    pair.check("HSETNX", "h", "f")
    pair.check("HSETNX", "h", "f", "v", "x")
    pair.check("HGET", "h")
    pair.check("HGET", "h", "f", "g")
    pair.check("HMGET", "h")
    pair.check("HDEL", "h")
    pair.check("HLEN", "h", "x")
    pair.check("HSTRLEN", "h")
    pair.check("HEXISTS", "h")
    pair.check("HKEYS")
    pair.check("HVALS", "a", "b")
    pair.check("HGETALL")
    pair.check("HINCRBY", "h", "f")
    pair.check("HINCRBYFLOAT", "h", "f", "1", "2")
    pair.check("HRANDFIELD")
    pair.check("HSCAN", "h")
    pair.check("EXISTS", "h")  # nothing was created by the failed calls


def test_hmset(pair: Pair) -> None:
    pair.check("HMSET", "h", "a", "1", "b", "2")
    pair.check("HMSET", "h", "a", "3")
    pair.check("HGETALL", "h")


def test_hsetnx(pair: Pair) -> None:
    pair.check("HSETNX", "h", "a", "1")
    pair.check("HSETNX", "h", "a", "2")
    pair.check("HSETNX", "h", "b", "3")
    pair.check("HGETALL", "h")


def test_hdel(pair: Pair) -> None:
    pair.check("HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4")
    pair.check("HDEL", "h", "a", "zz", "a")
    pair.check("HDEL", "h", "zz")
    pair.check("HDEL", "nokey", "a")
    pair.check("HGETALL", "h")
    pair.check("HDEL", "h", "b", "c", "d", "e")
    pair.check("EXISTS", "h")  # the last field took the key with it
    pair.check("HLEN", "h")


def test_insertion_order_follows_listpack(pair: Pair) -> None:
    """A listpack keeps insertion order: an update stays in place, a field deleted
    and set again moves to the end."""
    pair.check("HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4")
    pair.check("HSET", "h", "b", "20")
    pair.check("HKEYS", "h")
    pair.check("HDEL", "h", "a")
    pair.check("HSET", "h", "a", "9")
    pair.check("HKEYS", "h")
    pair.check("HVALS", "h")
    pair.check("HGETALL", "h")
    pair.check("HINCRBY", "h", "new", "1")
    pair.check("HINCRBY", "h", "b", "1")
    pair.check("HGETALL", "h")
    pair.check("HSCAN", "h", "0")
    pair.check("HRANDFIELD", "h", "100")  # a count past the size: the whole hash, in order
    pair.check("HRANDFIELD", "h", "5", "WITHVALUES")


def test_wrongtype(pair: Pair) -> None:
    pair.check("SET", "s", "x")
    for argv in (["HSET", "s", "f", "v"], ["HMSET", "s", "f", "v"], ["HSETNX", "s", "f", "v"],
                 ["HGET", "s", "f"], ["HMGET", "s", "f"], ["HDEL", "s", "f"], ["HLEN", "s"],
                 ["HSTRLEN", "s", "f"], ["HEXISTS", "s", "f"], ["HKEYS", "s"], ["HVALS", "s"],
                 ["HGETALL", "s"], ["HINCRBY", "s", "f", "1"], ["HINCRBYFLOAT", "s", "f", "1"],
                 ["HRANDFIELD", "s"], ["HRANDFIELD", "s", "1"], ["HRANDFIELD", "s", "0"],
                 ["HRANDFIELD", "s", "-3", "WITHVALUES"], ["HSCAN", "s", "0"],
                 ["HSCAN", "s", "0", "COUNT", "x"]):
        pair.check(*argv)
    pair.check("GET", "s")
    pair.check("HSET", "h", "f", "v")
    for argv in (["GET", "h"], ["APPEND", "h", "x"], ["INCR", "h"], ["STRLEN", "h"],
                 ["INCRBYFLOAT", "h", "1"], ["LPUSH", "h", "x"], ["SADD", "h", "x"]):
        pair.check(*argv)
    # Argument errors come before the type check where Redis checks them first.
    pair.check("HINCRBY", "s", "f", "x")
    pair.check("HINCRBYFLOAT", "s", "f", "x")
    pair.check("HINCRBYFLOAT", "s", "f", "inf")
    pair.check("HRANDFIELD", "s", "x")
    pair.check("HRANDFIELD", "s", "1", "bogus")
    pair.check("HSCAN", "s", "bad")
    pair.check("SET", "h", "overwritten")
    pair.check("TYPE", "h")


# -- counters -------------------------------------------------------------------------------


def test_hincrby(pair: Pair) -> None:
    pair.check("HINCRBY", "h", "n", "5")
    pair.check("HINCRBY", "h", "n", "-12")
    pair.check("HINCRBY", "h", "n", "0")
    pair.check("HGET", "h", "n")
    pair.check("HINCRBY", "nokey", "f", "-9223372036854775808")
    pair.check("HINCRBY", "nokey", "f", "-1")
    pair.check("HINCRBY", "h", "max", "9223372036854775807")
    pair.check("HINCRBY", "h", "max", "1")
    pair.check("HGET", "h", "max")
    pair.check("HINCRBY", "h", "n", "9223372036854775808")
    pair.check("HINCRBY", "h", "n", "x")
    pair.check("HINCRBY", "h", "n", "1.5")
    pair.check("HINCRBY", "h", "n", " 1")
    pair.check("HINCRBY", "h", "n", "")
    for bad in ("abc", " 1", "1 ", "1.0", "007", "", "+1", "99999999999999999999"):
        pair.check("HSET", "h", "bad", bad)
        pair.check("HINCRBY", "h", "bad", "1")
    pair.check("HSET", "h", "neg", "-5")
    pair.check("HINCRBY", "h", "neg", "5")
    pair.check("HGETALL", "h")


LD_CASES = [
    ("0", "0.1"), ("10.5", "0.1"), ("1.5e3", "0.1"), ("-0.1", "0.1"), ("1", "-1"),
    ("0x10", "1"), ("5.0e3", "2.0e2"), ("3", "1e-20"), ("1e4000", "1"), ("1", "1e4000"),
    ("123456789012345678", "1"), ("-5", "-0.0001"), ("0", "1e-4000"),
    (".5", "5."), ("1E2", "+3"), ("  1", "1"), ("1", " 1"), ("abc", "1"), ("1", "abc"),
    ("inf", "1"), ("-infinity", "1"), ("1", "inf"), ("1", "-inf"), ("1", "nan"),
    ("1", "1e4933"), ("1e4932", "1e4932"), ("1", ""), ("", "1"), ("nan", "1"),
    ("1.7976931348623157e308", "1.7976931348623157e308"),
]


def test_hincrbyfloat(pair: Pair) -> None:
    for i, (start, increment) in enumerate(LD_CASES):
        field = f"f{i}"
        pair.check("HSET", "h", field, start)
        pair.check("HINCRBYFLOAT", "h", field, increment)
        pair.check("HGET", "h", field)
    pair.check("HINCRBYFLOAT", "h", "new", "2.5")
    pair.check("HINCRBYFLOAT", "nokey", "f", "-3.25")
    pair.check("HINCRBYFLOAT", "nokey2", "f", "x")
    pair.check("EXISTS", "nokey2")
    pair.check("HINCRBYFLOAT", "h", "n", "0.1")
    for _ in range(5):
        pair.check("HINCRBYFLOAT", "h", "n", "0.1")
    pair.check("OBJECT", "ENCODING", "h")  # the 4000-digit values made it a hashtable
    same_hash(pair, "h")


def test_hincrbyfloat_random(pair: Pair) -> None:
    rnd = random.Random(3)
    for _ in range(40):
        value = rnd.choice([repr(rnd.uniform(-1e6, 1e6)), str(rnd.randint(-10**9, 10**9)),
                            f"{rnd.uniform(-10, 10):.3e}"])
        pair.check("HINCRBYFLOAT", "h", "acc", value)


# -- HRANDFIELD ---------------------------------------------------------------------------------


def test_hrandfield_errors_and_edges(pair: Pair) -> None:
    pair.check("HRANDFIELD", "nokey")
    pair.check("HRANDFIELD", "nokey", "5")
    pair.check("HRANDFIELD", "nokey", "-5")
    pair.check("HRANDFIELD", "nokey", "5", "WITHVALUES")
    pair.check("HSET", "h", "a", "1", "b", "2", "c", "3")
    pair.check("HRANDFIELD", "h", "0")
    pair.check("HRANDFIELD", "h", "0", "withvalues")
    pair.check("HRANDFIELD", "h", "3")
    pair.check("HRANDFIELD", "h", "1000", "WITHVALUES")
    pair.check("HRANDFIELD", "h", "x")
    pair.check("HRANDFIELD", "h", "1.5")
    pair.check("HRANDFIELD", "h", "9223372036854775808")
    pair.check("HRANDFIELD", "h", "-9223372036854775808")
    pair.check("HRANDFIELD", "h", "1", "WITHVALUESX")
    pair.check("HRANDFIELD", "h", "1", "WITHVALUES", "x")
    pair.check("HRANDFIELD", "h", "x", "bogus")  # the count is parsed first
    pair.check("HRANDFIELD", "h", "4611686018427387904", "bogus")  # then the syntax
    pair.check("HRANDFIELD", "h", "4611686018427387904", "WITHVALUES")
    pair.check("HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES")
    pair.check("HRANDFIELD", "nokey", "4611686018427387904", "WITHVALUES")
    pair.check("HRANDFIELD", "h", "4611686018427387903", "WITHVALUES")  # the whole hash


def _shape_check(pair: Pair, *args: str) -> tuple[Any, Any]:
    real, ours = pair.both(*args)
    r, o = _parse(real), _parse(ours)
    assert type(r) is type(o) and len(r) == len(o), (args, r, o)
    if r and isinstance(r[0], list):
        assert all(isinstance(x, list) and len(x) == 2 for x in o), o
    # The RESP type markers agree element by element (array of pairs in RESP3).
    assert [real[:1]] == [ours[:1]]
    return r, o


@pytest.mark.parametrize("size", [3, 20, 200])
def test_hrandfield_random_shapes(pair: Pair, size: int) -> None:
    fields = {f"f{i}".encode(): f"v{i}".encode() for i in range(size)}
    pair.check("HSET", "h", *[x for kv in fields.items() for x in kv])
    # One field.
    for _ in range(10):
        real, ours = pair.both("HRANDFIELD", "h")
        assert _parse(ours) in fields and _parse(real) in fields
    for count in (1, 2, size - 1, size, size + 5):
        if count < 1:
            continue
        _, o = _shape_check(pair, "HRANDFIELD", "h", str(count))
        assert len(o) == min(count, size) and len(set(o)) == len(o) and set(o) <= set(fields)
        _, o = _shape_check(pair, "HRANDFIELD", "h", str(count), "WITHVALUES")
        pairs = [tuple(x) for x in o] if pair.resp == 3 else list(zip(o[::2], o[1::2], strict=True))
        assert len(pairs) == min(count, size)
        assert len({f for f, _ in pairs}) == len(pairs)
        assert all(fields[f] == v for f, v in pairs)
    for count in (1, 5, 2 * size + 3):
        _, o = _shape_check(pair, "HRANDFIELD", "h", str(-count))
        assert len(o) == count and set(o) <= set(fields)
        _, o = _shape_check(pair, "HRANDFIELD", "h", str(-count), "WITHVALUES")
        pairs = [tuple(x) for x in o] if pair.resp == 3 else list(zip(o[::2], o[1::2], strict=True))
        assert len(pairs) == count and all(fields[f] == v for f, v in pairs)
    if size >= 20:
        # Repeats happen with a negative count, never with a positive one.
        _, o = _shape_check(pair, "HRANDFIELD", "h", str(-10 * size))
        assert len(set(o)) < len(o)
        # Every field turns up eventually.
        seen: set[bytes] = set()
        for _ in range(50):
            seen.update(_parse(pair.cairn.raw("HRANDFIELD", "h", str(size // 2))))
        assert seen == set(fields)


def test_hrandfield_after_deletes_on_a_big_hash(pair: Pair) -> None:
    """The pool of a hashtable-encoded hash never yields deleted fields."""
    pair.check("HSET", "h", *[f"f{i}" if j == 0 else "v" for i in range(300) for j in (0, 1)])
    _shape_check(pair, "HRANDFIELD", "h", "-1")  # builds the pool
    pair.check("HDEL", "h", *[f"f{i}" for i in range(0, 300, 2)])
    pair.check("HSET", "h", "extra", "x")
    live = {f"f{i}".encode() for i in range(1, 300, 2)} | {b"extra"}
    for _ in range(200):
        assert _parse(pair.cairn.raw("HRANDFIELD", "h")) in live
    picks = _parse(pair.cairn.raw("HRANDFIELD", "h", "-500"))
    assert len(picks) == 500 and set(picks) <= live
    picks = _parse(pair.cairn.raw("HRANDFIELD", "h", "40"))
    assert len(set(picks)) == 40 and set(picks) <= live
    picks = _parse(pair.cairn.raw("HRANDFIELD", "h", "140"))
    assert len(set(picks)) == 140 and set(picks) <= live


def test_hrandfield_huge_negative_count_is_refused(pair: Pair) -> None:
    """Redis tries to build a reply of |count| elements (which kills it for counts
    near LONG_MAX); Cairn refuses counts past 2**27 instead. Not sent to the oracle."""
    pair.cairn.raw("HSET", "h", "a", "1")
    assert pair.cairn.raw("HRANDFIELD", "h", "-9223372036854775807") == b"-ERR value is out of range\r\n"
    assert pair.cairn.raw("HRANDFIELD", "h", "-4611686018427387903", "WITHVALUES").startswith(b"-ERR")
    assert pair.cairn.raw("PING") == b"+PONG\r\n"


# -- HSCAN ----------------------------------------------------------------------------------------


def test_hscan_listpack(pair: Pair) -> None:
    pair.check("HSCAN", "nokey", "0")
    pair.check("HSCAN", "nokey", "0", "COUNT", "x")  # a missing key answers before the options
    pair.check("HSET", "h", "a", "1", "b", "2", "ab", "3", "c", "4")
    pair.check("HSCAN", "h", "0")
    pair.check("HSCAN", "h", "7")  # a listpack answers everything whatever the cursor
    pair.check("HSCAN", "h", "0", "COUNT", "1")
    pair.check("HSCAN", "h", "0", "MATCH", "a*")
    pair.check("HSCAN", "h", "0", "MATCH", "*")
    pair.check("HSCAN", "h", "0", "match", "?", "count", "100")
    pair.check("HSCAN", "h", "0", "MATCH", "zz")
    pair.check("HSCAN", "h", "18446744073709551615")
    pair.check("HSCAN", "h", "-1")
    pair.check("HSCAN", "h", "+5")
    pair.check("HSCAN", "h", "")


def test_hscan_errors(pair: Pair) -> None:
    pair.check("HSET", "h", "a", "1")
    for argv in (["HSCAN", "h", "x"], ["HSCAN", "h", "18446744073709551616"], ["HSCAN", "h", " 1"],
                 ["HSCAN", "h", "1.5"], ["HSCAN", "h", "-"], ["HSCAN", "h", "0", "COUNT"],
                 ["HSCAN", "h", "0", "COUNT", "0"], ["HSCAN", "h", "0", "COUNT", "-1"],
                 ["HSCAN", "h", "0", "COUNT", "x"], ["HSCAN", "h", "0", "MATCH"],
                 ["HSCAN", "h", "0", "TYPE", "string"], ["HSCAN", "h", "0", "NOVALUES"],
                 ["HSCAN", "h", "0", "BOGUS", "1"], ["HSCAN", "nokey", "x"]):
        pair.check(*argv)


def _full_hscan(client: Any, key: str, count: int, match: str | None = None,
                between: Any = None) -> tuple[list[bytes], int]:
    cursor = b"0"
    out: list[bytes] = []
    calls = 0
    while True:
        args = ["HSCAN", key, cursor, "COUNT", str(count)]
        if match is not None:
            args += ["MATCH", match]
        reply = _parse(client.raw(*args))
        assert isinstance(reply, list) and len(reply) == 2, reply
        cursor, items = reply
        assert len(items) % 2 == 0
        out.extend(items)
        calls += 1
        if between is not None:
            between(calls)
        if cursor == b"0":
            return out, calls
        assert calls < 100000


def test_hscan_hashtable_iteration(pair: Pair) -> None:
    size = 1000
    pair.check("HSET", "h", *[x for i in range(size) for x in (f"f{i}", f"v{i}")])
    pair.check("OBJECT", "ENCODING", "h")
    expected = {f"f{i}".encode(): f"v{i}".encode() for i in range(size)}
    for count in (1, 10, 100, 5000):
        for client in (pair.real, pair.cairn):
            items, calls = _full_hscan(client, "h", count)
            got = dict(zip(items[::2], items[1::2], strict=True))
            assert got == expected
            assert len(items) // 2 == size  # no duplicates while nothing changes
            if count < size // 10:
                assert calls > 1
    for client in (pair.real, pair.cairn):
        items, _ = _full_hscan(client, "h", 10, match="f1*")
        assert set(items[::2]) == {f for f in expected if f.startswith(b"f1")}


def test_hscan_guarantee_under_changes(pair: Pair) -> None:
    """Fields present for the whole iteration are returned, however the hash grows
    and shrinks in between (checked on both servers; their orders differ)."""
    keep = [f"keep{i}" for i in range(600)]
    for client in (pair.real, pair.cairn):
        client.raw("HSET", "h", *[x for f in keep for x in (f, "v")])
        churn = iter(range(10**6))

        def between(calls: int, client: Any = client, churn: Iterator[int] = churn) -> None:
            n = next(churn)
            if calls % 3 == 0:
                client.raw("HSET", "h", *[x for i in range(200) for x in (f"tmp{n}_{i}", "t")])
            elif calls % 3 == 1:
                fields = _parse(client.raw("HKEYS", "h"))
                tmp = [f for f in fields if f.startswith(b"tmp")][:500]
                if tmp:
                    client.raw("HDEL", "h", *tmp)

        items, calls = _full_hscan(client, "h", 7, between=between)
        assert calls > 5
        assert {f.decode() for f in items[::2]} >= set(keep)


# -- encodings ------------------------------------------------------------------------------------


def test_encoding_by_entries(small_limits: Pair) -> None:
    pair = small_limits
    pair.check("HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4")
    pair.check("OBJECT", "ENCODING", "h")
    pair.check("HSET", "h", "e", "5")
    pair.check("OBJECT", "ENCODING", "h")
    pair.check("HDEL", "h", "a", "b", "c", "d")
    pair.check("OBJECT", "ENCODING", "h")  # never converts back
    pair.check("HGETALL", "h")
    # More pairs than entries in one HSET, but duplicates: stays a listpack.
    pair.check("HSET", "d", "f", "1", "f", "2", "f", "3", "f", "4", "f", "5")
    pair.check("OBJECT", "ENCODING", "d")
    pair.check("HMSET", "m", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5")
    pair.check("OBJECT", "ENCODING", "m")
    for i in range(5):
        pair.check("HSETNX", "n", f"f{i}", "v")
        pair.check("OBJECT", "ENCODING", "n")
        pair.check("HINCRBY", "i", f"f{i}", "1")
        pair.check("OBJECT", "ENCODING", "i")
        pair.check("HINCRBYFLOAT", "fl", f"f{i}", "1.5")
        pair.check("OBJECT", "ENCODING", "fl")


def test_encoding_by_value_length(small_limits: Pair) -> None:
    pair = small_limits
    cases = [
        ("HSET", "a", "f", "12345678"), ("HSET", "b", "f", "123456789"),
        ("HSET", "c", "123456789", "v"), ("HSETNX", "d", "f", "123456789"),
        ("HSETNX", "e", "123456789", "v"), ("HINCRBY", "g", "123456789", "1"),
        ("HINCRBY", "g2", "f", "123456789"), ("HINCRBY", "g3", "f", "12345678"),
        ("HINCRBYFLOAT", "k", "f", "1234567.5"), ("HINCRBYFLOAT", "k2", "f", "123456.5"),
        ("HINCRBYFLOAT", "k3", "123456789", "1"), ("HMSET", "m", "a", "1", "b", "123456789"),
    ]
    for argv in cases:
        pair.check(*argv)
        pair.check("OBJECT", "ENCODING", argv[1])
    # HSETNX on an existing field writes nothing, so nothing converts.
    pair.check("HSET", "x", "f", "1")
    pair.check("HSETNX", "x", "f", "123456789")
    pair.check("OBJECT", "ENCODING", "x")
    # Updating a value to a long one converts.
    pair.check("HSET", "x", "f", "123456789")
    pair.check("OBJECT", "ENCODING", "x")
    # A counter that grows past the limit converts.
    pair.check("HSET", "y", "n", "9999999")
    pair.check("HINCRBY", "y", "n", "1")
    pair.check("OBJECT", "ENCODING", "y")
    pair.check("HINCRBY", "y", "n", "1")
    pair.check("OBJECT", "ENCODING", "y")
    pair.check("HGET", "y", "n")


def test_encoding_zero_entries(pair: Pair) -> None:
    pair.check("CONFIG", "SET", "hash-max-listpack-entries", "0")
    try:
        pair.check("HSET", "a", "f", "1")
        pair.check("OBJECT", "ENCODING", "a")
        pair.check("HINCRBY", "b", "f", "1")
        pair.check("OBJECT", "ENCODING", "b")
    finally:
        pair.check("CONFIG", "SET", "hash-max-listpack-entries", "512")


def test_encoding_default_threshold(pair: Pair) -> None:
    pair.check("HSET", "h", *[x for i in range(512) for x in (f"f{i}", "v")])
    pair.check("OBJECT", "ENCODING", "h")
    pair.check("HSET", "h", "one-more", "v")
    pair.check("OBJECT", "ENCODING", "h")
    pair.check("HSET", "v", "f", "x" * 64)
    pair.check("OBJECT", "ENCODING", "v")
    pair.check("HSET", "v", "f", "x" * 65)
    pair.check("OBJECT", "ENCODING", "v")
    pair.check("HLEN", "h")
    same_hash(pair, "h")
    pair.check_unordered("HKEYS", "h")
    pair.check_unordered("HVALS", "h")


def test_hashtable_commands(small_limits: Pair) -> None:
    """The whole family on hashtable-encoded hashes (order-free comparisons)."""
    pair = small_limits
    pair.check("HSET", "h", *[x for i in range(30) for x in (f"f{i}", str(i))])
    pair.check("OBJECT", "ENCODING", "h")
    pair.check("HGET", "h", "f3")
    pair.check("HMGET", "h", "f1", "nope", "f29")
    pair.check("HSETNX", "h", "f1", "x")
    pair.check("HSETNX", "h", "new", "x")
    pair.check("HINCRBY", "h", "f5", "10")
    pair.check("HINCRBYFLOAT", "h", "f6", "0.5")
    pair.check("HDEL", "h", "f0", "f1", "nope")
    pair.check("HLEN", "h")
    pair.check("HSTRLEN", "h", "f10")
    pair.check("HEXISTS", "h", "f10")
    same_hash(pair, "h")
    pair.check_unordered("HKEYS", "h")
    pair.check("HDEL", "h", *[f"f{i}" for i in range(30)], "new")
    pair.check("EXISTS", "h")


def test_ttl_survives_writes_and_conversion(small_limits: Pair) -> None:
    pair = small_limits
    pair.check("HSET", "h", "a", "1")
    pair.check("EXPIRE", "h", "1000")
    pair.check("HSET", "h", "b", "2")
    pair.check("TTL", "h")
    pair.check("HSET", "h", "c", "3", "d", "4", "e", "5")  # converts to a hashtable
    pair.check("OBJECT", "ENCODING", "h")
    pair.check("TTL", "h")
    pair.check("HINCRBYFLOAT", "h", "a", "1")
    pair.check("TTL", "h")
    pair.check("HDEL", "h", "a", "b", "c", "d", "e")
    pair.check("TTL", "h")


def test_copy_is_deep(small_limits: Pair) -> None:
    pair = small_limits
    pair.check("HSET", "small", "a", "1", "b", "2")
    pair.check("HSET", "big", *[x for i in range(10) for x in (f"f{i}", "v")])
    pair.check("COPY", "small", "small2")
    pair.check("COPY", "big", "big2")
    pair.check("HSET", "small", "a", "changed")
    pair.check("HDEL", "big", "f1")
    pair.check("HGETALL", "small2")
    pair.check("OBJECT", "ENCODING", "small2")
    pair.check("OBJECT", "ENCODING", "big2")
    pair.check("HLEN", "big2")
    same_hash(pair, "big2")


def test_watch_breaks_on_hash_writes(pair: Pair) -> None:
    pair.check("HSET", "h", "a", "1")
    for write in (["HSET", "h", "a", "2"], ["HDEL", "h", "a"], ["HINCRBY", "h", "n", "1"],
                  ["HINCRBYFLOAT", "h", "n", "1"], ["HSETNX", "h", "new", "1"]):
        pair.check("WATCH", "h")
        pair.real.raw(*write)
        pair.cairn.raw(*write)
        pair.check("MULTI")
        pair.check("HGET", "h", "a")
        pair.check("EXEC")
    # A no-op write does not break a WATCH.
    pair.check("HSET", "h", "a", "1")
    pair.check("WATCH", "h")
    pair.real.raw("HSETNX", "h", "a", "2")
    pair.cairn.raw("HSETNX", "h", "a", "2")
    pair.check("MULTI")
    pair.check("HGETALL", "h")
    pair.check("EXEC")


def test_hashes_in_multi(pair: Pair) -> None:
    pair.check("MULTI")
    pair.check("HSET", "h", "a", "1")
    pair.check("HINCRBY", "h", "a", "5")
    pair.check("HINCRBYFLOAT", "h", "a", "0.5")
    pair.check("HGETALL", "h")
    pair.check("HRANDFIELD", "h", "-2", "WITHVALUES")
    pair.check("EXEC")


# -- effects and replay (in process) ----------------------------------------------------------------


class _Capture(EffectsCapture):
    """Commands run in process, with what they log."""


@pytest.fixture
def cap() -> _Capture:
    return _Capture()


def test_effects(cap: _Capture) -> None:
    for argv in (["HSET", "h", "a", "1", "b", "2"], ["HMSET", "h", "c", "3"],
                 ["HSETNX", "h", "d", "4"], ["HDEL", "h", "d", "zz"], ["HINCRBY", "h", "a", "5"],
                 ["HSET", "h", "a", "6"], ["HDEL", "h", "a", "b", "c"]):
        assert cap.effects_of(*argv) == [[x.encode() for x in argv]], argv
    assert cap.run("EXISTS", "h") == 0
    assert cap.effects_of("HINCRBYFLOAT", "f", "x", "10.5") == [[b"HSET", b"f", b"x", b"10.5"]]
    assert cap.effects_of("HINCRBYFLOAT", "f", "x", "0.1") == [[b"HSET", b"f", b"x", b"10.6"]]
    assert cap.effects_of("HINCRBYFLOAT", "f", "x", "1e-3") == [[b"HSET", b"f", b"x", b"10.601"]]
    # Nothing changed, nothing logged.
    for argv in (["HSETNX", "f", "x", "1"], ["HDEL", "f", "zz"], ["HDEL", "nokey", "a"],
                 ["HINCRBY", "f", "x", "1"], ["HINCRBYFLOAT", "f", "x", "inf"],
                 ["HINCRBYFLOAT", "f", "x", "1e4933"], ["HGET", "f", "x"], ["HGETALL", "f"],
                 ["HRANDFIELD", "f", "-3"], ["HSCAN", "f", "0"], ["HSET", "f", "odd"]):
        assert cap.effects_of(*argv) == [], argv


def test_wrongtype_in_process(cap: _Capture) -> None:
    cap.run("SET", "s", "x")
    for name in HASH_COMMANDS:
        argv = {"HSET": ["s", "f", "v"], "HMSET": ["s", "f", "v"], "HSETNX": ["s", "f", "v"],
                "HINCRBY": ["s", "f", "1"], "HINCRBYFLOAT": ["s", "f", "1"],
                "HSCAN": ["s", "0"], "HMGET": ["s", "f"], "HDEL": ["s", "f"],
                "HGET": ["s", "f"], "HSTRLEN": ["s", "f"], "HEXISTS": ["s", "f"]}.get(name, ["s"])
        reply = cap.run(name, *argv)
        assert isinstance(reply, ErrorReply) and reply.message.startswith("WRONGTYPE"), name


def _snapshot(server: Server) -> list[dict[bytes, Any]]:
    out = []
    for db in server.keyspace.dbs:
        view: dict[bytes, Any] = {}
        for key, value in db.data.items():
            if isinstance(value, Hash):
                view[key] = (type(value).__name__, list(value.items()) if type(value) is Hash
                             else sorted(value.items()), db.expires.get(key))
            else:
                view[key] = (bytes(value), db.expires.get(key))
        out.append(view)
    return out


def test_replay_of_effects_rebuilds_the_keyspace(cap: _Capture) -> None:
    cap.run("CONFIG", "SET", "hash-max-listpack-entries", "6")
    cap.run("CONFIG", "SET", "hash-max-listpack-value", "10")
    rnd = random.Random(5)
    keys = ["a", "b", "c"]
    for _ in range(4000):
        k = rnd.choice(keys)
        f = rnd.choice(["f0", "f1", "f2", "f3", "f4", "f5", "f6", "long-field-name"])
        v = rnd.choice(["x", "12", "-3", "1.5", "", "a-long-value-here"])
        argv = rnd.choice([
            ["HSET", k, f, v], ["HSET", k, f, v, "f9", v], ["HMSET", k, f, v], ["HSETNX", k, f, v],
            ["HDEL", k, f], ["HDEL", k, f, "f1", "f2"], ["HINCRBY", k, f, str(rnd.randint(-9, 9))],
            ["HINCRBYFLOAT", k, f, rnd.choice(["0.1", "-2.5e1", "3"])], ["SET", k, v],
            ["DEL", k], ["EXPIRE", k, "100"], ["SELECT", str(rnd.randint(0, 1))],
            ["HRANDFIELD", k, "-2"], ["HSCAN", k, "0"],
        ])
        cap.run(*argv)
    fresh = Server()
    fresh.config.values["hash-max-listpack-entries"] = 6
    fresh.config.values["hash-max-listpack-value"] = 10
    replayer = Replayer(fresh)
    for lsn, record in enumerate(cap.records, 1):
        replayer.apply_record(lsn, [(db, argv) for db, argv in record])
    assert _snapshot(fresh) == _snapshot(cap.server)


def test_type_protocol() -> None:
    h = Hash()
    for i in range(5):
        h.put(b"f%d" % i, b"v%d" % i)
    h.remove(b"f2")
    assert h.encoding() == "listpack" and h.TYPE_NAME == "hash"
    rebuilt = Hash.from_items(h.to_items())
    assert type(rebuilt) is Hash and list(rebuilt.items()) == list(h.items())
    t = h.to_table()
    assert type(t) is HashTable and t.encoding() == "hashtable" and dict(t) == dict(h)
    rebuilt_t = Hash.from_items(t.to_items())
    assert type(rebuilt_t) is HashTable and dict(rebuilt_t) == dict(t)
    c = t.copy()
    assert type(c) is HashTable and c == t and c is not t
    c.put(b"new", b"x")
    assert b"new" not in t
    small = h.copy()
    assert type(small) is Hash and small == h
    with pytest.raises(ValueError):
        Hash.from_items([b"listpack", b"odd"])
    with pytest.raises(ValueError):
        Hash.from_items([b"bogus"])


def test_packed_listpack_form() -> None:
    """The packed Hash against a dict model, on random operations with marker bytes."""
    rnd = random.Random(11)
    alphabet = [b"a", b"b", b"", b"\xff", b"\xfe", b"\xfd", b"\x00", b"\x01", b"\x02", b"ab"]

    def word() -> bytes:
        if rnd.random() < long_words:  # past PACK_LIMIT: the hash holds a dict instead
            return b"x" * rnd.randint(50, 300) + rnd.choice(alphabet)
        return b"".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 3)))

    for round_ in range(300):
        long_words = 0.0 if round_ < 200 else 0.15
        h = Hash()
        model: dict[bytes, bytes] = {}
        for _ in range(rnd.randint(1, 40)):
            op = rnd.random()
            f, v = word(), word()
            if op < 0.5:
                assert h.put(f, v) == (f not in model)
                model[f] = v
            elif op < 0.65:
                argv = [b"HSET", b"k"]
                for _ in range(rnd.randint(1, 12)):
                    argv += [word(), word()]
                before = len(model)
                for i in range(2, len(argv), 2):
                    model[argv[i]] = argv[i + 1]
                assert h.put_pairs(argv, 2) == len(model) - before
            else:
                assert h.remove(f) == (f in model)
                model.pop(f, None)
            assert list(h.items()) == list(model.items())
            assert len(h) == len(model) and bool(h) == bool(model)
            for probe in (f, v, word()):
                assert h.get(probe) == model.get(probe)
                assert (probe in h) == (probe in model)
        assert h.keys() == list(model) and list(h) == list(model)
        assert h.values() == list(model.values())
        assert h.flat() == [x for pair in model.items() for x in pair]
        assert Hash(model).items() == h.items() == Hash(list(model.items())).items()
        rebuilt = Hash.from_items(h.to_items())
        assert type(rebuilt) is Hash and rebuilt.items() == h.items()
        assert h.to_table().d == model and h.copy().items() == h.items()
        assert type(h) is Hash and h.encoding() == "listpack"
        other = h.copy()
        other.put(b"fresh", b"1")
        assert b"fresh" not in h or b"fresh" in model
    # A repeated field keeps its first place and its last value, like a dict.
    built = Hash([(b"a", b"1"), (b"b", b"2"), (b"a", b"3")])
    assert built.items() == [(b"a", b"3"), (b"b", b"2")]
    h = Hash()
    assert h.put_pairs([b"HSET", b"k", b"a", b"1", b"b", b"2", b"a", b"3"], 2) == 2
    assert h.items() == [(b"a", b"3"), (b"b", b"2")]
    assert h[b"b"] == b"2"
    with pytest.raises(KeyError):
        h[b"zz"]
