"""Databases, expiry (lazy and active), WATCH signalling and the effects sink.

Every change to a key goes through a Database method so three things never get
forgotten: expiry bookkeeping, ``signal_modified`` (WATCH), and the effects that
the transaction log records.
"""

from __future__ import annotations

import heapq
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from cairn.keyspace import notify as _notify
from cairn.keyspace.notify import EXPIRED, KEY_MISS, NEW, notify
from cairn.keyspace.scan import ScanIndex

Argv = list[bytes]
Effect = tuple[int, Argv]


def now_ms() -> int:
    return int(time.time() * 1000)


LFU_INIT_VAL = 5


def lfu_minutes() -> int:
    """Redis' LFU clock: minutes, on 16 bits."""
    return (int(time.time()) // 60) & 0xFFFF


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
        # Under an LFU maxmemory-policy, Database.atime holds Redis' LFU word
        # ((minutes << 8) | log counter) instead of the LRU clock. Kept in step
        # with the config by cairn.commands.keys.sync_policy.
        self.lfu_policy = False
        self.lfu_log_factor = 10
        self.lfu_decay_time = 1
        self.stat_expired_keys = 0
        # Counts changes made by commands (Redis' server.dirty); expiry does not count.
        self.dirty = 0
        # Durable reads: keys changed by records not yet durable, per database
        # (Database.pending), so a read of such a key waits for that record.
        self.track_pending = False  # on when the log is really durable
        self.modified: list[tuple[Database, bytes | None]] = []
        self.read_barrier = 0  # highest pending LSN the current command read
        # Marks are not removed one by one as records commit: a mark whose LSN is
        # committed is harmless (a barrier at or below ``committed`` never waits).
        # They are all dropped when everything marked is durable, and swept when
        # they pile up (see release_pending).
        self._pending_top = 0  # highest LSN marked since the last clear
        self._pending_marks = 0  # marks made since the last clear or sweep
        self._pending_sweep_at = 4096
        self.stat_hits = 0
        self.stat_misses = 0
        # Called with (db, key) whenever a key changes; set by keyspace users
        # (keyspace notifications, client-side caching). None means nobody listens.
        # Called with (db, key) when a key changes, (db, None) when the whole db did.
        self.on_modified: Callable[[Database, bytes | None], None] | None = None
        # True while the log refuses writes (set by the server): lazy expiry then
        # hides expired keys without deleting them.
        self.writes_refused: Callable[[], bool] = lambda: False
        # Keyspace notifications (cairn/keyspace/notify.py): the configured flags
        # (each Database mirrors the effective ones in ``events``), the pub/sub
        # publisher installed by the commands layer, and messages held until the
        # record of their write is durable: (LSN, channel, message).
        self.notify_flags = 0
        self.publish: Callable[[bytes, bytes], Any] | None = None
        self.listening: Callable[[], bool] = lambda: False
        self.next_lsn: Callable[[], int] = lambda: 0
        self.held_events: deque[tuple[int, bytes, bytes]] = deque()

    def refresh_time(self) -> None:
        if not self.frozen_time:
            self.time_ms = now_ms()

    def mark_pending(self, lsn: int) -> None:
        """The keys changed by the command just logged wait for record ``lsn``."""
        modified = self.modified
        if not modified:
            return
        for db, key in modified:
            if key is None:
                db.pending_all = lsn
            else:
                db.pending[key] = lsn
        self._pending_top = lsn
        self._pending_marks += len(modified)
        modified.clear()

    def release_pending(self, committed: int) -> None:
        """Forget pending marks up to the committed LSN (on the loop's thread)."""
        if self.held_events:
            _notify.release(self, committed)
        top = self._pending_top
        if not top:
            return
        if top <= committed:
            # Every mark is durable: forget them all at once.
            for db in self.dbs:
                if db.pending:
                    db.pending.clear()
                db.pending_all = 0
            self._pending_top = 0
            self._pending_marks = 0
            self._pending_sweep_at = 4096
            return
        sweep = self._pending_marks > self._pending_sweep_at
        live = 0
        for db in self.dbs:
            if db.pending_all and db.pending_all <= committed:
                db.pending_all = 0
            pending = db.pending
            if sweep and pending:
                for key in [k for k, lsn in pending.items() if lsn <= committed]:
                    del pending[key]
                live += len(pending)
        if sweep:
            self._pending_marks = live
            self._pending_sweep_at = 2 * live + 4096

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
        for attr in ("data", "expires", "atime", "_expire_heap", "_expire_slots",
                     "_expire_entries", "scan_index"):
            va, vb = getattr(da, attr), getattr(dbb, attr)
            setattr(da, attr, vb)
            setattr(dbb, attr, va)
        hook = self.on_modified
        if hook is not None:
            hook(da, None)
            hook(dbb, None)

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
    __slots__ = (
        "_expire_entries",
        "_expire_heap",
        "_expire_slots",
        "atime",
        "data",
        "events",
        "expires",
        "id",
        "keyspace",
        "pending",
        "pending_all",
        "scan_index",
        "watched",
    )

    def __init__(self, keyspace: Keyspace, index: int) -> None:
        self.keyspace = keyspace
        # Keys changed by records that are not durable yet -> the record's LSN;
        # pending_all: a FLUSHDB/SWAPDB not durable yet (every key waits for it).
        self.pending: dict[bytes, int] = {}
        self.pending_all = 0
        self.id = index
        # Effective keyspace-notification flags (0: off), kept by notify.set_flags.
        self.events = 0
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, int] = {}
        # Last access (the keyspace's LRU clock, in seconds) for OBJECT IDLETIME.
        self.atime: dict[bytes, int] = {}
        self.watched: dict[bytes, list[Any]] = {}
        # Active expiry: a heap of distinct expiry times, and the keys given each
        # time (keys set in the same millisecond share one heap entry). Entries
        # go stale when a TTL changes; they are checked against ``expires``.
        self._expire_heap: list[int] = []
        self._expire_slots: dict[int, list[bytes]] = {}
        self._expire_entries = 0
        # Built by the first SCAN / RANDOMKEY, then maintained by set() and delete().
        self.scan_index: ScanIndex | None = None

    # -- reading -----------------------------------------------------------
    def lookup(self, key: bytes, touch: bool = True) -> Any:
        """The live value of a key, or None. Expired keys are deleted here."""
        if self.pending or self.pending_all:
            self.note_read(key)
        value = self.data.get(key)
        if value is None:
            return None
        expires = self.expires
        if expires:
            when = expires.get(key)
            if when is not None and when <= self.keyspace.time_ms and self._expire_lazily(key):
                return None
        if touch:
            ks = self.keyspace
            if ks.lfu_policy:
                self.lfu_access(key)
            else:
                self.atime[key] = ks.lru_clock
        return value

    def lookup_read(self, key: bytes) -> Any:
        """lookup() that also counts keyspace hits and misses."""
        # lookup(), inlined: the hot path of every read command.
        if self.pending or self.pending_all:
            self.note_read(key)
        value = self.data.get(key)
        ks = self.keyspace
        if value is None:
            ks.stat_misses += 1
            if self.events:
                notify(self, KEY_MISS, b"keymiss", key)
            return None
        expires = self.expires
        if expires:
            when = expires.get(key)
            if when is not None and when <= ks.time_ms and self._expire_lazily(key):
                ks.stat_misses += 1
                if self.events:
                    notify(self, KEY_MISS, b"keymiss", key)
                return None
        if ks.lfu_policy:
            self.lfu_access(key)
        else:
            self.atime[key] = ks.lru_clock
        ks.stat_hits += 1
        return value

    def exists(self, key: bytes) -> bool:
        return self.lookup(key, touch=False) is not None

    def get_expire(self, key: bytes) -> int | None:
        return self.expires.get(key)

    def __len__(self) -> int:
        return len(self.data)

    def live_count(self) -> int:
        """Number of keys, not counting keys whose time is up but that are not deleted yet."""
        n = len(self.data)
        if not self.expires:
            return n
        now = self.keyspace.time_ms
        heap = self._expire_heap
        if not heap or heap[0] > now:
            return n
        # Walk the part of the heap that is due; stale entries (TTL changed or
        # key gone) do not match the expires dict and are not counted.
        expires = self.expires
        slots = self._expire_slots
        due = 0
        stack = [0]
        size = len(heap)
        while stack:
            i = stack.pop()
            when = heap[i]
            if when > now:
                continue
            for key in slots[when]:
                if expires.get(key) == when:
                    due += 1
            child = 2 * i + 1
            if child < size:
                stack.append(child)
                if child + 1 < size:
                    stack.append(child + 1)
        return n - due

    def get_scan_index(self) -> ScanIndex:
        """The SCAN index, built on first use (and rebuilt if writes bypassed set/delete)."""
        index = self.scan_index
        if index is None or len(index) != len(self.data):
            index = self.scan_index = ScanIndex(self.data, len(self.data))
        return index

    def lfu_access(self, key: bytes) -> None:
        """Redis' LFU update on access: decay by elapsed minutes, then a log increment."""
        ks = self.keyspace
        counter = self.lfu_counter(key)
        if counter < 255:
            base = counter - LFU_INIT_VAL
            if base <= 0 or random.random() < 1.0 / (base * ks.lfu_log_factor + 1):
                counter += 1
        self.atime[key] = (lfu_minutes() << 8) | counter

    def lfu_counter(self, key: bytes) -> int:
        """The LFU counter of a key after decay (OBJECT FREQ)."""
        word = self.atime.get(key)
        if word is None:
            return LFU_INIT_VAL
        counter = word & 255
        decay = self.keyspace.lfu_decay_time
        if decay:
            now = lfu_minutes()
            then = (word >> 8) & 0xFFFF
            elapsed = now - then if now >= then else 65535 - then + now
            periods = elapsed // decay
            if periods:
                counter = max(0, counter - periods)
        return counter

    def keys(self) -> Iterator[bytes]:
        return iter(self.data)

    # -- writing -----------------------------------------------------------
    def set(self, key: bytes, value: Any, keep_ttl: bool = False) -> None:
        data = self.data
        index = self.scan_index
        if index is not None and key not in data:
            index.add(key)
        data[key] = value
        ks = self.keyspace
        if ks.lfu_policy:
            # A new value starts with LFU_INIT_VAL; an overwrite keeps the old counter.
            if key not in self.atime:
                self.atime[key] = (lfu_minutes() << 8) | LFU_INIT_VAL
        else:
            self.atime[key] = ks.lru_clock
        if not keep_ttl and self.expires:
            self.expires.pop(key, None)
        # signal_modified(key), inlined (the hot path of every write).
        ks.dirty += 1
        if ks.track_pending:
            ks.modified.append((self, key))
        if self.watched:
            clients = self.watched.get(key)
            if clients:
                for client in clients:
                    client.dirty_cas = True
        hook = ks.on_modified
        if hook is not None:
            hook(self, key)

    def set_events(self, flags: int) -> None:
        """Mirror the effective notification flags. While any are on, the
        database is a _NotifyingDatabase, whose set() announces new keys: the
        plain set() stays free of that test."""
        self.events = flags
        self.__class__ = _NotifyingDatabase if flags else Database

    def _notify_set(self, key: bytes) -> None:
        """Before set() with notifications on: like Redis' lookupKeyWrite, an
        expired key is deleted first (its "expired" event), and a key that does
        not exist gets the "new" event."""
        if key not in self.data:
            notify(self, NEW, b"new", key)
            return
        when = self.expires.get(key) if self.expires else None
        if when is not None and when <= self.keyspace.time_ms and not self.keyspace.replaying:
            self._delete_expired(key)
            notify(self, NEW, b"new", key)

    def delete(self, key: bytes) -> bool:
        if self.data.pop(key, None) is None:
            return False
        if self.scan_index is not None:
            self.scan_index.discard(key)
        self.atime.pop(key, None)
        if self.expires:
            self.expires.pop(key, None)
        self.signal_modified(key)
        return True

    def set_expire(self, key: bytes, when_ms: int) -> None:
        self.expires[key] = when_ms
        slot = self._expire_slots.get(when_ms)
        if slot is None:
            self._expire_slots[when_ms] = [key]
            heapq.heappush(self._expire_heap, when_ms)
        else:
            slot.append(key)
        self._expire_entries += 1
        if self._expire_entries > 2 * len(self.expires) + 1024:
            self._rebuild_expire_heap()

    def persist(self, key: bytes) -> bool:
        return self.expires.pop(key, None) is not None

    def flush(self) -> None:
        self.touch_all_watched()
        self.data = {}
        self.expires = {}
        self.atime = {}
        self._expire_heap = []
        self._expire_slots = {}
        self._expire_entries = 0
        self.scan_index = None
        hook = self.keyspace.on_modified
        if hook is not None:
            hook(self, None)  # every key of this database changed (wakes blocked clients)

    def propagate(self, argv: Argv) -> None:
        """Record the deterministic command that reproduces a change."""
        self.keyspace.effects.append((self.id, argv))

    # -- WATCH ---------------------------------------------------------------
    def note_read(self, key: bytes) -> None:
        """The reply of this command must wait for the record that changed ``key``."""
        ks = self.keyspace
        lsn = max(self.pending.get(key, 0), self.pending_all)
        if lsn > ks.read_barrier:
            ks.read_barrier = lsn

    def signal_modified(self, key: bytes) -> None:
        ks = self.keyspace
        ks.dirty += 1
        if ks.track_pending:
            ks.modified.append((self, key))
        if self.watched:
            clients = self.watched.get(key)
            if clients:
                for client in clients:
                    client.dirty_cas = True
        hook = ks.on_modified
        if hook is not None:
            hook(self, key)

    def touch_all_watched(self, also: Database | None = None) -> None:
        """Break the WATCH of every watched key that exists here (or in ``also``)."""
        ks = self.keyspace
        ks.dirty += 1
        if ks.track_pending:
            ks.modified.append((self, None))
        for key, clients in self.watched.items():
            if key in self.data or (also is not None and key in also.data):
                for client in clients:
                    client.dirty_cas = True

    # -- expiry --------------------------------------------------------------
    def is_expired(self, key: bytes) -> bool:
        when = self.expires.get(key)
        return when is not None and when <= self.keyspace.time_ms

    def _expire_lazily(self, key: bytes) -> bool:
        """An expired key found by a lookup: delete it (and log the DEL). Returns
        whether the key counts as gone; during replay expiry arrives as DELs."""
        ks = self.keyspace
        if ks.replaying:
            return False
        if ks.writes_refused():
            # The DEL could not be made durable: the key reads as missing but
            # stays until the log works again (a reply must not wait on it).
            return True
        self._delete_expired(key)
        return True

    def _delete_expired(self, key: bytes) -> None:
        self.delete(key)
        self.keyspace.dirty -= 1
        self.keyspace.stat_expired_keys += 1
        self.propagate([b"DEL", key])
        if self.events:
            notify(self, EXPIRED, b"expired", key)

    def expire_due(self, now: int, deadline: float) -> int:
        """Delete keys whose time is up (active expiry), oldest first, until the deadline.

        The same steps as _delete_expired, inlined: this loop may run for
        hundreds of thousands of keys at a time.
        """
        heap = self._expire_heap
        slots = self._expire_slots
        expires = self.expires
        data = self.data
        atime = self.atime
        ks = self.keyspace
        effects = ks.effects
        hook = ks.on_modified
        index = self.scan_index
        watched = self.watched
        db_id = self.id
        clock = time.perf_counter
        removed = 0
        checked = 0
        while heap and heap[0] <= now:
            when = heap[0]
            slot = slots[when]
            while slot:
                key = slot.pop()
                checked += 1
                if expires.get(key) == when:
                    del expires[key]
                    data.pop(key, None)
                    atime.pop(key, None)
                    if index is not None:
                        index.discard(key)
                    if watched:
                        clients = watched.get(key)
                        if clients:
                            for client in clients:
                                client.dirty_cas = True
                    if hook is not None:
                        hook(self, key)
                    effects.append((db_id, [b"DEL", key]))
                    removed += 1
                    if self.events:
                        notify(self, EXPIRED, b"expired", key)
                if not checked & 63 and clock() > deadline:
                    break
            if not slot:
                heapq.heappop(heap)
                del slots[when]
            if checked and clock() > deadline:
                break
        self._expire_entries -= checked
        ks.stat_expired_keys += removed
        return removed

    def _rebuild_expire_heap(self) -> None:
        slots: dict[int, list[bytes]] = {}
        for key, when in self.expires.items():
            slot = slots.get(when)
            if slot is None:
                slots[when] = [key]
            else:
                slot.append(key)
        self._expire_slots = slots
        self._expire_heap = list(slots)
        heapq.heapify(self._expire_heap)
        self._expire_entries = len(self.expires)


class _NotifyingDatabase(Database):
    """A Database while keyspace notifications are on (see Database.set_events)."""

    __slots__ = ()

    def set(self, key: bytes, value: Any, keep_ttl: bool = False) -> None:
        if self.events:
            self._notify_set(key)
        Database.set(self, key, value, keep_ttl)
