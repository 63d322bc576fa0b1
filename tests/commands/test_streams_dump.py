"""DUMP / RESTORE of streams (cairn/types/rdbstream.py), against redis-server 7.0.

- Streams without consumer groups: Cairn's DUMP is byte-identical to the oracle's
  (same listpacks, tombstones included, same LZF compression, same trailer).
- With groups, payloads hold absolute times (PEL delivery times, consumer seen
  times), so the two servers' own dumps differ in those bytes; instead a payload
  dumped by one server is restored on both, then XINFO STREAM FULL, XRANGE,
  XINFO GROUPS / CONSUMERS and XPENDING must agree (times come from the payload,
  so they are equal too; only the idle times, relative to "now", get a tolerance),
  and the restoring server's DUMP must give back the very same bytes.
- Redis 7.2 writes RDB version 11 with stream type 21 (consumers carry an
  active-time); Cairn writes version 10 / type 19 like 7.0 (readable by both)
  and reads 15, 19 and 21: those are checked in-process.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from harness import Pair

from cairn.types import rdb
from cairn.types.rdbcodecs import crc64
from cairn.types.stream import Consumer, Group, Nack, Stream

NODE_CONFIGS = (("100", "4096"), ("5", "4096"), ("3", "0"), ("0", "200"), ("1", "4096"))


def _config(pair: Pair, entries: str, nbytes: str) -> None:
    pair.check("CONFIG", "SET", "stream-node-max-entries", entries)
    pair.check("CONFIG", "SET", "stream-node-max-bytes", nbytes)


@pytest.fixture
def pair_cfg(pair2: Pair) -> Any:
    try:
        yield pair2
    finally:
        _config(pair2, "100", "4096")


# -- byte identity ------------------------------------------------------------------------


def _build(pair: Pair, rng: random.Random, n: int) -> None:
    """A stream built with explicit IDs (so both servers hold the same one)."""
    ms = rng.randrange(0, 5)
    names = [b"f", b"field", b"12", b"-7", b"x" * 70]
    for _ in range(n):
        ms += rng.choice((0, 0, 1, 3, 1 << 20))
        op = rng.random()
        if op < 0.7:
            nf = rng.choice((1, 1, 1, 2, 3))
            args: list[Any] = []
            for k in range(nf):
                name = names[k] if rng.random() < 0.8 else rng.choice(names)
                value = rng.choice((b"v", b"%d" % rng.randrange(-10**12, 10**12),
                                    b"w" * rng.randrange(0, 300), b"9223372036854775808",
                                    b"-0", b"007"))
                args += [name, value]
            pair.check("XADD", "s", f"{ms}-*", *args)
        elif op < 0.85:
            reply = pair.real.call("XRANGE", "s", "-", "+")
            if reply:
                victims = rng.sample(reply, min(len(reply), rng.randrange(1, 4)))
                pair.check("XDEL", "s", *(v[0] for v in victims))
        elif op < 0.93:
            pair.check("XTRIM", "s", "MAXLEN", rng.choice(("~", "=")), str(rng.randrange(0, 30)))
        else:
            first = pair.real.call("XRANGE", "s", "-", "+", "COUNT", "3")
            if first:
                pair.check("XTRIM", "s", "MINID", rng.choice(("~", "=")), first[-1][0])


@pytest.mark.parametrize("config", NODE_CONFIGS, ids=lambda c: "-".join(c))
@pytest.mark.parametrize("seed", range(4))
def test_dump_is_byte_identical(pair_cfg: Pair, config: tuple[str, str], seed: int) -> None:
    pair = pair_cfg
    _config(pair, *config)
    rng = random.Random(seed * 31 + len(config[0]))
    _build(pair, rng, 60)
    pair.check("XINFO", "STREAM", "s")
    payload = pair.check("DUMP", "s")
    assert payload.startswith(b"$")
    pair.check("COPY", "s", "dup")  # a copy keeps the tombstones too
    pair.check("DUMP", "dup")
    # Each server restores its own (identical) payload; the restored stream dumps the same.
    dumped = pair.real.call("DUMP", "s")
    pair.check("RESTORE", "copy", "0", dumped)
    pair.check("DUMP", "copy")
    pair.check("XINFO", "STREAM", "copy", "FULL")
    # And the restored copies keep behaving the same (node filling, trimming).
    pair.check("XADD", "copy", f"{1 << 50}-*", "f", "v")
    pair.check("XTRIM", "copy", "MAXLEN", "~", "5")
    pair.check("XINFO", "STREAM", "copy")
    pair.check("XDEL", "copy", pair.real.call("XRANGE", "copy", "-", "+")[-1][0])
    pair.check("XRANGE", "copy", "-", "+")


def test_dump_small_cases(pair_cfg: Pair) -> None:
    pair = pair_cfg
    cases: list[list[tuple[Any, ...]]] = [
        [("XADD", "s", "1-1", "a", "1")],
        [("XADD", "s", "1-1", "a", "1"), ("XDEL", "s", "1-1")],  # empty, no nodes
        [("XADD", "s", "MAXLEN", "0", "1-1", "a", "1")],
        [("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")],  # empty with a group
        [("XADD", "s", "18446744073709551615-5", "a", "1")],
        [("XADD", "s", "1-1", "a", "1"), ("XSETID", "s", "99-9", "ENTRIESADDED", "50",
                                        "MAXDELETEDID", "5-0")],
        [("XADD", "s", "1-1", "12", "-5", "9223372036854775807", "18446744073709551615"),
         ("XADD", "s", "2-1", "12", "1", "x", "2"), ("XADD", "s", "3-0", "12", "1")],
        [("XADD", "s", "5-1", "a", "1"), ("XGROUP", "CREATE", "s", "g", "0"),
         ("XGROUP", "CREATE", "s", "h", "$", "ENTRIESREAD", "7"),
         ("XGROUP", "CREATE", "s", "12", "$"), ("XGROUP", "CREATE", "s", "x" * 40, "0-1")],
    ]
    for case in cases:
        pair.check("DEL", "s")
        for args in case:
            pair.check(*args)
        pair.check("DUMP", "s")


def test_big_values_and_many_entries(pair_cfg: Pair) -> None:
    pair = pair_cfg
    _config(pair, "1000", "65536")
    rng = random.Random(7)
    for i in range(1, 700):
        pair.check("XADD", "s", f"{i}-0", "f", str(rng.randrange(10**6)), "blob",
                   bytes(rng.randrange(97, 100) for _ in range(rng.randrange(0, 200))))
    pair.check("XADD", "s", "700-0", "big", b"z" * 70000)  # a string of its own size class
    pair.check("XADD", "s", "701-0", "rnd", rng.randbytes(5000))  # incompressible
    pair.check("DUMP", "s")


# -- consumer groups: restore on both, compare, dump back --------------------------------


def _groups_scenario(pair: Pair) -> None:
    _config(pair, "4", "4096")
    for i in range(1, 25):
        pair.check("XADD", "s", f"{i}-{i % 3}", "n", str(i), *(["extra", "x"] if i % 5 == 0 else []))
    pair.check("XGROUP", "CREATE", "s", "g", "0")
    pair.check("XGROUP", "CREATE", "s", "other", "$")
    pair.check("XGROUP", "CREATE", "s", "late", "10-1", "ENTRIESREAD", "3")
    pair.check("XREADGROUP", "GROUP", "g", "alice", "COUNT", "5", "STREAMS", "s", ">")
    pair.check("XREADGROUP", "GROUP", "g", "bob", "COUNT", "4", "STREAMS", "s", ">")
    pair.check("XREADGROUP", "GROUP", "g", "carol", "NOACK", "COUNT", "2", "STREAMS", "s", ">")
    pair.check("XREADGROUP", "GROUP", "late", "dave", "COUNT", "3", "STREAMS", "s", ">")
    pair.check("XGROUP", "CREATECONSUMER", "s", "other", "idle")
    pair.check("XACK", "s", "g", "2-2")
    pair.check("XCLAIM", "s", "g", "bob", "0", "3-0", "TIME", "1700000000000", "RETRYCOUNT", "9")
    pair.check("XDEL", "s", "4-1", "7-1", "12-0")
    pair.check("XTRIM", "s", "MAXLEN", "=", "20")


def _strip(value: Any, names: tuple[bytes, ...]) -> Any:
    if isinstance(value, list):
        if len(value) % 2 == 0 and value and all(isinstance(k, bytes) for k in value[::2]) \
                and any(k in names for k in value[::2]):
            out: list[Any] = []
            for k, v in zip(value[::2], value[1::2], strict=True):
                if k not in names:
                    out += [k, _strip(v, names)]
            return out
        return [_strip(v, names) for v in value]
    return value


def _compare_restored(pair: Pair, key: str) -> None:
    # 7.2 adds active-time to XINFO STREAM FULL consumers: the 7.0 oracle has none.
    real = pair.real.call("XINFO", "STREAM", key, "FULL")
    cairn = pair.cairn.call("XINFO", "STREAM", key, "FULL")
    assert _strip(cairn, (b"active-time",)) == real
    pair.check("XINFO", "STREAM", key)
    pair.check("XRANGE", key, "-", "+")
    pair.check("XINFO", "GROUPS", key)
    pair.check("XPENDING", key, "g")
    for group in (b"g", b"late", b"other"):
        real = pair.real.call("XINFO", "CONSUMERS", key, group)
        cairn = pair.cairn.call("XINFO", "CONSUMERS", key, group)
        # idle is relative to now; 7.2's inactive field is absent from 7.0.
        fields = (b"idle", b"inactive")
        assert _strip(cairn, fields) == _strip(real, fields)
        for r, c in zip(real, cairn, strict=True):
            assert abs(dict(zip(c[::2], c[1::2]))[b"idle"] - dict(zip(r[::2], r[1::2]))[b"idle"]) < 2000
    real = pair.real.call("XPENDING", key, "g", "-", "+", "100")
    cairn = pair.cairn.call("XPENDING", key, "g", "-", "+", "100")
    assert [(e[0], e[1], e[3]) for e in cairn] == [(e[0], e[1], e[3]) for e in real]


@pytest.mark.parametrize("source", ["redis", "cairn"])
def test_groups_cross_restore(pair_cfg: Pair, source: str) -> None:
    pair = pair_cfg
    _groups_scenario(pair)
    origin = pair.real if source == "redis" else pair.cairn
    payload = origin.call("DUMP", "s")
    pair.check("RESTORE", "r", "0", payload)
    _compare_restored(pair, "r")
    # Both dump the restored value back to exactly the payload.
    assert pair.real.call("DUMP", "r") == payload
    assert pair.cairn.call("DUMP", "r") == payload
    # The restored groups keep working alike.
    pair.check("XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "r", ">")
    pair.check("XACK", "r", "g", "1-1", "5-2")
    pair.check("XGROUP", "DELCONSUMER", "r", "g", "bob")
    pair.check("XPENDING", "r", "g")
    pair.check("XINFO", "GROUPS", "r")
    pair.check("RESTORE", "r", "0", payload)  # BUSYKEY
    pair.check("RESTORE", "r", "0", payload, "REPLACE")
    pair.check("XINFO", "GROUPS", "r")


def test_restore_options_and_errors(pair_cfg: Pair) -> None:
    pair = pair_cfg
    pair.check("XADD", "s", "1-1", "a", "1")
    pair.check("XGROUP", "CREATE", "s", "g", "0")
    payload = pair.real.call("DUMP", "s")
    pair.check("RESTORE", "t", "100000", payload)
    assert abs(pair.real.call("PTTL", "t") - pair.cairn.call("PTTL", "t")) < 2000
    pair.check("TYPE", "t")
    pair.check("OBJECT", "ENCODING", "t")
    body = payload[:-10]
    # Truncated bodies (with a valid trailer): both refuse them.
    for cut in (1, 2, 5, 17, 19, len(body) // 2, len(body) - 1):
        short = body[:cut] + payload[-10:-8]
        bad = short + crc64(short).to_bytes(8, "little")
        pair.check("RESTORE", "bad", "0", bad)
    pair.check("EXISTS", "bad")
    flipped = bytearray(payload)
    flipped[5] ^= 0xFF
    pair.check("RESTORE", "bad", "0", bytes(flipped))  # checksum


# -- in-process: other RDB stream types, and malformed payloads --------------------------


def _sample_stream() -> Stream:
    s = Stream()
    for i in range(1, 30):
        s.append((i << 64) | (i % 4), [b"f", b"%d" % i] + ([b"g", b"x"] if i % 7 == 0 else []),
                 5, 4096)
    s.delete((3 << 64) | 3)
    s.delete((17 << 64) | 1)
    s.trim(25, None, False, 0)
    g = Group((20 << 64) | 0, 18)
    alice = Consumer(b"alice", 1_700_000_000_000)
    alice.active_time = 1_700_000_000_500
    idle = Consumer(b"idle", 1_600_000_000_000)
    g.consumers = {b"alice": alice, b"idle": idle}
    for i in (10, 12, 15):
        entry_id = (i << 64) | (i % 4)
        nack = Nack(alice, 1_650_000_000_000 + i, i)
        g.pel[entry_id] = nack
        alice.pel[entry_id] = nack
    s.groups = {b"empty": Group(0, -1), b"g": g}
    return s


def _canon(s: Stream) -> list[bytes]:
    """to_items with the tombstones in ID order (a loaded stream lists them so)."""
    s = s.copy()
    for node in s.nodes:
        if node.tombs:
            node.tombs = dict(sorted(node.tombs.items()))
    return s.to_items()


class _Config(dict):  # type: ignore[type-arg]
    pass


def test_in_process_round_trips() -> None:
    s = _sample_stream()
    items = _canon(s)
    v10 = rdb.dump(s, _Config())
    assert v10[0] == 19 and v10[-10:-8] == b"\n\x00"
    loaded = rdb.load(v10, _Config())
    # Version 10 (type 19) carries no active-time: 7.2 takes the seen-time for it.
    s_active = Stream.from_items(items)
    for group in (s_active.groups or {}).values():
        for consumer in group.consumers.values():
            consumer.active_time = consumer.seen_time
    assert _canon(loaded) == _canon(s_active)
    v11 = rdb.dump(s, _Config(), version=11)
    assert v11[0] == 21 and rdb.verify(v11)
    assert _canon(rdb.load(v11, _Config())) == items  # type 21: exact
    assert rdb.dump(rdb.load(v10, _Config()), _Config()) == v10


def _type15(s: Stream) -> bytes:
    """The stream as Redis 5/6 wrote it (type 15: no first/max-deleted IDs, no entries
    added, no entries read), with a version 9 trailer."""
    from cairn.types.rdb import _len, _string, listpack
    from cairn.types.rdbstream import node_values

    out = bytearray([15])
    _len(out, len(s.nodes))
    for node in s.nodes:
        _string(out, node.master.to_bytes(16, "big"))
        _string(out, listpack(node_values(s, node)))
    _len(out, len(s))
    _len(out, s.last_id >> 64)
    _len(out, s.last_id & ((1 << 64) - 1))
    groups = s.groups or {}
    _len(out, len(groups))
    for name in sorted(groups):
        g = groups[name]
        _string(out, name)
        _len(out, g.last_id >> 64)
        _len(out, g.last_id & ((1 << 64) - 1))
        _len(out, len(g.pel))
        for entry_id, nack in g.pel.items():
            out += entry_id.to_bytes(16, "big") + nack.time.to_bytes(8, "little")
            _len(out, nack.count)
        _len(out, len(g.consumers))
        for cname in sorted(g.consumers):
            c = g.consumers[cname]
            _string(out, cname)
            out += c.seen_time.to_bytes(8, "little")
            _len(out, len(c.pel))
            for entry_id in c.pel:
                out += entry_id.to_bytes(16, "big")
    out += b"\x09\x00"
    return bytes(out) + crc64(out).to_bytes(8, "little")


def test_reads_type_15() -> None:
    s = _sample_stream()
    loaded = rdb.load(_type15(s), _Config())
    assert loaded.ids == s.ids and loaded.entries == s.entries and loaded.tombstones() == s.tombstones()
    assert loaded.last_id == s.last_id and loaded.max_deleted == 0
    assert loaded.entries_added == len(s)  # what Redis assumes for old payloads
    assert [(n.master, n.last, n.live, n.deleted, n.nbytes()) for n in loaded.nodes] == \
        [(n.master, n.last, n.live, n.deleted, n.nbytes()) for n in s.nodes]
    groups = loaded.groups or {}
    assert set(groups) == {b"g", b"empty"}
    # entries-read is estimated from the stream (Redis' streamEstimateDistanceFromFirstEverEntry).
    assert groups[b"g"].entries_read == loaded.estimate_read(groups[b"g"].last_id)
    assert list(groups[b"g"].pel) == list((s.groups or {})[b"g"].pel)


def test_node_sizes_match_the_written_listpacks() -> None:
    """The node model (used for stream-node-max-bytes) equals the real listpack size."""
    from cairn.types.rdb import listpack
    from cairn.types.rdbstream import node_values

    rng = random.Random(3)
    for trial in range(20):
        s = Stream()
        ms = 0
        for _ in range(rng.randrange(1, 200)):
            ms += rng.choice((0, 1, 1 << 40))
            fields = [rng.choice((b"a", b"b", b"12")), rng.choice((b"1", b"-9999", b"y" * 100))]
            s.append(((ms + 1) << 64) | rng.randrange(5), fields, rng.choice((0, 3, 100)),
                     rng.choice((0, 100, 4096)))
            ms += 1
            if s.ids and rng.random() < 0.2:
                s.delete(rng.choice(s.ids))
        if rng.random() < 0.5 and len(s):
            s.trim(rng.randrange(len(s)), None, False, 0)
        for node in s.nodes:
            assert len(listpack(node_values(s, node))) == node.nbytes(), trial


def _corrupt(payload: bytes, rng: random.Random) -> bytes:
    body = bytearray(payload[:-10])
    for _ in range(rng.randrange(1, 4)):
        body[rng.randrange(len(body))] = rng.randrange(256)
    if rng.random() < 0.3:
        del body[rng.randrange(len(body)):]
        body += b"\x00"
    out = bytes(body) + payload[-10:-8]
    return out + crc64(out).to_bytes(8, "little")


def test_malformed_payloads_never_crash() -> None:
    """Random corruption: load either refuses (RdbError) or gives a consistent stream."""
    from cairn.types.rdbcodecs import RdbError

    base = rdb.dump(_sample_stream(), _Config())
    rng = random.Random(11)
    accepted = 0
    for _ in range(400):
        bad = _corrupt(base, rng)
        if not rdb.verify(bad):
            continue
        try:
            value = rdb.load(bad, _Config())
        except RdbError:
            continue
        accepted += 1
        assert isinstance(value, Stream)
        assert value.ids == sorted(set(value.ids)) and len(value.entries) == len(value.ids)
        assert sum(n.live for n in value.nodes) == len(value)
        for group in (value.groups or {}).values():
            for entry_id, nack in group.pel.items():
                assert nack.consumer.pel[entry_id] is nack
    assert accepted < 400


def test_restore_malformed_stream_on_cairn(pair2: Pair) -> None:
    """Cairn answers an error (never a crash) to payloads it cannot represent; the
    connection and the server stay up."""
    pair = pair2
    pair.check("XADD", "s", "1-1", "a", "1")
    pair.check("XGROUP", "CREATE", "s", "g", "0")
    pair.check("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")
    payload = pair.real.call("DUMP", "s")
    rng = random.Random(5)
    for _ in range(100):
        reply = pair.cairn.raw("RESTORE", "bad", "0", _corrupt(payload, rng), "REPLACE")
        assert reply in (b"+OK\r\n", b"-ERR Bad data format\r\n",
                         b"-ERR DUMP payload version or checksum are wrong\r\n"), reply
        pair.cairn.raw("XINFO", "STREAM", "bad", "FULL")
    assert pair.cairn.raw("PING") == b"+PONG\r\n"


def test_items_keep_tombstones() -> None:
    """Snapshots (to_items / from_items) carry the tombstones; a list written before
    they were kept (no tail) still loads, with none."""
    s = _sample_stream()
    tombs = s.tombstones()
    assert tombs
    again = Stream.from_items(s.to_items())
    assert again.tombstones() == tombs and again.to_items() == s.to_items()
    items = s.to_items()
    tail = 1 + sum(2 + len(fields) for fields in tombs.values())
    old = Stream.from_items(items[:-tail])
    assert old.tombstones() == {} and old.ids == s.ids and old.entries == s.entries
