"""The list value: a deque of byte strings plus what Redis 7.2's encoding needs.

Elements live in two Python lists, ``front`` (the head part, stored reversed)
and ``back`` (the tail part): the list is ``front[::-1] + back``. Pushes and
pops at either end are O(1) appends/pops (amortised: when one side runs dry,
half of the other side moves over), and indexing and slicing are O(1) / O(k)
C operations, so LINDEX, LSET and LRANGE are fast anywhere in a big list. Redis 7.2 stores a small
list as one listpack and a larger one as a quicklist (a linked list of
listpacks); OBJECT ENCODING reports which. To decide the encoding exactly as
Redis does, the object keeps the byte size its listpack would have
(``nbytes``: the sum of the listpack entry sizes) and a ``packed`` flag:

* listpack -> quicklist (growing): before an element is added, if the
  listpack's bytes plus the raw length of the new elements, or its entry count
  plus their number, pass ``list-max-listpack-size`` (a negative value picks a
  byte limit of 4/8/16/32/64 KB, a positive one counts entries and also caps
  the bytes at 8 KB).
* quicklist -> listpack (shrinking): after elements are removed, if the list
  would fit in one listpack of at most half those limits. Redis also requires
  its quicklist to have collapsed to a single node; this object does not model
  quicklist nodes, so it converts as soon as the size allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain

LP_HEADER = 7  # a listpack's 6-byte header plus its end byte
SIZE_SAFETY_LIMIT = 8192  # bytes cap of a node whose fill counts entries
_SIZE_LEVELS = (4096, 8192, 16384, 32768, 65536)
_HUGE = 1 << 62  # "no limit"
_INT_START = frozenset(b"-0123456789")


def _int_value(v: bytes) -> int | None:
    """The integer a listpack would store for ``v`` (strict decimal, int64), else None."""
    n = len(v)
    first = v[0]
    if first == 0x30:
        return 0 if n == 1 else None
    if first == 0x2D:
        if n == 1 or v[1] == 0x30 or not v[1:].isdigit():
            return None
    elif not v.isdigit():
        return None
    value = int(v)
    if value < -(1 << 63) or value >= 1 << 63:
        return None
    return value


def entry_size(v: bytes) -> int:
    """Bytes of one listpack entry holding ``v`` (encoding, data and back-length)."""
    n = len(v)
    if n and n <= 20 and v[0] in _INT_START:
        value = _int_value(v)
        if value is not None:
            if 0 <= value <= 127:
                return 2
            if -4096 <= value <= 4095:
                return 3
            if -32768 <= value <= 32767:
                return 4
            if -8388608 <= value <= 8388607:
                return 5
            if -2147483648 <= value <= 2147483647:
                return 6
            return 10
    if n < 64:
        return n + 2
    length = n + (2 if n < 4096 else 5)
    if length <= 127:
        return length + 1
    if length < 16383:
        return length + 2
    if length < 2097151:
        return length + 3
    if length < 268435455:
        return length + 4
    return length + 5


def sizes(values: Iterable[bytes]) -> int:
    return sum(map(entry_size, values))


def node_limits(fill: int) -> tuple[int, int]:
    """(byte limit, entry limit) of one listpack for ``list-max-listpack-size``."""
    if fill >= 0:
        return _HUGE, fill or 1
    return _SIZE_LEVELS[min(-fill - 1, len(_SIZE_LEVELS) - 1)], _HUGE


def exceeds(fill: int, nbytes: int, count: int) -> bool:
    """Whether a listpack of ``nbytes`` bytes and ``count`` entries is too big for one node."""
    size_limit, count_limit = node_limits(fill)
    if size_limit != _HUGE:
        return nbytes > size_limit
    return nbytes > SIZE_SAFETY_LIMIT or count > count_limit


class List:
    """A Redis list (see the module docstring)."""

    __slots__ = ("back", "front", "nbytes", "packed")

    TYPE_NAME = "list"

    def __init__(self, items: Iterable[bytes] = (), packed: bool = True) -> None:
        self.front: list[bytes] = []
        self.back: list[bytes] = list(items)
        self.nbytes = sizes(self.back)
        self.packed = packed

    def __len__(self) -> int:
        return len(self.front) + len(self.back)

    def __iter__(self) -> Iterator[bytes]:
        return chain(reversed(self.front), self.back)

    def __repr__(self) -> str:
        return f"List({list(self)!r}, packed={self.packed})"

    def encoding(self, config: object = None) -> str:
        return "listpack" if self.packed else "quicklist"

    def copy(self) -> List:
        new = List.__new__(List)
        new.front = self.front.copy()
        new.back = self.back.copy()
        new.nbytes = self.nbytes
        new.packed = self.packed
        return new

    def to_items(self) -> list[bytes]:
        """[encoding name, elements from head to tail...]."""
        return [b"listpack" if self.packed else b"quicklist", *self]

    @classmethod
    def from_items(cls, items: list[bytes]) -> List:
        head = bytes(items[0]) if items else b""
        if head not in (b"listpack", b"quicklist"):
            raise ValueError("not a list's items")
        return cls(map(bytes, items[1:]), packed=head == b"listpack")

    def flat(self) -> list[bytes]:
        """All elements in order as one Python list (the head part is folded in)."""
        front = self.front
        if front:
            front.reverse()
            front.extend(self.back)
            self.back = front
            self.front = []
        return self.back

    # -- encoding ------------------------------------------------------------------
    def grow(self, fill: int, add_bytes: int, add_count: int) -> None:
        """Redis' check before adding ``add_count`` elements of ``add_bytes`` raw bytes."""
        if self.packed and exceeds(fill, LP_HEADER + self.nbytes + add_bytes,
                                   len(self.front) + len(self.back) + add_count):
            self.packed = False

    def shrink(self, fill: int) -> None:
        """Redis' check after removing elements: back to a listpack when small enough."""
        if self.packed:
            return
        size_limit, count_limit = node_limits(fill)
        if (LP_HEADER + self.nbytes <= size_limit // 2
                and len(self.front) + len(self.back) <= count_limit // 2):
            self.packed = True

    # -- ends ----------------------------------------------------------------------
    def push(self, values: list[bytes], left: bool, fill: int) -> None:
        """Add values one by one at the head (left) or tail."""
        if self.packed:
            self.grow(fill, sum(map(len, values)), len(values))
        (self.front if left else self.back).extend(values)
        self.nbytes += sum(map(entry_size, values))

    def push_one(self, value: bytes, left: bool, fill: int, raw_bytes: int) -> None:
        """Add one element; ``raw_bytes`` is what Redis counts for it in the growth check."""
        if self.packed:
            if fill < 0:  # the usual case, inlined: a byte limit
                if (LP_HEADER + self.nbytes + raw_bytes
                        > _SIZE_LEVELS[min(-fill - 1, len(_SIZE_LEVELS) - 1)]):
                    self.packed = False
            else:
                self.grow(fill, raw_bytes, 1)
        (self.front if left else self.back).append(value)
        self.nbytes += entry_size(value)

    def _refill(self, left: bool) -> list[bytes]:
        """The side to pop from at the given end, refilled from the other side
        (half of it) when empty. The list must not be empty."""
        if left:
            side = self.front
            if not side:
                back = self.back
                half = (len(back) + 1) // 2
                side = back[half - 1 :: -1]
                del back[:half]
                self.front = side
        else:
            side = self.back
            if not side:
                front = self.front
                half = (len(front) + 1) // 2
                side = front[half - 1 :: -1]
                del front[:half]
                self.back = side
        return side

    def pop(self, left: bool) -> bytes:
        side = self.front if left else self.back
        value = (side or self._refill(left)).pop()
        self.nbytes -= entry_size(value)
        return value

    def pop_many(self, left: bool, count: int) -> list[bytes]:
        """Up to ``count`` elements from one end, in pop order."""
        front, back = self.front, self.back
        if count >= len(front) + len(back):
            out = self.flat()
            if not left:
                out.reverse()
            self.back = []
            self.nbytes = 0
            return out
        near, far = (front, back) if left else (back, front)
        k = min(count, len(near))
        out = near[len(near) - k :]
        out.reverse()
        del near[len(near) - k :]
        rest = count - k
        if rest:
            out.extend(far[:rest])
            del far[:rest]
        self.nbytes -= sum(map(entry_size, out))
        return out

    # -- by position -----------------------------------------------------------------
    def get(self, index: int) -> bytes:
        """The element at 0 <= index < len."""
        f = len(self.front)
        if index < f:
            return self.front[f - 1 - index]
        return self.back[index - f]

    def range(self, start: int, stop: int) -> list[bytes]:
        """Elements start..stop inclusive (0 <= start <= stop < len)."""
        front = self.front
        f = len(front)
        if start >= f:
            return self.back[start - f : stop - f + 1]
        if stop < f:
            out = front[f - 1 - stop : f - start]
            out.reverse()
            return out
        out = front[: f - start]
        out.reverse()
        out.extend(self.back[: stop - f + 1])
        return out

    def set(self, index: int, value: bytes) -> None:
        f = len(self.front)
        if index < f:
            side, i = self.front, f - 1 - index
        else:
            side, i = self.back, index - f
        self.nbytes += entry_size(value) - entry_size(side[i])
        side[i] = value

    def index(self, value: bytes) -> int:
        """Position of the first occurrence of value; ValueError if none."""
        return self.flat().index(value)

    def insert(self, index: int, value: bytes) -> None:
        f = len(self.front)
        if index <= f:
            self.front.insert(f - index, value)
        else:
            self.back.insert(index - f, value)
        self.nbytes += entry_size(value)

    def trim(self, left: int, right: int) -> None:
        """Drop ``left`` elements at the head and ``right`` at the tail."""
        n = len(self.front) + len(self.back)
        keep = n - left - right
        if keep <= 0:
            self.front = []
            self.back = []
            self.nbytes = 0
        elif keep < left + right:
            kept = self.range(left, left + keep - 1)
            self.front = []
            self.back = kept
            self.nbytes = sizes(kept)
        else:
            if left:
                self.pop_many(True, left)
            if right:
                self.pop_many(False, right)

    def remove(self, value: bytes, count: int) -> int:
        """LREM: drop up to ``count`` occurrences (0: all; negative: from the tail)."""
        items = self.flat()
        n = len(items)
        if count == 0:
            kept = [item for item in items if item != value]
            removed = n - len(kept)
            if removed:
                self.back = kept
        else:
            found = self._find(items, value, -count if count < 0 else count, count < 0, n)
            removed = len(found)
            if removed > 16:
                drop = set(found)
                self.back = [item for i, item in enumerate(items) if i not in drop]
            else:
                for i in sorted(found, reverse=True):
                    del items[i]
        if removed:
            self.nbytes -= removed * entry_size(value)
        return removed

    @staticmethod
    def _find(items: list[bytes], value: bytes, limit: int, from_tail: bool, scan: int,
              skip: int = 0) -> list[int]:
        """Indexes of matches among the first (or, from_tail, last) ``scan`` elements,
        skipping ``skip`` matches, at most ``limit`` of them (0: all)."""
        out: list[int] = []
        n = len(items)
        if from_tail:
            view = items[n - scan :]
            view.reverse()
        else:
            view = items
        index = view.index
        start = 0
        while True:
            try:
                i = index(value, start, scan)
            except ValueError:
                break
            if skip:
                skip -= 1
            else:
                out.append(n - 1 - i if from_tail else i)
                if len(out) == limit:
                    break
            start = i + 1
        return out

    def positions(self, value: bytes, rank: int, count: int, maxlen: int) -> list[int]:
        """LPOS: indexes of matches, skipping |rank|-1 of them, at most ``count``
        (0: all), comparing at most ``maxlen`` elements (0: all); rank < 0 scans
        from the tail."""
        items = self.flat()
        n = len(items)
        scan = min(n, maxlen) if maxlen else n
        return self._find(items, value, count, rank < 0, scan, abs(rank) - 1)
