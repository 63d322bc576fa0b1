"""String commands: GET SET and friends, counters, ranges, LCS.

Values are ``bytes``; APPEND and SETRANGE turn a value into a ``bytearray``
(Redis' "raw" encoding) and then change it in place, so repeated APPENDs are
amortised O(1). Anything whose type is neither is another data type: WRONGTYPE.
A ``bytearray`` still in the keyspace is never handed out as a reply (it could
change before the reply is written, e.g. inside MULTI): readers copy it.
"""

from __future__ import annotations

from typing import Any

from cairn.commands import errors
from cairn.commands.args import I64_MAX, I64_MIN, to_int
from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.registry import CUSTOM, VERBATIM, command, ks
from cairn.keyspace.notify import GENERIC, STRING, notify
from cairn.protocol import OK, MapReply
from cairn.types.longdouble import (
    LD_ZERO,
    LongDouble,
    format_long_double,
    ld_add,
    parse_long_double,
)

G = "string"
_S = "string"


def _wrongtype() -> CommandError:
    return CommandError(errors.WRONGTYPE)


def _not_integer() -> CommandError:
    return CommandError(errors.NOT_INTEGER)


def _invalid_expire(name: str) -> CommandError:
    return CommandError(f"ERR invalid expire time in '{name}' command")


def _is_string(value: Any) -> bool:
    t = type(value)
    return t is bytes or t is bytearray


def _string_or_none(c: Client, key: bytes) -> Any:
    """The key's string value (a read: counts hits/misses), None, or WRONGTYPE."""
    value = c.db.lookup_read(key)
    if value is None:
        return None
    t = type(value)
    if t is bytes:
        return value
    if t is bytearray:
        return bytes(value)
    raise _wrongtype()


# -- GET / SET -----------------------------------------------------------------


@command("get", 2, "readonly fast", group=G, since="1.0.0", keys=ks("RO ACCESS"), acl=_S,
         summary="Returns the string value of a key.", complexity="O(1)")
def get(c: Client, argv: list[bytes]) -> Any:
    value = c.db.lookup_read(argv[1])
    t = type(value)
    if t is bytes or value is None:
        return value
    if t is bytearray:
        return bytes(value)
    raise _wrongtype()


# Option bits shared by SET and GETEX.
_NX, _XX, _GET, _KEEPTTL, _PERSIST = 1, 2, 4, 8, 16
_EX, _PX, _EXAT, _PXAT = 32, 64, 128, 256
_ANY_EXPIRE = _EX | _PX | _EXAT | _PXAT
_UNITS = {b"ex": _EX, b"px": _PX, b"exat": _EXAT, b"pxat": _PXAT}


def _parse_options(argv: list[bytes], start: int, is_set: bool) -> tuple[int, bytes | None]:
    """(flags, expire argument) of SET's or GETEX's options, or a syntax error.

    The same expire unit may repeat (the last value wins); two different units,
    or a unit with KEEPTTL/PERSIST, or NX with XX, are syntax errors.
    """
    flags = 0
    expire: bytes | None = None
    argc = len(argv)
    i = start
    while i < argc:
        opt = argv[i].lower()
        unit = _UNITS.get(opt)
        if unit is not None:
            if flags & (_KEEPTTL | _PERSIST | (_ANY_EXPIRE & ~unit)) or i + 1 >= argc:
                raise CommandError(errors.SYNTAX)
            flags |= unit
            expire = argv[i + 1]
            i += 2
            continue
        if is_set and opt == b"nx" and not flags & _XX:
            flags |= _NX
        elif is_set and opt == b"xx" and not flags & _NX:
            flags |= _XX
        elif is_set and opt == b"get":
            flags |= _GET
        elif is_set and opt == b"keepttl" and not flags & _ANY_EXPIRE:
            flags |= _KEEPTTL
        elif not is_set and opt == b"persist" and not flags & _ANY_EXPIRE:
            flags |= _PERSIST
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    return flags, expire


def _expire_at(c: Client, arg: bytes, unit: int, name: str) -> int:
    """Absolute expiry in ms for an EX/PX/EXAT/PXAT argument, with Redis' checks."""
    n = to_int(arg)
    if n is None:
        raise _not_integer()
    seconds = unit & (_EX | _EXAT)
    if n <= 0 or (seconds and n > I64_MAX // 1000):
        raise _invalid_expire(name)
    if seconds:
        n *= 1000
    if unit & (_EX | _PX):
        n += c.server.keyspace.time_ms
        if n > I64_MAX:
            raise _invalid_expire(name)
    return n


@command("set", -3, "write denyoom", group=G, since="1.0.0",
         keys=ks("RW ACCESS UPDATE VARIABLE_FLAGS"), acl=_S, effects=CUSTOM,
         history=(("2.6.12", "Added the `EX`, `PX`, `NX` and `XX` options."),
                  ("6.0.0", "Added the `KEEPTTL` option."),
                  ("6.2.0", "Added the `GET`, `EXAT` and `PXAT` option."),
                  ("7.0.0", "Allowed the `NX` and `GET` options to be used together.")),
         summary="Sets the string value of a key, ignoring its type. The key is created if it "
                 "doesn't exist.",
         complexity="O(1)")
def set_(c: Client, argv: list[bytes]) -> Any:
    if len(argv) == 3:
        db = c.db
        db.set(argv[1], argv[2])
        db.keyspace.effects.append((db.id, argv))  # db.propagate(argv)
        if db.events:
            notify(db, STRING, b"set", argv[1])
        return OK
    return _set_with_options(c, argv)


def _set_with_options(c: Client, argv: list[bytes]) -> Any:
    flags, expire = _parse_options(argv, 3, True)
    when = _expire_at(c, expire, flags & _ANY_EXPIRE, "set") if expire is not None else 0
    db = c.db
    key = argv[1]
    old = None
    if flags & _GET:
        old = _string_or_none(c, key)
        found = old is not None
    else:
        found = db.lookup(key) is not None
    if (flags & _NX and found) or (flags & _XX and not found):
        return old if flags & _GET else None
    value = argv[2]
    if expire is None:
        keep = bool(flags & _KEEPTTL)
        db.set(key, value, keep_ttl=keep)
        db.propagate([b"SET", key, value, b"KEEPTTL"] if keep else [b"SET", key, value])
        if db.events:
            notify(db, STRING, b"set", key)
    elif when <= c.server.keyspace.time_ms and not c.server.keyspace.replaying:
        # Already expired (EXAT/PXAT in the past): the key ends up deleted, and
        # that deletion is what happened. Redis 7.2 stores it and lets it expire
        # lazily; later Redis versions (and Valkey) delete it at once like this.
        # A replayed SET ... PXAT is applied as logged: expiry comes as a DEL.
        if found:
            db.delete(key)
            db.propagate([b"DEL", key])
            if db.events:
                notify(db, GENERIC, b"del", key)
    else:
        db.set(key, value, keep_ttl=True)
        db.set_expire(key, when)
        db.propagate([b"SET", key, value, b"PXAT", b"%d" % when])
        if db.events:
            notify(db, STRING, b"set", key)
            notify(db, GENERIC, b"expire", key)
    return old if flags & _GET else OK


def _setex(c: Client, argv: list[bytes], unit: int, name: str) -> Any:
    when = _expire_at(c, argv[2], unit, name)
    db = c.db
    key, value = argv[1], argv[3]
    db.set(key, value, keep_ttl=True)
    db.set_expire(key, when)
    db.propagate([b"SET", key, value, b"PXAT", b"%d" % when])
    if db.events:
        notify(db, STRING, b"set", key)
        notify(db, GENERIC, b"expire", key)
    return OK


@command("setex", 4, "write denyoom", group=G, since="2.0.0", keys=ks("OW UPDATE"), acl=_S,
         effects=CUSTOM, doc_flags=("deprecated",), deprecated_since="2.6.12",
         replaced_by="`SET` with the `EX` argument",
         summary="Sets the string value and expiration time of a key. Creates the key if it "
                 "doesn't exist.",
         complexity="O(1)")
def setex(c: Client, argv: list[bytes]) -> Any:
    return _setex(c, argv, _EX, "setex")


@command("psetex", 4, "write denyoom", group=G, since="2.6.0", keys=ks("OW UPDATE"), acl=_S,
         effects=CUSTOM, doc_flags=("deprecated",), deprecated_since="2.6.12",
         replaced_by="`SET` with the `PX` argument",
         summary="Sets both string value and expiration time in milliseconds of a key. The key "
                 "is created if it doesn't exist.",
         complexity="O(1)")
def psetex(c: Client, argv: list[bytes]) -> Any:
    return _setex(c, argv, _PX, "psetex")


@command("setnx", 3, "write denyoom fast", group=G, since="1.0.0", keys=ks("OW INSERT"), acl=_S,
         effects=VERBATIM, doc_flags=("deprecated",), deprecated_since="2.6.12",
         replaced_by="`SET` with the `NX` argument",
         summary="Set the string value of a key only when the key doesn't exist.",
         complexity="O(1)")
def setnx(c: Client, argv: list[bytes]) -> Any:
    db = c.db
    if db.lookup(argv[1]) is not None:
        return 0
    db.set(argv[1], argv[2])
    if db.events:
        notify(db, STRING, b"set", argv[1])
    return 1


@command("getset", 3, "write denyoom fast", group=G, since="1.0.0",
         keys=ks("RW ACCESS UPDATE"), acl=_S, effects=CUSTOM, doc_flags=("deprecated",),
         deprecated_since="6.2.0", replaced_by="`SET` with the `!GET` argument",
         summary="Returns the previous string value of a key after setting it to a new value.",
         complexity="O(1)")
def getset(c: Client, argv: list[bytes]) -> Any:
    old = _string_or_none(c, argv[1])
    db = c.db
    db.set(argv[1], argv[2])
    db.propagate([b"SET", argv[1], argv[2]])
    if db.events:
        notify(db, STRING, b"set", argv[1])
    return old


@command("getdel", 2, "write fast", group=G, since="6.2.0", keys=ks("RW ACCESS DELETE"),
         acl=_S, effects=VERBATIM,
         summary="Returns the string value of a key after deleting the key.", complexity="O(1)")
def getdel(c: Client, argv: list[bytes]) -> Any:
    value = c.db.lookup_read(argv[1])
    if value is None:
        return None
    if not _is_string(value):
        raise _wrongtype()
    db = c.db
    db.delete(argv[1])
    if db.events:
        notify(db, GENERIC, b"del", argv[1])
    return value  # no longer in the keyspace: nothing can change it


@command("getex", -2, "write fast", group=G, since="6.2.0", keys=ks("RW ACCESS UPDATE"),
         acl=_S, effects=CUSTOM,
         summary="Returns the string value of a key after setting its expiration time.",
         complexity="O(1)")
def getex(c: Client, argv: list[bytes]) -> Any:
    flags, expire = _parse_options(argv, 2, False)
    key = argv[1]
    db = c.db
    value = _string_or_none(c, key)
    if value is None:
        return None
    if expire is not None:
        unit = flags & _ANY_EXPIRE
        when = _expire_at(c, expire, unit, "getex")
        if unit & (_EXAT | _PXAT) and when <= c.server.keyspace.time_ms:
            db.delete(key)
            db.propagate([b"DEL", key])
            if db.events:
                notify(db, GENERIC, b"del", key)
        else:
            db.set_expire(key, when)
            db.signal_modified(key)
            db.propagate([b"PEXPIREAT", key, b"%d" % when])
            if db.events:
                notify(db, GENERIC, b"expire", key)
    elif flags & _PERSIST and db.persist(key):
        db.signal_modified(key)
        db.propagate([b"PERSIST", key])
        if db.events:
            notify(db, GENERIC, b"persist", key)
    return value


@command("mget", -2, "readonly fast", group=G, since="1.0.0",
         keys=ks("RO ACCESS", 1, ("range", -1, 1, 0)), acl=_S, tips="request_policy:multi_shard",
         summary="Atomically returns the string values of one or more keys.",
         complexity="O(N) where N is the number of keys to retrieve.")
def mget(c: Client, argv: list[bytes]) -> Any:
    lookup = c.db.lookup_read
    out: list[Any] = []
    for key in argv[1:]:
        value = lookup(key)
        t = type(value)
        if t is bytes:
            out.append(value)
        elif t is bytearray:
            out.append(bytes(value))
        else:
            out.append(None)
    return out


@command("mset", -3, "write denyoom", group=G, since="1.0.1",
         keys=ks("OW UPDATE", 1, ("range", -1, 2, 0)), acl=_S, effects=VERBATIM,
         tips="request_policy:multi_shard response_policy:all_succeeded",
         summary="Atomically creates or modifies the string values of one or more keys.",
         complexity="O(N) where N is the number of keys to set.")
def mset(c: Client, argv: list[bytes]) -> Any:
    if len(argv) % 2 == 0:
        raise errors.wrong_arity("mset")
    db = c.db
    db_set = db.set
    pairs = iter(argv)
    next(pairs)
    for key, value in zip(pairs, pairs):
        db_set(key, value)
        if db.events:
            notify(db, STRING, b"set", key)
    return OK


@command("msetnx", -3, "write denyoom", group=G, since="1.0.1",
         keys=ks("OW INSERT", 1, ("range", -1, 2, 0)), acl=_S, effects=VERBATIM,
         summary="Atomically modifies the string values of one or more keys only when all keys "
                 "don't exist.",
         complexity="O(N) where N is the number of keys to set.")
def msetnx(c: Client, argv: list[bytes]) -> Any:
    if len(argv) % 2 == 0:
        raise errors.wrong_arity("msetnx")
    db = c.db
    for i in range(1, len(argv), 2):
        if db.lookup(argv[i]) is not None:
            return 0
    for i in range(1, len(argv), 2):
        db.set(argv[i], argv[i + 1])
        if db.events:
            notify(db, STRING, b"set", argv[i])
    return 1


# -- in-place changes ------------------------------------------------------------


def _check_size(c: Client, total: int) -> None:
    if total > c.server.config["proto-max-bulk-len"] and not c.server.keyspace.replaying:
        raise CommandError(errors.STRING_TOO_LONG)


@command("append", 3, "write denyoom fast", group=G, since="2.0.0", keys=ks("RW INSERT"),
         acl=_S, effects=VERBATIM,
         summary="Appends a string to the value of a key. Creates the key if it doesn't exist.",
         complexity="O(1). The amortized time complexity is O(1) assuming the appended value "
                    "is small and the already present value is of any size, since the dynamic "
                    "string library used by Redis will double the free space available on every "
                    "reallocation.")
def append(c: Client, argv: list[bytes]) -> Any:
    db = c.db
    key, piece = argv[1], argv[2]
    value = db.lookup(key)
    if value is None:
        db.set(key, piece)
        size = len(piece)
    else:
        t = type(value)
        if t is bytearray:
            _check_size(c, len(value) + len(piece))
            value += piece
            db.signal_modified(key)
            size = len(value)
        else:
            if t is not bytes:
                raise _wrongtype()
            _check_size(c, len(value) + len(piece))
            raw = bytearray(value)
            raw += piece
            db.set(key, raw, keep_ttl=True)
            size = len(raw)
    if db.events:
        notify(db, STRING, b"append", key)
    return size


@command("setrange", 4, "write denyoom", group=G, since="2.2.0", keys=ks("RW UPDATE"), acl=_S,
         effects=VERBATIM,
         summary="Overwrites a part of a string value with another by an offset. Creates the key "
                 "if it doesn't exist.",
         complexity="O(1), not counting the time taken to copy the new string in place. Usually, "
                    "this string is very small so the amortized complexity is O(1). Otherwise, "
                    "complexity is O(M) with M being the length of the value argument.")
def setrange(c: Client, argv: list[bytes]) -> Any:
    offset = to_int(argv[2])
    if offset is None:
        raise _not_integer()
    if offset < 0:
        raise CommandError("ERR offset is out of range")
    db = c.db
    key, piece = argv[1], argv[3]
    value = db.lookup(key)
    end = offset + len(piece)
    if value is None:
        if not piece:
            return 0
        _check_size(c, end)
        raw = bytearray(offset)
        raw += piece
        db.set(key, raw)
        if db.events:
            notify(db, STRING, b"setrange", key)
        return end
    t = type(value)
    if t is not bytes and t is not bytearray:
        raise _wrongtype()
    if not piece:
        return len(value)
    _check_size(c, end)
    if t is bytes:
        value = bytearray(value)
        db.set(key, value, keep_ttl=True)
    else:
        db.signal_modified(key)
    if offset > len(value):
        value += bytes(offset - len(value))
    value[offset:end] = piece
    if db.events:
        notify(db, STRING, b"setrange", key)
    return len(value)


@command("strlen", 2, "readonly fast", group=G, since="2.2.0", keys=ks("RO"), acl=_S,
         summary="Returns the length of a string value.", complexity="O(1)")
def strlen(c: Client, argv: list[bytes]) -> Any:
    value = c.db.lookup_read(argv[1])
    if value is None:
        return 0
    if not _is_string(value):
        raise _wrongtype()
    return len(value)


def _getrange(c: Client, argv: list[bytes]) -> Any:
    start = to_int(argv[2])
    end = to_int(argv[3])
    if start is None or end is None:
        raise _not_integer()
    value = c.db.lookup_read(argv[1])
    if value is None:
        return b""
    if not _is_string(value):
        raise _wrongtype()
    n = len(value)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start = max(start + n, 0)
    if end < 0:
        end = max(end + n, 0)
    if end >= n:
        end = n - 1
    if start > end or n == 0:
        return b""
    return bytes(value[start : end + 1])


@command("getrange", 4, "readonly", group=G, since="2.4.0", keys=ks("RO ACCESS"), acl=_S,
         summary="Returns a substring of the string stored at a key.",
         complexity="O(N) where N is the length of the returned string. The complexity is "
                    "ultimately determined by the returned length, but because creating a "
                    "substring from an existing string is very cheap, it can be considered O(1) "
                    "for small strings.")
def getrange(c: Client, argv: list[bytes]) -> Any:
    return _getrange(c, argv)


@command("substr", 4, "readonly", group=G, since="1.0.0", keys=ks("RO ACCESS"), acl=_S,
         doc_flags=("deprecated",), deprecated_since="2.0.0", replaced_by="`GETRANGE`",
         summary="Returns a substring from a string value.",
         complexity="O(N) where N is the length of the returned string. The complexity is "
                    "ultimately determined by the returned length, but because creating a "
                    "substring from an existing string is very cheap, it can be considered O(1) "
                    "for small strings.")
def substr(c: Client, argv: list[bytes]) -> Any:
    return _getrange(c, argv)


# -- counters ----------------------------------------------------------------------


def _incr(c: Client, key: bytes, delta: int) -> int:
    db = c.db
    value = db.lookup(key)
    if value is None:
        new = delta
    else:
        t = type(value)
        if t is not bytes and t is not bytearray:
            raise _wrongtype()
        current = to_int(value)
        if current is None:
            raise _not_integer()
        new = current + delta
        if new > I64_MAX or new < I64_MIN:
            raise CommandError(errors.OVERFLOW)
    db.set(key, b"%d" % new, keep_ttl=True)
    if db.events:
        notify(db, STRING, b"incrby", key)
    return new


_COUNTER_KEYS = ks("RW ACCESS UPDATE")


@command("incr", 2, "write denyoom fast", group=G, since="1.0.0", keys=_COUNTER_KEYS, acl=_S,
         effects=VERBATIM, complexity="O(1)",
         summary="Increments the integer value of a key by one. Uses 0 as initial value if the "
                 "key doesn't exist.")
def incr(c: Client, argv: list[bytes]) -> Any:
    # _incr(c, argv[1], 1), inlined.
    db = c.db
    key = argv[1]
    value = db.lookup(key)
    if value is None:
        db.set(key, b"1", True)
        if db.events:
            notify(db, STRING, b"incrby", key)
        return 1
    t = type(value)
    if t is not bytes and t is not bytearray:
        raise _wrongtype()
    current = to_int(value)
    if current is None:
        raise _not_integer()
    new = current + 1
    if new > I64_MAX:
        raise CommandError(errors.OVERFLOW)
    db.set(key, b"%d" % new, True)
    if db.events:
        notify(db, STRING, b"incrby", key)
    return new


@command("decr", 2, "write denyoom fast", group=G, since="1.0.0", keys=_COUNTER_KEYS, acl=_S,
         effects=VERBATIM, complexity="O(1)",
         summary="Decrements the integer value of a key by one. Uses 0 as initial value if the "
                 "key doesn't exist.")
def decr(c: Client, argv: list[bytes]) -> Any:
    return _incr(c, argv[1], -1)


@command("incrby", 3, "write denyoom fast", group=G, since="1.0.0", keys=_COUNTER_KEYS, acl=_S,
         effects=VERBATIM, complexity="O(1)",
         summary="Increments the integer value of a key by a number. Uses 0 as initial value if "
                 "the key doesn't exist.")
def incrby(c: Client, argv: list[bytes]) -> Any:
    delta = to_int(argv[2])
    if delta is None:
        raise _not_integer()
    return _incr(c, argv[1], delta)


@command("decrby", 3, "write denyoom fast", group=G, since="1.0.0", keys=_COUNTER_KEYS, acl=_S,
         effects=VERBATIM, complexity="O(1)",
         summary="Decrements a number from the integer value of a key. Uses 0 as initial value "
                 "if the key doesn't exist.")
def decrby(c: Client, argv: list[bytes]) -> Any:
    delta = to_int(argv[2])
    if delta is None:
        raise _not_integer()
    if delta == I64_MIN:
        raise CommandError("ERR decrement would overflow")
    return _incr(c, argv[1], -delta)


@command("incrbyfloat", 3, "write denyoom fast", group=G, since="2.6.0",
         keys=ks("RW ACCESS UPDATE"), acl=_S, effects=CUSTOM,
         summary="Increment the floating point value of a key by a number. Uses 0 as initial "
                 "value if the key doesn't exist.",
         complexity="O(1)")
def incrbyfloat(c: Client, argv: list[bytes]) -> Any:
    db = c.db
    key = argv[1]
    value = db.lookup(key)
    if value is None:
        current: LongDouble | None = LD_ZERO
    elif _is_string(value):
        current = parse_long_double(value)
    else:
        raise _wrongtype()
    increment = parse_long_double(argv[2])
    if current is None or increment is None:
        raise CommandError(errors.NOT_FLOAT)
    total = ld_add(current, increment)
    if total is None:
        raise CommandError("ERR increment would produce NaN or Infinity")
    text = format_long_double(total)
    db.set(key, text, keep_ttl=True)
    db.propagate([b"SET", key, text, b"KEEPTTL"])
    if db.events:
        notify(db, STRING, b"incrbyfloat", key)
    return text


# -- LCS ---------------------------------------------------------------------------


@command("lcs", -3, "readonly", group=G, since="7.0.0",
         keys=ks("RO ACCESS", 1, ("range", 1, 1, 0)), acl=_S,
         summary="Finds the longest common substring.",
         complexity="O(N*M) where N and M are the lengths of s1 and s2, respectively")
def lcs(c: Client, argv: list[bytes]) -> Any:
    a = c.db.lookup_read(argv[1])
    b = c.db.lookup_read(argv[2])
    if (a is not None and not _is_string(a)) or (b is not None and not _is_string(b)):
        raise CommandError("ERR The specified keys must contain string values")
    a = bytes(a) if a is not None else b""
    b = bytes(b) if b is not None else b""
    want_idx = want_len = with_len = False
    min_len = 0
    i = 3
    argc = len(argv)
    while i < argc:
        opt = argv[i].lower()
        if opt == b"idx":
            want_idx = True
        elif opt == b"len":
            want_len = True
        elif opt == b"withmatchlen":
            with_len = True
        elif opt == b"minmatchlen" and i + 1 < argc:
            n = to_int(argv[i + 1])
            if n is None:
                raise _not_integer()
            min_len = max(n, 0)
            i += 1
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    if want_idx and want_len:
        raise CommandError("ERR If you want both the length and indexes, please just use IDX.")
    if (len(a) + 1) * (len(b) + 1) * 4 > c.server.config["proto-max-bulk-len"]:
        raise CommandError(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
        )
    rows = _lcs_rows(a, b)
    m = len(b)
    total = m - (rows[-1] & ((1 << m) - 1)).bit_count() if m else 0
    if want_len:
        return total
    return _lcs_walk(a, b, rows, total, want_idx, min_len, with_len)


def _lcs_rows(a: bytes, b: bytes) -> list[int]:
    """Bit-parallel LCS table: rows[i] encodes the row for a[:i] against b.

    Bit j of rows[i] is 0 exactly where LCS(a[:i], b[:j+1]) exceeds
    LCS(a[:i], b[:j]), so LCS(a[:i], b[:j]) = j - popcount(rows[i] & (2**j - 1)).
    """
    m = len(b)
    full = (1 << m) - 1
    masks: dict[int, int] = {}
    for j, ch in enumerate(b):
        masks[ch] = masks.get(ch, 0) | (1 << j)
    row = full
    rows = [row]
    for ch in a:
        u = row & masks.get(ch, 0)
        row = ((row + u) | (row - u)) & full
        rows.append(row)
    return rows


def _lcs_walk(a: bytes, b: bytes, rows: list[int], total: int, want_idx: bool,
              min_len: int, with_len: bool) -> Any:
    """Walk the table back from the end, collecting the common subsequence and
    (for IDX) its runs of adjacent matches, in the order Redis reports them."""

    def length(i: int, j: int) -> int:
        return j - (rows[i] & ((1 << j) - 1)).bit_count()

    out = bytearray(total)
    pos = total
    matches: list[Any] = []
    i, j = len(a), len(b)
    run_a = run_b = -1  # start of the current run (indexes of its first char)
    run_end_a = run_end_b = -1
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            pos -= 1
            out[pos] = a[i - 1]
            if run_a < 0:
                run_end_a, run_end_b = i - 1, j - 1
            run_a, run_b = i - 1, j - 1
            if run_a == 0 or run_b == 0:
                emit = True
            i -= 1
            j -= 1
        else:
            if length(i - 1, j) > length(i, j - 1):
                i -= 1
            else:
                j -= 1
            if run_a >= 0:
                emit = True
        if emit:
            if want_idx:
                span = run_end_a - run_a + 1
                if min_len == 0 or span >= min_len:
                    item: list[Any] = [[run_a, run_end_a], [run_b, run_end_b]]
                    if with_len:
                        item.append(span)
                    matches.append(item)
            run_a = -1
    if want_idx:
        return MapReply([(b"matches", matches), (b"len", total)])
    return bytes(out)
