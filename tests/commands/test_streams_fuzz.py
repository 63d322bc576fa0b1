"""Random sequences of stream commands against redis-server and Cairn.

Explicit IDs only (generated IDs differ between servers), small listpack nodes
so approximate trimming and node bookkeeping are exercised, consumer groups
with non-blocking XREADGROUP, XACK, XCLAIM (IDLE 0 / JUSTID) and XPENDING, and
DUMP / RESTORE (byte-identical dumps; the oracle's payload restored here). After
every step XINFO STREAM (no times in it) and XINFO GROUPS must match; XINFO
STREAM FULL is compared with its time fields removed.
"""

from __future__ import annotations

from typing import Any

import hiredis
from fuzzbase import DifferentialMachine
from harness import ServerProcess
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule, run_state_machine_as_test

KEYS = ["s0", "s1"]
GROUPS = ["g0", "g1"]
CONSUMERS = ["c0", "c1", "c2"]

keys = st.sampled_from(KEYS)
groups = st.sampled_from(GROUPS)
consumers = st.sampled_from(CONSUMERS)
ms = st.integers(0, 40)
seqs = st.integers(0, 3)
ids = st.builds(lambda m, s: f"{m}-{s}", ms, seqs)
any_id = st.one_of(ids, ms.map(str), st.sampled_from(["0", "0-0", "-", "+", "$", "bad", "(3"]))
fields = st.lists(st.sampled_from(["f", "g", "12", "x" * 20]), min_size=1, max_size=3)

# Fields whose values are clock times (or 7.2-only): dropped before comparing.
# Redis 7.2 creates the consumer of an XREADGROUP that finds nothing to read (7.0
# does not): consumer counts are dropped and consumers without pending entries
# left out, and XGROUP CREATECONSUMER uses a name no read uses.
TIMED = {b"seen-time", b"active-time", b"consumers"}


def _parse(data: bytes) -> Any:
    reader = hiredis.Reader()
    reader.feed(data)
    return reader.gets()


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in TIMED:
                continue
            if k == b"pending" and isinstance(v, list):
                # group PEL: [id, consumer, time, count]; consumer PEL: [id, time, count]
                v = [[e[0], *e[1:-2], e[-1]] for e in v]
            out[k] = _strip(v)
        k_consumers = value.get(b"consumers")
        if isinstance(k_consumers, list):
            out[b"consumer-list"] = [_strip(x) for x in k_consumers if _strip(x).get(b"pel-count")]
        return out
    if isinstance(value, list):
        if value and len(value) % 2 == 0 and all(isinstance(k, bytes) for k in value[::2]) and \
                b"name" in value[::2]:
            return _strip(dict(zip(value[::2], value[1::2], strict=True)))
        if value and len(value) % 2 == 0 and value[:1] == [b"length"]:
            return _strip(dict(zip(value[::2], value[1::2], strict=True)))
        return [_strip(v) for v in value]
    return value


class StreamMachine(DifferentialMachine):
    @initialize(resp=st.sampled_from([2, 3]))
    def connect(self, resp: int) -> None:
        self.open_clients(resp)
        self.same("FLUSHALL")
        self.same("CONFIG", "SET", "stream-node-max-entries", "4")

    def teardown(self) -> None:
        if self.real is not None and self.cairn is not None:
            self.same("CONFIG", "SET", "stream-node-max-entries", "100")
        self.close_clients()

    def same_stripped(self, *args: Any) -> None:
        assert self.real is not None and self.cairn is not None
        expected, actual = _parse(self.real.raw(*args)), _parse(self.cairn.raw(*args))
        if isinstance(expected, hiredis.ReplyError):
            assert str(actual) == str(expected), (args, expected, actual)
            return
        assert _strip(actual) == _strip(expected), f"{args!r}\n  redis: {expected!r}\n  cairn: {actual!r}"

    @rule(key=keys, entry=ids, f=fields, trim=st.sampled_from(
        [(), ("MAXLEN", "5"), ("MAXLEN", "~", "3"), ("MINID", "~", "10"), ("MINID", "12"),
         ("NOMKSTREAM",), ("MAXLEN", "~", "2", "LIMIT", "4")]))
    def xadd(self, key: str, entry: str, f: list[str], trim: tuple[str, ...]) -> None:
        args: list[str] = []
        for name in f:
            args += [name, "v" + name]
        self.same("XADD", key, *trim, entry, *args)

    @rule(key=keys, m=ms)
    def xadd_ms_star(self, key: str, m: int) -> None:
        self.same("XADD", key, f"{m}-*", "f", "v")

    @rule(key=keys, victims=st.lists(ids, min_size=1, max_size=3))
    def xdel(self, key: str, victims: list[str]) -> None:
        self.same("XDEL", key, *victims)

    @rule(key=keys, how=st.sampled_from(["MAXLEN", "MINID"]), approx=st.booleans(),
          n=st.integers(0, 12))
    def xtrim(self, key: str, how: str, approx: bool, n: int) -> None:
        self.same("XTRIM", key, how, "~" if approx else "=", str(n) if how == "MAXLEN" else f"{n * 3}")

    @rule(key=keys, a=any_id, b=any_id, count=st.sampled_from([None, "0", "2", "5"]),
          rev=st.booleans())
    def xrange(self, key: str, a: str, b: str, count: str | None, rev: bool) -> None:
        extra = ["COUNT", count] if count is not None else []
        self.same("XREVRANGE" if rev else "XRANGE", key, a, b, *extra)

    @rule(key=keys, group=groups, start=st.sampled_from(["0", "$", "5", "20-1"]),
          mk=st.booleans())
    def xgroup_create(self, key: str, group: str, start: str, mk: bool) -> None:
        self.same("XGROUP", "CREATE", key, group, start, *(["MKSTREAM"] if mk else []))

    @rule(key=keys, group=groups, start=st.sampled_from(["0", "$", "7", "15-2"]),
          read=st.sampled_from([None, "0", "3"]))
    def xgroup_setid(self, key: str, group: str, start: str, read: str | None) -> None:
        self.same("XGROUP", "SETID", key, group, start, *(["ENTRIESREAD", read] if read else []))

    @rule(key=keys, group=groups, consumer=consumers,
          op=st.sampled_from(["DESTROY", "CREATECONSUMER", "DELCONSUMER"]))
    def xgroup_other(self, key: str, group: str, consumer: str, op: str) -> None:
        if op == "DESTROY":
            self.same("XGROUP", op, key, group)
        elif op == "CREATECONSUMER":
            self.same("XGROUP", op, key, group, "made-" + consumer)
        else:
            self.same("XGROUP", op, key, group, consumer)

    @rule(key=keys, group=groups, consumer=consumers, count=st.sampled_from([None, "1", "3"]),
          start=st.sampled_from([">", ">", "0", "5"]), noack=st.booleans())
    def xreadgroup(self, key: str, group: str, consumer: str, count: str | None, start: str,
                   noack: bool) -> None:
        extra = (["COUNT", count] if count else []) + (["NOACK"] if noack else [])
        self.same("XREADGROUP", "GROUP", group, consumer, *extra, "STREAMS", key, start)

    @rule(key=keys, group=groups, victims=st.lists(ids, min_size=1, max_size=3))
    def xack(self, key: str, group: str, victims: list[str]) -> None:
        self.same("XACK", key, group, *victims)

    @rule(key=keys, group=groups, consumer=consumers, victims=st.lists(ids, min_size=1, max_size=2),
          opts=st.sampled_from([("JUSTID",), ("IDLE", "0", "JUSTID"), ("FORCE", "JUSTID"),
                                ("RETRYCOUNT", "3", "JUSTID"), ("LASTID", "30-0", "JUSTID")]))
    def xclaim(self, key: str, group: str, consumer: str, victims: list[str],
               opts: tuple[str, ...]) -> None:
        self.same("XCLAIM", key, group, consumer, "0", *victims, *opts)

    @rule(key=keys, group=groups, consumer=consumers, start=st.sampled_from(["0", "10"]))
    def xautoclaim(self, key: str, group: str, consumer: str, start: str) -> None:
        self.same("XAUTOCLAIM", key, group, consumer, "0", start, "COUNT", "2", "JUSTID")

    @rule(key=keys, group=groups, consumer=st.sampled_from([None, *CONSUMERS]))
    def xpending(self, key: str, group: str, consumer: str | None) -> None:
        self.same("XPENDING", key, group)
        args = ("XPENDING", key, group, "-", "+", "10", *([consumer] if consumer else []))
        assert self.real is not None and self.cairn is not None
        expected, actual = _parse(self.real.raw(*args)), _parse(self.cairn.raw(*args))
        if not isinstance(expected, list):
            assert str(actual) == str(expected), (args, expected, actual)
            return
        # Idle times are clock readings: within a second, the rest exact.
        assert [(e[0], e[1], e[3]) for e in actual] == [(e[0], e[1], e[3]) for e in expected]
        assert all(abs(a[2] - e[2]) < 1000 for a, e in zip(actual, expected, strict=True))

    @rule(key=keys)
    def dump_restore(self, key: str) -> None:
        """DUMP is byte-identical while no group holds clock times; either way the
        oracle's payload restores here to a stream that dumps back to the same bytes."""
        assert self.real is not None and self.cairn is not None
        kind = self.real.call("TYPE", key)
        if kind not in (b"stream", "stream"):
            return
        info = _parse(self.real.raw("XINFO", "GROUPS", key))
        if not info:
            self.same("DUMP", key)
        payload = self.real.call("DUMP", key)
        self.same("RESTORE", "copy", "0", payload, "REPLACE")
        assert self.real.call("DUMP", "copy") == payload == self.cairn.call("DUMP", "copy")
        self.same_stripped("XINFO", "STREAM", "copy", "FULL")
        self.same("XRANGE", "copy", "-", "+")

    @invariant()
    def streams_match(self) -> None:
        if self.real is None:
            return
        for key in KEYS:
            self.same("XLEN", key)
            self.same("TYPE", key)
            self.same_stripped("XINFO", "STREAM", key)
            self.same_stripped("XINFO", "GROUPS", key)
            self.same_stripped("XINFO", "STREAM", key, "FULL")
            assert self.real is not None
            if self.real.call("TYPE", key) in (b"stream", "stream") and \
                    not _parse(self.real.raw("XINFO", "GROUPS", key)):
                self.same("DUMP", key)  # no clock times in it: byte-identical


def test_stream_state_machine(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    class Machine(StreamMachine):
        real_port = redis_server.port
        cairn_port = cairn_server.port

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
