"""Random sequences of string commands against redis-server and Cairn.

A Hypothesis state machine sends the same command to both servers over raw
connections and asserts byte-identical replies; after every step it also
compares every key's value and TTL.
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

KEYS = ["k0", "k1", "k2", "k3"]
FAR_S = "4102444800"  # 2100-01-01
FAR_MS = "4102444800123"

keys = st.sampled_from(KEYS)
values = st.one_of(
    st.sampled_from(["", "0", "1", "-1", "12", "007", "9223372036854775806",
                     "-9223372036854775807", "1.5", "-0.25", "3.0e3", " 5", "abc", "hello world",
                     "0x10", "inf", "1e308"]),
    st.integers(-(10**6), 10**6).map(str),
    st.text("abcxyz", max_size=12),
)
expiry = st.one_of(
    st.tuples(st.sampled_from(["EX"]), st.sampled_from(["100", "1000", "0", "-1", "x"])),
    st.tuples(st.sampled_from(["PX"]), st.sampled_from(["100000", "9999999", "0"])),
    st.tuples(st.sampled_from(["EXAT"]), st.sampled_from([FAR_S, "1"])),
    st.tuples(st.sampled_from(["PXAT"]), st.sampled_from([FAR_MS, "1"])),
)
set_option = st.one_of(
    st.sampled_from([("NX",), ("XX",), ("GET",), ("KEEPTTL",), ("nx",), ("get",), ("BAD",)]),
    expiry,
)
integers = st.one_of(
    st.integers(-100, 100),
    st.sampled_from([2**63 - 1, -(2**63), 2**62, -(2**62)]),
).map(str)
floats = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False).map(repr),
    st.sampled_from(["0.1", "-0.1", "1e-3", "2.5e2", "inf", "x", "0x1p-2", "1e400"]),
)


def _parse(data: bytes) -> Any:
    reader = hiredis.Reader()
    reader.feed(data)
    return reader.gets()


class StringMachine(DifferentialMachine):
    @initialize(resp=st.sampled_from([2, 3]))
    def connect(self, resp: int) -> None:
        self.open_clients(resp)
        self.same("FLUSHALL")

    @invariant()
    def keyspace_agrees(self) -> None:
        if self.real is None:
            return
        self.same("MGET", *KEYS)
        assert self.cairn is not None
        for key in KEYS:
            real, ours = _parse(self.real.raw("PTTL", key)), _parse(self.cairn.raw("PTTL", key))
            if real < 0 or ours < 0:
                assert real == ours, (key, real, ours)
            else:
                assert abs(real - ours) < 1500, (key, real, ours)

    # -- writes ------------------------------------------------------------------
    @rule(key=keys, value=values, options=st.lists(set_option, max_size=3))
    def set(self, key: str, value: str, options: list[tuple[str, ...]]) -> None:
        self.same("SET", key, value, *[tok for opt in options for tok in opt])

    @rule(key=keys, value=values)
    def setnx(self, key: str, value: str) -> None:
        self.same("SETNX", key, value)

    @rule(key=keys, value=values, seconds=st.sampled_from(["100", "0", "x"]), ms=st.booleans())
    def setex(self, key: str, value: str, seconds: str, ms: bool) -> None:
        self.same("PSETEX" if ms else "SETEX", key, seconds + ("000" if ms else ""), value)

    @rule(key=keys, value=values)
    def getset(self, key: str, value: str) -> None:
        self.same("GETSET", key, value)

    @rule(key=keys)
    def getdel(self, key: str) -> None:
        self.same("GETDEL", key)

    @rule(key=keys, option=st.one_of(st.just(()), st.just(("PERSIST",)), expiry))
    def getex(self, key: str, option: tuple[str, ...]) -> None:
        self.same("GETEX", key, *option)

    @rule(pairs=st.lists(st.tuples(keys, values), min_size=1, max_size=3), nx=st.booleans())
    def mset(self, pairs: list[tuple[str, str]], nx: bool) -> None:
        self.same("MSETNX" if nx else "MSET", *[x for p in pairs for x in p])

    @rule(key=keys, value=values)
    def append(self, key: str, value: str) -> None:
        self.same("APPEND", key, value)

    @rule(key=keys, offset=st.one_of(st.integers(-1, 20).map(str), st.just("x")), value=values)
    def setrange(self, key: str, offset: str, value: str) -> None:
        self.same("SETRANGE", key, offset, value)

    @rule(key=keys, which=st.sampled_from(["INCR", "DECR"]))
    def incr(self, key: str, which: str) -> None:
        self.same(which, key)

    @rule(key=keys, which=st.sampled_from(["INCRBY", "DECRBY"]), amount=integers)
    def incrby(self, key: str, which: str, amount: str) -> None:
        self.same(which, key, amount)

    @rule(key=keys, amount=floats)
    def incrbyfloat(self, key: str, amount: str) -> None:
        self.same("INCRBYFLOAT", key, amount)

    @rule(key=keys)
    def delete(self, key: str) -> None:
        self.same("DEL", key)

    # -- reads --------------------------------------------------------------------
    @rule(key=keys)
    def get(self, key: str) -> None:
        self.same("GET", key)
        self.same("STRLEN", key)

    @rule(key=keys, start=st.integers(-15, 15), end=st.integers(-15, 15),
          cmd=st.sampled_from(["GETRANGE", "SUBSTR"]))
    def getrange(self, key: str, start: int, end: int, cmd: str) -> None:
        self.same(cmd, key, start, end)

    @rule(a=keys, b=keys, mode=st.sampled_from([(), ("LEN",), ("IDX",),
                                                 ("IDX", "WITHMATCHLEN", "MINMATCHLEN", "2")]))
    def lcs(self, a: str, b: str, mode: tuple[str, ...]) -> None:
        self.same("LCS", a, b, *mode)


def test_string_state_machine(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    class Machine(StringMachine):
        real_port = redis_server.port
        cairn_port = cairn_server.port

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=200,
            stateful_step_count=50,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
