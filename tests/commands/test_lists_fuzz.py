"""Random sequences of list commands against redis-server and Cairn.

A Hypothesis state machine sends the same command to both servers over raw
connections and asserts byte-identical replies; after every step it also
compares the type and the whole contents of every key.
"""

from __future__ import annotations

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

KEYS = ["k0", "k1", "k2", "s"]  # "s" sometimes holds a string

keys = st.sampled_from(KEYS)
elements = st.one_of(
    st.sampled_from(["a", "b", "c", "1", "-1", "127", "128", "", "9223372036854775808"]),
    st.text("ab", min_size=1, max_size=3),
)
indexes = st.one_of(st.integers(-8, 8), st.sampled_from([-(2**63), 2**63 - 1])).map(str)
counts = st.one_of(st.integers(-3, 6).map(str), st.sampled_from(["x", "9223372036854775807"]))
sides = st.sampled_from(["LEFT", "RIGHT", "left", "Right"])


class ListMachine(DifferentialMachine):
    @initialize(resp=st.sampled_from([2, 3]))
    def connect(self, resp: int) -> None:
        self.open_clients(resp)
        self.same("FLUSHALL")

    @invariant()
    def keyspace_agrees(self) -> None:
        if self.real is None:
            return
        for key in KEYS:
            if self.same("TYPE", key) == b"+list\r\n":
                self.same("LRANGE", key, "0", "-1")

    # -- writes -------------------------------------------------------------------
    @rule(cmd=st.sampled_from(["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]), key=keys,
          values=st.lists(elements, min_size=1, max_size=5))
    def push(self, cmd: str, key: str, values: list[str]) -> None:
        self.same(cmd, key, *values)

    @rule(key=keys, value=elements)
    def set_string(self, key: str, value: str) -> None:
        if key == "s":
            self.same("SET", key, value)

    @rule(cmd=st.sampled_from(["LPOP", "RPOP"]), key=keys, count=st.none() | counts)
    def pop(self, cmd: str, key: str, count: str | None) -> None:
        self.same(cmd, key, *([] if count is None else [count]))

    @rule(key=keys, index=indexes, value=elements)
    def lset(self, key: str, index: str, value: str) -> None:
        self.same("LSET", key, index, value)

    @rule(key=keys, where=st.sampled_from(["BEFORE", "AFTER", "after", "bad"]), pivot=elements,
          value=elements)
    def linsert(self, key: str, where: str, pivot: str, value: str) -> None:
        self.same("LINSERT", key, where, pivot, value)

    @rule(key=keys, count=counts, value=elements)
    def lrem(self, key: str, count: str, value: str) -> None:
        self.same("LREM", key, count, value)

    @rule(key=keys, start=indexes, end=indexes)
    def ltrim(self, key: str, start: str, end: str) -> None:
        self.same("LTRIM", key, start, end)

    @rule(src=keys, dst=keys, wherefrom=sides, whereto=sides)
    def lmove(self, src: str, dst: str, wherefrom: str, whereto: str) -> None:
        self.same("LMOVE", src, dst, wherefrom, whereto)

    @rule(src=keys, dst=keys)
    def rpoplpush(self, src: str, dst: str) -> None:
        self.same("RPOPLPUSH", src, dst)

    @rule(chosen=st.lists(keys, min_size=1, max_size=3), where=sides,
          count=st.none() | counts)
    def lmpop(self, chosen: list[str], where: str, count: str | None) -> None:
        extra = [] if count is None else ["COUNT", count]
        self.same("LMPOP", str(len(chosen)), *chosen, where, *extra)

    # -- reads --------------------------------------------------------------------
    @rule(key=keys, start=indexes, end=indexes)
    def lrange(self, key: str, start: str, end: str) -> None:
        self.same("LRANGE", key, start, end)
        self.same("LLEN", key)

    @rule(key=keys, index=indexes)
    def lindex(self, key: str, index: str) -> None:
        self.same("LINDEX", key, index)

    @rule(key=keys, value=elements,
          rank=st.none() | st.sampled_from(["1", "2", "-1", "-2", "0", "x"]),
          count=st.none() | st.sampled_from(["0", "1", "2", "-1"]),
          maxlen=st.none() | st.sampled_from(["0", "1", "3", "-1"]))
    def lpos(self, key: str, value: str, rank: str | None, count: str | None,
             maxlen: str | None) -> None:
        args: list[str] = []
        for name, arg in (("RANK", rank), ("COUNT", count), ("MAXLEN", maxlen)):
            if arg is not None:
                args += [name, arg]
        self.same("LPOS", key, value, *args)


def test_list_state_machine(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    class Machine(ListMachine):
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
