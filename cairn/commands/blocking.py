"""Blocking commands (BLPOP, BZPOPMIN, BLMOVE, XREAD BLOCK...): parking and waking.

A blocking handler first tries the non-blocking path; when there is nothing to
serve it returns ``Block(keys, timeout, timeout_reply)``. The dispatcher then
parks the client on those keys. Any change to a key with parked clients marks
it ready; after the command that changed it (and its log record), the clients
parked on it re-run their command in FIFO order. A served client's changes
become a record of their own (the handler logs what happened, e.g. ``LPOP``),
and its reply waits for that record like any write's.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from cairn.commands.errors import CommandError
from cairn.protocol import ErrorReply

if TYPE_CHECKING:
    from cairn.commands.context import Client, Server
    from cairn.commands.registry import Command
    from cairn.keyspace import Database


class Block:
    """Returned by a handler that must wait for one of ``keys`` to change."""

    __slots__ = ("argv", "keys", "multi_reply", "timeout", "timeout_reply")

    def __init__(self, keys: list[bytes], timeout: float, timeout_reply: Any,
                 multi_reply: Any = ..., argv: list[bytes] | None = None) -> None:
        self.keys = keys
        # The command to re-run when a key changes, when it is not the client's own
        # argv (XREAD ... $ re-runs with the ID that "$" meant when it blocked).
        self.argv = argv
        self.timeout = timeout  # seconds; 0 waits forever
        self.timeout_reply = timeout_reply
        # What the command answers where it cannot block (inside MULTI/EXEC, scripts).
        self.multi_reply = timeout_reply if multi_reply is ... else multi_reply


def parse_timeout(arg: bytes) -> float:
    """A blocking command's timeout in seconds (fractions allowed), Redis' errors."""
    try:
        value = float(arg)
    except ValueError:
        raise CommandError("ERR timeout is not a float or out of range") from None
    if math.isnan(value) or math.isinf(value) or b"_" in arg or arg[:1].isspace():
        raise CommandError("ERR timeout is not a float or out of range")
    if value < 0:
        raise CommandError("ERR timeout is negative")
    if value * 1000 > 2**63 - 1:
        raise CommandError("ERR timeout is out of range")
    return value


class Parked:
    __slots__ = ("argv", "client", "cmd", "db", "deadline", "keys", "timeout_reply", "timer")

    def __init__(self, client: Client, cmd: Command, argv: list[bytes], db: Database,
                 block: Block) -> None:
        self.client = client
        self.cmd = cmd
        self.argv = argv
        self.db = db
        self.keys = block.keys
        self.deadline = time.monotonic() + block.timeout if block.timeout else 0.0
        self.timeout_reply = block.timeout_reply
        self.timer: Any = None


class BlockingRegistry:
    """The clients parked on keys, per database, and the keys made ready."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.by_key: dict[tuple[int, bytes], deque[Parked]] = {}
        self.parked: dict[int, Parked] = {}  # client id -> its parking
        self.ready: dict[tuple[int, bytes], None] = {}  # ordered set
        self.stat_blocked_keys = 0

    def __len__(self) -> int:
        return len(self.parked)

    # -- parking -------------------------------------------------------------
    def park(self, client: Client, cmd: Command, argv: list[bytes], block: Block) -> None:
        parked = Parked(client, cmd, block.argv or argv, client.db, block)
        self.parked[client.id] = parked
        db_id = client.db.id
        for key in block.keys:
            self.by_key.setdefault((db_id, key), deque()).append(parked)
        self.server.keyspace.on_modified = self._on_modified
        if parked.deadline:
            parked.timer = self.server.call_later(block.timeout, lambda: self._timeout(parked))

    def _on_modified(self, db: Database, key: bytes | None) -> None:
        if key is None:  # FLUSHDB/FLUSHALL/SWAPDB: every parked key of that db is ready
            for slot in self.by_key:
                if slot[0] == db.id:
                    self.ready[slot] = None
            return
        slot = (db.id, key)
        if slot in self.by_key:
            self.ready[slot] = None

    def _forget(self, parked: Parked) -> None:
        self.parked.pop(parked.client.id, None)
        db_id = parked.db.id
        for key in parked.keys:
            queue = self.by_key.get((db_id, key))
            if queue is not None:
                try:
                    queue.remove(parked)
                except ValueError:
                    pass
                if not queue:
                    del self.by_key[(db_id, key)]
        if parked.timer is not None:
            parked.timer.cancel()
            parked.timer = None
        if not self.parked:
            self.server.keyspace.on_modified = None

    def remove(self, client: Client) -> None:
        """The client disconnected (or was reset) while parked."""
        parked = self.parked.get(client.id)
        if parked is not None:
            self._forget(parked)

    def _timeout(self, parked: Parked) -> None:
        if self.parked.get(parked.client.id) is not parked:
            return
        parked.timer = None
        self._forget(parked)
        reply = parked.timeout_reply
        if callable(reply):  # computed at the timeout (WAIT: how many replicas got there)
            reply = reply()
        parked.client.unblocked(reply, 0)

    def unblock(self, client: Client, reply: Any) -> bool:
        """CLIENT UNBLOCK: answer a parked client now with ``reply``."""
        parked = self.parked.get(client.id)
        if parked is None:
            return False
        self._forget(parked)
        client.unblocked(parked.timeout_reply if reply is None else reply, 0)
        return True

    # -- waking --------------------------------------------------------------
    def serve_ready(self) -> None:
        """Re-run the commands of clients parked on keys that changed, FIFO."""
        from cairn.commands.dispatch import call

        server = self.server
        keyspace = server.keyspace
        while self.ready:
            slot = next(iter(self.ready))
            del self.ready[slot]
            queue = self.by_key.get(slot)
            if not queue:
                continue
            for parked in list(queue):
                if self.parked.get(parked.client.id) is not parked:
                    continue
                client = parked.client
                saved_db = client.db
                client.db = parked.db
                keyspace.refresh_time()
                keyspace.read_barrier = 0
                reply = call(server, client, parked.cmd, parked.argv)
                client.db = saved_db
                if isinstance(reply, Block):
                    continue  # still nothing for it (e.g. the key holds too few)
                if isinstance(reply, ErrorReply) and reply.message.startswith("WRONGTYPE"):
                    continue  # like Redis, a key of another type does not end the wait
                lsn = keyspace.read_barrier
                if keyspace.effects:
                    lsn = server.log.append(keyspace.take_effects())
                    keyspace.mark_pending(lsn)
                self._forget(parked)
                client.unblocked(reply, lsn)
