"""String commands against the real redis-server (RESP2 and RESP3), plus
in-process checks of their effects (what the transaction log records)."""

from __future__ import annotations

import itertools
import random
import struct
import time
from typing import Any

import hiredis
import pytest
from harness import Pair, encode_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inprocess import EffectsCapture

import cairn.commands  # noqa: F401  (registers every command)
from cairn.commands.context import Client, Server
from cairn.commands.dispatch import execute
from cairn.commands.strings import (
    _lcs_rows,
    format_long_double,
    ld_add,
    parse_long_double,
)
from cairn.protocol import ErrorReply

FAR_S = int(time.time()) + 10 * 365 * 86400  # a future unix time in seconds
FAR_MS = FAR_S * 1000

def _fixture_ok(max_examples: int = 100) -> Any:
    return settings(
        suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None,
        database=None, max_examples=max_examples,
    )


def _parse(data: bytes) -> Any:
    reader = hiredis.Reader()
    reader.feed(data)
    return reader.gets()


def check_pttl(pair: Pair, key: str) -> None:
    """PTTL agrees: same negative code, or both positive within a second."""
    real, ours = _parse(pair.real.raw("PTTL", key)), _parse(pair.cairn.raw("PTTL", key))
    if real < 0 or ours < 0:
        assert real == ours, (key, real, ours)
    else:
        assert abs(real - ours) < 1500, (key, real, ours)


def make_non_string(pair: Pair, key: str) -> None:
    """Store a non-string value (a list) at key on both servers."""
    pair.check("RPUSH", key, "x")


# -- GET / SET ---------------------------------------------------------------------


def test_get_set_basic(pair: Pair) -> None:
    pair.check("GET", "k")
    pair.check("SET", "k", "v")
    pair.check("GET", "k")
    pair.check("SET", "k", "")
    pair.check("GET", "k")
    pair.check("SET", "k", b"\x00\xff\r\n binary")
    pair.check("GET", "k")
    pair.check("set", "k", "lower-case command")
    pair.check("GET", "k")
    pair.check("GET", "k", "extra")
    pair.check("SET", "k")
    pair.check("GET")


def test_set_nx_xx_get(pair: Pair) -> None:
    pair.check("SET", "k", "1", "XX")
    pair.check("GET", "k")
    pair.check("SET", "k", "1", "NX")
    pair.check("SET", "k", "2", "NX")
    pair.check("SET", "k", "3", "XX")
    pair.check("GET", "k")
    pair.check("SET", "k", "4", "GET")
    pair.check("SET", "new", "4", "GET")
    pair.check("SET", "k", "5", "NX", "GET")
    pair.check("SET", "other", "5", "NX", "GET")
    pair.check("SET", "k", "6", "XX", "GET")
    pair.check("SET", "missing", "6", "xx", "get")
    pair.check("MGET", "k", "other", "missing", "new")


def test_set_expiry_options(pair: Pair) -> None:
    pair.check("SET", "k", "v", "EX", "100")
    check_pttl(pair, "k")
    pair.check("SET", "k", "v", "PX", "100000")
    check_pttl(pair, "k")
    pair.check("SET", "k", "v", "EXAT", str(FAR_S))
    pair.check("TTL", "k")
    pair.check("EXPIRETIME", "k")
    pair.check("SET", "k", "v", "PXAT", str(FAR_MS + 123))
    pair.check("PEXPIRETIME", "k")
    pair.check("SET", "k", "w", "KEEPTTL")
    pair.check("PEXPIRETIME", "k")
    pair.check("GET", "k")
    pair.check("SET", "k", "x")  # a plain SET clears the TTL
    pair.check("TTL", "k")
    pair.check("SET", "k", "v", "EX", "100", "EX", "200")  # the same unit may repeat
    check_pttl(pair, "k")
    pair.check("SET", "k", "v", "ex", "10", "nx", "get")
    pair.check("SET", "k", "y", "XX", "PX", "5000", "GET")
    check_pttl(pair, "k")
    pair.check("SET", "k", "v", "PXAT", "9223372036854775807")
    pair.check("SET", "k", "v", "EXAT", "9223372036854775")
    pair.check("PEXPIRETIME", "k")


def test_set_expiry_that_lapses(pair: Pair) -> None:
    pair.check("SET", "k", "v", "PX", "30")
    time.sleep(0.1)
    pair.check("GET", "k")
    pair.check("SET", "k", "v", "NX")  # the lapsed key does not block NX


def test_set_past_expiry(pair: Pair) -> None:
    # Redis 7.2 stores the key with its past expiry and lets it expire lazily;
    # Cairn deletes it at once (as later Redis versions do). Every reply below
    # is the same either way.
    pair.check("SET", "k", "old")
    pair.check("SET", "k", "v", "PXAT", "1")
    pair.check("GET", "k")
    pair.check("EXISTS", "k")
    pair.check("SET", "k", "old")
    pair.check("SET", "k", "v", "EXAT", "1", "GET")
    pair.check("GET", "k")
    pair.check("SET", "k", "v", "EXAT", "1", "NX")
    pair.check("EXISTS", "k")
    pair.check("SET", "k", "v", "PXAT", "1", "XX", "GET")


@pytest.mark.parametrize(
    "args",
    [
        ["EX"], ["PX"], ["EXAT"], ["PXAT"],
        ["EX", "0"], ["EX", "-1"], ["PX", "0"], ["PXAT", "0"], ["EXAT", "-5"],
        ["EX", "abc"], ["EX", "1.5"], ["EX", "00010"], ["EX", " 1"], ["PX", "1e3"],
        ["EX", "9223372036854775"], ["EX", "9223372036854776"], ["EXAT", "9223372036854776"],
        ["PX", "9223372036854775807"], ["EX", "9223372036854775808"],
        ["EX", "10", "PX", "10"], ["PX", "10", "EXAT", "10"], ["NX", "XX"], ["XX", "NX"],
        ["KEEPTTL", "EX", "1"], ["EX", "1", "KEEPTTL"], ["PERSIST"], ["FOO"], ["EXX", "1"],
        ["NX", "NX"], ["XX", "XX"], ["GET", "GET"], ["KEEPTTL", "KEEPTTL"],
        ["EX", "10", "EX"], ["GET", "EX"], ["NX", "FOO"],
    ],
)
def test_set_option_errors(pair: Pair, args: list[str]) -> None:
    pair.check("SET", "k", "before")
    pair.check("SET", "k", "v", *args)
    pair.check("GET", "k")
    check_pttl(pair, "k")


_SET_TOKENS: list[tuple[str, ...]] = [
    ("NX",), ("XX",), ("GET",), ("KEEPTTL",), ("EX", "100"), ("PX", "100000"),
    ("EXAT", str(FAR_S)), ("PXAT", str(FAR_MS)), ("PERSIST",),
]


def test_set_every_option_combination(pair2: Pair) -> None:
    """Every ordered sequence of up to three options, on a missing and an existing key."""
    pair = pair2
    combos = [c for n in (1, 2, 3) for c in itertools.product(_SET_TOKENS, repeat=n)]
    for exists in (False, True):
        for combo in combos:
            if exists:
                pair.check("SET", "k", "old", "PX", "50000")
            else:
                pair.check("DEL", "k")
            argv = ["SET", "k", "new"] + [tok for opt in combo for tok in opt]
            pair.check(*argv)
            pair.check("GET", "k")
            check_pttl(pair, "k")


def test_set_wrongtype(pair: Pair) -> None:
    make_non_string(pair, "h")
    pair.check("GET", "h")
    pair.check("SET", "h", "v", "GET")
    pair.check("SET", "h", "v", "NX", "GET")
    pair.check("SET", "h", "v", "XX", "GET")
    pair.check("SET", "h", "v", "NX")
    pair.check("TYPE", "h")
    pair.check("SET", "h", "v")  # a plain SET replaces any type
    pair.check("GET", "h")


# -- SETEX / PSETEX / SETNX / GETSET / GETDEL / GETEX ------------------------------


def test_setex_psetex(pair: Pair) -> None:
    pair.check("SETEX", "k", "100", "v")
    pair.check("GET", "k")
    check_pttl(pair, "k")
    pair.check("PSETEX", "k", "100000", "w")
    pair.check("GET", "k")
    check_pttl(pair, "k")
    for cmd in ("SETEX", "PSETEX"):
        for bad in ("0", "-1", "abc", "9223372036854775807", "1.5", ""):
            pair.check(cmd, "k", bad, "x")
        pair.check(cmd, "k", "10")
        pair.check(cmd, "k", "10", "v", "extra")
    pair.check("SETEX", "k", "9223372036854775", "v")
    pair.check("GET", "k")
    pair.check("PSETEX", "k", "20", "short")
    time.sleep(0.08)
    pair.check("GET", "k")


def test_setnx(pair: Pair) -> None:
    pair.check("SETNX", "k", "1")
    pair.check("SETNX", "k", "2")
    pair.check("GET", "k")
    pair.check("SETNX", "k")
    make_non_string(pair, "h")
    pair.check("SETNX", "h", "x")


def test_getset(pair: Pair) -> None:
    pair.check("GETSET", "k", "1")
    pair.check("GETSET", "k", "2")
    pair.check("GET", "k")
    pair.check("SET", "k", "v", "EX", "100")
    pair.check("GETSET", "k", "w")
    pair.check("TTL", "k")  # GETSET clears the TTL
    make_non_string(pair, "h")
    pair.check("GETSET", "h", "x")
    pair.check("TYPE", "h")


def test_getdel(pair: Pair) -> None:
    pair.check("GETDEL", "k")
    pair.check("SET", "k", "v")
    pair.check("GETDEL", "k")
    pair.check("EXISTS", "k")
    pair.check("GETDEL", "k")
    pair.check("APPEND", "r", "a")
    pair.check("APPEND", "r", "b")
    pair.check("GETDEL", "r")
    make_non_string(pair, "h")
    pair.check("GETDEL", "h")
    pair.check("TYPE", "h")


def test_getex(pair: Pair) -> None:
    pair.check("GETEX", "k")
    pair.check("GETEX", "k", "EX", "10")
    pair.check("SET", "k", "v")
    pair.check("GETEX", "k")
    pair.check("TTL", "k")
    pair.check("GETEX", "k", "EX", "100")
    check_pttl(pair, "k")
    pair.check("GETEX", "k", "PX", "200000")
    check_pttl(pair, "k")
    pair.check("GETEX", "k", "EXAT", str(FAR_S))
    pair.check("EXPIRETIME", "k")
    pair.check("GETEX", "k", "PXAT", str(FAR_MS + 7))
    pair.check("PEXPIRETIME", "k")
    pair.check("GETEX", "k", "ex", "5", "ex", "50")
    check_pttl(pair, "k")
    pair.check("GETEX", "k", "PERSIST")
    pair.check("TTL", "k")
    pair.check("GETEX", "k", "PERSIST")
    pair.check("GETEX", "k", "PERSIST", "persist")
    pair.check("GETEX", "k", "PXAT", "1")  # in the past: deleted
    pair.check("EXISTS", "k")
    pair.check("SET", "k", "v")
    pair.check("GETEX", "k", "EXAT", "1")
    pair.check("GET", "k")
    pair.check("SET", "k", "v")
    pair.check("GETEX", "k", "PX", "30")
    time.sleep(0.08)
    pair.check("GET", "k")


@pytest.mark.parametrize(
    "args",
    [
        ["EX"], ["PERSIST", "EX", "10"], ["EX", "10", "PERSIST"], ["EX", "10", "PX", "10"],
        ["KEEPTTL"], ["NX"], ["XX"], ["GET"], ["FOO"], ["EX", "0"], ["EX", "-1"],
        ["EX", "abc"], ["PX", "9223372036854775807"], ["EXAT", "9223372036854776"],
        ["PXAT", "0"], ["EX", "10", "FOO"],
    ],
)
def test_getex_errors(pair: Pair, args: list[str]) -> None:
    pair.check("GETEX", "missing", *args)  # options are checked before the lookup, values after
    pair.check("SET", "k", "v", "EX", "1000")
    pair.check("GETEX", "k", *args)
    pair.check("GET", "k")
    check_pttl(pair, "k")


def test_getex_wrongtype(pair: Pair) -> None:
    make_non_string(pair, "h")
    pair.check("GETEX", "h")
    pair.check("GETEX", "h", "EX", "0")
    pair.check("GETEX", "h", "EX", "abc")
    pair.check("GETEX", "h", "FOO")


# -- MGET / MSET / MSETNX ----------------------------------------------------------


def test_mget_mset(pair: Pair) -> None:
    pair.check("MSET", "a", "1", "b", "2", "a", "3")
    pair.check("MGET", "a", "b", "c", "a")
    pair.check("MSET", "a")
    pair.check("MSET", "a", "1", "b")
    pair.check("MSET")
    pair.check("MGET")
    pair.check("SET", "t", "v", "EX", "100")
    pair.check("MSET", "t", "w")
    pair.check("TTL", "t")
    make_non_string(pair, "h")
    pair.check("MGET", "a", "h", "b")
    pair.check("MSET", "h", "now-a-string")
    pair.check("GET", "h")


def test_msetnx(pair: Pair) -> None:
    pair.check("MSETNX", "a", "1", "b", "2")
    pair.check("MSETNX", "b", "x", "c", "3")
    pair.check("MGET", "a", "b", "c")
    pair.check("MSETNX", "d", "1", "d", "2")
    pair.check("GET", "d")
    pair.check("MSETNX", "e")
    pair.check("MSETNX", "e", "1", "f")
    pair.check("SET", "gone", "v", "PX", "20")
    time.sleep(0.06)
    pair.check("MSETNX", "gone", "back")
    pair.check("GET", "gone")


# -- APPEND / SETRANGE / STRLEN / GETRANGE / SUBSTR -------------------------------------


def test_append(pair: Pair) -> None:
    pair.check("APPEND", "k", "hello")
    pair.check("APPEND", "k", " world")
    pair.check("APPEND", "k", "")
    pair.check("GET", "k")
    pair.check("STRLEN", "k")
    pair.check("APPEND", "e", "")
    pair.check("EXISTS", "e")
    pair.check("SET", "n", "12")
    pair.check("OBJECT", "ENCODING", "n")
    pair.check("APPEND", "n", "3")
    pair.check("OBJECT", "ENCODING", "n")
    pair.check("INCR", "n")
    pair.check("APPEND", "n", "x")
    pair.check("INCR", "n")
    pair.check("SET", "t", "a", "EX", "100")
    pair.check("APPEND", "t", "b")
    check_pttl(pair, "t")  # APPEND keeps the TTL
    for i in range(50):
        pair.check("APPEND", "many", f"{i},")
    pair.check("GET", "many")
    make_non_string(pair, "h")
    pair.check("APPEND", "h", "x")


def test_raw_value_is_not_aliased_in_replies(pair: Pair) -> None:
    """A reply taken from an in-place value must not change with it (MULTI holds replies)."""
    pair.check("APPEND", "k", "a")
    pair.check("APPEND", "k", "b")
    pair.check("MULTI")
    for cmd in (("GET", "k"), ("MGET", "k"), ("GETRANGE", "k", "0", "-1"), ("GETEX", "k"),
                ("SET", "x", "1", "GET"), ("LCS", "k", "k")):
        pair.check(*cmd)
        pair.check("APPEND", "k", "c")
        pair.check("SETRANGE", "k", "0", "Z")
    pair.check("EXEC")
    pair.check("APPEND", "r", "1")
    pair.check("APPEND", "r", "2")
    pair.check("COPY", "r", "r2")
    pair.check("APPEND", "r", "3")
    pair.check("MGET", "r", "r2")


def test_setrange(pair: Pair) -> None:
    pair.check("SETRANGE", "k", "0", "hello")
    pair.check("SETRANGE", "k", "6", "world")
    pair.check("GET", "k")
    pair.check("SETRANGE", "k", "1", "EL")
    pair.check("GET", "k")
    pair.check("SETRANGE", "k", "20", "!")
    pair.check("GET", "k")
    pair.check("SETRANGE", "k", "3", "")
    pair.check("SETRANGE", "new", "5", "x")
    pair.check("GET", "new")
    pair.check("OBJECT", "ENCODING", "new")
    pair.check("SETRANGE", "nothing", "5", "")
    pair.check("EXISTS", "nothing")
    pair.check("SETRANGE", "nothing", "536870912", "")
    pair.check("SET", "n", "1234")
    pair.check("SETRANGE", "n", "1", "9")
    pair.check("INCR", "n")
    pair.check("SET", "t", "abc", "PX", "100000")
    pair.check("SETRANGE", "t", "1", "X")
    check_pttl(pair, "t")  # SETRANGE keeps the TTL


@pytest.mark.parametrize(
    "args",
    [
        ["-1", "x"], ["-1", ""], ["abc", "x"], ["1.5", "x"], ["9223372036854775808", "x"],
        ["536870912", "x"], ["536870911", "xx"], ["536870911", "x" * 10],
        ["9223372036854775807", "x"],
    ],
)
def test_setrange_errors(pair: Pair, args: list[str]) -> None:
    pair.check("SETRANGE", "missing", *args)
    pair.check("SET", "k", "v")
    pair.check("SETRANGE", "k", *args)
    pair.check("GET", "k")


def test_setrange_getrange_strlen_wrongtype(pair: Pair) -> None:
    make_non_string(pair, "h")
    pair.check("SETRANGE", "h", "0", "x")
    pair.check("SETRANGE", "h", "0", "")
    pair.check("SETRANGE", "h", "-1", "x")
    pair.check("STRLEN", "h")
    pair.check("GETRANGE", "h", "0", "1")
    pair.check("GETRANGE", "h", "a", "1")
    pair.check("SUBSTR", "h", "0", "1")


def test_strlen(pair: Pair) -> None:
    pair.check("STRLEN", "k")
    pair.check("SET", "k", "hello")
    pair.check("STRLEN", "k")
    pair.check("SET", "k", "-12345")
    pair.check("STRLEN", "k")
    pair.check("STRLEN", "k", "x")


_RANGES = [
    (0, -1), (-3, -1), (-1, -3), (-100, -200), (-200, -100), (5, 3), (100, 200), (0, 100),
    (-100, 2), (3, -100), (0, 0), (-1, -1), (10, 10), (11, 11), (3, 3), (0, -11), (0, -12),
    (9223372036854775807, -9223372036854775808), (-9223372036854775808, 9223372036854775807),
]


def test_getrange_substr(pair: Pair) -> None:
    pair.check("SET", "k", "Hello World")
    pair.check("SET", "n", "1234567")
    pair.check("SET", "e", "")
    for cmd in ("GETRANGE", "SUBSTR"):
        for start, end in _RANGES:
            for key in ("k", "n", "e", "missing"):
                pair.check(cmd, key, str(start), str(end))
        for bad in (("a", "1"), ("1", "b"), ("1.0", "2"), ("9223372036854775808", "1")):
            pair.check(cmd, "k", *bad)
            pair.check(cmd, "missing", *bad)
        pair.check(cmd, "k", "1")


# -- counters ----------------------------------------------------------------------


def test_incr_decr(pair: Pair) -> None:
    for cmd in (("INCR", "k"), ("INCR", "k"), ("DECR", "k"), ("DECR", "k"), ("DECR", "k"),
                ("INCRBY", "k", "100"), ("INCRBY", "k", "-1000"), ("DECRBY", "k", "-5"),
                ("DECRBY", "k", "5"), ("GET", "k"), ("DECR", "d"), ("DECRBY", "db", "7"),
                ("INCRBY", "ib", "0"), ("MGET", "d", "db", "ib")):
        pair.check(*cmd)
    pair.check("SET", "t", "10", "EX", "100")
    pair.check("INCR", "t")
    check_pttl(pair, "t")  # counters keep the TTL
    pair.check("SET", "k", "9")
    pair.check("OBJECT", "ENCODING", "k")
    pair.check("INCRBY", "k", "1")
    pair.check("OBJECT", "ENCODING", "k")


@pytest.mark.parametrize(
    "value",
    ["v", " 1", "1 ", "01", "-0", "+1", "1.0", "", "9223372036854775808",
     "-9223372036854775809", "12345678901234567890123", "0x10", "1e3", "\x001"],
)
def test_incr_bad_values(pair: Pair, value: str) -> None:
    pair.check("SET", "k", value)
    for cmd in (("INCR", "k"), ("DECR", "k"), ("INCRBY", "k", "1"), ("DECRBY", "k", "1")):
        pair.check(*cmd)
    pair.check("GET", "k")


def test_incr_overflow_and_bad_increments(pair: Pair) -> None:
    pair.check("SET", "max", "9223372036854775807")
    pair.check("INCR", "max")
    pair.check("INCRBY", "max", "1")
    pair.check("DECRBY", "max", "-1")
    pair.check("INCRBY", "max", "0")
    pair.check("INCRBY", "max", "-9223372036854775807")
    pair.check("SET", "min", "-9223372036854775808")
    pair.check("DECR", "min")
    pair.check("INCRBY", "min", "-1")
    pair.check("DECRBY", "min", "1")
    pair.check("INCRBY", "min", "9223372036854775807")
    pair.check("SET", "z", "5")
    pair.check("DECRBY", "z", "-9223372036854775808")
    pair.check("INCRBY", "z", "-9223372036854775808")
    pair.check("INCRBY", "z", "9223372036854775808")
    for bad in ("abc", "1.5", "", " 1", "01"):
        pair.check("INCRBY", "z", bad)
        pair.check("DECRBY", "z", bad)
    pair.check("GET", "z")
    pair.check("INCR", "z", "1")
    pair.check("INCRBY", "z")


def test_counters_wrongtype(pair: Pair) -> None:
    make_non_string(pair, "h")
    for cmd in (("INCR", "h"), ("DECR", "h"), ("INCRBY", "h", "1"), ("DECRBY", "h", "1"),
                ("INCRBY", "h", "abc"), ("DECRBY", "h", "-9223372036854775808"),
                ("INCRBYFLOAT", "h", "1"), ("INCRBYFLOAT", "h", "abc")):
        pair.check(*cmd)


# -- INCRBYFLOAT ------------------------------------------------------------------------

_FLOAT_CASES = [
    (None, "10.5"), ("10.5", "0.1"), ("10.50", "0.1"), (None, "3.0e3"), ("5.0e3", "2.0e2"),
    (None, "-1.5e-10"), (None, "0.1"), ("0.1", "0.2"), ("1", "-1"), (None, "-0.0"),
    (None, "-0"), (None, "1e30"), (None, "-1e30"), (None, ".5"), (None, "5."),
    (None, "0x1p3"), (None, "0X1.8P-1"), (None, "-0x10"), (None, "1e-4940"),
    (None, "1.1e4931"), ("1.1e4932", "1.1e4932"), (None, "1e4933"), (None, "1e5000"),
    (None, "1e-5000"), (None, "inf"), (None, "-inf"), (None, "infinity"), (None, "nan"),
    ("inf", "1"), ("inf", "-inf"), (None, "abc"), (None, " 1"), (None, "1 "), (None, ""),
    (None, "1e"), (None, "1e+"), (None, "."), (None, "0x"), (None, "+"), (None, "+1.5"),
    ("abc", "1"), ("1 ", "1"), ("", "1"), ("9223372036854775807", "1"),
    ("1.0000000000000000000001", "0"), ("3.141592653589793238462643383", "0"),
    (None, "1" * 5119), (None, "1" * 5120), ("0." + "1" * 5117, "0"),
    (None, "1e0000000000000000000000000000003"), (None, "0e999999999999999999999"),
    (None, "0.000000000000000005"), (None, "0.000000000000000015"),
    (None, "0.000000000000000025"), (None, "-0.000000000000000004"),
    ("1.18973149535723176502e+4932", "0"), ("1.18973149535723176502e+4932", "1e4916"),
    (None, "0x1p-16445"), (None, "0x1p-16446"), (None, "0x1.ffffffffffffffffp16383"),
]


@pytest.mark.parametrize("start,incr", _FLOAT_CASES)
def test_incrbyfloat_cases(pair: Pair, start: str | None, incr: str) -> None:
    if start is not None:
        pair.check("SET", "f", start)
    pair.check("INCRBYFLOAT", "f", incr)
    pair.check("GET", "f")


def test_incrbyfloat_keeps_ttl_and_arity(pair: Pair) -> None:
    pair.check("SET", "f", "1.5", "EX", "100")
    pair.check("INCRBYFLOAT", "f", "1")
    check_pttl(pair, "f")
    pair.check("INCRBYFLOAT", "f")
    pair.check("INCRBYFLOAT", "f", "1", "2")
    for _ in range(20):
        pair.check("INCRBYFLOAT", "acc", "0.1")
    pair.check("INCR", "acc")


def _float_text(draw_value: float, style: int) -> str:
    if style == 0:
        return repr(draw_value)
    if style == 1:
        return f"{draw_value:.17g}"
    if style == 2:
        return f"{draw_value:.30e}"
    if style == 3:
        return draw_value.hex()
    return f"{draw_value:.6f}"


@_fixture_ok()
@given(
    st.floats(allow_nan=False, allow_infinity=True), st.integers(0, 4),
    st.floats(allow_nan=False, allow_infinity=False), st.integers(0, 4),
)
def test_incrbyfloat_matches_redis(pair2: Pair, a: float, sa: int, b: float, sb: int) -> None:
    pair2.check("SET", "f", _float_text(a, sa))
    pair2.check("INCRBYFLOAT", "f", _float_text(b, sb))
    pair2.check("GET", "f")


@_fixture_ok()
@given(st.lists(st.decimals(min_value=-(10**30), max_value=10**30, allow_nan=False,
                            allow_infinity=False), min_size=1, max_size=6))
def test_incrbyfloat_decimal_sequences(pair2: Pair, values: list[Any]) -> None:
    pair2.check("DEL", "f")
    for value in values:
        pair2.check("INCRBYFLOAT", "f", str(value))


def test_long_double_against_random_redis_values(pair2: Pair) -> None:
    """Many random operands in one batch (pipelined): parse, add, print."""
    rnd = random.Random(7)
    cases = []
    for _ in range(3000):
        a = struct.unpack("d", rnd.randbytes(8))[0]
        b = rnd.uniform(-1e6, 1e6) * 10 ** rnd.randint(-25, 25)
        cases.append((repr(a) if a == a else "1", f"{b:.{rnd.randint(1, 25)}g}"))
    for client in (pair2.real, pair2.cairn):
        client.send(b"".join(encode_command(("SET", "f", a)) + encode_command(
            ("INCRBYFLOAT", "f", b)) for a, b in cases))
    for a, b in cases:
        for _ in range(2):
            assert pair2.real.read_reply() == pair2.cairn.read_reply(), (a, b)


def test_long_double_helpers_in_process() -> None:
    def run(a: str, b: str) -> bytes | None:
        x, y = parse_long_double(a.encode()), parse_long_double(b.encode())
        assert x is not None and y is not None
        total = ld_add(x, y)
        return None if total is None else format_long_double(total)

    assert run("10.5", "0.1") == b"10.6"
    assert run("3.0e3", "0") == b"3000"
    assert run("-0.0", "0") == b"0"
    assert run("inf", "1") is None
    assert parse_long_double(b"nan") is None
    assert parse_long_double(b"1e5000") is None


# -- LCS -------------------------------------------------------------------------------


def test_lcs(pair: Pair) -> None:
    pair.check("MSET", "a", "ohmytext", "b", "mynewtext")
    pair.check("LCS", "a", "b")
    pair.check("LCS", "a", "b", "LEN")
    pair.check("LCS", "a", "b", "IDX")
    pair.check("LCS", "a", "b", "idx", "withmatchlen")
    pair.check("LCS", "a", "b", "IDX", "MINMATCHLEN", "4")
    pair.check("LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN")
    pair.check("LCS", "a", "b", "IDX", "MINMATCHLEN", "-5")
    pair.check("LCS", "a", "b", "MINMATCHLEN", "2", "LEN")
    pair.check("LCS", "a", "b", "WITHMATCHLEN")
    pair.check("LCS", "a", "b", "IDX", "IDX", "MINMATCHLEN", "1", "MINMATCHLEN", "3")
    pair.check("LCS", "a", "missing")
    pair.check("LCS", "missing", "a", "IDX")
    pair.check("LCS", "missing", "other", "IDX", "WITHMATCHLEN")
    pair.check("LCS", "missing", "other", "LEN")
    pair.check("LCS", "a", "a", "IDX", "WITHMATCHLEN")
    pair.check("MSET", "x", "1", "y", "2")
    pair.check("LCS", "x", "y", "IDX")


@pytest.mark.parametrize(
    "opts",
    [["FOO"], ["IDX", "LEN"], ["LEN", "IDX"], ["MINMATCHLEN"], ["MINMATCHLEN", "x"],
     ["MINMATCHLEN", "1.5"], ["IDX", "MINMATCHLEN"], ["LEN", "FOO"]],
)
def test_lcs_errors(pair: Pair, opts: list[str]) -> None:
    pair.check("MSET", "a", "ohmytext", "b", "mynewtext")
    pair.check("LCS", "a", "b", *opts)


def test_lcs_arity_wrongtype_and_memory(pair: Pair) -> None:
    pair.check("LCS")
    pair.check("LCS", "a")
    pair.check("SET", "big1", "a" * 12000)
    pair.check("SET", "big2", "b" * 12000)
    pair.check("LCS", "big1", "big2", "LEN")
    make_non_string(pair, "h")
    pair.check("SET", "s", "abc")
    pair.check("LCS", "h", "s")
    pair.check("LCS", "s", "h")
    pair.check("LCS", "missing", "h", "FOO")


@_fixture_ok(150)
@given(st.text("abcd", max_size=40), st.text("abcd", max_size=40), st.integers(0, 4),
       st.booleans())
def test_lcs_matches_redis(pair2: Pair, a: str, b: str, minlen: int, withlen: bool) -> None:
    pair2.check("MSET", "a", a, "b", b)
    pair2.check("LCS", "a", "b")
    pair2.check("LCS", "a", "b", "LEN")
    opts = ["MINMATCHLEN", str(minlen)] + (["WITHMATCHLEN"] if withlen else [])
    pair2.check("LCS", "a", "b", "IDX", *opts)


def test_lcs_longer_strings(pair2: Pair) -> None:
    rnd = random.Random(3)
    for n, m in ((300, 500), (1000, 900), (2000, 10)):
        a = "".join(rnd.choice("ACGT") for _ in range(n))
        b = "".join(rnd.choice("ACGT") for _ in range(m))
        pair2.check("MSET", "a", a, "b", b)
        pair2.check("LCS", "a", "b")
        pair2.check("LCS", "a", "b", "IDX", "MINMATCHLEN", "3", "WITHMATCHLEN")


@given(st.binary(max_size=30), st.binary(max_size=30))
def test_lcs_table_is_the_classic_table(a: bytes, b: bytes) -> None:
    rows = _lcs_rows(a, b)
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    for i in range(len(a) + 1):
        for j in range(len(b) + 1):
            assert j - (rows[i] & ((1 << j) - 1)).bit_count() == table[i][j]


# -- arity of every command ---------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["GET"], ["SETNX", "k"], ["SETEX", "k", "1"], ["PSETEX", "k"], ["MGET"], ["GETSET", "k"],
     ["GETDEL"], ["GETDEL", "k", "x"], ["GETEX"], ["APPEND", "k"], ["STRLEN"], ["INCR"],
     ["DECR", "k", "1"], ["INCRBY", "k"], ["DECRBY", "k"], ["GETRANGE", "k", "0"],
     ["SETRANGE", "k", "0"], ["SUBSTR", "k"], ["MSETNX", "k"]],
)
def test_arity_errors(pair: Pair, argv: list[str]) -> None:
    pair.check(*argv)


# -- effects (in process) -------------------------------------------------------------------


class _Capture(EffectsCapture):
    """Commands run in process, with what they log."""


@pytest.fixture
def cap() -> _Capture:
    return _Capture()


def test_effects_set(cap: _Capture) -> None:
    now = int(time.time() * 1000)
    assert cap.effects_of("SET", "k", "v") == [[b"SET", b"k", b"v"]]
    (effect,) = cap.effects_of("SET", "k", "v", "EX", "10")
    assert effect[:4] == [b"SET", b"k", b"v", b"PXAT"] and len(effect) == 5
    assert abs(int(effect[4]) - (now + 10_000)) < 2000
    assert cap.server.keyspace.dbs[0].expires[b"k"] == int(effect[4])
    (effect,) = cap.effects_of("SET", "k", "v", "PX", "5000", "XX", "GET")
    assert effect[:4] == [b"SET", b"k", b"v", b"PXAT"] and abs(int(effect[4]) - now - 5000) < 2000
    assert cap.effects_of("SET", "k", "v", "EXAT", str(FAR_S)) == [
        [b"SET", b"k", b"v", b"PXAT", str(FAR_MS).encode()]
    ]
    assert cap.effects_of("SET", "k", "w", "PXAT", "99999999999999", "NX") == []
    assert cap.effects_of("SET", "k", "w", "KEEPTTL", "XX") == [[b"SET", b"k", b"w", b"KEEPTTL"]]
    assert cap.effects_of("SET", "k", "x", "NX", "GET") == []
    assert cap.effects_of("SET", "k2", "x", "NX", "GET") == [[b"SET", b"k2", b"x"]]
    assert cap.effects_of("SET", "k", "v", "EX", "0") == []
    assert cap.effects_of("SET", "k", "v", "PXAT", "1") == [[b"DEL", b"k"]]
    assert cap.run("EXISTS", "k") == 0
    assert cap.effects_of("SET", "k", "v", "PXAT", "1") == []  # nothing existed: nothing happened


def test_effects_setex_getex_incrbyfloat(cap: _Capture) -> None:
    now = int(time.time() * 1000)
    (effect,) = cap.effects_of("SETEX", "k", "10", "v")
    assert effect[:4] == [b"SET", b"k", b"v", b"PXAT"] and abs(int(effect[4]) - now - 10000) < 2000
    (effect,) = cap.effects_of("PSETEX", "k", "10", "v")
    assert effect[:4] == [b"SET", b"k", b"v", b"PXAT"] and abs(int(effect[4]) - now - 10) < 2000
    (effect,) = cap.effects_of("GETEX", "k", "EX", "100")
    assert effect[:2] == [b"PEXPIREAT", b"k"] and abs(int(effect[2]) - now - 100000) < 2000
    assert cap.effects_of("GETEX", "k", "PXAT", str(FAR_MS)) == [
        [b"PEXPIREAT", b"k", str(FAR_MS).encode()]
    ]
    assert cap.effects_of("GETEX", "k") == []
    assert cap.effects_of("GETEX", "k", "PERSIST") == [[b"PERSIST", b"k"]]
    assert cap.effects_of("GETEX", "k", "PERSIST") == []
    assert cap.effects_of("GETEX", "missing", "EX", "10") == []
    assert cap.effects_of("GETEX", "k", "EXAT", "1") == [[b"DEL", b"k"]]
    assert cap.effects_of("INCRBYFLOAT", "f", "10.5") == [[b"SET", b"f", b"10.5", b"KEEPTTL"]]
    assert cap.effects_of("INCRBYFLOAT", "f", "0.1") == [[b"SET", b"f", b"10.6", b"KEEPTTL"]]
    assert cap.effects_of("INCRBYFLOAT", "f", "inf") == []
    assert cap.effects_of("GETSET", "f", "x") == [[b"SET", b"f", b"x"]]


def test_effects_verbatim(cap: _Capture) -> None:
    for argv in (["MSET", "a", "1", "b", "2"], ["MSETNX", "c", "1"], ["APPEND", "a", "x"],
                 ["INCR", "b"], ["DECR", "b"], ["INCRBY", "b", "5"], ["DECRBY", "b", "2"],
                 ["SETRANGE", "a", "3", "yz"], ["SETNX", "d", "1"], ["GETDEL", "d"]):
        assert cap.effects_of(*argv) == [[x.encode() for x in argv]]
    # Nothing changed, nothing logged.
    for argv in (["MSETNX", "a", "1"], ["SETNX", "a", "1"], ["GETDEL", "zz"], ["INCR", "a"],
                 ["SETRANGE", "a", "0", ""], ["SETRANGE", "zz", "3", ""], ["GET", "a"],
                 ["MGET", "a", "b"], ["STRLEN", "a"], ["GETRANGE", "a", "0", "1"],
                 ["LCS", "a", "b"], ["SETRANGE", "a", "-1", "x"]):
        assert cap.effects_of(*argv) == []


class _Opaque:
    """A stand-in for another data type (WRONGTYPE paths, in process)."""

    TYPE_NAME = "list"


def test_wrongtype_in_process(cap: _Capture) -> None:
    cap.server.keyspace.dbs[0].data[b"h"] = _Opaque()
    for argv in (["GET", "h"], ["SET", "h", "v", "GET"], ["GETSET", "h", "v"], ["GETDEL", "h"],
                 ["GETEX", "h", "PERSIST"], ["APPEND", "h", "x"], ["SETRANGE", "h", "0", "x"],
                 ["STRLEN", "h"], ["GETRANGE", "h", "0", "1"], ["INCR", "h"],
                 ["INCRBYFLOAT", "h", "1"]):
        reply = cap.run(*argv)
        assert isinstance(reply, ErrorReply) and reply.message.startswith("WRONGTYPE"), argv
    assert cap.run("MGET", "h") == [None]
    reply = cap.run("LCS", "h", "x")
    assert isinstance(reply, ErrorReply) and "must contain string values" in reply.message
    assert cap.run("SETNX", "h", "x") == 0
    assert cap.run("SET", "h", "x") is not None and cap.run("GET", "h") == b"x"


def _snapshot(server: Server) -> list[tuple[dict[bytes, bytes], dict[bytes, int]]]:
    return [({k: bytes(v) for k, v in db.data.items()}, dict(db.expires))
            for db in server.keyspace.dbs]


def test_replay_of_effects_rebuilds_the_keyspace(cap: _Capture) -> None:
    rnd = random.Random(11)
    keys = ["a", "b", "c", "n", "f"]
    now_s = int(time.time())
    for _ in range(3000):
        k, k2 = rnd.choice(keys), rnd.choice(keys)
        v = rnd.choice(["x", "12", "-3", "1.5", "", "hello"])
        argv = rnd.choice([
            ["SET", k, v], ["SET", k, v, "EX", "100"], ["SET", k, v, "PX", "50000", "NX"],
            ["SET", k, v, "XX", "KEEPTTL", "GET"], ["SET", k, v, "EXAT", str(now_s + 500)],
            ["SET", k, v, "PXAT", "1"], ["SETEX", k, "100", v], ["PSETEX", k, "100000", v],
            ["SETNX", k, v], ["GETSET", k, v], ["GETDEL", k], ["GETEX", k, "EX", "30"],
            ["GETEX", k, "PERSIST"], ["GETEX", k, "EXAT", "1"], ["MSET", k, v, k2, v],
            ["MSETNX", k, v, k2, v], ["APPEND", k, v], ["SETRANGE", k, str(rnd.randint(0, 8)), v],
            ["INCR", k], ["DECRBY", k, "7"], ["INCRBYFLOAT", k, rnd.choice(["0.1", "-2.5e1"])],
            ["SELECT", str(rnd.randint(0, 2))],
        ])
        cap.run(*argv)
    fresh = Server()
    client = Client(fresh)
    for record in cap.records:
        for db, argv in record:
            fresh.select(client, db)
            reply, _ = execute(fresh, client, argv)
            assert not isinstance(reply, ErrorReply), (argv, reply)
    assert _snapshot(fresh) == _snapshot(cap.server)


# -- proto-max-bulk-len ---------------------------------------------------------------------


def test_size_limits_follow_proto_max_bulk_len(pair2: Pair) -> None:
    pair = pair2
    limit = 1024 * 1024  # the smallest value CONFIG SET accepts
    pair.check("CONFIG", "SET", "proto-max-bulk-len", str(limit))
    try:
        pair.check("SET", "k", "x" * (limit - 10))
        pair.check("APPEND", "k", "y" * 10)
        pair.check("APPEND", "k", "z")
        pair.check("STRLEN", "k")
        pair.check("SETRANGE", "k", str(limit - 1), "ab")
        pair.check("SETRANGE", "k", str(limit - 1), "a")
        pair.check("SETRANGE", "new", str(limit), "a")
        pair.check("SETRANGE", "new", str(limit - 1), "a")
        pair.check("STRLEN", "new")
        for n in (400, 511, 512, 600):
            pair.check("MSET", "a", "q" * n, "b", "r" * n)
            pair.check("LCS", "a", "b", "LEN")
    finally:
        pair.check("CONFIG", "SET", "proto-max-bulk-len", str(512 * 1024 * 1024))


def test_replayed_set_with_a_lapsed_pxat_is_applied_as_logged() -> None:
    """Recovery replays `SET k v PXAT t` even when t has passed: the expiry itself
    arrives later in the log as a DEL, and commands logged in between (APPEND...)
    must find the key."""
    from cairn.commands.replay import Replayer

    server = Server()
    replayer = Replayer(server)
    replayer.apply_record(1, [(0, [b"SET", b"k", b"v", b"PXAT", b"1000"]),
                              (0, [b"APPEND", b"k", b"w"])])
    db = server.keyspace.dbs[0]
    assert bytes(db.data[b"k"]) == b"vw" and db.expires[b"k"] == 1000
    replayer.apply_record(2, [(0, [b"DEL", b"k"])])
    assert b"k" not in db.data
