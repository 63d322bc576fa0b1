"""HyperLogLog values, byte for byte in Redis' format.

An HLL is a string: a 16-byte header ("HYLL", encoding byte, 3 unused bytes,
8-byte cached cardinality in little-endian order whose top bit marks it
stale) followed by the registers. There are 16384 registers of 6 bits.

* dense (encoding 0): 12288 bytes, register i at bit 6*i, least significant
  bit first.
* sparse (encoding 1): run-length opcodes. ZERO ``00xxxxxx`` (1-64 zero
  registers), XZERO ``01xxxxxx yyyyyyyy`` (1-16384 zero registers), VAL
  ``1vvvvvxx`` (1-4 registers holding 1-32).

An element hashes (MurmurHash64A, seed 0xadc83b19) to a register (low 14 bits)
and a count: 1 + the number of trailing zeros of the remaining 50 bits.

The sparse editor reproduces the exact opcode sequence redis-server writes for
the same history: how a run is split, when adjacent VAL opcodes are merged
(a window of five opcodes after each change) and when the value is promoted to
dense (a register above 32, or the string growing past hll-sparse-max-bytes).
Well-formed sparse values are edited as a list of opcodes (binary search to the
run, no byte scanning); malformed ones go through a byte-level editor that
behaves the same way on whatever bytes it finds.

This module is pure data: no RESP, no keyspace. Values are ``bytes`` or
``bytearray``; functions that change a value return the new one.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from itertools import accumulate, compress

HLL_P = 14
HLL_Q = 64 - HLL_P
REGISTERS = 1 << HLL_P
P_MASK = REGISTERS - 1
HEADER = 16
DENSE_BYTES = REGISTERS * 6 // 8
DENSE_SIZE = HEADER + DENSE_BYTES
DENSE = 0
SPARSE = 1
MAGIC = b"HYLL"

VAL_MAX_VALUE = 32
VAL_MAX_LEN = 4
ZERO_MAX_LEN = 64
XZERO_MAX_LEN = 16384

# Opcode kinds in the opcode-list representation.
_ZERO, _XZERO, _VAL = 0, 1, 2

_M = 0xC6A4A7935BD1E995
_MASK64 = 0xFFFFFFFFFFFFFFFF
SEED = 0xADC83B19
_ALPHA_INF = 0.721347520444481703680


class NotHLL(Exception):
    """The string is not an HLL (bad magic, encoding or dense length)."""


class CorruptHLL(Exception):
    """The registers cannot be decoded (a sparse run overflows or falls short)."""


# -- hashing -------------------------------------------------------------------------


def murmurhash64a(data: bytes, seed: int = SEED) -> int:
    """MurmurHash64A as Redis computes it (little-endian word reads)."""
    n = len(data)
    m = _M
    mask = _MASK64
    h = (seed ^ (n * m)) & mask
    blocks = n >> 3
    if blocks:
        for k in struct.unpack_from(f"<{blocks}Q", data):
            k = (k * m) & mask
            k ^= k >> 47
            k = (k * m) & mask
            h = ((h ^ k) * m) & mask
    rest = n & 7
    if rest:
        h ^= int.from_bytes(data[n - rest :], "little")
        h = (h * m) & mask
    h ^= h >> 47
    h = (h * m) & mask
    h ^= h >> 47
    return h


def pattern(element: bytes) -> tuple[int, int]:
    """(register index, count) for an element."""
    h = murmurhash64a(element)
    rest = (h >> HLL_P) | (1 << HLL_Q)
    return h & P_MASK, (rest & -rest).bit_length()


# -- header ----------------------------------------------------------------------------


def new_sparse() -> bytearray:
    """An empty HLL as PFADD creates it: sparse, one XZERO run, cached count 0."""
    out = bytearray(MAGIC)
    out += bytes(12)
    out[4] = SPARSE
    out += _xzero(REGISTERS)
    return out


def encoding(value: bytes | bytearray) -> int:
    """The encoding of a valid HLL string, or NotHLL."""
    if len(value) < HEADER or value[:4] != MAGIC:
        raise NotHLL
    enc = value[4]
    if enc > SPARSE or (enc == DENSE and len(value) != DENSE_SIZE):
        raise NotHLL
    return enc


def cached_count(value: bytes | bytearray) -> int | None:
    """The cached cardinality, or None when it is marked stale."""
    if value[15] & 0x80:
        return None
    return int.from_bytes(value[8:16], "little")


def store_count(value: bytearray, count: int) -> None:
    value[8:16] = count.to_bytes(8, "little")


def invalidate(value: bytearray) -> None:
    value[15] |= 0x80


# -- dense registers -----------------------------------------------------------------


def _table(fn: Callable[[int], int]) -> bytes:
    """A bytes.translate table applying fn to every byte value."""
    return bytes(fn(i) & 0xFF for i in range(256))


_LOW6 = _table(lambda b: b & 63)
_SHR6 = _table(lambda b: b >> 6)
_LOW4_SHL2 = _table(lambda b: (b & 15) << 2)
_SHR4 = _table(lambda b: b >> 4)
_LOW2_SHL4 = _table(lambda b: (b & 3) << 4)
_SHR2 = _table(lambda b: b >> 2)
_SHL6 = _table(lambda b: b << 6)
_SHL4 = _table(lambda b: b << 4)
_SHL2 = _table(lambda b: b << 2)


def _or(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "little") | int.from_bytes(b, "little")).to_bytes(len(a), "little")


def dense_registers(value: bytes | bytearray) -> bytes:
    """All 16384 registers of a dense HLL, one byte each, in register order."""
    packed = bytes(value[HEADER:DENSE_SIZE])
    b0, b1, b2 = packed[0::3], packed[1::3], packed[2::3]
    out = bytearray(REGISTERS)
    out[0::4] = b0.translate(_LOW6)
    out[1::4] = _or(b0.translate(_SHR6), b1.translate(_LOW4_SHL2))
    out[2::4] = _or(b1.translate(_SHR4), b2.translate(_LOW2_SHL4))
    out[3::4] = b2.translate(_SHR2)
    return bytes(out)


def pack_registers(regs: bytes | bytearray) -> bytes:
    """The 12288 packed bytes of 16384 registers (each 0..63)."""
    r0, r1, r2, r3 = bytes(regs[0::4]), bytes(regs[1::4]), bytes(regs[2::4]), bytes(regs[3::4])
    out = bytearray(DENSE_BYTES)
    out[0::3] = _or(r0, r1.translate(_SHL6))
    out[1::3] = _or(r1.translate(_SHR2), r2.translate(_SHL4))
    out[2::3] = _or(r2.translate(_SHR4), r3.translate(_SHL2))
    return bytes(out)


def dense_get(value: bytes | bytearray, index: int) -> int:
    bit = index * 6
    pos = HEADER + (bit >> 3)
    fb = bit & 7
    if fb > 2:
        return ((value[pos] >> fb) | (value[pos + 1] << (8 - fb))) & 63
    return (value[pos] >> fb) & 63


def dense_set(value: bytearray, index: int, count: int) -> None:
    bit = index * 6
    pos = HEADER + (bit >> 3)
    fb = bit & 7
    value[pos] = (value[pos] & ~(63 << fb) & 0xFF) | ((count << fb) & 0xFF)
    if fb > 2:
        shift = 8 - fb
        value[pos + 1] = (value[pos + 1] & ~(63 >> shift)) | (count >> shift)


def dense_add(value: bytearray, elements: list[bytes]) -> int:
    """Add elements to a dense HLL in place; the number of registers raised."""
    updated = 0
    get, put = dense_get, dense_set
    for element in elements:
        index, count = pattern(element)
        if count > get(value, index):
            put(value, index, count)
            updated += 1
    return updated


# -- merging and counting -----------------------------------------------------------

_HIGH = int.from_bytes(b"\x80" * REGISTERS, "little")


def max_registers(a: bytes | bytearray, b: bytes | bytearray) -> bytes:
    """Register-wise maximum of two register arrays (values below 128)."""
    x = int.from_bytes(a, "little")
    y = int.from_bytes(b, "little")
    ge = (((x | _HIGH) - y) & _HIGH) >> 7  # 1 in each lane where x >= y
    take_x = ge * 255
    return ((x & take_x) | (y & ~take_x)).to_bytes(REGISTERS, "little")


_SINGLE = [bytes((i,)) for i in range(256)]


def histogram(regs: bytes | bytearray) -> list[int]:
    hist = [0] * 64
    left = len(regs)
    count = regs.count
    v = 0
    while left:  # registers are mostly small: stop once all are counted
        n = count(_SINGLE[v])
        hist[v] = n
        left -= n
        v += 1
    return hist


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y = 1.0
    z = 1.0 - x
    while True:
        x = math.sqrt(x)
        before = z
        y *= 0.5
        z -= math.pow(1.0 - x, 2) * y
        if before == z:
            return z / 3


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y = 1.0
    z = x
    while True:
        x *= x
        before = z
        z += x * y
        y += y
        if before == z:
            return z


def estimate(hist: list[int]) -> int:
    """Ertl's improved estimator over the register histogram, as Redis uses it."""
    m = float(REGISTERS)
    z = m * _tau((m - hist[HLL_Q + 1]) / m)
    for j in range(HLL_Q, 0, -1):
        z += hist[j]
        z *= 0.5
    z += m * _sigma(hist[0] / m)
    if z == 0.0:
        # Only registers above 51 (a forged dense value): the division gives
        # infinity, which llroundl turns into 2**63 on the platforms Redis runs on.
        return 1 << 63
    e = _ALPHA_INF * m * m / z
    whole = math.floor(e)  # llroundl: halves round away from zero (e >= 0)
    return whole + 1 if e - whole >= 0.5 else whole


# -- sparse opcodes -----------------------------------------------------------------
#
# Two readers. A well-formed sparse value (runs covering exactly the 16384
# registers, ending exactly at the end of the string) becomes a list of opcode
# codes, so the loops over it run in C: a one-byte opcode is its byte (ZERO
# 0..63, VAL 128..255), an XZERO is minus its run length. Anything else is
# walked byte by byte with Redis' rules for malformed input (an XZERO cut short
# by the end of the string reads its second byte as 0: the terminating NUL
# redis-server finds there).

# _RUNS[code] -> registers covered; negative codes index from the end, where
# _RUNS[-r] == r for the XZERO runs r = 1..16384.
_RUNS = [((b & 3) + 1) if b & 0x80 else (b + 1 if b < 64 else 0) for b in range(256)]
_RUNS += list(range(XZERO_MAX_LEN, 0, -1))


def _xzero(length: int) -> bytes:
    n = length - 1
    return bytes(((n >> 8) | 0x40, n & 0xFF))


# _TOKEN[code] -> the opcode's bytes (same indexing as _RUNS).
_TOKEN = [bytes((b,)) for b in range(256)] + [_xzero(r) for r in range(XZERO_MAX_LEN, 0, -1)]


class _Expand(dict):  # type: ignore[type-arg]
    """code -> the registers it stands for (XZERO runs made on demand)."""

    def __missing__(self, code: int) -> bytes:
        return bytes(-code)


_EXPAND = _Expand()
for _b in range(256):
    if _b & 0x80:
        _EXPAND[_b] = bytes((((_b >> 2) & 31) + 1,)) * ((_b & 3) + 1)
    elif _b < 64:
        _EXPAND[_b] = bytes(_b + 1)
_XMARK = bytes(0x58 if 0x40 <= b < 0x80 else 0x2E for b in range(256))  # "X" / "."


def _val_code(value: int, run: int) -> int:
    return 0x80 | ((value - 1) << 2) | (run - 1)


def _zero_code(run: int) -> int:
    return run - 1 if run <= ZERO_MAX_LEN else -run


def _codes(value: bytes | bytearray) -> list[int] | None:
    """The opcode codes of a well-formed sparse HLL, or None."""
    payload = bytes(value[HEADER:])
    codes: list[int] = []
    marks = payload.translate(_XMARK)
    find = marks.find
    start = 0
    lead = find(b"X")
    while lead >= 0:
        # An XZERO's second byte may look like an XZERO too: skip it.
        if lead + 1 >= len(payload):
            return None
        codes.extend(payload[start:lead])
        codes.append(-((((payload[lead] & 63) << 8) | payload[lead + 1]) + 1))
        start = lead + 2
        lead = find(b"X", start)
    codes.extend(payload[start:])
    if sum(map(_RUNS.__getitem__, codes)) != REGISTERS:
        return None
    return codes


def _opcodes(value: bytes | bytearray) -> list[tuple[int, int, int]]:
    """(kind, register value, run length) of every opcode, whatever the bytes."""
    out: list[tuple[int, int, int]] = []
    append = out.append
    p = HEADER
    end = len(value)
    while p < end:
        b = value[p]
        if b & 0x80:
            append((_VAL, ((b >> 2) & 31) + 1, (b & 3) + 1))
            p += 1
        elif b & 0x40:
            low = value[p + 1] if p + 1 < end else 0
            append((_XZERO, 0, (((b & 63) << 8) | low) + 1))
            p += 2
        else:
            append((_ZERO, 0, (b & 63) + 1))
            p += 1
    return out


def _code_regs(codes: list[int]) -> bytes:
    return b"".join(map(_EXPAND.__getitem__, codes))


def sparse_histogram(value: bytes | bytearray) -> list[int]:
    """Register histogram of a sparse HLL (PFCOUNT's rules: every run counts;
    the runs must add up to 16384 registers exactly)."""
    hist = [0] * 64
    codes = _codes(value)
    if codes is not None:
        for code, times in Counter(codes).items():
            if code >= 0x80:
                hist[((code >> 2) & 31) + 1] += ((code & 3) + 1) * times
            else:
                hist[0] += _RUNS[code] * times
        return hist
    total = 0
    for _kind, val, run in _opcodes(value):
        total += run
        hist[val] += run
    if total != REGISTERS:
        raise CorruptHLL
    return hist


def sparse_registers(value: bytes | bytearray) -> bytes | bytearray:
    """The registers of a sparse HLL; CorruptHLL unless its runs cover exactly
    the 16384 registers (redis-server 7.0.15, as Debian ships it, also rejects
    a VAL run past the last register, so nothing may follow the last run)."""
    codes = _codes(value)
    if codes is not None:
        return _code_regs(codes)
    ops = _opcodes(value)
    if sum(run for _kind, _val, run in ops) != REGISTERS:
        raise CorruptHLL
    regs = bytearray(REGISTERS)
    i = 0
    for kind, val, run in ops:
        if kind == _VAL:
            regs[i : i + run] = _SINGLE[val] * run
        i += run
    return regs


def registers(value: bytes | bytearray) -> bytes | bytearray:
    """All registers of a valid HLL (CorruptHLL for a broken sparse one)."""
    if value[4] == DENSE:
        return dense_registers(value)
    return sparse_registers(value)


def _dense_with(header: bytes | bytearray, regs: bytes | bytearray) -> bytearray:
    out = bytearray(header[:HEADER])
    out[4] = DENSE
    out += pack_registers(regs)
    return out


def sparse_to_dense(value: bytes | bytearray) -> bytearray:
    """The dense form of a sparse HLL; the header (cached count included) is kept."""
    return _dense_with(value, sparse_registers(value))


def decode_text(value: bytes | bytearray) -> bytes:
    """PFDEBUG DECODE's text for a sparse HLL."""
    parts = []
    for kind, val, run in _opcodes(value):
        if kind == _VAL:
            parts.append(b"v:%d,%d" % (val, run))
        elif kind == _XZERO:
            parts.append(b"Z:%d" % run)
        else:
            parts.append(b"z:%d" % run)
    return b" ".join(parts)


def count(value: bytes | bytearray) -> int:
    """Cardinality of one valid HLL from its registers (ignores the cache)."""
    if value[4] == DENSE:
        return estimate(histogram(dense_registers(value)))
    return estimate(sparse_histogram(value))


# -- sparse editing ---------------------------------------------------------------

_PROMOTE = -2


class _SparseCodes:
    """A well-formed sparse HLL being edited: its opcode codes and the first
    register of each, so the run holding a register is a binary search away."""

    __slots__ = ("codes", "nbytes", "starts")

    def __init__(self, codes: list[int], nbytes: int) -> None:
        self.codes = codes
        self.starts = list(accumulate(map(_RUNS.__getitem__, codes), initial=0))
        self.starts.pop()
        self.nbytes = nbytes  # the whole string's length, header included

    def payload(self) -> bytes:
        return b"".join(map(_TOKEN.__getitem__, self.codes))

    def set(self, index: int, count: int, max_bytes: int) -> int:
        """Raise register ``index`` to ``count``: 1 changed, 0 not, _PROMOTE."""
        if count > VAL_MAX_VALUE:
            return _PROMOTE
        codes = self.codes
        starts = self.starts
        k = bisect_right(starts, index) - 1
        code = codes[k]
        cur = 0
        if code >= 0x80:
            cur = ((code >> 2) & 31) + 1
            if cur >= count:
                return 0
            if not code & 3:  # a run of one
                codes[k] = _val_code(count, 1)
                self._merge(k)
                return 1
        elif code == 0:  # ZERO of one register
            codes[k] = _val_code(count, 1)
            self._merge(k)
            return 1
        first = starts[k]
        last = first + _RUNS[code] - 1
        seq: list[int] = []
        seq_starts: list[int] = []
        if index != first:
            seq.append(_val_code(cur, index - first) if cur else _zero_code(index - first))
            seq_starts.append(first)
        seq.append(_val_code(count, 1))
        seq_starts.append(index)
        if index != last:
            seq.append(_val_code(cur, last - index) if cur else _zero_code(last - index))
            seq_starts.append(index + 1)
        delta = sum(2 if x < 0 else 1 for x in seq) - (2 if code < 0 else 1)
        if delta > 0 and self.nbytes + delta > max_bytes:
            return _PROMOTE
        codes[k : k + 1] = seq
        starts[k : k + 1] = seq_starts
        self.nbytes += delta
        self._merge(k)
        return 1

    def _merge(self, k: int) -> None:
        """Merge adjacent VAL runs of equal value, scanning five opcodes from
        the one before the change."""
        codes = self.codes
        p = k - 1 if k > 0 else 0
        budget = 5
        n = len(codes)
        while p < n and budget:
            budget -= 1
            a = codes[p]
            if a >= 0x80 and p + 1 < n:
                b = codes[p + 1]
                if b >= 0x80 and (a ^ b) & 0x7C == 0:
                    run = (a & 3) + (b & 3) + 2
                    if run <= VAL_MAX_LEN:
                        codes[p] = (a & 0xFC) | (run - 1)
                        del codes[p + 1]
                        del self.starts[p + 1]
                        self.nbytes -= 1
                        n -= 1
                        continue
            p += 1


def _bytes_set(value: bytearray, index: int, count: int, max_bytes: int) -> int:
    """The same update on the raw bytes of a malformed sparse value: 1, 0,
    _PROMOTE, or -1 when no run holds the register."""
    if count > VAL_MAX_VALUE:
        return _PROMOTE
    end = len(value)
    p = HEADER
    first = 0
    prev = -1
    span = 0
    while True:
        if p >= end:
            return -1
        b = value[p]
        oplen = 1
        if b & 0x80:
            span = (b & 3) + 1
        elif b & 0x40:
            span = (((b & 63) << 8) | (value[p + 1] if p + 1 < end else 0)) + 1
            oplen = 2
        else:
            span = b + 1
        if index <= first + span - 1:
            break
        prev = p
        p += oplen
        first += span
    cur = 0
    if b & 0x80:
        cur = ((b >> 2) & 31) + 1
        if cur >= count:
            return 0
    if span == 1 and not b & 0x40:  # a VAL or ZERO of one register
        value[p] = _val_code(count, 1)
    else:
        last = first + span - 1
        seq: list[int] = []
        if index != first:
            seq.append(_val_code(cur, index - first) if cur else _zero_code(index - first))
        seq.append(_val_code(count, 1))
        if index != last:
            seq.append(_val_code(cur, last - index) if cur else _zero_code(last - index))
        encoded = b"".join(map(_TOKEN.__getitem__, seq))
        oldlen = oplen
        delta = len(encoded) - oldlen
        if delta > 0 and end + delta > max_bytes:
            return _PROMOTE
        new = value[:p] + encoded + value[p + oldlen :]
        del new[end + delta :]
        value[:] = new
        end += delta
    p = prev if prev >= 0 else HEADER
    budget = 5
    while p < end and budget:
        budget -= 1
        b = value[p]
        if not b & 0x80:
            p += 2 if b & 0x40 else 1
            continue
        if p + 1 < end:
            b2 = value[p + 1]
            if b2 & 0x80 and (b ^ b2) & 0x7C == 0:
                run = (b & 3) + (b2 & 3) + 2
                if run <= VAL_MAX_LEN:
                    value[p + 1] = (b & 0xFC) | (run - 1)
                    del value[p]
                    end -= 1
                    continue
        p += 1
    return 1


def add(value: bytearray, elements: list[bytes], max_bytes: int) -> tuple[bytearray, int, bool]:
    """PFADD: (value, registers changed, stopped by corruption).

    ``value`` may be changed in place or replaced (sparse edits, promotion to
    dense). The cache is left alone. When a malformed sparse value stops the
    walk, the changes made before stay, as in Redis."""
    if value[4] == DENSE:
        return value, dense_add(value, elements), False
    codes = _codes(value)
    updated = 0
    if codes is not None:
        editor = _SparseCodes(codes, len(value))
        for i, element in enumerate(elements):
            index, cnt = pattern(element)
            r = editor.set(index, cnt, max_bytes)
            if r == _PROMOTE:
                dense = _dense_with(value, _code_regs(editor.codes))
                dense_set(dense, index, cnt)
                return dense, updated + 1 + dense_add(dense, elements[i + 1 :]), False
            updated += r
        if not updated:
            return value, 0, False
        out = bytearray(value[:HEADER])
        out += editor.payload()
        return out, updated, False
    for i, element in enumerate(elements):
        index, cnt = pattern(element)
        r = _bytes_set(value, index, cnt, max_bytes)
        if r == _PROMOTE:
            try:
                dense = sparse_to_dense(value)
            except CorruptHLL:
                return value, updated, True
            dense_set(dense, index, cnt)
            return dense, updated + 1 + dense_add(dense, elements[i + 1 :]), False
        if r < 0:
            return value, updated, True
        updated += r
    return value, updated, False


def write_registers(value: bytearray, regs: bytes | bytearray, max_bytes: int) -> bytearray:
    """PFMERGE's write of the merged registers into a valid destination: each
    non-zero register in index order (so a sparse destination takes the shape
    it takes in Redis), then the cache is invalidated."""
    if value[4] == DENSE:
        value[HEADER:] = pack_registers(max_registers(dense_registers(value), regs))
        invalidate(value)
        return value
    nonzero = compress(range(REGISTERS), regs)
    codes = _codes(value)
    if codes is not None:
        editor = _SparseCodes(codes, len(value))
        for index in nonzero:
            if editor.set(index, regs[index], max_bytes) == _PROMOTE:
                value = _dense_with(value, max_registers(_code_regs(editor.codes), regs))
                break
        else:
            value = bytearray(value[:HEADER]) + editor.payload()
    else:
        # Decodable (the merge read it) yet malformed: edit the bytes as they are.
        for index in nonzero:
            if _bytes_set(value, index, regs[index], max_bytes) == _PROMOTE:
                value = _dense_with(value, max_registers(sparse_registers(value), regs))
                break
    invalidate(value)
    return value
