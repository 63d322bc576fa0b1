"""The stream type: entries keyed by (ms, seq) IDs, plus consumer groups.

An ID is held as one int, ``ms << 64 | seq``, so IDs compare and sort as ints.
Entries live in a dict (ID -> flat [field, value, ...] list) beside a sorted
list of the live IDs (appends are always at the end; XRANGE bisects it).

Redis keeps the entries in listpack "nodes" of up to stream-node-max-entries
entries / stream-node-max-bytes bytes; approximate trimming (``~``) only drops
whole nodes, and XINFO reports the node count. So the nodes are modelled too:
for each node its master ID, last ID (tombstones included), live and deleted
counts, and its listpack size in bytes, computed with listpack's encodings.

Entries deleted by XDEL or an exact trim stay in their node as tombstones in
Redis until the whole node goes; their content is kept in the node's ``tombs``
(ID -> fields, None while there are none) for as long, so a DUMP writes the same
listpacks Redis would, and dropping a node drops its tombstones with it.

Consumer groups: the group's pending entries list (PEL) is an ordered map
ID -> Nack; each consumer has its own ordered PEL sharing the Nack objects.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any

from sortedcontainers import SortedDict

SEQ_MASK = (1 << 64) - 1
MAX_ID = (1 << 128) - 1
INVALID_READ = -1  # a group's entries-read counter that is not known
LISTPACK_MAX = 1 << 30


def fmt_id(value: int) -> bytes:
    return b"%d-%d" % (value >> 64, value & SEQ_MASK)


# -- listpack sizes -------------------------------------------------------------

def _int_size(v: int) -> int:
    """Bytes of a listpack integer element (encoding + backlen)."""
    if 0 <= v <= 127:
        return 2
    if -4096 <= v <= 4095:
        return 3
    if -32768 <= v <= 32767:
        return 4
    if -8388608 <= v <= 8388607:
        return 5
    if -2147483648 <= v <= 2147483647:
        return 6
    return 10


def _elem_size(s: bytes) -> int:
    """Bytes of a listpack element holding the string s (stored as an int when it is one)."""
    n = len(s)
    if 0 < n <= 20:
        first = s[0]
        if (48 <= first <= 57 or (first == 45 and n > 1)) and (s.isdigit() or s[1:].isdigit()):
            v = int(s)
            if -(1 << 63) <= v < (1 << 63) and b"%d" % v == s:
                return _int_size(v)
    if n < 64:
        enc = 1 + n
    elif n < 4096:
        enc = 2 + n
    else:
        enc = 5 + n
    if enc < 128:
        return enc + 1
    if enc < 16384:
        return enc + 2
    if enc < 2097152:
        return enc + 3
    if enc < 268435456:
        return enc + 4
    return enc + 5


def _signed(v: int) -> int:
    v &= SEQ_MASK
    return v - (1 << 64) if v >= 1 << 63 else v


class Node:
    """One listpack of Redis' stream: what trimming and XINFO need of it."""

    __slots__ = ("deleted", "fields", "fixed", "last", "live", "master", "tombs")

    def __init__(self, master: int, fields: tuple[bytes, ...], fixed: int) -> None:
        self.master = master
        self.last = master
        self.live = 0
        self.deleted = 0
        self.fields = fields
        self.fixed = fixed  # listpack bytes, without the live/deleted counters
        self.tombs: dict[int, list[bytes]] | None = None  # deleted entries still in it

    def nbytes(self) -> int:
        return self.fixed + _int_size(self.live) + _int_size(self.deleted)


# -- consumer groups --------------------------------------------------------------

class Nack:
    """A pending entry: who has it, when it was last delivered, how many times."""

    __slots__ = ("consumer", "count", "time")

    def __init__(self, consumer: Consumer, time: int, count: int) -> None:
        self.consumer = consumer
        self.time = time
        self.count = count


class Consumer:
    __slots__ = ("active_time", "name", "pel", "seen_time")

    def __init__(self, name: bytes, now: int) -> None:
        self.name = name
        self.seen_time = now
        self.active_time = -1
        self.pel: SortedDict = SortedDict()


class Group:
    __slots__ = ("consumers", "entries_read", "last_id", "pel")

    def __init__(self, last_id: int, entries_read: int) -> None:
        self.last_id = last_id
        self.entries_read = entries_read
        self.pel: SortedDict = SortedDict()
        self.consumers: dict[bytes, Consumer] = {}

    def consumer(self, name: bytes, now: int) -> tuple[Consumer, bool]:
        """The consumer called name, created if missing; (consumer, created)."""
        consumer = self.consumers.get(name)
        if consumer is None:
            consumer = self.consumers[name] = Consumer(name, now)
            return consumer, True
        return consumer, False

    def delete_consumer(self, name: bytes) -> int:
        """Remove a consumer and its pending entries; how many it had pending."""
        consumer = self.consumers.pop(name)
        pel = self.pel
        for entry_id in consumer.pel:
            del pel[entry_id]
        return len(consumer.pel)

    def ack(self, entry_id: int) -> bool:
        nack = self.pel.pop(entry_id, None)
        if nack is None:
            return False
        del nack.consumer.pel[entry_id]
        return True


# -- the stream -----------------------------------------------------------------

class Stream:
    TYPE_NAME = "stream"

    __slots__ = ("entries", "entries_added", "groups", "ids", "last_id", "max_deleted",
                 "node_starts", "nodes")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.entries: dict[int, list[bytes]] = {}
        self.last_id = 0
        self.max_deleted = 0
        self.entries_added = 0
        self.nodes: list[Node] = []
        self.node_starts: list[int] = []
        self.groups: dict[bytes, Group] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def encoding(self, config: Any = None) -> str:
        return "stream"

    @property
    def first_id(self) -> int:
        return self.ids[0] if self.ids else 0

    # -- adding ---------------------------------------------------------------
    def append(self, entry_id: int, fields: list[bytes], max_entries: int, max_bytes: int) -> None:
        """Add an entry (its ID already checked to be above last_id)."""
        nodes = self.nodes
        node = nodes[-1] if nodes else None
        if node is not None:
            limit = max_bytes if 0 < max_bytes <= LISTPACK_MAX else LISTPACK_MAX
            total = 0
            for item in fields:
                total += len(item)
            if node.nbytes() + total >= limit or (
                max_entries and node.live + node.deleted >= max_entries
            ):
                node = None
        names = tuple(fields[0::2])
        if node is None:
            fixed = 7 + _int_size(len(names)) + 2
            for name in names:
                fixed += _elem_size(name)
            node = Node(entry_id, names, fixed)
            nodes.append(node)
            self.node_starts.append(entry_id)
        master = node.master
        size = 2 + _int_size(_signed((entry_id >> 64) - (master >> 64)))
        size += _int_size(_signed((entry_id & SEQ_MASK) - (master & SEQ_MASK)))
        if names == node.fields:
            for value in fields[1::2]:
                size += _elem_size(value)
            size += _int_size(len(names) + 3)
        else:
            for item in fields:
                size += _elem_size(item)
            size += _int_size(len(names)) + _int_size(2 * len(names) + 4)
        node.fixed += size
        node.live += 1
        node.last = entry_id
        self.ids.append(entry_id)
        self.entries[entry_id] = fields
        self.last_id = entry_id
        self.entries_added += 1

    # -- deleting -------------------------------------------------------------
    def delete(self, entry_id: int) -> bool:
        """XDEL of one ID: the entry becomes a tombstone in its node."""
        fields = self.entries.pop(entry_id, None)
        if fields is None:
            return False
        ids = self.ids
        del ids[bisect_left(ids, entry_id)]
        at = bisect_right(self.node_starts, entry_id) - 1
        node = self.nodes[at]
        if node.live == 1:
            del self.nodes[at]
            del self.node_starts[at]
        else:
            node.live -= 1
            node.deleted += 1
            if node.tombs is None:
                node.tombs = {entry_id: fields}
            else:
                node.tombs[entry_id] = fields
        if entry_id > self.max_deleted:
            self.max_deleted = entry_id
        return True

    def _drop_head(self, count: int, whole_live: int) -> None:
        """Remove the first count live entries: the first whole_live went with their
        nodes, the others become tombstones of the (new) first node."""
        ids = self.ids
        entries = self.entries
        for entry_id in ids[:whole_live]:
            del entries[entry_id]
        if count > whole_live:
            node = self.nodes[0]
            tombs = node.tombs
            if tombs is None:
                tombs = node.tombs = {}
            for entry_id in ids[whole_live:count]:
                tombs[entry_id] = entries.pop(entry_id)
        del ids[:count]

    def trim(self, maxlen: int | None, minid: int | None, approx: bool, limit: int) -> int:
        """Redis' streamTrim: whole nodes from the head, then (exact only)
        tombstones inside the first node left. Returns the entries removed."""
        nodes = self.nodes
        removed = 0
        whole = 0
        whole_live = 0  # entries removed with their whole node
        length = len(self.ids)
        for node in nodes:
            if maxlen is not None and length <= maxlen:
                break
            live = node.live
            if limit and removed + live > limit:
                break
            if maxlen is not None:
                remove_node = length - live >= maxlen
            else:
                assert minid is not None
                remove_node = node.last < minid
            if remove_node:
                length -= live
                removed += live
                whole_live = removed
                whole += 1
                continue
            if approx:
                break
            # Mark entries of this node deleted, from its first one on.
            if maxlen is not None:
                k = length - maxlen
            else:
                assert minid is not None
                k = bisect_left(self.ids, minid, removed, removed + live) - removed
            if k > 0:
                node.live -= k
                node.deleted += k
                removed += k
            break
        if whole:
            del nodes[:whole]
            del self.node_starts[:whole]
        if removed:
            self._drop_head(removed, whole_live)
        return removed

    def tombstones(self) -> dict[int, list[bytes]]:
        """Every tombstone (ID -> fields), in node order."""
        out: dict[int, list[bytes]] = {}
        for node in self.nodes:
            if node.tombs:
                out.update(node.tombs)
        return out

    def first_with_tombstones(self) -> int:
        """The first ID of the first node, tombstones included (MAX_ID when empty)."""
        return self.nodes[0].master if self.nodes else MAX_ID

    # -- reading ----------------------------------------------------------------
    def range(self, start: int, end: int, count: int = 0, rev: bool = False) -> list[int]:
        """The live IDs in [start, end], at most count of them (0: all)."""
        ids = self.ids
        if start > end or not ids:
            return []
        lo = 0 if start <= ids[0] else bisect_left(ids, start)
        hi = len(ids) if end >= ids[-1] else bisect_right(ids, end)
        if lo >= hi:
            return []
        if rev:
            if count and hi - lo > count:
                lo = hi - count
            out = ids[lo:hi]
            out.reverse()
            return out
        if count and hi - lo > count:
            hi = lo + count
        return ids[lo:hi]

    def radix_nodes(self) -> int:
        """How many nodes Redis' radix tree of the listpack keys (16-byte big-endian
        master IDs) has: a compressed trie, one node per branching point, leaf,
        and chain below a branching point."""
        keys = [k.to_bytes(16, "big") for k in self.node_starts]
        if not keys:
            return 1
        return _walk(keys, 0)

    # -- groups -----------------------------------------------------------------
    def has_tombstones_after(self, start: int) -> bool:
        """Redis' streamRangeHasTombstones(start, +)."""
        return bool(self.ids) and self.max_deleted != 0 and start <= self.max_deleted

    def estimate_read(self, entry_id: int) -> int:
        """Redis' streamEstimateDistanceFromFirstEverEntry (INVALID_READ when unknown)."""
        added = self.entries_added
        if not added:
            return 0
        if not self.ids and entry_id <= self.last_id:
            return added
        if entry_id == self.last_id:
            return added
        if entry_id > self.last_id:
            return INVALID_READ
        first = self.first_id
        if self.max_deleted == 0 or self.max_deleted < first:
            if entry_id < first:
                return added - len(self.ids)
            if entry_id == first:
                return added - len(self.ids) + 1
        return INVALID_READ

    def lag(self, group: Group) -> int | None:
        if not self.entries_added:
            return 0
        if group.entries_read != INVALID_READ and not self.has_tombstones_after(group.last_id):
            return self.entries_added - group.entries_read
        read = self.estimate_read(group.last_id)
        if read != INVALID_READ:
            return self.entries_added - read
        return None

    def deliver(self, group: Group, entry_id: int) -> None:
        """Move the group's last-delivered ID forward to entry_id (a delivery)."""
        if entry_id > group.last_id:
            if group.entries_read != INVALID_READ and not self.has_tombstones_after(entry_id):
                group.entries_read += 1
            elif self.entries_added:
                group.entries_read = self.estimate_read(entry_id)
            group.last_id = entry_id

    # -- snapshots --------------------------------------------------------------
    def to_items(self) -> list[bytes]:
        out: list[bytes] = [b"%d" % self.last_id, b"%d" % self.entries_added,
                            b"%d" % self.max_deleted, b"%d" % len(self.nodes)]
        for node in self.nodes:
            out += [b"%d" % node.master, b"%d" % node.last, b"%d" % node.live,
                    b"%d" % node.deleted, b"%d" % node.fixed, b"%d" % len(node.fields)]
            out += node.fields
        out.append(b"%d" % len(self.ids))
        for entry_id in self.ids:
            fields = self.entries[entry_id]
            out += [b"%d" % entry_id, b"%d" % len(fields)]
            out += fields
        groups = self.groups or {}
        out.append(b"%d" % len(groups))
        for name, group in groups.items():
            out += [name, b"%d" % group.last_id, b"%d" % group.entries_read,
                    b"%d" % len(group.consumers)]
            for consumer in group.consumers.values():
                out += [consumer.name, b"%d" % consumer.seen_time, b"%d" % consumer.active_time]
            out.append(b"%d" % len(group.pel))
            for entry_id, nack in group.pel.items():
                out += [b"%d" % entry_id, nack.consumer.name, b"%d" % nack.time, b"%d" % nack.count]
        tombs = self.tombstones()
        out.append(b"%d" % len(tombs))
        for entry_id, fields in tombs.items():
            out += [b"%d" % entry_id, b"%d" % len(fields)]
            out += fields
        return out

    @classmethod
    def from_items(cls, items: list[bytes]) -> Stream:
        s = cls()
        it = iter(items)

        def num() -> int:
            return int(next(it))

        s.last_id, s.entries_added, s.max_deleted = num(), num(), num()
        for _ in range(num()):
            master, last, live, deleted, fixed, nfields = (num() for _ in range(6))
            node = Node(master, tuple(next(it) for _ in range(nfields)), fixed)
            node.last, node.live, node.deleted = last, live, deleted
            s.nodes.append(node)
            s.node_starts.append(master)
        for _ in range(num()):
            entry_id = num()
            s.ids.append(entry_id)
            s.entries[entry_id] = [next(it) for _ in range(num())]
        ngroups = num()
        if ngroups:
            s.groups = {}
        for _ in range(ngroups):
            name = next(it)
            group = Group(num(), num())
            s.groups[name] = group  # type: ignore[index]
            for _ in range(num()):
                consumer = Consumer(next(it), num())
                consumer.active_time = num()
                group.consumers[consumer.name] = consumer
            for _ in range(num()):
                entry_id = num()
                owner = group.consumers[next(it)]
                nack = Nack(owner, num(), num())
                group.pel[entry_id] = nack
                owner.pel[entry_id] = nack
        for _ in range(int(next(it, b"0"))):  # tombstones (absent from older lists)
            entry_id = num()
            node = s.nodes[bisect_right(s.node_starts, entry_id) - 1]
            if node.tombs is None:
                node.tombs = {}
            node.tombs[entry_id] = [next(it) for _ in range(num())]
        return s

    def copy(self) -> Stream:
        return Stream.from_items(self.to_items())


def _walk(keys: list[bytes], depth: int) -> int:
    """Rax nodes of the subtree at a node placed after depth bytes (keys sorted)."""
    first, last = keys[0], keys[-1]
    size = len(first)
    if len(keys) == 1:
        return 1 if depth == size else 2  # a chain node then the leaf
    split = depth
    while first[split] == last[split]:
        split += 1
    total = 1 if split > depth else 0  # a chain down to the branching point
    total += 1  # the branching node
    i = 0
    n = len(keys)
    while i < n:
        byte = keys[i][split]
        j = i + 1
        while j < n and keys[j][split] == byte:
            j += 1
        total += _walk(keys[i:j], split + 1)
        i = j
    return total
