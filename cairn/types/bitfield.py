"""Bit-level helpers for bitmap strings: fields, counts, searches.

Bits are numbered as Redis numbers them: bit 0 is the most significant bit of
byte 0. Work on long ranges is done a chunk at a time with Python's big
integers (``int.from_bytes``, ``bit_count``, ``bit_length``), so a scan of a
512 MB string never loops per byte in Python and never copies it whole.

Pure data: no RESP, no keyspace.
"""

from __future__ import annotations

M64 = (1 << 64) - 1
I64_MAX = (1 << 63) - 1
I64_MIN = -(1 << 63)

WRAP, SAT, FAIL = 0, 1, 2

_CHUNK = 1 << 16  # bytes per step on long ranges


def wrap64(x: int) -> int:
    """x as a C int64_t after two's complement wrap-around."""
    x &= M64
    return x - (1 << 64) if x > I64_MAX else x


# -- fields -----------------------------------------------------------------------------


def get_field(buf: bytes | bytearray, offset: int, bits: int, signed: bool) -> int:
    """The ``bits``-wide field at bit ``offset``; bytes past the end read as 0."""
    first = offset >> 3
    last = (offset + bits - 1) >> 3
    width = last - first + 1
    chunk = buf[first : last + 1]
    x = int.from_bytes(chunk, "big") << (8 * (width - len(chunk)))
    v = (x >> (8 * width - (offset & 7) - bits)) & ((1 << bits) - 1)
    if signed and v >> (bits - 1):
        v -= 1 << bits
    return v


def set_field(buf: bytearray, offset: int, bits: int, value: int) -> None:
    """Write the low ``bits`` bits of value at bit ``offset`` (buf is long enough)."""
    first = offset >> 3
    last = (offset + bits - 1) >> 3
    width = last - first + 1
    shift = 8 * width - (offset & 7) - bits
    field = ((1 << bits) - 1) << shift
    x = int.from_bytes(buf[first : last + 1], "big")
    x = (x & ~field) | ((value << shift) & field)
    buf[first : last + 1] = x.to_bytes(width, "big")


def signed_overflow(value: int, incr: int, bits: int, mode: int) -> tuple[int, int]:
    """Redis' overflow check for a signed field: (direction, limited value).

    direction is 0 (fits: value + incr), 1 (above the maximum) or -1 (below the
    minimum); the limited value is what WRAP or SAT store (unused for FAIL).
    The checks use Redis' 64-bit arithmetic, wrap-around included, so even the
    corner cases (a SET of a value near INT64_MIN into a narrow field) agree.
    """
    top = I64_MAX if bits == 64 else (1 << (bits - 1)) - 1
    bottom = -top - 1
    maxincr = wrap64(top - value)
    minincr = wrap64(bottom - value)
    if value > top or (bits != 64 and incr > maxincr) or (value >= 0 and 0 < incr and incr > maxincr):
        direction, limit = 1, top
    elif value < bottom or (bits != 64 and incr < minincr) or (
        value < 0 and incr < 0 and incr < minincr
    ):
        direction, limit = -1, bottom
    else:
        return 0, value + incr
    if mode == WRAP:
        c = (value + incr) & M64
        if bits < 64:
            if c >> (bits - 1) & 1:
                c |= M64 ^ ((1 << bits) - 1)
            else:
                c &= (1 << bits) - 1
        limit = wrap64(c)
    return direction, limit


def unsigned_overflow(value: int, incr: int, bits: int, mode: int) -> tuple[int, int]:
    """The same for an unsigned field; value is the 64-bit unsigned operand."""
    top = (1 << bits) - 1
    maxincr = wrap64(top - value)
    minincr = wrap64(-value)
    if value > top or (incr > 0 and incr > maxincr):
        direction, limit = 1, top
    elif incr < 0 and incr < minincr:
        direction, limit = -1, 0
    else:
        return 0, (value + incr) & M64
    if mode == WRAP:
        limit = ((value + incr) & M64) & top
    return direction, limit


# -- counting and searching ---------------------------------------------------------


def popcount(buf: bytes | bytearray, first: int, last: int) -> int:
    """Set bits in bytes first..last (inclusive)."""
    total = 0
    with memoryview(buf) as view:
        pos = first
        stop = last + 1
        while pos < stop:
            end = min(pos + _CHUNK, stop)
            total += int.from_bytes(view[pos:end], "little").bit_count()
            pos = end
    return total


def count_bits(buf: bytes | bytearray, first_bit: int, last_bit: int) -> int:
    """Set bits in the bit range first_bit..last_bit (inclusive, within buf)."""
    first = first_bit >> 3
    last = last_bit >> 3
    total = popcount(buf, first, last)
    head = buf[first] & ~((1 << (8 - (first_bit & 7))) - 1) & 0xFF
    tail = buf[last] & ((1 << (7 - (last_bit & 7))) - 1)
    return total - head.bit_count() - tail.bit_count()


def find_bit(buf: bytes | bytearray, first_bit: int, last_bit: int, bit: int) -> int:
    """Position of the first bit equal to ``bit`` in first_bit..last_bit, or -1."""
    pos = first_bit >> 3
    last = last_bit >> 3
    with memoryview(buf) as view:
        while pos <= last:
            end = min(pos + _CHUNK, last + 1)
            nbits = 8 * (end - pos)
            x = int.from_bytes(view[pos:end], "big")
            if not bit:
                x ^= (1 << nbits) - 1
            if pos == first_bit >> 3:  # drop the bits before first_bit
                x &= (1 << (nbits - (first_bit & 7))) - 1
            if end == last + 1:  # drop the bits after last_bit
                x &= ~((1 << (7 - (last_bit & 7))) - 1)
            if x:
                return 8 * pos + nbits - x.bit_length()
            pos = end
    return -1
