"""Geo commands: GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH[STORE], GEORADIUS*.

A geo set is a sorted set (``cairn.types.zset.ZSet``; TYPE says "zset") whose
scores are 52-bit geohashes; the math is in ``cairn.types.geohash``.

Replies follow Redis: distances are bulk strings with 4 decimals in both
protocols (7.2's rounding, see ``_distance_reply``); coordinates are printed
with 17 decimals and the trailing zeros removed (Redis' "human" long double
format), as bulk strings in RESP2 and as doubles carrying that same text in
RESP3 (``DoubleText``); hashes are integers.

Searches return members in Redis' order: unsorted results come in the order
the 9 cells are scanned (centre, N, S, E, W, NE, NW, SE, SW; by score inside a
cell); ASC / DESC is a stable sort by distance, and a COUNT below the number of
matches uses Redis' partial quicksort so ties come out as Redis has them.

Effects: GEOADD is logged as the ZADD it amounts to (as Redis propagates it);
the STORE forms are deterministic given the data and are logged verbatim.
"""

from __future__ import annotations

import math
from typing import Any

from cairn.commands import errors
from cairn.commands.args import to_float, to_int
from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.registry import CUSTOM, VERBATIM, command, ks
from cairn.commands.zsets import zadd
from cairn.keyspace.notify import GENERIC, ZSET, notify
from cairn.protocol import NULL_ARRAY
from cairn.protocol.replies import DoubleText
from cairn.types import geohash
from cairn.types.geohash import Shape
from cairn.types.zset import ZSet, fits_listpack

G = "geo"
ACL = "geo"
_RO = ks("RO ACCESS")

_UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}


def _wrongtype() -> CommandError:
    return CommandError(errors.WRONGTYPE)


def _read(c: Client, key: bytes) -> ZSet | None:
    value = c.db.lookup_read(key)
    if value is None or type(value) is ZSet:
        return value
    raise _wrongtype()


def _double(arg: bytes, message: str = errors.NOT_FLOAT) -> float:
    """Redis' getDoubleFromObject: strtod over the whole argument, no leading
    space, no NaN, no overflow to infinity nor underflow to zero."""
    value = to_float(arg)
    if value is None:
        raise CommandError(message)
    if value in (math.inf, -math.inf):
        if b"inf" not in arg.lower():
            raise CommandError(message)
    elif value == 0.0 and _has_nonzero_digit(arg):
        raise CommandError(message)
    return value


def _has_nonzero_digit(arg: bytes) -> bool:
    text = arg.lower().lstrip(b"+-")
    if text.startswith(b"0x"):
        mantissa = text[2:].split(b"p", 1)[0]
    else:
        mantissa = text.split(b"e", 1)[0]
    return any(ch not in b"0." for ch in mantissa)


def _unit(arg: bytes) -> float:
    factor = _UNITS.get(arg.split(b"\0", 1)[0].lower())
    if factor is None:
        raise CommandError("ERR unsupported unit provided. please use M, KM, FT, MI")
    return factor


def _lonlat(lon_arg: bytes, lat_arg: bytes) -> tuple[float, float]:
    lon = _double(lon_arg)
    lat = _double(lat_arg)
    if (lon < geohash.LON_MIN or lon > geohash.LON_MAX
            or lat < geohash.LAT_MIN or lat > geohash.LAT_MAX):
        raise CommandError(f"ERR invalid longitude,latitude pair {lon:f},{lat:f}")
    return lon, lat


def _radius(value_arg: bytes, unit_arg: bytes) -> tuple[float, float]:
    radius = _double(value_arg, "ERR need numeric radius")
    if radius < 0:
        raise CommandError("ERR radius cannot be negative")
    return radius, _unit(unit_arg)


def _box(width_arg: bytes, height_arg: bytes, unit_arg: bytes) -> tuple[float, float, float]:
    width = _double(width_arg, "ERR need numeric width")
    height = _double(height_arg, "ERR need numeric height")
    if height < 0 or width < 0:
        raise CommandError("ERR height or width cannot be negative")
    return width, height, _unit(unit_arg)


def _member_position(zset: ZSet, member: bytes) -> tuple[float, float]:
    score = zset.scores.get(member)
    if score is None:
        raise CommandError("ERR could not decode requested zset member")
    return geohash.decode(score)


def human_coordinate(value: float) -> bytes:
    """Redis' "%.17Lf" with trailing zeros (and a trailing dot) removed."""
    text = b"%.17f" % value
    text = text.rstrip(b"0")
    if text.endswith(b"."):
        text = text[:-1]
    return b"0" if text == b"-0" else text


# Redis writes coordinates as the same human text in both protocols: a bulk
# string in RESP2, a RESP3 double (",13.36138933897018433").
def coordinate(resp: int, value: float) -> Any:
    """A coordinate as a reply value."""
    return DoubleText(human_coordinate(value))


def _hash_integer(score: float) -> int:
    """The score as the integer WITHHASH reports ((long long) cast in C)."""
    if -9.223372036854775808e18 <= score < 9.223372036854775808e18:
        return int(score)
    return -(2**63)


def _distance_reply(value: float) -> bytes:
    """A distance with 4 decimals, as Redis 7.2 writes it: the value times 10**4
    rounded to an integer (half to even), then split at the 4th digit. (7.0 used
    "%.4f", which can differ in the last digit for values near a half.)"""
    if value == 0:
        return b"0.0000"
    product = value * 10000.0
    # llrint: half to even; NaN and out-of-range values give LLONG_MIN.
    scaled = round(product) if abs(product) < 9.223372036854775807e18 else -(2**63)
    sign = b"-" if scaled < 0 else b""
    scaled = abs(scaled)
    return b"%s%d.%04d" % (sign, scaled // 10000, scaled % 10000)


# -- GEOADD ---------------------------------------------------------------------------------


@command("geoadd", -5, "write denyoom", group=G, since="3.2.0", keys=ks("RW UPDATE"), acl=ACL,
         effects=CUSTOM, history=(("6.2.0", "Added the `CH`, `NX` and `XX` options."),),
         summary="Adds members with longitude/latitude positions to a geo set (a sorted set).",
         complexity="O(log(N)) for each item added, where N is the number of elements in the "
                    "sorted set.")
def geoadd(c: Client, argv: list[bytes]) -> Any:
    argc = len(argv)
    nx = xx = False
    first = 2
    while first < argc:
        opt = argv[first].lower()
        if opt == b"nx":
            nx = True
        elif opt == b"xx":
            xx = True
        elif opt != b"ch":
            break
        first += 1
    if (argc - first) % 3 or (nx and xx):
        raise CommandError(errors.SYNTAX)
    zargv = [b"ZADD", *argv[1:first]]
    for i in range(first, argc, 3):
        lon, lat = _lonlat(argv[i], argv[i + 1])
        zargv.append(b"%d" % (geohash.score_of(lon, lat) or 0))
        zargv.append(argv[i + 2])
    keyspace = c.server.keyspace
    before = keyspace.dirty
    reply = zadd(c, zargv)
    if keyspace.dirty != before:
        c.db.propagate(zargv)
    return reply


# -- GEODIST / GEOHASH / GEOPOS --------------------------------------------------------------


@command("geodist", -4, "readonly", group=G, since="3.2.0", keys=_RO, acl=ACL,
         summary="Returns the distance between two members of a geo set.",
         complexity="O(1)")
def geodist(c: Client, argv: list[bytes]) -> Any:
    to_meter = 1.0
    if len(argv) == 5:
        to_meter = _unit(argv[4])
    elif len(argv) > 5:
        raise CommandError(errors.SYNTAX)
    zset = _read(c, argv[1])
    if zset is None:
        return None
    scores = zset.scores
    first = scores.get(argv[2])
    second = scores.get(argv[3])
    if first is None or second is None:
        return None
    lon1, lat1 = geohash.decode(first)
    lon2, lat2 = geohash.decode(second)
    return _distance_reply(geohash.distance(lon1, lat1, lon2, lat2) / to_meter)


@command("geohash", -2, "readonly", group=G, since="3.2.0", keys=_RO, acl=ACL,
         summary="Returns members of a geo set as standard geohash strings.",
         complexity="O(1) for each member requested.")
def geohash_command(c: Client, argv: list[bytes]) -> Any:
    zset = _read(c, argv[1])
    if zset is None:
        return [None] * (len(argv) - 2)
    scores = zset.scores
    out: list[Any] = []
    for member in argv[2:]:
        score = scores.get(member)
        out.append(None if score is None else geohash.geohash_string(score))
    return out


@command("geopos", -2, "readonly", group=G, since="3.2.0", keys=_RO, acl=ACL,
         summary="Returns the longitude and latitude of members of a geo set.",
         complexity="O(1) for each member requested.")
def geopos(c: Client, argv: list[bytes]) -> Any:
    zset = _read(c, argv[1])
    if zset is None:
        return [NULL_ARRAY] * (len(argv) - 2)
    scores = zset.scores
    out: list[Any] = []
    for member in argv[2:]:
        score = scores.get(member)
        if score is None:
            out.append(NULL_ARRAY)
        else:
            lon, lat = geohash.decode(score)
            out.append([coordinate(c.resp, lon), coordinate(c.resp, lat)])
    return out


# -- searches -----------------------------------------------------------------------------------

# Kinds of search command (Redis' flags).
_COORDS = 1  # GEORADIUS: lon lat radius unit
_MEMBER = 2  # GEORADIUSBYMEMBER: member radius unit
_SEARCH = 4  # GEOSEARCH: FROM... BY...
_STORE = 8  # GEOSEARCHSTORE
_NOSTORE = 16  # the _RO variants

_ASC, _DESC = 1, 2


def find_points(zset: ZSet, shape: Shape, limit: int = 0) -> list[list[Any]]:
    """[distance (m), score, member, lon, lat] of the members inside the shape,
    in Redis' scan order; with ``limit`` stop once that many are found."""
    found: list[list[Any]] = []
    decode = geohash.decode
    within = shape.within
    for cell in geohash.cells_to_scan(geohash.search_cells(shape)):
        if limit and len(found) >= limit:
            break
        low, high = geohash.cell_scores(cell)
        lo, hi = zset.score_span(float(low), False, float(high), True)
        if lo >= hi:
            continue
        for score, member in zset.order.islice(lo, hi):
            lon, lat = decode(score)
            dist = within(lon, lat)
            if dist is not None:
                found.append([dist, score, member, lon, lat])
                if limit and len(found) >= limit:
                    break
    return found


def _cmp_asc(a: list[Any], b: list[Any]) -> int:
    return 1 if a[0] > b[0] else (0 if a[0] == b[0] else -1)


def _cmp_desc(a: list[Any], b: list[Any]) -> int:
    return -_cmp_asc(a, b)


def order_points(points: list[list[Any]], sort: int, count: int) -> None:
    """Sort in place as Redis does: a stable sort by distance when every result
    is returned, else its partial quicksort of the first ``count``."""
    n = len(points)
    if n < 2:
        return
    if count >= n:
        points.sort(key=lambda p: p[0], reverse=sort == _DESC)
        return
    if len({p[0] for p in points}) == n:
        # Distinct distances: the first ``count`` are the same whatever the method.
        points.sort(key=lambda p: p[0], reverse=sort == _DESC)
        return
    geohash.pqsort(points, _cmp_desc if sort == _DESC else _cmp_asc, 0, count - 1)


def _search(c: Client, argv: list[bytes], kind: int) -> Any:
    src_index = 2 if kind & _STORE else 1
    zset = _read(c, argv[src_index])
    argc = len(argv)
    storekey: bytes | None = argv[1] if kind & _STORE else None
    storedist = False
    lon = lat = 0.0
    radius = width = height = 0.0
    unit = 1.0
    box = False
    if kind & _COORDS:
        base = 6
        lon, lat = _lonlat(argv[2], argv[3])
        radius, unit = _radius(argv[4], argv[5])
    elif kind & _MEMBER:
        base = 5
        if zset is not None:
            lon, lat = _member_position(zset, argv[2])
            radius, unit = _radius(argv[3], argv[4])
    else:
        base = 3 if kind & _STORE else 2
    withdist = withhash = withcoord = anyflag = False
    frommember = fromloc = byradius = bybox = False
    sort = 0
    count = 0
    remaining = argc - base
    i = 0
    while i < remaining:
        arg = argv[base + i].lower()
        if arg == b"withdist":
            withdist = True
        elif arg == b"withhash":
            withhash = True
        elif arg == b"withcoord":
            withcoord = True
        elif arg == b"any":
            anyflag = True
        elif arg == b"asc":
            sort = _ASC
        elif arg == b"desc":
            sort = _DESC
        elif arg == b"count" and i + 1 < remaining:
            value = to_int(argv[base + i + 1])
            if value is None:
                raise CommandError(errors.NOT_INTEGER)
            if value <= 0:
                raise CommandError("ERR COUNT must be > 0")
            count = value
            i += 1
        elif (arg in (b"store", b"storedist") and i + 1 < remaining
              and not kind & (_NOSTORE | _SEARCH)):
            storekey = argv[base + i + 1]
            storedist = arg == b"storedist"
            i += 1
        elif arg == b"storedist" and kind & _SEARCH and kind & _STORE:
            storedist = True
        elif arg == b"frommember" and i + 1 < remaining and kind & _SEARCH and not fromloc:
            if zset is not None:
                lon, lat = _member_position(zset, argv[base + i + 1])
            frommember = True
            i += 1
        elif arg == b"fromlonlat" and i + 2 < remaining and kind & _SEARCH and not frommember:
            lon, lat = _lonlat(argv[base + i + 1], argv[base + i + 2])
            fromloc = True
            i += 2
        elif arg == b"byradius" and i + 2 < remaining and kind & _SEARCH and not bybox:
            radius, unit = _radius(argv[base + i + 1], argv[base + i + 2])
            box = False
            byradius = True
            i += 2
        elif arg == b"bybox" and i + 3 < remaining and kind & _SEARCH and not byradius:
            width, height, unit = _box(argv[base + i + 1], argv[base + i + 2], argv[base + i + 3])
            box = True
            bybox = True
            i += 3
        else:
            raise CommandError(errors.SYNTAX)
        i += 1

    if storekey is not None and (withdist or withhash or withcoord):
        what = "GEOSEARCHSTORE" if kind & _STORE else "STORE option in GEORADIUS"
        raise CommandError(f"ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
    name = argv[0].decode("utf-8", "surrogateescape")
    if kind & _SEARCH and not (frommember or fromloc):
        raise CommandError(f"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")
    if kind & _SEARCH and not (byradius or bybox):
        raise CommandError(f"ERR exactly one of BYRADIUS and BYBOX can be specified for {name}")
    if anyflag and not count:
        raise CommandError("ERR the ANY argument requires COUNT argument")

    db = c.db
    if zset is None:
        if storekey is not None:
            if db.delete(storekey) and db.events:
                notify(db, GENERIC, b"del", storekey)
            return 0
        return []
    if count and not sort and not anyflag:
        sort = _ASC

    shape = Shape(lon, lat, unit, radius, width, height, box)
    points = find_points(zset, shape, count if anyflag else 0)
    if not points and storekey is None:
        return []
    returned = len(points) if not count or len(points) < count else count
    if sort:
        order_points(points, sort, returned)

    if storekey is None:
        with_any = withdist or withhash or withcoord
        out: list[Any] = []
        resp = c.resp
        for dist, score, member, plon, plat in points[:returned]:
            if not with_any:
                out.append(member)
                continue
            item: list[Any] = [member]
            if withdist:
                item.append(_distance_reply(dist / unit))
            if withhash:
                item.append(_hash_integer(score))
            if withcoord:
                item.append([coordinate(resp, plon), coordinate(resp, plat)])
            out.append(item)
        return out

    if not returned:
        if db.delete(storekey) and db.events:
            notify(db, GENERIC, b"del", storekey)
        return 0
    chosen = points[:returned]
    maxlen = max(len(p[2]) for p in chosen)
    result = ZSet(not fits_listpack(c.server.config, returned, maxlen))
    for dist, score, member, _plon, _plat in chosen:
        result.set(member, dist / unit if storedist else score)
    db.set(storekey, result)
    if db.events:
        notify(db, ZSET, b"geosearchstore" if kind & _SEARCH else b"georadiusstore", storekey)
    return returned


_RADIUS_SUMMARY = "Queries a geo set for members within a distance of a point"
_DEPRECATED = ("deprecated",)
_COMPLEXITY = ("O(N+log(M)) where N is the number of elements inside the bounding box of the "
               "circular area delimited by center and radius and M is the number of items "
               "inside the index.")


@command("georadius", -6, "write denyoom", group=G, since="3.2.0",
         keys=(_RO, ks("OW UPDATE", ("keyword", "STORE", 6)),
               ks("OW UPDATE", ("keyword", "STOREDIST", 6))),
         acl=ACL, effects=VERBATIM, doc_flags=_DEPRECATED, deprecated_since="6.2.0",
         replaced_by="`GEOSEARCH` and `GEOSEARCHSTORE` with the `BYRADIUS` argument",
         history=(("6.2.0", "Added the `ANY` option for `COUNT`."),
                  ("7.0.0", "Added support for uppercase unit names.")),
         summary=_RADIUS_SUMMARY + ", optionally storing the result.", complexity=_COMPLEXITY)
def georadius(c: Client, argv: list[bytes]) -> Any:
    return _search(c, argv, _COORDS)


@command("georadius_ro", -6, "readonly", group=G, since="3.2.10", keys=_RO, acl=ACL,
         doc_flags=_DEPRECATED, deprecated_since="6.2.0",
         replaced_by="`GEOSEARCH` with the `BYRADIUS` argument",
         history=(("6.2.0", "Added the `ANY` option for `COUNT`."),),
         summary=_RADIUS_SUMMARY + " (read-only).", complexity=_COMPLEXITY)
def georadius_ro(c: Client, argv: list[bytes]) -> Any:
    return _search(c, argv, _COORDS | _NOSTORE)


@command("georadiusbymember", -5, "write denyoom", group=G, since="3.2.0",
         keys=(_RO, ks("OW UPDATE", ("keyword", "STORE", 5)),
               ks("OW UPDATE", ("keyword", "STOREDIST", 5))),
         acl=ACL, effects=VERBATIM, doc_flags=_DEPRECATED, deprecated_since="6.2.0",
         replaced_by="`GEOSEARCH` and `GEOSEARCHSTORE` with the `BYRADIUS` and `FROMMEMBER` "
                     "arguments",
         history=(("7.0.0", "Added support for uppercase unit names."),),
         summary="Queries a geo set for members within a distance of a member, optionally "
                 "storing the result.", complexity=_COMPLEXITY)
def georadiusbymember(c: Client, argv: list[bytes]) -> Any:
    return _search(c, argv, _MEMBER)


@command("georadiusbymember_ro", -5, "readonly", group=G, since="3.2.10", keys=_RO, acl=ACL,
         doc_flags=_DEPRECATED, deprecated_since="6.2.0",
         replaced_by="`GEOSEARCH` with the `BYRADIUS` and `FROMMEMBER` arguments",
         summary="Queries a geo set for members within a distance of a member (read-only).",
         complexity=_COMPLEXITY)
def georadiusbymember_ro(c: Client, argv: list[bytes]) -> Any:
    return _search(c, argv, _MEMBER | _NOSTORE)


_SEARCH_COMPLEXITY = ("O(N+log(M)) where N is the number of elements in the grid-aligned bounding "
                      "box area around the shape provided as the filter and M is the number of "
                      "items inside the shape")


@command("geosearch", -7, "readonly", group=G, since="6.2.0", keys=_RO, acl=ACL,
         history=(("7.0.0", "Added support for uppercase unit names."),),
         summary="Queries a geo set for members inside a circle or a box.",
         complexity=_SEARCH_COMPLEXITY)
def geosearch(c: Client, argv: list[bytes]) -> Any:
    return _search(c, argv, _SEARCH)


@command("geosearchstore", -8, "write denyoom", group=G, since="6.2.0",
         keys=(ks("OW UPDATE"), ks("RO ACCESS", 2)), acl=ACL, effects=VERBATIM,
         history=(("7.0.0", "Added support for uppercase unit names."),),
         summary="Queries a geo set for members inside a circle or a box and stores the result.",
         complexity=_SEARCH_COMPLEXITY)
def geosearchstore(c: Client, argv: list[bytes]) -> Any:
    return _search(c, argv, _SEARCH | _STORE)
