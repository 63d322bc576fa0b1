"""Generic keyspace commands and expiry, against the real redis-server.

Most tests are differential (``pair.check``: same bytes from both servers, in
RESP2 and RESP3). Where Redis' answer depends on its hash table (SCAN cursors,
RANDOMKEY picks) or on timing, the test checks the property instead.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from harness import Pair, RawClient, encode_command

from cairn.commands.context import Client, Server
from cairn.commands.dispatch import execute
from cairn.commands.replay import Replayer
from cairn.keyspace import Effect, Keyspace
from cairn.keyspace.scan import ScanIndex, key_hash

FAR = 4_000_000_000  # an absolute expiry (seconds) far in the future


def _scan_all(client: RawClient, *options: Any) -> tuple[set[bytes], int]:
    """Keys of a full SCAN iteration, and how many calls it took."""
    cursor = b"0"
    seen: set[bytes] = set()
    calls = 0
    while True:
        reply = client.call("SCAN", cursor, *options)
        assert isinstance(reply, list), reply
        cursor, batch = reply
        calls += 1
        seen.update(batch)
        if cursor == b"0":
            return seen, calls


# -- DEL UNLINK EXISTS TOUCH TYPE ---------------------------------------------


def test_del_unlink_exists_touch(pair: Pair) -> None:
    for k in ("a", "b", "c", "d"):
        pair.check("SET", k, "v")
    pair.check("EXISTS", "a", "b", "nope", "a")
    pair.check("TOUCH", "a", "nope", "a")
    pair.check("DEL", "a", "a", "nope")
    pair.check("EXISTS", "a")
    pair.check("UNLINK", "b", "c", "nope")
    pair.check("UNLINK", "b")
    pair.check("DEL", "nope")
    pair.check("EXISTS", "d")
    pair.check("DEL")
    pair.check("UNLINK")
    pair.check("EXISTS")
    pair.check("TOUCH")


def test_type(pair: Pair) -> None:
    pair.check("SET", "s", "v")
    pair.check("TYPE", "s")
    pair.check("TYPE", "nope")
    pair.check("TYPE")
    pair.check("TYPE", "a", "b")


def test_expired_keys_are_gone_for_every_command(pair: Pair) -> None:
    pair.check("SET", "k", "v", "PX", "1")
    time.sleep(0.01)
    for args in (("EXISTS", "k"), ("TYPE", "k"), ("TTL", "k"), ("PTTL", "k"),
                 ("EXPIRETIME", "k"), ("TOUCH", "k"), ("PERSIST", "k"), ("EXPIRE", "k", "10"),
                 ("OBJECT", "ENCODING", "k"), ("DEL", "k"), ("KEYS", "*"), ("RANDOMKEY",),
                 ("DBSIZE",)):
        pair.check(*args)


# -- RENAME RENAMENX ------------------------------------------------------------


def test_rename(pair: Pair) -> None:
    pair.check("SET", "a", "1")
    pair.check("RENAME", "a", "b")
    pair.check("GET", "a")
    pair.check("GET", "b")
    pair.check("RENAME", "nope", "x")
    pair.check("RENAME", "nope", "nope")
    pair.check("RENAME", "b", "b")
    pair.check("GET", "b")
    # Overwrites the destination and its TTL; keeps the source's TTL.
    pair.check("SET", "c", "3")
    pair.check("EXPIREAT", "c", FAR)
    pair.check("RENAME", "b", "c")
    pair.check("TTL", "c")
    pair.check("EXPIREAT", "c", FAR + 5)
    pair.check("RENAME", "c", "d")
    pair.check("EXPIRETIME", "d")
    pair.check("GET", "d")
    pair.check("RENAME", "d")


def test_renamenx(pair: Pair) -> None:
    pair.check("RENAMENX", "nope", "x")
    pair.check("SET", "a", "1")
    pair.check("SET", "b", "2")
    pair.check("RENAMENX", "a", "b")
    pair.check("RENAMENX", "a", "a")
    pair.check("RENAMENX", "nope", "nope")
    pair.check("PEXPIREAT", "a", FAR * 1000 + 7)
    pair.check("RENAMENX", "a", "c")
    pair.check("PEXPIRETIME", "c")
    pair.check("MGET", "a", "b", "c")


# -- MOVE COPY SWAPDB -------------------------------------------------------------


def test_move(pair: Pair) -> None:
    pair.check("SET", "a", "1")
    pair.check("MOVE", "a", "0")
    pair.check("MOVE", "a", "16")
    pair.check("MOVE", "a", "-1")
    pair.check("MOVE", "a", "x")
    pair.check("MOVE", "a", "4294967297")
    pair.check("MOVE", "nope", "1")
    pair.check("EXPIREAT", "a", FAR)
    pair.check("MOVE", "a", "1")
    pair.check("EXISTS", "a")
    pair.check("SELECT", "1")
    pair.check("GET", "a")
    pair.check("EXPIRETIME", "a")
    pair.check("SET", "b", "in1")
    pair.check("SELECT", "0")
    pair.check("SET", "b", "in0")
    pair.check("MOVE", "b", "1")  # destination exists
    pair.check("GET", "b")
    pair.check("MOVE", "nope", "16")  # the index is checked before the key


def test_copy(pair: Pair) -> None:
    pair.check("SET", "a", "hello")
    pair.check("COPY", "a", "a")
    pair.check("COPY", "a", "b", "FOO")
    pair.check("COPY", "a", "b", "DB")
    pair.check("COPY", "a", "b", "DB", "x")
    pair.check("COPY", "a", "b", "DB", "16")
    pair.check("COPY", "a", "b", "DB", "4294967296")
    pair.check("COPY", "a", "a", "DB", "0")
    pair.check("COPY", "a", "a", "DB", "1", "DB", "0")
    pair.check("COPY", "nope", "b")
    pair.check("COPY", "a", "b")
    pair.check("COPY", "a", "b")  # exists, no REPLACE
    pair.check("SET", "a", "other")
    pair.check("COPY", "a", "b", "REPLACE", "replace")
    pair.check("GET", "b")
    pair.check("PEXPIREAT", "a", FAR * 1000 + 3)
    pair.check("COPY", "a", "c", "DB", "2", "REPLACE")
    pair.check("TTL", "b")
    pair.check("SELECT", "2")
    pair.check("PEXPIRETIME", "c")
    pair.check("GET", "c")
    pair.check("SELECT", "0")
    pair.check("COPY", "a", "a", "DB", "2")  # exists there now
    pair.check("COPY", "a", "a", "DB", "2", "REPLACE")


def test_copy_is_deep(pair: Pair) -> None:
    pair.check("SET", "a", "x")
    pair.check("APPEND", "a", "yz")  # a mutable string on Cairn
    pair.check("COPY", "a", "b")
    pair.check("APPEND", "b", "!")
    pair.check("SETRANGE", "a", "0", "Q")
    pair.check("MGET", "a", "b")
    pair.check("OBJECT", "ENCODING", "b")


def test_swapdb(pair: Pair) -> None:
    pair.check("SET", "a", "0")
    pair.check("SELECT", "1")
    pair.check("SET", "b", "1")
    pair.check("EXPIREAT", "b", FAR)
    pair.check("SWAPDB", "0", "1")
    pair.check("KEYS", "*")
    pair.check("SELECT", "0")
    pair.check("KEYS", "*")
    pair.check("EXPIRETIME", "b")
    pair.check("SWAPDB", "0", "0")
    pair.check("SWAPDB", "0", "x")
    pair.check("SWAPDB", "x", "0")
    pair.check("SWAPDB", "0", "16")
    pair.check("SWAPDB", "-1", "0")
    pair.check("SWAPDB", "4294967296", "0")
    pair.check("SWAPDB", "0", "4294967296")
    pair.check("SWAPDB", "1", "0")
    pair.check("DBSIZE")
    pair.check("SWAPDB", "0")


def test_swapdb_and_flush_break_watch(pair: Pair) -> None:
    for command in (("SWAPDB", "0", "1"), ("FLUSHDB",), ("FLUSHALL",)):
        pair.check("SET", "w", "1")
        pair.check("WATCH", "w")
        other = Pair(pair.real.port, pair.cairn.port, pair.resp)
        try:
            other.check(*command)
        finally:
            other.close()
        pair.check("MULTI")
        pair.check("PING")
        pair.check("EXEC")
        pair.check("FLUSHALL")


def test_swapdb_same_index_does_not_break_watch(pair: Pair) -> None:
    pair.check("SET", "w", "1")
    pair.check("WATCH", "w")
    other = Pair(pair.real.port, pair.cairn.port, pair.resp)
    try:
        other.check("SWAPDB", "0", "0")
    finally:
        other.close()
    pair.check("MULTI")
    pair.check("PING")
    pair.check("EXEC")


# -- FLUSHDB FLUSHALL DBSIZE ---------------------------------------------------------


def test_flushdb_flushall(pair: Pair) -> None:
    pair.check("SET", "a", "1")
    pair.check("SELECT", "3")
    pair.check("SET", "b", "2")
    pair.check("DBSIZE")
    pair.check("FLUSHDB", "sync")
    pair.check("DBSIZE")
    pair.check("SET", "b", "2")
    pair.check("FLUSHDB", "x")
    pair.check("FLUSHDB", "ASYNC", "SYNC")
    pair.check("FLUSHDB", "ASYNC")
    pair.check("SELECT", "0")
    pair.check("DBSIZE")
    pair.check("FLUSHALL", "foo")
    pair.check("FLUSHALL", "sync", "async")
    pair.check("FLUSHALL", "Async")
    pair.check("DBSIZE")
    pair.check("SET", "a", "1")
    pair.check("FLUSHALL", "SYNC")
    pair.check("FLUSHALL")
    pair.check("DBSIZE", "x")


# -- KEYS ---------------------------------------------------------------------------

_GLOB_KEYS = [
    "hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo", "h?llo", "h[a]llo", "h\\llo",
    "h]llo", "h-llo", "h^llo", "a", "b", "c", "", "abc", "a\nb", "x*", "[", "]", "\\",
    "-", "^", "foo:1", "foo:2", "foo:10", "Foo:3", "bar", "zzz", "\xe9t\xe9",
]

_GLOB_PATTERNS = [
    "*", "h?llo", "h*llo", "h[ae]llo", "h[^e]llo", "h[a-b]llo", "h[b-a]llo", "h\\*llo",
    "h\\?llo", "h[\\]]llo", "h[]llo", "h[", "h[a", "[", "[]", "[^]", "\\", "*\\", "a\\",
    "foo:*", "foo:?", "foo:??", "*o*", "**", "*?*", "?", "??", "[a-c]", "[!a]", "[^a-c]",
    "h[\\-]llo", "h[a-]llo", "[-a]", "[a-\\]", "\\[", "\\]", "*[", "[*]", "[?]", "a*b",
    "*:1*", "[f-f]oo:*", "[F]oo*", "*\xe9*", "[\\", "h[^]llo", "h[^-]llo", "[z-a]zz",
    "h[^\\]]llo", "", "*\n*",
]


def test_keys_patterns(pair: Pair) -> None:
    for key in _GLOB_KEYS:
        pair.check("SET", key.encode("latin-1"), "v")
    for pattern in _GLOB_PATTERNS:
        pair.check_unordered("KEYS", pattern.encode("latin-1"))
    pair.check("KEYS")
    pair.check("KEYS", "a", "b")


_GLOB_ALPHABET = [b"a", b"b", b"A", b"-", b"]", b"[", b"^", b"\\", b"*", b"?", b"\xe9", b"\n"]


def test_keys_glob_fuzz(pair2: Pair) -> None:
    """Random patterns and keys over a small alphabet full of glob syntax."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    keys = set()
    import random

    rng = random.Random(7)
    for _ in range(150):
        keys.add(b"".join(rng.choice(_GLOB_ALPHABET) for _ in range(rng.randrange(0, 5))))
    for key in keys:
        pair2.check("SET", key, "v")

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.sampled_from(_GLOB_ALPHABET), max_size=7).map(b"".join))
    def check(pattern: bytes) -> None:
        pair2.check_unordered("KEYS", pattern)

    check()


def test_keys_skips_expired_keys(pair: Pair) -> None:
    pair.check("SET", "live", "1")
    pair.check("SET", "dying", "1", "PX", "1")
    pair.check("SET", "later", "1", "EX", "1000")
    time.sleep(0.01)
    pair.check_unordered("KEYS", "*")
    pair.check_unordered("KEYS", "*i*")


# -- SCAN ---------------------------------------------------------------------------


def test_scan_full_iteration(pair: Pair) -> None:
    for i in range(300):
        pair.check("SET", f"key:{i}", "v")
    for options in ((), ("COUNT", "1"), ("COUNT", "7"), ("COUNT", "1000"), ("MATCH", "key:1*"),
                    ("MATCH", "*", "COUNT", "3"), ("MATCH", "nothing*"),
                    ("TYPE", "string"), ("TYPE", "STRING"), ("TYPE", "hash"), ("TYPE", "nosuch"),
                    ("MATCH", "key:2?", "TYPE", "string", "COUNT", "50"),
                    ("COUNT", "5", "COUNT", "9", "MATCH", "x*", "MATCH", "key:3*")):
        real, _ = _scan_all(pair.real, *options)
        cairn, _ = _scan_all(pair.cairn, *options)
        assert cairn == real, options


def test_scan_reply_shape_and_count(pair: Pair) -> None:
    # The cursor is a bulk string; an empty database answers "0" and no keys.
    pair.check("SCAN", "0")
    pair.check("SCAN", "12345")
    for i in range(200):
        pair.check("SET", f"k{i}", "v")
    # COUNT is a hint: a large one returns everything at once.
    pair.check_unordered("SCAN", "0", "COUNT", "100000")
    raw = pair.cairn.raw("SCAN", "0")
    assert raw.startswith(b"*2\r\n$")
    cursor, batch = pair.cairn.call("SCAN", "0", "COUNT", "10")
    assert cursor != b"0" and 5 <= len(batch) <= 60
    _, calls = _scan_all(pair.cairn, "COUNT", "10")
    assert 5 <= calls <= 60


def test_scan_errors(pair: Pair) -> None:
    pair.check("SET", "a", "1")
    for args in (("abc",), (" 0",), ("0 ",), ("0x1",), ("1e3",), ("-",), ("+",),
                 ("18446744073709551616",), ("99999999999999999999999",),
                 ("0", "COUNT"), ("0", "COUNT", "0"), ("0", "COUNT", "-1"),
                 ("0", "COUNT", "abc"), ("0", "COUNT", "99999999999999999999"),
                 ("0", "MATCH"), ("0", "TYPE"), ("0", "FOO", "bar"), ("0", "foo"),
                 ("abc", "COUNT", "0"), ("0", "COUNT", "0", "MATCH")):
        pair.check("SCAN", *args)
    pair.check("SCAN")


def test_scan_cursor_forms(pair: Pair) -> None:
    """strtoul() forms Redis accepts: empty, signs, leading zeros, the full 64 bits."""
    for i in range(5):
        pair.check("SET", f"k{i}", "v")
    full = set(pair.cairn.call("SCAN", "0", "COUNT", "100")[1])
    for cursor in ("", "+0", "-0", "00", "000"):
        # A zero cursor starts over on both servers.
        pair.check_unordered("SCAN", cursor, "COUNT", "100")
        assert set(pair.cairn.call("SCAN", cursor, "COUNT", "100")[1]) == full
    for cursor in ("+1", "-1", "18446744073709551615", "-18446744073709551615", "42"):
        for client in (pair.real, pair.cairn):
            reply = client.call("SCAN", cursor)
            assert isinstance(reply, list) and len(reply) == 2, (cursor, reply)


def test_scan_filters_expired_keys(pair: Pair) -> None:
    for i in range(20):
        pair.check("SET", f"k{i}", "v", "PX", "1" if i % 2 else "100000")
    time.sleep(0.01)
    real, _ = _scan_all(pair.real)
    cairn, _ = _scan_all(pair.cairn)
    assert cairn == real == {f"k{i}".encode() for i in range(0, 20, 2)}


def test_scan_guarantee_while_keyspace_grows_and_shrinks(cairn_server: Any) -> None:
    """Every key present for a whole iteration is returned, while 100k keys are
    added and others deleted between calls (the index resizes up and down)."""
    client = RawClient(cairn_server.port)
    try:
        client.raw("FLUSHALL")
        stable = [f"stable:{i}".encode() for i in range(2000)]
        doomed = [f"doomed:{i}".encode() for i in range(3000)]
        _pipeline(client, [("SET", k, "v") for k in stable + doomed])
        seen: set[bytes] = set()
        cursor = b"0"
        added = 0
        calls = 0
        phase_grow = True
        while True:
            cursor, batch = client.call("SCAN", cursor, "COUNT", "20")
            seen.update(batch)
            calls += 1
            if cursor == b"0":
                break
            if phase_grow and added < 100_000:
                batch_cmds = [("SET", f"new:{added + j}", "v") for j in range(2000)]
                added += 2000
                if doomed:
                    batch_cmds.append(("DEL", *doomed[:100]))
                    del doomed[:100]
                _pipeline(client, batch_cmds)
            elif added >= 100_000 and phase_grow:
                # Now shrink: drop everything that is not stable.
                phase_grow = False
                _pipeline(client, [("DEL", *[f"new:{j}" for j in range(i, min(i + 500, added))])
                                   for i in range(0, added, 500)])
                _pipeline(client, [("DEL", *doomed[i:i + 500]) for i in range(0, len(doomed), 500)])
        missing = [k for k in stable if k not in seen]
        assert not missing, f"{len(missing)} stable keys never returned ({calls} calls)"
        assert phase_grow is False, "the iteration ended before the keyspace shrank"
        assert client.call("DBSIZE") == len(stable)
    finally:
        client.raw("FLUSHALL")
        client.close()


def _pipeline(client: RawClient, commands: list[tuple[Any, ...]]) -> None:
    """Send many commands whose replies are one line each (+OK, :n); no errors."""
    assert not client.buffer
    client.send(b"".join(encode_command(c) for c in commands))
    data = bytearray()
    while data.count(b"\n") < len(commands):
        chunk = client.sock.recv(1 << 20)
        assert chunk, "connection closed"
        data += chunk
    assert data.count(b"\r\n") == len(commands)
    assert b"-" not in data.replace(b":-", b""), bytes(data[:200])


def test_scan_index_unit() -> None:
    """The index itself: resizes keep the guarantee and never lose keys."""
    keys = [b"k%d" % i for i in range(5000)]
    index = ScanIndex(keys, len(keys))
    cursor, got = index.scan(0, 50)
    seen = set(got)
    present = set(keys)
    added = 0
    growing = True
    sizes = [len(index.buckets)]
    while cursor:
        if growing:
            for _ in range(1000):  # grow a lot between calls
                index.add(b"n%d" % added)
                added += 1
        cursor, got = index.scan(cursor, 50)
        seen.update(got)
        sizes.append(len(index.buckets))
        if growing and added > 40000:
            for i in range(added):
                index.discard(b"n%d" % i)
            growing = False  # the table shrinks back
    assert present <= seen
    # It really resized, both ways, during the iteration.
    assert not growing and max(sizes) > sizes[0] and sizes[-1] < max(sizes)
    assert len(index) == len(keys)
    # A cursor inside a merged bucket filters what was already passed.
    small = ScanIndex([b"a", b"b", b"c"], 3)
    positions = sorted(key_hash(k) for k in (b"a", b"b", b"c"))
    _, rest = small.scan(positions[1], 10)
    assert sorted(key_hash(k) for k in rest) == positions[1:]


# -- RANDOMKEY ---------------------------------------------------------------------


def test_randomkey(pair: Pair) -> None:
    pair.check("RANDOMKEY")
    pair.check("SET", "only", "1")
    pair.check("RANDOMKEY")
    pair.check("RANDOMKEY", "x")
    for i in range(50):
        pair.check("SET", f"k{i}", "v")
    picks = {pair.cairn.call("RANDOMKEY") for _ in range(300)}
    assert len(picks) > 20 and all(p == b"only" or p.startswith(b"k") for p in picks)


def test_randomkey_never_returns_expired(pair: Pair) -> None:
    for i in range(30):
        pair.check("SET", f"gone{i}", "v", "PX", "1")
    pair.check("SET", "live", "v")
    time.sleep(0.01)
    for _ in range(10):
        pair.check("RANDOMKEY")
    pair.check("DEL", "live")
    pair.check("RANDOMKEY")


# -- DBSIZE and expiry without access -------------------------------------------------


def test_dbsize_does_not_count_expired_keys(cairn_server: Any) -> None:
    # Not differential: Redis counts keys whose time is up until they are collected.
    client = RawClient(cairn_server.port)
    try:
        client.raw("FLUSHALL")
        _pipeline(client, [("SET", f"t{i}", "v", "PX", "700") for i in range(2000)])
        _pipeline(client, [("SET", f"p{i}", "v") for i in range(10)])
        assert client.call("DBSIZE") == 2010
        time.sleep(0.75)
        assert client.call("DBSIZE") == 10
        assert len(client.call("KEYS", "*")) == 10
    finally:
        client.raw("FLUSHALL")
        client.close()


def test_active_expiry_bounds_memory_without_access(cairn_server: Any) -> None:
    """200k keys with a 100 ms TTL disappear within seconds without being read."""
    client = RawClient(cairn_server.port)
    try:
        client.raw("FLUSHALL")
        for start in range(0, 200_000, 10_000):
            _pipeline(client, [("SET", f"e{i}", "v", "PX", "100")
                               for i in range(start, start + 10_000)])
        set_done = time.monotonic()
        deadline = set_done + 10
        while client.call("DBSIZE") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.call("DBSIZE") == 0
        # DBSIZE leaves out keys whose time is up even before they are deleted, so
        # it cannot show that memory was reclaimed. INFO keyspace counts the stored
        # keys and touches none of them: wait for db0 to disappear from it.
        while b"db0:" in client.call("INFO", "keyspace") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert b"db0:" not in client.call("INFO", "keyspace")
        assert time.monotonic() - set_done < 10
    finally:
        client.raw("FLUSHALL")
        client.close()


def test_active_expire_cycle_frees_keys_in_process() -> None:
    """The cron's cycle alone (no lookups) deletes due keys, within its budget."""
    space = Keyspace(2)
    db = space.dbs[1]
    now = space.time_ms
    for i in range(200_000):
        key = b"k%d" % i
        db.set(key, b"v")
        db.set_expire(key, now + 100)
    db.set(b"forever", b"v")
    time.sleep(0.12)
    rounds = 0
    while len(db.data) > 1 and rounds < 400:
        space.active_expire_cycle(budget_s=0.025)
        rounds += 1
    assert len(db.data) == 1 and not db.expires and len(db._expire_heap) == 0
    assert rounds > 1  # it respected its time budget
    assert space.stat_expired_keys == 200_000
    # Each expiry was logged as a DEL.
    assert len(space.effects) == 200_000 and space.effects[0][1][0] == b"DEL"


def test_live_count_and_heap_walk() -> None:
    space = Keyspace(1)
    space.frozen_time = True
    space.time_ms = 1_000_000
    db = space.dbs[0]
    for i in range(100):
        db.set(b"k%d" % i, b"v")
        db.set_expire(b"k%d" % i, 1_000_000 + (i - 50) * 10)  # half are due
    db.set_expire(b"k0", 5_000_000)  # a stale heap entry for k0 remains due
    # Due: k1..k50 (k0's TTL moved to the future; its old heap entry is stale).
    assert db.live_count() == 50
    # Counting changed nothing.
    assert len(db.data) == 100 and db._expire_entries == 101
    space.time_ms = 2_000_000
    assert db.live_count() == 1
    db.persist(b"k0")
    assert db.live_count() == 1


# -- OBJECT ------------------------------------------------------------------------


def test_object_encoding_and_refcount(pair: Pair) -> None:
    values = ["0", "1", "9999", "10000", "-1", "012", "+1", " 1", "-0", "1.5",
              "9223372036854775807", "-9223372036854775808", "9223372036854775808",
              "12345678901234567890", "a" * 44, "a" * 45, "", "hello"]
    for value in values:
        pair.check("SET", "k", value)
        pair.check("OBJECT", "ENCODING", "k")
        pair.check("OBJECT", "REFCOUNT", "k")
    pair.check("SET", "k", "5")
    pair.check("APPEND", "k", "1")
    pair.check("OBJECT", "ENCODING", "k")
    pair.check("OBJECT", "REFCOUNT", "k")
    pair.check("INCR", "k")
    pair.check("OBJECT", "ENCODING", "k")
    pair.check("OBJECT", "REFCOUNT", "k")
    pair.check("SETRANGE", "r", "0", "abc")
    pair.check("OBJECT", "ENCODING", "r")
    pair.check("SET", "t", "123", "EX", "100")
    pair.check("OBJECT", "ENCODING", "t")
    pair.check("OBJECT", "REFCOUNT", "t")
    for sub in ("ENCODING", "REFCOUNT", "IDLETIME", "FREQ"):
        pair.check("OBJECT", sub, "nope")
        pair.check("OBJECT", sub)
        pair.check("OBJECT", sub, "k", "extra")


def test_object_help_and_errors(pair: Pair) -> None:
    pair.check("OBJECT", "HELP")
    pair.check("OBJECT", "help")
    pair.check("OBJECT", "HELP", "x")
    pair.check("OBJECT")
    pair.check("OBJECT", "FOO")
    pair.check("OBJECT", "FOO", "k")


def test_object_freq_needs_lfu_and_idletime_needs_lru(pair: Pair) -> None:
    pair.check("SET", "k", "hello")
    pair.check("OBJECT", "FREQ", "k")
    pair.check("OBJECT", "IDLETIME", "k")  # 0: just written (not a shared integer)
    assert pair.cairn.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu") == b"OK"
    pair.real.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
    try:
        pair.check("SET", "f", "hello")
        pair.check("OBJECT", "FREQ", "f")  # LFU_INIT_VAL
        pair.check("GET", "f")
        pair.check("OBJECT", "FREQ", "f")  # the first access always counts
        pair.check("OBJECT", "IDLETIME", "f")
        pair.check("OBJECT", "FREQ", "nope")
        pair.check("OBJECT", "ENCODING", "f")
    finally:
        pair.check("CONFIG", "SET", "maxmemory-policy", "noeviction")
    pair.check("OBJECT", "FREQ", "f")


def test_object_idletime_grows_and_touch_resets(cairn_server: Any) -> None:
    # Timing-based, so not differential. Redis also reports the age of a *shared*
    # integer object (values 0..9999) rather than of the key; Cairn does not.
    client = RawClient(cairn_server.port)
    try:
        client.raw("SET", "idle", "hello")
        client.raw("SET", "other", "hello")
        assert client.call("OBJECT", "IDLETIME", "idle") == 0
        time.sleep(2.2)
        assert client.call("OBJECT", "IDLETIME", "idle") in (2, 3)  # OBJECT does not touch
        assert client.call("OBJECT", "IDLETIME", "idle") in (2, 3)
        assert client.call("TOUCH", "idle") == 1
        assert client.call("OBJECT", "IDLETIME", "idle") == 0
        client.raw("GET", "other")
        assert client.call("OBJECT", "IDLETIME", "other") == 0
        client.raw("TYPE", "other")
        client.raw("TTL", "other")
        client.raw("EXISTS", "other")
        assert client.call("OBJECT", "IDLETIME", "other") == 0
    finally:
        client.raw("DEL", "idle", "other")
        client.close()


# -- EXPIRE family ------------------------------------------------------------------


@pytest.mark.parametrize("cmd", ["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"])
def test_expire_options_and_errors(pair: Pair, cmd: str) -> None:
    at = cmd.endswith("AT")
    ms = cmd.startswith("P")

    def t(n: int) -> str:
        # A time n seconds ahead, in the command's unit, exact on both servers.
        value = (FAR + n) if at else (100_000 + n)
        return str(value * 1000 if ms else value)

    pair.check(cmd, "nope", t(1))
    pair.check(cmd, "nope", t(1), "NX", "XX")
    pair.check(cmd, "nope", "abc", "NX", "XX")
    pair.check(cmd, "nope", "abc", "GT", "LT")
    pair.check(cmd, "nope", "abc", "FOO")
    pair.check(cmd, "nope", "abc")
    pair.check(cmd, "nope", "1.5")
    pair.check(cmd, "nope", "abc", "nx")
    pair.check("SET", "k", "v")
    pair.check(cmd, "k", t(1), "FOO")
    pair.check(cmd, "k", t(1), "NX", "GT")
    pair.check(cmd, "k", t(1), "NX", "LT")
    pair.check(cmd, "k", t(1), "GT", "LT")
    pair.check(cmd, "k", t(1), "XX")  # no TTL yet
    pair.check(cmd, "k", t(1), "GT")  # no TTL counts as infinite
    pair.check("TTL", "k")
    pair.check(cmd, "k", t(10), "LT")
    pair.check("TTL", "k")
    pair.check(cmd, "k", t(5), "NX")
    pair.check(cmd, "k", t(20), "nx", "nx")
    pair.check(cmd, "k", t(5), "XX")
    pair.check("TTL", "k")
    pair.check(cmd, "k", t(3), "GT")
    pair.check(cmd, "k", t(3), "XX", "GT")
    pair.check(cmd, "k", t(30), "gt")
    pair.check("TTL", "k")
    pair.check(cmd, "k", t(40), "LT")
    pair.check(cmd, "k", t(2), "lt", "xx")
    pair.check("TTL", "k")
    pair.check(cmd, "k", t(2), "LT")  # equal (or later, when relative): not less
    if at:
        pair.check(cmd, "k", t(2), "GT")  # equal: not greater
    pair.check("PERSIST", "k")
    pair.check(cmd, "k", t(2), "LT")
    pair.check("TTL", "k")
    pair.check(cmd)
    pair.check(cmd, "k")


@pytest.mark.parametrize("cmd", ["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"])
def test_expire_limits(pair: Pair, cmd: str) -> None:
    for value in ("-9223372036854775808", "9223372036854775807", "9223372036854775808",
                  "9223372036854775", "-9223372036854775", "9223372036854776",
                  "-9223372036854776", "9223372036854", "-9223372036854", "0", "-1", "1"):
        if value == "1" and cmd == "PEXPIRE":
            continue  # a 1 ms TTL races the EXISTS that follows on both servers
        pair.check("SET", "k", "v")
        pair.check(cmd, "k", value)
        pair.check("EXISTS", "k")
    pair.check("SET", "k", "v")
    pair.check(cmd, "k", "-5", "GT")  # no TTL (infinite) is never less than a past time
    pair.check(cmd, "k", "-5", "LT")  # ...and LT in the past deletes
    pair.check("EXISTS", "k")


def test_expire_in_the_past_deletes(pair: Pair) -> None:
    pair.check("SET", "a", "1")
    pair.check("EXPIRE", "a", "-10")
    pair.check("GET", "a")
    pair.check("SET", "a", "1")
    pair.check("PEXPIREAT", "a", "1")
    pair.check("GET", "a")
    pair.check("SET", "a", "1")
    pair.check("EXPIREAT", "a", "0")
    pair.check("DBSIZE")


def test_ttl_family(pair: Pair) -> None:
    pair.check("TTL", "nope")
    pair.check("PTTL", "nope")
    pair.check("EXPIRETIME", "nope")
    pair.check("PEXPIRETIME", "nope")
    pair.check("SET", "k", "v")
    for cmd in ("TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"):
        pair.check(cmd, "k")
        pair.check(cmd)
        pair.check(cmd, "k", "x")
    pair.check("PEXPIREAT", "k", FAR * 1000 + 999)
    pair.check("EXPIRETIME", "k")
    pair.check("PEXPIRETIME", "k")
    pair.check("EXPIRE", "k", "1000")
    pair.check("TTL", "k")  # rounded to the nearest second: exact
    real, cairn = pair.both("PTTL", "k")
    r, c = int(real[1:-2]), int(cairn[1:-2])
    assert 999_000 < r <= 1_000_000 and 999_000 < c <= 1_000_000
    pair.check("SET", "k", "v", "EX", "100")
    pair.check("TTL", "k")
    pair.check("SET", "k", "v")
    pair.check("TTL", "k")


def test_persist(pair: Pair) -> None:
    pair.check("PERSIST", "nope")
    pair.check("SET", "k", "v")
    pair.check("PERSIST", "k")
    pair.check("EXPIRE", "k", "100")
    pair.check("PERSIST", "k")
    pair.check("TTL", "k")
    pair.check("PERSIST", "k")
    pair.check("PERSIST")


def test_expire_and_persist_break_watch(pair: Pair) -> None:
    for command in (("EXPIRE", "w", "100"), ("PERSIST", "w"), ("EXPIRE", "w", "-1")):
        pair.check("SET", "w", "1", "EX", "500")
        pair.check("WATCH", "w")
        other = Pair(pair.real.port, pair.cairn.port, pair.resp)
        try:
            other.check(*command)
        finally:
            other.close()
        pair.check("MULTI")
        pair.check("PING")
        pair.check("EXEC")


def test_commands_inside_multi(pair: Pair) -> None:
    pair.check("SET", "a", "1")
    pair.check("MULTI")
    for args in (("EXPIRE", "a", "100"), ("TTL", "a"), ("RENAME", "a", "b"), ("COPY", "b", "c"),
                 ("MOVE", "c", "1"), ("EXISTS", "a", "b", "c"), ("TYPE", "b"), ("DBSIZE",),
                 ("PERSIST", "b"), ("SWAPDB", "0", "1"), ("KEYS", "*"), ("FLUSHDB",)):
        pair.check(*args)
    pair.check("EXEC")


# -- effects: what the log records replays to the same state --------------------------


class _RecordingLog:
    name = "recording"

    def __init__(self) -> None:
        self.records: list[list[Effect]] = []
        self.committed = 0
        self.last_lsn = 0
        self.failure = None

    def append(self, effects: list[Effect]) -> int:
        self.records.append(list(effects))
        self.last_lsn += 1
        self.committed = self.last_lsn
        return self.last_lsn


def _state(server: Server) -> list[tuple[dict[bytes, Any], dict[bytes, int]]]:
    return [({k: bytes(v) for k, v in db.data.items()}, dict(db.expires))
            for db in server.keyspace.dbs[:4]]


def test_effects_replay_to_the_same_state() -> None:
    log = _RecordingLog()
    primary = Server(log=log)  # type: ignore[arg-type]
    client = Client(primary)
    script = [
        "SET a 1", "SET b 2", "SET c 3", "SET d 4", "SET e 5",
        "EXPIRE a 1000", "PEXPIRE b 50000", "EXPIREAT c 4000000000 NX",
        "PEXPIREAT d 4000000000123 GT", "EXPIRE d 100 LT", "EXPIRE e -1",
        "RENAME a a2", "RENAMENX b b2", "COPY c c2", "COPY c c3 DB 2", "MOVE c2 1",
        "APPEND d xyz", "COPY d d2", "APPEND d2 !", "PERSIST b2", "DEL nope c",
        "SWAPDB 1 3", "SELECT 3", "SET z 26", "EXPIRE z 77", "MOVE z 0", "SELECT 0",
        "UNLINK d", "SET f 6 PX 1",
    ]
    for line in script:
        reply, _ = execute(primary, client, [w.encode() for w in line.split()])
        assert not isinstance(reply, Exception), (line, reply)
    time.sleep(0.01)
    primary.keyspace.refresh_time()
    execute(primary, client, [b"GET", b"f"])  # lazy expiry logs a DEL
    execute(primary, client, [b"FLUSHDB"])  # db 0 only
    execute(primary, client, [b"SELECT", b"2"])
    execute(primary, client, [b"EXPIRE", b"c3", b"500"])

    replica = Server()
    replayer = Replayer(replica)
    for lsn, record in enumerate(log.records, 1):
        replayer.apply_record(lsn, record)
    assert _state(replica) == _state(primary)
    # Relative expiry reached the log as absolute time.
    flat = [argv for record in log.records for _, argv in record]
    assert [b"EXPIRE", b"a", b"1000"] not in flat
    assert any(argv[0] == b"PEXPIREAT" and argv[1] == b"a" for argv in flat)
    assert [b"DEL", b"e"] in flat and [b"DEL", b"f"] in flat
    # Read-only commands log nothing.
    before = len(log.records)
    for line in ("TTL c3", "KEYS *", "SCAN 0", "DBSIZE", "EXISTS c3", "TYPE c3", "RANDOMKEY",
                 "OBJECT ENCODING c3", "TOUCH c3", "EXPIRE nope 10", "PERSIST c3"):
        execute(primary, client, [w.encode() for w in line.split()])
    assert len(log.records) == before + 1  # only PERSIST changed something
