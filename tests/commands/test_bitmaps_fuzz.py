"""Random sequences of bitmap commands against redis-server and Cairn.

A Hypothesis state machine sends the same SETBIT / GETBIT / BITFIELD /
BITFIELD_RO / BITCOUNT / BITPOS / BITOP commands (plus a few string writes that
put other content under the same keys) to both servers over raw connections
and compares every reply byte for byte; after each step the keys' values and
types must agree.

The oracle is Redis 7.0: BITCOUNT and BITPOS on a missing key with invalid
arguments answer 0 there and an error in 7.2 (which Cairn follows), so the
generated ranges here are always valid integers and units.
"""

from __future__ import annotations

from typing import Any

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

KEYS = ["b0", "b1", "b2"]

keys = st.sampled_from(KEYS)
offsets = st.one_of(st.integers(0, 80), st.integers(0, 2000))
ranges = st.one_of(st.integers(-40, 40), st.integers(-400, 400),
                   st.sampled_from([-9223372036854775808, 9223372036854775807]))
signed_type = st.integers(1, 64).map(lambda n: f"i{n}")
unsigned_type = st.integers(1, 63).map(lambda n: f"u{n}")
field_type = st.one_of(signed_type, unsigned_type)
field_offset = st.one_of(st.integers(0, 150).map(str), st.integers(0, 6).map(lambda n: f"#{n}"))
values = st.one_of(
    st.integers(-300, 300),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(0, 63).map(lambda n: 2**n),
    st.integers(0, 63).map(lambda n: -(2**n)),
).map(str)


@st.composite
def bitfield_ops(draw: Any) -> list[str]:
    out: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["GET", "SET", "INCRBY", "OVERFLOW"]))
        if kind == "OVERFLOW":
            out += ["OVERFLOW", draw(st.sampled_from(["WRAP", "SAT", "FAIL"]))]
        elif kind == "GET":
            out += ["GET", draw(field_type), draw(field_offset)]
        else:
            out += [kind, draw(field_type), draw(field_offset), draw(values)]
    return out


class BitmapMachine(DifferentialMachine):
    @initialize(resp=st.sampled_from([2, 3]))
    def connect(self, resp: int) -> None:
        self.open_clients(resp)
        self.same("FLUSHALL")

    # -- writes --------------------------------------------------------------------
    @rule(key=keys, offset=offsets, bit=st.sampled_from(["0", "1"]))
    def setbit(self, key: str, offset: int, bit: str) -> None:
        self.same("SETBIT", key, str(offset), bit)

    @rule(key=keys, ops=bitfield_ops())
    def bitfield(self, key: str, ops: list[str]) -> None:
        self.same("BITFIELD", key, *ops)

    @rule(op=st.sampled_from(["AND", "OR", "XOR"]), dest=keys,
          sources=st.lists(keys, min_size=1, max_size=3))
    def bitop(self, op: str, dest: str, sources: list[str]) -> None:
        self.same("BITOP", op, dest, *sources)

    @rule(dest=keys, source=keys)
    def bitop_not(self, dest: str, source: str) -> None:
        self.same("BITOP", "NOT", dest, source)

    @rule(key=keys, value=st.binary(max_size=12))
    def set_string(self, key: str, value: bytes) -> None:
        self.same("SET", key, value)

    @rule(key=keys, value=st.binary(max_size=4))
    def append(self, key: str, value: bytes) -> None:
        self.same("APPEND", key, value)

    @rule(key=keys)
    def other_type(self, key: str) -> None:
        self.same("DEL", key)
        self.same("RPUSH", key, "x")

    @rule(key=keys)
    def delete(self, key: str) -> None:
        self.same("DEL", key)

    # -- reads ---------------------------------------------------------------------
    @rule(key=keys, offset=offsets)
    def getbit(self, key: str, offset: int) -> None:
        self.same("GETBIT", key, str(offset))

    @rule(key=keys, ops=bitfield_ops())
    def bitfield_ro(self, key: str, ops: list[str]) -> None:
        self.same("BITFIELD_RO", key, *ops)

    @rule(key=keys, start=ranges, end=ranges,
          unit=st.sampled_from([None, "BIT", "BYTE", "bit"]), whole=st.booleans())
    def bitcount(self, key: str, start: int, end: int, unit: str | None, whole: bool) -> None:
        if whole:
            self.same("BITCOUNT", key)
        elif unit is None:
            self.same("BITCOUNT", key, str(start), str(end))
        else:
            self.same("BITCOUNT", key, str(start), str(end), unit)

    @rule(key=keys, bit=st.sampled_from(["0", "1"]), start=ranges, end=ranges,
          form=st.integers(0, 3), unit=st.sampled_from(["BIT", "BYTE"]))
    def bitpos(self, key: str, bit: str, start: int, end: int, form: int, unit: str) -> None:
        args = ["BITPOS", key, bit, str(start), str(end), unit][: 3 + form]
        self.same(*args)

    # -- after every step ----------------------------------------------------------------
    @invariant()
    def keyspace_agrees(self) -> None:
        if self.real is None:
            return
        for key in KEYS:
            if self.same("TYPE", key) == b"+string\r\n":
                self.same("GET", key)


def test_bitmap_state_machine(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    class Machine(BitmapMachine):
        real_port = redis_server.port
        cairn_port = cairn_server.port

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=300,
            stateful_step_count=40,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
