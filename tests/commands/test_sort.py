"""SORT and SORT_RO against redis-server (RESP2 and RESP3), plus effects and replay.

Orders are compared exactly wherever Redis defines them: sorted output, and
the native order of lists and sorted sets with ``BY nosort``. A set's own
iteration order is unspecified (and 7.0, the oracle, keeps small string sets
as hashtables where 7.2 uses listpacks), so unsorted set output is compared
unordered; with STORE Redis sorts it ALPHA, which is compared exactly.

Redis 7.2 vs the 7.0 oracle: SORT ... STORE makes a listpack list when the
result is small (7.2 converts the new quicklist; 7.0 has no listpack lists),
so the stored list's encoding is checked in process.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from harness import Pair
from inprocess import EffectsCapture

from cairn.commands.context import Client, Server
from cairn.commands.dispatch import execute
from cairn.commands.replay import Replayer
from cairn.commands.sort import sort_score
from cairn.protocol import ErrorReply
from cairn.types.list import List
from cairn.types.zset import ZSet

# -- numeric and ALPHA sorting of lists --------------------------------------------------------------


def test_sort_list_numeric(pair: Pair) -> None:
    pair.check("RPUSH", "l", "3", "1", "2", "10", "-5", "2.5", "1e2", "0x10", "007", "-0", "0")
    pair.check("SORT", "l")
    pair.check("SORT", "l", "DESC")
    pair.check("SORT", "l", "ASC")
    pair.check("SORT", "l", "desc", "asc")
    pair.check("SORT_RO", "l")
    pair.check("SORT_RO", "l", "DESC")
    pair.check("SORT", "missing")
    pair.check("SORT_RO", "missing", "DESC", "ALPHA")


def test_sort_numeric_ties_are_ordered_by_bytes(pair: Pair) -> None:
    pair.check("RPUSH", "l", "1.0", "1", "01", "1e0", "+1", " 1", "2", "0.5e1", "5")
    pair.check("SORT", "l")
    pair.check("SORT", "l", "DESC")
    pair.check("SORT", "l", "LIMIT", "1", "3")


def test_sort_strtod_forms(pair: Pair) -> None:
    good = ["12", " 12", "\t7", "+3", "-4.5", ".5", "5.", "1e3", "1E-3", "0x1A", "0X1p3", "inf",
            "-infinity", "INF", "", "1e-300", "0x1p-1022"]
    pair.check("RPUSH", "good", *good)
    assert pair.check("SORT", "good")[:1] == b"*"
    pair.check("RPUSH", "nul", "1", "12\x00junk")  # strtod stops at the NUL byte
    pair.check("SORT", "nul")
    for bad in ["12 ", "abc", "nan", "1,5", "--1", "0x", " ", "1e400", "-1e400", "1e-400", "4e-320"]:
        pair.check("DEL", "l")
        pair.check("RPUSH", "l", "1", bad)
        pair.check("SORT", "l")
        pair.check("SORT", "l", "STORE", "dst")
        pair.check("EXISTS", "dst")
        pair.check("SORT", "l", "ALPHA")
        _reset_oracle_errno(pair)


def _reset_oracle_errno(pair: Pair) -> None:
    """Redis reads SORT scores with strtod without clearing errno first, so after
    an overflow (ERANGE) every later non-integer score fails too, until some
    other call clears errno. A ZADD with a non-integer score does (string2d)."""
    pair.real.raw("ZADD", "errno-reset", "1.5", "x")
    pair.real.raw("DEL", "errno-reset")


def test_sort_score_parser() -> None:
    assert sort_score(b"12") == 12.0
    assert sort_score(b" 12") == 12.0
    assert sort_score(b"0x10") == 16.0
    assert sort_score(b"") == 0.0
    assert sort_score(b"-0") == 0.0
    assert sort_score(b"1e-310") is None  # underflow (ERANGE)
    assert sort_score(b"1e400") is None
    assert sort_score(b"nan") is None
    assert sort_score(b"12x") is None
    assert sort_score(b"inf") == float("inf")


def test_sort_alpha(pair: Pair) -> None:
    pair.check("RPUSH", "l", "banana", "apple", "Cherry", "10", "9", "", "apple", "b\xc3\xa9", "z")
    pair.check("SORT", "l", "ALPHA")
    pair.check("SORT", "l", "ALPHA", "DESC")
    pair.check("SORT", "l", "ALPHA", "LIMIT", "2", "3")
    pair.check("SORT", "l")  # not numbers
    pair.check("SORT", "l", "ALPHA", "STORE", "dst")
    pair.check("LRANGE", "dst", "0", "-1")


def test_sort_limit(pair: Pair) -> None:
    pair.check("RPUSH", "l", *[str(i) for i in range(20, 0, -1)])
    for offset, count in [("0", "5"), ("5", "5"), ("18", "5"), ("20", "1"), ("25", "3"), ("-3", "4"),
                          ("0", "0"), ("3", "0"), ("0", "-1"), ("4", "-7"), ("-10", "-10"),
                          ("19", "1"), ("0", "100"), ("9223372036854775807", "1"),
                          ("1", "9223372036854775807")]:
        pair.check("SORT", "l", "LIMIT", offset, count)
        pair.check("SORT", "l", "LIMIT", offset, count, "DESC")
        pair.check("SORT", "l", "LIMIT", offset, count, "BY", "nosort")
        pair.check("SORT", "l", "LIMIT", offset, count, "BY", "nosort", "DESC")
        pair.check("SORT", "l", "LIMIT", offset, count, "ALPHA", "STORE", "dst")
        pair.check("LRANGE", "dst", "0", "-1")
    pair.check("SORT", "l", "LIMIT", "0", "2", "LIMIT", "3", "2")  # the last one wins


# -- BY and GET ---------------------------------------------------------------------------------------


def _weights(pair: Pair) -> None:
    pair.check("RPUSH", "l", "a", "b", "c", "d", "e")
    pair.check("MSET", "w_a", "5", "w_b", "1", "w_c", "3", "w_d", "3")  # w_e missing
    pair.check("MSET", "n_a", "Alice", "n_b", "Bob", "n_c", "Carol", "n_d", "Dave", "n_e", "Eve")
    pair.check("HSET", "h_a", "age", "30", "name", "x")
    pair.check("HSET", "h_b", "age", "25")
    pair.check("HSET", "h_c", "age", "40")
    pair.check("HSET", "h_d", "name", "no age")
    pair.check("SET", "h_e", "not a hash")


def test_sort_by(pair: Pair) -> None:
    _weights(pair)
    pair.check("SORT", "l", "BY", "w_*")
    pair.check("SORT", "l", "BY", "w_*", "DESC")
    pair.check("SORT", "l", "BY", "w_*", "ALPHA")
    pair.check("SORT", "l", "BY", "n_*", "ALPHA", "DESC")
    pair.check("SORT", "l", "BY", "n_*")  # names are not numbers
    pair.check("SORT", "l", "BY", "h_*->age")
    pair.check("SORT", "l", "BY", "h_*->age", "DESC")
    pair.check("SORT", "l", "BY", "h_*->name", "ALPHA")
    pair.check("SORT", "l", "BY", "h_*->missing")
    pair.check("SORT", "l", "BY", "w_*", "LIMIT", "1", "2")
    pair.check("SORT", "l", "BY", "x*y")
    pair.check("SORT", "l", "BY", "nosort")
    pair.check("SORT", "l", "BY", "nosort", "DESC")
    pair.check("SORT", "l", "BY", "#")
    pair.check("SORT", "l", "BY", "w_*", "BY", "nosort")
    pair.check("SORT", "l", "BY", "nosort", "BY", "w_*")  # "don't sort" sticks
    pair.check("SORT", "l", "BY", "w_*->")  # "->" at the end is part of the key name
    pair.check("SET", "w_a->", "9")
    pair.check("SORT", "l", "BY", "w_*->")
    pair.check("SORT", "l", "BY", "*")
    pair.check("SORT_RO", "l", "BY", "h_*->age", "GET", "#", "GET", "h_*->age")


def test_sort_get(pair: Pair) -> None:
    _weights(pair)
    pair.check("SORT", "l", "BY", "w_*", "GET", "n_*")
    pair.check("SORT", "l", "BY", "w_*", "GET", "#", "GET", "n_*", "GET", "h_*->age", "GET", "w_*")
    pair.check("SORT", "l", "ALPHA", "GET", "nosuch_*")
    pair.check("SORT", "l", "ALPHA", "GET", "constant")
    pair.check("SORT", "l", "ALPHA", "GET", "h_*->")
    pair.check("SORT", "l", "ALPHA", "GET", "h_*->name", "DESC", "LIMIT", "0", "3")
    pair.check("SORT", "l", "ALPHA", "GET", "#", "LIMIT", "10", "3")
    pair.check("SORT", "missing", "GET", "#")
    pair.check("SORT", "l", "BY", "w_*", "GET", "#", "GET", "n_*", "STORE", "dst")
    pair.check("LRANGE", "dst", "0", "-1")
    pair.check("SORT", "l", "ALPHA", "GET", "h_*->age", "STORE", "dst")  # missing -> ""
    pair.check("LRANGE", "dst", "0", "-1")


def test_sort_alpha_ties_with_limit_follow_redis(pair: Pair) -> None:
    """Equal BY values: a full sort keeps the list order (a stable merge sort);
    with a LIMIT Redis' partial quicksort decides, and so does Cairn's."""
    rnd = random.Random(3)
    elements = [f"e{i:03d}" for i in range(150)]
    rnd.shuffle(elements)
    pair.check("RPUSH", "l", *elements)
    for e in elements:
        if rnd.random() < 0.8:
            pair.check("SET", f"w_{e}", rnd.choice(["a", "b", "c"]))
    pair.check("SORT", "l", "BY", "w_*", "ALPHA")
    pair.check("SORT", "l", "BY", "w_*", "ALPHA", "DESC")
    for offset, count in [("0", "10"), ("5", "20"), ("40", "7"), ("100", "60"), ("0", "149"),
                          ("1", "149")]:
        pair.check("SORT", "l", "BY", "w_*", "ALPHA", "LIMIT", offset, count)
        pair.check("SORT", "l", "BY", "w_*", "ALPHA", "LIMIT", offset, count, "DESC")
        pair.check("SORT", "l", "BY", "w_*", "LIMIT", offset, count)
        pair.check("SORT", "l", "BY", "w_*", "ALPHA", "LIMIT", offset, count, "STORE", "dst")
        pair.check("LRANGE", "dst", "0", "-1")


# -- sets and sorted sets ----------------------------------------------------------------------------------


def test_sort_sets(pair: Pair) -> None:
    pair.check("SADD", "ints", "5", "3", "-1", "100", "42")
    pair.check("SORT", "ints")
    pair.check("SORT", "ints", "DESC", "LIMIT", "1", "2")
    pair.check("SORT", "ints", "BY", "nosort")  # an intset iterates in order
    pair.check("SADD", "s", "pear", "apple", "fig", "kiwi", "date")
    pair.check("SORT", "s", "ALPHA")
    pair.check("SORT", "s", "ALPHA", "DESC", "LIMIT", "0", "2")
    pair.check("SORT", "s")
    pair.check_unordered("SORT", "s", "BY", "nosort")
    pair.check_unordered("SORT_RO", "s", "BY", "nosort", "GET", "#")
    # With STORE a set is sorted ALPHA, whatever BY says.
    pair.check("SORT", "s", "BY", "nosort", "STORE", "dst")
    pair.check("LRANGE", "dst", "0", "-1")
    pair.check("SORT", "s", "BY", "nosort", "DESC", "LIMIT", "1", "2", "STORE", "dst")
    pair.check("LRANGE", "dst", "0", "-1")
    pair.check("SORT", "ints", "BY", "nosort", "STORE", "dst")
    pair.check("LRANGE", "dst", "0", "-1")
    pair.check("MSET", "w_pear", "1", "w_apple", "2", "w_fig", "3", "w_kiwi", "0", "w_date", "9")
    pair.check("SORT", "s", "BY", "w_*")
    pair.check("SORT", "s", "BY", "w_*", "GET", "w_*", "GET", "#", "DESC")


def test_sort_sorted_sets(pair: Pair) -> None:
    pair.check("ZADD", "z", "3", "c", "1", "a", "2", "b", "5", "e", "4", "d", "2", "bb")
    pair.check("SORT", "z", "ALPHA")
    pair.check("SORT", "z", "BY", "nosort")
    pair.check("SORT", "z", "BY", "nosort", "DESC")
    for offset, count in [("0", "2"), ("1", "3"), ("4", "10"), ("6", "1"), ("10", "1"), ("0", "0")]:
        pair.check("SORT", "z", "BY", "nosort", "LIMIT", offset, count)
        pair.check("SORT", "z", "BY", "nosort", "DESC", "LIMIT", offset, count)
        pair.check("SORT", "z", "BY", "nosort", "DESC", "LIMIT", offset, count, "STORE", "dst")
        pair.check("LRANGE", "dst", "0", "-1")
    pair.check("SORT", "z")  # not numbers
    pair.check("ZADD", "nums", "1", "30", "2", "4", "3", "100")
    pair.check("SORT", "nums")
    pair.check("SORT", "nums", "DESC", "GET", "#")


def test_sort_converts_a_listpack_sorted_set(pair: Pair) -> None:
    pair.check("ZADD", "z", "1", "a", "2", "b")
    pair.check("OBJECT", "ENCODING", "z")
    pair.check("SORT_RO", "z", "BY", "nosort")
    pair.check("OBJECT", "ENCODING", "z")
    pair.check("ZADD", "z2", "1", "a")
    pair.check("SORT", "z2", "ALPHA", "LIMIT", "5", "1")
    pair.check("OBJECT", "ENCODING", "z2")


# -- STORE ------------------------------------------------------------------------------------------------


def test_sort_store(pair: Pair) -> None:
    pair.check("RPUSH", "l", "3", "1", "2")
    pair.check("SET", "dst", "old", "EX", "100")
    pair.check("SORT", "l", "STORE", "dst")
    pair.check("TYPE", "dst")
    pair.check("TTL", "dst")
    pair.check("LRANGE", "dst", "0", "-1")
    pair.check("SORT", "l", "DESC", "STORE", "dst", "STORE", "dst2")  # the last STORE wins
    pair.check("LRANGE", "dst", "0", "-1")
    pair.check("LRANGE", "dst2", "0", "-1")
    pair.check("SORT", "l", "LIMIT", "10", "5", "STORE", "dst")  # empty: deleted
    pair.check("EXISTS", "dst")
    pair.check("SORT", "missing", "STORE", "dst2")
    pair.check("EXISTS", "dst2")
    pair.check("SORT", "missing", "STORE", "dst2")
    pair.check("SORT", "l", "STORE", "l")  # onto itself
    pair.check("LRANGE", "l", "0", "-1")
    pair.check("SORT_RO", "l", "STORE", "dst")


def test_sort_store_encoding_follows_redis_7_2() -> None:
    server = Server()
    client = Client(server)

    def run(*args: str) -> Any:
        return execute(server, client, [a.encode() for a in args])[0]

    run("RPUSH", "l", *[str(i) for i in range(10)])
    assert run("SORT", "l", "STORE", "small") == 10
    small = server.keyspace.dbs[0].data[b"small"]
    assert type(small) is List and small.encoding() == "listpack"
    run("RPUSH", "big", *[("x" * 100) + str(i) for i in range(200)])
    assert run("SORT", "big", "ALPHA", "STORE", "large") == 200
    assert server.keyspace.dbs[0].data[b"large"].encoding() == "quicklist"


# -- errors ------------------------------------------------------------------------------------------------


def test_sort_errors(pair: Pair) -> None:
    pair.check("RPUSH", "l", "1", "2")
    pair.check("SET", "str", "x")
    pair.check("HSET", "h", "f", "v")
    pair.check("SORT", "str")
    pair.check("SORT", "h")
    pair.check("SORT_RO", "h")
    pair.check("SORT", "str", "BOGUS")  # syntax before type
    pair.check("SORT", "l", "BOGUS")
    pair.check("SORT", "l", "LIMIT", "1")
    pair.check("SORT", "l", "LIMIT", "x", "1")
    pair.check("SORT", "l", "LIMIT", "1", "x")
    pair.check("SORT", "l", "LIMIT", "1", "99999999999999999999")
    pair.check("SORT", "l", "BY")
    pair.check("SORT", "l", "GET")
    pair.check("SORT", "l", "STORE")
    pair.check("SORT_RO", "l", "STORE", "x")
    pair.check("SORT", "str", "LIMIT", "x", "1")
    pair.check("SORT")
    pair.check("SORT_RO")


# -- effects and replay --------------------------------------------------------------------------------


class _Capture(EffectsCapture):
    """Commands run in process, with what they log."""


def _b(*xs: str) -> list[bytes]:
    return [x.encode() for x in xs]


def test_effects() -> None:
    cap = _Capture()
    cap.run("RPUSH", "l", "3", "1", "2")
    cap.run("SADD", "s", "b", "a", "c")
    assert cap.effects_of("SORT", "l") == []
    assert cap.effects_of("SORT_RO", "l") == []
    assert cap.effects_of("SORT", "l", "STORE", "d") == [_b("DEL", "d"), _b("RPUSH", "d", "1", "2", "3")]
    assert cap.effects_of("SORT", "s", "BY", "nosort", "STORE", "d") == [
        _b("DEL", "d"), _b("RPUSH", "d", "a", "b", "c")]
    cap.run("SET", "k_1", "x")
    assert cap.effects_of("SORT", "l", "GET", "k_*", "STORE", "d") == [
        _b("DEL", "d"), _b("RPUSH", "d", "x", "", "")]
    assert cap.effects_of("SORT", "l", "LIMIT", "5", "1", "STORE", "d") == [_b("DEL", "d")]
    assert cap.effects_of("SORT", "l", "LIMIT", "5", "1", "STORE", "d") == []
    reply = cap.run("SORT", "s", "STORE", "d")
    assert isinstance(reply, ErrorReply) and "converted" in reply.message
    assert cap.effects_of("SORT", "s", "STORE", "d") == []


def _snapshot(server: Server) -> list[dict[bytes, Any]]:
    out = []
    for db in server.keyspace.dbs:
        view: dict[bytes, Any] = {}
        for key, value in db.data.items():
            if isinstance(value, List):
                view[key] = (value.encoding(), list(value))
            elif isinstance(value, ZSet):
                view[key] = list(value.order)
            elif isinstance(value, bytes | bytearray):
                view[key] = bytes(value)
            else:
                view[key] = (value.encoding(), sorted(value))
        out.append(view)
    return out


def test_replay_rebuilds_the_keyspace() -> None:
    cap = _Capture()
    rnd = random.Random(21)
    cap.run("CONFIG", "SET", "list-max-listpack-size", "4")
    for _ in range(2000):
        k = rnd.choice(["l", "s", "z"])
        dst = rnd.choice(["d1", "d2", "l"])
        v = rnd.choice(["1", "2", "10", "x", "y", "-3", "2.5"])
        argv = rnd.choice([
            ["RPUSH", "l", v], ["LPOP", "l"], ["SADD", "s", v], ["SREM", "s", v],
            ["ZADD", "z", str(rnd.randint(0, 5)), v], ["SET", f"w_{v}", str(rnd.randint(0, 3))],
            ["SORT", k, "ALPHA", "STORE", dst], ["SORT", k, "BY", "nosort", "STORE", dst],
            ["SORT", k, "BY", "w_*", "ALPHA", "LIMIT", "1", "3", "STORE", dst],
            ["SORT", k, "BY", "w_*", "GET", "#", "GET", "w_*", "STORE", dst],
            ["SORT", k, "DESC", "STORE", dst], ["DEL", dst],
        ])
        cap.run(*argv)
    fresh = Server()
    fresh.config.set("list-max-listpack-size", 4)
    replayer = Replayer(fresh)
    for lsn, record in enumerate(cap.records, 1):
        replayer.apply_record(lsn, record)
    assert _snapshot(fresh) == _snapshot(cap.server)
    assert any(isinstance(v, List) for v in cap.server.keyspace.dbs[0].data.values())


@pytest.mark.parametrize("n", [0, 1, 7, 50, 300])
def test_pqsort_matches_a_stable_sort_on_distinct_keys(n: int) -> None:
    from cairn.types.geohash import pqsort

    rnd = random.Random(n)
    values = rnd.sample(range(10 * n + 1), n)

    def cmp(a: int, b: int) -> int:
        return (a > b) - (a < b)

    for _ in range(10):
        a = list(values)
        lo = rnd.randrange(n) if n else 0
        hi = rnd.randrange(lo, n) if n else 0
        pqsort(a, cmp, lo, hi)
        assert a[lo:hi + 1] == sorted(values)[lo:hi + 1]


def test_sort_random_options(pair2: Pair) -> None:
    """Random SORT option combinations over lists, sets and sorted sets."""
    pair = pair2
    rnd = random.Random(31)
    values = [str(rnd.choice([rnd.randint(-50, 50), rnd.random() * 100])) for _ in range(60)]
    pair.check("RPUSH", "l", *values)
    pair.check("SADD", "s", *values)
    pair.check("ZADD", "z", *[x for i, v in enumerate(values) for x in (str(i % 9), v)])
    for v in values[:45]:
        pair.check("SET", f"w_{v}", str(rnd.randint(0, 20)))
        pair.check("HSET", f"h_{v}", "f", rnd.choice(["a", "b", "c", "d"]), "n", str(rnd.random()))
    for _ in range(300):
        key = rnd.choice(["l", "s", "z"])
        args: list[str] = []
        alpha = rnd.random() < 0.5
        by = rnd.choice([None, "w_*", "h_*->n", "h_*->f", "nosort"])
        if by == "h_*->f":
            alpha = True
        if key != "l" and by is not None:
            # A set's own order is unspecified: no "don't sort", and no ALPHA
            # sorting by keys that tie (numeric ties are broken by the element).
            by = rnd.choice(["w_*", "h_*->n"])
            alpha = False
        if by is not None:
            args += ["BY", by]
        if alpha:
            args.append("ALPHA")
        if rnd.random() < 0.5:
            args += ["LIMIT", str(rnd.randint(-2, 70)), str(rnd.randint(-1, 30))]
        if rnd.random() < 0.5:
            args.append(rnd.choice(["ASC", "DESC"]))
        for _ in range(rnd.choice([0, 0, 1, 2])):
            args += ["GET", rnd.choice(["#", "w_*", "h_*->f", "nope_*"])]
        if rnd.random() < 0.3:
            args += ["STORE", "dst"]
            pair.check("SORT", key, *args)
            pair.check("LRANGE", "dst", "0", "-1")
        else:
            pair.check(rnd.choice(["SORT", "SORT_RO"]), key, *args)
