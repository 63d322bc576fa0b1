"""Redis' RDB value serialization: the payload of DUMP and RESTORE.

A payload is ``<type byte><value>`` followed by a 2-byte RDB version (little
endian) and the CRC-64 (Jones polynomial, reflected, as Redis computes it) of
everything before it, also little endian.

Writing follows Redis 7.0 byte for byte where the layout is known: strings are
int-encoded when short canonical integers and LZF-compressed (liblzf's
algorithm, re-implemented here with Redis' build settings) when longer than 20
bytes and compression saves at least 4 bytes; lists are quicklists of
listpacks split as RPUSH would split them (with ``list-compress-depth``
honoured); small hashes and sorted sets are listpacks; intsets are intsets.
We write RDB version 10 (Redis 7.0's) so that a payload restores on 7.0 as
well as 7.2; a listpack-encoded set, which 7.0 cannot represent, is then
written as a plain set (``SET_LISTPACK``, type 20, only with version 11).
Streams have a module of their own: cairn/types/rdbstream.py.

Reading accepts every encoding Redis 7.0 and 7.2 produce (and the older
ziplist ones) up to version 11, validating each structure completely: any
inconsistency raises :class:`RdbError` ("Bad data format"), never a crash.
Like Redis, the value is read from the whole payload (trailer included), so a
value that runs into the trailer is read as Redis reads it.

Pure data: no RESP, no I/O.
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from typing import Any

from cairn.types import rdbstream
from cairn.types.hash import Hash, HashTable
from cairn.types.list import LP_HEADER, List, exceeds, sizes
from cairn.types.rdbcodecs import LZF_BUDGET, RdbError, crc64, lzf_compress, lzf_decompress
from cairn.types.set import HASHTABLE as SET_HASHTABLE
from cairn.types.set import INTSET as SET_INTSET
from cairn.types.set import LISTPACK as SET_LISTPACK
from cairn.types.set import RedisSet, limits_from
from cairn.types.stream import Stream
from cairn.types.zset import ZSet
from cairn.types.zset import build as build_zset

WRITE_VERSION = 10  # Redis 7.0 (7.2 writes 11 and reads both)
READ_VERSION = 11  # the newest payload we accept (Redis 7.2)

# Object types.
T_STRING, T_LIST, T_SET, T_ZSET, T_HASH, T_ZSET_2 = 0, 1, 2, 3, 4, 5
T_LIST_ZIPLIST, T_SET_INTSET, T_ZSET_ZIPLIST, T_HASH_ZIPLIST = 10, 11, 12, 13
T_LIST_QUICKLIST, T_HASH_LISTPACK, T_ZSET_LISTPACK = 14, 16, 17
T_LIST_QUICKLIST_2, T_SET_LISTPACK = 18, 20

QUICKLIST_PLAIN, QUICKLIST_PACKED = 1, 2
PACKED_THRESHOLD = 1 << 30  # elements this long get a node of their own (plain)



# -- integers as Redis spells them --------------------------------------------------

_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1


def _canonical_int(v: bytes) -> int | None:
    """string2ll: a decimal with no sign but '-', no leading zero, in int64."""
    n = len(v)
    if n == 0 or n > 20:
        return None
    first = v[0]
    if first == 0x30:
        return 0 if n == 1 else None
    if first == 0x2D:
        if n == 1 or v[1] == 0x30 or not v[1:].isdigit():
            return None
    elif not v.isdigit():
        return None
    value = int(v)
    return value if _I64_MIN <= value <= _I64_MAX else None


# -- writing -------------------------------------------------------------------------


def _len(out: bytearray, n: int) -> None:
    if n < 64:
        out.append(n)
    elif n < 16384:
        out.append(0x40 | (n >> 8))
        out.append(n & 0xFF)
    elif n <= 0xFFFFFFFF:
        out.append(0x80)
        out += n.to_bytes(4, "big")
    else:
        out.append(0x81)
        out += n.to_bytes(8, "big")


def _lzf_blob(out: bytearray, packed: bytes, size: int) -> None:
    out.append(0xC3)
    _len(out, len(packed))
    _len(out, size)
    out += packed


def _string(out: bytearray, s: bytes) -> None:
    """rdbSaveRawString: int8/16/32 for short canonical integers, LZF when it
    saves at least 4 bytes of a string longer than 20, else length + bytes."""
    n = len(s)
    if n <= 11:
        value = _canonical_int(s)
        if value is not None:
            if -128 <= value <= 127:
                out.append(0xC0)
                out += value.to_bytes(1, "little", signed=True)
                return
            if -32768 <= value <= 32767:
                out.append(0xC1)
                out += value.to_bytes(2, "little", signed=True)
                return
            if -(1 << 31) <= value < 1 << 31:
                out.append(0xC2)
                out += value.to_bytes(4, "little", signed=True)
                return
    elif n > 20 and (n <= 4096 or n > 1 << 22 or len(zlib.compress(s, 1)) < n):
        packed = lzf_compress(bytes(s), n - 4, LZF_BUDGET)
        if packed is not None:
            _lzf_blob(out, packed, n)
            return
    _len(out, n)
    out += s


def _backlen(size: int) -> bytes:
    """A listpack entry's back-length: 7 bits a byte, readable from the right."""
    if size <= 127:
        return bytes((size,))
    n = 2 if size < 16383 else 3 if size < 2097151 else 4 if size < 268435455 else 5
    return bytes([size >> (7 * (n - 1))]
                 + [((size >> (7 * k)) & 127) | 128 for k in range(n - 2, -1, -1)])


def _lp_entry(v: bytes) -> bytes:
    """One listpack entry (encoding, data, back-length) as lpAppend writes it."""
    n = len(v)
    value = _canonical_int(v) if n and n <= 20 else None
    if value is not None:
        if 0 <= value <= 127:
            return bytes((value, 1))
        if -4096 <= value <= 4095:
            u = value & 0x1FFF
            return bytes((0xC0 | (u >> 8), u & 0xFF, 2))
        if -32768 <= value <= 32767:
            return b"\xf1" + value.to_bytes(2, "little", signed=True) + b"\x03"
        if -8388608 <= value <= 8388607:
            return b"\xf2" + value.to_bytes(3, "little", signed=True) + b"\x04"
        if -(1 << 31) <= value < 1 << 31:
            return b"\xf3" + value.to_bytes(4, "little", signed=True) + b"\x05"
        return b"\xf4" + value.to_bytes(8, "little", signed=True) + b"\x09"
    if n < 64:
        head = bytes((0x80 | n,))
    elif n < 4096:
        head = bytes((0xE0 | (n >> 8), n & 0xFF))
    else:
        head = b"\xf0" + n.to_bytes(4, "little")
    return head + bytes(v) + _backlen(len(head) + n)


def listpack(values: list[bytes]) -> bytes:
    """A listpack holding ``values`` (integers as integers, like lpAppend)."""
    body = b"".join(map(_lp_entry, values))
    count = len(values)
    return ((len(body) + LP_HEADER).to_bytes(4, "little")
            + (count if count < 65535 else 65535).to_bytes(2, "little") + body + b"\xff")


_LL_HALF = float(1 << 62)


def _score_text(score: float) -> bytes:
    """Redis 7.0's d2string (what a listpack-encoded zset stores): integral
    values within +-2**62 as integers, others with "%.17g"."""
    if score == 0.0:
        return b"-0" if math.copysign(1.0, score) < 0 else b"0"
    if math.isinf(score):
        return b"inf" if score > 0 else b"-inf"
    if -_LL_HALF <= score <= _LL_HALF and score == int(score):
        return b"%d" % int(score)
    return b"%.17g" % score


def _list_nodes(items: list[bytes], fill: int) -> list[list[bytes]]:
    """Split elements into quicklist nodes the way Redis 7.0 fills them on RPUSH."""
    if fill < 0:
        limit = (4096, 8192, 16384, 32768, 65536)[min(-fill - 1, 4)]
    nodes: list[list[bytes]] = []
    node: list[bytes] | None = None
    node_bytes = 0
    for item in items:
        n = len(item)
        if n >= PACKED_THRESHOLD:
            nodes.append([item])
            node = None
            continue
        if node is not None:
            new_size = node_bytes + n + 8
            if (new_size <= limit) if fill < 0 else (new_size <= 8192 and len(node) < fill):
                node.append(item)
                node_bytes += sizes((item,))
                continue
        node = [item]
        node_bytes = LP_HEADER + sizes(node)
        nodes.append(node)
    return nodes


def _write_list(out: bytearray, value: List, config: Any) -> None:
    items = list(value)
    nodes = _list_nodes(items, config["list-max-listpack-size"])
    depth = config["list-compress-depth"]
    count = len(nodes)
    out.append(T_LIST_QUICKLIST_2)
    _len(out, count)
    for i, node in enumerate(nodes):
        if len(node) == 1 and len(node[0]) >= PACKED_THRESHOLD:
            _len(out, QUICKLIST_PLAIN)
            _string(out, node[0])
            continue
        _len(out, QUICKLIST_PACKED)
        blob = listpack(node)
        if depth and depth <= i < count - depth and len(blob) >= 48:
            packed = lzf_compress(blob, len(blob))
            if packed is not None and len(packed) + 8 < len(blob):
                _lzf_blob(out, packed, len(blob))
                continue
        _string(out, blob)


def encode(value: Any, config: Any, version: int = WRITE_VERSION) -> bytes:
    """``<type byte><value>`` for a stored value (bytes, List, Hash, RedisSet, ZSet,
    Stream: see cairn/types/rdbstream.py)."""
    out = bytearray()
    t = type(value)
    if t is bytes or t is bytearray:
        out.append(T_STRING)
        _string(out, value)
    elif t is List:
        _write_list(out, value, config)
    elif t is Hash:
        out.append(T_HASH_LISTPACK)
        flat: list[bytes] = []
        for pair in value.items():
            flat.extend(pair)
        _string(out, listpack(flat))
    elif t is HashTable:
        out.append(T_HASH)
        _len(out, len(value))
        for field, val in value.items():
            _string(out, field)
            _string(out, val)
    elif t is RedisSet:
        members = value.ordered()
        if value.enc == SET_INTSET:
            numbers = sorted(map(int, members))
            width = 2 if -32768 <= numbers[0] and numbers[-1] <= 32767 else (
                4 if -(1 << 31) <= numbers[0] and numbers[-1] < 1 << 31 else 8)
            blob = (width.to_bytes(4, "little") + len(numbers).to_bytes(4, "little")
                    + b"".join(x.to_bytes(width, "little", signed=True) for x in numbers))
            out.append(T_SET_INTSET)
            _string(out, blob)
        elif value.enc == SET_LISTPACK and version >= 11:
            out.append(T_SET_LISTPACK)
            _string(out, listpack(members))
        else:
            out.append(T_SET)
            _len(out, len(members))
            for member in members:
                _string(out, member)
    elif t is ZSet:
        if value.big:
            out.append(T_ZSET_2)
            _len(out, len(value))
            pack = struct.pack
            for score, member in reversed(value.order):
                _string(out, member)
                out += pack("<d", score)
        else:
            out.append(T_ZSET_LISTPACK)
            flat = []
            for score, member in value.order:
                flat.append(member)
                flat.append(_score_text(score))
            _string(out, listpack(flat))
    elif t is Stream:
        rdbstream.write(out, value, version)
    else:
        raise TypeError(f"no RDB encoding for {t.__name__}")
    return bytes(out)


def dump(value: Any, config: Any, version: int = WRITE_VERSION) -> bytes:
    """The DUMP payload of a value: encoding, version and CRC-64 trailer."""
    body = encode(value, config, version) + version.to_bytes(2, "little")
    return body + crc64(body).to_bytes(8, "little")


def verify(payload: bytes) -> bool:
    """Redis' verifyDumpPayload: a known version and a matching checksum."""
    if len(payload) < 10:
        return False
    if int.from_bytes(payload[-10:-8], "little") > READ_VERSION:
        return False
    return crc64(memoryview(payload)[:-8]) == int.from_bytes(payload[-8:], "little")


# -- reading -------------------------------------------------------------------------


class _Reader:
    """A cursor over the payload; reading past its end is an RdbError."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        pos = self.pos
        end = pos + n
        if end > len(self.data):
            raise RdbError("truncated")
        self.pos = end
        return self.data[pos:end]

    def byte(self) -> int:
        pos = self.pos
        if pos >= len(self.data):
            raise RdbError("truncated")
        self.pos = pos + 1
        return self.data[pos]

    def length(self) -> tuple[int, bool]:
        """(length, is_special_encoding) as rdbLoadLenByRef reads it."""
        first = self.byte()
        kind = first >> 6
        if kind == 0:
            return first, False
        if kind == 1:
            return ((first & 0x3F) << 8) | self.byte(), False
        if kind == 3:
            return first & 0x3F, True
        if first == 0x80:
            return int.from_bytes(self.take(4), "big"), False
        if first == 0x81:
            return int.from_bytes(self.take(8), "big"), False
        raise RdbError("length encoding")

    def count(self) -> int:
        return self.length()[0]

    def string(self) -> bytes:
        n, special = self.length()
        if not special:
            return self.take(n)
        if n == 0:
            return b"%d" % int.from_bytes(self.take(1), "little", signed=True)
        if n == 1:
            return b"%d" % int.from_bytes(self.take(2), "little", signed=True)
        if n == 2:
            return b"%d" % int.from_bytes(self.take(4), "little", signed=True)
        if n == 3:
            packed_len = self.count()
            size = self.count()
            packed = self.take(packed_len)
            return lzf_decompress(packed, size) if size else b""
        raise RdbError("string encoding")


def _lp_values(blob: bytes) -> list[bytes]:
    """The entries of a listpack, fully validated."""
    n = len(blob)
    if n < LP_HEADER or int.from_bytes(blob[:4], "little") != n or blob[-1] != 0xFF:
        raise RdbError("listpack header")
    declared = int.from_bytes(blob[4:6], "little")
    values: list[bytes] = []
    append = values.append
    end = n - 1
    p = 6
    while p < end:
        b = blob[p]
        if b < 0x80:
            size = 1
            append(b"%d" % b)
        elif b < 0xC0:
            size = 1 + (b & 0x3F)
            append(blob[p + 1:p + size])
        elif b < 0xE0:
            size = 2
            v = ((b & 0x1F) << 8) | blob[p + 1]
            append(b"%d" % (v - 8192 if v >= 4096 else v))
        elif b < 0xF0:
            size = 2 + (((b & 0x0F) << 8) | blob[p + 1])
            append(blob[p + 2:p + size])
        elif b == 0xF0:
            size = 5 + int.from_bytes(blob[p + 1:p + 5], "little")
            append(blob[p + 5:p + size])
        elif b <= 0xF4:
            width = (2, 3, 4, 8)[b - 0xF1]
            size = 1 + width
            append(b"%d" % int.from_bytes(blob[p + 1:p + size], "little", signed=True))
        else:
            raise RdbError("listpack entry")
        back = _backlen(size)
        p += size
        if p + len(back) > end or blob[p:p + len(back)] != back:
            raise RdbError("listpack entry")
        p += len(back)
    if p != end or (declared != 65535 and declared != len(values)):
        raise RdbError("listpack count")
    return values


def _zl_values(blob: bytes) -> list[bytes]:
    """The entries of a (pre-7.0) ziplist, validated."""
    n = len(blob)
    if n < 11 or int.from_bytes(blob[:4], "little") != n or blob[-1] != 0xFF:
        raise RdbError("ziplist header")
    declared = int.from_bytes(blob[8:10], "little")
    values: list[bytes] = []
    end = n - 1
    p = 10
    prev = 0
    last = 10
    while p < end:
        last = p
        start = p
        if blob[p] < 254:
            prevlen = blob[p]
            p += 1
        elif blob[p] == 254:
            prevlen = int.from_bytes(blob[p + 1:p + 5], "little")
            p += 5
        else:
            raise RdbError("ziplist prevlen")
        if prevlen != prev or p >= end:
            raise RdbError("ziplist prevlen")
        b = blob[p]
        kind = b >> 6
        if kind == 0:
            head, size = 1, b & 0x3F
        elif kind == 1:
            head, size = 2, ((b & 0x3F) << 8) | blob[p + 1]
        elif kind == 2:
            if b != 0x80:
                raise RdbError("ziplist encoding")
            head, size = 5, int.from_bytes(blob[p + 1:p + 5], "big")
        else:
            head, size = 1, 0
            width = {0xC0: 2, 0xD0: 4, 0xE0: 8, 0xF0: 3, 0xFE: 1}.get(b)
            if width is not None:
                number = int.from_bytes(blob[p + 1:p + 1 + width], "little", signed=True)
                head += width
            elif 0xF1 <= b <= 0xFD:
                number = (b & 0x0F) - 1
            else:
                raise RdbError("ziplist encoding")
        if p + head + size > end:
            raise RdbError("ziplist entry")
        if kind == 3:
            values.append(b"%d" % number)
        else:
            values.append(blob[p + head:p + head + size])
        p += head + size
        prev = p - start
    if p != end or (values and int.from_bytes(blob[4:8], "little") != last):
        raise RdbError("ziplist tail")
    if declared != 65535 and declared != len(values):
        raise RdbError("ziplist count")
    return values


def _intset_values(blob: bytes) -> list[bytes]:
    if len(blob) < 8:
        raise RdbError("intset header")
    width = int.from_bytes(blob[:4], "little")
    count = int.from_bytes(blob[4:8], "little")
    if width not in (2, 4, 8) or len(blob) != 8 + width * count:
        raise RdbError("intset size")
    numbers = [int.from_bytes(blob[i:i + width], "little", signed=True)
               for i in range(8, len(blob), width)]
    for i in range(1, count):
        if numbers[i - 1] >= numbers[i]:
            raise RdbError("intset order")
    return [b"%d" % x for x in numbers]


_STRTOD = re.compile(
    rb"[ \t\n\v\f\r]*([+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan))", re.I)


def _strtod(text: bytes) -> float | None:
    """The number strtod/sscanf find at the start of ``text`` (None: none)."""
    found = _STRTOD.match(text)
    return float(found.group(1)) if found else None


def _listpack_score(text: bytes) -> float:
    """zzlStrtod: whatever number the text starts with, else 0."""
    score = _strtod(text)
    return 0.0 if score is None else score


def _pairs(flat: list[bytes]) -> list[tuple[bytes, bytes]]:
    if len(flat) % 2:
        raise RdbError("odd number of entries")
    return list(zip(flat[::2], flat[1::2], strict=True))


def _make_hash(pairs: list[tuple[bytes, bytes]], config: Any, by_count_only: bool) -> Hash:
    entries = config["hash-max-listpack-entries"]
    table = len(pairs) > entries
    if not table and not by_count_only:
        limit = config["hash-max-listpack-value"]
        table = any(len(f) > limit or len(v) > limit for f, v in pairs)
    value = HashTable(pairs) if table else Hash(pairs)
    if len(value) != len(pairs):
        raise RdbError("duplicate hash field")
    return value


def _make_zset(pairs: list[tuple[bytes, float]], config: Any, by_count_only: bool) -> ZSet:
    scores = dict(pairs)
    if not scores:
        raise RdbError("empty value")
    if len(scores) != len(pairs):
        raise RdbError("duplicate zset member")
    for score in scores.values():
        if score != score:
            raise RdbError("NaN score")
    big = len(scores) > config["zset-max-listpack-entries"]
    if not big and not by_count_only:
        big = max(map(len, scores)) > config["zset-max-listpack-value"]
    return build_zset(scores, big)


def _make_list(items: list[bytes], nodes: int, config: Any) -> List:
    fill = config["list-max-listpack-size"]
    packed = nodes <= 1 and not exceeds(fill, LP_HEADER + sizes(items), len(items))
    return List(items, packed=packed)


def _read_value(kind: int, r: _Reader, config: Any) -> Any:
    if kind == T_STRING:
        return r.string()
    if kind == T_LIST:
        n = r.count()
        return _make_list([r.string() for _ in range(n)], 1, config)
    if kind in (T_LIST_QUICKLIST_2, T_LIST_QUICKLIST):
        items: list[bytes] = []
        nodes = 0
        for _ in range(r.count()):
            container = r.count() if kind == T_LIST_QUICKLIST_2 else QUICKLIST_PACKED
            if container == QUICKLIST_PLAIN:
                items.append(r.string())
                nodes += 1
                continue
            if container != QUICKLIST_PACKED:
                raise RdbError("quicklist container")
            blob = r.string()
            part = _lp_values(blob) if kind == T_LIST_QUICKLIST_2 else _zl_values(blob)
            if part:  # Redis skips empty nodes
                items.extend(part)
                nodes += 1
        return _make_list(items, nodes, config)
    if kind == T_LIST_ZIPLIST:
        return _make_list(_zl_values(r.string()), 1, config)
    if kind == T_SET:
        n = r.count()
        limits = limits_from(config)
        value = RedisSet(SET_HASHTABLE if n > limits[0] else SET_INTSET)
        for _ in range(n):
            if not value.add(r.string(), limits):
                raise RdbError("duplicate set member")
        return value
    if kind == T_SET_INTSET:
        members = _intset_values(r.string())
        small = len(members) <= limits_from(config)[0]
        return RedisSet(SET_INTSET if small else SET_HASHTABLE, members)
    if kind == T_SET_LISTPACK:
        members = _lp_values(r.string())
        small = len(members) <= config["set-max-listpack-entries"]
        value = RedisSet(SET_LISTPACK if small else SET_HASHTABLE, members)
        if len(value) != len(members):
            raise RdbError("duplicate set member")
        return value
    if kind == T_HASH:
        n = r.count()
        return _make_hash([(r.string(), r.string()) for _ in range(n)], config, False)
    if kind == T_HASH_LISTPACK:
        return _make_hash(_pairs(_lp_values(r.string())), config, True)
    if kind == T_HASH_ZIPLIST:
        return _make_hash(_pairs(_zl_values(r.string())), config, True)
    if kind == T_ZSET_2:
        n = r.count()
        unpack = struct.unpack
        return _make_zset([(r.string(), unpack("<d", r.take(8))[0]) for _ in range(n)],
                          config, False)
    if kind == T_ZSET:
        n = r.count()
        zpairs = []
        for _ in range(n):
            member = r.string()
            size = r.byte()
            if size == 253:
                raise RdbError("NaN score")
            score = math.inf if size == 254 else -math.inf if size == 255 else (
                _strtod(r.take(size)))
            if score is None:
                raise RdbError("score")
            zpairs.append((member, score))
        return _make_zset(zpairs, config, False)
    if kind in (T_ZSET_LISTPACK, T_ZSET_ZIPLIST):
        blob = r.string()
        flat = _lp_values(blob) if kind == T_ZSET_LISTPACK else _zl_values(blob)
        return _make_zset([(m, _listpack_score(s)) for m, s in _pairs(flat)], config, True)
    if kind in rdbstream.STREAM_TYPES:
        return rdbstream.read(kind, r)
    raise RdbError(f"unsupported type {kind}")


def load(payload: bytes, config: Any) -> Any:
    """The value in a verified payload (see :func:`verify`), as Cairn stores it,
    with the encoding Redis would give it on load. Raises RdbError."""
    r = _Reader(payload)
    try:
        value = _read_value(r.byte(), r, config)
    except RdbError:
        raise
    except (IndexError, ValueError, OverflowError, struct.error) as exc:  # defensive
        raise RdbError(str(exc)) from None
    if type(value) is not bytes and not len(value) and type(value) is not Stream:
        raise RdbError("empty value")  # (a stream may be empty)
    return value
