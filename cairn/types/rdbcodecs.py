"""CRC-64 (Jones, as Redis computes it) and LZF, the two codecs of Redis' RDB format.

Pure Python: CRC-64 with slicing tables, LZF following liblzf with the settings
Redis builds it with, so compressed values come out as the same bytes.
"""

from __future__ import annotations

import struct
import sys


class RdbError(ValueError):
    """The payload does not hold a valid value ("ERR Bad data format")."""

# -- CRC-64 --------------------------------------------------------------------------

_POLY = 0x95AC9329AC4BC9B5  # 0xad93d23594c935a9, bit-reversed


def _tables() -> list[list[int]]:
    first = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        first.append(crc)
    tables = [first]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(v >> 8) ^ first[v & 0xFF] for v in prev])
    return tables


_T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7 = _tables()
_LITTLE = sys.byteorder == "little"


def crc64(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """Redis' crc64 (Jones, reflected in and out, no final xor)."""
    view = memoryview(data).cast("B")
    n = len(view)
    whole = n - n % 8
    t0, t1, t2, t3, t4, t5, t6, t7 = _T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7
    if whole:
        words = view[:whole].cast("Q") if _LITTLE else (
            w for (w,) in struct.iter_unpack("<Q", view[:whole]))
        for word in words:
            crc ^= word
            crc = (t7[crc & 0xFF] ^ t6[(crc >> 8) & 0xFF] ^ t5[(crc >> 16) & 0xFF]
                   ^ t4[(crc >> 24) & 0xFF] ^ t3[(crc >> 32) & 0xFF] ^ t2[(crc >> 40) & 0xFF]
                   ^ t1[(crc >> 48) & 0xFF] ^ t0[crc >> 56])
    for byte in view[whole:]:
        crc = t0[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


# -- LZF -----------------------------------------------------------------------------

_MAX_LIT = 32
_MAX_OFF = 8192
_MAX_REF = 264
# The pure-Python compressor costs 0.5-1.5 us a step (a literal byte or a
# match): past this many steps (~50 ms) it gives up and the string is written
# uncompressed (a valid payload, only bigger than Redis' own), so DUMP never
# holds the loop for long. Data that zlib cannot shrink at all is not tried.
LZF_BUDGET = 1 << 15


def lzf_compress(data: bytes, out_len: int, budget: int = -1) -> bytes | None:
    """liblzf's compressor as Redis builds it (16-bit hash, "very fast" mode):
    the same output bytes, or None when the output would not fit in
    ``out_len`` bytes (the points where liblzf gives up are kept exactly), or
    when more than ``budget`` steps would be needed (-1: no limit)."""
    n = len(data)
    if not n or (budget >= 0 and n > budget * _MAX_REF):
        return None
    htab: dict[int, int] = {}
    out = bytearray(1)  # the first literal run's length byte
    lit = 0
    ip = 0
    last = n - 2
    while ip < last:
        if budget >= 0:
            if not budget:
                return None
            budget -= 1
        t = (data[ip] << 16) | (data[ip + 1] << 8) | data[ip + 2]
        slot = ((t >> 8) - t * 5) & 0xFFFF
        ref = htab.get(slot, 0)
        htab[slot] = ip
        off = ip - ref - 1
        if ref and off < _MAX_OFF and data[ref:ref + 3] == data[ip:ip + 3]:
            op = len(out)
            if op - (not lit) + 4 >= out_len:
                return None
            if lit:
                out[op - lit - 1] = lit - 1
            else:
                del out[-1]
            maxlen = n - ip - 2
            if maxlen > _MAX_REF:
                maxlen = _MAX_REF
            if maxlen > 16:
                length = 3
                while length <= 18 and data[ref + length] == data[ip + length]:
                    length += 1
                if length > 18:
                    length = 19
                    while length < maxlen and data[ref + length] == data[ip + length]:
                        length += 1
            else:
                length = 3
                while length < maxlen and data[ref + length] == data[ip + length]:
                    length += 1
            length -= 2
            if length < 7:
                out.append((off >> 8) + (length << 5))
            else:
                out.append((off >> 8) + (7 << 5))
                out.append(length - 7)
            out.append(off & 0xFF)
            out.append(0)  # start a literal run
            lit = 0
            ip += length + 2
            if ip >= last:
                break
            for pos in (ip - 2, ip - 1):
                t = (data[pos] << 16) | (data[pos + 1] << 8) | data[pos + 2]
                htab[((t >> 8) - t * 5) & 0xFFFF] = pos
        else:
            if len(out) >= out_len:
                return None
            lit += 1
            out.append(data[ip])
            ip += 1
            if lit == _MAX_LIT:
                out[-lit - 1] = lit - 1
                lit = 0
                out.append(0)
    if len(out) + 3 > out_len:
        return None
    while ip < n:
        lit += 1
        out.append(data[ip])
        ip += 1
        if lit == _MAX_LIT:
            out[-lit - 1] = lit - 1
            lit = 0
            out.append(0)
    if lit:
        out[-lit - 1] = lit - 1
    else:
        del out[-1]
    return bytes(out)


def lzf_decompress(data: bytes, out_len: int) -> bytes:
    """Expand LZF data that must come to exactly ``out_len`` bytes."""
    n = len(data)
    if out_len > n * 132 + 64:  # more than LZF can expand to: do not try
        raise RdbError("LZF length")
    out = bytearray()
    i = 0
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            run = ctrl + 1
            if i + run > n or len(out) + run > out_len:
                raise RdbError("LZF literal")
            out += data[i:i + run]
            i += run
            continue
        length = ctrl >> 5
        if length == 7:
            if i >= n:
                raise RdbError("LZF truncated")
            length += data[i]
            i += 1
        if i >= n:
            raise RdbError("LZF truncated")
        size = len(out)
        ref = size - ((ctrl & 0x1F) << 8) - data[i] - 1
        i += 1
        length += 2
        if ref < 0 or size + length > out_len:
            raise RdbError("LZF reference")
        if ref + length <= size:
            out += out[ref:ref + length]
        else:  # the copy overlaps what it writes: a repeating pattern
            period = out[ref:]
            out += (period * (length // len(period) + 1))[:length]
    if len(out) != out_len:
        raise RdbError("LZF length")
    return bytes(out)
