"""Hash commands: HSET and friends, counters, HRANDFIELD and HSCAN.

The value is ``cairn.types.hash.Hash`` (listpack-encoded, packed in one blob) or
its subclass ``HashTable`` (hashtable-encoded, a dict). A write that
leaves a listpack past hash-max-listpack-entries, or stores a field or value
longer than hash-max-listpack-value, replaces it with a ``HashTable`` (Redis'
conversion, checked on what the command actually wrote, as Redis does). A hash
left empty is deleted.
"""

from __future__ import annotations

from typing import Any

from cairn.commands import errors
from cairn.commands.args import I64_MAX, I64_MIN, to_int
from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.registry import CUSTOM, VERBATIM, command, ks
from cairn.commands.scanargs import parse_cursor, parse_scan_options
from cairn.glob import compile_glob
from cairn.keyspace.notify import GENERIC, HASH, notify
from cairn.keyspace.scan import ScanIndex
from cairn.protocol import OK, MapReply
from cairn.types.hash import Hash, HashTable
from cairn.types.longdouble import (
    LD_ZERO,
    format_long_double,
    ld_add,
    parse_long_double,
)

G = "hash"
ACL = "hash"
ENTRIES = "hash-max-listpack-entries"
VALUE = "hash-max-listpack-value"

_NONDET = "nondeterministic_output"
_NONDET_ORDER = "nondeterministic_output_order"
_HASH_NOT_INTEGER = "ERR hash value is not an integer"
_HASH_NOT_FLOAT = "ERR hash value is not a float"
_NAN_OR_INF = "ERR increment would produce NaN or Infinity"
_INCR_NAN_OR_INF = "ERR value is NaN or Infinity"
_OUT_OF_RANGE = "ERR value is out of range"
_COUNT_RANGE = (
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
)
_LONG_MAX_HALF = I64_MAX // 2
# HRANDFIELD with a negative count answers |count| picks. Redis builds whatever
# reply was asked for (a count near LONG_MAX takes the server down); Cairn
# refuses counts whose reply could not be built in memory anyway.
_MAX_REPEATED_PICKS = 1 << 27
_EMPTY_SCAN: list[Any] = [b"0", []]


def _wrongtype() -> CommandError:
    return CommandError(errors.WRONGTYPE)


def _read(c: Client, key: bytes) -> Hash | None:
    """The hash at ``key`` for a read (counts hits/misses), None, or WRONGTYPE."""
    value = c.db.lookup_read(key)
    if value is None:
        return None
    t = type(value)
    if t is Hash or t is HashTable:
        return value  # type: ignore[no-any-return]
    raise _wrongtype()


def _write(c: Client, key: bytes) -> Hash | None:
    """The hash at ``key`` for a write, None, or WRONGTYPE."""
    value = c.db.lookup(key)
    if value is None:
        return None
    t = type(value)
    if t is Hash or t is HashTable:
        return value  # type: ignore[no-any-return]
    raise _wrongtype()


def _stored(c: Client, key: bytes, h: Hash, created: bool, written: list[bytes],
            event: bytes = b"hset", grew: bool = True) -> None:
    """After fields were written (``grew``: some were new): convert a listpack that
    outgrew the limits, store a new (or replaced) hash, or signal the in-place
    change; announce ``event``."""
    if type(h) is Hash:
        values = c.server.config.values
        if h.too_big(values[ENTRIES], values[VALUE], written, grew):
            h = h.to_table()
            created = True
    db = c.db
    if created:
        db.set(key, h, keep_ttl=True)
    else:
        db.signal_modified(key)
    if db.events:
        notify(db, HASH, event, key)


# -- setting fields ------------------------------------------------------------------


def _set_pairs(c: Client, argv: list[bytes], name: str) -> int:
    argc = len(argv)
    if argc & 1:
        raise errors.wrong_arity(name)
    key = argv[1]
    h = _write(c, key)
    created = h is None
    if h is None:
        h = Hash()
    added = h.put_pairs(argv, 2)
    _stored(c, key, h, created, argv[2:], grew=added > 0)
    return added


@command("hset", -4, "write denyoom fast", group=G, since="2.0.0", keys=ks("RW UPDATE"),
         acl=ACL, effects=VERBATIM,
         history=(("4.0.0", "Accepts multiple `field` and `value` arguments."),),
         summary="Sets the values of one or more fields of a hash, creating it if needed.",
         complexity="O(1) for each field/value pair added, so O(N) to add N field/value pairs "
                    "when the command is called with multiple field/value pairs.")
def hset(c: Client, argv: list[bytes]) -> Any:
    return _set_pairs(c, argv, "hset")


@command("hmset", -4, "write denyoom fast", group=G, since="2.0.0", keys=ks("RW UPDATE"),
         acl=ACL, effects=VERBATIM, doc_flags=("deprecated",), deprecated_since="4.0.0",
         replaced_by="`HSET` with multiple field-value pairs",
         summary="Sets several fields of a hash (the older spelling of HSET).",
         complexity="O(N) where N is the number of fields being set.")
def hmset(c: Client, argv: list[bytes]) -> Any:
    _set_pairs(c, argv, "hmset")
    return OK


@command("hsetnx", 4, "write denyoom fast", group=G, since="2.0.0", keys=ks("RW INSERT"),
         acl=ACL, effects=VERBATIM,
         summary="Sets a field of a hash only if the field is not there yet.",
         complexity="O(1)")
def hsetnx(c: Client, argv: list[bytes]) -> Any:
    key, field = argv[1], argv[2]
    h = _write(c, key)
    created = h is None
    if h is None:
        h = Hash()
    elif field in h:
        return 0
    h.put(field, argv[3])
    _stored(c, key, h, created, argv[2:])
    return 1


@command("hdel", -3, "write fast", group=G, since="2.0.0", keys=ks("RW DELETE"), acl=ACL,
         effects=VERBATIM, history=(("2.4.0", "Accepts multiple `field` arguments."),),
         summary="Removes fields from a hash; the hash goes away with its last field.",
         complexity="O(N) where N is the number of fields to be removed.")
def hdel(c: Client, argv: list[bytes]) -> Any:
    key = argv[1]
    h = _write(c, key)
    if h is None:
        return 0
    remove = h.remove
    removed = 0
    for field in argv[2:]:
        if remove(field):
            removed += 1
            if not h:
                break
    if removed:
        db = c.db
        if h:
            db.signal_modified(key)
            if db.events:
                notify(db, HASH, b"hdel", key)
        else:
            db.delete(key)
            if db.events:
                notify(db, HASH, b"hdel", key)
                notify(db, GENERIC, b"del", key)
    return removed


# -- reading ---------------------------------------------------------------------------


@command("hget", 3, "readonly fast", group=G, since="2.0.0", keys=ks("RO ACCESS"), acl=ACL,
         summary="Returns the value of one field of a hash.", complexity="O(1)")
def hget(c: Client, argv: list[bytes]) -> Any:
    h = _read(c, argv[1])
    return None if h is None else h.get(argv[2])


@command("hmget", -3, "readonly fast", group=G, since="2.0.0", keys=ks("RO ACCESS"), acl=ACL,
         summary="Returns the values of several fields of a hash.",
         complexity="O(N) where N is the number of fields being requested.")
def hmget(c: Client, argv: list[bytes]) -> Any:
    h = _read(c, argv[1])
    if h is None:
        return [None] * (len(argv) - 2)
    return h.get_many(argv[2:])


@command("hlen", 2, "readonly fast", group=G, since="2.0.0", keys=ks("RO"), acl=ACL,
         summary="Returns the number of fields of a hash.", complexity="O(1)")
def hlen(c: Client, argv: list[bytes]) -> Any:
    h = _read(c, argv[1])
    return 0 if h is None else len(h)


@command("hstrlen", 3, "readonly fast", group=G, since="3.2.0", keys=ks("RO"), acl=ACL,
         summary="Returns the length of the value of one field of a hash.", complexity="O(1)")
def hstrlen(c: Client, argv: list[bytes]) -> Any:
    h = _read(c, argv[1])
    if h is None:
        return 0
    value = h.get(argv[2])
    return 0 if value is None else len(value)


@command("hexists", 3, "readonly fast", group=G, since="2.0.0", keys=ks("RO"), acl=ACL,
         summary="Tells whether a hash has a field.", complexity="O(1)")
def hexists(c: Client, argv: list[bytes]) -> Any:
    h = _read(c, argv[1])
    return 1 if h is not None and argv[2] in h else 0


@command("hkeys", 2, "readonly", group=G, since="2.0.0", keys=ks("RO ACCESS"), acl=ACL,
         tips=_NONDET_ORDER, summary="Returns the field names of a hash.",
         complexity="O(N) where N is the size of the hash.")
def hkeys(c: Client, argv: list[bytes]) -> Any:
    h = _read(c, argv[1])
    return [] if h is None else h.keys()


@command("hvals", 2, "readonly", group=G, since="2.0.0", keys=ks("RO ACCESS"), acl=ACL,
         tips=_NONDET_ORDER, summary="Returns the values of a hash.",
         complexity="O(N) where N is the size of the hash.")
def hvals(c: Client, argv: list[bytes]) -> Any:
    h = _read(c, argv[1])
    return [] if h is None else h.values()


@command("hgetall", 2, "readonly", group=G, since="2.0.0", keys=ks("RO ACCESS"), acl=ACL,
         tips=_NONDET_ORDER, summary="Returns every field and value of a hash.",
         complexity="O(N) where N is the size of the hash.")
def hgetall(c: Client, argv: list[bytes]) -> Any:
    h = _read(c, argv[1])
    if h is None:
        return MapReply()
    # RESP2 sends a map as a flat array: the flat list is that reply, built faster.
    return h.flat() if c.resp == 2 else MapReply(h.items())


# -- counters ----------------------------------------------------------------------------


@command("hincrby", 4, "write denyoom fast", group=G, since="2.0.0",
         keys=ks("RW ACCESS UPDATE"), acl=ACL, effects=VERBATIM,
         summary="Adds an integer to the integer in a field of a hash (a missing field "
                 "counts as 0).",
         complexity="O(1)")
def hincrby(c: Client, argv: list[bytes]) -> Any:
    increment = to_int(argv[3])
    if increment is None:
        raise CommandError(errors.NOT_INTEGER)
    key, field = argv[1], argv[2]
    h = _write(c, key)
    created = h is None
    if h is None:
        h = Hash()
        current = 0
    else:
        old = h.get(field)
        if old is None:
            current = 0
        else:
            parsed = to_int(old)
            if parsed is None:
                raise CommandError(_HASH_NOT_INTEGER)
            current = parsed
    total = current + increment
    if total > I64_MAX or total < I64_MIN:
        raise CommandError(errors.OVERFLOW)
    text = b"%d" % total
    grew = h.put(field, text)
    _stored(c, key, h, created, [field, text], b"hincrby", grew)
    return total


@command("hincrbyfloat", 4, "write denyoom fast", group=G, since="2.6.0",
         keys=ks("RW ACCESS UPDATE"), acl=ACL, effects=CUSTOM,
         summary="Adds a floating point number to the number in a field of a hash (a missing "
                 "field counts as 0).",
         complexity="O(1)")
def hincrbyfloat(c: Client, argv: list[bytes]) -> Any:
    increment = parse_long_double(argv[3])
    if increment is None:
        raise CommandError(errors.NOT_FLOAT)
    if not isinstance(increment, tuple):  # an explicit infinity
        raise CommandError(_INCR_NAN_OR_INF)
    key, field = argv[1], argv[2]
    h = _write(c, key)
    created = h is None
    if h is None:
        h = Hash()
        current = LD_ZERO
    else:
        old = h.get(field)
        if old is None:
            current = LD_ZERO
        else:
            parsed = parse_long_double(old)
            if parsed is None:
                raise CommandError(_HASH_NOT_FLOAT)
            current = parsed
    total = ld_add(current, increment)
    if total is None:
        raise CommandError(_NAN_OR_INF)
    text = format_long_double(total)
    grew = h.put(field, text)
    _stored(c, key, h, created, [field, text], b"hincrbyfloat", grew)
    c.db.propagate([b"HSET", key, field, text])
    return text


# -- HRANDFIELD ----------------------------------------------------------------------------


@command("hrandfield", -2, "readonly", group=G, since="6.2.0", keys=ks("RO ACCESS"), acl=ACL,
         tips=_NONDET, summary="Returns random fields of a hash.",
         complexity="O(N) where N is the number of fields returned")
def hrandfield(c: Client, argv: list[bytes]) -> Any:
    argc = len(argv)
    if argc == 2:
        h = _read(c, argv[1])
        return None if h is None else h.random_field()
    count = to_int(argv[2])
    if count is None:
        raise CommandError(errors.NOT_INTEGER)
    if count == I64_MIN:
        raise CommandError(_COUNT_RANGE)
    withvalues = False
    if argc >= 4:
        if argc > 4 or argv[3].lower() != b"withvalues":
            raise CommandError(errors.SYNTAX)
        if count > _LONG_MAX_HALF or count < -_LONG_MAX_HALF:
            raise CommandError(_OUT_OF_RANGE)
        withvalues = True
    h = _read(c, argv[1])
    if h is None or count == 0:
        return []
    if count < 0:
        if -count > _MAX_REPEATED_PICKS:
            raise CommandError(_OUT_OF_RANGE)
        fields = h.random_fields_with_repeats(-count)
    elif count >= len(h):
        if not withvalues:
            return h.keys()
        if c.resp == 3:
            return [list(pair) for pair in h.items()]
        return h.flat()
    else:
        fields = h.random_distinct(count)
    if not withvalues:
        return fields
    values = h.d if type(h) is HashTable else dict(h.items())
    if c.resp == 3:
        return [[field, values[field]] for field in fields]
    out: list[bytes] = []
    for field in fields:
        out.append(field)
        out.append(values[field])
    return out


# -- HSCAN -----------------------------------------------------------------------------------


def _scan_index(h: HashTable) -> ScanIndex:
    """The HSCAN index of a hashtable-encoded hash: built on first use, then kept
    current by the hash's put/remove."""
    index = h.index
    d = h.d
    if index is None or len(index) != len(d):
        index = h.index = ScanIndex(d, len(d))
    return index  # type: ignore[no-any-return]


@command("hscan", -3, "readonly", group=G, since="2.8.0", keys=ks("RO ACCESS"), acl=ACL,
         tips=_NONDET, summary="Iterates over the fields and values of a hash.",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough "
                    "command calls for the cursor to return back to 0. N is the number of "
                    "elements inside the collection.")
def hscan(c: Client, argv: list[bytes]) -> Any:
    cursor = parse_cursor(argv[2])
    h = _read(c, argv[1])
    if h is None:
        return _EMPTY_SCAN
    count, pattern = parse_scan_options(argv, 3)
    if type(h) is not HashTable:
        # A listpack answers in one call, whatever the cursor, as Redis does.
        flat = h.flat()
        if pattern is not None:
            match = compile_glob(pattern).match
            flat = [x for i in range(0, len(flat), 2) if match(flat[i]) is not None
                    for x in flat[i:i + 2]]
        return [b"0", flat]
    following, fields = _scan_index(h).scan(cursor, count)
    if pattern is not None:
        match = compile_glob(pattern).match
        fields = [f for f in fields if match(f) is not None]
    d = h.d
    out: list[bytes] = []
    for field in fields:
        out.append(field)
        out.append(d[field])
    return [b"%d" % following, out]
