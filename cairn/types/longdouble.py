"""x87 80-bit long double arithmetic, emulated exactly with Python integers.

Redis parses INCRBYFLOAT operands with strtold(), adds them as ``long double``
(64-bit significand on x86-64) and prints the sum with "%.17Lf", trimming
trailing zeros. Python floats have 53 bits, so a value is held here as an
exact (significand, exponent) pair: value = m * 2**e, |m| < 2**64. Parsing,
addition and printing round exactly as glibc does (to nearest, ties to even).
"""

from __future__ import annotations

import re
from typing import Any

LongDouble = tuple[int, int]
LD_ZERO: LongDouble = (0, 0)
_LD_INF: Any = "inf"  # parse-only marker: +/-infinity (any sum with it is an error)
_LD_BITS = 64
_LD_MIN_EXP = -16445  # exponent of the smallest subnormal (2**-16445)
_LD_MAX_BITS = 16384  # values must stay below 2**16384
_MAX_LD_CHARS = 5 * 1024  # Redis refuses longer inputs

_DEC_RE = re.compile(rb"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")
_HEX_RE = re.compile(rb"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?")
_INF_RE = re.compile(rb"[+-]?(?:inf|infinity)", re.IGNORECASE)


def _big_int(digits: bytes, base: int = 10) -> int:
    """int(digits) without Python's limit on decimal conversion length."""
    if len(digits) <= 4000:
        return int(digits, base)
    half = len(digits) // 2
    return _big_int(digits[:half], base) * base ** (len(digits) - half) + _big_int(
        digits[half:], base
    )


_POW_4000 = 10**4000


def _big_str(n: int) -> str:
    """str(n) (n >= 0) without Python's limit on decimal conversion length."""
    if n < _POW_4000:
        return str(n)
    hi, lo = divmod(n, _POW_4000)
    return _big_str(hi) + str(lo).zfill(4000)


def _exponent(text: bytes | None) -> int:
    """An exponent's value, clamped far outside the long double range."""
    if not text:
        return 0
    negative = text[:1] == b"-"
    digits = text.lstrip(b"+-").lstrip(b"0")
    if len(digits) > 9:
        return -(10**9) if negative else 10**9
    value = int(digits or b"0")
    return -value if negative else value


def _round_ld(num: int, den: int) -> LongDouble | None:
    """num/den (den > 0) rounded to a long double; None when it overflows."""
    if num == 0:
        return LD_ZERO
    negative = num < 0
    a = -num if negative else num
    k = a.bit_length() - den.bit_length() - _LD_BITS
    if k < _LD_MIN_EXP:
        k = _LD_MIN_EXP
    while True:
        if k >= 0:
            q, r = divmod(a, den << k)
            d = den << k
        else:
            q, r = divmod(a << -k, den)
            d = den
        if q >> _LD_BITS and k >= _LD_MIN_EXP:
            k += 1
            continue
        if not q >> (_LD_BITS - 1) and k > _LD_MIN_EXP:
            k -= 1
            continue
        break
    twice = 2 * r
    if twice > d or (twice == d and q & 1):
        q += 1
        if q >> _LD_BITS:
            q >>= 1
            k += 1
    if q and q.bit_length() + k > _LD_MAX_BITS:
        return None
    return (-q if negative else q, k)


def parse_long_double(text: bytes | bytearray) -> LongDouble | None:
    """strtold() with Redis' checks: the whole string, no spaces, no NaN, no
    overflow or underflow to zero. Returns _LD_INF for an explicit infinity."""
    n = len(text)
    if n == 0 or n >= _MAX_LD_CHARS:
        return None
    text = bytes(text)
    m = _DEC_RE.fullmatch(text)
    if m is not None:
        sign, whole, frac, exp = m.groups()
        frac = frac or b""
        if not whole and not frac:
            return None
        digits = (whole + frac).lstrip(b"0")
        if not digits:
            return LD_ZERO
        e10 = _exponent(exp) - len(frac)
        magnitude = len(digits) + e10  # 10**(magnitude-1) <= |value| < 10**magnitude
        if magnitude > 5000 or magnitude < -5000:
            return None  # overflow or underflow to zero (ERANGE)
        mant = _big_int(digits)
        if sign == b"-":
            mant = -mant
        result = _round_ld(mant * 10**e10, 1) if e10 >= 0 else _round_ld(mant, 10**-e10)
    else:
        m = _HEX_RE.fullmatch(text)
        if m is None:
            return _LD_INF if _INF_RE.fullmatch(text) else None
        sign, whole, frac, exp = m.groups()
        frac = frac or b""
        if not whole and not frac:
            return None  # strtold would stop after "0": trailing garbage
        digits = (whole + frac).lstrip(b"0")
        if not digits:
            return LD_ZERO
        e2 = _exponent(exp) - 4 * len(frac)
        bits = 4 * len(digits) + e2  # |value| < 2**bits
        if bits > _LD_MAX_BITS + 64 or bits < _LD_MIN_EXP - 64:
            return None  # overflow or underflow to zero (ERANGE)
        mant = _big_int(digits, 16)
        if sign == b"-":
            mant = -mant
        result = _round_ld(mant << e2, 1) if e2 >= 0 else _round_ld(mant, 1 << -e2)
    if result is None or result[0] == 0:
        return None  # ERANGE: overflow, or a non-zero value that underflowed to 0
    return result


def ld_add(a: LongDouble, b: LongDouble) -> LongDouble | None:
    """a + b rounded to a long double; None for an infinite result."""
    if a is _LD_INF or b is _LD_INF:
        return None
    (ma, ea), (mb, eb) = a, b
    if ma == 0:
        return b
    if mb == 0:
        return a
    e = min(ea, eb)
    total = (ma << (ea - e)) + (mb << (eb - e))
    return _round_ld(total << e, 1) if e >= 0 else _round_ld(total, 1 << -e)


def format_long_double(value: LongDouble) -> bytes:
    """printf("%.17Lf") with trailing zeros (and a bare point) removed; "-0" is "0"."""
    m, e = value
    a = -m if m < 0 else m
    if e >= 0:
        scaled = (a << e) * 10**17
    else:
        q, r = divmod(a * 10**17, 1 << -e)
        twice = 2 * r
        if twice > (1 << -e) or (twice == (1 << -e) and q & 1):
            q += 1
        scaled = q
    digits = _big_str(scaled).rjust(18, "0")
    whole, frac = digits[:-17], digits[-17:].rstrip("0")
    text = whole + "." + frac if frac else whole
    if m < 0 and text != "0":
        text = "-" + text
    return text.encode()
