"""Random sequences of set commands against redis-server and Cairn.

A Hypothesis state machine sends the same commands to both servers over raw
connections. Replies are compared byte for byte where Redis' order is defined:
an intset iterates in numeric order, so replies built from intsets (or, for
SUNION/SDIFF, all-integer results, which Redis builds as an intset) must match
exactly; other multi-member replies are compared unordered.

The oracle is Redis 7.0, which has no listpack sets (Cairn follows 7.2), so
encodings are compared where the two versions agree: an intset is an intset on
both sides; a set too big or with members too long for a listpack is a
hashtable on both.

SPOP with a count smaller than the set is random: it runs on Cairn and the
members it popped are removed from the oracle with SREM, so both stay equal.
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

KEYS = ["s0", "s1", "s2", "s3"]
INTSET_MAX = 12  # set-max-intset-entries during the run, so intsets overflow often

keys = st.sampled_from(KEYS)
member = st.one_of(
    st.integers(-20, 40).map(str),
    st.sampled_from(["a", "b", "c", "hello", "01", "-0", "9223372036854775807",
                     "-9223372036854775808", "9223372036854775808", "", "x" * 70]),
)
member_lists = st.lists(member, min_size=1, max_size=6)


def _parse(data: bytes) -> Any:
    reader = hiredis.Reader()
    reader.feed(data)
    return reader.gets()


def _is_int(value: bytes) -> bool:
    try:
        number = int(value)
    except ValueError:
        return False
    return str(number).encode() == value and -(2**63) <= number < 2**63


class SetMachine(DifferentialMachine):
    def __init__(self) -> None:
        super().__init__()
        self.resp = 2

    @initialize(resp=st.sampled_from([2, 3]))
    def connect(self, resp: int) -> None:
        self.resp = resp
        self.open_clients(resp)
        self.same("FLUSHALL")
        self.same("CONFIG", "SET", "set-max-intset-entries", str(INTSET_MAX))

    def teardown(self) -> None:
        if self.real is not None:
            self.same("CONFIG", "SET", "set-max-intset-entries", "512")
        self.close_clients()

    # -- helpers -------------------------------------------------------------
    def both(self, *args: Any) -> tuple[bytes, bytes]:
        assert self.real is not None and self.cairn is not None
        return self.real.raw(*args), self.cairn.raw(*args)

    def same(self, *args: Any) -> bytes:
        expected, actual = self.both(*args)
        assert actual == expected, f"{args!r}\n  redis: {expected!r}\n  cairn: {actual!r}"
        return actual

    def same_unordered(self, *args: Any) -> Any:
        expected, actual = self.both(*args)
        if expected[:1] in (b"-", b":", b"$", b"_"):
            assert actual == expected, f"{args!r}\n  redis: {expected!r}\n  cairn: {actual!r}"
            return _parse(actual)
        assert actual[:1] == expected[:1], f"{args!r}\n  redis: {expected!r}\n  cairn: {actual!r}"
        e, a = _parse(expected), _parse(actual)
        assert sorted(a) == sorted(e), f"{args!r}\n  redis: {e!r}\n  cairn: {a!r}"
        return a

    def intset_on_both(self, key: str) -> bool:
        real, ours = self.both("OBJECT", "ENCODING", key)
        return real == ours == b"$6\r\nintset\r\n"

    # -- writes ----------------------------------------------------------------
    @rule(key=keys, items=member_lists)
    def sadd(self, key: str, items: list[str]) -> None:
        self.same("SADD", key, *items)

    @rule(key=keys, base=st.integers(0, 3))
    def sadd_bulk(self, key: str, base: int) -> None:
        # Enough members for a hashtable in 7.0 and 7.2 alike.
        self.same("SADD", key, *[f"bulk{base}:{i}" for i in range(130)])

    @rule(key=keys, items=member_lists)
    def srem(self, key: str, items: list[str]) -> None:
        self.same("SREM", key, *items)

    @rule(src=keys, dst=keys, item=member)
    def smove(self, src: str, dst: str, item: str) -> None:
        self.same("SMOVE", src, dst, item)

    @rule(cmd=st.sampled_from(["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), dst=keys,
          sources=st.lists(keys, min_size=1, max_size=3))
    def store(self, cmd: str, dst: str, sources: list[str]) -> None:
        self.same(cmd, dst, *sources)

    @rule(key=keys)
    def spop_one(self, key: str) -> None:
        real_card = _parse(self.same("SCARD", key))
        if not isinstance(real_card, int) or real_card <= 1:
            self.same("SPOP", key)
            return
        assert self.real is not None and self.cairn is not None
        before = set(_parse(self.cairn.raw("SMEMBERS", key)))
        popped = _parse(self.cairn.raw("SPOP", key))
        assert popped in before
        self.real.raw("SREM", key, popped)

    @rule(key=keys, count=st.integers(0, 12))
    def spop_count(self, key: str, count: int) -> None:
        real_card = _parse(self.same("SCARD", key))
        if not isinstance(real_card, int) or count == 0 or count >= real_card:
            # Deterministic: nothing, or the whole set (SUNION's order).
            expected, actual = self.both("SPOP", key, str(count))
            e, a = _parse(expected), _parse(actual)
            if not isinstance(e, list) or all(_is_int(m) for m in e):
                assert actual == expected, (key, count, expected, actual)
            else:
                assert actual[:1] == expected[:1] and sorted(a) == sorted(e), (e, a)
            return
        assert self.real is not None and self.cairn is not None
        before = set(_parse(self.cairn.raw("SMEMBERS", key)))
        raw = self.cairn.raw("SPOP", key, str(count))
        assert raw[:1] == (b"~" if self.resp == 3 else b"*")
        popped = _parse(raw)
        assert len(popped) == count == len(set(popped)) and set(popped) <= before
        self.real.raw("SREM", key, *popped)

    @rule(key=keys)
    def set_string(self, key: str) -> None:
        self.same("SET", key, "string")

    @rule(key=keys)
    def delete(self, key: str) -> None:
        self.same("DEL", key)

    @rule(key=keys)
    def expire(self, key: str) -> None:
        self.same("EXPIRE", key, "1000")

    @rule(src=keys, dst=keys)
    def copy(self, src: str, dst: str) -> None:
        self.same("COPY", src, dst, "REPLACE")

    # -- reads -------------------------------------------------------------------
    @rule(key=keys, item=member)
    def sismember(self, key: str, item: str) -> None:
        self.same("SISMEMBER", key, item)

    @rule(key=keys, items=member_lists)
    def smismember(self, key: str, items: list[str]) -> None:
        self.same("SMISMEMBER", key, *items)

    @rule(key=keys)
    def scard(self, key: str) -> None:
        self.same("SCARD", key)

    @rule(sources=st.lists(keys, min_size=1, max_size=3))
    def sinter(self, sources: list[str]) -> None:
        if all(self.intset_on_both(k) for k in sources):
            self.same("SINTER", *sources)
        else:
            self.same_unordered("SINTER", *sources)

    @rule(cmd=st.sampled_from(["SUNION", "SDIFF"]), sources=st.lists(keys, min_size=1, max_size=3))
    def sunion_sdiff(self, cmd: str, sources: list[str]) -> None:
        expected, actual = self.both(cmd, *sources)
        e = _parse(expected)
        if not isinstance(e, list) or (all(_is_int(m) for m in e) and len(e) <= 512):
            assert actual == expected, (cmd, sources, expected, actual)
        else:
            self.same_unordered(cmd, *sources)

    @rule(sources=st.lists(keys, min_size=1, max_size=3),
          limit=st.one_of(st.none(), st.integers(-1, 5)))
    def sintercard(self, sources: list[str], limit: int | None) -> None:
        extra = [] if limit is None else ["LIMIT", str(limit)]
        self.same("SINTERCARD", str(len(sources)), *sources, *extra)

    @rule(key=keys, count=st.one_of(st.none(), st.integers(-15, 15)))
    def srandmember(self, key: str, count: int | None) -> None:
        args = ["SRANDMEMBER", key] + ([] if count is None else [str(count)])
        expected, actual = self.both(*args)
        assert actual[:1] == expected[:1], (args, expected, actual)
        if expected[:1] in (b"-", b"_") or expected == b"$-1\r\n":
            assert actual == expected
            return
        assert self.cairn is not None
        universe = set(_parse(self.cairn.raw("SMEMBERS", key)))
        e, a = _parse(expected), _parse(actual)
        if count is None:
            assert a in universe
            return
        assert len(a) == len(e)
        assert set(a) <= universe
        if count > 0:
            assert len(set(a)) == len(a)

    @rule(key=keys, count=st.sampled_from([None, "1", "3", "50"]),
          pattern=st.sampled_from([None, "*", "1*", "*a*", "bulk1:*"]))
    def sscan(self, key: str, count: str | None, pattern: str | None) -> None:
        options = ([] if count is None else ["COUNT", count]) + ([] if pattern is None else ["MATCH", pattern])
        results = []
        for client in (self.real, self.cairn):
            assert client is not None
            cursor: Any = b"0"
            seen: list[bytes] = []
            for _ in range(10_000):
                reply = _parse(client.raw("SSCAN", key, cursor, *options))
                if isinstance(reply, hiredis.ReplyError):
                    seen = [str(reply).encode()]
                    break
                cursor, found = reply
                seen.extend(found)
                if cursor == b"0":
                    break
            results.append(sorted(set(seen)))
        assert results[0] == results[1], (key, options)

    # -- after every step ----------------------------------------------------------
    @invariant()
    def keyspace_agrees(self) -> None:
        if self.real is None:
            return
        for key in KEYS:
            kind = self.same("TYPE", key)
            self.same("EXISTS", key)
            if kind != b"+set\r\n":
                continue
            card = _parse(self.same("SCARD", key))
            real_enc, our_enc = (_parse(r) for r in self.both("OBJECT", "ENCODING", key))
            if real_enc == b"intset" or our_enc == b"intset":
                assert real_enc == our_enc, (key, real_enc, our_enc)
                self.same("SMEMBERS", key)
                continue
            got = self.same_unordered("SMEMBERS", key)
            if card > 128 or any(len(m) > 64 for m in got):
                assert real_enc == our_enc == b"hashtable", (key, real_enc, our_enc)
            assert our_enc in (b"listpack", b"hashtable")


def test_set_state_machine(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    class Machine(SetMachine):
        real_port = redis_server.port
        cairn_port = cairn_server.port

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=120,
            stateful_step_count=40,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
