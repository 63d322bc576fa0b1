"""Random sequences of sorted-set commands against redis-server and Cairn.

A Hypothesis state machine sends the same command to both servers over raw
connections and asserts byte-identical replies; after every step it compares
each key's type, encoding and full contents.

Scores are drawn from values that Redis 7.0 (the oracle) and 7.2 print alike
(integers, halves, quarters, infinities), but arithmetic leaves that set: nine
ZINTERSTORE z 3 z z z WEIGHTS 2 -1 0.5 (x1.5 each) take 300 to 11533.0078125,
which 7.0 prints with "%.17g" and 7.2 (which Cairn follows) as
"1.15330078125e+4" (fpconv's exponent rule). Such runs made this test fail now and
then. So a reply that differs from the oracle's is parsed and compared by value,
and each score that differs must be exactly 7.2's spelling of the oracle's value
(``_same_modulo_format`` of test_zsets.py, whose score tests pin that spelling);
anything else still has to match byte for byte. Lex ranges are exercised on the small
keys only: on a skiplist with mixed scores Redis' answer depends on the random
node levels. ZADD is never given more pairs than zset-max-listpack-entries for a
key, where 7.2 converts up front and 7.0 does not (see test_zsets.py).
"""

from __future__ import annotations

from typing import Any

import hiredis
from fuzzbase import DifferentialMachine
from harness import ServerProcess
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from test_zsets import _same_modulo_format

KEYS = ["z0", "z1", "z2", "s"]
ZKEYS = ["z0", "z1", "z2"]
ENTRIES = 6  # zset-max-listpack-entries during the run, so both encodings occur

keys = st.sampled_from(KEYS)
zkeys = st.sampled_from(ZKEYS)
members = st.one_of(st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h", "ab", "", "\xff"]),
                    st.text("abc", min_size=1, max_size=3))
scores = st.one_of(
    st.integers(-20, 20).map(str),
    st.sampled_from(["1.5", "-0.25", "2.5", "inf", "-inf", "+inf", "0", "3e2", "x", "nan", "0x10"]),
)
bounds = st.one_of(
    st.integers(-20, 20).map(str), st.integers(-20, 20).map(lambda i: f"({i}"),
    st.sampled_from(["-inf", "+inf", "(-inf", "(+inf", "1.5", "(2.5", "x"]),
)
lex_bounds = st.one_of(
    st.sampled_from(["-", "+", "[", "(", "x"]),
    members.map(lambda m: "[" + m), members.map(lambda m: "(" + m),
)
ranks = st.one_of(st.integers(-12, 12), st.sampled_from([-(2**63), 2**63 - 1])).map(str)
limits = st.one_of(st.just(()), st.tuples(st.just("LIMIT"), st.integers(-2, 5).map(str),
                                          st.integers(-2, 5).map(str)))


def _parse(data: bytes) -> Any:
    reader = hiredis.Reader()
    reader.feed(data)
    return reader.gets()


class ZSetMachine(DifferentialMachine):
    @initialize(resp=st.sampled_from([2, 3]))
    def connect(self, resp: int) -> None:
        self.resp = resp
        self.open_clients(resp)
        self.same("FLUSHALL")
        self.same("CONFIG", "SET", "zset-max-listpack-entries", str(ENTRIES))
        self.same("SADD", "s", "a", "b", "x")

    def teardown(self) -> None:
        for client in (self.real, self.cairn):
            if client is not None:
                client.raw("CONFIG", "SET", "zset-max-listpack-entries", "128")
                client.close()

    def same(self, *args: Any) -> bytes:
        assert self.real is not None and self.cairn is not None
        expected = self.real.raw(*args)
        actual = self.cairn.raw(*args)
        if actual != expected:
            # Only a score spelled 7.2's way (see the module's docstring) may differ.
            try:
                _same_modulo_format(_parse(expected), _parse(actual), self.resp)
            except AssertionError as e:
                raise AssertionError(
                    f"{args!r}\n  redis: {expected!r}\n  cairn: {actual!r}") from e
        return actual

    def scan_unordered(self, *args: Any) -> None:
        """A one-call ZSCAN of a skiplist: same cursor, same (member, score) pairs."""
        assert self.real is not None and self.cairn is not None
        e, a = _parse(self.real.raw(*args)), _parse(self.cairn.raw(*args))
        if isinstance(e, list):
            assert isinstance(a, list) and a[0] == e[0], (args, e, a)
            e = sorted(zip(e[1][0::2], e[1][1::2], strict=True))
            a = sorted(zip(a[1][0::2], a[1][1::2], strict=True))
        assert repr(a) == repr(e), f"{args!r}\n  redis: {e!r}\n  cairn: {a!r}"

    def _is_small(self, key: str) -> bool:
        assert self.real is not None
        return self.real.raw("OBJECT", "ENCODING", key) == b"$8\r\nlistpack\r\n"

    @invariant()
    def keyspace_matches(self) -> None:
        if self.real is None:
            return
        for key in KEYS:
            # (the set "s" is left alone: Redis 7.0 has no listpack sets, 7.2 does)
            if self.same("TYPE", key) == b"+zset\r\n":
                self.same("OBJECT", "ENCODING", key)
                self.same("ZRANGE", key, "0", "-1", "WITHSCORES")

    # -- writes ------------------------------------------------------------------------------
    @rule(key=keys, flags=st.lists(st.sampled_from(["NX", "XX", "GT", "LT", "CH", "INCR"]),
                                   max_size=2, unique=True),
          pairs=st.lists(st.tuples(scores, members), min_size=1, max_size=ENTRIES))
    def zadd(self, key: str, flags: list[str], pairs: list[tuple[str, str]]) -> None:
        self.same("ZADD", key, *flags, *[x for p in pairs for x in p])

    @rule(key=keys, by=scores, member=members)
    def zincrby(self, key: str, by: str, member: str) -> None:
        self.same("ZINCRBY", key, by, member)

    @rule(key=keys, ms=st.lists(members, min_size=1, max_size=3))
    def zrem(self, key: str, ms: list[str]) -> None:
        self.same("ZREM", key, *ms)

    @rule(key=keys, cmd=st.sampled_from(["ZPOPMIN", "ZPOPMAX"]),
          count=st.one_of(st.just(None), st.integers(-1, 4)))
    def zpop(self, key: str, cmd: str, count: int | None) -> None:
        self.same(cmd, key, *([] if count is None else [str(count)]))

    @rule(ks_=st.lists(keys, min_size=1, max_size=3), where=st.sampled_from(["MIN", "MAX"]),
          count=st.one_of(st.just(()), st.integers(0, 4).map(lambda n: ("COUNT", str(n)))))
    def zmpop(self, ks_: list[str], where: str, count: tuple[str, ...]) -> None:
        self.same("ZMPOP", str(len(ks_)), *ks_, where, *count)

    @rule(key=keys, lo=ranks, hi=ranks)
    def zremrangebyrank(self, key: str, lo: str, hi: str) -> None:
        self.same("ZREMRANGEBYRANK", key, lo, hi)

    @rule(key=keys, lo=bounds, hi=bounds)
    def zremrangebyscore(self, key: str, lo: str, hi: str) -> None:
        self.same("ZREMRANGEBYSCORE", key, lo, hi)

    @rule(key=zkeys, lo=lex_bounds, hi=lex_bounds)
    def zremrangebylex(self, key: str, lo: str, hi: str) -> None:
        if self._is_small(key):
            self.same("ZREMRANGEBYLEX", key, lo, hi)

    @rule(op=st.sampled_from(["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]), dest=keys,
          srcs=st.lists(keys, min_size=1, max_size=3),
          weights=st.booleans(), agg=st.sampled_from([(), ("AGGREGATE", "MIN"), ("AGGREGATE", "MAX"),
                                                      ("AGGREGATE", "SUM")]))
    def store_op(self, op: str, dest: str, srcs: list[str], weights: bool,
                 agg: tuple[str, ...]) -> None:
        extra: list[str] = []
        if op != "ZDIFFSTORE":
            if weights:
                extra += ["WEIGHTS", *["2", "-1", "0.5"][: len(srcs)]]
            extra += list(agg)
        self.same(op, dest, str(len(srcs)), *srcs, *extra)

    @rule(dest=keys, src=keys, lo=ranks, hi=ranks, rev=st.booleans())
    def zrangestore(self, dest: str, src: str, lo: str, hi: str, rev: bool) -> None:
        self.same("ZRANGESTORE", dest, src, lo, hi, *(["REV"] if rev else []))

    @rule(dest=keys, src=keys, lo=bounds, hi=bounds, limit=limits)
    def zrangestore_byscore(self, dest: str, src: str, lo: str, hi: str,
                            limit: tuple[str, ...]) -> None:
        self.same("ZRANGESTORE", dest, src, lo, hi, "BYSCORE", *limit)

    # -- reads --------------------------------------------------------------------------------
    @rule(key=keys, ms=st.lists(members, min_size=1, max_size=3))
    def point_reads(self, key: str, ms: list[str]) -> None:
        self.same("ZCARD", key)
        self.same("ZSCORE", key, ms[0])
        self.same("ZMSCORE", key, *ms)
        self.same("ZRANK", key, ms[0])
        self.same("ZREVRANK", key, ms[-1])

    @rule(key=keys, lo=ranks, hi=ranks, rev=st.booleans(), ws=st.booleans())
    def zrange_rank(self, key: str, lo: str, hi: str, rev: bool, ws: bool) -> None:
        opts = (["REV"] if rev else []) + (["WITHSCORES"] if ws else [])
        self.same("ZRANGE", key, lo, hi, *opts)
        self.same("ZREVRANGE" if rev else "ZRANGE", key, lo, hi, *(["WITHSCORES"] if ws else []))

    @rule(key=keys, lo=bounds, hi=bounds, rev=st.booleans(), ws=st.booleans(), limit=limits)
    def zrange_score(self, key: str, lo: str, hi: str, rev: bool, ws: bool,
                     limit: tuple[str, ...]) -> None:
        ws_opt = ["WITHSCORES"] if ws else []
        if rev:
            self.same("ZRANGE", key, hi, lo, "BYSCORE", "REV", *ws_opt, *limit)
            self.same("ZREVRANGEBYSCORE", key, hi, lo, *ws_opt, *limit)
        else:
            self.same("ZRANGE", key, lo, hi, "BYSCORE", *ws_opt, *limit)
            self.same("ZRANGEBYSCORE", key, lo, hi, *ws_opt, *limit)
        self.same("ZCOUNT", key, lo, hi)

    @rule(key=zkeys, lo=lex_bounds, hi=lex_bounds, rev=st.booleans(), limit=limits)
    def zrange_lex(self, key: str, lo: str, hi: str, rev: bool, limit: tuple[str, ...]) -> None:
        if not self._is_small(key):
            return
        if rev:
            self.same("ZRANGE", key, hi, lo, "BYLEX", "REV", *limit)
            self.same("ZREVRANGEBYLEX", key, hi, lo, *limit)
        else:
            self.same("ZRANGE", key, lo, hi, "BYLEX", *limit)
            self.same("ZRANGEBYLEX", key, lo, hi, *limit)
        self.same("ZLEXCOUNT", key, lo, hi)

    @rule(op=st.sampled_from(["ZUNION", "ZINTER", "ZDIFF"]),
          srcs=st.lists(keys, min_size=1, max_size=3), weights=st.booleans(),
          agg=st.sampled_from([(), ("AGGREGATE", "MIN"), ("AGGREGATE", "MAX")]))
    def read_op(self, op: str, srcs: list[str], weights: bool, agg: tuple[str, ...]) -> None:
        extra: list[str] = []
        if op != "ZDIFF":
            if weights:
                extra += ["WEIGHTS", *["3", "-2", "1.5"][: len(srcs)]]
            extra += list(agg)
        self.same(op, str(len(srcs)), *srcs, *extra, "WITHSCORES")
        self.same("ZINTERCARD", str(len(srcs)), *srcs, "LIMIT", "2")

    @rule(key=keys, count=st.integers(-3, 3))
    def zrandmember(self, key: str, count: int) -> None:
        assert self.real is not None and self.cairn is not None
        size = self.real.call("ZCARD", key) if self.real.call("TYPE", key) == b"zset" else 0
        if count >= size or count == 0 or size == 0:
            self.same("ZRANDMEMBER", key, str(count), "WITHSCORES")
        else:
            got = self.cairn.call("ZRANDMEMBER", key, str(count))
            assert isinstance(got, list) and len(got) == abs(count)

    @rule(key=keys, match=st.sampled_from([None, "a*", "*b*", "?"]))
    def zscan(self, key: str, match: str | None) -> None:
        opts = ["COUNT", "1000"] + (["MATCH", match] if match else [])
        if self._is_small(key):
            self.same("ZSCAN", key, "0", *opts)
        else:
            self.scan_unordered("ZSCAN", key, "0", *opts)


def test_zset_state_machine(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    class Machine(ZSetMachine):
        real_port = redis_server.port
        cairn_port = cairn_server.port

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=150,
            stateful_step_count=40,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
