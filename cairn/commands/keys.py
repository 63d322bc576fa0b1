"""Generic keyspace commands: DEL EXISTS TYPE RENAME KEYS SCAN RANDOMKEY DBSIZE
FLUSHDB FLUSHALL TOUCH OBJECT MOVE COPY SWAPDB, and expiry (EXPIRE family, TTL
family, PERSIST)."""

from __future__ import annotations

import weakref
from typing import Any

from cairn.commands import errors
from cairn.commands.args import I64_MAX, to_int
from cairn.commands.context import Client, Server
from cairn.commands.errors import CommandError
from cairn.commands.registry import CUSTOM, VERBATIM, command, container, ks
from cairn.commands.scanargs import parse_cursor
from cairn.glob import compile_glob
from cairn.keyspace import Database, type_name
from cairn.keyspace.notify import GENERIC, KEY_MISS, NEW, notify
from cairn.protocol import OK, Status

G = "generic"
ACL = "keyspace"

_SAME_OBJECT = "ERR source and destination objects are the same"
_INT32_RANGE = "ERR value is out of range, value must between -2147483648 and 2147483647"


def _read(db: Database, key: bytes, announce: bool = True) -> Any:
    """A read lookup that does not touch the LRU clock but counts hits/misses
    (and announces a miss, unless ``announce`` is false, as for OBJECT)."""
    value = db.lookup(key, touch=False)
    space = db.keyspace
    if value is None:
        space.stat_misses += 1
        if announce and db.events:
            notify(db, KEY_MISS, b"keymiss", key)
    else:
        space.stat_hits += 1
    return value


def _parse_int32(arg: bytes, message: str | None = None) -> int:
    """Redis' getIntFromObjectOrReply."""
    value = to_int(arg)
    if value is None:
        raise CommandError(message or errors.NOT_INTEGER)
    if value < -(2**31) or value > 2**31 - 1:
        raise CommandError(message or _INT32_RANGE)
    return value


def _db_by_index(c: Client, index: int) -> Database:
    dbs = c.server.keyspace.dbs
    if index < 0 or index >= len(dbs):
        raise CommandError(errors.DB_INDEX)
    return dbs[index]


def copy_value(value: Any) -> Any:
    """A deep copy of a stored value (COPY)."""
    t = type(value)
    if t is bytes:
        return value
    if t is bytearray:
        return bytearray(value)
    return value.copy()


# -- policies -----------------------------------------------------------------


_POLICY_WATCHED: weakref.WeakSet[Server] = weakref.WeakSet()


def sync_policy(server: Server) -> None:
    """Mirror the LFU settings of the config into the keyspace (read on every access).

    The first call for a server also subscribes to later changes of those
    settings. It should run when the server starts; until that is wired, OBJECT,
    FLUSHDB and FLUSHALL call it.
    """
    space = server.keyspace
    config = server.config
    space.lfu_policy = "lfu" in config["maxmemory-policy"]
    space.lfu_log_factor = config["lfu-log-factor"]
    space.lfu_decay_time = config["lfu-decay-time"]
    if server not in _POLICY_WATCHED:
        _POLICY_WATCHED.add(server)
        # Keyspace notifications are wired here too: this runs once when the
        # server starts (Server.__init__), the one start-up hook commands have.
        from cairn.commands.pubsub import install_notifications

        install_notifications(server)
        ref = weakref.ref(server)

        def changed(_value: Any) -> None:
            target = ref()
            if target is not None:
                sync_policy(target)

        for name in ("maxmemory-policy", "lfu-log-factor", "lfu-decay-time"):
            config.on_change(name, changed)


# -- deleting and testing -----------------------------------------------------


@command("del", -2, "write", group=G, since="1.0.0",
         tips="request_policy:multi_shard response_policy:agg_sum", acl=ACL, effects=VERBATIM,
         keys=ks("RM DELETE", 1, ("range", -1, 1, 0)),
         summary="Deletes one or more keys.",
         complexity="O(N) where N is the number of keys that will be removed.")
def del_(c: Client, argv: list[bytes]) -> Any:
    db = c.db
    removed = 0
    for key in argv[1:]:
        if db.lookup(key, touch=False) is not None and db.delete(key):
            removed += 1
            if db.events:
                notify(db, GENERIC, b"del", key)
    return removed


@command("unlink", -2, "write fast", group=G, since="4.0.0",
         tips="request_policy:multi_shard response_policy:agg_sum", acl=ACL, effects=VERBATIM,
         keys=ks("RM DELETE", 1, ("range", -1, 1, 0)),
         summary="Asynchronously deletes one or more keys.",
         complexity="O(1) for each key removed regardless of its size.")
def unlink(c: Client, argv: list[bytes]) -> Any:
    return del_(c, argv)


@command("exists", -2, "readonly fast", group=G, since="1.0.0",
         tips="request_policy:multi_shard response_policy:agg_sum", acl=ACL,
         keys=ks("RO", 1, ("range", -1, 1, 0)),
         summary="Determines whether one or more keys exist.",
         complexity="O(N) where N is the number of keys to check.")
def exists(c: Client, argv: list[bytes]) -> Any:
    db = c.db
    found = 0
    for key in argv[1:]:
        if _read(db, key) is not None:
            found += 1
    return found


@command("touch", -2, "readonly fast", group=G, since="3.2.1",
         tips="request_policy:multi_shard response_policy:agg_sum", acl=ACL,
         keys=ks("RO", 1, ("range", -1, 1, 0)),
         summary="Returns the number of existing keys out of those specified after "
                 "updating the time they were last accessed.",
         complexity="O(N) where N is the number of keys that will be touched.")
def touch(c: Client, argv: list[bytes]) -> Any:
    db = c.db
    found = 0
    for key in argv[1:]:
        if db.lookup_read(key) is not None:
            found += 1
    return found


@command("type", 2, "readonly fast", group=G, since="1.0.0", acl=ACL, keys=ks("RO"),
         summary="Determines the type of value stored at a key.", complexity="O(1)")
def type_(c: Client, argv: list[bytes]) -> Any:
    value = _read(c.db, argv[1])
    return Status("none" if value is None else type_name(value))


# -- renaming, moving, copying -------------------------------------------------


def _rename(c: Client, argv: list[bytes], nx: bool) -> Any:
    db = c.db
    src, dst = argv[1], argv[2]
    value = db.lookup(src)
    if value is None:
        raise CommandError(errors.NO_SUCH_KEY)
    if src == dst:
        return 0 if nx else OK
    when = db.get_expire(src)
    if db.lookup(dst, touch=False) is not None:
        if nx:
            return 0
        if db.events:
            # Redis deletes the old destination and adds the key anew.
            notify(db, NEW, b"new", dst)
    atime = db.atime.get(src)
    db.delete(src)
    db.set(dst, value)
    if atime is not None:
        db.atime[dst] = atime
    if when is not None:
        db.set_expire(dst, when)
    if db.events:
        notify(db, GENERIC, b"rename_from", src)
        notify(db, GENERIC, b"rename_to", dst)
    return 1 if nx else OK


@command("rename", 3, "write", group=G, since="1.0.0", acl=ACL, effects=VERBATIM,
         keys=(ks("RW ACCESS DELETE", 1), ks("OW UPDATE", 2)),
         summary="Renames a key and overwrites the destination.", complexity="O(1)")
def rename(c: Client, argv: list[bytes]) -> Any:
    return _rename(c, argv, False)


@command("renamenx", 3, "write fast", group=G, since="1.0.0", acl=ACL, effects=VERBATIM,
         keys=(ks("RW ACCESS DELETE", 1), ks("OW INSERT", 2)),
         summary="Renames a key only when the target key name doesn't exist.",
         complexity="O(1)")
def renamenx(c: Client, argv: list[bytes]) -> Any:
    return _rename(c, argv, True)


@command("move", 3, "write fast", group=G, since="1.0.0", acl=ACL, effects=VERBATIM,
         keys=ks("RW ACCESS UPDATE"),
         summary="Moves a key to another database.", complexity="O(1)")
def move(c: Client, argv: list[bytes]) -> Any:
    src = c.db
    dst = _db_by_index(c, _parse_int32(argv[2]))
    if dst is src:
        raise CommandError(_SAME_OBJECT)
    key = argv[1]
    value = src.lookup(key)
    if value is None:
        return 0
    when = src.get_expire(key)
    if dst.lookup(key, touch=False) is not None:
        return 0
    atime = src.atime.get(key)
    dst.set(key, value)
    if atime is not None:
        dst.atime[key] = atime
    if when is not None:
        dst.set_expire(key, when)
    src.delete(key)
    if src.events:
        notify(src, GENERIC, b"move_from", key)
        notify(dst, GENERIC, b"move_to", key)
    return 1


@command("copy", -3, "write denyoom", group=G, since="6.2.0", acl=ACL, effects=VERBATIM,
         keys=(ks("RO ACCESS", 1), ks("OW UPDATE", 2)),
         summary="Copies the value of a key to a new key.",
         complexity="O(N) worst case for collections, where N is the number of nested "
                    "items. O(1) for string values.")
def copy(c: Client, argv: list[bytes]) -> Any:
    src = dst = c.db
    replace = False
    i = 3
    argc = len(argv)
    while i < argc:
        opt = argv[i].lower()
        if opt == b"replace":
            replace = True
        elif opt == b"db" and i + 1 < argc:
            dst = _db_by_index(c, _parse_int32(argv[i + 1]))
            i += 1
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    key, newkey = argv[1], argv[2]
    if src is dst and key == newkey:
        raise CommandError(_SAME_OBJECT)
    value = src.lookup_read(key)
    if value is None:
        return 0
    when = src.get_expire(key)
    if dst.lookup(newkey, touch=False) is not None:
        if not replace:
            return 0
        dst.delete(newkey)
    dst.set(newkey, copy_value(value))
    if when is not None:
        dst.set_expire(newkey, when)
    if dst.events:
        notify(dst, GENERIC, b"copy_to", newkey)
    return 1


@command("swapdb", 3, "write fast", group="server", since="4.0.0", acl="keyspace dangerous",
         effects=VERBATIM, summary="Swaps two Redis databases.",
         complexity="O(N) where N is the count of clients watching or blocking on keys "
                    "from both databases.")
def swapdb(c: Client, argv: list[bytes]) -> Any:
    first = _parse_int32(argv[1], "ERR invalid first DB index")
    second = _parse_int32(argv[2], "ERR invalid second DB index")
    space = c.server.keyspace
    n = len(space.dbs)
    if first < 0 or first >= n or second < 0 or second >= n:
        raise CommandError(errors.DB_INDEX)
    if first == second:
        space.dirty += 1  # Redis counts (and so propagates) a no-op swap too
    else:
        space.swap(first, second)
    return OK


# -- whole-database commands ---------------------------------------------------


def _flush_mode(argv: list[bytes]) -> None:
    if len(argv) == 1:
        return
    if len(argv) == 2 and argv[1].lower() in (b"sync", b"async"):
        return
    raise CommandError(errors.SYNTAX)


@command("flushdb", -1, "write", group="server", since="1.0.0",
         tips="request_policy:all_shards response_policy:all_succeeded", acl="keyspace dangerous",
         effects=VERBATIM, summary="Removes all keys from the current database.",
         complexity="O(N) where N is the number of keys in the selected database")
def flushdb(c: Client, argv: list[bytes]) -> Any:
    _flush_mode(argv)
    sync_policy(c.server)
    c.db.flush()  # breaks WATCHes and counts as a change, so it is always logged
    return OK


@command("flushall", -1, "write", group="server", since="1.0.0",
         tips="request_policy:all_shards response_policy:all_succeeded", acl="keyspace dangerous",
         effects=VERBATIM, summary="Removes all keys from all databases.",
         complexity="O(N) where N is the total number of keys in all databases")
def flushall(c: Client, argv: list[bytes]) -> Any:
    _flush_mode(argv)
    sync_policy(c.server)
    c.server.keyspace.flushall()
    return OK


@command("dbsize", 1, "readonly fast", group="server", since="1.0.0",
         tips="request_policy:all_shards response_policy:agg_sum", acl=ACL,
         summary="Returns the number of keys in the database.", complexity="O(1)")
def dbsize(c: Client, argv: list[bytes]) -> Any:
    return c.db.live_count()


@command("keys", 2, "readonly", group=G, since="1.0.0",
         tips="request_policy:all_shards nondeterministic_output_order", acl="keyspace dangerous",
         summary="Returns all key names that match a pattern.",
         complexity="O(N) with N being the number of keys in the database, under the "
                    "assumption that the key names in the database and the given pattern "
                    "have limited length.")
def keys(c: Client, argv: list[bytes]) -> Any:
    db = c.db
    pattern = argv[1]
    if pattern == b"*":
        found = list(db.data)
    else:
        match = compile_glob(pattern).match
        found = [key for key in db.data if match(key) is not None]
    expires = db.expires
    if expires and not db.keyspace.replaying:
        now = db.keyspace.time_ms
        get = expires.get
        found = [key for key in found if get(key, I64_MAX) > now]
    return found


@command("scan", -2, "readonly touches_arbitrary_keys", group=G, since="2.8.0",
         tips="nondeterministic_output request_policy:special response_policy:special", acl=ACL,
         summary="Iterates over the key names in the database.",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough "
                    "command calls for the cursor to return back to 0. N is the number of "
                    "elements inside the collection.")
def scan(c: Client, argv: list[bytes]) -> Any:
    cursor = parse_cursor(argv[1])
    count = 10
    pattern: bytes | None = None
    type_filter: bytes | None = None
    i = 2
    argc = len(argv)
    while i < argc:
        opt = argv[i].lower()
        if i + 1 >= argc:
            raise CommandError(errors.SYNTAX)
        if opt == b"count":
            value = to_int(argv[i + 1])
            if value is None:
                raise CommandError(errors.NOT_INTEGER)
            if value < 1:
                raise CommandError(errors.SYNTAX)
            count = value
        elif opt == b"match":
            pattern = argv[i + 1]
            if pattern == b"*":
                pattern = None
        elif opt == b"type":
            type_filter = argv[i + 1].lower()
        else:
            raise CommandError(errors.SYNTAX)
        i += 2
    db = c.db
    if not db.data:
        return [b"0", []]
    following, found = db.get_scan_index().scan(cursor, count)
    if pattern is not None:
        match = compile_glob(pattern).match
        found = [key for key in found if match(key) is not None]
    if db.expires or type_filter is not None:
        live = []
        for key in found:
            value = db.lookup(key, touch=False)  # deletes a key whose time is up
            if value is None:
                continue
            if type_filter is not None and type_name(value).encode() != type_filter:
                continue
            live.append(key)
        found = live
    return [b"%d" % following, found]


@command("randomkey", 1, "readonly touches_arbitrary_keys", group=G, since="1.0.0",
         tips="request_policy:all_shards response_policy:special nondeterministic_output", acl=ACL,
         summary="Returns a random key name from the database.", complexity="O(1)")
def randomkey(c: Client, argv: list[bytes]) -> Any:
    db = c.db
    while db.data:
        key = db.get_scan_index().random_key()
        if key is None:
            break
        if db.lookup(key, touch=False) is not None:  # an expired pick is deleted; retry
            return key
    return None


# -- OBJECT ----------------------------------------------------------------------

container("object", group=G, since="2.2.3", summary="A container for object introspection commands.")

_SHARED_INTEGERS = 10000
_REFCOUNT_SHARED = 2147483647


def string_encoding(value: bytes | bytearray) -> str:
    if type(value) is bytearray:
        return "raw"
    n = len(value)
    if n <= 20 and to_int(value) is not None:
        return "int"
    return "embstr" if n <= 44 else "raw"


def _object_value(c: Client, key: bytes) -> Any:
    sync_policy(c.server)
    return _read(c.db, key, False)


@command("object|encoding", 3, "readonly", group=G, since="2.2.3",
         tips="nondeterministic_output", acl=ACL, keys=ks("RO", 2),
         summary="Returns the internal encoding of a Redis object.", complexity="O(1)")
def object_encoding(c: Client, argv: list[bytes]) -> Any:
    value = _object_value(c, argv[2])
    if value is None:
        return None
    t = type(value)
    if t is bytes or t is bytearray:
        return string_encoding(value).encode()
    return value.encoding(c.server.config).encode()


def _shared_integers_allowed(c: Client) -> bool:
    config = c.server.config
    policy = config["maxmemory-policy"]
    return not (config["maxmemory"] and ("lru" in policy or "lfu" in policy))


@command("object|refcount", 3, "readonly", group=G, since="2.2.3",
         tips="nondeterministic_output", acl=ACL, keys=ks("RO", 2),
         summary="Returns the reference count of a value of a key.", complexity="O(1)")
def object_refcount(c: Client, argv: list[bytes]) -> Any:
    value = _object_value(c, argv[2])
    if value is None:
        return None
    if type(value) is bytes and len(value) <= 4 and _shared_integers_allowed(c):
        number = to_int(value)
        if number is not None and 0 <= number < _SHARED_INTEGERS:
            return _REFCOUNT_SHARED
    return 1


@command("object|idletime", 3, "readonly", group=G, since="2.2.3",
         tips="nondeterministic_output", acl=ACL, keys=ks("RO", 2),
         summary="Returns the time since the last access to a Redis object.", complexity="O(1)")
def object_idletime(c: Client, argv: list[bytes]) -> Any:
    value = _object_value(c, argv[2])
    if value is None:
        return None
    space = c.server.keyspace
    if space.lfu_policy:
        raise CommandError(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that "
            "when switching between policies at runtime LRU and LFU data will take some time "
            "to adjust."
        )
    clock = space.lru_clock
    return max(0, clock - c.db.atime.get(argv[2], clock))


@command("object|freq", 3, "readonly", group=G, since="4.0.0",
         tips="nondeterministic_output", acl=ACL, keys=ks("RO", 2),
         summary="Returns the logarithmic access frequency counter of a Redis object.",
         complexity="O(1)")
def object_freq(c: Client, argv: list[bytes]) -> Any:
    value = _object_value(c, argv[2])
    if value is None:
        return None
    if not c.server.keyspace.lfu_policy:
        raise CommandError(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please "
            "note that when switching between policies at runtime LRU and LFU data will take "
            "some time to adjust."
        )
    return c.db.lfu_counter(argv[2])


_OBJECT_HELP = [
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
]


@command("object|help", 2, "loading stale", group=G, since="6.2.0", acl=ACL,
         summary="Returns helpful text about the different subcommands.", complexity="O(1)")
def object_help(c: Client, argv: list[bytes]) -> Any:
    return [Status(line) for line in _OBJECT_HELP]


# -- expiry ------------------------------------------------------------------------

_NX, _XX, _GT, _LT = 1, 2, 4, 8


def _expire_flags(argv: list[bytes]) -> int:
    flags = 0
    for arg in argv[3:]:
        opt = arg.lower()
        if opt == b"nx":
            flags |= _NX
        elif opt == b"xx":
            flags |= _XX
        elif opt == b"gt":
            flags |= _GT
        elif opt == b"lt":
            flags |= _LT
        else:
            raise CommandError(
                "ERR Unsupported option " + arg.decode("utf-8", "surrogateescape")
            )
    if flags & _NX and flags & (_XX | _GT | _LT):
        raise CommandError(
            "ERR NX and XX, GT or LT options at the same time are not compatible"
        )
    if flags & _GT and flags & _LT:
        raise CommandError("ERR GT and LT options at the same time are not compatible")
    return flags


def _expire(c: Client, argv: list[bytes], name: str, seconds: bool, relative: bool) -> Any:
    flags = _expire_flags(argv) if len(argv) > 3 else 0
    when = to_int(argv[2])
    if when is None:
        raise CommandError(errors.NOT_INTEGER)
    invalid = f"ERR invalid expire time in '{name}' command"
    if seconds:
        # C division truncates toward zero.
        if when > I64_MAX // 1000 or when < -(I64_MAX // 1000):
            raise CommandError(invalid)
        when *= 1000
    space = c.server.keyspace
    if relative:
        base = space.time_ms
        if when > I64_MAX - base:
            raise CommandError(invalid)
        when += base
    db = c.db
    key = argv[1]
    if db.lookup(key) is None:
        return 0
    if flags:
        current = db.get_expire(key)
        if flags & _NX and current is not None:
            return 0
        if flags & _XX and current is None:
            return 0
        if flags & _GT and (current is None or when <= current):
            return 0
        if flags & _LT and current is not None and when >= current:
            return 0
    if when <= space.time_ms and not space.replaying:
        db.delete(key)
        db.propagate([b"DEL", key])
        if db.events:
            notify(db, GENERIC, b"del", key)
        return 1
    db.set_expire(key, when)
    db.signal_modified(key)
    db.propagate([b"PEXPIREAT", key, b"%d" % when])
    if db.events:
        notify(db, GENERIC, b"expire", key)
    return 1


_EXPIRE_KEYS = ks("RW UPDATE")


@command("expire", -3, "write fast", group=G, since="1.0.0", acl=ACL, effects=CUSTOM,
         keys=_EXPIRE_KEYS, summary="Sets the expiration time of a key in seconds.",
         complexity="O(1)")
def expire(c: Client, argv: list[bytes]) -> Any:
    return _expire(c, argv, "expire", True, True)


@command("pexpire", -3, "write fast", group=G, since="2.6.0", acl=ACL, effects=CUSTOM,
         keys=_EXPIRE_KEYS, summary="Sets the expiration time of a key in milliseconds.",
         complexity="O(1)")
def pexpire(c: Client, argv: list[bytes]) -> Any:
    return _expire(c, argv, "pexpire", False, True)


@command("expireat", -3, "write fast", group=G, since="1.2.0", acl=ACL, effects=CUSTOM,
         keys=_EXPIRE_KEYS, summary="Sets the expiration time of a key to a Unix timestamp.",
         complexity="O(1)")
def expireat(c: Client, argv: list[bytes]) -> Any:
    return _expire(c, argv, "expireat", True, False)


@command("pexpireat", -3, "write fast", group=G, since="2.6.0", acl=ACL, effects=CUSTOM,
         keys=_EXPIRE_KEYS,
         summary="Sets the expiration time of a key to a Unix milliseconds timestamp.",
         complexity="O(1)")
def pexpireat(c: Client, argv: list[bytes]) -> Any:
    return _expire(c, argv, "pexpireat", False, False)


def _ttl(c: Client, key: bytes, ms: bool, absolute: bool) -> int:
    db = c.db
    if _read(db, key) is None:
        return -2
    when = db.get_expire(key)
    if when is None:
        return -1
    if not absolute:
        when -= c.server.keyspace.time_ms
        if when < 0:
            when = 0
    # Seconds are rounded to the nearest, for EXPIRETIME as well as TTL.
    return when if ms else (when + 500) // 1000


_TTL_KEYS = ks("RO ACCESS")


@command("ttl", 2, "readonly fast", group=G, since="1.0.0",
         tips="nondeterministic_output", acl=ACL, keys=_TTL_KEYS,
         summary="Returns the expiration time in seconds of a key.", complexity="O(1)")
def ttl(c: Client, argv: list[bytes]) -> Any:
    return _ttl(c, argv[1], False, False)


@command("pttl", 2, "readonly fast", group=G, since="2.6.0",
         tips="nondeterministic_output", acl=ACL, keys=_TTL_KEYS,
         summary="Returns the expiration time in milliseconds of a key.", complexity="O(1)")
def pttl(c: Client, argv: list[bytes]) -> Any:
    return _ttl(c, argv[1], True, False)


@command("expiretime", 2, "readonly fast", group=G, since="7.0.0", acl=ACL, keys=_TTL_KEYS,
         summary="Returns the expiration time of a key as a Unix timestamp.",
         complexity="O(1)")
def expiretime(c: Client, argv: list[bytes]) -> Any:
    return _ttl(c, argv[1], False, True)


@command("pexpiretime", 2, "readonly fast", group=G, since="7.0.0", acl=ACL, keys=_TTL_KEYS,
         summary="Returns the expiration time of a key as a Unix milliseconds timestamp.",
         complexity="O(1)")
def pexpiretime(c: Client, argv: list[bytes]) -> Any:
    return _ttl(c, argv[1], True, True)


@command("persist", 2, "write fast", group=G, since="2.2.0", acl=ACL, effects=VERBATIM,
         keys=ks("RW UPDATE"), summary="Removes the expiration time of a key.",
         complexity="O(1)")
def persist(c: Client, argv: list[bytes]) -> Any:
    db = c.db
    key = argv[1]
    if db.lookup(key) is None:
        return 0
    if not db.persist(key):
        return 0
    db.signal_modified(key)
    if db.events:
        notify(db, GENERIC, b"persist", key)
    return 1
