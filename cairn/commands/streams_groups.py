"""Stream consumer groups: XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO GROUPS|CONSUMERS.

Effects: a claim (or a delivery by XREADGROUP) is logged the way Redis
propagates it, ``XCLAIM key group consumer 0 id TIME <ms> RETRYCOUNT <n> FORCE
JUSTID LASTID <id>``, followed by a ``CTIME <ms>`` pair carrying the command's
time: a replay sets the consumer's seen-time / active-time from it, so the
replayed group is identical, times included. ``CTIME`` is only accepted while
replaying the log (clients get Redis' error for an unknown option). A group's
last ID moved by a delivery is logged as ``XGROUP SETID key group id
ENTRIESREAD n``.
"""

from __future__ import annotations

from typing import Any

from cairn.commands import errors
from cairn.commands.args import parse_int, to_int
from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.registry import CUSTOM, VERBATIM, command, container, ks
from cairn.commands.streams import (
    entries_reply,
    id_reply,
    parse_id,
    parse_interval,
    read_stream,
    write_stream,
)
from cairn.keyspace.notify import STREAM, notify
from cairn.protocol import NULL_ARRAY, OK, MapReply, Status
from cairn.types.stream import INVALID_READ, MAX_ID, Consumer, Group, Nack, Stream

G = "stream"
ACL = "stream"

NEED_KEY = ("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may "
            "want to use the MKSTREAM option to create an empty stream automatically.")


def _text(value: bytes) -> str:
    nul = value.find(b"\0")
    if nul >= 0:
        value = value[:nul]
    return value.decode("utf-8", "surrogateescape")


def nogroup(key: bytes, group: bytes, suffix: str = "") -> CommandError:
    return CommandError(f"NOGROUP No such key '{_text(key)}' or consumer group "
                        f"'{_text(group)}'{suffix}")


def subcommand_syntax(argv: list[bytes]) -> CommandError:
    return CommandError(f"ERR unknown subcommand or wrong number of arguments for "
                        f"'{_text(argv[1])[:128]}'. Try {argv[0].decode(errors='replace').upper()} HELP.")


def claim_effect(key: bytes, gname: bytes, group: Group, entry_id: int, nack: Nack,
                 now: int) -> list[bytes]:
    return [b"XCLAIM", key, gname, nack.consumer.name, b"0", id_reply(entry_id),
            b"TIME", b"%d" % nack.time, b"RETRYCOUNT", b"%d" % nack.count, b"FORCE", b"JUSTID",
            b"LASTID", id_reply(group.last_id), b"CTIME", b"%d" % now]


def setid_effect(key: bytes, gname: bytes, group: Group) -> list[bytes]:
    return [b"XGROUP", b"SETID", key, gname, id_reply(group.last_id), b"ENTRIESREAD",
            b"%d" % group.entries_read]


def create_consumer(c: Client, key: bytes, gname: bytes, group: Group, name: bytes,
                    now: int, log: bool = True) -> Consumer:
    """The consumer called name, created if missing. A creation is logged as
    ``XCLAIM key group consumer 0 0-0 CTIME <ms>`` (claims nothing; its replay creates
    the consumer with the same seen-time)."""
    consumer, created = group.consumer(name, now)
    if created:
        db = c.db
        db.signal_modified(key)
        if db.events:
            notify(db, STREAM, b"xgroup-createconsumer", key)
        if log:
            db.propagate([b"XCLAIM", key, gname, name, b"0", b"0-0", b"CTIME", b"%d" % now])
    return consumer


# -- XGROUP --------------------------------------------------------------------------

container("xgroup", group=G, since="5.0.0", summary="A container for consumer groups commands.")

_XGROUP_HELP = [Status(line) for line in (
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
)]


@command("xgroup|help", 2, "loading stale", group=G, since="5.0.0", acl=ACL,
         summary="Returns helpful text about the different subcommands.", complexity="O(1)")
def xgroup_help(c: Client, argv: list[bytes]) -> Any:
    return _XGROUP_HELP


def _entries_read(arg: bytes) -> int:
    value = parse_int(arg)
    if value < 0 and value != INVALID_READ:
        raise CommandError("ERR value for ENTRIESREAD must be positive or -1")
    return value


def _group_of(c: Client, argv: list[bytes], must_exist: bool) -> tuple[Stream, Group | None]:
    s = write_stream(c, argv[2])
    if s is None:
        raise CommandError(NEED_KEY)
    group = (s.groups or {}).get(argv[3])
    if group is None and must_exist:
        raise CommandError(f"NOGROUP No such consumer group '{_text(argv[3])}' for key name "
                           f"'{_text(argv[2])}'")
    return s, group


@command("xgroup|create", -5, "write denyoom", group=G, since="5.0.0", keys=ks("RW INSERT", 2),
         acl=ACL, effects=VERBATIM,
         history=(("7.0.0", "Added the `entries_read` named argument."),),
         summary="Creates a consumer group.", complexity="O(1)")
def xgroup_create(c: Client, argv: list[bytes]) -> Any:
    argc = len(argv)
    if argc > 8:
        raise subcommand_syntax(argv)
    mkstream = False
    entries_read = INVALID_READ
    i = 5
    while i < argc:
        opt = argv[i].lower()
        if opt == b"mkstream":
            mkstream = True
            i += 1
        elif opt == b"entriesread" and i + 1 < argc:
            entries_read = _entries_read(argv[i + 1])
            i += 2
        else:
            raise subcommand_syntax(argv)
    key = argv[2]
    s = write_stream(c, key)
    if s is None and not mkstream:
        raise CommandError(NEED_KEY)
    if argv[4] == b"$":
        start = s.last_id if s is not None else 0
    else:
        start = parse_id(argv[4])
    if s is None:
        s = Stream()
        c.db.set(key, s)
    groups = s.groups
    if groups is None:
        groups = s.groups = {}
    if argv[3] in groups:
        raise CommandError("BUSYGROUP Consumer Group name already exists")
    groups[argv[3]] = Group(start, entries_read)
    db = c.db
    db.signal_modified(key)
    if db.events:
        notify(db, STREAM, b"xgroup-create", key)
    return OK


@command("xgroup|setid", -5, "write", group=G, since="5.0.0", keys=ks("RW UPDATE", 2), acl=ACL,
         effects=VERBATIM,
         history=(("7.0.0", "Added the optional `entries_read` argument."),),
         summary="Sets the last-delivered ID of a consumer group.", complexity="O(1)")
def xgroup_setid(c: Client, argv: list[bytes]) -> Any:
    argc = len(argv)
    if argc not in (5, 7):
        raise subcommand_syntax(argv)
    s, group = _group_of(c, argv, True)
    assert group is not None
    new_id = s.last_id if argv[4] == b"$" else parse_id(argv[4], strict=False)
    entries_read = INVALID_READ
    if argc == 7:
        if argv[5].lower() != b"entriesread":
            raise subcommand_syntax(argv)
        entries_read = _entries_read(argv[6])
    group.last_id = new_id
    group.entries_read = entries_read
    db = c.db
    db.signal_modified(argv[2])
    if db.events:
        notify(db, STREAM, b"xgroup-setid", argv[2])
    return OK


@command("xgroup|destroy", 4, "write", group=G, since="5.0.0", keys=ks("RW DELETE", 2), acl=ACL,
         effects=VERBATIM, summary="Destroys a consumer group.",
         complexity="O(N) where N is the number of entries in the group's pending entries list "
         "(PEL).")
def xgroup_destroy(c: Client, argv: list[bytes]) -> Any:
    s, group = _group_of(c, argv, False)
    if group is None:
        return 0
    del s.groups[argv[3]]  # type: ignore[union-attr]
    db = c.db
    db.signal_modified(argv[2])  # also wakes XREADGROUP clients (they get NOGROUP)
    if db.events:
        notify(db, STREAM, b"xgroup-destroy", argv[2])
    return 1


@command("xgroup|createconsumer", 5, "write denyoom", group=G, since="6.2.0",
         keys=ks("RW INSERT", 2), acl=ACL, effects=CUSTOM,
         summary="Creates a consumer in a consumer group.", complexity="O(1)")
def xgroup_createconsumer(c: Client, argv: list[bytes]) -> Any:
    _s, group = _group_of(c, argv, True)
    assert group is not None
    if argv[4] in group.consumers:
        return 0
    create_consumer(c, argv[2], argv[3], group, argv[4], c.server.keyspace.time_ms)
    c.db.signal_modified(argv[2])
    return 1


@command("xgroup|delconsumer", 5, "write", group=G, since="5.0.0", keys=ks("RW DELETE", 2),
         acl=ACL, effects=VERBATIM, summary="Deletes a consumer from a consumer group.",
         complexity="O(1)")
def xgroup_delconsumer(c: Client, argv: list[bytes]) -> Any:
    _s, group = _group_of(c, argv, True)
    assert group is not None
    if argv[4] not in group.consumers:
        return 0
    pending = group.delete_consumer(argv[4])
    db = c.db
    db.signal_modified(argv[2])
    if db.events:
        notify(db, STREAM, b"xgroup-delconsumer", argv[2])
    return pending


# -- XACK / XPENDING -------------------------------------------------------------------

@command("xack", -4, "write fast", group=G, since="5.0.0", keys=ks("RW UPDATE"), acl=ACL,
         effects=VERBATIM,
         summary="Acknowledges entries of a consumer group's pending list and returns how many "
         "were acknowledged.", complexity="O(1) for each message ID processed.")
def xack(c: Client, argv: list[bytes]) -> Any:
    s = write_stream(c, argv[1])
    group = (s.groups or {}).get(argv[2]) if s is not None else None
    if group is None:
        return 0
    ids = [parse_id(arg) for arg in argv[3:]]
    acked = 0
    for entry_id in ids:
        if group.ack(entry_id):
            acked += 1
    if acked:
        c.db.signal_modified(argv[1])
    return acked


def _parse_range(argv: list[bytes], at: int) -> tuple[int, int]:
    start, start_ex = parse_interval(argv[at], 0)
    if start_ex:
        if start == MAX_ID:
            raise CommandError("ERR invalid start ID for the interval")
        start += 1
    end, end_ex = parse_interval(argv[at + 1], (1 << 64) - 1)
    if end_ex:
        if end == 0:
            raise CommandError("ERR invalid end ID for the interval")
        end -= 1
    return start, end


@command("xpending", -3, "readonly", group=G, since="5.0.0", keys=ks("RO ACCESS"), acl=ACL,
         tips="nondeterministic_output",
         history=(("6.2.0", "Added the `IDLE` option and exclusive range intervals."),),
         summary="Returns the entries of a consumer group's pending entries list.",
         complexity="O(N) with N being the number of elements returned, so asking for a small "
         "fixed number of entries per call is O(1). O(M), where M is the total number of "
         "entries scanned when used with the IDLE filter. When the command returns just the "
         "summary and the list of consumers is small, it runs in O(1) time; otherwise, an "
         "additional O(N) time for iterating every consumer.")
def xpending(c: Client, argv: list[bytes]) -> Any:
    argc = len(argv)
    if argc != 3 and (argc < 6 or argc > 9):
        raise CommandError(errors.SYNTAX)
    minidle = 0
    count = 0
    start = end = 0
    consumer_name = None
    if argc >= 6:
        at = 3
        if argv[3].lower() == b"idle":
            minidle = parse_int(argv[4])
            if argc < 8:
                raise CommandError(errors.SYNTAX)
            at = 5
        count = max(parse_int(argv[at + 2]), 0)
        start, end = _parse_range(argv, at)
        if at + 3 < argc:
            consumer_name = argv[at + 3]
    s = read_stream(c, argv[1])
    group = (s.groups or {}).get(argv[2]) if s is not None else None
    if group is None:
        raise nogroup(argv[1], argv[2])
    pel = group.pel
    if argc == 3:
        if not pel:
            return [0, None, None, NULL_ARRAY]
        owners = [[name, b"%d" % len(cons.pel)]
                  for name, cons in sorted(group.consumers.items()) if cons.pel]
        return [len(pel), id_reply(pel.keys()[0]), id_reply(pel.keys()[-1]), owners]
    if consumer_name is not None:
        consumer = group.consumers.get(consumer_name)
        if consumer is None:
            return []
        pel = consumer.pel
    now = c.server.keyspace.time_ms
    out = []
    if count:
        for entry_id in pel.irange(start, end):
            nack = pel[entry_id]
            if minidle and now - nack.time < minidle:
                continue
            out.append([id_reply(entry_id), nack.consumer.name, max(now - nack.time, 0),
                        nack.count])
            if len(out) >= count:
                break
    return out


# -- XCLAIM / XAUTOCLAIM ------------------------------------------------------------------

def _claim(c: Client, s: Stream, group: Group, entry_id: int, nack: Nack, consumer: Consumer,
           time: int, count: int | None) -> None:
    if nack.consumer is not consumer:
        if entry_id in nack.consumer.pel:
            del nack.consumer.pel[entry_id]
        consumer.pel[entry_id] = nack
        nack.consumer = consumer
    nack.time = time
    if count is not None:
        nack.count = count


def _drop_nack(c: Client, key: bytes, gname: bytes, group: Group, entry_id: int, nack: Nack,
               now: int) -> None:
    """A pending entry whose stream entry is gone: removed, and logged as the XCLAIM that
    removes it on replay too."""
    c.db.propagate(claim_effect(key, gname, group, entry_id, nack, now))
    group.ack(entry_id)


def _entry_or_null(s: Stream, entry_id: int) -> Any:
    fields = s.entries.get(entry_id)
    return None if fields is None else [id_reply(entry_id), fields]


@command("xclaim", -6, "write fast", group=G, since="5.0.0", keys=ks("RW UPDATE"), acl=ACL,
         effects=CUSTOM, tips="nondeterministic_output",
         summary="Changes, or acquires, ownership of a pending entry of a consumer group.",
         complexity="O(log N) with N being the number of messages in the PEL of the consumer "
         "group.")
def xclaim(c: Client, argv: list[bytes]) -> Any:
    key, gname, name = argv[1], argv[2], argv[3]
    s = write_stream(c, key)
    group = (s.groups or {}).get(gname) if s is not None else None
    if s is None or group is None:
        raise nogroup(key, gname)
    minidle = parse_int(argv[4], "ERR Invalid min-idle-time argument for XCLAIM")
    minidle = max(minidle, 0)
    argc = len(argv)
    ids = []
    j = 5
    while j < argc:
        try:
            ids.append(parse_id(argv[j]))
        except CommandError:
            break
        j += 1
    keyspace = c.server.keyspace
    now = keyspace.time_ms
    force = justid = False
    retrycount: int | None = None
    delivery = -1
    last_id = 0
    while j < argc:
        more = argc - 1 - j
        opt = argv[j].lower()
        if opt == b"force":
            force = True
        elif opt == b"justid":
            justid = True
        elif opt == b"idle" and more:
            j += 1
            delivery = now - parse_int(argv[j], "ERR Invalid IDLE option argument for XCLAIM")
        elif opt == b"time" and more:
            j += 1
            delivery = parse_int(argv[j], "ERR Invalid TIME option argument for XCLAIM")
        elif opt == b"retrycount" and more:
            j += 1
            retrycount = parse_int(argv[j], "ERR Invalid RETRYCOUNT option argument for XCLAIM")
            if retrycount < 0:
                retrycount = None
        elif opt == b"lastid" and more:
            j += 1
            last_id = parse_id(argv[j])
        elif argv[j] == b"CTIME" and more and keyspace.replaying:
            j += 1  # the time of the logged command (see the module doc)
            now = parse_int(argv[j])
        else:
            raise CommandError(f"ERR Unrecognized XCLAIM option '{_text(argv[j])}'")
        j += 1
    consumer: Consumer | None = None
    if keyspace.replaying and argv[-2] == b"CTIME":
        consumer = create_consumer(c, key, gname, group, name, now, False)
    moved = False
    if last_id > group.last_id:
        group.last_id = last_id
        moved = True
    if delivery < 0 or delivery > now:
        delivery = now
    out: list[Any] = []
    changed = False
    pel = group.pel
    for entry_id in ids:
        nack = pel.get(entry_id)
        if entry_id not in s.entries:
            if nack is not None:
                _drop_nack(c, key, gname, group, entry_id, nack, now)
                changed = True
                moved = False
            continue
        created = False
        if nack is None:
            if not force:
                continue
            created = True
        elif minidle and now - nack.time < minidle:
            continue
        if consumer is None:
            consumer = create_consumer(c, key, gname, group, name, now, False)
        consumer.seen_time = now
        if created:
            nack = pel[entry_id] = Nack(consumer, now, 1)
            consumer.pel[entry_id] = nack
        assert nack is not None
        if retrycount is not None:
            count: int | None = retrycount
        elif not justid:
            count = nack.count + 1
        else:
            count = None
        _claim(c, s, group, entry_id, nack, consumer, delivery, count)
        consumer.active_time = now
        out.append(id_reply(entry_id) if justid else _entry_or_null(s, entry_id))
        c.db.propagate(claim_effect(key, gname, group, entry_id, nack, now))
        changed = True
        moved = False
    if moved:
        c.db.propagate(setid_effect(key, gname, group))
        changed = True
    if changed:
        c.db.signal_modified(key)
    return out


@command("xautoclaim", -6, "write fast", group=G, since="6.2.0", keys=ks("RW DELETE"), acl=ACL,
         effects=CUSTOM, tips="nondeterministic_output",
         history=(("7.0.0", "Added an element to the reply array, containing deleted entries "
                   "the command cleared from the PEL"),),
         summary="Changes, or acquires, ownership of the pending entries of a consumer group "
         "that have been idle long enough.", complexity="O(1) if COUNT is small.")
def xautoclaim(c: Client, argv: list[bytes]) -> Any:
    key, gname, name = argv[1], argv[2], argv[3]
    minidle = max(parse_int(argv[4], "ERR Invalid min-idle-time argument for XAUTOCLAIM"), 0)
    start, start_ex = parse_interval(argv[5], 0)
    if start_ex:
        if start == MAX_ID:
            raise CommandError("ERR invalid start ID for the interval")
        start += 1
    count = 100
    justid = False
    argc = len(argv)
    j = 6
    while j < argc:
        opt = argv[j].lower()
        if opt == b"count" and j + 1 < argc:
            value = to_int(argv[j + 1])
            if value is None or value < 1 or value > (2**63 - 1) // 16:
                raise CommandError("ERR COUNT must be > 0")
            count = value
            j += 1
        elif opt == b"justid":
            justid = True
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    s = write_stream(c, key)
    group = (s.groups or {}).get(gname) if s is not None else None
    if s is None or group is None:
        raise nogroup(key, gname)
    now = c.server.keyspace.time_ms
    attempts = count * 10
    pel = group.pel
    candidates = list(pel.irange(start, None))
    consumer: Consumer | None = None
    claimed: list[Any] = []
    deleted: list[bytes] = []
    i = 0
    n = len(candidates)
    while attempts and count and i < n:
        attempts -= 1
        entry_id = candidates[i]
        i += 1
        nack = pel[entry_id]
        if entry_id not in s.entries:
            _drop_nack(c, key, gname, group, entry_id, nack, now)
            deleted.append(id_reply(entry_id))
            count -= 1
            continue
        if minidle and now - nack.time < minidle:
            continue
        if consumer is None:
            consumer = create_consumer(c, key, gname, group, name, now, False)
            consumer.seen_time = now
        _claim(c, s, group, entry_id, nack, consumer, now, None if justid else nack.count + 1)
        consumer.active_time = now
        claimed.append(id_reply(entry_id) if justid else _entry_or_null(s, entry_id))
        count -= 1
        c.db.propagate(claim_effect(key, gname, group, entry_id, nack, now))
    cursor = id_reply(candidates[i]) if i < n else b"0-0"
    if claimed or deleted:
        c.db.signal_modified(key)
    return [cursor, claimed, deleted]


# -- XINFO GROUPS / CONSUMERS ----------------------------------------------------------------

@command("xinfo|groups", 3, "readonly", group=G, since="5.0.0", keys=ks("RO ACCESS", 2),
         acl=ACL, history=(("7.0.0", "Added the `entries-read` and `lag` fields"),),
         summary="Returns a list of the consumer groups of a stream.", complexity="O(1)")
def xinfo_groups(c: Client, argv: list[bytes]) -> Any:
    s = read_stream(c, argv[2])
    if s is None:
        raise CommandError(errors.NO_SUCH_KEY)
    out = []
    for name, group in sorted((s.groups or {}).items()):
        read = group.entries_read
        out.append(MapReply([
            (b"name", name), (b"consumers", len(group.consumers)), (b"pending", len(group.pel)),
            (b"last-delivered-id", id_reply(group.last_id)),
            (b"entries-read", None if read < 0 else read), (b"lag", s.lag(group)),
        ]))
    return out


@command("xinfo|consumers", 4, "readonly", group=G, since="5.0.0", keys=ks("RO ACCESS", 2),
         acl=ACL, tips="nondeterministic_output",
         history=(("7.2.0", "Added the `inactive` field."),),
         summary="Returns a list of the consumers in a consumer group.", complexity="O(1)")
def xinfo_consumers(c: Client, argv: list[bytes]) -> Any:
    s = read_stream(c, argv[2])
    if s is None:
        raise CommandError(errors.NO_SUCH_KEY)
    group = (s.groups or {}).get(argv[3])
    if group is None:
        raise CommandError(f"NOGROUP No such consumer group '{_text(argv[3])}' for key name "
                           f"'{_text(argv[2])}'")
    now = c.server.keyspace.time_ms
    out = []
    for name, consumer in sorted(group.consumers.items()):
        active = consumer.active_time
        out.append(MapReply([
            (b"name", name), (b"pending", len(consumer.pel)),
            (b"idle", max(now - consumer.seen_time, 0)),
            (b"inactive", -1 if active == -1 else max(now - active, 0)),
        ]))
    return out


__all__ = ["claim_effect", "create_consumer", "entries_reply", "nogroup", "setid_effect"]
