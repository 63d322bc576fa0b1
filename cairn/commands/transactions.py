"""MULTI EXEC DISCARD WATCH UNWATCH.

The queued commands run back to back inside EXEC with the command time frozen;
their effects pile up in the keyspace's effects list and leave as ONE log record
(the dispatcher appends it after EXEC returns), so a transaction is atomic in
the log too.
"""

from __future__ import annotations

from typing import Any

from cairn.commands import errors
from cairn.commands.blocking import Block
from cairn.commands.context import Client, unwatch_all
from cairn.commands.errors import CommandError
from cairn.commands.registry import command, ks
from cairn.protocol import NULL_ARRAY, OK

G = "transactions"
_FLAGS = "noscript loading stale fast allow_busy"


@command("multi", 1, _FLAGS, group=G, since="1.2.0", acl="transaction",
         summary="Starts a transaction.", complexity="O(1)")
def multi(c: Client, argv: list[bytes]) -> Any:
    if c.in_multi:
        raise CommandError("ERR MULTI calls can not be nested")
    c.in_multi = True
    c.multi_queue = []
    c.dirty_exec = False
    return OK


def _discard(c: Client) -> None:
    c.in_multi = False
    c.multi_queue = []
    c.dirty_exec = False
    unwatch_all(c)


@command("discard", 1, _FLAGS, group=G, since="2.0.0", acl="transaction",
         summary="Discards a transaction.", complexity="O(N), when N is the number of queued commands")
def discard(c: Client, argv: list[bytes]) -> Any:
    if not c.in_multi:
        raise CommandError("ERR DISCARD without MULTI")
    _discard(c)
    return OK


def _watched_key_expired(c: Client) -> bool:
    """A watched key that was alive at WATCH time and has logically expired since."""
    for db, key, expired_at_watch in c.watched:
        if not expired_at_watch and key in db.data and db.is_expired(key):
            return True
    return False


@command("exec", 1, "noscript loading stale skip_slowlog", group=G, since="1.2.0",
         acl="transaction", summary="Executes all commands in a transaction.",
         complexity="Depends on commands in the transaction")
def exec_(c: Client, argv: list[bytes]) -> Any:
    if not c.in_multi:
        raise CommandError("ERR EXEC without MULTI")
    if c.dirty_exec:
        _discard(c)
        raise CommandError(errors.EXECABORT)
    server = c.server
    keyspace = server.keyspace
    if c.dirty_cas or _watched_key_expired(c):
        # The abort reveals that a watched key changed: wait until that change is durable.
        for db, key, _expired in c.watched:
            if db.pending or db.pending_all:
                db.note_read(key)
        _discard(c)
        return NULL_ARRAY
    queue = c.multi_queue
    c.in_multi = False
    c.multi_queue = []
    # Watches end here: the transaction's own writes must not flag this client.
    unwatch_all(c)
    from cairn.commands.dispatch import call

    replies: list[Any] = []
    keyspace.frozen_time = True
    try:
        for cmd, cmd_argv in queue:
            reply = call(server, c, cmd, cmd_argv)
            if type(reply) is Block:  # blocking commands never block inside EXEC
                reply = reply.multi_reply
            replies.append(reply)
    finally:
        keyspace.frozen_time = False
    return replies


@command("watch", -2, _FLAGS, group=G, since="2.2.0", keys=ks("RO", 1, ("range", -1, 1, 0)),
         acl="transaction", summary="Monitors changes to keys to determine the execution of a transaction.",
         complexity="O(1) for every key.")
def watch(c: Client, argv: list[bytes]) -> Any:
    if c.in_multi:
        raise CommandError("ERR WATCH inside MULTI is not allowed")
    db = c.db
    for key in argv[1:]:
        if any(w_db is db and w_key == key for w_db, w_key, _ in c.watched):
            continue
        expired = key in db.data and db.is_expired(key)
        c.watched.append((db, key, expired))
        db.watched.setdefault(key, []).append(c)
    return OK


@command("unwatch", 1, _FLAGS, group=G, since="2.2.0", acl="transaction",
         summary="Forgets about all watched keys.", complexity="O(1)")
def unwatch(c: Client, argv: list[bytes]) -> Any:
    unwatch_all(c)
    return OK

