"""Argument decoding with Redis' rules and exact errors."""

from __future__ import annotations

import math
import re

from cairn.commands import errors
from cairn.commands.errors import CommandError

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1


def to_int(value: bytes | bytearray) -> int | None:
    """Redis' string2ll: strict decimal in the signed 64-bit range, else None."""
    n = len(value)
    if n == 0 or n > 20:
        return None
    first = value[0]
    if first == 0x30:
        return 0 if n == 1 else None
    if first == 0x2D:
        if n == 1 or not value[1:].isdigit() or value[1] == 0x30:
            return None
    elif not value.isdigit():
        return None
    result = int(value)
    if result < I64_MIN or result > I64_MAX:
        return None
    return result


def parse_int(value: bytes, message: str = errors.NOT_INTEGER) -> int:
    result = to_int(value)
    if result is None:
        raise CommandError(message)
    return result


_FLOAT_RE = re.compile(
    rb"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?)",
    re.IGNORECASE,
)


def to_float(value: bytes | bytearray) -> float | None:
    """strtod() as Redis uses it: no spaces, no NaN; inf allowed."""
    if not value or len(value) > 5000 or _FLOAT_RE.fullmatch(value) is None:
        return None
    text = bytes(value)
    lowered = text.lower()
    try:
        if b"0x" in lowered:
            sign = -1.0 if lowered.startswith(b"-") else 1.0
            result = sign * float.fromhex(lowered.lstrip(b"+-").decode())
        else:
            result = float(text)
    except (ValueError, OverflowError):
        return None
    if math.isnan(result):
        return None
    return result


def parse_float(value: bytes, message: str = errors.NOT_FLOAT) -> float:
    result = to_float(value)
    if result is None:
        raise CommandError(message)
    return result


def parse_db_index(value: bytes, databases: int) -> int:
    index = to_int(value)
    if index is None:
        raise CommandError(errors.NOT_INTEGER)
    if index < 0 or index >= databases:
        raise CommandError(errors.DB_INDEX)
    return index


def format_int(value: int) -> bytes:
    return b"%d" % value
