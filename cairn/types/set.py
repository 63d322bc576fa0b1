"""The set type, with Redis 7.2's three encodings tracked over one dict.

Members live in a ``dict`` (member -> None) whatever the encoding: a dict keeps
insertion order, which is what a listpack-encoded set iterates in, and deleting
keeps the order of the rest, as deleting from a listpack does. The encoding is a
flag that follows Redis 7.2's rules (set-max-intset-entries,
set-max-listpack-entries, set-max-listpack-value):

* intset: every member is a 64-bit integer in canonical form; iterated in
  numeric order, as an intset is sorted.
* listpack: small sets of short members; iterated in insertion order. An intset
  that receives a non-integer becomes a listpack holding its integers in
  numeric order followed by the new member, when the thresholds allow.
* hashtable: everything else; iteration order is unspecified (ours is the
  dict's order).

Encodings only move upward when members are added or removed. Whole new sets
built by commands (SINTERSTORE's result, SPOP's "keep the rest" strategy) pick
their encoding afresh, as Redis does.

Random picks on big sets use a lazily built list of the members (``_pool``):
additions are appended to it, removals leave stale entries that a pick skips and
drops; it is rebuilt once it holds twice as many entries as the set. Small sets
pick from a fresh list each time and keep nothing.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from typing import Any

INTSET = 0
LISTPACK = 1
HASHTABLE = 2
ENCODING_NAMES = ("intset", "listpack", "hashtable")
_ENCODING_BY_NAME = {name.encode(): i for i, name in enumerate(ENCODING_NAMES)}

# Redis caps set-max-intset-entries at 2^30 because of intset internals.
INTSET_HARD_LIMIT = 1 << 30
# Up to this size a random pick copies the members instead of keeping a pool.
_SMALL = 64

_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1

# (set-max-intset-entries (capped), set-max-listpack-entries, set-max-listpack-value)
Limits = tuple[int, int, int]


def is_int64(value: bytes) -> bool:
    """Redis' string2ll: a canonical decimal that fits a signed 64-bit integer."""
    n = len(value)
    if n == 0 or n > 20:
        return False
    first = value[0]
    if first == 0x30:  # "0", and no leading zeros
        return n == 1
    if first == 0x2D:  # "-": a nonzero digit must follow
        if n == 1 or value[1] == 0x30 or not value[1:].isdigit():
            return False
    elif not value.isdigit():
        return False
    if n >= 19:
        number = int(value)
        return _I64_MIN <= number <= _I64_MAX
    return True


def limits_from(config: Any) -> Limits:
    """The three thresholds from a config mapping."""
    imax = config["set-max-intset-entries"]
    if imax > INTSET_HARD_LIMIT:
        imax = INTSET_HARD_LIMIT
    return imax, config["set-max-listpack-entries"], config["set-max-listpack-value"]


class RedisSet:
    """A Redis set value: unique byte-string members plus an encoding flag."""

    TYPE_NAME = "set"
    __slots__ = ("_pool", "_sorted", "enc", "index", "members")

    def __init__(self, enc: int = INTSET, members: Iterable[bytes] = ()) -> None:
        self.members: dict[bytes, None] = dict.fromkeys(members)
        self.enc = enc
        # A SSCAN index (cairn.keyspace.scan.ScanIndex) for hashtable-encoded
        # sets, built by the first SSCAN and kept up to date from then on.
        self.index: Any = None
        self._pool: list[bytes] | None = None
        # An intset's dict is kept in numeric order once read in that order,
        # until an integer is added.
        self._sorted = False

    # -- creation (Redis' setTypeCreate) -------------------------------------
    @classmethod
    def create(cls, first: bytes, size_hint: int, limits: Limits) -> RedisSet:
        """An empty set whose encoding suits ``first`` and about ``size_hint`` members."""
        imax, lp_entries, _ = limits
        if size_hint <= imax and is_int64(first):
            return cls(INTSET)
        if size_hint <= lp_entries:
            return cls(LISTPACK)
        return cls(HASHTABLE)

    # -- the value-type protocol ----------------------------------------------
    def __len__(self) -> int:
        return len(self.members)

    def __contains__(self, member: object) -> bool:
        return member in self.members

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.ordered())

    def encoding(self, config: Any = None) -> str:
        return ENCODING_NAMES[self.enc]

    def copy(self) -> RedisSet:
        other = RedisSet(self.enc)
        other.members = self.members.copy()
        other._sorted = self._sorted
        return other

    def to_items(self) -> list[bytes]:
        """[encoding name, members in iteration order...]."""
        items = [ENCODING_NAMES[self.enc].encode()]
        items.extend(self.ordered())
        return items

    @classmethod
    def from_items(cls, items: list[bytes]) -> RedisSet:
        enc = _ENCODING_BY_NAME.get(bytes(items[0])) if items else None
        if enc is None:
            raise ValueError("not a set's items")
        return cls(enc, items[1:])

    # -- reading ------------------------------------------------------------
    def ordered(self) -> list[bytes]:
        """The members in Redis' iteration order (numeric for an intset)."""
        if self.enc == INTSET and not self._sorted:
            self.members = dict.fromkeys(sorted(self.members, key=int))
            self._sorted = True
        return list(self.members)

    # -- writing ------------------------------------------------------------
    def prepare(self, size_hint: int, limits: Limits) -> bool:
        """setTypeMaybeConvert: go to a hashtable when about ``size_hint`` members
        are coming that the compact encoding cannot hold. True if converted."""
        enc = self.enc
        if (enc == LISTPACK and size_hint > limits[1]) or (enc == INTSET and size_hint > limits[0]):
            self.enc = HASHTABLE
            return True
        return False

    def add(self, member: bytes, limits: Limits) -> bool:
        """Add a member (Redis 7.2's setTypeAdd); False if it was there already."""
        members = self.members
        if member in members:
            return False
        enc = self.enc
        if enc == LISTPACK:
            if len(members) >= limits[1] or len(member) > limits[2]:
                self.enc = HASHTABLE
        elif enc == INTSET:
            if is_int64(member):
                self._sorted = False
                if len(members) >= limits[0]:
                    self.enc = HASHTABLE
            else:
                self._leave_intset(member, limits)
                return True
        members[member] = None
        if self._pool is not None:
            self._pool.append(member)
        if self.index is not None:
            self.index.add(member)
        return True

    def _leave_intset(self, member: bytes, limits: Limits) -> None:
        """A non-integer joins an intset: a listpack (integers in numeric order,
        then the member) when it fits, else a hashtable."""
        members = self.members
        n = len(members)
        _, lp_entries, lp_value = limits
        if n < lp_entries and len(member) <= lp_value and (
            n == 0 or max(map(len, members)) <= lp_value
        ):
            self.members = dict.fromkeys(sorted(members, key=int))
            self.members[member] = None
            self.enc = LISTPACK
            self._pool = None
        else:
            members[member] = None
            self.enc = HASHTABLE
            if self._pool is not None:
                self._pool.append(member)

    def remove(self, member: bytes) -> bool:
        """Remove a member; False if it was not there. Encodings never go down."""
        members = self.members
        if member not in members:
            return False
        del members[member]
        if self.index is not None:
            self.index.discard(member)
        return True

    def to_intset_if_possible(self, limits: Limits) -> None:
        """maybeConvertToIntset, for a set known to hold only integers."""
        if self.enc != INTSET and len(self.members) <= limits[0]:
            self.enc = INTSET
            self.index = None
            self._sorted = False

    # -- random picks ---------------------------------------------------------
    def _live_pool(self) -> list[bytes]:
        """The pool, rebuilt when stale entries make up half of it."""
        pool = self._pool
        size = len(self.members)
        if pool is None or len(pool) > 2 * size + 16:
            pool = self._pool = list(self.members)
        return pool

    def random_member(self) -> bytes:
        """One member picked at random (the set must not be empty)."""
        members = self.members
        if len(members) <= _SMALL:
            self._pool = None
            return random.choice(list(members))
        pool = self._live_pool()
        while True:
            i = random.randrange(len(pool))
            member = pool[i]
            if member in members:
                return member
            pool[i] = pool[-1]
            pool.pop()

    def pop_random(self) -> bytes:
        """Remove and return a random member (the set must not be empty)."""
        members = self.members
        if len(members) <= _SMALL:
            self._pool = None
            member = random.choice(list(members))
        else:
            pool = self._live_pool()
            while True:
                i = random.randrange(len(pool))
                member = pool[i]
                pool[i] = pool[-1]
                pool.pop()
                if member in members:
                    break
        del members[member]
        if self.index is not None:
            self.index.discard(member)
        return member

    def random_members_with_repeats(self, count: int) -> list[bytes]:
        """``count`` members picked independently (SRANDMEMBER with a negative count)."""
        members = self.members
        if len(members) <= _SMALL:
            return random.choices(list(members), k=count)
        pool = self._live_pool()
        if len(pool) != len(members):
            pool = self._pool = list(members)
        return random.choices(pool, k=count)

    def random_distinct(self, count: int) -> list[bytes]:
        """``count`` distinct members (count < len), in random order."""
        size = len(self.members)
        if size <= _SMALL or count * 3 > size:
            return random.sample(list(self.members), count)
        picked: dict[bytes, None] = {}
        while len(picked) < count:
            picked[self.random_member()] = None
        return list(picked)
