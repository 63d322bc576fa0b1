"""Databases, expiry (lazy and active), WATCH signalling and the effects sink.

Every change to a key goes through a Database method so three things never get
forgotten: expiry bookkeeping, ``signal_modified`` (WATCH), and the effects that
the transaction log records.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator
from typing import Any

Argv = list[bytes]
Effect = tuple[int, Argv]


def now_ms() -> int:
    return int(time.time() * 1000)


def type_name(value: Any) -> str:
    """The name TYPE reports for a stored value."""
    t = type(value)
    if t is bytes or t is bytearray:
        return "string"
    return value.TYPE_NAME  # type: ignore[no-any-return]


class Keyspace:
    """All databases of one server, plus what the command layer reports to durability."""

    def __init__(self, databases: int = 16) -> None:
        self.dbs = [Database(self, i) for i in range(databases)]
        # (db index, argv) groups produced by the command being executed.
        self.effects: list[Effect] = []
        # Command time: fixed for the length of one command, transaction or script.
        self.time_ms = now_ms()
        self.frozen_time = False
        # While replaying the log (recovery, replicas) keys are never expired here:
        # expiry arrives as explicit DEL effects.
        self.replaying = False
        self.active_expire_enabled = True
        self.lru_clock = int(time.time())
        self.stat_expired_keys = 0
        # Counts changes made by commands (Redis' server.dirty); expiry does not count.
        self.dirty = 0
        self.stat_hits = 0
        self.stat_misses = 0
        # Called with (db, key) whenever a key changes; set by keyspace users
        # (keyspace notifications, client-side caching). None means nobody listens.
        self.on_modified: Callable[[Database, bytes], None] | None = None

    def refresh_time(self) -> None:
        if not self.frozen_time:
            self.time_ms = now_ms()

    def take_effects(self) -> list[Effect]:
        effects = self.effects
        self.effects = []
        return effects

    def flushall(self) -> None:
        for db in self.dbs:
            db.flush()

    def swap(self, a: int, b: int) -> None:
        """SWAPDB: exchange contents, keeping watchers with their database index."""
        da, dbb = self.dbs[a], self.dbs[b]
        da.touch_all_watched(also=dbb)
        dbb.touch_all_watched(also=da)
        for attr in ("data", "expires", "atime", "_expire_heap"):
            va, vb = getattr(da, attr), getattr(dbb, attr)
            setattr(da, attr, vb)
            setattr(dbb, attr, va)

    def active_expire_cycle(self, budget_s: float = 0.025) -> int:
        """Delete expired keys until none are due or the time budget is spent."""
        if self.replaying or not self.active_expire_enabled:
            return 0
        deadline = time.perf_counter() + budget_s
        self.refresh_time()
        removed = 0
        for db in self.dbs:
            if db.expires:
                removed += db.expire_due(self.time_ms, deadline)
        return removed


class Database:
    __slots__ = ("keyspace", "id", "data", "expires", "atime", "watched", "_expire_heap")

    def __init__(self, keyspace: Keyspace, index: int) -> None:
        self.keyspace = keyspace
        self.id = index
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, int] = {}
        # Last access (the keyspace's LRU clock, in seconds) for OBJECT IDLETIME.
        self.atime: dict[bytes, int] = {}
        self.watched: dict[bytes, list[Any]] = {}
        self._expire_heap: list[tuple[int, bytes]] = []

    # -- reading -----------------------------------------------------------
    def lookup(self, key: bytes, touch: bool = True) -> Any:
        """The live value of a key, or None. Expired keys are deleted here."""
        value = self.data.get(key)
        if value is None:
            return None
        expires = self.expires
        if expires:
            when = expires.get(key)
            if when is not None and when <= self.keyspace.time_ms and self._expire_lazily(key):
                return None
        if touch:
            self.atime[key] = self.keyspace.lru_clock
        return value

    def lookup_read(self, key: bytes) -> Any:
        """lookup() that also counts keyspace hits and misses."""
        value = self.lookup(key)
        ks = self.keyspace
        if value is None:
            ks.stat_misses += 1
        else:
            ks.stat_hits += 1
        return value

    def exists(self, key: bytes) -> bool:
        return self.lookup(key, touch=False) is not None

    def get_expire(self, key: bytes) -> int | None:
        return self.expires.get(key)

    def __len__(self) -> int:
        return len(self.data)

    def keys(self) -> Iterator[bytes]:
        return iter(self.data)

    # -- writing -----------------------------------------------------------
    def set(self, key: bytes, value: Any, keep_ttl: bool = False) -> None:
        self.data[key] = value
        self.atime[key] = self.keyspace.lru_clock
        if not keep_ttl and self.expires:
            self.expires.pop(key, None)
        self.signal_modified(key)

    def delete(self, key: bytes) -> bool:
        if self.data.pop(key, None) is None:
            return False
        self.atime.pop(key, None)
        if self.expires:
            self.expires.pop(key, None)
        self.signal_modified(key)
        return True

    def set_expire(self, key: bytes, when_ms: int) -> None:
        self.expires[key] = when_ms
        heapq.heappush(self._expire_heap, (when_ms, key))
        if len(self._expire_heap) > 2 * len(self.expires) + 1024:
            self._rebuild_expire_heap()

    def persist(self, key: bytes) -> bool:
        return self.expires.pop(key, None) is not None

    def flush(self) -> None:
        self.touch_all_watched()
        self.data = {}
        self.expires = {}
        self.atime = {}
        self._expire_heap = []

    def propagate(self, argv: Argv) -> None:
        """Record the deterministic command that reproduces a change."""
        self.keyspace.effects.append((self.id, argv))

    # -- WATCH ---------------------------------------------------------------
    def signal_modified(self, key: bytes) -> None:
        self.keyspace.dirty += 1
        if self.watched:
            clients = self.watched.get(key)
            if clients:
                for client in clients:
                    client.dirty_cas = True
        hook = self.keyspace.on_modified
        if hook is not None:
            hook(self, key)

    def touch_all_watched(self, also: Database | None = None) -> None:
        """Break the WATCH of every watched key that exists here (or in ``also``)."""
        self.keyspace.dirty += 1
        for key, clients in self.watched.items():
            if key in self.data or (also is not None and key in also.data):
                for client in clients:
                    client.dirty_cas = True

    # -- expiry --------------------------------------------------------------
    def is_expired(self, key: bytes) -> bool:
        when = self.expires.get(key)
        return when is not None and when <= self.keyspace.time_ms

    def _expire_lazily(self, key: bytes) -> bool:
        if self.keyspace.replaying:
            return False
        self._delete_expired(key)
        return True

    def _delete_expired(self, key: bytes) -> None:
        self.delete(key)
        self.keyspace.dirty -= 1
        self.keyspace.stat_expired_keys += 1
        self.propagate([b"DEL", key])

    def expire_due(self, now: int, deadline: float) -> int:
        heap = self._expire_heap
        expires = self.expires
        removed = 0
        checked = 0
        while heap and heap[0][0] <= now:
            when, key = heapq.heappop(heap)
            if expires.get(key) == when:
                self._delete_expired(key)
                removed += 1
            checked += 1
            if checked % 64 == 0 and time.perf_counter() > deadline:
                break
        return removed

    def _rebuild_expire_heap(self) -> None:
        self._expire_heap = [(when, key) for key, when in self.expires.items()]
        heapq.heapify(self._expire_heap)
