"""Random sequences of hash commands against redis-server and Cairn.

A Hypothesis state machine sends the same command to both servers over raw
connections and asserts byte-identical replies (order-free where Redis' order is
unspecified: hashtable-encoded hashes). After every step it compares each key's
type, encoding and contents. The listpack limits are lowered on both servers so
that conversions to hashtable happen often.
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

KEYS = ["k0", "k1", "k2"]
FIELDS = ["f0", "f1", "f2", "f3", "f4", "f5", "f6", "a-longer-field"]
MAX_ENTRIES = "5"
MAX_VALUE = "10"

keys = st.sampled_from(KEYS)
fields = st.sampled_from(FIELDS)
values = st.one_of(
    st.sampled_from(["", "0", "1", "-1", "12", "007", "1.5", "abc", "9223372036854775807",
                     "a value longer than ten", "0x10", "inf", " 3"]),
    st.integers(-1000, 1000).map(str),
)
increments = st.one_of(st.integers(-100, 100),
                       st.sampled_from([2**63 - 1, -(2**63), 10**12])).map(str)
float_increments = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False).map(repr),
    st.sampled_from(["0.1", "-0.1", "1e-3", "2.5e2", "inf", "x", "0x1p-2", "1e400", "3"]),
)


def _parse(data: bytes) -> Any:
    reader = hiredis.Reader()
    reader.feed(data)
    return reader.gets()


def _canon(value: Any) -> Any:
    if isinstance(value, list):
        return sorted((_canon(v) for v in value), key=repr)
    if isinstance(value, dict):
        return sorted(value.items())
    return value


class HashMachine(DifferentialMachine):
    @initialize(resp=st.sampled_from([2, 3]))
    def connect(self, resp: int) -> None:
        self.open_clients(resp)
        self.same("FLUSHALL")
        self.same("CONFIG", "SET", "hash-max-listpack-entries", MAX_ENTRIES)
        self.same("CONFIG", "SET", "hash-max-listpack-value", MAX_VALUE)

    def teardown(self) -> None:
        if self.real is not None and self.cairn is not None:
            self.same("CONFIG", "SET", "hash-max-listpack-entries", "512")
            self.same("CONFIG", "SET", "hash-max-listpack-value", "64")
        self.close_clients()

    def same_unordered(self, *args: Any) -> None:
        assert self.real is not None and self.cairn is not None
        expected, actual = _parse(self.real.raw(*args)), _parse(self.cairn.raw(*args))
        assert _canon(actual) == _canon(expected), f"{args!r}\n  redis: {expected!r}\n  cairn: {actual!r}"

    def encoding(self, key: str) -> bytes:
        return self.same("OBJECT", "ENCODING", key)

    def ordered(self, key: str) -> bool:
        """Whether Redis' order is defined for this key (missing or a listpack)."""
        return b"hashtable" not in self.encoding(key)

    @invariant()
    def keyspace_agrees(self) -> None:
        if self.real is None:
            return
        for key in KEYS:
            self.same("TYPE", key)
            if self.ordered(key):
                self.same("HGETALL", key)
            else:
                self.same("HLEN", key)
                self.same_unordered("HGETALL", key)

    # -- writes ------------------------------------------------------------------
    @rule(key=keys, pairs=st.lists(st.tuples(fields, values), min_size=1, max_size=4),
          cmd=st.sampled_from(["HSET", "HMSET"]))
    def hset(self, key: str, pairs: list[tuple[str, str]], cmd: str) -> None:
        self.same(cmd, key, *[x for pair in pairs for x in pair])

    @rule(key=keys, field=fields, value=values)
    def hsetnx(self, key: str, field: str, value: str) -> None:
        self.same("HSETNX", key, field, value)

    @rule(key=keys, names=st.lists(fields, min_size=1, max_size=4))
    def hdel(self, key: str, names: list[str]) -> None:
        self.same("HDEL", key, *names)

    @rule(key=keys, field=fields, increment=increments)
    def hincrby(self, key: str, field: str, increment: str) -> None:
        self.same("HINCRBY", key, field, increment)

    @rule(key=keys, field=fields, increment=float_increments)
    def hincrbyfloat(self, key: str, field: str, increment: str) -> None:
        self.same("HINCRBYFLOAT", key, field, increment)

    @rule(key=keys, value=values)
    def set_string(self, key: str, value: str) -> None:
        self.same("SET", key, value)

    @rule(key=keys)
    def delete(self, key: str) -> None:
        self.same("DEL", key)

    @rule(src=keys, dst=keys)
    def copy(self, src: str, dst: str) -> None:
        self.same("COPY", src, dst, "REPLACE")

    # -- reads -------------------------------------------------------------------
    @rule(key=keys, field=fields)
    def point_reads(self, key: str, field: str) -> None:
        self.same("HGET", key, field)
        self.same("HEXISTS", key, field)
        self.same("HSTRLEN", key, field)
        self.same("HLEN", key)

    @rule(key=keys, names=st.lists(fields, min_size=1, max_size=5))
    def hmget(self, key: str, names: list[str]) -> None:
        self.same("HMGET", key, *names)

    @rule(key=keys, cmd=st.sampled_from(["HKEYS", "HVALS"]))
    def whole(self, key: str, cmd: str) -> None:
        if self.ordered(key):
            self.same(cmd, key)
        else:
            self.same_unordered(cmd, key)

    @rule(key=keys, match=st.sampled_from([None, "f*", "*long*", "f[0-3]"]))
    def hscan(self, key: str, match: str | None) -> None:
        args = ["HSCAN", key, "0", "COUNT", "1000"]
        if match is not None:
            args += ["MATCH", match]
        if self.ordered(key):
            self.same(*args)
        else:
            # One call with a large COUNT covers a small hashtable (cursor 0 back).
            assert self.real is not None and self.cairn is not None
            real, ours = _parse(self.real.raw(*args)), _parse(self.cairn.raw(*args))
            assert real[0] == ours[0] == b"0"
            assert dict(zip(real[1][::2], real[1][1::2], strict=True)) == dict(
                zip(ours[1][::2], ours[1][1::2], strict=True))

    @rule(key=keys, count=st.integers(-6, 12), withvalues=st.booleans())
    def hrandfield(self, key: str, count: int, withvalues: bool) -> None:
        assert self.real is not None and self.cairn is not None
        args = ["HRANDFIELD", key, str(count)] + (["WITHVALUES"] if withvalues else [])
        real, ours = self.real.raw(*args), self.cairn.raw(*args)
        if real.startswith(b"-") or count == 0 or real in (b"*0\r\n",):
            assert ours == real, (args, real, ours)
            return
        r, o = _parse(real), _parse(ours)
        assert len(r) == len(o), (args, r, o)
        size = _parse(self.same("HLEN", key))
        if count >= size and self.ordered(key):
            assert ours == real, (args, real, ours)  # the whole listpack, in order
        contents = _parse(self.cairn.raw("HGETALL", key))
        if isinstance(contents, list):
            contents = dict(zip(contents[::2], contents[1::2], strict=True))
        if withvalues:
            flat = [x for p in o for x in p] if o and isinstance(o[0], list) else o
            picks = list(zip(flat[::2], flat[1::2], strict=True))
            assert all(contents[f] == v for f, v in picks)
            names = [f for f, _ in picks]
        else:
            names = o
            assert all(f in contents for f in names)
        if count > 0:
            assert len(set(names)) == len(names) == min(count, size)
        else:
            assert len(names) == -count


def test_hash_state_machine(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    class Machine(HashMachine):
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
