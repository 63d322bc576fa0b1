"""Geo commands against redis-server (RESP2 and RESP3), plus effects and replay.

Where Redis 7.2 differs from the 7.0.15 oracle we follow 7.2:

- (not a difference) RESP3 coordinates (GEOPOS / WITHCOORD) are doubles
  written with the same human text as RESP2 (",13.36138933897018433"): both
  versions format them with "%.17Lf" and trim the zeros; compared exactly.
- Sorted-set scores in ZRANGE WITHSCORES of a STOREDIST result: 7.2 spells
  doubles in the shortest form ("190.44242984775784" vs 7.0's "%.17g").
- Distances: 7.2 rounds value*10^4 to an integer (half to even), 7.0 printed
  "%.4f"; they agree except for values within an ulp of a half, which these
  tests do not produce.

Search results are compared in order, unsorted ones included: Cairn scans the
9 geohash cells in Redis' order, so even the unsorted order matches.
"""

from __future__ import annotations

import math
import random
from typing import Any

import hiredis
import pytest
from harness import Pair
from inprocess import EffectsCapture

from cairn.commands.context import Server
from cairn.commands.replay import Replayer
from cairn.doubles import format_score
from cairn.protocol import ErrorReply
from cairn.types import geohash
from cairn.types.zset import ZSet


def _parse(data: bytes) -> Any:
    reader = hiredis.Reader()
    reader.feed(data)
    return reader.gets()


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(actual) == len(expected)
                and all(_same(e, a) for e, a in zip(expected, actual, strict=True)))
    if isinstance(expected, Exception):
        return type(actual) is type(expected) and str(actual) == str(expected)
    return type(expected) is type(actual) and expected == actual


def geo_check(pair: Pair, *args: Any) -> Any:
    """Exact bytes; returns the parsed reply."""
    expected, actual = pair.both(*args)
    assert actual == expected, f"RESP{pair.resp} {args!r}\n  redis: {expected!r}\n  cairn: {actual!r}"
    return _parse(actual)


SICILY = ["13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"]


# -- GEOADD ------------------------------------------------------------------------------------


def test_geoadd_and_options(pair: Pair) -> None:
    pair.check("GEOADD", "g", *SICILY)
    pair.check("GEOADD", "g", *SICILY)
    pair.check("TYPE", "g")
    pair.check("OBJECT", "ENCODING", "g")
    pair.check("ZRANGE", "g", "0", "-1", "WITHSCORES")
    pair.check("GEOADD", "g", "NX", "13", "38", "Palermo", "1", "2", "new")
    pair.check("GEOADD", "g", "XX", "13", "38", "Palermo", "1", "2", "newer")
    pair.check("GEOADD", "g", "XX", "CH", "13.5", "38", "Palermo", "1", "2", "newest")
    pair.check("GEOADD", "g", "CH", "13.5", "38", "Palermo", "3", "4", "another")
    pair.check("GEOADD", "g", "CH", "NX", "CH", "0", "0", "zero")
    pair.check("GEOADD", "g", "nx", "ch", "0", "0", "zero", "5", "5", "five")
    pair.check("ZRANGE", "g", "0", "-1", "WITHSCORES")
    pair.check("GEOADD", "missing", "XX", "1", "1", "a")
    pair.check("EXISTS", "missing")
    # Edges of the indexable area.
    pair.check("GEOADD", "e", "180", "85.05112878", "ne", "-180", "-85.05112878", "sw",
               "0", "0", "origin", "-0", "-0", "negzero", "179.9999999", "-85", "x")
    pair.check("ZRANGE", "e", "0", "-1", "WITHSCORES")


def test_geoadd_errors(pair: Pair) -> None:
    pair.check("GEOADD", "g", "200", "100", "a")
    pair.check("GEOADD", "g", "-180.0000001", "0", "a")
    pair.check("GEOADD", "g", "0", "85.06", "a")
    pair.check("GEOADD", "g", "0", "-85.06", "a")
    pair.check("GEOADD", "g", "1", "1", "ok", "1000", "1", "bad")
    pair.check("EXISTS", "g")  # an error adds nothing
    pair.check("GEOADD", "g", "abc", "1", "a")
    pair.check("GEOADD", "g", "1", "nan", "a")
    pair.check("GEOADD", "g", " 1", "1", "a")
    pair.check("GEOADD", "g", "1e400", "1", "a")
    pair.check("GEOADD", "g", "1", "1")
    pair.check("GEOADD", "g", "1", "1", "a", "2")
    pair.check("GEOADD", "g", "NX", "XX", "1", "1", "a")
    pair.check("GEOADD", "g", "GT", "1", "1", "a")
    pair.check("GEOADD", "g", "CH", "CH", "CH")
    pair.check("GEOADD", "g", "CH", "NX", "1")
    pair.check("GEOADD", "g", "1", "1")
    pair.check("GEOADD", "g")
    pair.check("SET", "s", "x")
    pair.check("GEOADD", "s", "1", "1", "a")
    pair.check("GEOADD", "s", "1000", "1", "a")  # the pair is checked first


# -- GEOPOS / GEOHASH / GEODIST -----------------------------------------------------------------------


def _random_points(rnd: random.Random, n: int, prefix: str = "p") -> list[str]:
    args: list[str] = []
    for i in range(n):
        lon = rnd.uniform(-180, 180)
        lat = rnd.uniform(-85.05, 85.05)
        args += [repr(lon), repr(lat), f"{prefix}{i}"]
    return args


def test_geopos_geohash(pair: Pair) -> None:
    rnd = random.Random(1)
    pair.check("GEOADD", "g", *SICILY, *_random_points(rnd, 60))
    members = ["Palermo", "Catania", "nope", *[f"p{i}" for i in range(60)]]
    geo_check(pair, "GEOPOS", "g", *members)
    pair.check("GEOHASH", "g", *members)
    geo_check(pair, "GEOPOS", "missing", "a", "b")
    pair.check("GEOHASH", "missing", "a", "b")
    pair.check("GEOPOS", "g")
    pair.check("GEOHASH", "g")
    pair.check("GEOADD", "e", "180", "85.05112878", "ne", "-180", "-85.05112878", "sw",
               "0", "0", "origin", "0.0000001", "-0.0000001", "tiny")
    geo_check(pair, "GEOPOS", "e", "ne", "sw", "origin", "tiny")
    pair.check("GEOHASH", "e", "ne", "sw", "origin", "tiny")


def test_geopos_of_plain_sorted_set_scores(pair: Pair) -> None:
    """GEOPOS / GEOHASH / GEODIST decode whatever scores a sorted set holds."""
    pair.check("ZADD", "z", "0", "zero", "1", "one", "3.7", "frac", "4503599627370495", "max52",
               "4503599627370496", "bit52", "9007199254740992", "bit53", "-1", "minus",
               "1e18", "big")
    members = ["zero", "one", "frac", "max52", "bit52", "bit53", "minus", "big"]
    geo_check(pair, "GEOPOS", "z", *members)
    pair.check("GEOHASH", "z", *members)
    pair.check("GEODIST", "z", "zero", "max52")
    pair.check("GEODIST", "z", "minus", "bit53", "km")


def test_geodist(pair: Pair) -> None:
    rnd = random.Random(2)
    pair.check("GEOADD", "g", *SICILY, *_random_points(rnd, 30))
    pair.check("GEODIST", "g", "Palermo", "Catania")
    for unit in ("m", "km", "ft", "mi", "KM", "Mi", "fT", "M"):
        pair.check("GEODIST", "g", "Palermo", "Catania", unit)
    for _ in range(40):
        a, b = rnd.randrange(30), rnd.randrange(30)
        pair.check("GEODIST", "g", f"p{a}", f"p{b}", rnd.choice(["m", "km", "mi"]))
    pair.check("GEODIST", "g", "Palermo", "Palermo")
    pair.check("GEODIST", "g", "Palermo", "nope")
    pair.check("GEODIST", "g", "nope", "Palermo")
    pair.check("GEODIST", "missing", "a", "b")
    pair.check("GEODIST", "g", "Palermo", "Catania", "yards")
    pair.check("GEODIST", "missing", "a", "b", "yards")  # the unit is checked first
    pair.check("GEODIST", "g", "Palermo", "Catania", "km", "extra")
    pair.check("GEODIST", "g", "Palermo")
    pair.check("SET", "s", "x")
    pair.check("GEODIST", "s", "a", "b")
    pair.check("GEOPOS", "s", "a")
    pair.check("GEOHASH", "s", "a")


def test_resp3_coordinates_are_human_text(pair: Pair) -> None:
    if pair.resp == 2:
        pytest.skip("RESP3 only (RESP2 coordinates are compared exactly everywhere)")
    pair.check("GEOADD", "g", *SICILY, "0.0000001", "-0.0000001", "tiny")
    pair.check("GEOPOS", "g", "Palermo", "tiny", "nope")
    pair.check("GEOSEARCH", "g", "FROMLONLAT", "13", "38", "BYRADIUS", "300", "km", "WITHCOORD")
    assert pair.cairn.raw("GEOPOS", "g", "Palermo") == (
        b"*1\r\n*2\r\n,13.36138933897018433\r\n,38.11555639549629859\r\n")


# -- searches ------------------------------------------------------------------------------------------


_SEARCH_OPTIONS = [[], ["ASC"], ["DESC"], ["COUNT", "3"], ["COUNT", "1", "DESC"],
                   ["COUNT", "5", "ANY"], ["COUNT", "2", "ANY", "ASC"], ["COUNT", "1000"]]
_WITH = [[], ["WITHDIST"], ["WITHCOORD"], ["WITHHASH"], ["WITHDIST", "WITHHASH", "WITHCOORD"]]


def _search_args(rnd: random.Random, members: int) -> list[str]:
    unit = rnd.choice(["m", "km", "mi", "ft", "KM"])
    scale = {"m": 1000.0, "km": 1.0, "mi": 0.62, "ft": 3280.0, "KM": 1.0}[unit]
    size = rnd.choice([1, 50, 300, 1500, 5000, 12000]) * scale
    if rnd.random() < 0.5:
        center = ["FROMMEMBER", f"p{rnd.randrange(members)}"]
    else:
        center = ["FROMLONLAT", repr(rnd.uniform(-180, 180)), repr(rnd.uniform(-85, 85))]
    if rnd.random() < 0.5:
        shape = ["BYRADIUS", repr(size), unit]
    else:
        shape = ["BYBOX", repr(size * rnd.uniform(0.3, 3)), repr(size * rnd.uniform(0.3, 3)), unit]
    return center + shape + rnd.choice(_SEARCH_OPTIONS) + rnd.choice(_WITH)


def test_geosearch_random(pair2: Pair) -> None:
    """Random areas over points spread over the globe, compared in order."""
    pair = pair2
    rnd = random.Random(3)
    pair.check("GEOADD", "g", *_random_points(rnd, 400))
    for _ in range(250):
        pair.check("GEOSEARCH", "g", *_search_args(rnd, 400))


def test_geosearch_random_resp3(pair: Pair) -> None:
    rnd = random.Random(4)
    pair.check("GEOADD", "g", *_random_points(rnd, 150))
    for _ in range(40):
        geo_check(pair, "GEOSEARCH", "g", *_search_args(rnd, 150))


def test_geosearch_dense_region(pair2: Pair) -> None:
    """Many points in a small region (cells of every size, neighbours that repeat)."""
    pair = pair2
    rnd = random.Random(5)
    args: list[str] = []
    for i in range(600):
        args += [repr(rnd.gauss(2.35, 0.05)), repr(rnd.gauss(48.85, 0.05)), f"p{i}"]
    pair.check("GEOADD", "g", *args)
    for radius in ("0", "0.1", "1", "3", "10", "50", "400", "3000", "9000", "20000"):
        for extra in ([], ["ASC"], ["DESC", "COUNT", "7"], ["COUNT", "4", "ANY"]):
            pair.check("GEOSEARCH", "g", "FROMLONLAT", "2.35", "48.85", "BYRADIUS", radius, "km", *extra)
            pair.check("GEOSEARCH", "g", "FROMMEMBER", "p7", "BYBOX", radius, radius, "km", *extra)
            pair.check("GEORADIUS", "g", "2.3", "48.9", radius, "km", "WITHDIST", *extra)


def test_geosearch_near_poles_and_antimeridian(pair2: Pair) -> None:
    pair = pair2
    rnd = random.Random(6)
    args: list[str] = []
    for i in range(300):
        lon = rnd.choice([rnd.uniform(175, 180), rnd.uniform(-180, -175), rnd.uniform(-180, 180)])
        lat = rnd.choice([rnd.uniform(80, 85.05), rnd.uniform(-85.05, -80), rnd.uniform(-10, 10)])
        args += [repr(lon), repr(lat), f"p{i}"]
    pair.check("GEOADD", "g", *args)
    for lon, lat in [("179.9", "0"), ("-179.9", "5"), ("180", "85.05"), ("-180", "-85.05"),
                     ("0", "84"), ("10", "-83"), ("179", "70")]:
        for radius in ("10", "200", "1000", "5000"):
            pair.check("GEOSEARCH", "g", "FROMLONLAT", lon, lat, "BYRADIUS", radius, "km", "WITHDIST")
            pair.check("GEOSEARCH", "g", "FROMLONLAT", lon, lat, "BYBOX", radius, radius, "km", "ASC")


def test_ties_with_count_use_redis_partial_sort(pair2: Pair) -> None:
    """Members at the same spot have equal distances; with a COUNT below the
    number of matches Redis' partial quicksort decides their order."""
    pair = pair2
    args: list[str] = []
    for i in range(120):
        spot = i % 7
        args += [str(10 + spot * 0.01), str(20 + spot * 0.01), f"m{i:03d}"]
    pair.check("GEOADD", "g", *args)
    for count in ("1", "2", "5", "9", "17", "40", "100", "119", "120", "500"):
        pair.check("GEOSEARCH", "g", "FROMLONLAT", "10", "20", "BYRADIUS", "100", "km", "COUNT", count)
        pair.check("GEOSEARCH", "g", "FROMLONLAT", "10.03", "20.03", "BYRADIUS", "100", "km",
                   "COUNT", count, "DESC", "WITHDIST")
        pair.check("GEORADIUSBYMEMBER", "g", "m003", "100", "km", "COUNT", count, "ASC")
    pair.check("GEOSEARCH", "g", "FROMLONLAT", "10", "20", "BYRADIUS", "100", "km", "ASC")
    pair.check("GEOSEARCH", "g", "FROMLONLAT", "10", "20", "BYRADIUS", "100", "km", "DESC")


def test_georadius_family(pair: Pair) -> None:
    rnd = random.Random(7)
    pair.check("GEOADD", "g", *SICILY, *_random_points(rnd, 50))
    for cmd in ("GEORADIUS", "GEORADIUS_RO"):
        geo_check(pair, cmd, "g", "15", "37", "200", "km")
        geo_check(pair, cmd, "g", "15", "37", "200", "km", "WITHDIST", "WITHCOORD", "WITHHASH", "ASC")
        geo_check(pair, cmd, "g", "15", "37", "200000", "m", "DESC", "COUNT", "1")
        geo_check(pair, cmd, "g", "15", "37", "5000", "mi", "COUNT", "3", "ANY", "WITHDIST")
        geo_check(pair, cmd, "g", "0", "0", "1", "km")
    for cmd in ("GEORADIUSBYMEMBER", "GEORADIUSBYMEMBER_RO"):
        geo_check(pair, cmd, "g", "Palermo", "200", "km", "WITHDIST", "WITHCOORD")
        geo_check(pair, cmd, "g", "Palermo", "8000", "km", "DESC", "COUNT", "4")
        geo_check(pair, cmd, "g", "p3", "3000", "mi", "WITHHASH", "COUNT", "2", "ANY")
        pair.check(cmd, "g", "nope", "200", "km")
        pair.check(cmd, "missing", "nope", "200", "km")
        pair.check(cmd, "missing", "nope", "abc", "furlongs")  # not parsed without a key
    geo_check(pair, "GEOSEARCH", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km",
              "WITHCOORD", "WITHDIST", "WITHHASH")
    pair.check("GEOSEARCH", "missing", "FROMMEMBER", "x", "BYRADIUS", "200", "km")
    pair.check("GEOSEARCH", "missing", "FROMLONLAT", "1", "1", "BYBOX", "1", "1", "km")
    pair.check("GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "m")


def test_search_edges(pair: Pair) -> None:
    pair.check("GEOADD", "g", *SICILY, "-100", "-80", "far", "13.361389", "38.115556", "twin")
    for args in (["FROMLONLAT", "0", "0", "BYRADIUS", "inf", "km", "WITHDIST"],
                 ["FROMLONLAT", "0", "0", "BYBOX", "inf", "inf", "km"],
                 ["FROMLONLAT", "0", "0", "BYBOX", "inf", "1", "km"],
                 ["FROMLONLAT", "0", "0", "BYRADIUS", "1e308", "km", "DESC"],
                 ["FROMLONLAT", "0", "0", "BYRADIUS", "0", "km"],
                 ["FROMLONLAT", "13.361389", "38.115556", "BYBOX", "0", "0", "km", "WITHDIST"],
                 ["FROMMEMBER", "Palermo", "BYRADIUS", "0", "km", "WITHDIST", "WITHHASH"],
                 ["FROMMEMBER", "Palermo", "BYRADIUS", "1", "m", "COUNT", "1"],
                 ["FROMMEMBER", "far", "BYBOX", "20000", "100", "km", "ASC"]):
        pair.check("GEOSEARCH", "g", *args)
    pair.check("GEORADIUS", "g", "0", "0", "+inf", "m", "ASC")
    pair.check("GEOADD", "g", "inf", "1", "x")
    pair.check("GEOADD", "g", "-inf", "1", "x")
    pair.check("GEODIST", "g", "Palermo", "far", "mi")
    pair.check("GEODIST", "g", "Palermo", "twin", "ft")


def test_search_errors(pair: Pair) -> None:
    pair.check("GEOADD", "g", *SICILY)
    base = ["GEOSEARCH", "g", "FROMLONLAT", "15", "37"]
    pair.check(*base, "BYRADIUS", "-1", "km")
    pair.check(*base, "BYRADIUS", "abc", "km")
    pair.check(*base, "BYRADIUS", "1", "furlongs")
    pair.check(*base, "BYBOX", "1", "x", "km")
    pair.check(*base, "BYBOX", "x", "1", "km")
    pair.check(*base, "BYBOX", "-1", "1", "km")
    pair.check(*base, "BYBOX", "1", "-1", "km")
    pair.check(*base, "BYBOX", "1", "1", "xx")
    pair.check(*base, "BYRADIUS", "1", "km", "COUNT", "0")
    pair.check(*base, "BYRADIUS", "1", "km", "COUNT", "-3")
    pair.check(*base, "BYRADIUS", "1", "km", "COUNT", "x")
    pair.check(*base, "BYRADIUS", "1", "km", "COUNT")
    pair.check(*base, "BYRADIUS", "1", "km", "ANY")
    pair.check(*base, "BYRADIUS", "1", "km", "STORE", "d")
    pair.check(*base, "BYRADIUS", "1", "km", "STOREDIST")
    pair.check(*base, "BYRADIUS", "1", "km", "BYBOX", "1", "1", "km")
    pair.check(*base, "BYBOX", "1", "1", "km", "BYRADIUS", "1", "km")
    pair.check(*base, "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km")
    pair.check("GEOSEARCH", "g", "FROMMEMBER", "Palermo", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km")
    pair.check("GEOSEARCH", "g", "FROMMEMBER", "nope", "BYRADIUS", "1", "km")
    pair.check("GEOSEARCH", "g", "FROMLONLAT", "200", "1", "BYRADIUS", "1", "km")
    pair.check("GEOSEARCH", "g", "FROMLONLAT", "1", "1", "FROMLONLAT", "2", "2", "BYRADIUS", "1", "km")
    pair.check("GEOSEARCH", "g", "BYRADIUS", "1", "km", "WITHDIST")
    pair.check("geosearch", "g", "FROMLONLAT", "1", "1", "WITHDIST")
    pair.check("GeoSearch", "g", "WITHDIST", "ASC", "DESC")
    pair.check("GEOSEARCH", "missing", "BYRADIUS", "1", "km", "WITHDIST")
    pair.check("GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km", "BOGUS")
    pair.check("GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "1")
    pair.check("GEOSEARCH", "g", "FROMLONLAT")
    pair.check("GEORADIUS", "g", "15", "37", "200", "km", "WITHDIST", "STORE", "d")
    pair.check("GEORADIUS", "g", "15", "37", "200", "km", "STORE")
    pair.check("GEORADIUS_RO", "g", "15", "37", "200", "km", "STORE", "d")
    pair.check("GEORADIUS", "g", "15", "37", "-200", "km")
    pair.check("GEORADIUS", "g", "15", "370", "200", "km")
    pair.check("GEORADIUS", "g", "15", "37", "200", "parsecs")
    pair.check("GEORADIUS", "g", "15", "37", "200", "km", "FROMLONLAT", "1", "1")
    pair.check("GEORADIUS", "g", "15", "37", "200")
    pair.check("GEORADIUSBYMEMBER", "g", "nope", "200", "km")
    pair.check("GEORADIUSBYMEMBER", "g", "Palermo", "x", "km")
    pair.check("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km", "WITHDIST")
    pair.check("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km", "STORE", "x")
    pair.check("SET", "s", "x")
    pair.check("GEOSEARCH", "s", "FROMLONLAT", "1000", "1", "BYRADIUS", "-1", "km")
    pair.check("GEORADIUS", "s", "1000", "37", "200", "km")
    pair.check("GEORADIUSBYMEMBER", "s", "x", "200", "km")
    pair.check("GEOSEARCHSTORE", "d", "s", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km")


# -- STORE -----------------------------------------------------------------------------------------------


def _same_value(expected: Any, actual: Any) -> bool:
    """Equal, except that scores may be spelled differently (7.2 vs 7.0)."""
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(actual) == len(expected)
                and all(_same_value(e, a) for e, a in zip(expected, actual, strict=True)))
    if isinstance(expected, bytes) and isinstance(actual, bytes) and expected != actual:
        try:
            return float(expected) == float(actual) and actual == format_score(float(actual))
        except ValueError:
            return False
    return _same(expected, actual)


def _stored(pair: Pair, key: str) -> None:
    expected, actual = pair.both("ZRANGE", key, "0", "-1", "WITHSCORES")
    e, a = _parse(expected), _parse(actual)
    assert _same_value(e, a), f"RESP{pair.resp} {key}\n  redis: {e!r}\n  cairn: {a!r}"
    pair.check("OBJECT", "ENCODING", key)
    pair.check("TTL", key)


def test_store_forms(pair: Pair) -> None:
    rnd = random.Random(8)
    pair.check("GEOADD", "g", *SICILY, *_random_points(rnd, 200))
    pair.check("GEORADIUS", "g", "15", "37", "3000", "km", "STORE", "d1")
    _stored(pair, "d1")
    pair.check("GEORADIUS", "g", "15", "37", "3000", "km", "STOREDIST", "d2", "COUNT", "5")
    _stored(pair, "d2")
    pair.check("GEORADIUSBYMEMBER", "g", "Palermo", "5000", "mi", "STORE", "d3", "DESC", "COUNT", "3")
    _stored(pair, "d3")
    pair.check("GEORADIUSBYMEMBER", "g", "Palermo", "5000", "km", "STORE", "d3", "STOREDIST", "d4")
    _stored(pair, "d4")
    pair.check("EXISTS", "d3")
    pair.check("GEOSEARCHSTORE", "d5", "g", "FROMLONLAT", "0", "0", "BYBOX", "9000", "9000", "km")
    _stored(pair, "d5")
    pair.check("GEOSEARCHSTORE", "d6", "g", "FROMMEMBER", "p1", "BYRADIUS", "4000", "km", "STOREDIST",
               "COUNT", "10", "ASC")
    _stored(pair, "d6")
    pair.check("GEOSEARCHSTORE", "d7", "g", "FROMMEMBER", "p1", "BYRADIUS", "4000", "km",
               "COUNT", "3", "ANY")
    _stored(pair, "d7")
    # A big result becomes a skiplist.
    pair.check("GEOSEARCHSTORE", "big", "g", "FROMLONLAT", "0", "0", "BYRADIUS", "30000", "km")
    _stored(pair, "big")
    # Overwrites any type and drops the TTL; an empty result deletes the destination.
    pair.check("SET", "s", "x", "EX", "100")
    pair.check("GEORADIUS", "g", "15", "37", "200", "km", "STORE", "s")
    _stored(pair, "s")
    pair.check("GEORADIUS", "g", "0", "0", "1", "m", "STORE", "s")
    pair.check("EXISTS", "s")
    pair.check("SET", "s", "x")
    pair.check("GEOSEARCHSTORE", "s", "missing", "FROMMEMBER", "x", "BYRADIUS", "1", "km")
    pair.check("EXISTS", "s")
    pair.check("SET", "s", "x")
    pair.check("GEORADIUS", "missing", "0", "0", "1", "m", "STORE", "s")
    pair.check("EXISTS", "s")
    pair.check("GEORADIUSBYMEMBER", "missing", "x", "1", "m", "STORE", "s")
    # Storing into the source key itself.
    pair.check("GEOSEARCHSTORE", "g", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "300", "km")
    _stored(pair, "g")


def test_store_encoding_follows_listpack_limits(pair2: Pair) -> None:
    pair = pair2
    rnd = random.Random(9)
    pair.check("GEOADD", "g", *_random_points(rnd, 50))
    pair.check("GEOADD", "g", "1", "1", "m" * 80)
    pair.check("CONFIG", "SET", "zset-max-listpack-entries", "4")
    try:
        for count in ("3", "4", "5"):
            pair.check("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "0", "0", "BYRADIUS", "30000", "km",
                       "COUNT", count)
            pair.check("OBJECT", "ENCODING", "d")
        pair.check("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km")
        pair.check("OBJECT", "ENCODING", "d")
    finally:
        pair.check("CONFIG", "SET", "zset-max-listpack-entries", "128")


def test_large_geo_set(pair2: Pair) -> None:
    pair = pair2
    rnd = random.Random(10)
    pair.check("GEOADD", "g", *_random_points(rnd, 3000))
    pair.check("OBJECT", "ENCODING", "g")
    for _ in range(60):
        pair.check("GEOSEARCH", "g", *_search_args(rnd, 3000))


# -- the geohash module ---------------------------------------------------------------------------


def test_encode_decode_roundtrip() -> None:
    rnd = random.Random(11)
    for _ in range(2000):
        lon, lat = rnd.uniform(-180, 180), rnd.uniform(-85.05112878, 85.05112878)
        score = geohash.score_of(lon, lat)
        assert score is not None and 0 <= score < 1 << 52
        dlon, dlat = geohash.decode(score)
        assert abs(dlon - lon) < 1e-5 and abs(dlat - lat) < 1e-5
        assert geohash.deinterleave(geohash.interleave(12345, 67890)) == (12345, 67890)
    assert geohash.score_of(180.1, 0) is None and geohash.score_of(0, 85.1) is None


def test_pqsort_orders_the_requested_range() -> None:
    rnd = random.Random(12)

    def cmp(a: int, b: int) -> int:
        return (a > b) - (a < b)

    for n in (0, 1, 5, 7, 8, 40, 41, 200):
        for _ in range(20):
            values = [rnd.randrange(30) for _ in range(n)]
            lo = rnd.randrange(n) if n else 0
            hi = rnd.randrange(lo, n) if n else 0
            a = list(values)
            geohash.pqsort(a, cmp, lo, hi)
            assert sorted(a) == sorted(values)
            assert a[lo:hi + 1] == sorted(values)[lo:hi + 1]


# -- effects and replay --------------------------------------------------------------------------------


class _Capture(EffectsCapture):
    """Commands run in process, with what they log."""


def _b(*xs: str) -> list[bytes]:
    return [x.encode() for x in xs]


def test_effects() -> None:
    cap = _Capture()
    palermo = str(geohash.score_of(13.361389, 38.115556))
    catania = str(geohash.score_of(15.087269, 37.502669))
    assert cap.effects_of("GEOADD", "g", *SICILY) == [
        _b("ZADD", "g", palermo, "Palermo", catania, "Catania")]
    assert cap.effects_of("GEOADD", "g", *SICILY) == []
    assert cap.effects_of("GEOADD", "g", "XX", "CH", "13.361389", "38.115556", "Palermo") == []
    assert cap.effects_of("GEOADD", "g", "NX", "CH", "1", "1", "x") == [
        _b("ZADD", "g", "NX", "CH", str(geohash.score_of(1, 1)), "x")]
    assert cap.effects_of("GEOADD", "g", "200", "1", "bad") == []
    args = ["GEORADIUS", "g", "15", "37", "200", "km", "STORE", "d"]
    assert cap.effects_of(*args) == [_b(*args)]
    args = ["GEOSEARCHSTORE", "d2", "g", "FROMMEMBER", "x", "BYRADIUS", "10", "km", "STOREDIST"]
    assert cap.effects_of(*args) == [_b(*args)]
    assert cap.effects_of("GEORADIUS", "g", "15", "37", "200", "km") == []
    assert cap.effects_of("GEOSEARCH", "g", "FROMMEMBER", "x", "BYRADIUS", "10", "km") == []
    # An empty result deletes the destination (logged), then nothing more to do.
    args = ["GEORADIUS", "g", "0", "0", "1", "m", "STORE", "d"]
    assert cap.effects_of(*args) == [_b(*args)]
    assert cap.effects_of(*args) == []


def _snapshot(server: Server) -> list[dict[bytes, Any]]:
    out = []
    for db in server.keyspace.dbs:
        view: dict[bytes, Any] = {}
        for key, value in db.data.items():
            if isinstance(value, ZSet):
                view[key] = (value.encoding(server.config), list(value.order))
            else:
                view[key] = value
        out.append(view)
    return out


def test_replay_rebuilds_the_keyspace() -> None:
    cap = _Capture()
    rnd = random.Random(13)
    keys = ["a", "b", "c"]
    cap.run("CONFIG", "SET", "zset-max-listpack-entries", "6")
    for _ in range(1500):
        k, k2 = rnd.choice(keys), rnd.choice(keys)
        lon, lat = repr(rnd.uniform(-20, 20)), repr(rnd.uniform(-20, 20))
        m = f"m{rnd.randrange(12)}"
        size = str(rnd.choice([10, 300, 1500, 4000]))
        argv = rnd.choice([
            ["GEOADD", k, lon, lat, m], ["GEOADD", k, "NX", lon, lat, m, "1", "1", "x"],
            ["GEOADD", k, "XX", "CH", lon, lat, m], ["ZREM", k, m],
            ["GEORADIUS", k, lon, lat, size, "km", "STORE", k2],
            ["GEORADIUS", k, lon, lat, size, "km", "STOREDIST", k2, "COUNT", "3"],
            ["GEORADIUSBYMEMBER", k, m, size, "km", "STORE", k2, "DESC", "COUNT", "2"],
            ["GEOSEARCHSTORE", k2, k, "FROMLONLAT", lon, lat, "BYBOX", size, size, "km"],
            ["GEOSEARCHSTORE", k2, k, "FROMMEMBER", m, "BYRADIUS", size, "km", "STOREDIST",
             "COUNT", "2", "ANY"],
            ["SELECT", str(rnd.randint(0, 1))],
        ])
        cap.run(*argv)
    fresh = Server()
    fresh.config.set("zset-max-listpack-entries", 6)
    replayer = Replayer(fresh)
    for lsn, record in enumerate(cap.records, 1):
        replayer.apply_record(lsn, record)
    assert _snapshot(fresh) == _snapshot(cap.server)
    assert any(_snapshot(cap.server))


def test_in_process_errors_are_replies() -> None:
    cap = _Capture()
    reply = cap.run("GEOADD", "g", "1", "100", "x")
    assert isinstance(reply, ErrorReply) and reply.message == (
        "ERR invalid longitude,latitude pair 1.000000,100.000000")
    assert math.isclose(geohash.distance(0, 0, 0, 1), 111226.3, rel_tol=1e-5)
