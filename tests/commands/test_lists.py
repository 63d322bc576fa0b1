"""List commands against the real redis-server (RESP2 and RESP3), plus
in-process checks of the list type, its encoding and its effects."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from harness import Pair, RawClient
from inprocess import EffectsCapture

import cairn.commands  # noqa: F401  (registers every command)
from cairn.commands.context import Client, Server
from cairn.commands.dispatch import execute
from cairn.commands.lists import LEFT, RIGHT, move, mpop, pop
from cairn.protocol import ErrorReply
from cairn.types.list import LP_HEADER, List, entry_size, sizes

# -- pushes and pops ----------------------------------------------------------------------


def test_push_and_length(pair: Pair) -> None:
    pair.check("LPUSH", "l", "a")
    pair.check("LPUSH", "l", "b", "c", "d")
    pair.check("RPUSH", "l", "x", "y")
    pair.check("LRANGE", "l", "0", "-1")
    pair.check("LLEN", "l")
    pair.check("LLEN", "missing")
    pair.check("RPUSH", "n", "1", "-2", "300", "", "9223372036854775808")
    pair.check("LRANGE", "n", "0", "-1")
    pair.check("LPUSH", "l")  # arity
    pair.check("RPUSH", "l")
    pair.check("LLEN")


def test_pushx(pair: Pair) -> None:
    pair.check("LPUSHX", "l", "a")
    pair.check("RPUSHX", "l", "a", "b")
    pair.check("EXISTS", "l")
    pair.check("RPUSH", "l", "m")
    pair.check("LPUSHX", "l", "a", "b")
    pair.check("RPUSHX", "l", "y", "z")
    pair.check("LRANGE", "l", "0", "-1")
    pair.check("LPUSHX", "l")


def test_wrongtype(pair: Pair) -> None:
    pair.check("SET", "s", "v")
    pair.check("RPUSH", "l", "a", "b")
    for argv in (
        ["LPUSH", "s", "a"], ["RPUSH", "s", "a"], ["LPUSHX", "s", "a"], ["RPUSHX", "s", "a"],
        ["LPOP", "s"], ["RPOP", "s", "2"], ["LPOP", "s", "0"], ["LLEN", "s"],
        ["LRANGE", "s", "0", "-1"], ["LINDEX", "s", "0"], ["LINDEX", "s", "x"],
        ["LSET", "s", "0", "v"], ["LSET", "s", "x", "v"], ["LINSERT", "s", "BEFORE", "a", "b"],
        ["LREM", "s", "0", "a"], ["LTRIM", "s", "0", "1"], ["LPOS", "s", "a"],
        ["LPOS", "s", "a", "COUNT", "0"], ["LMOVE", "s", "l", "LEFT", "LEFT"],
        ["LMOVE", "l", "s", "LEFT", "LEFT"], ["RPOPLPUSH", "s", "l"], ["RPOPLPUSH", "l", "s"],
        ["LMPOP", "1", "s", "LEFT"], ["LMPOP", "2", "missing", "s", "RIGHT"],
    ):
        pair.check(*argv)
    # Nothing moved, nothing changed.
    pair.check("LRANGE", "l", "0", "-1")
    pair.check("GET", "s")
    # Argument errors come before the type check where Redis parses first.
    for argv in (["LPOP", "s", "x"], ["LRANGE", "s", "a", "0"], ["LREM", "s", "x", "a"],
                 ["LTRIM", "s", "a", "0"], ["LINSERT", "s", "bad", "a", "b"],
                 ["LPOS", "s", "a", "RANK", "0"], ["LMOVE", "s", "l", "UP", "LEFT"]):
        pair.check(*argv)


@pytest.mark.parametrize("cmd", ["LPOP", "RPOP"])
def test_pop(pair: Pair, cmd: str) -> None:
    pair.check(cmd, "l")
    pair.check(cmd, "l", "0")
    pair.check(cmd, "l", "1")
    pair.check(cmd, "l", "x")
    pair.check(cmd, "l", "-1")
    pair.check("RPUSH", "l", *"abcdefgh")
    pair.check(cmd, "l")
    pair.check(cmd, "l", "0")
    pair.check(cmd, "l", "1")
    pair.check(cmd, "l", "2")
    pair.check(cmd, "l", "-1")
    pair.check(cmd, "l", "x")
    pair.check(cmd, "l", "9223372036854775808")
    pair.check(cmd, "l", "1", "2")
    pair.check(cmd, "l", "100")
    pair.check("EXISTS", "l")
    pair.check("RPUSH", "l", "only")
    pair.check(cmd, "l")
    pair.check("EXISTS", "l")
    pair.check("RPUSH", "l", "1", "2", "3")
    pair.check(cmd, "l", "9223372036854775807")
    pair.check("EXISTS", "l")


def test_pop_both_ends_of_a_list_grown_at_both_ends(pair: Pair) -> None:
    for i in range(40):
        pair.check("LPUSH" if i % 3 else "RPUSH", "l", f"v{i}")
    for i in range(45):
        _check_pop(pair, "RPOP" if i % 2 else "LPOP", "l", str(i % 4) if i % 5 else None)


def _check_pop(pair: Pair, cmd: str, key: str, count: str | None) -> None:
    if count is None:
        pair.check(cmd, key)
    else:
        pair.check(cmd, key, count)


# -- reads ---------------------------------------------------------------------------------


def test_lrange_and_lindex(pair: Pair) -> None:
    pair.check("LRANGE", "l", "0", "-1")
    pair.check("LRANGE", "l", "x", "1")
    pair.check("LRANGE", "l", "0", "1.5")
    pair.check("LINDEX", "l", "0")
    pair.check("LINDEX", "l", "x")
    for i in range(6):
        pair.check("RPUSH" if i % 2 else "LPUSH", "l", f"e{i}")
    bounds = ["0", "1", "2", "5", "6", "7", "-1", "-2", "-6", "-7", "-100", "100",
              "9223372036854775807", "-9223372036854775808"]
    for start in bounds:
        for end in bounds:
            pair.check("LRANGE", "l", start, end)
        pair.check("LINDEX", "l", start)
    pair.check("LINDEX", "l", "x")
    pair.check("LINDEX", "l", "9223372036854775808")
    pair.check("LRANGE", "l", "0")


def test_big_list_positions(pair: Pair) -> None:
    rnd = random.Random(5)
    for i in range(0, 3000, 100):
        cmd = "LPUSH" if rnd.random() < 0.5 else "RPUSH"
        pair.check(cmd, "big", *[f"{j}" if j % 7 else f"x{j % 5}" for j in range(i, i + 100)])
    for _ in range(60):
        pair.check("LINDEX", "big", str(rnd.randint(-3100, 3100)))
        start = rnd.randint(-3100, 3100)
        pair.check("LRANGE", "big", str(start), str(start + rnd.randint(-5, 120)))
    for _ in range(20):
        pair.check("LSET", "big", str(rnd.randint(-3000, 2999)), f"set{rnd.random()}")
        pair.check("LINSERT", "big", rnd.choice(["BEFORE", "AFTER"]), str(rnd.randint(0, 3000)),
                   "ins")
    pair.check("LPOS", "big", "x3", "COUNT", "0")
    pair.check("LPOS", "big", "x3", "RANK", "-5", "COUNT", "7")
    pair.check("LREM", "big", "-20", "x1")
    pair.check("LREM", "big", "25", "x2")
    pair.check("LREM", "big", "3", "x4")
    pair.check("LREM", "big", "0", "ins")
    pair.check("LTRIM", "big", "3", "-4")
    pair.check("LRANGE", "big", "0", "-1")
    for _ in range(30):
        pair.check(rnd.choice(["LPOP", "RPOP"]), "big", str(rnd.randint(0, 50)))
    pair.check("LTRIM", "big", "1000", "1010")
    pair.check("LRANGE", "big", "0", "-1")


def test_lpos(pair: Pair) -> None:
    pair.check("LPOS", "l", "a")
    pair.check("LPOS", "l", "a", "COUNT", "0")
    pair.check("LPOS", "l", "a", "COUNT", "2")
    pair.check("LPOS", "l", "a", "RANK", "0")
    pair.check("RPUSH", "l", *"abcabcaab")
    for element in ("a", "b", "c", "z"):
        pair.check("LPOS", "l", element)
        for rank in ("1", "2", "3", "5", "-1", "-2", "-4", "9223372036854775807",
                     "-9223372036854775807"):
            pair.check("LPOS", "l", element, "RANK", rank)
            for count in ("0", "1", "2", "10"):
                pair.check("LPOS", "l", element, "RANK", rank, "COUNT", count)
                for maxlen in ("0", "1", "3", "8", "100"):
                    pair.check("LPOS", "l", element, "rank", rank, "count", count,
                               "maxlen", maxlen)
        pair.check("LPOS", "l", element, "MAXLEN", "4")
    pair.check("LPOS", "l", "a", "RANK", "1", "RANK", "-1")  # the last one wins
    for bad in (["RANK", "0"], ["RANK", "x"], ["RANK"], ["COUNT", "-1"], ["COUNT", "x"],
                ["COUNT"], ["MAXLEN", "-1"], ["MAXLEN", "x"], ["MAXLEN"], ["BOGUS", "1"],
                ["RANK", "9223372036854775808"], ["COUNT", "1", "RANK", "0"]):
        pair.check("LPOS", "l", "a", *bad)
        pair.check("LPOS", "missing", "a", *bad)


def test_lpos_rank_long_min_follows_redis_7_2(pair: Pair) -> None:
    # Redis 7.0 (the oracle) negates RANK -9223372036854775808 into -1 by overflow;
    # 7.2 refuses it (redis#12167). Cairn follows 7.2.
    pair.check("RPUSH", "l", "a", "a")
    reply = pair.cairn.raw("LPOS", "l", "a", "RANK", "-9223372036854775808")
    assert reply == (b"-ERR value is out of range, value must between -9223372036854775807 "
                     b"and 9223372036854775807\r\n")
    assert pair.real.raw("LPOS", "l", "a", "RANK", "-9223372036854775808") == b":1\r\n"


# -- changes in the middle -------------------------------------------------------------


def test_lset(pair: Pair) -> None:
    pair.check("LSET", "l", "0", "x")
    pair.check("LSET", "l", "x", "x")
    pair.check("RPUSH", "l", "a", "b", "c")
    for index in ("0", "2", "-1", "-3", "3", "-4", "x", "9223372036854775808", "100"):
        pair.check("LSET", "l", index, f"v{index}")
        pair.check("LRANGE", "l", "0", "-1")


def test_linsert(pair: Pair) -> None:
    pair.check("LINSERT", "l", "BEFORE", "a", "x")
    pair.check("LINSERT", "l", "middle", "a", "x")
    pair.check("RPUSH", "l", "a", "b", "a", "c")
    pair.check("LINSERT", "l", "BEFORE", "a", "x")
    pair.check("LINSERT", "l", "after", "a", "y")
    pair.check("LINSERT", "l", "AfTeR", "c", "z")
    pair.check("LINSERT", "l", "before", "c", "w")
    pair.check("LINSERT", "l", "BEFORE", "nope", "q")
    pair.check("LINSERT", "l", "AFTER", "nope", "q")
    pair.check("LINSERT", "l", "SIDEWAYS", "a", "q")
    pair.check("LRANGE", "l", "0", "-1")
    pair.check("LPUSH", "l2", "p1", "p2", "p3")  # lands in the pushed-left part
    pair.check("LINSERT", "l2", "BEFORE", "p2", "n")
    pair.check("LINSERT", "l2", "AFTER", "p1", "m")
    pair.check("LINSERT", "l2", "BEFORE", "p3", "o")
    pair.check("LRANGE", "l2", "0", "-1")


def test_lrem(pair: Pair) -> None:
    pair.check("LREM", "l", "0", "a")
    pair.check("LREM", "l", "x", "a")
    pair.check("LREM", "l", "1.0", "a")
    elements = [random.Random(3).choice("abc") for _ in range(60)]
    for count in ("1", "2", "-1", "-3", "0", "20", "-20", "9223372036854775807",
                  "-9223372036854775808"):
        pair.check("DEL", "l")
        pair.check("RPUSH", "l", *elements[:30])
        pair.check("LPUSH", "l", *elements[30:])
        for element in ("a", "b", "z"):
            pair.check("LREM", "l", count, element)
            pair.check("LRANGE", "l", "0", "-1")
        pair.check("LREM", "l", count, "c")
        pair.check("EXISTS", "l")


def test_ltrim(pair: Pair) -> None:
    pair.check("LTRIM", "l", "0", "1")
    pair.check("LTRIM", "l", "x", "1")
    pair.check("LTRIM", "l", "0", "y")
    bounds = ["0", "1", "3", "7", "8", "-1", "-3", "-8", "-9", "100", "-100"]
    for start in bounds:
        for end in bounds:
            pair.check("DEL", "l")
            pair.check("RPUSH", "l", "d", "e", "f", "g", "h")
            pair.check("LPUSH", "l", "c", "b", "a")
            pair.check("LTRIM", "l", start, end)
            pair.check("LRANGE", "l", "0", "-1")
            pair.check("EXISTS", "l")


def test_capped_list_pattern(pair: Pair) -> None:
    for i in range(300):
        pair.check("LPUSH", "log", f"entry{i}")
        pair.check("LTRIM", "log", "0", "99")
    pair.check("LLEN", "log")
    pair.check("LRANGE", "log", "0", "-1")


# -- moves -------------------------------------------------------------------------------


@pytest.mark.parametrize("wherefrom", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("whereto", ["LEFT", "right"])
def test_lmove(pair: Pair, wherefrom: str, whereto: str) -> None:
    pair.check("LMOVE", "src", "dst", wherefrom, whereto)
    pair.check("EXISTS", "dst")
    pair.check("RPUSH", "src", "1", "2", "3", "-7", "x")
    for _ in range(3):
        pair.check("LMOVE", "src", "dst", wherefrom, whereto)
    pair.check("LRANGE", "src", "0", "-1")
    pair.check("LRANGE", "dst", "0", "-1")
    for _ in range(3):
        pair.check("LMOVE", "src", "src", wherefrom, whereto)  # rotation
        pair.check("LRANGE", "src", "0", "-1")
    pair.check("LMOVE", "src", "dst", wherefrom, whereto)
    pair.check("LMOVE", "src", "dst", wherefrom, whereto)
    pair.check("EXISTS", "src")
    pair.check("LMOVE", "src", "dst", wherefrom, whereto)
    pair.check("RPUSH", "one", "solo")
    pair.check("LMOVE", "one", "one", wherefrom, whereto)
    pair.check("LRANGE", "one", "0", "-1")
    pair.check("LMOVE", "src", "dst", "up", whereto)
    pair.check("LMOVE", "dst", "src", wherefrom, "down")
    pair.check("LMOVE", "dst", "src", wherefrom)


def test_rpoplpush(pair: Pair) -> None:
    pair.check("RPOPLPUSH", "a", "b")
    pair.check("RPUSH", "a", "1", "2", "3")
    pair.check("RPOPLPUSH", "a", "b")
    pair.check("RPOPLPUSH", "a", "a")
    pair.check("LRANGE", "a", "0", "-1")
    pair.check("RPOPLPUSH", "a", "b")
    pair.check("RPOPLPUSH", "a", "b")
    pair.check("EXISTS", "a")
    pair.check("LRANGE", "b", "0", "-1")
    pair.check("RPOPLPUSH", "a")


def test_lmpop(pair: Pair) -> None:
    for argv in (["0", "l", "LEFT"], ["-1", "l", "LEFT"], ["x", "l", "LEFT"], ["2", "l", "LEFT"],
                 ["1", "l", "UP"], ["1", "l", "LEFT", "COUNT", "0"],
                 ["1", "l", "LEFT", "COUNT", "-1"], ["1", "l", "LEFT", "COUNT", "x"],
                 ["1", "l", "LEFT", "COUNT"], ["1", "l", "LEFT", "COUNT", "1", "COUNT", "1"],
                 ["1", "l", "LEFT", "foo"], ["1", "l", "left"], ["2", "a", "b", "RIGHT"],
                 ["1", "l"]):
        pair.check("LMPOP", *argv)
    pair.check("RPUSH", "b", "1", "2", "3", "4")
    pair.check("RPUSH", "c", "x", "y")
    pair.check("LMPOP", "3", "a", "b", "c", "LEFT")
    pair.check("LMPOP", "3", "a", "b", "c", "RIGHT", "COUNT", "2")
    pair.check("LMPOP", "3", "a", "b", "c", "left", "count", "10")
    pair.check("EXISTS", "b")
    pair.check("LMPOP", "2", "b", "c", "RIGHT", "COUNT", "1")
    pair.check("LMPOP", "2", "b", "c", "RIGHT", "COUNT", "9223372036854775807")
    pair.check("LMPOP", "2", "b", "c", "RIGHT")
    pair.check("LMPOP", "1", "c", "RIGHT", "COUNT", "9223372036854775808")
    pair.check("SET", "s", "v")
    pair.check("RPUSH", "c", "z")
    pair.check("LMPOP", "2", "c", "s", "LEFT")  # a list first: the string is not looked at
    pair.check("LMPOP", "2", "c", "s", "LEFT")  # now empty: WRONGTYPE


# -- WATCH -------------------------------------------------------------------------------


def _watch_outcome(pair: Pair, *argv: str) -> None:
    """Whether ``argv`` (run by the same client between WATCH and MULTI) breaks WATCH."""
    pair.check("WATCH", "l")
    pair.check(*argv)
    pair.check("MULTI")
    pair.check("PING")
    pair.check("EXEC")


def test_which_commands_touch_watched_keys(pair: Pair) -> None:
    pair.check("RPUSH", "l", "a", "b", "c")
    for argv in (["LTRIM", "l", "0", "-1"], ["LREM", "l", "0", "zz"], ["LREM", "l", "1", "b"],
                 ["LINSERT", "l", "BEFORE", "zz", "q"], ["LINSERT", "l", "BEFORE", "a", "q"],
                 ["LPOP", "l", "0"], ["LPOP", "l", "1"], ["LSET", "l", "0", "a"],
                 ["LSET", "l", "99", "a"], ["LPUSHX", "l", "n"], ["LMOVE", "l", "l", "LEFT", "LEFT"],
                 ["LRANGE", "l", "0", "-1"], ["LPOS", "l", "a"]):
        _watch_outcome(pair, *argv)


# -- COPY, encodings -----------------------------------------------------------------------


def test_copy_is_independent(pair: Pair) -> None:
    pair.check("RPUSH", "l", "a", "b", "c")
    pair.check("LPUSH", "l", "z")
    pair.check("COPY", "l", "m")
    pair.check("RPOP", "l")
    pair.check("LSET", "m", "0", "changed")
    pair.check("LRANGE", "l", "0", "-1")
    pair.check("LRANGE", "m", "0", "-1")
    pair.check("TYPE", "m")


def _debug_size(client: RawClient, key: str) -> tuple[int, int]:
    """(quicklist nodes, bytes of their listpacks) from DEBUG OBJECT on the oracle."""
    text = client.raw("DEBUG", "OBJECT", key).decode()
    nodes = int(re.search(r"ql_nodes:(\d+)", text).group(1))  # type: ignore[union-attr]
    size = int(re.search(r"ql_uncompressed_size:(\d+)", text).group(1))  # type: ignore[union-attr]
    return nodes, size


def test_listpack_entry_sizes_match_redis(pair: Pair) -> None:
    """The byte size Cairn tracks equals the listpack Redis builds for the same
    elements (one quicklist node: ql_uncompressed_size is that listpack's size)."""
    rnd = random.Random(7)
    samples = ["0", "127", "128", "-1", "-4096", "4095", "4096", "-4097", "32767", "-32768",
               "32768", "8388607", "-8388608", "8388608", "2147483647", "-2147483648",
               "2147483648", "9223372036854775807", "-9223372036854775808",
               "9223372036854775808", "01", "-0", "+1", " 1", "1 ", "", "abc", "1e3",
               "-", "0x10", "a" * 63, "b" * 64, "c" * 120, "d" * 125, "e" * 126, "f" * 200]
    for i, value in enumerate(samples):
        key = f"k{i}"
        pair.real.raw("RPUSH", key, value)
        assert _debug_size(pair.real, key) == (1, LP_HEADER + entry_size(value.encode())), value
    for round_ in range(20):
        values = [rnd.choice(samples) if rnd.random() < 0.5 else str(rnd.randint(-10**12, 10**12))
                  for _ in range(rnd.randint(1, 30))]
        key = f"r{round_}"
        pair.real.raw("RPUSH", key, *values)
        nodes, size = _debug_size(pair.real, key)
        assert nodes == 1 and size == LP_HEADER + sizes([v.encode() for v in values])
    # Sizes of long strings (2-byte length header, multi-byte back-length).
    assert entry_size(b"x" * 4095) == 4095 + 2 + 2
    assert entry_size(b"x" * 4096) == 4096 + 5 + 2
    assert entry_size(b"x" * 16400) == 16400 + 5 + 3


def _encoding(client: RawClient, key: str) -> bytes:
    return client.raw("OBJECT", "ENCODING", key)


@pytest.fixture
def cairn_only(pair2: Pair) -> Any:
    yield pair2.cairn
    pair2.cairn.raw("CONFIG", "SET", "list-max-listpack-size", "-2")


def test_oracle_reports_quicklist_for_every_list(pair2: Pair) -> None:
    # Redis 7.0 (the oracle) has no listpack lists: every list is a quicklist.
    # Redis 7.2 stores small lists as one listpack, and Cairn follows 7.2.
    pair2.check("RPUSH", "l", "a")
    assert _encoding(pair2.real, "l") == b"$9\r\nquicklist\r\n"
    assert _encoding(pair2.cairn, "l") == b"$8\r\nlistpack\r\n"


def test_encoding_size_limits_follow_redis_7_2(cairn_only: RawClient) -> None:
    c = cairn_only
    LP = b"$8\r\nlistpack\r\n"
    QL = b"$9\r\nquicklist\r\n"
    # -2: 8 KB. Before a push, Redis adds the raw length of the new elements to
    # the listpack's bytes (7 + entries) and converts when that passes 8192.
    c.raw("RPUSH", "l", "a" * 8000)  # entry 5 + 8000 + 2: listpack of 8014 bytes
    assert _encoding(c, "l") == LP
    c.raw("RPUSH", "l", "b" * 178)  # 8014 + 178 = 8192: not over; entry 2 + 178 + 2
    assert _encoding(c, "l") == LP
    c.raw("RPUSH", "l", "")  # 8196 + 0 > 8192
    assert _encoding(c, "l") == QL
    c.raw("LPOP", "l")  # 7 + 182 + 2 bytes left, under half the limit: back to listpack
    assert _encoding(c, "l") == LP
    c.raw("DEL", "l")
    # A multi-element push counts raw lengths and entries before any is added.
    c.raw("RPUSH", "l", *["x" * 1000] * 8)  # 7 + 8 * 1004 = 8039
    assert _encoding(c, "l") == LP
    c.raw("RPUSH", "l", "1" * 20, "2" * 20)  # 8039 + 40 raw (too big for integers): 8083
    assert _encoding(c, "l") == LP
    c.raw("RPUSH", "l", "y" * 109)  # 8083 + 109 = 8192; entry 2 + 109 + 1: 8195
    assert _encoding(c, "l") == LP
    c.raw("LPUSH", "l", "0")  # 8195 + 1 > 8192
    assert _encoding(c, "l") == QL
    # Shrinking: back when 7 + entries <= 4096.
    c.raw("LPOP", "l", "5")  # 8197 - 2 - 4 * 1004 = 4179
    assert _encoding(c, "l") == QL
    c.raw("RPOP", "l")  # 4067
    assert _encoding(c, "l") == LP
    # Other limits: -1 is 4 KB, -5 (and below) 64 KB.
    c.raw("DEL", "l")
    c.raw("CONFIG", "SET", "list-max-listpack-size", "-1")
    c.raw("RPUSH", "l", "z" * 4090)  # 7 + 4090 > 4096
    assert _encoding(c, "l") == QL
    c.raw("DEL", "l")
    c.raw("RPUSH", "l", "z" * 4089)
    assert _encoding(c, "l") == LP
    c.raw("CONFIG", "SET", "list-max-listpack-size", "-9")
    c.raw("DEL", "l")
    c.raw("RPUSH", "l", "z" * 65529)
    assert _encoding(c, "l") == LP
    c.raw("RPUSH", "l", "q")
    assert _encoding(c, "l") == QL


def test_encoding_count_limits_follow_redis_7_2(cairn_only: RawClient) -> None:
    c = cairn_only
    LP = b"$8\r\nlistpack\r\n"
    QL = b"$9\r\nquicklist\r\n"
    c.raw("CONFIG", "SET", "list-max-listpack-size", "4")
    c.raw("RPUSH", "l", "a", "b", "c", "d")
    assert _encoding(c, "l") == LP
    c.raw("LPUSH", "l", "e")
    assert _encoding(c, "l") == QL
    c.raw("RPOP", "l", "2")  # 3 left: more than half of 4
    assert _encoding(c, "l") == QL
    c.raw("RPOP", "l")  # 2 left
    assert _encoding(c, "l") == LP
    # A positive fill still caps a listpack at 8 KB.
    c.raw("RPUSH", "big", "x" * 8186)  # 7 + 8186 = 8193
    assert _encoding(c, "big") == QL
    # LSET and LINSERT convert before they know whether anything changes (7.2).
    c.raw("DEL", "l")
    c.raw("RPUSH", "l", "a", "b", "c", "d")
    assert c.raw("LSET", "l", "10", "x").startswith(b"-ERR index out of range")
    assert _encoding(c, "l") == QL
    c.raw("DEL", "l")
    c.raw("RPUSH", "l", "a", "b", "c", "d")
    assert c.raw("LINSERT", "l", "BEFORE", "nope", "x") == b":-1\r\n"
    assert _encoding(c, "l") == QL
    c.raw("LREM", "l", "1", "a")
    assert _encoding(c, "l") == QL
    c.raw("LTRIM", "l", "0", "1")
    assert _encoding(c, "l") == LP
    # LMOVE: the destination grows like a push; the source may shrink.
    c.raw("DEL", "l", "m")
    c.raw("RPUSH", "l", "1", "2", "3", "4", "5")
    c.raw("RPUSH", "m", "a", "b", "c", "d")
    c.raw("LMOVE", "l", "m", "LEFT", "LEFT")
    assert (_encoding(c, "l"), _encoding(c, "m")) == (QL, QL)
    c.raw("LMOVE", "l", "m", "LEFT", "LEFT")
    c.raw("LMOVE", "l", "m", "LEFT", "LEFT")
    assert _encoding(c, "l") == LP
    # 0 means one entry per node.
    c.raw("CONFIG", "SET", "list-max-listpack-size", "0")
    c.raw("RPUSH", "z", "a")
    assert _encoding(c, "z") == LP
    c.raw("RPUSH", "z", "b")
    assert _encoding(c, "z") == QL
    c.raw("RPOP", "z")
    assert _encoding(c, "z") == QL  # half of 1 is 0: never back


def test_snapshot_items_keep_the_encoding() -> None:
    small = List([b"a", b"1"])
    big = List([b"x"] * 10, packed=False)
    for value in (small, big):
        items = value.to_items()
        assert all(isinstance(item, bytes) for item in items)
        again = List.from_items(items)
        assert list(again) == list(value) and again.packed == value.packed
        assert again.nbytes == value.nbytes and len(again) == len(value)
        copied = value.copy()
        copied.push([b"new"], True, -2)
        assert list(value) != list(copied) and len(value) + 1 == len(copied)
    for bad in ([], [b"hashtable", b"a"]):
        with pytest.raises(ValueError):
            List.from_items(bad)


# -- the type against a plain Python list -------------------------------------------------


def test_list_type_matches_a_python_list() -> None:
    rnd = random.Random(12)
    for _ in range(30):
        obj = List()
        model: list[bytes] = []
        for _ in range(400):
            op = rnd.randrange(11)
            value = rnd.choice([b"a", b"b", b"17", b"-3", b"x" * 70])
            n = len(model)
            if op == 0:
                vals = [value] * rnd.randint(1, 3) + [b"q"]
                obj.push(vals, True, -2)
                model[:0] = vals[::-1]
            elif op == 1:
                obj.push_one(value, False, -2, len(value))
                model.append(value)
            elif op == 2 and n:
                assert obj.pop(True) == model.pop(0)
            elif op == 3 and n:
                assert obj.pop(False) == model.pop()
            elif op == 4 and n:
                k = rnd.randint(1, n + 2)
                left = rnd.random() < 0.5
                expect = model[:k] if left else model[::-1][:k]
                assert obj.pop_many(left, k) == expect
                model = model[k:] if left else model[: max(n - k, 0)]
            elif op == 5 and n:
                a = rnd.randrange(n)
                b = rnd.randrange(a, n)
                assert obj.range(a, b) == model[a : b + 1]
                assert obj.get(a) == model[a]
            elif op == 6 and n:
                i = rnd.randrange(n)
                obj.set(i, value)
                model[i] = value
            elif op == 7:
                i = rnd.randint(0, n)
                obj.insert(i, value)
                model.insert(i, value)
            elif op == 8 and n:
                left, right = rnd.randint(0, n), rnd.randint(0, n)
                obj.trim(left, right)
                model = model[left : max(n - right, left)]
            elif op == 9:
                count = rnd.choice([0, 1, 2, -1, -2, 30, -30])
                removed = obj.remove(value, count)
                positions = [i for i, v in enumerate(model) if v == value]
                if count < 0:
                    positions = positions[::-1]
                drop = set(positions[: abs(count)] if count else positions)
                model = [v for i, v in enumerate(model) if i not in drop]
                assert removed == len(drop)
            elif op == 10 and n:
                rank = rnd.choice([1, 2, -1, -3])
                count, maxlen = rnd.choice([0, 1, 2]), rnd.choice([0, 1, 5])
                found = [i for i, v in enumerate(model) if v == value]
                scan = maxlen or n
                if rank > 0:
                    found = [i for i in found if i < scan]
                else:
                    found = [i for i in found[::-1] if i >= n - scan]
                found = found[abs(rank) - 1 :]
                assert obj.positions(value, rank, count, maxlen) == (
                    found[:count] if count else found)
            assert list(obj) == model and len(obj) == len(model)
            assert obj.nbytes == sizes(model)


# -- effects: what the log records ------------------------------------------------------------


class _Capture(EffectsCapture):
    """Commands run in process, with what they log."""


@pytest.fixture
def cap() -> _Capture:
    return _Capture()


def _b(*args: str) -> list[bytes]:
    return [a.encode() for a in args]


def test_effects(cap: _Capture) -> None:
    for argv in (["RPUSH", "l", "a", "b", "c", "d", "e"], ["LPUSH", "l", "z"],
                 ["LPUSHX", "l", "y"], ["RPUSHX", "l", "x"], ["LPOP", "l"], ["RPOP", "l", "2"],
                 ["LSET", "l", "0", "q"], ["LINSERT", "l", "AFTER", "q", "r"],
                 ["LREM", "l", "0", "r"], ["LTRIM", "l", "0", "-1"], ["LTRIM", "l", "1", "-1"],
                 ["LMOVE", "l", "m", "LEFT", "RIGHT"], ["RPOPLPUSH", "l", "m"]):
        assert cap.effects_of(*argv) == [_b(*argv)], argv
    # Nothing changed: nothing logged.
    for argv in (["LPUSHX", "nx", "a"], ["LPOP", "nx"], ["LPOP", "l", "0"], ["LPOP", "nx", "3"],
                 ["LINSERT", "l", "BEFORE", "nope", "x"], ["LREM", "l", "0", "nope"],
                 ["LSET", "l", "99", "x"], ["LMOVE", "nx", "m", "LEFT", "LEFT"],
                 ["LMPOP", "1", "nx", "LEFT"], ["LRANGE", "l", "0", "-1"], ["LTRIM", "nx", "0", "1"]):
        assert cap.effects_of(*argv) == [], argv
    # LMPOP is logged as the pop it did, with the number of elements popped.
    cap.run("RPUSH", "k", "1", "2", "3")
    assert cap.effects_of("LMPOP", "3", "nx", "k", "l", "RIGHT", "COUNT", "10") == [
        _b("RPOP", "k", "3")]
    assert cap.effects_of("LMPOP", "2", "k", "m", "LEFT") == [_b("LPOP", "m", "1")]


def test_shared_pop_and_move_helpers(cap: _Capture) -> None:
    """The functions the blocking commands build on."""
    cap.run("RPUSH", "l", "a", "b", "c")
    c = cap.client
    space = cap.server.keyspace
    assert pop(c, b"nx", LEFT) is None
    assert pop(c, b"l", LEFT) == [b"a"]
    assert pop(c, b"l", RIGHT, 5, propagate=True) == [b"c", b"b"]
    assert space.take_effects() == [(0, _b("RPOP", "l", "2"))]
    assert cap.run("EXISTS", "l") == 0
    cap.run("RPUSH", "l", "a", "b")
    assert pop(c, b"l", RIGHT, propagate=True) == [b"b"]
    assert move(c, b"l", b"m", LEFT, RIGHT, propagate=True) == b"a"
    assert space.take_effects() == [(0, _b("RPOP", "l")),
                                    (0, _b("LMOVE", "l", "m", "LEFT", "RIGHT"))]
    assert move(c, b"l", b"m", LEFT, RIGHT) is None
    assert mpop(c, [b"l", b"m"], LEFT, 3) == [b"m", [b"a"]]
    assert mpop(c, [b"l", b"m"], LEFT, 3) is None
    cap.run("SET", "s", "v")
    for call in (lambda: pop(c, b"s", LEFT), lambda: move(c, b"s", b"m", LEFT, LEFT),
                 lambda: mpop(c, [b"s"], LEFT, 1)):
        with pytest.raises(ErrorReply, match="WRONGTYPE"):
            call()


def _snapshot(server: Server) -> list[dict[bytes, Any]]:
    """Every key's contents. Not the list encodings: like Redis, an LSET or LINSERT
    that fails can still convert a listpack, and that is not logged."""
    out = []
    for db in server.keyspace.dbs:
        out.append({k: (list(v) if isinstance(v, List) else bytes(v))
                    for k, v in db.data.items()})
    return out


def test_replay_of_effects_rebuilds_the_keyspace(cap: _Capture) -> None:
    rnd = random.Random(21)
    keys = ["a", "b", "c"]
    cap.run("CONFIG", "SET", "list-max-listpack-size", "5")
    for _ in range(4000):
        k, k2 = rnd.choice(keys), rnd.choice(keys)
        v = rnd.choice(["x", "y", "1", "-20", "z" * 30])
        n = str(rnd.randint(-4, 6))
        side, side2 = rnd.choice(["LEFT", "RIGHT"]), rnd.choice(["LEFT", "RIGHT"])
        argv = rnd.choice([
            ["LPUSH", k, v, v], ["RPUSH", k, v], ["LPUSHX", k, v], ["RPUSHX", k, v, v],
            ["LPOP", k], ["RPOP", k, str(rnd.randint(0, 3))], ["LSET", k, n, v],
            ["LINSERT", k, rnd.choice(["BEFORE", "AFTER"]), v, "ins"], ["LREM", k, n, v],
            ["LTRIM", k, n, str(rnd.randint(-4, 6))], ["LMOVE", k, k2, side, side2],
            ["RPOPLPUSH", k, k2], ["LMPOP", "2", k, k2, side, "COUNT", str(rnd.randint(1, 3))],
            ["SELECT", str(rnd.randint(0, 1))],
        ])
        cap.run(*argv)
    fresh = Server()
    fresh.config.values["list-max-listpack-size"] = 5
    client = Client(fresh)
    for record in cap.records:
        for db, argv in record:
            fresh.select(client, db)
            reply, _ = execute(fresh, client, argv)
            assert not isinstance(reply, ErrorReply), (argv, reply)
    assert _snapshot(fresh) == _snapshot(cap.server)


def test_long_lrange_replies_everywhere(pair):  # type: ignore[no-untyped-def]
    """Long LRANGE replies take the one-call encoder: plain, inside EXEC and from a script."""
    pair.check("DEL", "big")
    pair.check("RPUSH", "big", *[f"e{i}" for i in range(40)], "", "with\r\nnewline")
    pair.check("LRANGE", "big", "0", "-1")
    pair.check("LRANGE", "big", "3", "20")
    pair.check("MULTI")
    pair.check("LRANGE", "big", "0", "15")
    pair.check("LLEN", "big")
    pair.check("EXEC")
    pair.check("EVAL", "return redis.call('LRANGE', KEYS[1], 0, 30)", "1", "big")
    pair.check("DEL", "big")
