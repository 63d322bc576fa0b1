"""Bitmap commands against the real redis-server (RESP2 and RESP3), plus
in-process checks of their effects (what the transaction log records)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from harness import Pair
from inprocess import EffectsCapture

import cairn.commands  # noqa: F401  (registers every command)
from cairn.commands.context import Server
from cairn.commands.replay import Replayer
from cairn.protocol import ErrorReply

# -- SETBIT / GETBIT ----------------------------------------------------------------------


def test_setbit_getbit(pair: Pair) -> None:
    pair.check("GETBIT", "k", "0")
    pair.check("SETBIT", "k", "7", "1")
    pair.check("GET", "k")
    pair.check("SETBIT", "k", "7", "1")
    pair.check("SETBIT", "k", "7", "0")
    pair.check("SETBIT", "k", "0", "1")
    pair.check("GET", "k")
    pair.check("SETBIT", "k", "100", "1")
    pair.check("STRLEN", "k")
    pair.check("GET", "k")
    for offset in (0, 1, 7, 8, 99, 100, 101, 103, 104, 1000):
        pair.check("GETBIT", "k", str(offset))
    pair.check("SETBIT", "z", "20", "0")  # clearing a bit still creates the key
    pair.check("GET", "z")
    pair.check("OBJECT", "ENCODING", "z")
    pair.check("SET", "s", "hello")
    pair.check("SETBIT", "s", "3", "1")
    pair.check("GET", "s")
    pair.check("OBJECT", "ENCODING", "s")
    pair.check("SET", "n", "12345")  # an int-encoded string
    pair.check("GETBIT", "n", "2")
    pair.check("SETBIT", "n", "2", "0")
    pair.check("GET", "n")


def test_setbit_keeps_the_ttl(pair: Pair) -> None:
    pair.check("SET", "k", "abc", "EX", "1000")
    pair.check("SETBIT", "k", "100", "1")
    pair.check("TTL", "k")
    pair.check("SETBIT", "k", "1", "0")
    pair.check("TTL", "k")


@pytest.mark.parametrize("offset", ["-1", "a", "", "1.5", "4294967296", "9223372036854775808",
                                    " 1", "+1", "0x10", "#1"])
def test_bit_offset_errors(pair: Pair, offset: str) -> None:
    pair.check("SETBIT", "k", offset, "1")
    pair.check("GETBIT", "k", offset)
    pair.check("EXISTS", "k")


@pytest.mark.parametrize("value", ["2", "-1", "a", "", "1.0", " 1", "01", "9223372036854775808"])
def test_setbit_value_errors(pair: Pair, value: str) -> None:
    pair.check("SETBIT", "k", "1", value)
    pair.check("SETBIT", "k", "bad", value)  # the offset is checked first
    pair.check("EXISTS", "k")


def test_wrong_type(pair: Pair) -> None:
    pair.check("RPUSH", "l", "a")
    pair.check("SETBIT", "l", "1", "1")
    pair.check("SETBIT", "l", "x", "1")
    pair.check("SETBIT", "l", "1", "5")
    pair.check("GETBIT", "l", "1")
    pair.check("GETBIT", "l", "x")
    pair.check("BITCOUNT", "l")
    pair.check("BITCOUNT", "l", "0", "1")
    pair.check("BITPOS", "l", "1")
    pair.check("BITPOS", "l", "1", "0", "2")
    pair.check("BITPOS", "l", "2")
    pair.check("BITOP", "AND", "d", "l")
    pair.check("BITOP", "OR", "d", "nokey", "l")
    pair.check("BITOP", "NOT", "l", "l")  # the destination's type does not matter...
    pair.check("TYPE", "l")
    pair.check("SET", "s", "x")
    pair.check("BITOP", "OR", "l", "s")  # ...it is overwritten
    pair.check("TYPE", "l")
    pair.check("GET", "l")
    pair.check("RPUSH", "l2", "a")
    pair.check("BITFIELD", "l2", "GET", "u8", "0")
    pair.check("BITFIELD", "l2", "SET", "u8", "0", "1")
    pair.check("BITFIELD", "l2")
    pair.check("BITFIELD_RO", "l2", "GET", "u8", "0")
    pair.check("BITFIELD", "l2", "GET", "u99", "0")  # arguments first


def test_proto_max_bulk_len_limits_offsets(pair2: Pair) -> None:
    pair = pair2
    limit = 1024 * 1024
    pair.check("CONFIG", "SET", "proto-max-bulk-len", str(limit))
    try:
        top = str(limit * 8 - 1)
        pair.check("SETBIT", "k", top, "1")
        pair.check("STRLEN", "k")
        pair.check("SETBIT", "k", str(limit * 8), "1")
        pair.check("GETBIT", "k", top)
        pair.check("GETBIT", "k", str(limit * 8))
        pair.check("BITCOUNT", "k")
        pair.check("BITPOS", "k", "1")
        pair.check("BITPOS", "k", "0", "-1")
        pair.check("BITFIELD", "k", "GET", "u8", str(limit * 8))
        pair.check("BITFIELD", "k", "GET", "u8", top)
        pair.check("BITFIELD", "b", "SET", "i64", top, "-1")  # may pass the limit by a field
        pair.check("STRLEN", "b")
        pair.check("BITFIELD", "b", "SET", "i64", "#131072", "-1")  # 131072 * 64 = limit * 8
        pair.check("BITFIELD", "b", "SET", "i64", "#131071", "5")
        pair.check("STRLEN", "b")
        pair.check("BITCOUNT", "b", "0", "-1", "BIT")
    finally:
        pair.check("CONFIG", "SET", "proto-max-bulk-len", str(512 * 1024 * 1024))


# -- BITCOUNT ------------------------------------------------------------------------------


def test_bitcount(pair: Pair) -> None:
    pair.check("BITCOUNT", "k")
    pair.check("BITCOUNT", "k", "0", "-1")
    pair.check("SET", "k", "foobar")
    pair.check("BITCOUNT", "k")
    pair.check("SET", "e", "")
    pair.check("BITCOUNT", "e")
    pair.check("BITCOUNT", "e", "0", "-1")
    pair.check("BITCOUNT", "e", "0", "-1", "BIT")
    ranges = [(0, 0), (1, 1), (0, -1), (-2, -1), (-1, -2), (-100, -50), (-100, 100), (3, 1),
              (0, 100), (5, 5), (6, 10), (-6, 2), (2, -3), (-1, -1), (-7, -7),
              (9223372036854775807, -1), (-9223372036854775808, 9223372036854775807)]
    for start, end in ranges:
        pair.check("BITCOUNT", "k", str(start), str(end))
        pair.check("BITCOUNT", "k", str(start), str(end), "BYTE")
        pair.check("BITCOUNT", "k", str(start), str(end), "BIT")
    for start, end in [(1, 1), (0, 7), (1, 6), (5, 30), (7, 8), (-5, -1), (-13, -12), (40, 47)]:
        pair.check("BITCOUNT", "k", str(start), str(end), "bit")
    pair.check("BITCOUNT", "k", "0", "1", "bits")
    pair.check("BITCOUNT", "k", "0", "1", "BIT", "x")
    pair.check("BITCOUNT", "k", "0")
    pair.check("BITCOUNT", "k", "a", "1")
    pair.check("BITCOUNT", "k", "0", "b")
    pair.check("BITCOUNT", "k", "a", "b", "nope")
    pair.check("BITCOUNT", "k", "0", "9223372036854775808")
    pair.check("BITCOUNT")


def test_bitcount_random(pair2: Pair) -> None:
    rnd = random.Random(3)
    for _ in range(20):
        value = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 40)))
        pair2.check("SET", "k", value)
        for _ in range(15):
            n = len(value) * rnd.choice([1, 8])
            start, end = rnd.randint(-n - 3, n + 3), rnd.randint(-n - 3, n + 3)
            pair2.check("BITCOUNT", "k", str(start), str(end), rnd.choice(["BIT", "BYTE"]))


def test_bitcount_checks_arguments_before_the_key(pair: Pair) -> None:
    """Redis 7.2 validates BITCOUNT's arguments before it looks at the key
    (#11734): a missing key with bad arguments is an error. The 7.0 oracle
    answers 0, so these are checked on Cairn alone."""
    for args, error in ((("0",), b"-ERR syntax error\r\n"),
                        (("a", "1"), b"-ERR value is not an integer or out of range\r\n"),
                        (("0", "1", "BITS"), b"-ERR syntax error\r\n"),
                        (("0", "1", "BIT", "x"), b"-ERR syntax error\r\n")):
        assert pair.cairn.raw("BITCOUNT", "nokey", *args) == error
    assert pair.cairn.raw("BITCOUNT", "nokey", "0", "1", "BIT") == b":0\r\n"
    # ...and the arguments before the type.
    pair.check("RPUSH", "l", "x")
    assert pair.cairn.raw("BITCOUNT", "l", "a", "1").startswith(b"-ERR value is not")
    assert pair.cairn.raw("BITCOUNT", "l", "0").startswith(b"-ERR syntax")


# -- BITPOS ---------------------------------------------------------------------------------


def test_bitpos(pair: Pair) -> None:
    pair.check("BITPOS", "k", "0")
    pair.check("BITPOS", "k", "1")
    pair.check("BITPOS", "k", "0", "5", "10", "BIT")
    pair.check("SET", "k", b"\xff\xf0\x00")
    pair.check("BITPOS", "k", "0")
    pair.check("BITPOS", "k", "1")
    pair.check("SET", "ones", b"\xff\xff\xff")
    pair.check("BITPOS", "ones", "0")  # the first bit past the end
    pair.check("BITPOS", "ones", "0", "1")
    pair.check("BITPOS", "ones", "0", "1", "-1")  # an explicit end: -1
    pair.check("BITPOS", "ones", "0", "0", "-1", "BIT")
    pair.check("BITPOS", "ones", "1", "4", "-1", "BIT")
    pair.check("SET", "zeros", b"\x00\x00\x00")
    pair.check("BITPOS", "zeros", "1")
    pair.check("BITPOS", "zeros", "0")
    pair.check("BITPOS", "zeros", "0", "2")
    pair.check("SET", "e", "")
    for bit in ("0", "1"):
        pair.check("BITPOS", "e", bit)
        pair.check("BITPOS", "e", bit, "0")
        pair.check("BITPOS", "e", bit, "0", "-1")
        pair.check("BITPOS", "e", bit, "0", "-1", "BIT")
    for args in (("2",), ("-1",), ("a",), ("", ), ("1", "a"), ("1", "0", "b"),
                 ("1", "0", "1", "bits"), ("1", "0", "x", "bits"), ("1", "0", "1", "BIT", "x"),
                 ("2", "0", "1", "nope")):
        pair.check("BITPOS", "k", *args)
    pair.check("BITPOS", "k")


def test_bitpos_random(pair2: Pair) -> None:
    rnd = random.Random(4)
    for _ in range(25):
        kind = rnd.random()
        n = rnd.randint(1, 30)
        if kind < 0.3:
            value = b"\xff" * n
        elif kind < 0.6:
            value = b"\x00" * n
        else:
            value = bytes(rnd.choice([0, 0xFF, rnd.getrandbits(8)]) for _ in range(n))
        pair2.check("SET", "k", value)
        for _ in range(20):
            bit = rnd.choice(["0", "1"])
            unit = rnd.choice(["BIT", "BYTE", None])
            total = n * (8 if unit == "BIT" else 1)
            start, end = rnd.randint(-total - 3, total + 3), rnd.randint(-total - 3, total + 3)
            if unit is not None:
                pair2.check("BITPOS", "k", bit, str(start), str(end), unit)
            elif rnd.random() < 0.5:
                pair2.check("BITPOS", "k", bit, str(start), str(end))
            else:
                pair2.check("BITPOS", "k", bit, str(start))


def test_bitpos_on_a_long_string(pair2: Pair) -> None:
    # Longer than the scan's chunk, so the search crosses chunks.
    pair2.check("SETRANGE", "k", "300000", "\x01")
    pair2.check("BITPOS", "k", "1")
    pair2.check("BITPOS", "k", "1", "1000")
    pair2.check("BITPOS", "k", "1", "299999", "300000")
    pair2.check("BITPOS", "k", "1", "2399990", "2400007", "BIT")
    pair2.check("BITCOUNT", "k", "2", "-1")
    pair2.check("BITCOUNT", "k", "5", "2400007", "BIT")
    pair2.check("BITOP", "NOT", "n", "k")
    pair2.check("BITPOS", "n", "0")
    pair2.check("BITPOS", "n", "0", "10", "-1")
    pair2.check("BITCOUNT", "n")


def test_bitpos_checks_arguments_before_the_key(pair: Pair) -> None:
    """Redis 7.2 (#11734): BITPOS on a missing key still validates its range
    arguments; 7.0 answered -1/0 at once, so this runs on Cairn alone."""
    assert pair.cairn.raw("BITPOS", "nokey", "1", "a") == (
        b"-ERR value is not an integer or out of range\r\n")
    assert pair.cairn.raw("BITPOS", "nokey", "1", "0", "1", "BITS") == b"-ERR syntax error\r\n"
    assert pair.cairn.raw("BITPOS", "nokey", "1", "0", "1", "BIT") == b":-1\r\n"
    assert pair.cairn.raw("BITPOS", "nokey", "0", "0", "1", "BIT") == b":0\r\n"
    assert pair.cairn.raw("BITPOS", "nokey", "2") == b"-ERR The bit argument must be 1 or 0.\r\n"


# -- BITOP ------------------------------------------------------------------------------------


def test_bitop(pair: Pair) -> None:
    pair.check("SET", "a", b"\x0f\xf0\xaa")
    pair.check("SET", "b", b"\xff\x01")
    pair.check("SET", "c", b"\x55")
    for op in ("AND", "OR", "XOR", "and", "Or", "xOr"):
        pair.check("BITOP", op, "d", "a", "b", "c")
        pair.check("GET", "d")
        pair.check("BITOP", op, "d", "a", "nokey")
        pair.check("GET", "d")
        pair.check("BITOP", op, "d", "a")
        pair.check("GET", "d")
    pair.check("BITOP", "NOT", "d", "a")
    pair.check("GET", "d")
    pair.check("BITOP", "NOT", "d", "d")
    pair.check("GET", "d")
    pair.check("OBJECT", "ENCODING", "d")
    pair.check("BITOP", "NOT", "d", "a", "b")
    pair.check("BITOP", "NOT", "d")
    pair.check("BITOP", "NAND", "d", "a")
    pair.check("BITOP", "AND", "d")
    # The destination loses its TTL; an empty result deletes it.
    pair.check("SET", "d", "x", "EX", "100")
    pair.check("BITOP", "OR", "d", "a")
    pair.check("TTL", "d")
    pair.check("SET", "e", "")
    pair.check("BITOP", "OR", "d", "nokey", "e")
    pair.check("EXISTS", "d")
    pair.check("BITOP", "OR", "d", "nokey")
    pair.check("BITOP", "NOT", "d", "e")
    pair.check("SET", "n", "123")
    pair.check("BITOP", "XOR", "d", "n", "a")
    pair.check("GET", "d")


def test_bitop_random(pair2: Pair) -> None:
    rnd = random.Random(7)
    for _ in range(30):
        keys = []
        for i in range(rnd.randint(1, 4)):
            key = f"s{i}"
            if rnd.random() < 0.15:
                pair2.check("DEL", key)
            else:
                pair2.check("SET", key, bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 20))))
            keys.append(key)
        op = rnd.choice(["AND", "OR", "XOR", "NOT"])
        if op == "NOT":
            keys = keys[:1]
        pair2.check("BITOP", op, "dest", *keys)
        pair2.check("GET", "dest")


# -- BITFIELD ---------------------------------------------------------------------------------


def test_bitfield_basics(pair: Pair) -> None:
    pair.check("BITFIELD", "k")
    pair.check("EXISTS", "k")
    pair.check("BITFIELD", "k", "GET", "u8", "0")
    pair.check("EXISTS", "k")
    pair.check("BITFIELD", "k", "SET", "i8", "0", "-100", "GET", "u8", "0", "GET", "i4", "0")
    pair.check("GET", "k")
    pair.check("BITFIELD", "k", "INCRBY", "u2", "100", "1", "OVERFLOW", "SAT", "incrby", "u2",
               "102", "1")
    pair.check("GET", "k")
    pair.check("BITFIELD", "k", "set", "i16", "#2", "1234", "get", "i16", "#2", "GET", "u16", "32")
    pair.check("BITFIELD", "k", "GET", "i64", "0", "GET", "u63", "1", "GET", "i1", "3")
    pair.check("BITFIELD_RO", "k", "GET", "i64", "#1", "GET", "u1", "#7")
    pair.check("BITFIELD_RO", "k", "OVERFLOW", "FAIL", "GET", "u8", "0")
    pair.check("BITFIELD_RO", "k")
    pair.check("BITFIELD_RO", "k", "SET", "u8", "0", "1")
    pair.check("BITFIELD_RO", "k", "INCRBY", "u8", "0", "1", "GET", "u8", "bad")
    pair.check("BITFIELD_RO", "nokey", "GET", "u8", "1000")
    pair.check("SET", "t", "abc", "EX", "100")
    pair.check("BITFIELD", "t", "SET", "u8", "100", "7")
    pair.check("TTL", "t")
    pair.check("GET", "t")
    pair.check("OBJECT", "ENCODING", "t")


@pytest.mark.parametrize("argv", [
    ["GET", "u64", "0"], ["GET", "i65", "0"], ["GET", "i0", "0"], ["GET", "u0", "0"],
    ["GET", "x8", "0"], ["GET", "", "0"], ["GET", "i", "0"], ["GET", "u-1", "0"],
    ["GET", "i08", "0"], ["GET", "I8", "0"], ["GET", "U63", "0"], ["GET", "i 8", "0"],
    ["GET", "u8", "-1"], ["GET", "u8", "a"], ["GET", "u8", "#-1"], ["GET", "u8", "#"],
    ["GET", "u8", "##1"], ["GET", "u8", "4294967296"], ["GET", "u8", "#536870912"],
    ["GET", "i64", "#144115188075855872"], ["GET", "i64", "#67108863"],
    ["SET", "u8", "0", "a"], ["SET", "u8", "0", "1.5"], ["SET", "u8", "0"],
    ["INCRBY", "u8", "0"], ["INCRBY", "u8", "0", "9223372036854775808"],
    ["OVERFLOW", "WRAPS", "GET", "u8", "0"], ["OVERFLOW"], ["GET", "u8"], ["GET"],
    ["FOO", "u8", "0"], ["GET", "u8", "0", "SET"], ["GET", "u8", "0", "extra"],
    ["SET", "u8", "0", "1", "GET", "u99", "0"], ["OVERFLOW", "sat", "OVERFLOW", "bad"],
])
def test_bitfield_errors(pair: Pair, argv: list[str]) -> None:
    pair.check("BITFIELD", "k", *argv)
    pair.check("BITFIELD_RO", "k", *argv)
    pair.check("EXISTS", "k")


def test_bitfield_overflow(pair: Pair) -> None:
    for mode in ("WRAP", "SAT", "FAIL"):
        pair.check("DEL", "k")
        for args in (("u8", "0", "250"), ("u8", "0", "10"), ("u8", "0", "-300"), ("i8", "8", "100"),
                     ("i8", "8", "100"), ("i8", "8", "-300"), ("i8", "8", "-300"),
                     ("u63", "16", "9223372036854775807"), ("u63", "16", "1"),
                     ("i64", "80", "9223372036854775807"), ("i64", "80", "1"),
                     ("i64", "80", "-9223372036854775808"), ("i64", "80", "-9223372036854775808"),
                     ("u1", "200", "1"), ("u1", "200", "1"), ("i1", "201", "-1"), ("i1", "201", "-1"),
                     ("i1", "201", "1")):
            pair.check("BITFIELD", "k", "OVERFLOW", mode, "INCRBY", *args)
        for args in (("u8", "0", "256"), ("u8", "0", "-1"), ("u8", "0", "-256"),
                     ("i8", "8", "128"), ("i8", "8", "-129"), ("i8", "8", "-9223372036854775808"),
                     ("i8", "8", "-9223372036854775700"), ("i8", "8", "9223372036854775807"),
                     ("u63", "16", "-1"), ("i64", "80", "-1"), ("i2", "3", "2"), ("u2", "3", "4")):
            pair.check("BITFIELD", "k", "OVERFLOW", mode, "SET", *args)
        pair.check("GET", "k")


def test_bitfield_fail_still_grows_the_string(pair: Pair) -> None:
    pair.check("BITFIELD", "k", "OVERFLOW", "FAIL", "SET", "u8", "100", "300")
    pair.check("STRLEN", "k")
    pair.check("SET", "s", "a")
    pair.check("BITFIELD", "s", "OVERFLOW", "FAIL", "INCRBY", "u8", "40", "256")
    pair.check("GET", "s")


def test_bitfield_random(pair2: Pair) -> None:
    rnd = random.Random(9)
    for _ in range(300):
        argv: list[str] = []
        for _ in range(rnd.randint(1, 4)):
            signed = rnd.random() < 0.5
            bits = rnd.randint(1, 64 if signed else 63)
            ftype = ("i" if signed else "u") + str(bits)
            offset = rnd.choice([str(rnd.randint(0, 200)), f"#{rnd.randint(0, 5)}"])
            value = str(rnd.choice([rnd.randint(-(2**63), 2**63 - 1), rnd.randint(-300, 300),
                                    2 ** rnd.randint(0, 62), -(2 ** rnd.randint(0, 63))]))
            op = rnd.random()
            if op < 0.3:
                argv += ["GET", ftype, offset]
            elif op < 0.6:
                argv += ["SET", ftype, offset, value]
            elif op < 0.9:
                argv += ["INCRBY", ftype, offset, value]
            else:
                argv += ["OVERFLOW", rnd.choice(["WRAP", "SAT", "FAIL"])]
        pair2.check("BITFIELD", "k", *argv)
    pair2.check("GET", "k")


@pytest.mark.parametrize("argv", [["SETBIT", "k", "1"], ["SETBIT", "k", "1", "1", "1"],
                                  ["GETBIT", "k"], ["BITCOUNT"], ["BITPOS", "k"], ["BITOP", "AND", "d"],
                                  ["BITFIELD"], ["BITFIELD_RO"]])
def test_arity(pair: Pair, argv: list[str]) -> None:
    pair.check(*argv)


def test_in_multi(pair: Pair) -> None:
    pair.check("MULTI")
    pair.check("SETBIT", "k", "5", "1")
    pair.check("BITFIELD", "k", "INCRBY", "u4", "0", "3", "GET", "u8", "0")
    pair.check("GET", "k")
    pair.check("SETBIT", "k", "99", "1")
    pair.check("BITCOUNT", "k")
    pair.check("EXEC")


# -- effects and replay (in process) ----------------------------------------------------


class _Local(EffectsCapture):
    """Commands run in process, with what they log."""


@pytest.fixture
def local() -> _Local:
    return _Local()


def _b(*args: str) -> list[bytes]:
    return [a.encode() for a in args]


def test_effects(local: _Local) -> None:
    assert local.effects_of("SETBIT", "k", "3", "1") == [_b("SETBIT", "k", "3", "1")]
    assert local.effects_of("SETBIT", "k", "3", "1") == []  # unchanged
    assert local.effects_of("SETBIT", "k", "2", "0") == []
    assert local.effects_of("SETBIT", "k", "20", "0") == [_b("SETBIT", "k", "20", "0")]  # grows
    assert local.effects_of("GETBIT", "k", "3") == []
    assert local.effects_of("BITFIELD", "k", "GET", "u8", "0") == []
    assert local.effects_of("BITFIELD", "k", "SET", "u8", "0", "16") == []  # same value
    assert local.effects_of("BITFIELD", "k", "INCRBY", "u8", "0", "1") == [
        _b("BITFIELD", "k", "INCRBY", "u8", "0", "1")]
    argv = ("BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "1000")
    assert local.effects_of(*argv) == []
    argv = ("BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u8", "800", "1000")
    assert local.effects_of(*argv) == [_b(*argv)]  # failed, but the string grew
    assert local.effects_of("BITOP", "OR", "d", "k") == [_b("BITOP", "OR", "d", "k")]
    assert local.effects_of("BITOP", "OR", "none", "nokey") == []
    assert local.effects_of("BITOP", "OR", "d", "nokey") == [_b("BITOP", "OR", "d", "nokey")]
    assert local.effects_of("BITCOUNT", "k") == []
    assert local.effects_of("BITPOS", "k", "1") == []
    assert local.effects_of("BITFIELD_RO", "k", "GET", "u8", "0") == []


def test_in_place_changes_do_not_leak_into_replies(local: _Local) -> None:
    local.run("SETBIT", "k", "7", "1")
    value = local.run("GET", "k")
    local.run("SETBIT", "k", "6", "1")
    assert value == b"\x01" and local.run("GET", "k") == b"\x03"
    local.run("SET", "s", "ab")  # bytes: copied before the change
    stored = local.server.keyspace.dbs[0].data[b"s"]
    local.run("SETBIT", "s", "0", "1")
    assert stored == b"ab" and local.run("GET", "s") == b"\xe1b"


def _dump(server: Server) -> list[dict[bytes, tuple[Any, int | None]]]:
    return [{k: (bytes(v) if isinstance(v, (bytes, bytearray)) else v, db.expires.get(k))
             for k, v in db.data.items()} for db in server.keyspace.dbs]


def test_replay_of_effects_rebuilds_the_keyspace(local: _Local) -> None:
    rnd = random.Random(21)
    keys = ["a", "b", "c"]
    fresh = Server()
    replayer = Replayer(fresh)
    applied = 0
    for step in range(1, 3001):
        k, k2 = rnd.choice(keys), rnd.choice(keys)
        width = rnd.randint(1, 63)
        ftype = rnd.choice(["i", "u"]) + str(width)
        argv = rnd.choice([
            ["SETBIT", k, str(rnd.randint(0, 300)), str(rnd.randint(0, 1))],
            ["BITFIELD", k, "SET", ftype, str(rnd.randint(0, 200)), str(rnd.randint(-1000, 1000))],
            ["BITFIELD", k, "OVERFLOW", rnd.choice(["WRAP", "SAT", "FAIL"]), "INCRBY", ftype,
             str(rnd.randint(0, 400)), str(rnd.randint(-(2**40), 2**40))],
            ["BITFIELD", k, "GET", ftype, "0"],
            ["BITOP", rnd.choice(["AND", "OR", "XOR"]), k, k2, rnd.choice(keys)],
            ["BITOP", "NOT", k, k2], ["SET", k, "xyz"], ["DEL", k], ["EXPIRE", k, "1000"],
            ["APPEND", k, "q"],
        ])
        reply = local.run(*argv)
        assert not isinstance(reply, ErrorReply), (argv, reply)
        if step % 300 == 0:
            for record in local.records[applied:]:
                applied += 1
                replayer.apply_record(applied, record)
            assert _dump(fresh) == _dump(local.server), step
