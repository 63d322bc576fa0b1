"""The hash type: a ``dict`` of field -> value, one class per Redis encoding.

A hash *is* a dict (a subclass with no per-instance attributes), so a small hash
costs no more than a plain dict and reads (``h.get(field)``, ``len(h)``) run at
dict speed. The class is the encoding flag:

* ``Hash``: Redis' listpack encoding (small hashes). A dict keeps insertion
  order, updates a value in place and appends a new field at the end, exactly
  as a listpack does, so HKEYS / HGETALL / HSCAN answer in Redis' order.
* ``HashTable``: the hashtable encoding, reached once the hash holds more than
  hash-max-listpack-entries fields or a field or value longer than
  hash-max-listpack-value bytes. Encodings only go up: a ``Hash`` is replaced by
  a ``HashTable`` copy (``to_table``), never the reverse. Its iteration order
  is unspecified in Redis (ours is the dict's).

A ``HashTable`` also carries what big hashes need: an HSCAN index (an object
with ``add(field)`` / ``discard(field)`` and ``len()``, built by the command
layer on the first HSCAN) and a pool of fields for random picks (HRANDFIELD),
built on the first pick. Both are kept current by ``put`` and ``remove``, so a
``HashTable`` must only be changed through those two methods (updating the
value of an existing field with ``h[field] = value`` is fine).
"""

from __future__ import annotations

import random
from typing import Any

LISTPACK = b"listpack"
HASHTABLE = b"hashtable"

# Up to this size a random pick copies the fields instead of keeping a pool.
_SMALL = 64


class Hash(dict):  # type: ignore[type-arg]
    """A listpack-encoded hash (also the base of every hash)."""

    __slots__ = ()
    TYPE_NAME = "hash"

    # -- the value-type protocol ----------------------------------------------
    def encoding(self, config: Any = None) -> str:
        return "listpack"

    def copy(self) -> Hash:  # type: ignore[override]
        return Hash(self)

    def to_items(self) -> list[bytes]:
        """[encoding, field1, value1, field2, value2, ...] in iteration order."""
        items = [HASHTABLE if type(self) is HashTable else LISTPACK]
        for pair in self.items():
            items.extend(pair)
        return items

    @classmethod
    def from_items(cls, items: list[bytes]) -> Hash:
        if not items or len(items) % 2 != 1 or bytes(items[0]) not in (LISTPACK, HASHTABLE):
            raise ValueError("not a hash's items")
        fields = [bytes(x) for x in items[1::2]]
        values = [bytes(x) for x in items[2::2]]
        pairs = zip(fields, values, strict=True)
        if bytes(items[0]) == HASHTABLE:
            return HashTable(pairs)
        return Hash(pairs)

    # -- writing ------------------------------------------------------------
    def put(self, field: bytes, value: bytes) -> bool:
        """Set a field; True when it is new."""
        n = len(self)
        self[field] = value
        return len(self) != n

    def remove(self, field: bytes) -> bool:
        """Delete a field; False when it was not there."""
        return self.pop(field, None) is not None

    def too_big(self, max_entries: int, max_value: int, written: list[bytes]) -> bool:
        """Whether this listpack must become a hashtable after ``written`` (the
        fields and values just stored) went in: Redis converts when a field or a
        value is longer than hash-max-listpack-value or the entries exceed
        hash-max-listpack-entries."""
        return len(self) > max_entries or max(map(len, written)) > max_value

    def to_table(self) -> HashTable:
        """The same fields in a hashtable-encoded hash (Redis' conversion)."""
        return HashTable(self)

    # -- random picks ---------------------------------------------------------
    def random_field(self) -> bytes:
        """One field picked at random (the hash must not be empty)."""
        return random.choice(list(self))

    def random_fields_with_repeats(self, count: int) -> list[bytes]:
        """``count`` fields picked independently (HRANDFIELD with a negative count)."""
        return random.choices(list(self), k=count)

    def random_distinct(self, count: int) -> list[bytes]:
        """``count`` distinct fields (count < len), in random order."""
        return random.sample(list(self), count)


class HashTable(Hash):
    """A hashtable-encoded hash."""

    __slots__ = ("index", "pool")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # The HSCAN index (cairn.keyspace.scan.ScanIndex), built by the first HSCAN.
        self.index: Any = None
        # Fields for random picks: additions appended, removals left stale (a
        # pick drops them); rebuilt when stale entries make up half of it.
        self.pool: list[bytes] | None = None

    def encoding(self, config: Any = None) -> str:
        return "hashtable"

    def copy(self) -> HashTable:
        return HashTable(self)

    def put(self, field: bytes, value: bytes) -> bool:
        n = len(self)
        self[field] = value
        if len(self) == n:
            return False
        if self.index is not None:
            self.index.add(field)
        if self.pool is not None:
            self.pool.append(field)
        return True

    def remove(self, field: bytes) -> bool:
        if self.pop(field, None) is None:
            return False
        if self.index is not None:
            self.index.discard(field)
        return True

    def too_big(self, max_entries: int, max_value: int, written: list[bytes]) -> bool:
        return False

    def to_table(self) -> HashTable:
        return self

    def _live_pool(self) -> list[bytes]:
        pool = self.pool
        if pool is None or len(pool) > 2 * len(self) + 16:
            pool = self.pool = list(self)
        return pool

    def random_field(self) -> bytes:
        if len(self) <= _SMALL:
            self.pool = None
            return random.choice(list(self))
        pool = self._live_pool()
        while True:
            i = random.randrange(len(pool))
            field = pool[i]
            if field in self:
                return field
            pool[i] = pool[-1]
            pool.pop()

    def random_fields_with_repeats(self, count: int) -> list[bytes]:
        if len(self) <= _SMALL:
            return random.choices(list(self), k=count)
        pool = self._live_pool()
        if len(pool) != len(self):
            pool = self.pool = list(self)
        return random.choices(pool, k=count)

    def random_distinct(self, count: int) -> list[bytes]:
        size = len(self)
        if size <= _SMALL or count * 3 > size:
            return random.sample(list(self), count)
        picked: dict[bytes, None] = {}
        while len(picked) < count:
            picked[self.random_field()] = None
        return list(picked)
