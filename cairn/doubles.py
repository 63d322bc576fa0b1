"""How Redis 7.2 spells doubles in replies (scores, RESP3 doubles, GEO distances).

7.2 prints the shortest digit string that reads back as the same double (its
fpconv_dtoa rules); 7.0 printed "%.17g" (0.1 was "0.10000000000000001").
"""

from __future__ import annotations

import math

_LL_HALF = float(2**62)  # Redis prints integral doubles up to LLONG_MAX/2 as integers


def format_score(value: float) -> bytes:
    """A double as Redis 7.2 prints it in replies (d2string + fpconv_dtoa).

    nan / inf / -inf / 0 / -0 are spelled out; integral values within +-2**62
    print as integers; anything else prints the shortest digit string that
    reads back as the same double, in plain notation when the decimal exponent
    is small (fpconv's rules) and as ``1.5e-7`` / ``1e+22`` otherwise.
    (Redis 7.0 printed "%.17g": 0.1 was "0.10000000000000001".)
    """
    if value != value:
        return b"nan"
    if value == 0.0:
        return b"-0" if math.copysign(1.0, value) < 0 else b"0"
    if value in (math.inf, -math.inf):
        return b"inf" if value > 0 else b"-inf"
    if -_LL_HALF <= value <= _LL_HALF and value == int(value):
        return b"%d" % int(value)
    # Shortest round-trip digits (Python's repr) as digits * 10**k.
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    if frac == "0":
        frac = ""
    k = (int(exp_text) if exp_text else 0) - len(frac)
    digits = (whole + frac).lstrip("0")
    stripped = digits.rstrip("0")
    k += len(digits) - len(stripped)
    digits = stripped
    ndigits = len(digits)
    exp = abs(k + ndigits - 1)
    sign = "-" if value < 0 else ""
    if k >= 0 and exp < ndigits + 7:
        out = digits + "0" * k
    elif k < 0 and (k > -7 or exp < 4):
        offset = ndigits + k
        if offset <= 0:
            out = "0." + "0" * (-offset) + digits
        else:
            out = digits[:offset] + "." + digits[offset:]
    else:
        out = digits[0]
        if ndigits > 1:
            out += "." + digits[1:]
        out += "e" + ("-" if k + ndigits - 1 < 0 else "+") + str(exp)
    return (sign + out).encode()


def format_score_17g(value: float) -> bytes:
    """C's "%.17g" with Redis' inf spelling (ZSCAN of a skiplist-encoded set)."""
    if value in (math.inf, -math.inf):
        return b"inf" if value > 0 else b"-inf"
    return b"%.17g" % value
