"""BZPOPMIN BZPOPMAX BZMPOP: the blocking sorted-set pops.

Like the list ones (cairn/commands/lists_blocking.py): try the pop, else return
a ``Block``; a served client logs the plain pop that happened
(``ZPOPMIN key 1``, ``ZPOPMAX key n``).
"""

from __future__ import annotations

from typing import Any

from cairn.commands.blocking import Block
from cairn.commands.context import Client
from cairn.commands.lists_blocking import parse_timeout
from cairn.commands.registry import CUSTOM, command, ks
from cairn.commands.zset_ranges import parse_mpop
from cairn.commands.zsets import _score_reply, _write, mpop_reply, pop
from cairn.protocol import NULL_ARRAY

G = "sorted_set"
ACL = "sortedset"


def _bzpop(c: Client, argv: list[bytes], maximum: bool) -> Any:
    timeout = parse_timeout(argv[-1])
    keys = argv[1:-1]
    for key in keys:
        zset = _write(c, key)
        if zset is None:
            continue
        popped = pop(c, key, zset, 1, maximum)
        c.db.propagate([b"ZPOPMAX" if maximum else b"ZPOPMIN", key, b"1"])
        member, score = popped[0]
        return [key, member, _score_reply(c, score)]
    return Block(keys, timeout, NULL_ARRAY)


_KEYS = ks("RW ACCESS DELETE", 1, ("range", -2, 1, 0))
_HISTORY = (("6.0.0", "`timeout` is interpreted as a double instead of an integer."),)
_CX = "O(log(N)) with N being the number of elements in the sorted set."


@command("bzpopmin", -3, "write fast blocking", group=G, since="5.0.0", keys=_KEYS, acl=ACL,
         effects=CUSTOM, history=_HISTORY, complexity=_CX,
         summary="Removes and returns the member with the lowest score from one or more sorted "
         "sets. Blocks until a member is available otherwise. Deletes the sorted set if the last "
         "element was popped.")
def bzpopmin(c: Client, argv: list[bytes]) -> Any:
    return _bzpop(c, argv, False)


@command("bzpopmax", -3, "write fast blocking", group=G, since="5.0.0", keys=_KEYS, acl=ACL,
         effects=CUSTOM, history=_HISTORY, complexity=_CX,
         summary="Removes and returns the member with the highest score from one or more sorted "
         "sets. Blocks until a member is available otherwise. Deletes the sorted set if the last "
         "element was popped.")
def bzpopmax(c: Client, argv: list[bytes]) -> Any:
    return _bzpop(c, argv, True)


@command("bzmpop", -5, "write blocking", group=G, since="7.0.0",
         keys=ks("RW ACCESS DELETE", 2, ("keynum", 0, 1, 1)), acl=ACL, effects=CUSTOM,
         summary="Removes and returns a member by score from one or more sorted sets. Blocks "
         "until a member is available otherwise. Deletes the sorted set if the last element was "
         "popped.",
         complexity="O(K) + O(M*log(N)) where K is the number of provided keys, N being the "
         "number of elements in the sorted set, and M being the number of elements popped.")
def bzmpop(c: Client, argv: list[bytes]) -> Any:
    timeout = parse_timeout(argv[1])
    keys, maximum, count = parse_mpop(argv, 2)
    for key in keys:
        zset = _write(c, key)
        if zset is None:
            continue
        popped = pop(c, key, zset, count, maximum)
        c.db.propagate([b"ZPOPMAX" if maximum else b"ZPOPMIN", key, b"%d" % len(popped)])
        return mpop_reply(c, key, popped)
    return Block(keys, timeout, NULL_ARRAY)
