"""Streams in Redis' RDB serialization (DUMP / RESTORE), for cairn.types.rdb.

Written as Redis 7.0 writes a stream (``RDB_TYPE_STREAM_LISTPACKS_2``, 19, in
an RDB version 10 payload): the radix tree's nodes, each a 16-byte big-endian
master ID and a listpack (LZF-compressed like any RDB string), then the length,
last ID, first ID, max deleted ID and entries added, then the consumer groups
in name order: name, last delivered ID, entries read, the PEL (16-byte IDs,
8-byte little-endian delivery time, delivery count), the consumers in name
order (name, 8-byte seen time, their PEL's IDs).

A node's listpack: the master entry (live count, deleted count, field count,
the field names, 0), then per entry: flags (1 deleted, 2 same fields as the
master), ms and seq deltas from the master ID, the field count and fields and
values (or the values alone with the same-fields flag), and the number of
listpack elements of the entry. Tombstones (``Node.tombs``) are written in
place, so the bytes are Redis' own.

Read: types 15 (Redis 5/6), 19 (7.0) and 21 (7.2, consumers carry an active
time; for older types the active time is taken to be the seen time, as Redis
7.2 does). Every structure is validated; anything inconsistent raises RdbError.

Pure data: no RESP, no I/O.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import TYPE_CHECKING

from cairn.types.rdbcodecs import RdbError
from cairn.types.stream import (
    INVALID_READ,
    SEQ_MASK,
    Consumer,
    Group,
    Nack,
    Node,
    Stream,
    _int_size,
)

if TYPE_CHECKING:
    from cairn.types.rdb import _Reader

T_STREAM_LISTPACKS = 15
T_STREAM_LISTPACKS_2 = 19
T_STREAM_LISTPACKS_3 = 21
STREAM_TYPES = (T_STREAM_LISTPACKS, T_STREAM_LISTPACKS_2, T_STREAM_LISTPACKS_3)

FLAG_DELETED = 1
FLAG_SAMEFIELDS = 2

_U64 = (1 << 64) - 1


def _delta(a: int, b: int) -> bytes:
    """a - b as Redis computes it: uint64 arithmetic read back as int64."""
    v = (a - b) & _U64
    return b"%d" % (v - (1 << 64) if v >> 63 else v)


# -- writing -----------------------------------------------------------------------------


def node_values(s: Stream, node: Node) -> list[bytes]:
    """The elements of a node's listpack, tombstones included."""
    ids = s.ids
    master = node.master
    lo = bisect_left(ids, master)
    hi = bisect_right(ids, node.last, lo)
    members = ids[lo:hi]
    tombs = node.tombs
    if tombs:
        members = sorted(members + list(tombs))
    names = node.fields
    nnames = len(names)
    out = [b"%d" % node.live, b"%d" % node.deleted, b"%d" % nnames, *names, b"0"]
    entries = s.entries
    m_ms, m_seq = master >> 64, master & SEQ_MASK
    same_count = b"%d" % (nnames + 3)
    for entry_id in members:
        fields = entries.get(entry_id)
        flags = 0
        if fields is None:
            assert tombs is not None
            fields = tombs[entry_id]
            flags = FLAG_DELETED
        nf = len(fields) // 2
        same = nf == nnames and tuple(fields[0::2]) == names
        if same:
            flags |= FLAG_SAMEFIELDS
        out += (b"%d" % flags, _delta(entry_id >> 64, m_ms), _delta(entry_id & SEQ_MASK, m_seq))
        if same:
            out += fields[1::2]
            out.append(same_count)
        else:
            out.append(b"%d" % nf)
            out += fields
            out.append(b"%d" % (2 * nf + 4))
    return out


def write(out: bytearray, s: Stream, version: int) -> None:
    """Append ``<type><value>`` of a stream (type 21 from RDB version 11 on)."""
    from cairn.types.rdb import _len, _string, listpack

    v3 = version >= 11
    out.append(T_STREAM_LISTPACKS_3 if v3 else T_STREAM_LISTPACKS_2)
    _len(out, len(s.nodes))
    for node in s.nodes:
        _string(out, node.master.to_bytes(16, "big"))
        _string(out, listpack(node_values(s, node)))

    def id_(value: int) -> None:
        _len(out, value >> 64)
        _len(out, value & SEQ_MASK)

    _len(out, len(s.ids))
    id_(s.last_id)
    id_(s.first_id)
    id_(s.max_deleted)
    _len(out, s.entries_added)
    groups = s.groups or {}
    _len(out, len(groups))
    for name in sorted(groups):
        group = groups[name]
        _string(out, name)
        id_(group.last_id)
        _len(out, group.entries_read & _U64)
        _len(out, len(group.pel))
        for entry_id, nack in group.pel.items():
            out += entry_id.to_bytes(16, "big")
            out += (nack.time & _U64).to_bytes(8, "little")
            _len(out, nack.count)
        _len(out, len(group.consumers))
        for cname in sorted(group.consumers):
            consumer = group.consumers[cname]
            _string(out, cname)
            out += (consumer.seen_time & _U64).to_bytes(8, "little")
            if v3:
                out += (consumer.active_time & _U64).to_bytes(8, "little")
            _len(out, len(consumer.pel))
            for entry_id in consumer.pel:
                out += entry_id.to_bytes(16, "big")


# -- reading -----------------------------------------------------------------------------


def _int(value: bytes) -> int:
    """A listpack element read as an integer (lpGetInteger); RdbError if it is none."""
    if not value or len(value) > 20:
        raise RdbError("stream listpack integer")
    try:
        number = int(value)
    except ValueError:
        raise RdbError("stream listpack integer") from None
    if b"%d" % number != value or not -(1 << 63) <= number < 1 << 63:
        raise RdbError("stream listpack integer")
    return number


def _read_node(s: Stream, master: int, blob: bytes, after: int) -> int:
    """Load one node (entries strictly above ``after``); returns its last ID."""
    from cairn.types.rdb import _lp_values

    values = _lp_values(blob)
    n = len(values)
    if n < 5:
        raise RdbError("stream node")
    live, deleted, nnames = _int(values[0]), _int(values[1]), _int(values[2])
    if live < 0 or deleted < 0 or nnames < 1 or n < 4 + nnames:
        raise RdbError("stream master entry")
    names = tuple(values[3:3 + nnames])
    if _int(values[3 + nnames]) != 0:
        raise RdbError("stream master entry")
    m_ms, m_seq = master >> 64, master & SEQ_MASK
    entries = s.entries
    tombs: dict[int, list[bytes]] = {}
    ids = s.ids
    seen_live = seen_deleted = 0
    last = after
    p = 4 + nnames
    while p < n:
        if p + 3 > n:
            raise RdbError("stream entry")
        flags = _int(values[p])
        if flags & ~(FLAG_DELETED | FLAG_SAMEFIELDS):
            raise RdbError("stream entry flags")
        ms = (m_ms + _int(values[p + 1])) & _U64
        seq = (m_seq + _int(values[p + 2])) & _U64
        p += 3
        if flags & FLAG_SAMEFIELDS:
            if p + nnames + 1 > n:
                raise RdbError("stream entry")
            fields: list[bytes] = []
            for name, value in zip(names, values[p:p + nnames], strict=True):
                fields += (name, value)
            p += nnames
            expected = nnames + 3
        else:
            if p >= n:
                raise RdbError("stream entry")
            nf = _int(values[p])
            p += 1
            if nf < 1 or p + 2 * nf + 1 > n:
                raise RdbError("stream entry")
            fields = values[p:p + 2 * nf]
            p += 2 * nf
            expected = 2 * nf + 4
        if _int(values[p]) != expected:
            raise RdbError("stream entry count")
        p += 1
        entry_id = ms << 64 | seq
        if entry_id <= last or entry_id < master:
            raise RdbError("stream IDs out of order")
        last = entry_id
        if flags & FLAG_DELETED:
            tombs[entry_id] = fields
            seen_deleted += 1
        else:
            entries[entry_id] = fields
            ids.append(entry_id)
            seen_live += 1
    if seen_live != live or seen_deleted != deleted or not live + deleted:
        raise RdbError("stream node counts")
    node = Node(master, names, len(blob) - _int_size(live) - _int_size(deleted))
    node.last = last
    node.live = live
    node.deleted = deleted
    if tombs:
        node.tombs = tombs
    s.nodes.append(node)
    s.node_starts.append(master)
    return last


def _time(r: _Reader) -> int:
    return int.from_bytes(r.take(8), "little", signed=True)


def _id(r: _Reader) -> int:
    ms = r.count()
    seq = r.count()
    if ms > _U64 or seq > _U64:
        raise RdbError("stream ID")
    return ms << 64 | seq


def read(kind: int, r: _Reader) -> Stream:
    """A stream of RDB type ``kind`` (15, 19 or 21) from the reader."""
    s = Stream()
    last = -1
    for _ in range(r.count()):
        key = r.string()
        if len(key) != 16:
            raise RdbError("stream node key")
        master = int.from_bytes(key, "big")
        if master <= last:
            raise RdbError("stream nodes out of order")
        blob = r.string()
        last = _read_node(s, master, blob, last)
    if r.count() != len(s.ids):
        raise RdbError("stream length")
    s.last_id = _id(r)
    if s.ids and s.last_id < s.ids[-1]:
        raise RdbError("stream last ID")
    if kind >= T_STREAM_LISTPACKS_2:
        _id(r)  # the first entry's ID: derived from the entries
        s.max_deleted = _id(r)
        s.entries_added = r.count()
    else:
        s.entries_added = len(s.ids)
    ngroups = r.count()
    if ngroups:
        s.groups = {}
    for _ in range(ngroups):
        _read_group(kind, r, s)
    return s


def _read_group(kind: int, r: _Reader, s: Stream) -> None:
    groups = s.groups
    assert groups is not None
    name = r.string()
    if name in groups:
        raise RdbError("duplicate consumer group")
    last_id = _id(r)
    if kind >= T_STREAM_LISTPACKS_2:
        read_count = r.count()
        if read_count >> 63:
            read_count -= 1 << 64
        if read_count < INVALID_READ:
            raise RdbError("group entries read")
    else:
        read_count = s.estimate_read(last_id)
    group = groups[name] = Group(last_id, read_count)
    pending: dict[int, tuple[int, int]] = {}
    for _ in range(r.count()):
        entry_id = int.from_bytes(r.take(16), "big")
        if entry_id in pending:
            raise RdbError("duplicate PEL entry")
        pending[entry_id] = (_time(r), r.count())
    for _ in range(r.count()):
        cname = r.string()
        if cname in group.consumers:
            raise RdbError("duplicate consumer")
        seen = _time(r)
        consumer = Consumer(cname, seen)
        consumer.active_time = _time(r) if kind >= T_STREAM_LISTPACKS_3 else seen
        group.consumers[cname] = consumer
        for _ in range(r.count()):
            entry_id = int.from_bytes(r.take(16), "big")
            owned = pending.pop(entry_id, None)
            if owned is None:
                raise RdbError("consumer PEL entry not in the group's PEL")
            nack = Nack(consumer, owned[0], owned[1])
            group.pel[entry_id] = nack
            consumer.pel[entry_id] = nack
    if pending:
        raise RdbError("group PEL entry without a consumer")
