"""Set commands: SADD SREM SCARD SISMEMBER SMISMEMBER SMEMBERS SRANDMEMBER SPOP
SMOVE SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE SSCAN.

The value type and its encodings are in ``cairn.types.set``. Results built by
SINTER/SUNION/SDIFF (and their STORE forms) go through the same add path as
Redis 7.2 builds them, so a stored result gets Redis' encoding and, for a
listpack, Redis' member order; intset results come out in numeric order.

Effects: SREM, SMOVE and the STORE commands are deterministic (verbatim). SADD
logs itself also when it only converted the encoding (a long SADD of members
already present), so a replay gets the same encoding. SPOP logs what it did:
``SREM`` of the popped members (batches of 1024), ``DEL`` when the whole set was
popped, and ``DEL`` + ``SADD`` (+ ``PEXPIREAT``) when, like Redis 7.2, it kept
the few remaining members of a hashtable in a new, compact set.
"""

from __future__ import annotations

import random
from typing import Any

from cairn.commands import errors
from cairn.commands.args import I64_MIN, to_int
from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.registry import CUSTOM, VERBATIM, command, ks
from cairn.commands.scanargs import parse_cursor, parse_scan_options
from cairn.glob import compile_glob
from cairn.keyspace import Database
from cairn.keyspace.notify import GENERIC, SET, notify
from cairn.keyspace.scan import ScanIndex
from cairn.protocol import SetReply
from cairn.types.set import (
    HASHTABLE,
    INTSET,
    INTSET_HARD_LIMIT,
    LISTPACK,
    Limits,
    RedisSet,
    is_int64,
)

G = "set"
ACL = "set"
_NONDET_ORDER = "nondeterministic_output_order"
_NONDET = "nondeterministic_output"
# SPOP keeps the rest in a new set when it pops more than this many times what stays.
_SPOP_MOVE_STRATEGY_MUL = 5
_SREM_BATCH = 1024
_EMPTY_SCAN = [b"0", []]


def _wrongtype() -> CommandError:
    return CommandError(errors.WRONGTYPE)


def _read(db: Database, key: bytes) -> RedisSet | None:
    """A set for reading (counts hits and misses); WRONGTYPE for another type."""
    value = db.lookup_read(key)
    if value is None or type(value) is RedisSet:
        return value
    raise _wrongtype()


def _write(db: Database, key: bytes) -> RedisSet | None:
    """A set for writing; WRONGTYPE for another type."""
    value = db.lookup(key)
    if value is None or type(value) is RedisSet:
        return value
    raise _wrongtype()


def _limits(c: Client) -> Limits:
    # The values dict directly: three lookups on the hot path of every SADD.
    values = c.server.config.values
    imax = values["set-max-intset-entries"]
    if imax > INTSET_HARD_LIMIT:
        imax = INTSET_HARD_LIMIT
    return imax, values["set-max-listpack-entries"], values["set-max-listpack-value"]


# -- single-key commands -----------------------------------------------------------


@command("sadd", -3, "write denyoom fast", group=G, since="1.0.0", keys=ks("RW INSERT"), acl=ACL,
         effects=CUSTOM, history=(("2.4.0", "Accepts multiple `member` arguments."),),
         summary="Adds one or more members to a set, creating the set if needed.",
         complexity="O(1) for each element added, so O(N) to add N elements when the command "
                    "is called with multiple arguments.")
def sadd(c: Client, argv: list[bytes]) -> Any:
    db = c.db
    key = argv[1]
    limits = _limits(c)
    s = db.lookup(key)
    converted = False
    if s is None:
        s = RedisSet.create(argv[2], len(argv) - 2, limits)
        db.set(key, s)
        new = True
    elif type(s) is RedisSet:
        new = False
        converted = s.prepare(len(argv) - 2, limits)
    else:
        raise _wrongtype()
    if len(argv) == 3:
        added = 1 if s.add(argv[2], limits) else 0
    else:
        add = s.add
        added = 0
        for member in argv[2:]:
            if add(member, limits):
                added += 1
    if added:
        if not new:
            db.signal_modified(key)
        db.propagate(argv)
        if db.events:
            notify(db, SET, b"sadd", key)
    elif converted:
        db.propagate(argv)
    return added


@command("srem", -3, "write fast", group=G, since="1.0.0", keys=ks("RW DELETE"), acl=ACL,
         effects=VERBATIM, history=(("2.4.0", "Accepts multiple `member` arguments."),),
         summary="Removes one or more members from a set. Deletes the set if the last member "
                 "was removed.",
         complexity="O(N) where N is the number of members to be removed.")
def srem(c: Client, argv: list[bytes]) -> Any:
    db = c.db
    key = argv[1]
    s = _write(db, key)
    if s is None:
        return 0
    removed = 0
    remove = s.remove
    for member in argv[2:]:
        if remove(member):
            removed += 1
            if not s.members:
                break
    if removed:
        if s.members:
            db.signal_modified(key)
            if db.events:
                notify(db, SET, b"srem", key)
        else:
            db.delete(key)
            if db.events:
                notify(db, SET, b"srem", key)
                notify(db, GENERIC, b"del", key)
    return removed


@command("scard", 2, "readonly fast", group=G, since="1.0.0", keys=ks("RO"), acl=ACL,
         summary="Returns the number of members in a set.", complexity="O(1)")
def scard(c: Client, argv: list[bytes]) -> Any:
    s = _read(c.db, argv[1])
    return 0 if s is None else len(s.members)


@command("sismember", 3, "readonly fast", group=G, since="1.0.0", keys=ks("RO"), acl=ACL,
         summary="Determines whether a member belongs to a set.", complexity="O(1)")
def sismember(c: Client, argv: list[bytes]) -> Any:
    s = _read(c.db, argv[1])
    return 1 if s is not None and argv[2] in s.members else 0


@command("smismember", -3, "readonly fast", group=G, since="6.2.0", keys=ks("RO ACCESS"), acl=ACL,
         summary="Determines whether multiple members belong to a set.",
         complexity="O(N) where N is the number of elements being checked for membership")
def smismember(c: Client, argv: list[bytes]) -> Any:
    s = _read(c.db, argv[1])
    if s is None:
        return [0] * (len(argv) - 2)
    members = s.members
    return [1 if m in members else 0 for m in argv[2:]]


@command("smembers", 2, "readonly", group=G, since="1.0.0", keys=ks("RO ACCESS"), acl=ACL,
         tips=_NONDET_ORDER, summary="Returns all members of a set.",
         complexity="O(N) where N is the set cardinality.")
def smembers(c: Client, argv: list[bytes]) -> Any:
    s = _read(c.db, argv[1])
    return SetReply() if s is None else SetReply(s.ordered())


# -- random members ------------------------------------------------------------------


def random_members(s: RedisSet, count: int, distinct: bool) -> list[bytes]:
    """SRANDMEMBER's pick: ``count`` members, distinct or not (count > 0)."""
    if not distinct or count == 1:
        return s.random_members_with_repeats(count)
    size = len(s.members)
    if count >= size:
        return s.ordered()
    if s.enc == LISTPACK:
        # Distinct members of a listpack come in listpack order.
        order = list(s.members)
        return [order[i] for i in sorted(random.sample(range(size), count))]
    return s.random_distinct(count)


@command("srandmember", -2, "readonly", group=G, since="1.0.0", keys=ks("RO ACCESS"), acl=ACL,
         tips=_NONDET, history=(("2.6.0", "Added the optional `count` argument."),),
         summary="Get one or multiple random members from a set",
         complexity="Without the count argument O(1), otherwise O(N) where N is the absolute "
                    "value of the passed count.")
def srandmember(c: Client, argv: list[bytes]) -> Any:
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    if len(argv) == 2:
        s = _read(c.db, argv[1])
        return None if s is None else s.random_member()
    count = to_int(argv[2])
    if count is None:
        raise CommandError(errors.NOT_INTEGER)
    if count == I64_MIN:
        raise CommandError("ERR value is out of range, value must between "
                           "-9223372036854775807 and 9223372036854775807")
    s = _read(c.db, argv[1])
    if s is None or count == 0:
        return []
    return random_members(s, abs(count), count > 0)


def _log_srem(db: Database, key: bytes, members: list[bytes]) -> None:
    for start in range(0, len(members), _SREM_BATCH):
        db.propagate([b"SREM", key, *members[start:start + _SREM_BATCH]])


def pop_members(c: Client, key: bytes, s: RedisSet, count: int) -> list[bytes]:
    """SPOP key count on a live set (count > 0): remove and log, return the popped
    members in reply order. Deletes the key when the set is emptied."""
    db = c.db
    size = len(s.members)
    limits = _limits(c)
    if count >= size:
        # The whole set, in the order SUNION of it would give.
        popped = _union([s], limits).ordered()
        db.delete(key)
        db.propagate([b"DEL", key])
        if db.events:
            notify(db, SET, b"spop", key)
            notify(db, GENERIC, b"del", key)
        return popped
    remaining = size - count
    if remaining * _SPOP_MOVE_STRATEGY_MUL > count:
        if s.enc == LISTPACK:
            order = list(s.members)
            popped = [order[i] for i in sorted(random.sample(range(size), count))]
            for member in popped:
                s.remove(member)
        else:
            pop = s.pop_random
            popped = [pop() for _ in range(count)]
    else:
        # Pick what stays; reply with the rest in the set's order.
        if s.enc == HASHTABLE:
            kept = random.sample(list(s.members), remaining)
            keep = set(kept)
            popped = [m for m in s.members if m not in keep]
            if not all(is_int64(m) for m in kept):
                _replace_with_rest(c, key, kept, limits)
                if db.events:
                    notify(db, SET, b"spop", key)
                return popped
            # Only integers stay: Redis 7.2 would make them a listpack, which no
            # logged command could rebuild (SADD makes an intset of integers), so
            # the set stays a hashtable, as in Redis 7.0.
        else:
            order = s.ordered()
            stays = set(random.sample(range(size), remaining))
            popped = [m for i, m in enumerate(order) if i not in stays]
        for member in popped:
            s.remove(member)
    db.signal_modified(key)
    _log_srem(db, key, popped)
    if db.events:
        notify(db, SET, b"spop", key)
    return popped


def _replace_with_rest(c: Client, key: bytes, kept: list[bytes], limits: Limits) -> None:
    """Redis 7.2 rebuilds a hashtable's few remaining members as a new set, which
    is compact when they fit. Logged as DEL + SADD (+ PEXPIREAT) so a replay
    builds the same encoding: a non-integer goes first, as SADD picks the
    encoding from its first member."""
    db = c.db
    for i, member in enumerate(kept):
        if not is_int64(member):
            kept[0], kept[i] = kept[i], kept[0]
            break
    new = RedisSet.create(kept[0], len(kept), limits)
    for member in kept:
        new.add(member, limits)
    db.set(key, new, keep_ttl=True)
    db.propagate([b"DEL", key])
    db.propagate([b"SADD", key, *kept])
    when = db.get_expire(key)
    if when is not None:
        db.propagate([b"PEXPIREAT", key, b"%d" % when])


@command("spop", -2, "write fast", group=G, since="1.0.0", keys=ks("RW ACCESS DELETE"), acl=ACL,
         effects=CUSTOM, tips=_NONDET, history=(("3.2.0", "Added the `count` argument."),),
         summary="Returns one or more random members from a set after removing them. Deletes "
                 "the set if the last member was popped.",
         complexity="Without the count argument O(1), otherwise O(N) where N is the value of "
                    "the passed count.")
def spop(c: Client, argv: list[bytes]) -> Any:
    db = c.db
    key = argv[1]
    argc = len(argv)
    if argc == 2:
        s = _write(db, key)
        if s is None:
            return None
        member = s.pop_random()
        if s.members:
            db.signal_modified(key)
            if db.events:
                notify(db, SET, b"spop", key)
        else:
            db.delete(key)
            if db.events:
                notify(db, SET, b"spop", key)
                notify(db, GENERIC, b"del", key)
        db.propagate([b"SREM", key, member])
        return member
    if argc > 3:
        raise CommandError(errors.SYNTAX)
    count = to_int(argv[2])
    if count is None or count < 0:
        raise CommandError("ERR value is out of range, must be positive")
    s = _write(db, key)
    if s is None or count == 0:
        return SetReply()
    return SetReply(pop_members(c, key, s, count))


@command("smove", 4, "write fast", group=G, since="1.0.0",
         keys=(ks("RW ACCESS DELETE", 1), ks("RW INSERT", 2)), acl=ACL, effects=VERBATIM,
         summary="Moves a member from one set to another.", complexity="O(1)")
def smove(c: Client, argv: list[bytes]) -> Any:
    db = c.db
    source, destination, member = argv[1], argv[2], argv[3]
    src = _write(db, source)
    dst_value = db.lookup(destination)
    if src is None:
        return 0
    if dst_value is not None and type(dst_value) is not RedisSet:
        raise _wrongtype()
    dst: RedisSet | None = dst_value
    if src is dst:
        return 1 if member in src.members else 0
    if not src.remove(member):
        return 0
    events = db.events
    if src.members:
        db.signal_modified(source)
        if events:
            notify(db, SET, b"srem", source)
    else:
        db.delete(source)
        if events:
            notify(db, SET, b"srem", source)
            notify(db, GENERIC, b"del", source)
    limits = _limits(c)
    if dst is None:
        dst = RedisSet.create(member, 1, limits)
        dst.add(member, limits)
        db.set(destination, dst)
    elif dst.add(member, limits):
        db.signal_modified(destination)
    else:
        return 1
    if events:
        notify(db, SET, b"sadd", destination)
    return 1


# -- intersection, union, difference --------------------------------------------------


def _sources(db: Database, keys: list[bytes]) -> list[RedisSet | None]:
    """The sets named by keys (None for a missing key); WRONGTYPE if any is not a set."""
    found = []
    for key in keys:
        found.append(_read(db, key))
    return found


def _intersection(sets: list[RedisSet], limit: int = 0) -> tuple[RedisSet, list[bytes]]:
    """(smallest set, common members in its order); stops after ``limit`` if > 0."""
    ordered_sets = sorted(sets, key=len)
    first = ordered_sets[0]
    others = [s.members for s in ordered_sets[1:] if s is not first]
    members = first.ordered()
    if not others:
        return first, members[:limit] if limit else members
    out: list[bytes] = []
    if len(others) == 1:
        other = others[0]
        for m in members:
            if m in other:
                out.append(m)
                if len(out) == limit:
                    break
        return first, out
    for m in members:
        for other in others:
            if m not in other:
                break
        else:
            out.append(m)
            if len(out) == limit:
                break
    return first, out


def _union(sets: list[RedisSet | None], limits: Limits) -> RedisSet:
    result = RedisSet(INTSET)
    add = result.add
    for s in sets:
        if s is not None:
            for m in s.ordered():
                add(m, limits)
    return result


def _difference(sets: list[RedisSet | None], limits: Limits) -> RedisSet:
    """SDIFF as Redis builds it (its two algorithms give different encodings)."""
    result = RedisSet(INTSET)
    first = sets[0]
    if first is None or any(s is first for s in sets[1:]):
        return result
    others = [s for s in sets[1:] if s is not None]
    first_size = len(first.members)
    work_one = first_size * (1 + len(others)) // 2
    work_two = first_size + sum(len(s.members) for s in others)
    add = result.add
    if work_one <= work_two:
        other_members = [s.members for s in others]
        for m in first.ordered():
            for members in other_members:
                if m in members:
                    break
            else:
                add(m, limits)
    else:
        for m in first.ordered():
            add(m, limits)
        remove = result.remove
        for s in others:
            for m in s.ordered():
                remove(m)
            if not result.members:
                break
    return result


def _store(c: Client, destination: bytes, result: RedisSet, event: bytes) -> int:
    db = c.db
    size = len(result.members)
    if size:
        db.set(destination, result)
        if db.events:
            notify(db, SET, event, destination)
    elif db.delete(destination) and db.events:
        notify(db, GENERIC, b"del", destination)
    return size


@command("sinter", -2, "readonly", group=G, since="1.0.0", keys=ks("RO ACCESS", 1, ("range", -1, 1, 0)),
         acl=ACL, tips=_NONDET_ORDER, summary="Returns the intersect of multiple sets.",
         complexity="O(N*M) worst case where N is the cardinality of the smallest set and M is "
                    "the number of sets.")
def sinter(c: Client, argv: list[bytes]) -> Any:
    sets = _sources(c.db, argv[1:])
    if None in sets:
        return SetReply()
    return SetReply(_intersection(sets)[1])  # type: ignore[arg-type]


@command("sintercard", -3, "readonly", group=G, since="7.0.0",
         keys=ks("RO ACCESS", 1, ("keynum", 0, 1, 1)), acl=ACL,
         summary="Returns the number of members of the intersect of multiple sets.",
         complexity="O(N*M) worst case where N is the cardinality of the smallest set and M is "
                    "the number of sets.")
def sintercard(c: Client, argv: list[bytes]) -> Any:
    numkeys = to_int(argv[1])
    if numkeys is None or numkeys < 1:
        raise CommandError("ERR numkeys should be greater than 0")
    argc = len(argv)
    if numkeys > argc - 2:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    limit = 0
    i = 2 + numkeys
    while i < argc:
        if argv[i].lower() == b"limit" and i + 1 < argc:
            value = to_int(argv[i + 1])
            if value is None or value < 0:
                raise CommandError("ERR LIMIT can't be negative")
            limit = value
            i += 2
        else:
            raise CommandError(errors.SYNTAX)
    sets = _sources(c.db, argv[2:2 + numkeys])
    if None in sets:
        return 0
    return len(_intersection(sets, limit)[1])  # type: ignore[arg-type]


@command("sinterstore", -3, "write denyoom", group=G, since="1.0.0",
         keys=(ks("RW UPDATE", 1), ks("RO ACCESS", 2, ("range", -1, 1, 0))), acl=ACL,
         effects=VERBATIM, summary="Stores the intersect of multiple sets in a key.",
         complexity="O(N*M) worst case where N is the cardinality of the smallest set and M is "
                    "the number of sets.")
def sinterstore(c: Client, argv: list[bytes]) -> Any:
    sets = _sources(c.db, argv[2:])
    if None in sets:
        db = c.db
        if db.delete(argv[1]) and db.events:
            notify(db, GENERIC, b"del", argv[1])
        return 0
    limits = _limits(c)
    first, common = _intersection(sets)  # type: ignore[arg-type]
    # Redis 7.2 starts an intset when the smallest set is one, else a listpack,
    # and turns an all-integer result into an intset when it fits.
    result = RedisSet(INTSET if first.enc == INTSET else LISTPACK)
    add = result.add
    for m in common:
        add(m, limits)
    if result.enc != INTSET and all(is_int64(m) for m in common):
        result.to_intset_if_possible(limits)
    return _store(c, argv[1], result, b"sinterstore")


@command("sunion", -2, "readonly", group=G, since="1.0.0", keys=ks("RO ACCESS", 1, ("range", -1, 1, 0)),
         acl=ACL, tips=_NONDET_ORDER, summary="Returns the union of multiple sets.",
         complexity="O(N) where N is the total number of elements in all given sets.")
def sunion(c: Client, argv: list[bytes]) -> Any:
    return SetReply(_union(_sources(c.db, argv[1:]), _limits(c)).ordered())


@command("sunionstore", -3, "write denyoom", group=G, since="1.0.0",
         keys=(ks("OW UPDATE", 1), ks("RO ACCESS", 2, ("range", -1, 1, 0))), acl=ACL,
         effects=VERBATIM, summary="Stores the union of multiple sets in a key.",
         complexity="O(N) where N is the total number of elements in all given sets.")
def sunionstore(c: Client, argv: list[bytes]) -> Any:
    return _store(c, argv[1], _union(_sources(c.db, argv[2:]), _limits(c)), b"sunionstore")


@command("sdiff", -2, "readonly", group=G, since="1.0.0", keys=ks("RO ACCESS", 1, ("range", -1, 1, 0)),
         acl=ACL, tips=_NONDET_ORDER, summary="Returns the difference of multiple sets.",
         complexity="O(N) where N is the total number of elements in all given sets.")
def sdiff(c: Client, argv: list[bytes]) -> Any:
    return SetReply(_difference(_sources(c.db, argv[1:]), _limits(c)).ordered())


@command("sdiffstore", -3, "write denyoom", group=G, since="1.0.0",
         keys=(ks("OW UPDATE", 1), ks("RO ACCESS", 2, ("range", -1, 1, 0))), acl=ACL,
         effects=VERBATIM, summary="Stores the difference of multiple sets in a key.",
         complexity="O(N) where N is the total number of elements in all given sets.")
def sdiffstore(c: Client, argv: list[bytes]) -> Any:
    return _store(c, argv[1], _difference(_sources(c.db, argv[2:]), _limits(c)), b"sdiffstore")


# -- SSCAN ----------------------------------------------------------------------------


def _scan_index(s: RedisSet) -> ScanIndex:
    """The SSCAN index of a hashtable-encoded set, built on first use and then
    kept current by the set's add/remove."""
    index = s.index
    if index is None or len(index) != len(s.members):
        index = s.index = ScanIndex(s.members, len(s.members))
    return index  # type: ignore[no-any-return]


@command("sscan", -3, "readonly", group=G, since="2.8.0", keys=ks("RO ACCESS"), acl=ACL,
         tips=_NONDET, summary="Iterates over members of a set.",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough "
                    "command calls for the cursor to return back to 0. N is the number of "
                    "elements inside the collection.")
def sscan(c: Client, argv: list[bytes]) -> Any:
    cursor = parse_cursor(argv[2])
    s = _read(c.db, argv[1])
    if s is None:
        return _EMPTY_SCAN
    count, pattern = parse_scan_options(argv, 3)
    if s.enc == HASHTABLE:
        following, found = _scan_index(s).scan(cursor, count)
    else:
        # Compact encodings answer in one call, as Redis does.
        following, found = 0, s.ordered()
    if pattern is not None:
        match = compile_glob(pattern).match
        found = [m for m in found if match(m) is not None]
    return [b"%d" % following, found]
