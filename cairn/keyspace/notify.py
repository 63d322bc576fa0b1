"""Keyspace notifications: Redis' ``notify-keyspace-events``.

Every change a command makes can be announced through pub/sub on two channels:
``__keyspace@<db>__:<key>`` carries the event name, ``__keyevent@<db>__:<event>``
carries the key. The flags say which classes of events are announced (``g``
generic, ``$`` string, ``l`` list, ``s`` set, ``h`` hash, ``z`` sorted set,
``x`` expired, ``e`` evicted, ``t`` stream, ``m`` key miss, ``d`` module,
``n`` new key; ``A`` = ``g$lshzxetd``) and on which channels (``K``, ``E``).

The hot path costs one attribute test: each Database mirrors the effective flags
in ``db.events`` (0 unless a class and ``K`` or ``E`` are chosen), and callers
write ``if db.events: notify(db, STRING, b"set", key)``.

This layer does not know pub/sub: the commands layer installs
``keyspace.publish(channel, message)`` (see ``install``). When the log is really
durable (``keyspace.track_pending``), a message about a write is held until the
record of that write is durable, so a subscriber never hears of a change that a
crash could take back; held messages leave in order as the log commits
(``release``, called from ``Keyspace.release_pending``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cairn.keyspace.database import Database, Keyspace

KEYSPACE = 1 << 0  # K
KEYEVENT = 1 << 1  # E
GENERIC = 1 << 2  # g
STRING = 1 << 3  # $
LIST = 1 << 4  # l
SET = 1 << 5  # s
HASH = 1 << 6  # h
ZSET = 1 << 7  # z
EXPIRED = 1 << 8  # x
EVICTED = 1 << 9  # e
STREAM = 1 << 10  # t
KEY_MISS = 1 << 11  # m (not part of A)
MODULE = 1 << 12  # d
NEW = 1 << 13  # n (not part of A)
ALL = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE

_LETTERS: dict[str, int] = {
    "A": ALL,
    "g": GENERIC,
    "$": STRING,
    "l": LIST,
    "s": SET,
    "h": HASH,
    "z": ZSET,
    "x": EXPIRED,
    "e": EVICTED,
    "K": KEYSPACE,
    "E": KEYEVENT,
    "t": STREAM,
    "m": KEY_MISS,
    "d": MODULE,
    "n": NEW,
}
# The order Redis renders the classes in (CONFIG GET), "A" standing for ALL.
_CLASS_ORDER = (
    ("g", GENERIC), ("$", STRING), ("l", LIST), ("s", SET), ("h", HASH), ("z", ZSET),
    ("x", EXPIRED), ("e", EVICTED), ("t", STREAM), ("d", MODULE), ("n", NEW),
)
_TAIL_ORDER = (("K", KEYSPACE), ("E", KEYEVENT), ("m", KEY_MISS))

INVALID_CLASS = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."


def parse_flags(text: str) -> int | None:
    """The flags of a notify-keyspace-events string; None for an unknown letter."""
    flags = 0
    for ch in text:
        bit = _LETTERS.get(ch)
        if bit is None:
            return None
        flags |= bit
    return flags


def format_flags(flags: int) -> str:
    """Redis' rendering: "A" when every class of ALL is on (it then hides "n"),
    else the class letters in a fixed order; then K, E, m."""
    if flags & ALL == ALL:
        out = "A"
    else:
        out = "".join(letter for letter, bit in _CLASS_ORDER if flags & bit)
    return out + "".join(letter for letter, bit in _TAIL_ORDER if flags & bit)


def effective(flags: int) -> int:
    """What the databases mirror: nothing at all unless a channel (K or E) is chosen."""
    return flags if flags & (KEYSPACE | KEYEVENT) else 0


def set_flags(keyspace: Keyspace, flags: int) -> None:
    keyspace.notify_flags = flags
    value = effective(flags)
    for db in keyspace.dbs:
        db.set_events(value)


def notify(db: Database, cls: int, event: bytes, key: bytes) -> None:
    """Announce ``event`` of class ``cls`` on ``key`` (keyspace channel first)."""
    flags = db.events
    if not flags & cls:
        return
    ks = db.keyspace
    if not ks.listening():
        return  # nobody subscribed to anything: nothing to build
    if flags & KEYSPACE:
        _emit(ks, b"__keyspace@%d__:%s" % (db.id, key), event, cls)
    if flags & KEYEVENT:
        _emit(ks, b"__keyevent@%d__:%s" % (db.id, event), key, cls)


def _emit(ks: Keyspace, channel: bytes, message: bytes, cls: int) -> None:
    publish = ks.publish
    if publish is None:
        return
    held = ks.held_events
    if not ks.track_pending or ks.replaying:
        # Nothing to wait for: no durable log, or a record being replayed (it is
        # durable already: recovery, a replica applying the primary's log).
        if held:
            _flush(ks, held)
        publish(channel, message)
        return
    if cls == KEY_MISS:
        # A read changes nothing: it waits only for the messages before it.
        if not held:
            publish(channel, message)
            return
        lsn = held[-1][0]
    else:
        # The record of the running command (or of this round of active expiry)
        # is the next one appended.
        lsn = ks.next_lsn()
    held.append((lsn, channel, message))


def release(ks: Keyspace, committed: int) -> None:
    """Deliver the held messages whose record is durable, in order."""
    held = ks.held_events
    publish = ks.publish
    while held and held[0][0] <= committed:
        _lsn, channel, message = held.popleft()
        if publish is not None:
            publish(channel, message)


def _flush(ks: Keyspace, held: deque[tuple[int, bytes, bytes]]) -> None:
    publish = ks.publish
    while held:
        _lsn, channel, message = held.popleft()
        if publish is not None:
            publish(channel, message)


def install(keyspace: Keyspace, publish: Callable[[bytes, bytes], Any],
            listening: Callable[[], bool], next_lsn: Callable[[], int], flags: int) -> None:
    """Connect the keyspace to pub/sub (done once by the commands layer):
    ``publish(channel, message)`` delivers, ``listening()`` says whether any
    client subscribes to any channel or pattern at all."""
    keyspace.publish = publish
    keyspace.listening = listening
    keyspace.next_lsn = next_lsn
    set_flags(keyspace, flags)
