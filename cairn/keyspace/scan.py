"""The SCAN index: keys bucketed by the top bits of a 64-bit hash.

A SCAN cursor is a position in the 64-bit hash space. A key lives in bucket
``h >> shift`` where ``h`` is its hash, so buckets are consecutive ranges of that
space whatever their number. An iteration walks positions upwards and returns
every key whose hash lies between the cursor it was given and the cursor it
returns, so a key present for the whole iteration is returned (exactly once, in
fact), however the bucket count changes between calls: doubling splits a range
in two, halving merges two ranges and the cursor, now possibly in the middle of a
bucket, filters out keys already passed. No state is kept per cursor.

The index exists only once somebody scans (SCAN, RANDOMKEY); until then the
database pays one ``is None`` check per insert and delete.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

MASK64 = (1 << 64) - 1
_TOP = 1 << 64

# Keys per bucket on average: between _MIN_LOAD and _MAX_LOAD, else resize.
_MAX_LOAD = 16
_TARGET_LOAD = 4
_MIN_LOAD = 1


def key_hash(key: bytes) -> int:
    """Position of a key in the 64-bit scan space (stable for the process' life)."""
    return hash(key) & MASK64


class ScanIndex:
    __slots__ = ("buckets", "shift", "size")

    def __init__(self, keys: Iterable[bytes] = (), count: int = 0) -> None:
        self.size = 0
        self.shift = 64
        self.buckets: list[list[bytes] | None] = [None]
        self._rebuild(list(keys), count)

    def __len__(self) -> int:
        return self.size

    def _rebuild(self, keys: list[bytes], count: int) -> None:
        bits = 0
        while (1 << bits) * _TARGET_LOAD < count and bits < 62:
            bits += 1
        shift = 64 - bits
        buckets: list[list[bytes] | None] = [None] * (1 << bits)
        for key in keys:
            i = (hash(key) & MASK64) >> shift
            bucket = buckets[i]
            if bucket is None:
                buckets[i] = [key]
            else:
                bucket.append(key)
        self.buckets = buckets
        self.shift = shift
        self.size = len(keys)

    def _all_keys(self) -> list[bytes]:
        out: list[bytes] = []
        for bucket in self.buckets:
            if bucket:
                out.extend(bucket)
        return out

    def add(self, key: bytes) -> None:
        """Insert a key known not to be present."""
        i = (hash(key) & MASK64) >> self.shift
        buckets = self.buckets
        bucket = buckets[i]
        if bucket is None:
            buckets[i] = [key]
        else:
            bucket.append(key)
        self.size += 1
        if self.size > _MAX_LOAD * len(buckets):
            self._rebuild(self._all_keys(), self.size)

    def discard(self, key: bytes) -> None:
        buckets = self.buckets
        i = (hash(key) & MASK64) >> self.shift
        bucket = buckets[i]
        if bucket is None:
            return
        try:
            bucket.remove(key)
        except ValueError:
            return
        if not bucket:
            buckets[i] = None
        self.size -= 1
        if len(buckets) > 1 and self.size * _MIN_LOAD < len(buckets) // 2:
            self._rebuild(self._all_keys(), self.size)

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """Keys from position ``cursor`` on: (next cursor, keys); 0 means done.

        Like Redis, whole buckets are returned until at least ``count`` keys were
        collected or ``10 * count`` buckets visited.
        """
        buckets = self.buckets
        shift = self.shift
        nbuckets = len(buckets)
        i = cursor >> shift
        out: list[bytes] = []
        first = buckets[i] if i < nbuckets else None
        if first:
            if cursor & ((1 << shift) - 1):
                # The cursor is inside this bucket (the table shrank): skip what
                # an earlier call already covered.
                out.extend(k for k in first if (hash(k) & MASK64) >= cursor)
            else:
                out.extend(first)
        i += 1
        visits = 10 * count - 1
        while i < nbuckets and len(out) < count and visits > 0:
            bucket = buckets[i]
            if bucket:
                out.extend(bucket)
            i += 1
            visits -= 1
        following = i << shift
        return (0 if following >= _TOP else following), out

    def random_key(self) -> bytes | None:
        """A key picked about uniformly (bucket first, then a key in it)."""
        if not self.size:
            return None
        buckets = self.buckets
        n = len(buckets)
        while True:
            bucket = buckets[random.randrange(n)]
            if bucket:
                return random.choice(bucket)
