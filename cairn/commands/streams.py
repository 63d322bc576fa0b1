"""Streams: XADD XRANGE XREVRANGE XLEN XDEL XTRIM XSETID XINFO STREAM.

The data structure is cairn/types/stream.py. Effects follow Redis' propagation:
XADD is logged with the ID it generated, and an approximate trim (``~``) is
logged as the exact trim with the boundary it reached (``MAXLEN = <length>``,
``MINID = <first id>``), so a replay removes the same entries.
"""

from __future__ import annotations

from typing import Any

from cairn.commands import errors
from cairn.commands.args import parse_int, to_int
from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.registry import CUSTOM, VERBATIM, command, container, ks
from cairn.keyspace.notify import STREAM, notify
from cairn.protocol import NULL_ARRAY, OK, MapReply, Status
from cairn.types.stream import MAX_ID, SEQ_MASK, Stream

G = "stream"
ACL = "stream"

INVALID_ID = "ERR Invalid stream ID specified as stream command argument"
TOP_ITEM = "ERR The ID specified in XADD is equal or smaller than the target stream top item"


# -- IDs ------------------------------------------------------------------------

def _ull(s: bytes) -> int | None:
    """Redis' string2ull: string2ll (negatives refused), else strtoull."""
    if s.isdigit():
        v = int(s)
        return v if v <= SEQ_MASK else None
    if not s:
        return None
    if to_int(s) is not None:
        return None  # a canonical negative number
    t = s.lstrip(b" \t\n\v\f\r")
    neg = False
    if t[:1] in (b"+", b"-"):
        neg = t[:1] == b"-"
        t = t[1:]
    if not t.isdigit():
        return None
    v = int(t)
    if v > SEQ_MASK:
        return None
    return (-v) & SEQ_MASK if neg else v


def parse_id(arg: bytes, missing_seq: int = 0, strict: bool = True) -> int:
    """An ID argument (``ms`` or ``ms-seq``; ``-``/``+`` unless strict)."""
    if len(arg) > 127:
        raise CommandError(INVALID_ID)
    nul = arg.find(b"\0")
    if nul >= 0:
        arg = arg[:nul]
    if arg == b"-" or arg == b"+":
        if strict:
            raise CommandError(INVALID_ID)
        return 0 if arg == b"-" else MAX_ID
    ms_text, dash, seq_text = arg.partition(b"-")
    ms = _ull(ms_text)
    if ms is None:
        raise CommandError(INVALID_ID)
    if not dash:
        return ms << 64 | missing_seq
    seq = _ull(seq_text)
    if seq is None:
        raise CommandError(INVALID_ID)
    return ms << 64 | seq


def parse_xadd_id(arg: bytes) -> tuple[int, bool]:
    """XADD's explicit ID: (id, seq given); ``ms-*`` leaves the sequence to pick."""
    if arg.endswith(b"-*") and len(arg) <= 127 and arg.find(b"-") == len(arg) - 2 \
            and b"\0" not in arg:
        ms = _ull(arg[:-2])
        if ms is None:
            raise CommandError(INVALID_ID)
        return ms << 64, False
    return parse_id(arg), True


def parse_interval(arg: bytes, missing_seq: int) -> tuple[int, bool]:
    """A range bound: an ID, ``-``/``+``, or ``(ID`` (exclusive)."""
    if len(arg) > 1 and arg[0] == 40:  # "("
        return parse_id(arg[1:], missing_seq), True
    return parse_id(arg, missing_seq, strict=False), False


def id_reply(value: int) -> bytes:
    return b"%d-%d" % (value >> 64, value & SEQ_MASK)


def entries_reply(s: Stream, ids: list[int]) -> list[Any]:
    entries = s.entries
    return [[b"%d-%d" % (i >> 64, i & SEQ_MASK), entries[i]] for i in ids]


def read_stream(c: Client, key: bytes) -> Stream | None:
    value = c.db.lookup_read(key)
    if value is None or type(value) is Stream:
        return value
    raise CommandError(errors.WRONGTYPE)


def write_stream(c: Client, key: bytes) -> Stream | None:
    value = c.db.lookup(key)
    if value is None or type(value) is Stream:
        return value
    raise CommandError(errors.WRONGTYPE)


def next_id(c: Client, s: Stream) -> int:
    """streamNextID: the command's ms time, or last ID + 1 when the clock is behind."""
    now = c.server.keyspace.time_ms
    last = s.last_id
    if now > last >> 64:
        return now << 64
    return last + 1  # seq overflow carries into ms, as streamIncrID does


# -- trimming arguments -------------------------------------------------------------

class TrimArgs:
    __slots__ = ("approx", "arg_at", "id_at", "limit", "maxlen", "minid", "nomkstream")

    def __init__(self) -> None:
        self.maxlen: int | None = None
        self.minid: int | None = None
        self.approx = False
        self.limit = 0
        self.arg_at = 0  # index of the MAXLEN/MINID threshold in argv
        self.nomkstream = False
        self.id_at = 0


def parse_trim(c: Client, argv: list[bytes], xadd: bool) -> TrimArgs:
    """streamParseAddOrTrimArgsOrReply: options up to the ID (XADD) or the end (XTRIM)."""
    args = TrimArgs()
    argc = len(argv)
    i = 2
    limit_given = False
    strategy = False
    while i < argc:
        more = argc - 1 - i
        opt = argv[i]
        low = opt.lower()
        if xadd and opt == b"*":
            break
        if low == b"maxlen" and more:
            if strategy:
                raise CommandError("ERR syntax error, MAXLEN and MINID options at the same time "
                                   "are not compatible")
            args.approx = False
            nxt = argv[i + 1]
            if more >= 2 and nxt in (b"~", b"="):
                args.approx = nxt == b"~"
                i += 1
            value = parse_int(argv[i + 1])
            if value < 0:
                raise CommandError("ERR The MAXLEN argument must be >= 0.")
            args.maxlen = value
            i += 1
            strategy = True
            args.arg_at = i
        elif low == b"minid" and more:
            if strategy:
                raise CommandError("ERR syntax error, MAXLEN and MINID options at the same time "
                                   "are not compatible")
            args.approx = False
            nxt = argv[i + 1]
            if more >= 2 and nxt in (b"~", b"="):
                args.approx = nxt == b"~"
                i += 1
            args.minid = parse_id(argv[i + 1])
            i += 1
            strategy = True
            args.arg_at = i
        elif low == b"limit" and more:
            args.limit = parse_int(argv[i + 1])
            if args.limit < 0:
                raise CommandError("ERR The LIMIT argument must be >= 0.")
            limit_given = True
            i += 1
        elif xadd and low == b"nomkstream":
            args.nomkstream = True
        elif xadd:
            break  # the ID (checked by the caller)
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    args.id_at = i
    if args.limit and not strategy:
        raise CommandError("ERR syntax error, LIMIT cannot be used without specifying a "
                           "trimming strategy")
    if not xadd and not strategy:
        raise CommandError("ERR syntax error, XTRIM must be called with a trimming strategy")
    if c.server.keyspace.replaying:
        args.limit = 0  # the log holds the exact boundary
    elif limit_given:
        if not args.approx:
            raise CommandError("ERR syntax error, LIMIT cannot be used without the special ~ "
                               "option")
    elif args.approx:
        limit = 100 * c.server.config["stream-node-max-entries"]
        args.limit = limit if 0 < limit <= 1_000_000 else 10000
    else:
        args.limit = 0
    return args


def _rewrite_trim(argv: list[bytes], s: Stream, args: TrimArgs) -> None:
    """An approximate trim is logged as the exact one with the boundary reached."""
    at = args.arg_at
    argv[at - 1] = b"="
    argv[at] = b"%d" % len(s) if args.maxlen is not None else id_reply(s.first_with_tombstones())


# -- commands -----------------------------------------------------------------------

_XADD_HISTORY = (
    ("6.2.0", "Added the `NOMKSTREAM` option, `MINID` trimming strategy and the `LIMIT` option."),
    ("7.0.0", "Added support for the `<ms>-*` explicit ID form."),
)


@command("xadd", -5, "write denyoom fast", group=G, since="5.0.0",
         keys=ks("RW UPDATE", notes="UPDATE instead of INSERT because of the optional trimming "
                 "feature"), acl=ACL, effects=CUSTOM, tips="nondeterministic_output",
         history=_XADD_HISTORY,
         summary="Appends a new entry to a stream, creating the stream when it does not exist.",
         complexity="O(1) when adding a new entry, O(N) when trimming where N being the number "
         "of entries evicted.")
def xadd(c: Client, argv: list[bytes]) -> Any:
    argc = len(argv)
    if argv[2] == b"*":  # the common case: no options, a generated ID
        trim = None
        at = 2
    else:
        trim = parse_trim(c, argv, True)
        at = trim.id_at
    if argc - at < 3 or (argc - at - 1) % 2:
        raise errors.wrong_arity("xadd")
    arg = argv[at]
    explicit = arg != b"*"
    seq_given = True
    new_id = 0
    if explicit:
        new_id, seq_given = parse_xadd_id(arg)
        if seq_given and new_id == 0:
            raise CommandError("ERR The ID specified in XADD must be greater than 0-0")
    key = argv[1]
    db = c.db
    s = write_stream(c, key)
    if s is None:
        if trim is not None and trim.nomkstream:
            return None
        s = Stream()
        created = True
    else:
        created = False
    last = s.last_id
    if last == MAX_ID:
        raise CommandError("ERR The stream has exhausted the last possible ID, unable to add "
                           "more items")
    if not explicit:
        new_id = next_id(c, s)
    elif not seq_given:
        if new_id >> 64 == last >> 64:
            if last & SEQ_MASK == SEQ_MASK:
                raise CommandError(TOP_ITEM)
            new_id = last + 1
    if new_id <= last:
        raise CommandError(TOP_ITEM)
    config = c.server.config
    s.append(new_id, argv[at + 1:], config["stream-node-max-entries"],
             config["stream-node-max-bytes"])
    if created:
        db.set(key, s)
    else:
        db.signal_modified(key)
    if db.events:
        notify(db, STREAM, b"xadd", key)
    reply = id_reply(new_id)
    out = argv
    if trim is not None and (trim.maxlen is not None or trim.minid is not None):
        if s.trim(trim.maxlen, trim.minid, trim.approx, trim.limit) and db.events:
            notify(db, STREAM, b"xtrim", key)
        if trim.approx:
            out = list(argv)
            _rewrite_trim(out, s, trim)
    if not explicit or not seq_given:
        if out is argv:
            out = list(argv)
        out[at] = reply
    db.propagate(out)
    return reply


def _range(c: Client, argv: list[bytes], rev: bool) -> Any:
    start_arg, end_arg = (argv[3], argv[2]) if rev else (argv[2], argv[3])
    start, start_ex = parse_interval(start_arg, 0)
    if start_ex:
        if start == MAX_ID:
            raise CommandError("ERR invalid start ID for the interval")
        start += 1
    end, end_ex = parse_interval(end_arg, SEQ_MASK)
    if end_ex:
        if end == 0:
            raise CommandError("ERR invalid end ID for the interval")
        end -= 1
    count = -1
    argc = len(argv)
    j = 4
    while j < argc:
        if argv[j].lower() == b"count" and j + 1 < argc:
            count = max(parse_int(argv[j + 1]), 0)
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    s = read_stream(c, argv[1])
    if s is None:
        return []
    if count == 0:
        return NULL_ARRAY
    return entries_reply(s, s.range(start, end, max(count, 0), rev))


_RANGE_HISTORY = (("6.2.0", "Added exclusive ranges."),)


@command("xrange", -4, "readonly", group=G, since="5.0.0", keys=ks("RO ACCESS"), acl=ACL,
         history=_RANGE_HISTORY,
         summary="Returns the entries of a stream whose IDs are within a range.",
         complexity="O(N) with N being the number of elements being returned. If N is constant "
         "(e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).")
def xrange(c: Client, argv: list[bytes]) -> Any:
    return _range(c, argv, False)


@command("xrevrange", -4, "readonly", group=G, since="5.0.0", keys=ks("RO ACCESS"), acl=ACL,
         history=_RANGE_HISTORY,
         summary="Returns the entries of a stream whose IDs are within a range, last first.",
         complexity="O(N) with N being the number of elements returned. If N is constant (e.g. "
         "always asking for the first 10 elements with COUNT), you can consider it O(1).")
def xrevrange(c: Client, argv: list[bytes]) -> Any:
    return _range(c, argv, True)


@command("xlen", 2, "readonly fast", group=G, since="5.0.0", keys=ks("RO"), acl=ACL,
         summary="Returns the number of entries in a stream.", complexity="O(1)")
def xlen(c: Client, argv: list[bytes]) -> Any:
    s = read_stream(c, argv[1])
    return 0 if s is None else len(s.ids)


@command("xdel", -3, "write fast", group=G, since="5.0.0", keys=ks("RW DELETE"), acl=ACL,
         effects=VERBATIM,
         summary="Deletes entries from a stream and returns how many were deleted.",
         complexity="O(1) for each single item to delete in the stream, regardless of the "
         "stream size.")
def xdel(c: Client, argv: list[bytes]) -> Any:
    key = argv[1]
    s = write_stream(c, key)
    if s is None:
        return 0
    ids = [parse_id(arg) for arg in argv[2:]]
    deleted = 0
    for entry_id in ids:
        if s.delete(entry_id):
            deleted += 1
    if deleted:
        db = c.db
        db.signal_modified(key)
        if db.events:
            notify(db, STREAM, b"xdel", key)
    return deleted


@command("xtrim", -4, "write", group=G, since="5.0.0", keys=ks("RW DELETE"), acl=ACL,
         effects=CUSTOM, tips="nondeterministic_output",
         history=(("6.2.0", "Added the `MINID` trimming strategy and the `LIMIT` option."),),
         summary="Removes the oldest entries of a stream.",
         complexity="O(N), with N being the number of evicted entries. Constant times are very "
         "small however, since entries are organized in macro nodes containing multiple entries "
         "that can be released with a single deallocation.")
def xtrim(c: Client, argv: list[bytes]) -> Any:
    trim = parse_trim(c, argv, False)
    key = argv[1]
    s = write_stream(c, key)
    if s is None:
        return 0
    deleted = s.trim(trim.maxlen, trim.minid, trim.approx, trim.limit)
    if deleted:
        db = c.db
        db.signal_modified(key)
        if db.events:
            notify(db, STREAM, b"xtrim", key)
        out = argv
        if trim.approx:
            out = list(argv)
            _rewrite_trim(out, s, trim)
        db.propagate(out)
    return deleted


@command("xsetid", -3, "write denyoom fast", group=G, since="5.0.0", keys=ks("RW UPDATE"),
         acl=ACL, effects=VERBATIM,
         history=(("7.0.0", "Added the `entries_added` and `max_deleted_entry_id` arguments."),),
         summary="Sets the last ID of a stream (an internal command for replicating streams).",
         complexity="O(1)")
def xsetid(c: Client, argv: list[bytes]) -> Any:
    new_id = parse_id(argv[2])
    entries_added = -1
    max_deleted = 0
    argc = len(argv)
    i = 3
    while i < argc:
        opt = argv[i].lower()
        if opt == b"entriesadded" and i + 1 < argc:
            entries_added = parse_int(argv[i + 1])
            if entries_added < 0:
                raise CommandError("ERR entries_added must be positive")
        elif opt == b"maxdeletedid" and i + 1 < argc:
            max_deleted = parse_id(argv[i + 1])
            if new_id < max_deleted:
                raise CommandError("ERR The ID specified in XSETID is smaller than the provided "
                                   "max_deleted_entry_id")
        else:
            raise CommandError(errors.SYNTAX)
        i += 2
    key = argv[1]
    s = write_stream(c, key)
    if s is None:
        raise CommandError(errors.NO_SUCH_KEY)
    if s.ids:
        if new_id < s.ids[-1]:
            raise CommandError("ERR The ID specified in XSETID is smaller than the target "
                               "stream top item")
        if entries_added != -1 and len(s.ids) > entries_added:
            raise CommandError("ERR The entries_added specified in XSETID is smaller than the "
                               "target stream length")
    s.last_id = new_id
    if entries_added != -1:
        s.entries_added = entries_added
    if max_deleted:
        s.max_deleted = max_deleted
    db = c.db
    db.signal_modified(key)
    if db.events:
        notify(db, STREAM, b"xsetid", key)
    return OK


# -- XINFO ----------------------------------------------------------------------------

container("xinfo", group=G, since="5.0.0",
          summary="A container for stream introspection commands.")

_XINFO_HELP = [Status(line) for line in (
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
)]


@command("xinfo|help", 2, "loading stale", group=G, since="5.0.0", acl=ACL,
         summary="Returns helpful text about the different subcommands.", complexity="O(1)")
def xinfo_help(c: Client, argv: list[bytes]) -> Any:
    return _XINFO_HELP


def _entry_or_none(s: Stream, rev: bool) -> Any:
    ids = s.ids
    if not ids:
        return None
    entry_id = ids[-1] if rev else ids[0]
    return [id_reply(entry_id), s.entries[entry_id]]


def _full_groups(s: Stream, count: int) -> list[Any]:
    out = []
    for name, group in sorted((s.groups or {}).items()):
        pel = group.pel
        pending = []
        for n, (entry_id, nack) in enumerate(pel.items()):
            if count and n >= count:
                break
            pending.append([id_reply(entry_id), nack.consumer.name, nack.time, nack.count])
        consumers = []
        for cname, consumer in sorted(group.consumers.items()):
            cpending = []
            for n, (entry_id, nack) in enumerate(consumer.pel.items()):
                if count and n >= count:
                    break
                cpending.append([id_reply(entry_id), nack.time, nack.count])
            consumers.append(MapReply([
                (b"name", cname), (b"seen-time", consumer.seen_time),
                (b"active-time", consumer.active_time), (b"pel-count", len(consumer.pel)),
                (b"pending", cpending),
            ]))
        read = group.entries_read
        out.append(MapReply([
            (b"name", name), (b"last-delivered-id", id_reply(group.last_id)),
            (b"entries-read", None if read < 0 else read), (b"lag", s.lag(group)),
            (b"pel-count", len(pel)), (b"pending", pending), (b"consumers", consumers),
        ]))
    return out


_XINFO_STREAM_HISTORY = (
    ("6.0.0", "Added the `FULL` modifier."),
    ("7.0.0", "Added the `max-deleted-entry-id`, `entries-added`, `recorded-first-entry-id`, "
     "`entries-read` and `lag` fields"),
    ("7.2.0", "Added the `active-time` field, and changed the meaning of `seen-time`."),
)


@command("xinfo|stream", -3, "readonly", group=G, since="5.0.0", keys=ks("RO ACCESS", 2),
         acl=ACL, history=_XINFO_STREAM_HISTORY,
         summary="Returns information about a stream.", complexity="O(1)")
def xinfo_stream(c: Client, argv: list[bytes]) -> Any:
    s = read_stream(c, argv[2])
    if s is None:
        raise CommandError(errors.NO_SUCH_KEY)
    argc = len(argv)
    full = False
    count = 10
    if argc > 3:
        if argc not in (4, 6) or argv[3].lower() != b"full" or (
            argc == 6 and argv[4].lower() != b"count"
        ):
            raise CommandError("ERR unknown subcommand or wrong number of arguments for "
                               f"'{argv[1].decode(errors='replace')}'. Try XINFO HELP.")
        full = True
        if argc == 6:
            count = parse_int(argv[5])
            if count < 0:
                count = 10
    head: list[tuple[bytes, Any]] = [
        (b"length", len(s.ids)),
        (b"radix-tree-keys", len(s.nodes)),
        (b"radix-tree-nodes", s.radix_nodes()),
        (b"last-generated-id", id_reply(s.last_id)),
        (b"max-deleted-entry-id", id_reply(s.max_deleted)),
        (b"entries-added", s.entries_added),
        (b"recorded-first-entry-id", id_reply(s.first_id)),
    ]
    if not full:
        head += [
            (b"groups", len(s.groups or ())),
            (b"first-entry", _entry_or_none(s, False)),
            (b"last-entry", _entry_or_none(s, True)),
        ]
        return MapReply(head)
    head.append((b"entries", entries_reply(s, s.range(0, MAX_ID, count))))
    head.append((b"groups", _full_groups(s, count)))
    return MapReply(head)

