"""A Hypothesis state machine over the keyspace commands, run against redis-server
and Cairn at once: every reply must be the same bytes.

Expiry times are chosen so that replies do not depend on the clock: relative
TTLs are long (minutes to hours) and are never compared with each other through
GT/LT; absolute times lie far in the future (or in the past, which deletes).
Only TTL-family replies of keys with a relative TTL may differ, by the time that
passed between the two servers' executions (at most one second or a few ms).
"""

from __future__ import annotations

from typing import Any

import hiredis
from harness import Pair, RawClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

KEYS = ["a", "b", "c", "d"]
DBS = ["0", "1", "2"]
VALUES = ["1", "0", "hello", "9999", "-7", "x" * 50, "12345678901234567890"]
FAR = 4_000_000_000  # seconds; later than any relative TTL used here

keys_ = st.sampled_from(KEYS)
dbs = st.sampled_from(DBS)


def _parse(data: bytes) -> Any:
    reader = hiredis.Reader()
    reader.feed(data)
    return reader.gets()


class KeyspaceMachine(RuleBasedStateMachine):
    ports: tuple[int, int] = (0, 0)

    def __init__(self) -> None:
        super().__init__()
        real_port, cairn_port = self.ports
        self.real = RawClient(real_port)
        self.cairn = RawClient(cairn_port)

    @initialize()
    def start_empty(self) -> None:
        self.check("FLUSHALL")
        self.check("SELECT", "0")

    def teardown(self) -> None:
        self.real.close()
        self.cairn.close()

    # -- comparison ------------------------------------------------------------
    def check(self, *args: Any) -> bytes:
        expected, actual = self.real.raw(*args), self.cairn.raw(*args)
        assert actual == expected, f"{args!r}\n  redis: {expected!r}\n  cairn: {actual!r}"
        return actual

    def check_clock(self, tolerance: int, *args: Any) -> None:
        """A TTL-family reply: equal, or both counts off by the clock only."""
        expected, actual = self.real.raw(*args), self.cairn.raw(*args)
        if actual == expected:
            return
        e, a = _parse(expected), _parse(actual)
        assert isinstance(e, int) and isinstance(a, int) and e >= 0 and a >= 0, (args, e, a)
        assert abs(e - a) <= tolerance, f"{args!r}\n  redis: {e!r}\n  cairn: {a!r}"

    def check_unordered(self, *args: Any) -> None:
        e, a = _parse(self.real.raw(*args)), _parse(self.cairn.raw(*args))
        assert sorted(a) == sorted(e), f"{args!r}\n  redis: {e!r}\n  cairn: {a!r}"

    # -- writes -------------------------------------------------------------------
    @rule(key=keys_, value=st.sampled_from(VALUES),
          extra=st.sampled_from([(), ("EX", "5000"), ("PXAT", str(FAR * 1000 + 77)),
                                 ("KEEPTTL",), ("NX",), ("XX",)]))
    def set(self, key: str, value: str, extra: tuple[str, ...]) -> None:
        self.check("SET", key, value, *extra)

    @rule(key=keys_, value=st.sampled_from(["z", "12"]))
    def append(self, key: str, value: str) -> None:
        self.check("APPEND", key, value)

    @rule(cmd=st.sampled_from(["DEL", "UNLINK"]), keys=st.lists(keys_, min_size=1, max_size=3))
    def delete(self, cmd: str, keys: list[str]) -> None:
        self.check(cmd, *keys)

    @rule(cmd=st.sampled_from(["RENAME", "RENAMENX"]), src=keys_, dst=keys_)
    def rename(self, cmd: str, src: str, dst: str) -> None:
        self.check(cmd, src, dst)

    @rule(cmd=st.sampled_from(["EXPIRE", "PEXPIRE"]),
          seconds=st.sampled_from([1000, 5000, 20000, -1, 0]),
          options=st.sampled_from([(), ("NX",), ("XX",), ("nx",), ("NX", "XX"), ("GT", "LT"),
                                   ("FOO",)]),
          key=keys_)
    def expire_relative(self, cmd: str, seconds: int, options: tuple[str, ...], key: str) -> None:
        amount = seconds * 1000 if cmd == "PEXPIRE" else seconds
        self.check(cmd, key, str(amount), *options)

    @rule(cmd=st.sampled_from(["EXPIREAT", "PEXPIREAT"]),
          offset=st.sampled_from([0, 1000, 2000, 3000, None]),
          options=st.sampled_from([(), ("NX",), ("XX",), ("GT",), ("LT",), ("XX", "GT"),
                                   ("LT", "XX"), ("gt",)]),
          key=keys_)
    def expire_absolute(self, cmd: str, offset: int | None, options: tuple[str, ...],
                        key: str) -> None:
        at = 1 if offset is None else FAR + offset  # None: in the past, deletes
        amount = at * 1000 if cmd == "PEXPIREAT" else at
        self.check(cmd, key, str(amount), *options)

    @rule(key=keys_)
    def persist(self, key: str) -> None:
        self.check("PERSIST", key)

    @rule(src=keys_, dst=keys_, db=st.one_of(st.none(), dbs), replace=st.booleans())
    def copy(self, src: str, dst: str, db: str | None, replace: bool) -> None:
        args = ["COPY", src, dst]
        if db is not None:
            args += ["DB", db]
        if replace:
            args.append("REPLACE")
        self.check(*args)

    @rule(key=keys_, db=dbs)
    def move(self, key: str, db: str) -> None:
        self.check("MOVE", key, db)

    @rule(a=dbs, b=dbs)
    def swapdb(self, a: str, b: str) -> None:
        self.check("SWAPDB", a, b)

    @rule(db=dbs)
    def select(self, db: str) -> None:
        self.check("SELECT", db)

    @rule(cmd=st.sampled_from(["FLUSHDB", "FLUSHALL"]), dice=st.integers(0, 4))
    def flush(self, cmd: str, dice: int) -> None:
        if dice == 0:  # rare, or the keyspace would mostly be empty
            self.check(cmd)

    # -- reads --------------------------------------------------------------------
    @rule(keys=st.lists(keys_, min_size=1, max_size=3))
    def exists(self, keys: list[str]) -> None:
        self.check("EXISTS", *keys)

    @rule(key=keys_)
    def read(self, key: str) -> None:
        self.check("GET", key)
        self.check("TYPE", key)
        self.check("OBJECT", "ENCODING", key)

    @rule(key=keys_)
    def ttl(self, key: str) -> None:
        self.check_clock(1, "TTL", key)
        self.check_clock(2000, "PTTL", key)
        self.check_clock(1, "EXPIRETIME", key)
        self.check_clock(2000, "PEXPIRETIME", key)

    @rule()
    def dbsize(self) -> None:
        self.check("DBSIZE")

    @rule(pattern=st.sampled_from(["*", "a*", "?", "[ab]", "[^a]", "x"]))
    def keys(self, pattern: str) -> None:
        self.check_unordered("KEYS", pattern)

    @rule()
    def scan(self) -> None:
        def full(client: RawClient) -> list[bytes]:
            cursor, seen = b"0", []
            while True:
                cursor, batch = client.call("SCAN", cursor, "COUNT", "2")
                seen += batch
                if cursor == b"0":
                    return sorted(set(seen))

        assert full(self.cairn) == full(self.real)


def test_keyspace_state_machine(pair2: Pair) -> None:
    KeyspaceMachine.ports = (pair2.real.port, pair2.cairn.port)
    run_state_machine_as_test(
        KeyspaceMachine,
        settings=settings(max_examples=300, stateful_step_count=50, deadline=None,
                          suppress_health_check=list(HealthCheck)),
    )
    pair2.check("FLUSHALL")
