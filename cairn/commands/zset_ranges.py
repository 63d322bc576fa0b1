"""Argument parsing for the sorted-set commands: scores, score and lex ranges,
rank ranges, cursors, and the option grammar shared by ZRANGE and its legacy
forms (ZRANGEBYSCORE, ZREVRANGEBYLEX, ZRANGESTORE...), the options of the set
algebra commands and of ZMPOP. Errors are Redis' words.
"""

from __future__ import annotations

import math
import re
from typing import Any

from cairn.commands import errors
from cairn.commands.args import to_int
from cairn.commands.errors import CommandError
from cairn.types.zset import MAX, MIN, SUM, LexBound, ZSet

NOT_FLOAT = errors.NOT_FLOAT
RANGE_NOT_FLOAT = "ERR min or max is not a float"
LEX_NOT_VALID = "ERR min or max not valid string range item"
LIMIT_NEEDS_BY = "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
WITHSCORES_BYLEX = "ERR syntax error, WITHSCORES not supported in combination with BYLEX"

# What strtod() accepts (after any leading blanks), without NaN.
_DOUBLE_RE = re.compile(
    rb"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?"
    rb"|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?)",
    re.IGNORECASE,
)
_C_SPACE = b" \t\n\v\f\r"
_NONZERO_DIGIT = re.compile(rb"[1-9]")
_NONZERO_HEX = re.compile(rb"[1-9a-fA-F]")


def _strtod(text: bytes) -> tuple[float, bool] | None:
    """(value, out of range) for a whole strtod() number; None if not one.
    Out of range: overflow to +-inf, or a nonzero number that rounds to 0."""
    if _DOUBLE_RE.fullmatch(text) is None:
        return None
    lowered = text.lower()
    if b"x" in lowered:
        negative = lowered[:1] == b"-"
        body = lowered.lstrip(b"+-")
        try:
            value = float.fromhex(body.decode())
        except OverflowError:
            return (-math.inf if negative else math.inf), True
        if negative:
            value = -value
        mantissa = body[2:].split(b"p")[0]
        underflow = value == 0.0 and _NONZERO_HEX.search(mantissa) is not None
        return value, underflow
    value = float(text)
    if math.isinf(value):
        return value, b"inf" not in lowered
    if value == 0.0:
        mantissa = re.split(rb"[eE]", text)[0]
        return value, _NONZERO_DIGIT.search(mantissa) is not None
    return value, False


def parse_score(arg: bytes, message: str = NOT_FLOAT) -> float:
    """A score, increment or weight (Redis' getDoubleFromObject): no blanks, no
    NaN, no overflow or underflow to zero."""
    if arg.isdigit() and len(arg) < 16:
        return float(int(arg))  # the common case: a plain integer
    if not arg or len(arg) > 5000 or arg[0] in _C_SPACE:
        raise CommandError(message)
    parsed = _strtod(arg)
    if parsed is None or parsed[1]:
        raise CommandError(message)
    return parsed[0]


def _range_double(text: bytes) -> float | None:
    """strtod() as a score range uses it: leading blanks allowed, "" is 0,
    overflow saturates to infinity, NaN refused."""
    text = text.lstrip(_C_SPACE)
    if not text:
        return 0.0
    parsed = _strtod(text)
    return None if parsed is None else parsed[0]


def parse_score_bound(arg: bytes) -> tuple[float, bool]:
    """One end of a score range: ``1.5``, ``(1.5`` (exclusive), ``-inf``, ``+inf``."""
    exclusive = arg[:1] == b"("
    value = _range_double(arg[1:] if exclusive else arg)
    if value is None:
        raise CommandError(RANGE_NOT_FLOAT)
    return value, exclusive


def parse_score_range(low: bytes, high: bytes) -> tuple[float, bool, float, bool]:
    lo, lo_ex = parse_score_bound(low)
    hi, hi_ex = parse_score_bound(high)
    return lo, lo_ex, hi, hi_ex


def _lex_bound(arg: bytes) -> LexBound | None:
    first = arg[:1]
    if first == b"+" and len(arg) == 1:
        return (1, b"", False)
    if first == b"-" and len(arg) == 1:
        return (-1, b"", False)
    if first == b"(":
        return (0, arg[1:], True)
    if first == b"[":
        return (0, arg[1:], False)
    return None


def parse_lex_range(low: bytes, high: bytes) -> tuple[LexBound, LexBound]:
    lo = _lex_bound(low)
    hi = _lex_bound(high)
    if lo is None or hi is None:
        raise CommandError(LEX_NOT_VALID)
    return lo, hi


def parse_long(arg: bytes) -> int:
    value = to_int(arg)
    if value is None:
        raise CommandError(errors.NOT_INTEGER)
    return value


def rank_span(start: int, end: int, n: int) -> tuple[int, int]:
    """Redis' index sanitising (negative from the end, clamped): a half-open span."""
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return 0, 0
    if end >= n:
        end = n - 1
    return start, end + 1


# -- ZRANGE and friends ------------------------------------------------------------------

RANK, SCORE, LEX = 0, 1, 2


class RangeQuery:
    """A parsed Z*RANGE* request: what to select from which key and how to reply."""

    __slots__ = ("count", "kind", "lex", "offset", "rank", "rev", "score", "withscores")

    def __init__(self) -> None:
        self.kind = RANK
        self.rev = False
        self.withscores = False
        self.offset = 0
        self.count = -1
        self.rank: tuple[int, int] = (0, 0)
        self.score: tuple[float, bool, float, bool] = (0.0, False, 0.0, False)
        self.lex: tuple[LexBound, LexBound] = ((0, b"", False), (0, b"", False))

    def select(self, zset: ZSet) -> list[tuple[float, bytes]]:
        """The (score, member) pairs of the range, in reply order."""
        n = len(zset)
        rev = self.rev
        if self.kind == RANK:
            start, end = self.rank
            if rev:
                lo, hi = rank_span(start, end, n)
                return zset.at_reversed(n - hi, n - lo) if hi > lo else []
            lo, hi = rank_span(start, end, n)
            return zset.at(lo, hi) if hi > lo else []
        if self.kind == SCORE:
            lo, hi = zset.score_span(*self.score)
        else:
            low, high = self.lex
            lo, hi = zset.lex_span(low, high, rev)
        offset, count = self.offset, self.count
        if hi <= lo or offset < 0 or count == 0:
            return []
        if rev:
            hi -= offset
        else:
            lo += offset
        if count > 0:
            if rev:
                lo = max(lo, hi - count)
            else:
                hi = min(hi, lo + count)
        if hi <= lo:
            return []
        return zset.at_reversed(lo, hi) if rev else zset.at(lo, hi)


def parse_range(argv: list[bytes], first: int, kind: int | None, rev: bool | None,
                store: bool) -> RangeQuery:
    """Parse ``<min> <max> [options]`` starting at ``argv[first]`` (Redis' order of
    checks: options, conflicting options, then the range itself).

    ``kind``/``rev`` are fixed by the legacy commands (ZRANGEBYSCORE, ZREVRANGE...);
    None lets the options choose (ZRANGE, ZRANGESTORE).
    """
    query = RangeQuery()
    limit_given = False
    j = first + 2
    argc = len(argv)
    while j < argc:
        opt = argv[j].lower()
        left = argc - j - 1
        if not store and opt == b"withscores":
            query.withscores = True
        elif opt == b"limit" and left >= 2:
            query.offset = parse_long(argv[j + 1])
            query.count = parse_long(argv[j + 2])
            limit_given = True
            j += 2
        elif rev is None and opt == b"rev":
            rev = True
        elif kind is None and opt == b"bylex":
            kind = LEX
        elif kind is None and opt == b"byscore":
            kind = SCORE
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    if kind is None:
        kind = RANK
    query.kind = kind
    query.rev = bool(rev)
    if limit_given and query.count != -1 and kind == RANK:
        raise CommandError(LIMIT_NEEDS_BY)
    if query.withscores and kind == LEX:
        raise CommandError(WITHSCORES_BYLEX)
    low, high = argv[first], argv[first + 1]
    if query.rev and kind != RANK:
        low, high = high, low
    if kind == RANK:
        query.rank = (parse_long(low), parse_long(high))
    elif kind == SCORE:
        query.score = parse_score_range(low, high)
    else:
        query.lex = parse_lex_range(low, high)
    return query


# -- ZUNION / ZINTER / ZDIFF / ZINTERCARD, ZMPOP ----------------------------------------------

_AGGREGATES = {b"sum": SUM, b"min": MIN, b"max": MAX}


class SetOp:
    """A parsed ZUNION/ZINTER/ZDIFF(STORE)/ZINTERCARD: inputs (filled in by the
    caller after its type checks), weights, aggregate, WITHSCORES, LIMIT."""

    __slots__ = ("how", "inputs", "limit", "weights", "withscores")

    def __init__(self, numkeys: int) -> None:
        self.inputs: list[Any] = []
        self.weights: list[float] = [1.0] * numkeys
        self.how = SUM
        self.withscores = False
        self.limit = 0


def parse_numkeys(argv: list[bytes], numkeys_at: int, name: str) -> int:
    numkeys = to_int(argv[numkeys_at])
    if numkeys is None:
        raise CommandError(errors.NOT_INTEGER)
    if numkeys < 1:
        raise CommandError(f"ERR at least 1 input key is needed for '{name}' command")
    if numkeys > len(argv) - numkeys_at - 1:
        raise CommandError(errors.SYNTAX)
    return numkeys


def parse_setop_options(argv: list[bytes], j: int, numkeys: int, op: str, store: bool,
                        card: bool) -> SetOp:
    """WEIGHTS / AGGREGATE (not ZDIFF, not ZINTERCARD), WITHSCORES (not the STORE
    forms, not ZINTERCARD), LIMIT (ZINTERCARD only), from ``argv[j]`` on."""
    spec = SetOp(numkeys)
    argc = len(argv)
    while j < argc:
        remaining = argc - j
        opt = argv[j].lower()
        if op != "diff" and not card and remaining >= numkeys + 1 and opt == b"weights":
            spec.weights = [parse_score(argv[j + 1 + n], "ERR weight value is not a float")
                            for n in range(numkeys)]
            j += numkeys + 1
        elif op != "diff" and not card and remaining >= 2 and opt == b"aggregate":
            how = _AGGREGATES.get(argv[j + 1].lower())
            if how is None:
                raise CommandError(errors.SYNTAX)
            spec.how = how
            j += 2
        elif not store and not card and opt == b"withscores":
            spec.withscores = True
            j += 1
        elif card and remaining >= 2 and opt == b"limit":
            limit = to_int(argv[j + 1])
            if limit is None or limit < 0:
                raise CommandError("ERR LIMIT can't be negative")
            spec.limit = limit
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    return spec


def parse_mpop(argv: list[bytes], numkeys_at: int) -> tuple[list[bytes], bool, int]:
    """``numkeys key... MIN|MAX [COUNT n]`` from ``argv[numkeys_at]`` (ZMPOP, BZMPOP):
    (keys, pop the maximum?, count)."""
    numkeys = to_int(argv[numkeys_at])
    if numkeys is None or numkeys < 1:
        raise CommandError("ERR numkeys should be greater than 0")
    argc = len(argv)
    where_at = numkeys_at + 1 + numkeys
    if where_at >= argc:
        raise CommandError(errors.SYNTAX)
    where = argv[where_at].lower()
    if where not in (b"min", b"max"):
        raise CommandError(errors.SYNTAX)
    count = -1
    j = where_at + 1
    while j < argc:
        if count == -1 and argv[j].lower() == b"count" and j + 1 < argc:
            value = to_int(argv[j + 1])
            if value is None or value < 1:
                raise CommandError("ERR count should be greater than 0")
            count = value
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    return argv[numkeys_at + 1 : where_at], where == b"max", (1 if count == -1 else count)
