"""The sorted set: members with double scores, ordered by (score, member bytes).

A ``ZSet`` keeps two views of the same pairs:

- ``scores``: a dict member -> score (ZSCORE, ZADD's "does it exist", O(1));
- ``order``: a ``sortedcontainers.SortedList`` of ``(score, member)`` tuples,
  Redis' order (score, then member compared as raw bytes), giving ranks and
  range boundaries in O(log n). The tuple shares its float and bytes objects
  with the dict, so a member costs one tuple and one list slot on top of the dict.

``big`` records the encoding Redis would use: False is "listpack", True is
"skiplist". Like Redis, a set only converts upwards (a skiplist never goes back
to a listpack); a *new* set made by a STORE command chooses from its size.
A listpack stores scores as text, which turns a score of -0 into 0; the
listpack form here does the same so replies match.

Also here: the
union/intersection/difference algebra of ZUNION/ZINTER/ZDIFF (``combine``).
Pure data: no RESP, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

from sortedcontainers import SortedList

ENTRIES = "zset-max-listpack-entries"
VALUE = "zset-max-listpack-value"

# -- score formatting ------------------------------------------------------------



# -- the value -----------------------------------------------------------------------


def fits_listpack(config: Any, length: int, max_member_len: int) -> bool:
    """Would Redis create a set of this size / longest member as a listpack?"""
    return length <= config[ENTRIES] and max_member_len <= config[VALUE]


class ZSet:
    """Members with scores. See the module doc for the representation."""

    __slots__ = ("big", "order", "scan_index", "scores")

    TYPE_NAME = "zset"

    def __init__(self, big: bool = False) -> None:
        self.scores: dict[bytes, float] = {}
        self.order: Any = SortedList()
        self.big = big
        # A SCAN index (cairn.keyspace.scan.ScanIndex) built by the first ZSCAN
        # of a skiplist-encoded set, then kept up to date; None until then.
        self.scan_index: Any = None

    # -- introspection ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.scores)

    def __iter__(self) -> Iterator[tuple[float, bytes]]:
        return iter(self.order)

    def __contains__(self, member: object) -> bool:
        return member in self.scores

    def encoding(self, config: Any) -> str:
        return "skiplist" if self.big else "listpack"

    def grow(self, config: Any, new_members: int, max_member_len: int) -> None:
        """Convert to a skiplist if adding new members would pass the limits."""
        if not self.big and (
            len(self.scores) + new_members > config[ENTRIES] or max_member_len > config[VALUE]
        ):
            self.big = True

    # -- snapshots / COPY ---------------------------------------------------------------
    def copy(self) -> ZSet:
        other = ZSet(self.big)
        other.scores = dict(self.scores)
        other.order = SortedList(self.order)
        return other

    def to_items(self) -> list[bytes]:
        """[encoding flag, member, score, member, score, ...] in order; scores as
        float.hex() so they read back exactly."""
        items = [b"skiplist" if self.big else b"listpack"]
        for score, member in self.order:
            items.append(member)
            items.append(score.hex().encode())
        return items

    @classmethod
    def from_items(cls, items: list[bytes]) -> ZSet:
        zset = cls(items[0] == b"skiplist")
        scores = zset.scores
        pairs = []
        for i in range(1, len(items), 2):
            member = items[i]
            score = float.fromhex(items[i + 1].decode())
            scores[member] = score
            pairs.append((score, member))
        zset.order = SortedList(pairs)
        return zset

    # -- single members -------------------------------------------------------------------
    def get(self, member: bytes) -> float | None:
        return self.scores.get(member)

    def set(self, member: bytes, score: float) -> None:
        """Insert a member or change its score (the caller checked the encoding)."""
        if not self.big and score == 0.0:
            score = 0.0  # a listpack keeps "0" for -0
        scores = self.scores
        old = scores.get(member)
        if old is not None:
            if old == score:
                return
            self.order.remove((old, member))
        elif self.scan_index is not None:
            self.scan_index.add(member)
        scores[member] = score
        self.order.add((score, member))

    def discard(self, member: bytes) -> bool:
        old = self.scores.pop(member, None)
        if old is None:
            return False
        self.order.remove((old, member))
        if self.scan_index is not None:
            self.scan_index.discard(member)
        return True

    def rank(self, member: bytes) -> int | None:
        score = self.scores.get(member)
        if score is None:
            return None
        return int(self.order.bisect_left((score, member)))

    # -- spans of the order: half-open index ranges [lo, hi) ----------------------------
    def at(self, lo: int, hi: int) -> list[tuple[float, bytes]]:
        return list(self.order.islice(lo, hi))

    def at_reversed(self, lo: int, hi: int) -> list[tuple[float, bytes]]:
        return list(self.order.islice(lo, hi, reverse=True))

    def score_span(self, low: float, low_ex: bool, high: float, high_ex: bool) -> tuple[int, int]:
        """Indexes of the members with low <(=) score <(=) high."""
        order = self.order
        if low_ex:
            if low == math.inf:
                return 0, 0
            lo = order.bisect_left((math.nextafter(low, math.inf), b""))
        else:
            lo = order.bisect_left((low, b""))
        if high_ex:
            hi = order.bisect_left((high, b""))
        elif high == math.inf:
            hi = len(order)
        else:
            hi = order.bisect_left((math.nextafter(high, math.inf), b""))
        return (lo, hi) if lo < hi else (0, 0)

    def lex_span(self, low: LexBound, high: LexBound, reverse: bool = False) -> tuple[int, int]:
        """Indexes of the members between two lex bounds, found the way Redis finds
        them: from the first member >= low forwards (from the last member <= high
        backwards when ``reverse``), stopping at the first member out of range.
        With equal scores (the only case Redis defines) that is a bisection."""
        order = self.order
        n = len(order)
        if not n or lex_range_empty(low, high):
            return 0, 0
        first_score, first_member = order[0]
        last_score, last_member = order[-1]
        if not (lex_gte(last_member, low) and lex_lte(first_member, high)):
            return 0, 0
        if first_score == last_score:
            lo = _lex_bisect_low(order, first_score, low, n)
            hi = _lex_bisect_high(order, first_score, high, n)
            return (lo, hi) if lo < hi else (0, 0)
        members = [m for _s, m in order]
        if not reverse:
            for i in range(n):
                if lex_gte(members[i], low):
                    break
            else:
                return 0, 0
            j = i
            while j < n and lex_lte(members[j], high):
                j += 1
            return i, j
        for i in range(n - 1, -1, -1):
            if lex_lte(members[i], high):
                break
        else:
            return 0, 0
        j = i
        while j >= 0 and lex_gte(members[j], low):
            j -= 1
        return j + 1, i + 1

    def delete_span(self, lo: int, hi: int) -> int:
        """Remove the members at indexes [lo, hi); returns how many."""
        if hi <= lo:
            return 0
        order = self.order
        gone = order[lo:hi]
        del order[lo:hi]
        scores = self.scores
        index = self.scan_index
        for _score, member in gone:
            del scores[member]
            if index is not None:
                index.discard(member)
        return hi - lo

    def pop(self, count: int, maximum: bool) -> list[tuple[bytes, float]]:
        """Remove and return up to ``count`` lowest (or highest) members, in pop order."""
        order = self.order
        n = min(count, len(order))
        if n <= 0:
            return []
        if maximum:
            taken = order[len(order) - n :]
            taken.reverse()
            del order[len(order) - n :]
        else:
            taken = order[:n]
            del order[:n]
        scores = self.scores
        index = self.scan_index
        out = []
        for score, member in taken:
            del scores[member]
            if index is not None:
                index.discard(member)
            out.append((member, score))
        return out


# -- lex ranges ---------------------------------------------------------------------------

# A lex bound: (kind, value, exclusive); kind -1 is "-", 1 is "+", 0 a string.
LexBound = tuple[int, bytes, bool]


def lex_gte(member: bytes, low: LexBound) -> bool:
    kind, value, exclusive = low
    if kind:
        return kind < 0
    return member > value if exclusive else member >= value


def lex_lte(member: bytes, high: LexBound) -> bool:
    kind, value, exclusive = high
    if kind:
        return kind > 0
    return member < value if exclusive else member <= value


def lex_range_empty(low: LexBound, high: LexBound) -> bool:
    """Ranges that can never match anything (min above max)."""
    lk, lv, lex_ = low
    hk, hv, hex_ = high
    if lk or hk:
        cmp = (lk > hk) - (lk < hk)
        if lk == hk:
            cmp = 0
        elif lk == 0:
            cmp = -hk
        elif hk == 0:
            cmp = lk
    else:
        cmp = (lv > hv) - (lv < hv)
    return cmp > 0 or (cmp == 0 and (lex_ or hex_))


def _lex_bisect_low(order: Any, score: float, low: LexBound, n: int) -> int:
    kind, value, exclusive = low
    if kind:
        return 0 if kind < 0 else n
    if exclusive:
        return int(order.bisect_right((score, value)))
    return int(order.bisect_left((score, value)))


def _lex_bisect_high(order: Any, score: float, high: LexBound, n: int) -> int:
    kind, value, exclusive = high
    if kind:
        return n if kind > 0 else 0
    if exclusive:
        return int(order.bisect_left((score, value)))
    return int(order.bisect_right((score, value)))


# -- ZUNION / ZINTER / ZDIFF ----------------------------------------------------------------

SUM, MIN, MAX = 0, 1, 2


def source_pairs(value: Any) -> Iterable[tuple[float, bytes]]:
    """(score, member) pairs of an input: a zset, or a set (every score 1)."""
    if value is None:
        return ()
    if type(value) is ZSet:
        return value.order
    return ((1.0, member) for member in value)


def source_score(value: Any, member: bytes) -> float | None:
    if type(value) is ZSet:
        return value.scores.get(member)
    return 1.0 if member in value else None


def _weighted(score: float, weight: float) -> float:
    value = weight * score
    return 0.0 if value != value else value


def _aggregate(target: float, value: float, how: int) -> float:
    if how == SUM:
        total = target + value
        return 0.0 if total != total else total
    if how == MIN:
        return value if value < target else target
    return value if value > target else target


def combine(op: str, inputs: list[Any], weights: list[float], how: int) -> dict[bytes, float]:
    """member -> score of ZUNION / ZINTER / ZDIFF over ``inputs`` (zsets, sets or
    None for missing keys). Inputs are visited smallest first, as Redis does,
    so floating-point sums add up in Redis' order."""
    if op == "diff":
        first = inputs[0]
        if first is None:
            return {}
        others = [v for v in inputs[1:] if v is not None and len(v)]
        out: dict[bytes, float] = {}
        for score, member in source_pairs(first):
            for other in others:
                if source_score(other, member) is not None:
                    break
            else:
                out[member] = score
        return out
    sources = sorted(zip(inputs, weights, strict=True), key=lambda p: len(p[0]) if p[0] is not None else 0)
    if op == "inter":
        smallest, weight0 = sources[0]
        if smallest is None or not len(smallest):
            return {}
        rest = sources[1:]
        for value, _w in rest:
            if value is None or not len(value):
                return {}
        out = {}
        for score, member in source_pairs(smallest):
            total = _weighted(score, weight0)
            for value, weight in rest:
                other = source_score(value, member)
                if other is None:
                    break
                total = _aggregate(total, _weighted(other, weight), how)
            else:
                out[member] = total
        return out
    acc: dict[bytes, float] = {}
    for value, weight in sources:
        for score, member in source_pairs(value):
            v = _weighted(score, weight)
            old = acc.get(member)
            acc[member] = v if old is None else _aggregate(old, v, how)
    return acc


def sorted_pairs(scores: dict[bytes, float]) -> list[tuple[float, bytes]]:
    return sorted((score, member) for member, score in scores.items())


def build(scores: dict[bytes, float], big: bool) -> ZSet:
    """A new ZSet holding ``scores``."""
    zset = ZSet(big)
    if not big:
        scores = {m: (0.0 if s == 0.0 else s) for m, s in scores.items()}
    zset.scores = scores
    zset.order = SortedList((s, m) for m, s in scores.items())
    return zset
