"""The hash type, one class per Redis encoding.

* ``Hash``: Redis' listpack encoding (small hashes), packed into one ``bytes``
  object, the way a listpack packs its entries into one allocation. A million
  small hashes are the common case, and a dict plus two ``bytes`` objects per
  field and value costs about four times the listpack (see bench/memory.py); one
  blob costs little more than the data. Entries follow one another in insertion
  order; updating a value keeps its place and a new field goes at the end,
  exactly as in a listpack, so HKEYS / HGETALL / HSCAN answer in Redis' order.
* ``HashTable``: the hashtable encoding, reached once the hash holds more than
  hash-max-listpack-entries fields or a field or value longer than
  hash-max-listpack-value bytes. Encodings only go up: a ``Hash`` is replaced by
  a ``HashTable`` (``to_table``), never the reverse. It keeps a dict of field ->
  value; its iteration order is unspecified in Redis (ours is the dict's).

The blob of a ``Hash`` is, for each entry, ``0xFF field 0xFE value``, with any
0xFD, 0xFE or 0xFF byte inside a field or value escaped as 0xFD followed by 0x00,
0x01 or 0x02. So 0xFF only ever starts an entry and 0xFE only ever ends a field,
and a lookup is one ``find`` of ``0xFF field 0xFE`` (C speed, like the listpack
scan Redis does). Text never needs escaping (those bytes are not valid UTF-8);
binary data round-trips through the escapes. A blob only serves hashes of up to
``PACK_LIMIT`` bytes: a longer listpack-encoded hash (up to 512 entries by default)
keeps a dict in the same slot, so that no command scans or copies a long blob.

Both classes answer the same small mapping API (``get``, ``in``, ``len``,
iteration over fields, ``items()``, ``values()``, ``h[field]``) and change only
through ``put`` / ``remove`` (plus ``put_pairs``). A ``HashTable`` also carries
what big hashes need: an HSCAN index (an object with ``add(field)`` /
``discard(field)`` and ``len()``, built by the command layer on the first HSCAN)
and a pool of fields for random picks (HRANDFIELD), both kept current by ``put``
and ``remove``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

LISTPACK = b"listpack"
HASHTABLE = b"hashtable"

# Up to this size a random pick copies the fields instead of keeping a pool.
_SMALL = 64

_START = b"\xff"  # starts an entry
_END = b"\xfe"  # ends a field
_ESC = b"\xfd"
# A listpack-encoded hash whose blob would pass this many bytes keeps a dict
# instead (lookups and updates in a blob cost time in its length).
PACK_LIMIT = 1024

Pairs = Iterable[tuple[bytes, bytes]]


def _escape(data: bytes) -> bytes:
    if data.isascii():
        return data
    return data.replace(b"\xfd", b"\xfd\x00").replace(b"\xfe", b"\xfd\x01").replace(
        b"\xff", b"\xfd\x02")


def _unescape(data: bytes) -> bytes:
    if b"\xfd" not in data:
        return data
    return data.replace(b"\xfd\x01", b"\xfe").replace(b"\xfd\x02", b"\xff").replace(
        b"\xfd\x00", b"\xfd")


def _pack_flat(flat: list[bytes]) -> bytes:
    """The blob of [field1, value1, field2, value2, ...] (distinct fields)."""
    if not b"".join(flat).isascii():
        flat = [_escape(x) for x in flat]
    return (b"\xff%b\xfe%b" * (len(flat) >> 1)) % tuple(flat)


def _pack(pairs: Pairs) -> bytes:
    return _pack_flat(list(chain.from_iterable(pairs)))


def _flat(blob: bytes) -> list[bytes]:
    """[field1, value1, field2, value2, ...] of a packed blob."""
    flat = blob.replace(_END, _START).split(_START)
    del flat[0]
    if _ESC in blob:
        return [_unescape(x) for x in flat]
    return flat


def _as_pairs(source: Any) -> Pairs:
    if isinstance(source, Hash):
        return source.items()
    if isinstance(source, dict):
        return source.items()  # type: ignore[no-any-return]
    return source  # type: ignore[no-any-return]


class Hash:
    """A listpack-encoded hash (also the base of every hash).

    ``_b`` is the packed blob; past ``PACK_LIMIT`` bytes it becomes a dict (still
    listpack-encoded as far as Redis is concerned), so that no single command
    scans or copies a long blob: lookups in a blob cost time in its length.
    """

    __slots__ = ("_b",)
    TYPE_NAME = "hash"

    def __init__(self, pairs: Any = ()) -> None:
        """From a mapping or (field, value) pairs; a repeated field keeps its first
        place and its last value, like a dict."""
        self._b: Any = b""
        if pairs:
            self._set(dict(_as_pairs(pairs)))

    def _set(self, table: dict[bytes, bytes]) -> None:
        """Hold ``table``'s entries, packed unless they are too long for it."""
        blob = _pack(table.items())
        self._b = table if len(blob) > PACK_LIMIT else blob

    def _table(self) -> dict[bytes, bytes]:
        """The entries as a new dict (the hash must be packed)."""
        flat = _flat(self._b)
        return dict(zip(flat[0::2], flat[1::2]))

    # -- the value-type protocol ----------------------------------------------
    def encoding(self, config: Any = None) -> str:
        return "listpack"

    def copy(self) -> Hash:
        other = Hash()
        blob = self._b
        other._b = blob.copy() if type(blob) is dict else blob
        return other

    def to_items(self) -> list[bytes]:
        """[encoding, field1, value1, field2, value2, ...] in iteration order."""
        items = [LISTPACK]
        items.extend(self.flat())
        return items

    @classmethod
    def from_items(cls, items: list[bytes]) -> Hash:
        if not items or len(items) % 2 != 1 or bytes(items[0]) not in (LISTPACK, HASHTABLE):
            raise ValueError("not a hash's items")
        fields = [bytes(x) for x in items[1::2]]
        values = [bytes(x) for x in items[2::2]]
        pairs = list(zip(fields, values, strict=True))
        if bytes(items[0]) == HASHTABLE:
            return HashTable(pairs)
        return Hash(pairs)

    # -- reading ------------------------------------------------------------
    def __len__(self) -> int:
        blob = self._b
        if type(blob) is dict:
            return len(blob)
        return blob.count(_START)  # type: ignore[no-any-return]

    def __bool__(self) -> bool:
        return bool(self._b)

    def __contains__(self, field: Any) -> bool:
        blob = self._b
        if type(blob) is dict:
            return field in blob
        if field.isascii():
            return blob.find(b"\xff%b\xfe" % field) >= 0  # type: ignore[no-any-return]
        return blob.find(_START + _escape(field) + _END) >= 0  # type: ignore[no-any-return]

    def get(self, field: bytes, default: Any = None) -> Any:
        blob = self._b
        if type(blob) is dict:
            return blob.get(field, default)
        key = b"\xff%b\xfe" % field if field.isascii() else _START + _escape(field) + _END
        start = blob.find(key)
        if start < 0:
            return default
        start += len(key)
        end = blob.find(_START, start)
        value = blob[start:end] if end >= 0 else blob[start:]
        if value.isascii():
            return value
        return _unescape(value)

    def get_many(self, fields: list[bytes]) -> list[bytes | None]:
        """The values of ``fields`` (None where missing): HMGET."""
        blob = self._b
        if type(blob) is dict:
            get = blob.get
            return [get(field) for field in fields]
        find = blob.find
        out: list[bytes | None] = []
        add = out.append
        for field in fields:
            key = b"\xff%b\xfe" % field if field.isascii() else _START + _escape(field) + _END
            start = find(key)
            if start < 0:
                add(None)
                continue
            start += len(key)
            end = find(_START, start)
            value = blob[start:end] if end >= 0 else blob[start:]
            add(value if value.isascii() else _unescape(value))
        return out

    def __getitem__(self, field: bytes) -> bytes:
        value = self.get(field, _MISSING)
        if value is _MISSING:
            raise KeyError(field)
        return value  # type: ignore[no-any-return]

    def keys(self) -> list[bytes]:
        blob = self._b
        if type(blob) is dict:
            return list(blob)
        return _flat(blob)[0::2]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.keys())

    def values(self) -> list[bytes]:
        blob = self._b
        if type(blob) is dict:
            return list(blob.values())
        return _flat(blob)[1::2]

    def items(self) -> list[tuple[bytes, bytes]]:
        blob = self._b
        if type(blob) is dict:
            return list(blob.items())
        flat = _flat(blob)
        return list(zip(flat[0::2], flat[1::2]))

    def flat(self) -> list[bytes]:
        """[field1, value1, ...]: HGETALL's RESP2 shape."""
        blob = self._b
        if type(blob) is dict:
            return list(chain.from_iterable(blob.items()))
        return _flat(blob)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Hash):
            return dict(self.items()) == dict(other.items())
        if isinstance(other, dict):
            return dict(self.items()) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self.items())!r})"

    # -- writing ------------------------------------------------------------
    def put(self, field: bytes, value: bytes) -> bool:
        """Set a field; True when it is new."""
        blob = self._b
        if type(blob) is dict:
            n = len(blob)
            blob[field] = value
            return len(blob) != n
        key = b"\xff%b\xfe" % field if field.isascii() else _START + _escape(field) + _END
        start = blob.find(key)
        if start < 0:
            blob += key + (value if value.isascii() else _escape(value))
            self._b = blob
            if len(blob) > PACK_LIMIT:
                self._b = self._table()
            return True
        start += len(key)
        end = blob.find(_START, start)
        if not value.isascii():
            value = _escape(value)
        self._b = blob = blob[:start] + value + blob[end:] if end >= 0 else blob[:start] + value
        if len(blob) > PACK_LIMIT:
            self._b = self._table()
        return False

    def put_pairs(self, argv: list[bytes], first: int) -> int:
        """Set the fields and values ``argv[first:]`` (alternating); returns how
        many fields were new."""
        end = len(argv)
        if end - first == 2:
            return 1 if self.put(argv[first], argv[first + 1]) else 0
        blob = self._b
        if type(blob) is dict:
            n = len(blob)
            for i in range(first, end, 2):
                blob[argv[i]] = argv[i + 1]
            return len(blob) - n
        new = argv[first:]
        if blob:
            # Apply the pairs to the unpacked entries, then pack once.
            flat = _flat(blob)
            if flat[0::2] == new[0::2]:
                # The same fields in the same order (an object rewritten): new values.
                blob = _pack_flat(new)
                self._b = blob if len(blob) <= PACK_LIMIT else dict(zip(new[0::2], new[1::2]))
                return 0
            where = dict(zip(flat[0::2], range(1, len(flat), 2)))
            before = len(where)
            for i in range(0, len(new), 2):
                field = new[i]
                at = where.get(field)
                if at is None:
                    where[field] = len(flat) + 1
                    flat.append(field)
                    flat.append(new[i + 1])
                else:
                    flat[at] = new[i + 1]
            added = len(where) - before
        else:
            # A new hash (the common HSET of a new key): repeated fields go
            # through a dict, which keeps first places and last values.
            flat = new
            added = len(flat) >> 1
            if len(set(flat[0::2])) != added:
                table = dict(zip(flat[0::2], flat[1::2]))
                flat = list(chain.from_iterable(table.items()))
                added = len(table)
        blob = _pack_flat(flat)
        if len(blob) > PACK_LIMIT:
            self._b = dict(zip(flat[0::2], flat[1::2]))
        else:
            self._b = blob
        return added

    def remove(self, field: bytes) -> bool:
        """Delete a field; False when it was not there."""
        blob = self._b
        if type(blob) is dict:
            return blob.pop(field, None) is not None
        start = blob.find(_START + _escape(field) + _END)
        if start < 0:
            return False
        end = blob.find(_START, start + 1)
        self._b = blob[:start] + blob[end:] if end >= 0 else blob[:start]
        return True

    def too_big(self, max_entries: int, max_value: int, written: list[bytes],
                grew: bool = True) -> bool:
        """Whether this listpack must become a hashtable after ``written`` (the
        fields and values just stored) went in: Redis converts when a field or a
        value is longer than hash-max-listpack-value or the entries exceed
        hash-max-listpack-entries (which only a new field can make happen:
        ``grew``)."""
        return max(map(len, written)) > max_value or (grew and len(self) > max_entries)

    def to_table(self) -> HashTable:
        """The same fields in a hashtable-encoded hash (Redis' conversion)."""
        blob = self._b
        return HashTable(blob if type(blob) is dict else self._table())

    # -- random picks ---------------------------------------------------------
    def random_field(self) -> bytes:
        """One field picked at random (the hash must not be empty)."""
        return random.choice(self.keys())

    def random_fields_with_repeats(self, count: int) -> list[bytes]:
        """``count`` fields picked independently (HRANDFIELD with a negative count)."""
        return random.choices(self.keys(), k=count)

    def random_distinct(self, count: int) -> list[bytes]:
        """``count`` distinct fields (count < len), in random order."""
        return random.sample(self.keys(), count)


_MISSING: Any = object()


class HashTable(Hash):
    """A hashtable-encoded hash: a dict of field -> value."""

    __slots__ = ("d", "index", "pool")

    def __init__(self, pairs: Any = ()) -> None:
        self._b = b""
        self.d: dict[bytes, bytes] = dict(_as_pairs(pairs))
        # The HSCAN index (cairn.keyspace.scan.ScanIndex), built by the first HSCAN.
        self.index: Any = None
        # Fields for random picks: additions appended, removals left stale (a
        # pick drops them); rebuilt when stale entries make up half of it.
        self.pool: list[bytes] | None = None

    def encoding(self, config: Any = None) -> str:
        return "hashtable"

    def copy(self) -> HashTable:
        return HashTable(self.d)

    def to_items(self) -> list[bytes]:
        items = [HASHTABLE]
        for pair in self.d.items():
            items.extend(pair)
        return items

    def __len__(self) -> int:
        return len(self.d)

    def __bool__(self) -> bool:
        return bool(self.d)

    def __contains__(self, field: Any) -> bool:
        return field in self.d

    def get(self, field: bytes, default: Any = None) -> Any:
        return self.d.get(field, default)

    def __getitem__(self, field: bytes) -> bytes:
        return self.d[field]

    def keys(self) -> list[bytes]:
        return list(self.d)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.d)

    def values(self) -> list[bytes]:
        return list(self.d.values())

    def items(self) -> list[tuple[bytes, bytes]]:
        return list(self.d.items())

    def flat(self) -> list[bytes]:
        out: list[bytes] = []
        for pair in self.d.items():
            out.extend(pair)
        return out

    def put(self, field: bytes, value: bytes) -> bool:
        d = self.d
        n = len(d)
        d[field] = value
        if len(d) == n:
            return False
        if self.index is not None:
            self.index.add(field)
        if self.pool is not None:
            self.pool.append(field)
        return True

    def get_many(self, fields: list[bytes]) -> list[bytes | None]:
        get = self.d.get
        return [get(field) for field in fields]

    def put_pairs(self, argv: list[bytes], first: int) -> int:
        put = self.put
        added = 0
        for i in range(first, len(argv), 2):
            if put(argv[i], argv[i + 1]):
                added += 1
        return added

    def remove(self, field: bytes) -> bool:
        if self.d.pop(field, None) is None:
            return False
        if self.index is not None:
            self.index.discard(field)
        return True

    def too_big(self, max_entries: int, max_value: int, written: list[bytes],
                grew: bool = True) -> bool:
        return False

    def to_table(self) -> HashTable:
        return self

    def _live_pool(self) -> list[bytes]:
        pool = self.pool
        if pool is None or len(pool) > 2 * len(self.d) + 16:
            pool = self.pool = list(self.d)
        return pool

    def random_field(self) -> bytes:
        d = self.d
        if len(d) <= _SMALL:
            self.pool = None
            return random.choice(list(d))
        pool = self._live_pool()
        while True:
            i = random.randrange(len(pool))
            field = pool[i]
            if field in d:
                return field
            pool[i] = pool[-1]
            pool.pop()

    def random_fields_with_repeats(self, count: int) -> list[bytes]:
        d = self.d
        if len(d) <= _SMALL:
            return random.choices(list(d), k=count)
        pool = self._live_pool()
        if len(pool) != len(d):
            pool = self.pool = list(d)
        return random.choices(pool, k=count)

    def random_distinct(self, count: int) -> list[bytes]:
        d = self.d
        size = len(d)
        if size <= _SMALL or count * 3 > size:
            return random.sample(list(d), count)
        picked: dict[bytes, None] = {}
        while len(picked) < count:
            picked[self.random_field()] = None
        return list(picked)
