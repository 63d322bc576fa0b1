"""BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP.

Each first tries the non-blocking operation; with nothing to pop it returns a
``Block`` and the dispatcher parks the client (see cairn/commands/blocking.py).
When a key it waits on changes, the command runs again. What is logged is what
happened: ``LPOP key``, ``LMOVE ...``, ``LPOP key n`` — never the blocking form.
"""

from __future__ import annotations

from typing import Any

from cairn.commands.args import to_float
from cairn.commands.blocking import Block
from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.lists import LEFT, RIGHT, move, parse_mpop, parse_where, pop
from cairn.commands.registry import CUSTOM, command, ks
from cairn.protocol import NULL_ARRAY

NULL_BULK = None  # a null bulk string ($-1 in RESP2)
G = "list"
_FLAGS = "write blocking"


def parse_timeout(arg: bytes) -> float:
    """A timeout in seconds, as Redis 7 reads it (strtold, then whole milliseconds)."""
    value = to_float(arg)
    if value is None:
        raise CommandError("ERR timeout is not a float or out of range")
    # Redis converts to long long milliseconds: overflow (and inf) turns negative.
    if value < 0 or value * 1000 >= 2**63:
        raise CommandError("ERR timeout is negative")
    return int(value * 1000) / 1000


def _bpop(c: Client, argv: list[bytes], where: int) -> Any:
    timeout = parse_timeout(argv[-1])
    keys = argv[1:-1]
    for key in keys:
        popped = pop(c, key, where, None, propagate=True)
        if popped is not None:
            return [key, popped[0]]
    return Block(keys, timeout, NULL_ARRAY)


_BPOP_KEYS = ks("RW ACCESS DELETE", 1, ("range", -2, 1, 0))


@command("blpop", -3, _FLAGS, group=G, since="2.0.0", keys=_BPOP_KEYS, acl="list",
         effects=CUSTOM, history=(("6.0.0", "`timeout` is interpreted as a double instead of an integer."),),
         summary="Removes and returns the first element in a list. Blocks until an element is "
         "available otherwise. Deletes the list if the last element was popped.",
         complexity="O(N) where N is the number of provided keys.")
def blpop(c: Client, argv: list[bytes]) -> Any:
    return _bpop(c, argv, LEFT)


@command("brpop", -3, _FLAGS, group=G, since="2.0.0", keys=_BPOP_KEYS, acl="list",
         effects=CUSTOM, history=(("6.0.0", "`timeout` is interpreted as a double instead of an integer."),),
         summary="Removes and returns the last element in a list. Blocks until an element is "
         "available otherwise. Deletes the list if the last element was popped.",
         complexity="O(N) where N is the number of provided keys.")
def brpop(c: Client, argv: list[bytes]) -> Any:
    return _bpop(c, argv, RIGHT)


def _bmove(c: Client, src: bytes, dst: bytes, wherefrom: int, whereto: int, timeout: float) -> Any:
    moved = move(c, src, dst, wherefrom, whereto, propagate=True)
    if moved is not None:
        return moved
    return Block([src], timeout, NULL_ARRAY, multi_reply=NULL_BULK)


_MOVE_KEYS = (ks("RW ACCESS DELETE", 1), ks("RW INSERT", 2))


@command("blmove", 6, "write denyoom blocking", group=G, since="6.2.0", keys=_MOVE_KEYS,
         acl="list", effects=CUSTOM,
         summary="Pops an element from a list, pushes it to another list and returns it. Blocks "
         "until an element is available otherwise. Deletes the list if the last element was moved.",
         complexity="O(1)")
def blmove(c: Client, argv: list[bytes]) -> Any:
    wherefrom = parse_where(argv[3])
    whereto = parse_where(argv[4])
    return _bmove(c, argv[1], argv[2], wherefrom, whereto, parse_timeout(argv[5]))


@command("brpoplpush", 4, "write denyoom blocking", group=G, since="2.2.0", keys=_MOVE_KEYS,
         acl="list", effects=CUSTOM, doc_flags=("deprecated",), deprecated_since="6.2.0",
         replaced_by="`BLMOVE` with the `RIGHT` and `LEFT` arguments",
         history=(("6.0.0", "`timeout` is interpreted as a double instead of an integer."),),
         summary="Pops an element from a list, pushes it to another list and returns it. Block "
         "until an element is available otherwise. Deletes the list if the last element was popped.",
         complexity="O(1)")
def brpoplpush(c: Client, argv: list[bytes]) -> Any:
    return _bmove(c, argv[1], argv[2], RIGHT, LEFT, parse_timeout(argv[3]))


@command("blmpop", -5, _FLAGS, group=G, since="7.0.0",
         keys=ks("RW ACCESS DELETE", 2, ("keynum", 0, 1, 1)), acl="list", effects=CUSTOM,
         summary="Pops the first element from one of multiple lists. Blocks until an element is "
         "available otherwise. Deletes the list if the last element was popped.",
         complexity="O(N+M) where N is the number of provided keys and M is the number of "
         "elements returned.")
def blmpop(c: Client, argv: list[bytes]) -> Any:
    timeout = parse_timeout(argv[1])
    keys, where, count = parse_mpop(argv, 2)
    for key in keys:
        popped = pop(c, key, where, count, propagate=True)
        if popped is not None:
            return [key, popped]
    return Block(keys, timeout, NULL_ARRAY)
