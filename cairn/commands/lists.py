"""List commands (the non-blocking ones): pushes, pops, ranges, LSET LINSERT LREM
LTRIM LPOS, LMOVE / RPOPLPUSH and LMPOP.

The value is ``cairn.types.list.List``. ``pop``, ``move`` and ``mpop`` are the
pop/move logic shared with the blocking variants (BLPOP, BLMOVE, BLMPOP...):
they look the keys up, check types, delete emptied lists, signal the change
and, on request, log what happened.
"""

from __future__ import annotations

from typing import Any

from cairn.commands import errors
from cairn.commands.args import I64_MIN, to_int
from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.registry import CUSTOM, VERBATIM, command, ks
from cairn.keyspace.notify import GENERIC, LIST, notify
from cairn.protocol import NULL_ARRAY, OK, BulkArray
from cairn.types.list import List

G = "list"
_L = "list"
FILL = "list-max-listpack-size"

LEFT = 0
RIGHT = 1

_RANK_ZERO = (
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
    "or use negative to start from the end of the list"
)
_RANK_RANGE = (
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
)
_MUST_BE_POSITIVE = "ERR value is out of range, must be positive"


def _wrongtype() -> CommandError:
    return CommandError(errors.WRONGTYPE)


def _int(arg: bytes) -> int:
    value = to_int(arg)
    if value is None:
        raise CommandError(errors.NOT_INTEGER)
    return value


def _fill(c: Client) -> int:
    return c.server.config.values[FILL]  # type: ignore[no-any-return]


def parse_where(arg: bytes) -> int:
    """LEFT or RIGHT (any case), else Redis' syntax error."""
    word = arg.lower()
    if word == b"left":
        return LEFT
    if word == b"right":
        return RIGHT
    raise CommandError(errors.SYNTAX)


def _write_list(c: Client, key: bytes) -> Any:
    """The list at key for a write (None when missing), or WRONGTYPE."""
    value = c.db.lookup(key)
    if value is None or type(value) is List:
        return value
    raise _wrongtype()


def _read_list(c: Client, key: bytes) -> Any:
    value = c.db.lookup_read(key)
    if value is None or type(value) is List:
        return value
    raise _wrongtype()


def _removed(c: Client, key: bytes, obj: List, event: bytes) -> None:
    """After elements left ``obj``: delete an emptied list, else try to shrink its
    encoding. Announces ``event`` (then "del" for an emptied list)."""
    db = c.db
    if obj.front or obj.back:
        if not obj.packed:
            obj.shrink(_fill(c))
        db.signal_modified(key)
        if db.events:
            notify(db, LIST, event, key)
    else:
        db.delete(key)
        if db.events:
            notify(db, LIST, event, key)
            notify(db, GENERIC, b"del", key)


# -- shared with the blocking commands -------------------------------------------------


def pop(c: Client, key: bytes, where: int, count: int | None = None,
        propagate: bool = False) -> list[bytes] | None:
    """Pop up to ``count`` elements (one when None) from the LEFT or RIGHT of the list
    at ``key``; None when there is no such key. WRONGTYPE for another type.

    With ``propagate`` the change is logged as ``LPOP key`` / ``RPOP key n`` (n: the
    number popped; no n when ``count`` is None), as Redis logs BLPOP and LMPOP.
    """
    obj = _write_list(c, key)
    if obj is None:
        return None
    return _pop_from(c, key, obj, where, count, propagate)


def _pop_from(c: Client, key: bytes, obj: List, where: int, count: int | None,
              propagate: bool) -> list[bytes]:
    left = where == LEFT
    out = [obj.pop(left)] if count is None else obj.pop_many(left, count)
    _removed(c, key, obj, b"lpop" if left else b"rpop")
    if propagate:
        argv = [b"LPOP" if left else b"RPOP", key]
        if count is not None:
            argv.append(b"%d" % len(out))
        c.db.propagate(argv)
    return out


def move(c: Client, src: bytes, dst: bytes, wherefrom: int, whereto: int,
         propagate: bool = False) -> bytes | None:
    """LMOVE: pop from ``src`` and push onto ``dst``; the element, or None when ``src``
    does not exist. WRONGTYPE if either key holds another type (nothing moves).
    With ``propagate`` the change is logged as ``LMOVE src dst from to``."""
    sobj = _write_list(c, src)
    if sobj is None:
        return None
    db = c.db
    dobj = sobj if dst == src else _write_list(c, dst)
    fill = _fill(c)
    was_packed = sobj.packed
    value = sobj.pop(wherefrom == LEFT)
    # Redis' growth check counts the popped element's string length, except an
    # integer popped from a quicklist: that one comes back as an integer object
    # and counts for nothing.
    raw = len(value)
    if not was_packed and to_int(value) is not None:
        raw = 0
    if dobj is None:
        dobj = List()
        dobj.push_one(value, whereto == LEFT, fill, raw)
        db.set(dst, dobj)
    else:
        dobj.push_one(value, whereto == LEFT, fill, raw)
        db.signal_modified(dst)
    if db.events:
        notify(db, LIST, b"lpush" if whereto == LEFT else b"rpush", dst)
    _removed(c, src, sobj, b"lpop" if wherefrom == LEFT else b"rpop")
    if propagate:
        db.propagate([b"LMOVE", src, dst, b"LEFT" if wherefrom == LEFT else b"RIGHT",
                      b"LEFT" if whereto == LEFT else b"RIGHT"])
    return value


def mpop(c: Client, keys: list[bytes], where: int, count: int) -> list[Any] | None:
    """LMPOP's scan: pop up to ``count`` from the first non-empty list among ``keys``
    and log it as ``LPOP/RPOP key n``; ``[key, [elements]]`` or None when all are
    missing. A key of another type met before a list is WRONGTYPE."""
    for key in keys:
        obj = _write_list(c, key)
        if obj is None:
            continue
        return [key, _pop_from(c, key, obj, where, count, True)]
    return None


def parse_mpop(argv: list[bytes], numkeys_at: int) -> tuple[list[bytes], int, int]:
    """(keys, where, count) of LMPOP / BLMPOP arguments from ``numkeys`` on."""
    numkeys = to_int(argv[numkeys_at])
    if numkeys is None or numkeys < 1:
        raise CommandError("ERR numkeys should be greater than 0")
    where_at = numkeys_at + numkeys + 1
    argc = len(argv)
    if where_at >= argc:
        raise CommandError(errors.SYNTAX)
    where = parse_where(argv[where_at])
    count = -1
    j = where_at + 1
    while j < argc:
        if count == -1 and argv[j].lower() == b"count" and j + 1 < argc:
            j += 1
            count = to_int(argv[j]) or 0
            if count < 1:
                raise CommandError("ERR count should be greater than 0")
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    return argv[numkeys_at + 1 : where_at], where, 1 if count == -1 else count


# -- pushes --------------------------------------------------------------------------


def _push(c: Client, argv: list[bytes], left: bool, existing_only: bool) -> int:
    db = c.db
    key = argv[1]
    obj = db.lookup(key)
    if obj is None:
        if existing_only:
            return 0
        obj = List()
        created = True
    elif type(obj) is not List:
        raise _wrongtype()
    else:
        created = False
    fill = c.server.config.values[FILL]
    if len(argv) == 3:
        value = argv[2]
        obj.push_one(value, left, fill, len(value))
    else:
        obj.push(argv[2:], left, fill)
    if created:
        db.set(key, obj)
    else:
        db.signal_modified(key)
    if db.events:
        notify(db, LIST, b"lpush" if left else b"rpush", key)
    return len(obj)


_PUSH_HISTORY = (("2.4.0", "Accepts multiple `element` arguments."),)
_PUSHX_HISTORY = (("4.0.0", "Accepts multiple `element` arguments."),)
_PUSH_COMPLEXITY = "O(1) for each element added."


@command("lpush", -3, "write denyoom fast", group=G, since="1.0.0", keys=ks("RW INSERT"),
         acl=_L, effects=VERBATIM, history=_PUSH_HISTORY, complexity=_PUSH_COMPLEXITY,
         summary="Adds elements at the head of a list, creating it when missing.")
def lpush(c: Client, argv: list[bytes]) -> Any:
    return _push(c, argv, True, False)


@command("rpush", -3, "write denyoom fast", group=G, since="1.0.0", keys=ks("RW INSERT"),
         acl=_L, effects=VERBATIM, history=_PUSH_HISTORY, complexity=_PUSH_COMPLEXITY,
         summary="Adds elements at the tail of a list, creating it when missing.")
def rpush(c: Client, argv: list[bytes]) -> Any:
    return _push(c, argv, False, False)


@command("lpushx", -3, "write denyoom fast", group=G, since="2.2.0", keys=ks("RW INSERT"),
         acl=_L, effects=VERBATIM, history=_PUSHX_HISTORY, complexity=_PUSH_COMPLEXITY,
         summary="Adds elements at the head of a list, only if the list exists.")
def lpushx(c: Client, argv: list[bytes]) -> Any:
    return _push(c, argv, True, True)


@command("rpushx", -3, "write denyoom fast", group=G, since="2.2.0", keys=ks("RW INSERT"),
         acl=_L, effects=VERBATIM, history=_PUSHX_HISTORY, complexity=_PUSH_COMPLEXITY,
         summary="Adds elements at the tail of a list, only if the list exists.")
def rpushx(c: Client, argv: list[bytes]) -> Any:
    return _push(c, argv, False, True)


# -- pops ----------------------------------------------------------------------------


def _pop_command(c: Client, argv: list[bytes], where: int, name: str) -> Any:
    argc = len(argv)
    if argc == 2:
        out = pop(c, argv[1], where)
        return None if out is None else out[0]
    if argc > 3:
        raise errors.wrong_arity(name)
    count = to_int(argv[2])
    if count is None or count < 0:
        raise CommandError(_MUST_BE_POSITIVE)
    if count == 0:
        obj = _write_list(c, argv[1])
        return NULL_ARRAY if obj is None else []
    out = pop(c, argv[1], where, count)
    return NULL_ARRAY if out is None else out


_POP_HISTORY = (("6.2.0", "Added the `count` argument."),)


@command("lpop", -2, "write fast", group=G, since="1.0.0", keys=ks("RW ACCESS DELETE"),
         acl=_L, effects=VERBATIM, history=_POP_HISTORY,
         complexity="O(N) where N is the number of elements returned",
         summary="Removes and returns elements from the head of a list.")
def lpop(c: Client, argv: list[bytes]) -> Any:
    return _pop_command(c, argv, LEFT, "lpop")


@command("rpop", -2, "write fast", group=G, since="1.0.0", keys=ks("RW ACCESS DELETE"),
         acl=_L, effects=VERBATIM, history=_POP_HISTORY,
         complexity="O(N) where N is the number of elements returned",
         summary="Removes and returns elements from the tail of a list.")
def rpop(c: Client, argv: list[bytes]) -> Any:
    return _pop_command(c, argv, RIGHT, "rpop")


@command("lmpop", -4, "write", group=G, since="7.0.0",
         keys=ks("RW ACCESS DELETE", 1, ("keynum", 0, 1, 1)), acl=_L, effects=CUSTOM,
         complexity="O(N+M): N keys looked at, M elements returned.",
         summary="Pops elements from the first non-empty list among the given keys.")
def lmpop(c: Client, argv: list[bytes]) -> Any:
    keys, where, count = parse_mpop(argv, 1)
    result = mpop(c, keys, where, count)
    return NULL_ARRAY if result is None else result


@command("lmove", 5, "write denyoom", group=G, since="6.2.0",
         keys=(ks("RW ACCESS DELETE"), ks("RW INSERT", 2)), acl=_L, effects=VERBATIM,
         complexity="O(1)",
         summary="Pops an element from one end of a list and pushes it onto an end of another.")
def lmove(c: Client, argv: list[bytes]) -> Any:
    wherefrom = parse_where(argv[3])
    whereto = parse_where(argv[4])
    return move(c, argv[1], argv[2], wherefrom, whereto)


@command("rpoplpush", 3, "write denyoom", group=G, since="1.2.0",
         keys=(ks("RW ACCESS DELETE"), ks("RW INSERT", 2)), acl=_L, effects=VERBATIM,
         doc_flags=("deprecated",), deprecated_since="6.2.0",
         replaced_by="`LMOVE` with the `RIGHT` and `LEFT` arguments", complexity="O(1)",
         summary="Pops the last element of a list and pushes it at the head of another.")
def rpoplpush(c: Client, argv: list[bytes]) -> Any:
    return move(c, argv[1], argv[2], RIGHT, LEFT)


# -- reads ---------------------------------------------------------------------------


@command("llen", 2, "readonly fast", group=G, since="1.0.0", keys=ks("RO"), acl=_L,
         complexity="O(1)", summary="Returns the number of elements of a list.")
def llen(c: Client, argv: list[bytes]) -> Any:
    obj = _read_list(c, argv[1])
    return 0 if obj is None else len(obj)


@command("lrange", 4, "readonly", group=G, since="1.0.0", keys=ks("RO ACCESS"), acl=_L,
         complexity="O(S+N): S the distance of start from the nearer end, N elements returned.",
         summary="Returns a range of elements of a list.")
def lrange(c: Client, argv: list[bytes]) -> Any:
    start = _int(argv[2])
    end = _int(argv[3])
    obj = _read_list(c, argv[1])
    if obj is None:
        return []
    n = len(obj)
    if start < 0:
        start += n
        if start < 0:
            start = 0
    if end < 0:
        end += n
    if start > end or start >= n:
        return []
    if end >= n:
        end = n - 1
    items = obj.range(start, end)
    # Long replies are encoded in one C call (every element is bytes).
    return BulkArray(items) if len(items) > 8 else items


@command("lindex", 3, "readonly", group=G, since="1.0.0", keys=ks("RO ACCESS"), acl=_L,
         complexity="O(N) to walk to the index; O(1) at either end.",
         summary="Returns the element at an index of a list.")
def lindex(c: Client, argv: list[bytes]) -> Any:
    obj = _read_list(c, argv[1])
    if obj is None:
        return None
    index = _int(argv[2])
    n = len(obj)
    if index < 0:
        index += n
    if 0 <= index < n:
        return obj.get(index)
    return None


@command("lpos", -3, "readonly", group=G, since="6.0.6", keys=ks("RO ACCESS"), acl=_L,
         complexity="O(N) in the worst case; less near the head, the tail or with MAXLEN.",
         summary="Returns the positions of matching elements of a list.")
def lpos(c: Client, argv: list[bytes]) -> Any:
    rank, count, maxlen = 1, -1, 0
    argc = len(argv)
    j = 3
    while j < argc:
        opt = argv[j].lower()
        more = j + 1 < argc
        if opt == b"rank" and more:
            j += 1
            rank = _int(argv[j])
            # Redis 7.2 refuses LONG_MIN (7.0 took it as -1).
            if rank == I64_MIN:
                raise CommandError(_RANK_RANGE)
            if rank == 0:
                raise CommandError(_RANK_ZERO)
        elif opt == b"count" and more:
            j += 1
            value = to_int(argv[j])
            if value is None or value < 0:
                raise CommandError("ERR COUNT can't be negative")
            count = value
        elif opt == b"maxlen" and more:
            j += 1
            value = to_int(argv[j])
            if value is None or value < 0:
                raise CommandError("ERR MAXLEN can't be negative")
            maxlen = value
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    obj = _read_list(c, argv[1])
    if obj is None:
        return None if count == -1 else []
    if count == -1:
        found = obj.positions(argv[2], rank, 1, maxlen)
        return found[0] if found else None
    return obj.positions(argv[2], rank, count, maxlen)


# -- changes in the middle -----------------------------------------------------------


@command("lset", 4, "write denyoom", group=G, since="1.0.0", keys=ks("RW UPDATE"), acl=_L,
         effects=VERBATIM, complexity="O(N) to walk to the index; O(1) at either end.",
         summary="Sets the element at an index of a list.")
def lset(c: Client, argv: list[bytes]) -> Any:
    key = argv[1]
    obj = _write_list(c, key)
    if obj is None:
        raise CommandError(errors.NO_SUCH_KEY)
    index = _int(argv[2])
    value = argv[3]
    fill = _fill(c)
    # Like Redis 7.2, the growth check runs before the index is checked.
    obj.grow(fill, len(value), 1)
    n = len(obj)
    if index < 0:
        index += n
    if not 0 <= index < n:
        raise CommandError("ERR index out of range")
    obj.set(index, value)
    obj.shrink(fill)
    db = c.db
    db.signal_modified(key)
    if db.events:
        notify(db, LIST, b"lset", key)
    return OK


@command("linsert", 5, "write denyoom", group=G, since="2.2.0", keys=ks("RW INSERT"),
         acl=_L, effects=VERBATIM, complexity="O(N) to find the pivot.",
         summary="Inserts an element before or after another element of a list.")
def linsert(c: Client, argv: list[bytes]) -> Any:
    where = argv[2].lower()
    if where == b"after":
        after = True
    elif where == b"before":
        after = False
    else:
        raise CommandError(errors.SYNTAX)
    key = argv[1]
    obj = _write_list(c, key)
    if obj is None:
        return 0
    value = argv[4]
    # Like Redis 7.2, the growth check runs before the pivot is searched for.
    obj.grow(_fill(c), len(value), 1)
    try:
        index = obj.index(argv[3])
    except ValueError:
        return -1
    obj.insert(index + 1 if after else index, value)
    db = c.db
    db.signal_modified(key)
    if db.events:
        notify(db, LIST, b"linsert", key)
    return len(obj)


@command("lrem", 4, "write", group=G, since="1.0.0", keys=ks("RW DELETE"), acl=_L,
         effects=VERBATIM, complexity="O(N+M): N the list's length, M elements removed.",
         summary="Removes occurrences of an element from a list.")
def lrem(c: Client, argv: list[bytes]) -> Any:
    count = _int(argv[2])
    key = argv[1]
    obj = _write_list(c, key)
    if obj is None:
        return 0
    removed = obj.remove(argv[3], count)
    if removed:
        _removed(c, key, obj, b"lrem")
    return removed


@command("ltrim", 4, "write", group=G, since="1.0.0", keys=ks("RW DELETE"), acl=_L,
         effects=VERBATIM, complexity="O(N): N elements removed.",
         summary="Keeps only a range of elements of a list, removing the others.")
def ltrim(c: Client, argv: list[bytes]) -> Any:
    start = _int(argv[2])
    end = _int(argv[3])
    key = argv[1]
    obj = _write_list(c, key)
    if obj is None:
        return OK
    n = len(obj)
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        left, right = n, 0
    else:
        if end >= n:
            end = n - 1
        left, right = start, n - end - 1
    if left or right:
        obj.trim(left, right)
    # Redis signals the key (WATCH) even when nothing was trimmed.
    _removed(c, key, obj, b"ltrim")
    return OK
