"""Sorted-set commands: ZADD and friends, ranges, set algebra, pops, ZSCAN.

The value is ``cairn.types.zset.ZSet``; argument parsing lives in
``zset_ranges``. Scores in replies follow Redis 7.2: RESP2 bulk strings use
7.2's shortest round-trip formatting (``format_score``); RESP3 replies are
doubles (the protocol layer formats them). A set left empty is deleted.

``pop`` is the popping step of ZPOPMIN / ZPOPMAX / ZMPOP, reusable by the
blocking variants.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from cairn.commands import errors
from cairn.commands.args import I64_MAX, I64_MIN, to_int
from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.registry import CUSTOM, VERBATIM, command, ks
from cairn.commands.scanargs import parse_cursor, parse_scan_options
from cairn.commands.zset_ranges import (
    LEX,
    RANK,
    SCORE,
    RangeQuery,
    SetOp,
    parse_lex_range,
    parse_long,
    parse_mpop,
    parse_numkeys,
    parse_range,
    parse_score,
    parse_score_range,
    parse_setop_options,
    rank_span,
)
from cairn.doubles import format_score, format_score_17g
from cairn.glob import compile_glob
from cairn.keyspace.notify import GENERIC, KEY_MISS, ZSET, notify
from cairn.keyspace.scan import ScanIndex
from cairn.protocol import NULL_ARRAY
from cairn.types.zset import (
    ENTRIES,
    SUM,
    ZSet,
    build,
    combine,
    fits_listpack,
    sorted_pairs,
)

G = "sorted_set"
ACL = "sortedset"
_RO = ks("RO ACCESS")
_NAN = "ERR resulting score is not a number (NaN)"
_OUT_OF_RANGE = "ERR value is out of range"
_COUNT_RANGE = (
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
)
_POSITIVE = "ERR value is out of range, must be positive"
_LONG_MAX_HALF = I64_MAX // 2
# ZRANDMEMBER with a negative count answers |count| picks. Redis builds whatever
# reply was asked for (a count near LONG_MAX takes the server down); Cairn
# refuses counts whose reply could not be built in memory anyway.
_MAX_REPEATED_PICKS = 1 << 27
_EMPTY_SCAN: list[Any] = [b"0", []]


def _wrongtype() -> CommandError:
    return CommandError(errors.WRONGTYPE)


def _read(c: Client, key: bytes) -> ZSet | None:
    value = c.db.lookup_read(key)
    if value is None or type(value) is ZSet:
        return value
    raise _wrongtype()


def _write(c: Client, key: bytes) -> ZSet | None:
    value = c.db.lookup(key)
    if value is None or type(value) is ZSet:
        return value
    raise _wrongtype()


def _scorer(c: Client) -> Callable[[float], Any]:
    """How a score goes into a reply: 7.2's text in RESP2, a double in RESP3."""
    return format_score if c.resp == 2 else float


def _score_reply(c: Client, score: float) -> Any:
    return format_score(score) if c.resp == 2 else score


def pairs_reply(c: Client, pairs: list[tuple[float, bytes]], withscores: bool) -> list[Any]:
    """(score, member) pairs as a reply: members only, flat member/score (RESP2)
    or [member, score] pairs (RESP3)."""
    if not withscores:
        return [member for _score, member in pairs]
    if c.resp == 2:
        out: list[Any] = []
        for score, member in pairs:
            out.append(member)
            out.append(format_score(score))
        return out
    return [[member, score] for score, member in pairs]


def _popped_reply(c: Client, popped: list[tuple[bytes, float]], nested: bool) -> list[Any]:
    if nested and c.resp == 3:
        return [[member, score] for member, score in popped]
    fmt = _scorer(c)
    out: list[Any] = []
    for member, score in popped:
        out.append(member)
        out.append(fmt(score))
    return out


def _remove_if_empty(c: Client, key: bytes, zset: ZSet, event: bytes) -> None:
    """After members left: announce ``event``; delete an emptied set ("del")."""
    db = c.db
    if len(zset):
        db.signal_modified(key)
        if db.events:
            notify(db, ZSET, event, key)
    else:
        db.delete(key)
        if db.events:
            notify(db, ZSET, event, key)
            notify(db, GENERIC, b"del", key)


# -- ZADD / ZINCRBY / ZREM ------------------------------------------------------------------

_ZADD_FLAGS = {b"nx": 1, b"xx": 2, b"ch": 4, b"incr": 8, b"gt": 16, b"lt": 32}


@command("zadd", -4, "write denyoom fast", group=G, since="1.2.0", keys=ks("RW UPDATE"),
         acl=ACL, effects=VERBATIM,
         history=(("2.4.0", "Accepts multiple elements."),
                  ("3.0.2", "Added the `XX`, `NX`, `CH` and `INCR` options."),
                  ("6.2.0", "Added the `GT` and `LT` options.")),
         summary="Adds members with scores to a sorted set (creating it), or updates scores.",
         complexity="O(log(N)) for each item added, where N is the number of elements in the "
                    "sorted set.")
def zadd(c: Client, argv: list[bytes]) -> Any:
    argc = len(argv)
    flags = 0
    i = 2
    while i < argc:
        bit = _ZADD_FLAGS.get(argv[i].lower())
        if bit is None:
            break
        flags |= bit
        i += 1
    elements = argc - i
    if elements % 2 or not elements:
        raise CommandError(errors.SYNTAX)
    elements //= 2
    nx = xx = ch = incr = gt = lt = False
    if flags:
        nx, xx, ch = bool(flags & 1), bool(flags & 2), bool(flags & 4)
        incr, gt, lt = bool(flags & 8), bool(flags & 16), bool(flags & 32)
        if nx and xx:
            raise CommandError("ERR XX and NX options at the same time are not compatible")
        if (gt and nx) or (lt and nx) or (gt and lt):
            raise CommandError(
                "ERR GT, LT, and/or NX options at the same time are not compatible")
        if incr and elements > 1:
            raise CommandError("ERR INCR option supports a single increment-element pair")
    scores = [parse_score(argv[j]) for j in range(i, argc, 2)]
    key = argv[1]
    zset = _write(c, key)
    created = False
    config = c.server.config
    if zset is None:
        if xx:
            return None if incr else 0
        maxlen = max(len(argv[j]) for j in range(i + 1, argc, 2))
        zset = ZSet(not fits_listpack(config, elements, maxlen))
        created = True
    elif not zset.big and elements > config[ENTRIES]:
        zset.big = True  # Redis 7.2 converts up front when the pairs alone exceed the limit
    members = zset.scores
    added = updated = 0
    reply_score: float | None = None
    for n, score in enumerate(scores):
        member = argv[i + 2 * n + 1]
        current = members.get(member)
        if current is not None:
            if nx:
                continue
            new = current + score if incr else score
            if new != new:
                raise CommandError(_NAN)
            if (gt and new <= current) or (lt and new >= current):
                continue
            reply_score = new
            if new != current:
                zset.set(member, new)
                updated += 1
        else:
            if xx:
                continue
            if not zset.big:
                zset.grow(config, 1, len(member))
            zset.set(member, score)
            reply_score = score
            added += 1
    if added or updated:
        db = c.db
        if created:
            db.set(key, zset)
        else:
            db.signal_modified(key)
        if db.events:
            notify(db, ZSET, b"zincr" if incr else b"zadd", key)
    if incr:
        return None if reply_score is None else _score_reply(c, reply_score)
    return added + updated if ch else added


@command("zincrby", 4, "write denyoom fast", group=G, since="1.2.0",
         keys=ks("RW ACCESS UPDATE"), acl=ACL, effects=VERBATIM,
         summary="Adds an increment to a member's score (creating the member or the set).",
         complexity="O(log(N)) where N is the number of elements in the sorted set.")
def zincrby(c: Client, argv: list[bytes]) -> Any:
    increment = parse_score(argv[2])
    key, member = argv[1], argv[3]
    zset = _write(c, key)
    config = c.server.config
    if zset is None:
        zset = ZSet(not fits_listpack(config, 1, len(member)))
        zset.set(member, increment)
        db = c.db
        db.set(key, zset)
        if db.events:
            notify(db, ZSET, b"zincr", key)
        return _score_reply(c, increment)
    if not zset.big and config[ENTRIES] < 1:
        zset.big = True  # 7.2: ZINCRBY is a one-pair ZADD INCR (see zadd)
    current = zset.scores.get(member)
    if current is None:
        if not zset.big:
            zset.grow(config, 1, len(member))
        new = increment
    else:
        new = current + increment
        if new != new:
            raise CommandError(_NAN)
        if new == current:
            return _score_reply(c, new)
    zset.set(member, new)
    db = c.db
    db.signal_modified(key)
    if db.events:
        notify(db, ZSET, b"zincr", key)
    return _score_reply(c, new)


@command("zrem", -3, "write fast", group=G, since="1.2.0", keys=ks("RW DELETE"), acl=ACL,
         effects=VERBATIM, history=(("2.4.0", "Accepts multiple elements."),),
         summary="Removes members from a sorted set; deletes the set when it empties.",
         complexity="O(M*log(N)) with N being the number of elements in the sorted set and M "
                    "the number of elements to be removed.")
def zrem(c: Client, argv: list[bytes]) -> Any:
    key = argv[1]
    zset = _write(c, key)
    if zset is None:
        return 0
    removed = 0
    for member in argv[2:]:
        if zset.discard(member):
            removed += 1
            if not len(zset):
                break
    if removed:
        _remove_if_empty(c, key, zset, b"zrem")
    return removed


# -- single-member reads ------------------------------------------------------------------


@command("zcard", 2, "readonly fast", group=G, since="1.2.0", keys=ks("RO"), acl=ACL,
         summary="Returns the number of members of a sorted set.", complexity="O(1)")
def zcard(c: Client, argv: list[bytes]) -> Any:
    zset = _read(c, argv[1])
    return 0 if zset is None else len(zset)


@command("zscore", 3, "readonly fast", group=G, since="1.2.0", keys=_RO, acl=ACL,
         summary="Returns a member's score.", complexity="O(1)")
def zscore(c: Client, argv: list[bytes]) -> Any:
    zset = _read(c, argv[1])
    if zset is None:
        return None
    score = zset.scores.get(argv[2])
    return None if score is None else _score_reply(c, score)


@command("zmscore", -3, "readonly fast", group=G, since="6.2.0", keys=_RO, acl=ACL,
         summary="Returns the scores of several members.",
         complexity="O(N) where N is the number of members being requested.")
def zmscore(c: Client, argv: list[bytes]) -> Any:
    zset = _read(c, argv[1])
    if zset is None:
        return [None] * (len(argv) - 2)
    get = zset.scores.get
    fmt = _scorer(c)
    out: list[Any] = []
    for member in argv[2:]:
        score = get(member)
        out.append(None if score is None else fmt(score))
    return out


def _rank(c: Client, argv: list[bytes], reverse: bool) -> Any:
    argc = len(argv)
    name = "zrevrank" if reverse else "zrank"
    if argc > 4:
        raise errors.wrong_arity(name)
    withscore = False
    if argc == 4:
        if argv[3].lower() != b"withscore":
            raise CommandError(errors.SYNTAX)
        withscore = True
    missing = NULL_ARRAY if withscore else None
    zset = _read(c, argv[1])
    if zset is None:
        return missing
    rank = zset.rank(argv[2])
    if rank is None:
        return missing
    if reverse:
        rank = len(zset) - 1 - rank
    if withscore:
        return [rank, _score_reply(c, zset.scores[argv[2]])]
    return rank


_RANK_HISTORY = (("7.2.0", "Added the optional `WITHSCORE` argument."),)


@command("zrank", -3, "readonly fast", group=G, since="2.0.0", keys=_RO, acl=ACL,
         history=_RANK_HISTORY, summary="Returns a member's rank, lowest score first.",
         complexity="O(log(N))")
def zrank(c: Client, argv: list[bytes]) -> Any:
    return _rank(c, argv, False)


@command("zrevrank", -3, "readonly fast", group=G, since="2.0.0", keys=_RO, acl=ACL,
         history=_RANK_HISTORY, summary="Returns a member's rank, highest score first.",
         complexity="O(log(N))")
def zrevrank(c: Client, argv: list[bytes]) -> Any:
    return _rank(c, argv, True)


# -- counts ------------------------------------------------------------------------------------


@command("zcount", 4, "readonly fast", group=G, since="2.0.0", keys=_RO, acl=ACL,
         summary="Counts the members whose scores are within a range.",
         complexity="O(log(N)) with N being the number of elements in the sorted set.")
def zcount(c: Client, argv: list[bytes]) -> Any:
    bounds = parse_score_range(argv[2], argv[3])
    zset = _read(c, argv[1])
    if zset is None:
        return 0
    lo, hi = zset.score_span(*bounds)
    return hi - lo


@command("zlexcount", 4, "readonly fast", group=G, since="2.8.9", keys=_RO, acl=ACL,
         summary="Counts the members within a lexicographical range.",
         complexity="O(log(N)) with N being the number of elements in the sorted set.")
def zlexcount(c: Client, argv: list[bytes]) -> Any:
    low, high = parse_lex_range(argv[2], argv[3])
    zset = _read(c, argv[1])
    if zset is None:
        return 0
    lo, hi = zset.lex_span(low, high)
    return hi - lo


# -- ranges --------------------------------------------------------------------------------------


def _range(c: Client, argv: list[bytes], kind: int | None, rev: bool | None) -> Any:
    query = parse_range(argv, 2, kind, rev, store=False)
    zset = _read(c, argv[1])
    if zset is None:
        return []
    return pairs_reply(c, query.select(zset), query.withscores)


_DEPRECATED = ("deprecated",)
_RANGE_CX = ("O(log(N)+M) with N being the number of elements in the sorted set and M the "
             "number of elements returned.")
_BY_CX = ("O(log(N)+M) with N being the number of elements in the sorted set and M the number "
          "of elements being returned. If M is constant (e.g. always asking for the first 10 "
          "elements with LIMIT), you can consider it O(log(N)).")


@command("zrange", -4, "readonly", group=G, since="1.2.0", keys=_RO, acl=ACL,
         history=(("6.2.0", "Added the `REV`, `BYSCORE`, `BYLEX` and `LIMIT` options."),),
         summary="Returns members within a range of ranks, scores or members.",
         complexity=_RANGE_CX)
def zrange(c: Client, argv: list[bytes]) -> Any:
    return _range(c, argv, None, None)


@command("zrevrange", -4, "readonly", group=G, since="1.2.0", keys=_RO, acl=ACL,
         doc_flags=_DEPRECATED, deprecated_since="6.2.0",
         replaced_by="`ZRANGE` with the `REV` argument",
         summary="Returns members within a range of ranks, highest score first.",
         complexity=_RANGE_CX)
def zrevrange(c: Client, argv: list[bytes]) -> Any:
    return _range(c, argv, RANK, True)


@command("zrangebyscore", -4, "readonly", group=G, since="1.0.5", keys=_RO, acl=ACL,
         doc_flags=_DEPRECATED, deprecated_since="6.2.0",
         replaced_by="`ZRANGE` with the `BYSCORE` argument",
         history=(("2.0.0", "Added the `WITHSCORES` modifier."),),
         summary="Returns members within a range of scores.", complexity=_BY_CX)
def zrangebyscore(c: Client, argv: list[bytes]) -> Any:
    return _range(c, argv, SCORE, False)


@command("zrevrangebyscore", -4, "readonly", group=G, since="2.2.0", keys=_RO, acl=ACL,
         doc_flags=_DEPRECATED, deprecated_since="6.2.0",
         replaced_by="`ZRANGE` with the `REV` and `BYSCORE` arguments",
         history=(("2.1.6", "`min` and `max` can be exclusive."),),
         summary="Returns members within a range of scores, highest first.", complexity=_BY_CX)
def zrevrangebyscore(c: Client, argv: list[bytes]) -> Any:
    return _range(c, argv, SCORE, True)


@command("zrangebylex", -4, "readonly", group=G, since="2.8.9", keys=_RO, acl=ACL,
         doc_flags=_DEPRECATED, deprecated_since="6.2.0",
         replaced_by="`ZRANGE` with the `BYLEX` argument",
         summary="Returns members within a lexicographical range.", complexity=_BY_CX)
def zrangebylex(c: Client, argv: list[bytes]) -> Any:
    return _range(c, argv, LEX, False)


@command("zrevrangebylex", -4, "readonly", group=G, since="2.8.9", keys=_RO, acl=ACL,
         doc_flags=_DEPRECATED, deprecated_since="6.2.0",
         replaced_by="`ZRANGE` with the `REV` and `BYLEX` arguments",
         summary="Returns members within a lexicographical range, in reverse order.",
         complexity=_BY_CX)
def zrevrangebylex(c: Client, argv: list[bytes]) -> Any:
    return _range(c, argv, LEX, True)


def _store(c: Client, dest: bytes, scores: dict[bytes, float], event: bytes) -> int:
    """Replace ``dest`` with a new set of these scores (or delete it when empty)."""
    db = c.db
    if not scores:
        if db.delete(dest) and db.events:
            notify(db, GENERIC, b"del", dest)
        return 0
    maxlen = max(map(len, scores))
    db.set(dest, build(scores, not fits_listpack(c.server.config, len(scores), maxlen)))
    if db.events:
        notify(db, ZSET, event, dest)
    return len(scores)


@command("zrangestore", -5, "write denyoom", group=G, since="6.2.0",
         keys=(ks("OW UPDATE"), ks("RO ACCESS", 2)), acl=ACL, effects=VERBATIM,
         summary="Stores a range of members of a sorted set in another key.",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and M "
                    "the number of elements stored into the destination key.")
def zrangestore(c: Client, argv: list[bytes]) -> Any:
    query: RangeQuery = parse_range(argv, 3, None, None, store=True)
    db = c.db
    src = db.lookup(argv[2])
    if src is None and db.events:
        notify(db, KEY_MISS, b"keymiss", argv[2])  # Redis reads the source
    if src is not None and type(src) is not ZSet:
        raise _wrongtype()
    pairs = query.select(src) if src is not None else []
    return _store(c, argv[1], {member: score for score, member in pairs}, b"zrangestore")


# -- removing ranges ---------------------------------------------------------------------------


def _remove_span(c: Client, key: bytes, span: Callable[[ZSet], tuple[int, int]],
                 event: bytes) -> int:
    zset = _write(c, key)
    if zset is None:
        return 0
    lo, hi = span(zset)
    removed = zset.delete_span(lo, hi)
    if removed:
        _remove_if_empty(c, key, zset, event)
    return removed


_REMRANGE_CX = ("O(log(N)+M) with N being the number of elements in the sorted set and M the "
                "number of elements removed by the operation.")


@command("zremrangebyrank", 4, "write", group=G, since="2.0.0", keys=ks("RW DELETE"), acl=ACL,
         effects=VERBATIM, summary="Removes the members within a range of ranks.",
         complexity=_REMRANGE_CX)
def zremrangebyrank(c: Client, argv: list[bytes]) -> Any:
    start, end = parse_long(argv[2]), parse_long(argv[3])
    return _remove_span(c, argv[1], lambda z: rank_span(start, end, len(z)), b"zremrangebyrank")


@command("zremrangebyscore", 4, "write", group=G, since="1.2.0", keys=ks("RW DELETE"), acl=ACL,
         effects=VERBATIM, summary="Removes the members within a range of scores.",
         complexity=_REMRANGE_CX)
def zremrangebyscore(c: Client, argv: list[bytes]) -> Any:
    bounds = parse_score_range(argv[2], argv[3])
    return _remove_span(c, argv[1], lambda z: z.score_span(*bounds), b"zremrangebyscore")


@command("zremrangebylex", 4, "write", group=G, since="2.8.9", keys=ks("RW DELETE"), acl=ACL,
         effects=VERBATIM, summary="Removes the members within a lexicographical range.",
         complexity=_REMRANGE_CX)
def zremrangebylex(c: Client, argv: list[bytes]) -> Any:
    low, high = parse_lex_range(argv[2], argv[3])
    return _remove_span(c, argv[1], lambda z: z.lex_span(low, high), b"zremrangebylex")


# -- ZUNION / ZINTER / ZDIFF (and STORE), ZINTERCARD --------------------------------------------

def _parse_setop(c: Client, argv: list[bytes], numkeys_at: int, op: str, name: str,
                 store: bool = False, card: bool = False) -> SetOp:
    """Redis' order: numkeys, then the keys' types, then the options."""
    numkeys = parse_numkeys(argv, numkeys_at, name)
    db = c.db
    lookup = db.lookup if store else db.lookup_read
    inputs = []
    for key in argv[numkeys_at + 1 : numkeys_at + 1 + numkeys]:
        value = lookup(key)
        if value is None and store and db.events:
            notify(db, KEY_MISS, b"keymiss", key)  # a read in Redis, even for the STORE forms
        if value is not None and type(value) is not ZSet and getattr(value, "TYPE_NAME", "") != "set":
            raise _wrongtype()
        inputs.append(value)
    spec = parse_setop_options(argv, numkeys_at + 1 + numkeys, numkeys, op, store, card)
    spec.inputs = inputs
    return spec


def _setop_read(c: Client, argv: list[bytes], op: str) -> Any:
    spec = _parse_setop(c, argv, 1, op, argv[0].lower().decode())
    scores = combine(op, spec.inputs, spec.weights, spec.how)
    return pairs_reply(c, sorted_pairs(scores), spec.withscores)


def _setop_store(c: Client, argv: list[bytes], op: str) -> Any:
    spec = _parse_setop(c, argv, 2, op, argv[0].lower().decode(), store=True)
    event = b"zunionstore" if op == "union" else b"zinterstore" if op == "inter" else b"zdiffstore"
    return _store(c, argv[1], combine(op, spec.inputs, spec.weights, spec.how), event)


_KEYNUM_RO = ks("RO ACCESS", 1, ("keynum", 0, 1, 1))
_STORE_KEYS = (ks("OW UPDATE"), ks("RO ACCESS", 2, ("keynum", 0, 1, 1)))
_UNION_CX = ("O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and "
             "M being the number of elements in the resulting sorted set.")
_INTER_CX = ("O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being "
             "the number of input sorted sets and M being the number of elements in the "
             "resulting sorted set.")
_DIFF_CX = ("O(L + (N-K)log(N)) worst case where L is the total number of elements in all the "
            "sets, N is the size of the first set, and K is the size of the result set.")


@command("zunion", -3, "readonly", group=G, since="6.2.0", keys=_KEYNUM_RO, acl=ACL,
         summary="Returns the union of sorted sets (and sets).", complexity=_UNION_CX)
def zunion(c: Client, argv: list[bytes]) -> Any:
    return _setop_read(c, argv, "union")


@command("zinter", -3, "readonly", group=G, since="6.2.0", keys=_KEYNUM_RO, acl=ACL,
         summary="Returns the intersection of sorted sets (and sets).", complexity=_INTER_CX)
def zinter(c: Client, argv: list[bytes]) -> Any:
    return _setop_read(c, argv, "inter")


@command("zdiff", -3, "readonly", group=G, since="6.2.0", keys=_KEYNUM_RO, acl=ACL,
         summary="Returns the members of the first sorted set absent from the others.",
         complexity=_DIFF_CX)
def zdiff(c: Client, argv: list[bytes]) -> Any:
    return _setop_read(c, argv, "diff")


@command("zunionstore", -4, "write denyoom", group=G, since="2.0.0", keys=_STORE_KEYS, acl=ACL,
         effects=VERBATIM, summary="Stores the union of sorted sets (and sets) in a key.",
         complexity="O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted "
                    "sets, and M being the number of elements in the resulting sorted set.")
def zunionstore(c: Client, argv: list[bytes]) -> Any:
    return _setop_store(c, argv, "union")


@command("zinterstore", -4, "write denyoom", group=G, since="2.0.0", keys=_STORE_KEYS, acl=ACL,
         effects=VERBATIM, summary="Stores the intersection of sorted sets (and sets) in a key.",
         complexity=_INTER_CX)
def zinterstore(c: Client, argv: list[bytes]) -> Any:
    return _setop_store(c, argv, "inter")


@command("zdiffstore", -4, "write denyoom", group=G, since="6.2.0", keys=_STORE_KEYS, acl=ACL,
         effects=VERBATIM, summary="Stores the difference of sorted sets in a key.",
         complexity=_DIFF_CX)
def zdiffstore(c: Client, argv: list[bytes]) -> Any:
    return _setop_store(c, argv, "diff")


@command("zintercard", -3, "readonly", group=G, since="7.0.0", keys=_KEYNUM_RO, acl=ACL,
         summary="Counts the members of the intersection of sorted sets (and sets).",
         complexity="O(N*K) worst case with N being the smallest input sorted set, K being the "
                    "number of input sorted sets.")
def zintercard(c: Client, argv: list[bytes]) -> Any:
    spec = _parse_setop(c, argv, 1, "inter", "zintercard", card=True)
    count = len(combine("inter", spec.inputs, spec.weights, SUM))
    return min(count, spec.limit) if spec.limit else count


# -- popping ---------------------------------------------------------------------------------------


def pop(c: Client, key: bytes, zset: ZSet, count: int, maximum: bool) -> list[tuple[bytes, float]]:
    """Pop up to ``count`` members of the set at ``key`` (lowest or highest scores
    first), deleting the key when it empties. For ZPOPMIN/ZPOPMAX/ZMPOP and the
    blocking variants; the caller logs the effect."""
    popped = zset.pop(count, maximum)
    if popped:
        _remove_if_empty(c, key, zset, b"zpopmax" if maximum else b"zpopmin")
    return popped


def _zpop(c: Client, argv: list[bytes], maximum: bool) -> Any:
    argc = len(argv)
    if argc > 3:
        raise CommandError(errors.SYNTAX)
    count = 1
    if argc == 3:
        value = to_int(argv[2])
        if value is None or value < 0:
            raise CommandError(_POSITIVE)
        count = value
    zset = _write(c, argv[1])
    if zset is None or count == 0:
        return []
    return _popped_reply(c, pop(c, argv[1], zset, count, maximum), argc == 3)


_POP_KEYS = ks("RW ACCESS DELETE")
_POP_CX = ("O(log(N)*M) with N being the number of elements in the sorted set, and M being the "
           "number of elements popped.")


@command("zpopmin", -2, "write fast", group=G, since="5.0.0", keys=_POP_KEYS, acl=ACL,
         effects=VERBATIM, summary="Removes and returns the lowest-scoring members.",
         complexity=_POP_CX)
def zpopmin(c: Client, argv: list[bytes]) -> Any:
    return _zpop(c, argv, False)


@command("zpopmax", -2, "write fast", group=G, since="5.0.0", keys=_POP_KEYS, acl=ACL,
         effects=VERBATIM, summary="Removes and returns the highest-scoring members.",
         complexity=_POP_CX)
def zpopmax(c: Client, argv: list[bytes]) -> Any:
    return _zpop(c, argv, True)


def mpop_reply(c: Client, key: bytes, popped: list[tuple[bytes, float]]) -> list[Any]:
    fmt = _scorer(c)
    return [key, [[member, fmt(score)] for member, score in popped]]


@command("zmpop", -4, "write", group=G, since="7.0.0",
         keys=ks("RW ACCESS DELETE", 1, ("keynum", 0, 1, 1)), acl=ACL, effects=CUSTOM,
         summary="Removes and returns the lowest- or highest-scoring members of the first "
                 "non-empty sorted set.",
         complexity="O(K) + O(M*log(N)) where K is the number of provided keys, N being the "
                    "number of elements in the sorted set, and M being the number of elements "
                    "popped.")
def zmpop(c: Client, argv: list[bytes]) -> Any:
    keys, maximum, count = parse_mpop(argv, 1)
    for key in keys:
        zset = _write(c, key)
        if zset is None:
            continue
        popped = pop(c, key, zset, count, maximum)
        c.db.propagate([b"ZPOPMAX" if maximum else b"ZPOPMIN", key, b"%d" % len(popped)])
        return mpop_reply(c, key, popped)
    return NULL_ARRAY


# -- ZRANDMEMBER ------------------------------------------------------------------------------------


@command("zrandmember", -2, "readonly", group=G, since="6.2.0", keys=_RO, acl=ACL,
         tips="nondeterministic_output",
         summary="Returns random members of a sorted set.",
         complexity="O(N) where N is the number of members returned")
def zrandmember(c: Client, argv: list[bytes]) -> Any:
    argc = len(argv)
    if argc == 2:
        zset = _read(c, argv[1])
        if zset is None:
            return None
        return zset.order[random.randrange(len(zset))][1]
    count = to_int(argv[2])
    if count is None:
        raise CommandError(errors.NOT_INTEGER)
    if count == I64_MIN:
        raise CommandError(_COUNT_RANGE)
    withscores = False
    if argc > 4 or (argc == 4 and argv[3].lower() != b"withscores"):
        raise CommandError(errors.SYNTAX)
    if argc == 4:
        withscores = True
        if count < -_LONG_MAX_HALF or count > _LONG_MAX_HALF:
            raise CommandError(_OUT_OF_RANGE)
    zset = _read(c, argv[1])
    if zset is None or count == 0:
        return []
    order = zset.order
    n = len(order)
    if count < 0:
        if -count > _MAX_REPEATED_PICKS:
            raise CommandError(_OUT_OF_RANGE)
        randrange = random.randrange
        pairs = [order[randrange(n)] for _ in range(-count)]
    elif count >= n:
        pairs = list(reversed(order))  # the whole set, highest score first (as Redis)
    else:
        pairs = [order[i] for i in random.sample(range(n), count)]
    return pairs_reply(c, pairs, withscores)


# -- ZSCAN --------------------------------------------------------------------------------------------


@command("zscan", -3, "readonly", group=G, since="2.8.0", keys=_RO, acl=ACL,
         tips="nondeterministic_output",
         summary="Iterates over the members and scores of a sorted set.",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough "
                    "command calls for the cursor to return back to 0. N is the number of "
                    "elements inside the collection.")
def zscan(c: Client, argv: list[bytes]) -> Any:
    cursor = parse_cursor(argv[2])
    zset = _read(c, argv[1])
    if zset is None:
        return _EMPTY_SCAN
    count, pattern = parse_scan_options(argv, 3)
    match = compile_glob(pattern).match if pattern is not None else None
    out: list[bytes] = []
    if not zset.big:
        # A listpack is returned whole, in order; Redis 7.2 stored each score as
        # d2string text (7.0: "%.17g").
        for score, member in zset.order:
            if match is None or match(member) is not None:
                out.append(member)
                out.append(format_score(score))
        return [b"0", out]
    index = zset.scan_index
    if index is None or len(index) != len(zset):
        index = zset.scan_index = ScanIndex(zset.scores, len(zset))
    following, found = index.scan(cursor, count)
    scores = zset.scores
    for member in found:
        if match is None or match(member) is not None:
            out.append(member)
            # Redis 7.2 formats skiplist scores for ZSCAN with "%.17Lg".
            out.append(format_score_17g(scores[member]))
    return [b"%d" % following, out]
