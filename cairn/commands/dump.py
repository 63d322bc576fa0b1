"""DUMP and RESTORE: a key's value in Redis' RDB serialization (cairn.types.rdb).

Payloads are portable both ways: one dumped by redis-server 7.0 or 7.2 restores
here, and ours (RDB version 10, Redis 7.0's) restore on either. This is also
the format keys travel in between shards.

RESTORE's effect is deterministic: a relative TTL is logged as the absolute
time it came to, with ABSTTL added (what Redis propagates); IDLETIME and FREQ
stay in the logged command (they only set LRU/LFU metadata).
"""

from __future__ import annotations

from typing import Any

from cairn.commands import errors
from cairn.commands.args import I64_MAX, to_int
from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.keys import sync_policy
from cairn.commands.registry import CUSTOM, command, ks
from cairn.keyspace.database import lfu_minutes
from cairn.keyspace.notify import GENERIC, notify
from cairn.protocol import OK
from cairn.types import rdb

BUSYKEY = "BUSYKEY Target key name already exists."
BAD_PAYLOAD = "ERR DUMP payload version or checksum are wrong"
BAD_FORMAT = "ERR Bad data format"
BAD_TTL = "ERR Invalid TTL value, must be >= 0"
BAD_IDLETIME = "ERR Invalid IDLETIME value, must be >= 0"
BAD_FREQ = "ERR Invalid FREQ value, must be >= 0 and <= 255"


@command("dump", 2, "readonly", group="generic", since="2.6.0", tips="nondeterministic_output",
         acl="keyspace", keys=ks("RO ACCESS"),
         summary="Returns the value of a key in Redis' serialized (RDB) form.",
         complexity="O(1) to access the key and additional O(N*M) to serialize it, where N "
                    "is the number of Redis objects composing the value and M their average "
                    "size. For small string values the time complexity is thus O(1)+O(1*M) "
                    "where M is small, so simply O(1).")
def dump(c: Client, argv: list[bytes]) -> Any:
    value = c.db.lookup_read(argv[1])
    if value is None:
        return None
    return rdb.dump(value, c.server.config)


def _parse_int(arg: bytes) -> int:
    value = to_int(arg)
    if value is None:
        raise CommandError(errors.NOT_INTEGER)
    return value


@command("restore", -4, "write denyoom", group="generic", since="2.6.0",
         acl="keyspace dangerous", keys=ks("OW UPDATE"), effects=CUSTOM,
         history=(("3.0.0", "Added the `REPLACE` modifier."),
                  ("5.0.0", "Added the `ABSTTL` modifier."),
                  ("5.0.0", "Added the `IDLETIME` and `FREQ` options.")),
         summary="Creates a key from a value serialized by DUMP.",
         complexity="O(1) to create the new key and additional O(N*M) to reconstruct the "
                    "serialized value, where N is the number of Redis objects composing the "
                    "value and M their average size. For small string values the time "
                    "complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However "
                    "for sorted set values the complexity is O(N*M*log(N)) because inserting "
                    "values into sorted sets is O(log(N)).")
def restore(c: Client, argv: list[bytes]) -> Any:
    replace = absttl = False
    idle = freq = -1
    argc = len(argv)
    j = 4
    while j < argc:
        opt = argv[j].lower()
        more = j + 1 < argc
        if opt == b"replace":
            replace = True
        elif opt == b"absttl":
            absttl = True
        elif opt == b"idletime" and more and freq < 0:
            idle = _parse_int(argv[j + 1])
            if idle < 0:
                raise CommandError(BAD_IDLETIME)
            j += 1
        elif opt == b"freq" and more and idle < 0:
            freq = _parse_int(argv[j + 1])
            if freq < 0 or freq > 255:
                raise CommandError(BAD_FREQ)
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    db = c.db
    key = argv[1]
    exists = db.lookup(key, touch=False) is not None
    if exists and not replace:
        raise CommandError(BUSYKEY)
    ttl = _parse_int(argv[2])
    if ttl < 0:
        raise CommandError(BAD_TTL)
    payload = bytes(argv[3])
    if not rdb.verify(payload):
        raise CommandError(BAD_PAYLOAD)
    config = c.server.config
    try:
        value = rdb.load(payload, config)
    except rdb.RdbError:
        raise CommandError(BAD_FORMAT) from None
    space = c.server.keyspace
    deleted = exists and db.delete(key)
    when = ttl
    if ttl and not absttl:
        when = ttl + space.time_ms
    # Redis' sum wraps past int64 into the past: such a key is expired at once.
    if when and (when > I64_MAX or when <= space.time_ms) and not space.replaying:
        if deleted:
            db.propagate([b"DEL", key])
            if db.events:
                notify(db, GENERIC, b"del", key)
        return OK
    db.set(key, value)
    if when:
        db.set_expire(key, when)
    if ttl and not absttl:
        effect = list(argv)
        effect[2] = b"%d" % when
        effect.append(b"ABSTTL")
        db.propagate(effect)
    else:
        db.propagate(argv)
    if idle >= 0 or freq >= 0:
        sync_policy(c.server)
        if space.lfu_policy:
            if freq >= 0:
                db.atime[key] = (lfu_minutes() << 8) | freq
        elif idle >= 0:
            db.atime[key] = max(0, space.lru_clock - idle)
    if db.events:
        notify(db, GENERIC, b"restore", key)
    return OK
