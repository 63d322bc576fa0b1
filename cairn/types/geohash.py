"""Geohashes as Redis' GEO commands use them (pure math: no RESP, no I/O).

A geo set is a sorted set whose scores are 52-bit interleaved geohashes:
longitude in [-180, 180] and latitude in the Web-Mercator range
[-85.05112878, 85.05112878] are each cut into 2**26 steps; the latitude cell
number fills the even bits and the longitude cell number the odd bits.

Searches (GEOSEARCH, GEORADIUS...) follow Redis' method step for step so that
the same members are found, in the same order, with the same distances:

1. a bounding box of the shape in degrees (``bounding_box``);
2. a geohash precision (``estimate_steps``) from the radius (or half the box
   diagonal) and the latitude, lowered by one when a neighbouring cell does not
   reach the edge of the bounding box;
3. the centre cell and its 8 neighbours, dropping the neighbours on a side
   where the centre cell already covers the box (``search_cells``), in the
   order centre, N, S, E, W, NE, NW, SE, SW;
4. each cell is a score range [min, max) of the sorted set; its members are
   tested in score order against the shape with haversine distances computed
   with Redis' earth radius (``distance``, ``within``).

``pqsort`` is the partial quicksort Redis uses to put only the first results
in order (COUNT below the number of matches; SORT with BY and LIMIT): with
ties it leaves equal elements in the order Redis leaves them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

STEP_MAX = 26
LON_MIN, LON_MAX = -180.0, 180.0
LAT_MIN, LAT_MAX = -85.05112878, 85.05112878
EARTH_RADIUS_M = 6372797.560856
MERCATOR_MAX = 20037726.37
_D_R = math.pi / 180.0

_U64 = (1 << 64) - 1
_EVEN = 0x5555555555555555
_ODD = 0xAAAAAAAAAAAAAAAA

# A cell: (bits, step); (0, 0) is "no cell" (a neighbour that was excluded).
Cell = tuple[int, int]
ZERO_CELL: Cell = (0, 0)

# -- bit interleaving ---------------------------------------------------------------


def _spread(v: int) -> int:
    """The 32 bits of v moved to the even bit positions of a 64-bit word."""
    v &= 0xFFFFFFFF
    v = (v | (v << 16)) & 0x0000FFFF0000FFFF
    v = (v | (v << 8)) & 0x00FF00FF00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v << 2)) & 0x3333333333333333
    return (v | (v << 1)) & _EVEN


def _squash(v: int) -> int:
    """The even bits of a 64-bit word packed into 32 bits (inverse of _spread)."""
    v &= _EVEN
    v = (v | (v >> 1)) & 0x3333333333333333
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FF
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFF
    return (v | (v >> 16)) & 0xFFFFFFFF


def interleave(lat_cell: int, lon_cell: int) -> int:
    return _spread(lat_cell) | (_spread(lon_cell) << 1)


def deinterleave(bits: int) -> tuple[int, int]:
    """(latitude cell, longitude cell) of interleaved bits."""
    return _squash(bits), _squash(bits >> 1)


# -- encode / decode --------------------------------------------------------------------


def encode(lon: float, lat: float, step: int = STEP_MAX,
           lat_min: float = LAT_MIN, lat_max: float = LAT_MAX) -> int | None:
    """The interleaved cell bits of a point at ``step`` bits per coordinate, or
    None for a point outside the indexable area. ``lat_min/lat_max`` default to
    the Mercator limits; GEOHASH re-encodes with -90..90."""
    if lon > LON_MAX or lon < LON_MIN or lat > LAT_MAX or lat < LAT_MIN:
        return None
    if lat < lat_min or lat > lat_max:
        return None
    lat_offset = (lat - lat_min) / (lat_max - lat_min)
    lon_offset = (lon - LON_MIN) / (LON_MAX - LON_MIN)
    scale = float(1 << step)
    # C converts the scaled offsets to uint32 by truncation.
    return interleave(int(lat_offset * scale), int(lon_offset * scale))


def score_of(lon: float, lat: float) -> int | None:
    """The 52-bit score GEOADD stores for a point (None when out of range)."""
    return encode(lon, lat, STEP_MAX)


def cell_area(bits: int, step: int, lat_min: float = LAT_MIN,
              lat_max: float = LAT_MAX) -> tuple[float, float, float, float]:
    """(lon_min, lon_max, lat_min, lat_max) of a cell."""
    lat_cell, lon_cell = deinterleave(bits)
    div = float(1 << step)
    lat_scale = lat_max - lat_min
    lon_scale = LON_MAX - LON_MIN
    return (
        LON_MIN + (lon_cell / div) * lon_scale,
        LON_MIN + (((lon_cell + 1) & 0xFFFFFFFF) / div) * lon_scale,
        lat_min + (lat_cell / div) * lat_scale,
        lat_min + (((lat_cell + 1) & 0xFFFFFFFF) / div) * lat_scale,
    )


def score_bits(score: float) -> int:
    """The unsigned 64-bit integer C gets from ``(uint64_t)score`` on x86-64
    (scores of geo sets are small non-negative integers; other zsets may hold
    anything and GEOPOS still decodes them the way Redis does)."""
    if score != score:
        return 0
    if score < 9223372036854775808.0:
        if score <= -9223372036854775808.0:
            return 1 << 63
        return int(score) & _U64
    if score < 18446744073709551616.0:
        return int(score)
    return 0


def decode(score: float) -> tuple[float, float]:
    """(longitude, latitude) of the centre of a score's cell, clamped to the
    indexable area."""
    lon_lo, lon_hi, lat_lo, lat_hi = cell_area(score_bits(score), STEP_MAX)
    lon = (lon_lo + lon_hi) / 2
    if lon > LON_MAX:
        lon = LON_MAX
    if lon < LON_MIN:
        lon = LON_MIN
    lat = (lat_lo + lat_hi) / 2
    if lat > LAT_MAX:
        lat = LAT_MAX
    if lat < LAT_MIN:
        lat = LAT_MIN
    return lon, lat


_ALPHABET = b"0123456789bcdefghjkmnpqrstuvwxyz"


def geohash_string(score: float) -> bytes:
    """The 11-character standard geohash GEOHASH reports for a score: the point
    is decoded, re-encoded over the standard -90..90 latitude range, and the 52
    bits are written 5 at a time (the 11th character stands for zero bits)."""
    lon, lat = decode(score)
    bits = encode(lon, lat, STEP_MAX, -90.0, 90.0) or 0
    out = bytearray(11)
    for i in range(10):
        out[i] = _ALPHABET[(bits >> (52 - (i + 1) * 5)) & 0x1F]
    out[10] = _ALPHABET[0]
    return bytes(out)


# -- distances ---------------------------------------------------------------------------


def lat_distance(lat1: float, lat2: float) -> float:
    return EARTH_RADIUS_M * abs(lat2 * _D_R - lat1 * _D_R)


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Haversine distance in meters on Redis' sphere."""
    v = math.sin((lon2 * _D_R - lon1 * _D_R) / 2)
    if v == 0.0:
        return lat_distance(lat1, lat2)
    lat1r = lat1 * _D_R
    lat2r = lat2 * _D_R
    u = math.sin((lat2r - lat1r) / 2)
    a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
    root = math.sqrt(a)
    if root > 1.0:  # rounding, near antipodes: C's asin gives NaN
        return math.nan
    return 2.0 * EARTH_RADIUS_M * math.asin(root)


class Shape:
    """The area of a search: a circle (radius) or an axis-aligned box
    (width x height), centred on (lon, lat), sizes in ``unit`` meters."""

    __slots__ = ("box", "height", "lat", "lon", "radius", "unit", "width")

    def __init__(self, lon: float, lat: float, unit: float, radius: float = 0.0,
                 width: float = 0.0, height: float = 0.0, box: bool = False) -> None:
        self.lon = lon
        self.lat = lat
        self.unit = unit
        self.radius = radius
        self.width = width
        self.height = height
        self.box = box

    def within(self, lon: float, lat: float) -> float | None:
        """The distance in meters from the centre to a point inside the shape,
        or None when the point is outside."""
        if self.box:
            if lat_distance(lat, self.lat) > self.height * self.unit / 2:
                return None
            if distance(lon, lat, self.lon, lat) > self.width * self.unit / 2:
                return None
            return distance(self.lon, self.lat, lon, lat)
        d = distance(self.lon, self.lat, lon, lat)
        return None if d > self.radius * self.unit else d


# -- the area to search --------------------------------------------------------------------


def estimate_steps(range_m: float, lat: float) -> int:
    """Bits per coordinate of the cells that cover a search of this radius."""
    if range_m == 0:
        return STEP_MAX
    step = 1
    while range_m < MERCATOR_MAX:
        range_m *= 2
        step += 1
    step -= 2
    if lat > 66 or lat < -66:
        step -= 1
        if lat > 80 or lat < -80:
            step -= 1
    return max(1, min(STEP_MAX, step))


def _cos(x: float) -> float:
    """C's cos: NaN (not an exception) for an infinite argument."""
    return math.cos(x) if math.isfinite(x) else math.nan


def bounding_box(shape: Shape) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of the shape, in degrees."""
    if shape.box:
        height = shape.unit * (shape.height / 2)
        width = shape.unit * (shape.width / 2)
    else:
        height = width = shape.unit * shape.radius
    lon, lat = shape.lon, shape.lat
    lat_delta = (height / EARTH_RADIUS_M) / _D_R
    lon_delta_top = (width / EARTH_RADIUS_M / _cos((lat + lat_delta) * _D_R)) / _D_R
    lon_delta_bottom = (width / EARTH_RADIUS_M / _cos((lat - lat_delta) * _D_R)) / _D_R
    if lat < 0:
        return lon - lon_delta_bottom, lat - lat_delta, lon + lon_delta_bottom, lat + lat_delta
    return lon - lon_delta_top, lat - lat_delta, lon + lon_delta_top, lat + lat_delta


def _move_x(bits: int, step: int, d: int) -> int:
    """The cell d (+1 / -1) columns east / west, wrapping around."""
    x = bits & _ODD
    y = bits & _EVEN
    zz = _EVEN >> (64 - step * 2)
    if d > 0:
        x = (x + zz + 1) & _U64
    else:
        x = ((x | zz) - (zz + 1)) & _U64
    x &= _ODD >> (64 - step * 2)
    return x | y


def _move_y(bits: int, step: int, d: int) -> int:
    """The cell d (+1 / -1) rows north / south, wrapping around."""
    x = bits & _ODD
    y = bits & _EVEN
    zz = _ODD >> (64 - step * 2)
    if d > 0:
        y = (y + zz + 1) & _U64
    else:
        y = ((y | zz) - (zz + 1)) & _U64
    y &= _EVEN >> (64 - step * 2)
    return x | y


def _moved(bits: int, step: int, dx: int, dy: int) -> int:
    if dx:
        bits = _move_x(bits, step, dx)
    if dy:
        bits = _move_y(bits, step, dy)
    return bits


# Scan order: centre, north, south, east, west, NE, NW, SE, SW.
_DIRECTIONS = ((0, 0), (0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1))
_NORTH = (1, 5, 6)
_SOUTH = (2, 7, 8)
_EAST = (3, 5, 7)
_WEST = (4, 6, 8)


def search_cells(shape: Shape) -> list[Cell]:
    """The 9 cells (centre first) to scan for a search; excluded ones are ZERO_CELL."""
    min_lon, min_lat, max_lon, max_lat = bounding_box(shape)
    if shape.box:
        half_w, half_h = shape.width / 2, shape.height / 2
        radius_m = math.sqrt(half_w * half_w + half_h * half_h)
    else:
        radius_m = shape.radius
    radius_m *= shape.unit
    steps = estimate_steps(radius_m, shape.lat)
    bits = encode(shape.lon, shape.lat, steps) or 0
    # One step coarser when a N/S/E/W neighbour does not reach the box's edge.
    if (
        cell_area(_move_y(bits, steps, 1), steps)[3] < max_lat
        or cell_area(_move_y(bits, steps, -1), steps)[2] > min_lat
        or cell_area(_move_x(bits, steps, 1), steps)[1] < max_lon
        or cell_area(_move_x(bits, steps, -1), steps)[0] > min_lon
    ) and steps > 1:
        steps -= 1
        bits = encode(shape.lon, shape.lat, steps) or 0
    cells: list[Cell] = [(_moved(bits, steps, dx, dy), steps) for dx, dy in _DIRECTIONS]
    if steps >= 2:
        lon_lo, lon_hi, lat_lo, lat_hi = cell_area(bits, steps)
        dropped: list[int] = []
        if lat_lo < min_lat:
            dropped += _SOUTH
        if lat_hi > max_lat:
            dropped += _NORTH
        if lon_lo < min_lon:
            dropped += _WEST
        if lon_hi > max_lon:
            dropped += _EAST
        for i in dropped:
            cells[i] = ZERO_CELL
    return cells


def cell_scores(cell: Cell) -> tuple[int, int]:
    """The score range [min, max) of the members inside a cell."""
    bits, step = cell
    shift = 52 - step * 2
    return bits << shift, (bits + 1) << shift


def cells_to_scan(cells: list[Cell]) -> list[Cell]:
    """The cells in scan order, skipping excluded ones and a cell equal to the
    last one scanned (Redis compares with the previous scanned cell, but
    never with the centre)."""
    out: list[Cell] = []
    last = 0
    for i, cell in enumerate(cells):
        if cell == ZERO_CELL:
            continue
        if last and cell == cells[last]:
            continue
        out.append(cell)
        last = i
    return out


# -- partial sort -----------------------------------------------------------------------------


def pqsort(a: list[Any], cmp: Callable[[Any, Any], int], lrange: int, rrange: int) -> None:
    """Sort ``a`` in place enough that positions lrange..rrange hold what a full
    sort would put there, in order: the Bentley-McIlroy quicksort (three-way
    partition, median of three / ninther pivot, insertion sort below 7
    elements) that recurses only into parts overlapping the range."""
    _pqsort(a, 0, len(a), cmp, lrange, rrange)


def _insertion(a: list[Any], lo: int, n: int, cmp: Callable[[Any, Any], int]) -> None:
    for m in range(lo + 1, lo + n):
        j = m
        while j > lo and cmp(a[j - 1], a[j]) > 0:
            a[j - 1], a[j] = a[j], a[j - 1]
            j -= 1


def _med3(a: list[Any], i: int, j: int, k: int, cmp: Callable[[Any, Any], int]) -> int:
    if cmp(a[i], a[j]) < 0:
        if cmp(a[j], a[k]) < 0:
            return j
        return k if cmp(a[i], a[k]) < 0 else i
    if cmp(a[j], a[k]) > 0:
        return j
    return i if cmp(a[i], a[k]) < 0 else k


def _vecswap(a: list[Any], i: int, j: int, n: int) -> None:
    for t in range(n):
        a[i + t], a[j + t] = a[j + t], a[i + t]


def _pqsort(a: list[Any], lo: int, n: int, cmp: Callable[[Any, Any], int],
            lrange: int, rrange: int) -> None:
    while True:
        if n < 7:
            _insertion(a, lo, n, cmp)
            return
        pm = lo + n // 2
        if n > 7:
            pl = lo
            pn = lo + n - 1
            if n > 40:
                d = n // 8
                pl = _med3(a, pl, pl + d, pl + 2 * d, cmp)
                pm = _med3(a, pm - d, pm, pm + d, cmp)
                pn = _med3(a, pn - 2 * d, pn - d, pn, cmp)
            pm = _med3(a, pl, pm, pn, cmp)
        a[lo], a[pm] = a[pm], a[lo]
        pivot = a[lo]
        pa = pb = lo + 1
        pc = pd = lo + n - 1
        swapped = False
        while True:
            while pb <= pc:
                r = cmp(a[pb], pivot)
                if r > 0:
                    break
                if r == 0:
                    swapped = True
                    a[pa], a[pb] = a[pb], a[pa]
                    pa += 1
                pb += 1
            while pb <= pc:
                r = cmp(a[pc], pivot)
                if r < 0:
                    break
                if r == 0:
                    swapped = True
                    a[pc], a[pd] = a[pd], a[pc]
                    pd -= 1
                pc -= 1
            if pb > pc:
                break
            a[pb], a[pc] = a[pc], a[pb]
            swapped = True
            pb += 1
            pc -= 1
        if not swapped:
            _insertion(a, lo, n, cmp)
            return
        end = lo + n
        r = min(pa - lo, pb - pa)
        _vecswap(a, lo, pb - r, r)
        r = min(pd - pc, end - pd - 1)
        _vecswap(a, pb, end - r, r)
        r = pb - pa
        if r > 1 and not ((lrange < lo and rrange < lo)
                          or (lrange > lo + r - 1 and rrange > lo + r - 1)):
            _pqsort(a, lo, r, cmp, lrange, rrange)
        r = pd - pc
        if r <= 1:
            return
        lo = end - r
        n = r
        if (lrange < lo and rrange < lo) or (lrange > lo + r - 1 and rrange > lo + r - 1):
            return
