"""SORT and SORT_RO: sort a list, set or sorted set, optionally by external keys.

Redis' rules, step by step:

- Options parse left to right (ASC, DESC, ALPHA, LIMIT offset count, BY pattern,
  GET pattern, STORE dest for SORT only); a syntax error beats WRONGTYPE.
- ``BY`` with a pattern holding no ``*`` (``BY nosort``) means "don't sort":
  lists and sorted sets keep their own order (reversed by DESC, LIMIT applied
  directly); a set keeps its iteration order, except with STORE, where the
  result is sorted ALPHA so it is the same everywhere.
- Patterns: ``#`` is the element itself; the first ``*`` is replaced by the
  element; ``key->field`` (a ``->`` after the ``*``) reads a hash field. A
  missing key, a key of another type or a missing field counts as no value:
  it sorts as 0 (numeric), first (ALPHA), and GET answers nil (an empty
  string in a STORE).
- Numeric sorting reads every value with C's strtod (leading blanks, hex,
  ``inf`` are accepted; trailing garbage, NaN, overflow and underflow are
  "ERR One or more scores can't be converted into double"); equal scores are
  ordered by the elements' bytes. ALPHA compares bytes (Redis' strcoll in the
  C / C.UTF-8 locale; up to a NUL byte when not storing, as strcoll stops
  there). Equal ALPHA keys keep the input order (glibc's qsort is a stable
  merge sort); with BY and a LIMIT, Redis' partial quicksort is used, as Redis
  does, so ties land where Redis puts them.
- Like Redis, sorting a listpack-encoded sorted set converts it to a skiplist.

Effects: SORT ... STORE logs ``DEL dest`` + ``RPUSH dest <elements>`` (the order
of a set's members may differ between servers), or ``DEL dest`` when the result
is empty and dest existed.
"""

from __future__ import annotations

import ctypes
import errno
import re
from collections.abc import Callable
from typing import Any

from cairn.commands import errors
from cairn.commands.args import to_float, to_int
from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.registry import CUSTOM, UNKNOWN_BEGIN, UNKNOWN_FIND, KeySpec, command, ks
from cairn.keyspace import Database
from cairn.keyspace.notify import GENERIC, LIST, notify
from cairn.types.geohash import pqsort
from cairn.types.hash import Hash
from cairn.types.list import List
from cairn.types.set import RedisSet
from cairn.types.zset import ZSet

G = "generic"
ACL = "set sortedset list dangerous"
_NOT_DOUBLE = "ERR One or more scores can't be converted into double"
_BY_GET_NOTES = ("For the optional BY/GET keyword. It is marked 'unknown' because the key names "
                 "derive from the content of the key we sort")
_STORE_NOTES = ("For the optional STORE keyword. It is marked 'unknown' because the keyword can "
                "appear anywhere in the argument array")

# -- strtod --------------------------------------------------------------------------------

_SIMPLE_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DBL_MIN = 2.2250738585072014e-308


def _load_strtod() -> Callable[[bytes], float | None] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        strtod = libc.strtod
    except (OSError, AttributeError):  # pragma: no cover - not glibc-like
        return None
    strtod.restype = ctypes.c_double
    strtod.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]

    def c_strtod(value: bytes) -> float | None:
        buf = ctypes.create_string_buffer(value)
        end = ctypes.c_char_p()
        ctypes.set_errno(0)
        result = float(strtod(buf, ctypes.byref(end)))
        failed = ctypes.get_errno() == errno.ERANGE
        address = ctypes.cast(end, ctypes.c_void_p).value or 0
        stop = address - ctypes.addressof(buf)
        if failed or buf.raw[stop] != 0 or result != result:
            return None
        return result

    return c_strtod


_C_STRTOD = _load_strtod()


def sort_score(value: bytes) -> float | None:
    """The double SORT reads from a value (C strtod, whole string), or None
    when Redis reports it can't be converted."""
    if _SIMPLE_NUMBER.fullmatch(value):
        result = float(value)
        if _DBL_MIN <= abs(result) < float("inf"):
            return result
        if result == 0.0 and not value.split(b"e")[0].split(b"E")[0].strip(b"+-0."):
            return result
    if _C_STRTOD is not None:
        return _C_STRTOD(value)
    return to_float(value)  # pragma: no cover


# -- patterns -----------------------------------------------------------------------------------


def lookup_by_pattern(db: Database, pattern: bytes, element: bytes) -> bytes | None:
    """The value a BY / GET pattern names for an element (Redis' lookupKeyByPattern)."""
    if pattern == b"#" or pattern[:2] == b"#\0":
        return element
    text = pattern.split(b"\0", 1)[0]  # Redis searches the pattern as a C string
    star = text.find(b"*")
    if star < 0:
        return None
    arrow = text.find(b"->", star + 1)
    field: bytes | None = None
    if arrow >= 0 and arrow + 2 < len(text):
        field = pattern[arrow + 2:]
        key = pattern[:star] + element + pattern[star + 1:arrow]
    else:
        key = pattern[:star] + element + pattern[star + 1:]
    value = db.lookup_read(key)
    if value is None:
        return None
    if field is not None:
        if not isinstance(value, Hash):
            return None
        found = value.get(field)
        return None if found is None else bytes(found)
    t = type(value)
    if t is bytes:
        return value  # type: ignore[no-any-return]
    if t is bytearray:
        return bytes(value)
    return None


# -- the command ---------------------------------------------------------------------------------


def _cstr(value: bytes) -> bytes:
    nul = value.find(b"\0")
    return value if nul < 0 else value[:nul]


def _sort(c: Client, argv: list[bytes], readonly: bool) -> Any:
    argc = len(argv)
    desc = alpha = dontsort = False
    limit_start, limit_count = 0, -1
    storekey: bytes | None = None
    sortby: bytes | None = None
    gets: list[bytes] = []
    j = 2
    while j < argc:
        left = argc - j - 1
        arg = argv[j].lower()
        if arg == b"asc":
            desc = False
        elif arg == b"desc":
            desc = True
        elif arg == b"alpha":
            alpha = True
        elif arg == b"limit" and left >= 2:
            first, count = to_int(argv[j + 1]), to_int(argv[j + 2])
            if first is None or count is None:
                raise CommandError(errors.NOT_INTEGER)
            limit_start, limit_count = first, count
            j += 2
        elif not readonly and arg == b"store" and left >= 1:
            storekey = argv[j + 1]
            j += 1
        elif arg == b"by" and left >= 1:
            sortby = argv[j + 1]
            if b"*" not in _cstr(sortby):
                dontsort = True  # (a later BY with a '*' does not undo it, as in Redis)
            j += 1
        elif arg == b"get" and left >= 1:
            gets.append(argv[j + 1])
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1

    db = c.db
    value = db.lookup_read(argv[1])
    t = type(value)
    if value is not None and t is not List and t is not RedisSet and t is not ZSet:
        raise CommandError(errors.WRONGTYPE)
    if value is None:
        value = List()
        t = List
    if dontsort and t is RedisSet and storekey is not None:
        dontsort, alpha, sortby = False, True, None
    if t is ZSet:
        value.big = True  # Redis converts a listpack-encoded set before sorting it

    length = len(value)
    start = limit_start if limit_start > 0 else 0
    end = length - 1 if limit_count < 0 else start + limit_count - 1
    if start >= length:
        start, end = length - 1, length - 2
    if end >= length:
        end = length - 1

    if dontsort and t is not RedisSet:
        # The list's / sorted set's own order, LIMIT applied directly.
        if end >= start:
            if t is List:
                items = value.flat()
            else:
                items = [member for _score, member in value.order]
            if desc:
                top = length - 1 - start
                vector = items[top - (end - start):top + 1]
                vector.reverse()
            else:
                vector = items[start:end + 1]
            end -= start
            start = 0
        else:
            vector = []
    elif t is List:
        vector = list(value)
    elif t is RedisSet:
        vector = value.ordered()
    else:
        vector = [member for _score, member in value.order]

    if not dontsort:
        vector = _sorted(db, vector, sortby, alpha, desc, storekey is not None, start, end)

    count = end - start + 1 if end >= start else 0
    chosen = vector[start:start + count] if count else []
    if storekey is None:
        if not gets:
            return chosen
        out: list[Any] = []
        for element in chosen:
            for pattern in gets:
                out.append(lookup_by_pattern(db, pattern, element))
        return out

    if gets:
        stored: list[bytes] = []
        for element in chosen:
            for pattern in gets:
                found = lookup_by_pattern(db, pattern, element)
                stored.append(b"" if found is None else found)
    else:
        stored = list(chosen)
    if stored:
        result = List()
        result.push(stored, False, c.server.config["list-max-listpack-size"])
        db.set(storekey, result)
        db.propagate([b"DEL", storekey])
        db.propagate([b"RPUSH", storekey, *stored])
        if db.events:
            notify(db, LIST, b"sortstore", storekey)
    elif db.delete(storekey):
        db.propagate([b"DEL", storekey])
        if db.events:
            notify(db, GENERIC, b"del", storekey)
    return len(stored)


def _sorted(db: Database, vector: list[bytes], sortby: bytes | None, alpha: bool, desc: bool,
            store: bool, start: int, end: int) -> list[bytes]:
    """The elements in SORT's order (only start..end must be right when a
    partial sort applies); raises the conversion error of numeric sorting."""
    entries: list[tuple[Any, bytes]] = []
    if alpha:
        for element in vector:
            if sortby is not None:
                by = lookup_by_pattern(db, sortby, element)
                if by is None:
                    key: Any = (0, b"")
                else:
                    key = (1, by if store else _cstr(by))
            else:
                key = element if store else _cstr(element)
            entries.append((key, element))
    else:
        bad = False
        for element in vector:
            by = element if sortby is None else lookup_by_pattern(db, sortby, element)
            score = 0.0
            if by is not None:
                parsed = sort_score(by)
                if parsed is None:
                    bad = True
                else:
                    score = parsed
            entries.append(((score, element), element))
        if bad:
            raise CommandError(_NOT_DOUBLE)
    n = len(entries)
    # Redis sorts only the LIMIT range (a partial quicksort) when sorting BY a
    # pattern. That only changes the output when keys tie, which numeric keys
    # never do (ties are broken by the element) and ALPHA keys may.
    if (alpha and sortby is not None and (start != 0 or end != n - 1) and n > 1
            and len({key for key, _element in entries}) < n):
        pqsort(entries, _cmp_desc if desc else _cmp_asc, start, end)
    else:
        entries.sort(key=_first, reverse=desc)
    return [element for _key, element in entries]


def _first(entry: tuple[Any, bytes]) -> Any:
    return entry[0]


def _cmp_asc(a: tuple[Any, bytes], b: tuple[Any, bytes]) -> int:
    x, y = a[0], b[0]
    return -1 if x < y else (1 if x > y else 0)


def _cmp_desc(a: tuple[Any, bytes], b: tuple[Any, bytes]) -> int:
    return -_cmp_asc(a, b)


_SORT_COMPLEXITY = ("O(N+M*log(M)) where N is the number of elements in the list or set to sort, "
                    "and M the number of returned elements. When the elements are not sorted, "
                    "complexity is O(N).")


@command("sort", -2, "write denyoom", group=G, since="1.0.0",
         keys=(ks("RO ACCESS"),
               KeySpec(("RO", "ACCESS"), UNKNOWN_BEGIN, UNKNOWN_FIND, _BY_GET_NOTES),
               KeySpec(("OW", "UPDATE"), UNKNOWN_BEGIN, UNKNOWN_FIND, _STORE_NOTES)),
         acl=ACL, effects=CUSTOM,
         summary="Sorts the elements of a list, set or sorted set, optionally storing the result.",
         complexity=_SORT_COMPLEXITY)
def sort(c: Client, argv: list[bytes]) -> Any:
    return _sort(c, argv, False)


@command("sort_ro", -2, "readonly", group=G, since="7.0.0",
         keys=(ks("RO ACCESS"),
               KeySpec(("RO", "ACCESS"), UNKNOWN_BEGIN, UNKNOWN_FIND, _BY_GET_NOTES)),
         acl=ACL, summary="Sorts the elements of a list, set or sorted set (read-only).",
         complexity=_SORT_COMPLEXITY)
def sort_ro(c: Client, argv: list[bytes]) -> Any:
    return _sort(c, argv, True)
