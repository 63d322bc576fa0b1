"""Arguments shared by SCAN, HSCAN, SSCAN and ZSCAN."""

from __future__ import annotations

from cairn.commands import errors
from cairn.commands.args import to_int
from cairn.commands.errors import CommandError
from cairn.keyspace.scan import MASK64


def parse_cursor(arg: bytes) -> int:
    """strtoul() as Redis applies it to a cursor: a sign wraps like C, no spaces,
    no overflow, and the empty string is 0."""
    digits = arg
    negative = False
    if digits[:1] in (b"+", b"-"):
        negative = digits[:1] == b"-"
        digits = digits[1:]
        if not digits:
            raise CommandError("ERR invalid cursor")
    elif not digits:
        return 0
    if not digits.isdigit():
        raise CommandError("ERR invalid cursor")
    value = int(digits)
    if value > MASK64:
        raise CommandError("ERR invalid cursor")
    return (-value) & MASK64 if negative else value


def parse_scan_options(argv: list[bytes], start: int) -> tuple[int, bytes | None]:
    """(COUNT, MATCH pattern or None for "*") of HSCAN/SSCAN/ZSCAN options."""
    count = 10
    pattern: bytes | None = None
    argc = len(argv)
    i = start
    while i < argc:
        if i + 1 >= argc:
            raise CommandError(errors.SYNTAX)
        opt = argv[i].lower()
        if opt == b"count":
            value = to_int(argv[i + 1])
            if value is None:
                raise CommandError(errors.NOT_INTEGER)
            if value < 1:
                raise CommandError(errors.SYNTAX)
            count = value
        elif opt == b"match":
            pattern = argv[i + 1]
            if pattern == b"*":
                pattern = None
        else:
            raise CommandError(errors.SYNTAX)
        i += 2
    return count, pattern
