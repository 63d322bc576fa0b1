"""XREAD and XREADGROUP, with BLOCK (see cairn/commands/blocking.py).

A blocked client re-runs its command when one of its keys changes. So that a
blocked ``XREAD ... $`` waits for entries after the last ID *at the moment it
blocked*, the handler gives its ``Block`` a copy of the argv with that ID in
place of ``$`` (``Block(..., argv=...)``: the parking re-runs that one).

XREADGROUP re-run after its key was deleted (or replaced by another type)
answers "UNBLOCKED the stream key no longer exists", like Redis 7.2; a destroyed
group makes the re-run fail with NOGROUP.

Effects: each entry delivered into the PEL is logged as an XCLAIM (see
cairn/commands/streams_groups.py), then ``XGROUP SETID key group id ENTRIESREAD
n`` when the group's last ID moved.
"""

from __future__ import annotations

from typing import Any

from cairn.commands import errors
from cairn.commands.args import parse_int, to_int
from cairn.commands.blocking import Block
from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.registry import CUSTOM, command, ks
from cairn.commands.streams import entries_reply, id_reply, parse_id, read_stream
from cairn.commands.streams_groups import claim_effect, create_consumer, nogroup, setid_effect
from cairn.protocol import NULL_ARRAY, MapReply
from cairn.types.stream import MAX_ID, Group, Nack, Stream

G = "stream"
ACL = "stream"

_NO_KEY = "UNBLOCKED the stream key no longer exists"


class _Args:
    __slots__ = ("cname", "count", "gname", "noack", "streams_at", "timeout")

    def __init__(self) -> None:
        self.timeout = -1
        self.count = 0
        self.noack = False
        self.gname: bytes | None = None
        self.cname = b""
        self.streams_at = 0


def _parse(c: Client, argv: list[bytes], group_mode: bool) -> _Args:
    args = _Args()
    argc = len(argv)
    i = 1
    while i < argc:
        more = argc - i - 1
        opt = argv[i].lower()
        if opt == b"block" and more:
            i += 1
            value = to_int(argv[i])
            if value is None:
                raise CommandError("ERR timeout is not an integer or out of range")
            if value < 0:
                raise CommandError("ERR timeout is negative")
            if value > 2**63 - 1 - c.server.keyspace.time_ms:
                raise CommandError("ERR timeout is out of range")
            args.timeout = value
        elif opt == b"count" and more:
            i += 1
            args.count = max(parse_int(argv[i]), 0)
        elif opt == b"streams" and more:
            args.streams_at = i + 1
            if (argc - args.streams_at) % 2:
                name = "xreadgroup" if group_mode else "xread"
                symbol = ">" if group_mode else "$"
                raise CommandError(f"ERR Unbalanced '{name}' list of streams: for each stream "
                                   f"key an ID or '{symbol}' must be specified.")
            break
        elif opt == b"group" and more >= 2:
            if not group_mode:
                raise CommandError("ERR The GROUP option is only supported by XREADGROUP. You "
                                   "called XREAD instead.")
            args.gname = argv[i + 1]
            args.cname = argv[i + 2]
            i += 2
        elif opt == b"noack":
            if not group_mode:
                raise CommandError("ERR The NOACK option is only supported by XREADGROUP. You "
                                   "called XREAD instead.")
            args.noack = True
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    if not args.streams_at:
        raise CommandError(errors.SYNTAX)
    if group_mode and args.gname is None:
        raise CommandError("ERR Missing GROUP option for XREADGROUP")
    return args


def _reply(c: Client, served: list[tuple[bytes, Any]]) -> Any:
    if c.resp == 2:
        return [[key, entries] for key, entries in served]
    return MapReply(served)


def _is_rerun(c: Client, argv: list[bytes]) -> bool:
    parked = c.server.blocking.parked.get(c.id)
    return parked is not None and parked.argv is argv


# -- XREAD ------------------------------------------------------------------------------

@command("xread", -4, "readonly blocking", group=G, since="5.0.0",
         keys=ks("RO ACCESS", ("keyword", "STREAMS", 1), ("range", -1, 1, 2)), acl=ACL,
         summary="Returns entries from one or more streams with IDs greater than the ones "
         "given. Blocks until an entry is available otherwise.")
def xread(c: Client, argv: list[bytes]) -> Any:
    args = _parse(c, argv, False)
    at = args.streams_at
    n = (len(argv) - at) // 2
    starts: list[int] = []
    streams: list[Stream | None] = []
    for i in range(n):
        s = read_stream(c, argv[at + i])
        arg = argv[at + n + i]
        if arg == b"$":
            starts.append(s.last_id if s is not None else 0)
        elif arg == b">":
            raise CommandError("ERR The > ID can be specified only when calling XREADGROUP "
                               "using the GROUP <group> <consumer> option.")
        else:
            starts.append(parse_id(arg))
        streams.append(s)
    served: list[tuple[bytes, Any]] = []
    for i, s in enumerate(streams):
        if s is None or not s.ids or s.ids[-1] <= starts[i] or starts[i] == MAX_ID:
            continue
        ids = s.range(starts[i] + 1, MAX_ID, args.count)
        served.append((argv[at + i], entries_reply(s, ids)))
    if served:
        return _reply(c, served)
    if args.timeout < 0:
        return NULL_ARRAY
    # Wait for entries after the IDs resolved now: the re-run's argv spells "$" as the
    # explicit last ID (the client's own argv is left as it was sent).
    rerun = argv
    for i in range(n):
        if argv[at + n + i] == b"$":
            if rerun is argv:
                rerun = list(argv)
            rerun[at + n + i] = id_reply(starts[i])
    return Block(argv[at:at + n], args.timeout / 1000, NULL_ARRAY, argv=rerun)


# -- XREADGROUP ------------------------------------------------------------------------------

def _deliver_new(c: Client, key: bytes, gname: bytes, s: Stream, group: Group, consumer: Any,
                 count: int, noack: bool, now: int) -> list[Any]:
    """Entries after the group's last ID, delivered to consumer (into the PELs)."""
    ids = s.range(group.last_id + 1, MAX_ID, count)
    if not ids:
        return []
    propagate = c.db.propagate
    pel = group.pel
    for entry_id in ids:
        s.deliver(group, entry_id)
        if noack:
            continue
        nack = pel.get(entry_id)
        if nack is None:
            nack = pel[entry_id] = Nack(consumer, now, 1)
            consumer.pel[entry_id] = nack
        else:  # a group moved back by XGROUP SETID: the entry changes hands
            if entry_id in nack.consumer.pel:
                del nack.consumer.pel[entry_id]
            nack.consumer = consumer
            nack.time = now
            nack.count = 1
            consumer.pel[entry_id] = nack
        propagate(claim_effect(key, gname, group, entry_id, nack, now))
    if not noack:
        consumer.active_time = now
    propagate(setid_effect(key, gname, group))
    c.db.signal_modified(key)
    return entries_reply(s, ids)


def _deliver_history(c: Client, key: bytes, gname: bytes, s: Stream, group: Group,
                     consumer: Any, start: int, count: int, now: int) -> list[Any]:
    """The consumer's own pending entries after start (delivered again)."""
    out: list[Any] = []
    if start == MAX_ID:
        return out
    entries = s.entries
    pel = consumer.pel
    touched = False
    for entry_id in pel.irange(start + 1, None):
        if count and len(out) >= count:
            break
        fields = entries.get(entry_id)
        if fields is None:
            out.append([id_reply(entry_id), NULL_ARRAY])
            continue
        nack = pel[entry_id]
        nack.time = now
        nack.count += 1
        out.append([id_reply(entry_id), fields])
        c.db.propagate(claim_effect(key, gname, group, entry_id, nack, now))
        touched = True
    if touched:
        consumer.active_time = now
        c.db.signal_modified(key)
    return out


@command("xreadgroup", -7, "write blocking", group=G, since="5.0.0",
         keys=ks("RO ACCESS", ("keyword", "STREAMS", 4), ("range", -1, 1, 2)), acl=ACL,
         effects=CUSTOM,
         summary="Returns new or historical entries from a stream for a consumer in a group. "
         "Blocks until an entry is available otherwise.",
         complexity="For each stream mentioned: O(M) with M being the number of elements "
         "returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), "
         "you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the "
         "O(N) time in order to serve the N clients blocked on the stream getting new data.")
def xreadgroup(c: Client, argv: list[bytes]) -> Any:
    args = _parse(c, argv, True)
    gname = args.gname
    assert gname is not None
    at = args.streams_at
    n = (len(argv) - at) // 2
    if _is_rerun(c, argv):
        for i in range(n):
            if type(c.db.lookup(argv[at + i], touch=False)) is not Stream:
                raise CommandError(_NO_KEY)
    targets: list[tuple[bytes, Stream, Group, int]] = []
    for i in range(n):
        key = argv[at + i]
        s = read_stream(c, key)
        group = (s.groups or {}).get(gname) if s is not None else None
        if s is None or group is None:
            raise nogroup(key, gname, " in XREADGROUP with GROUP option")
        arg = argv[at + n + i]
        if arg == b"$":
            raise CommandError("ERR The $ ID is meaningless in the context of XREADGROUP: you "
                               "want to read the history of this consumer by specifying a "
                               "proper ID, or use the > ID to get new messages. The $ ID would "
                               "just return an empty result set.")
        start = MAX_ID if arg == b">" else parse_id(arg)
        targets.append((key, s, group, start))
    now = c.server.keyspace.time_ms
    cname = args.cname
    served: list[tuple[bytes, Any]] = []
    for key, s, group, start in targets:
        consumer = create_consumer(c, key, gname, group, cname, now)
        consumer.seen_time = now
        if start != MAX_ID:
            served.append((key, _deliver_history(c, key, gname, s, group, consumer, start,
                                                 args.count, now)))
        elif s.ids and s.ids[-1] > group.last_id:
            served.append((key, _deliver_new(c, key, gname, s, group, consumer, args.count,
                                             args.noack, now)))
    if served:
        return _reply(c, served)
    if args.timeout < 0:
        return NULL_ARRAY
    return Block(argv[at:at + n], args.timeout / 1000, NULL_ARRAY)
