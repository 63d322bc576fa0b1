"""The one apply path: effects from the log run through the same handlers as
client commands, with lazy expiry off and nothing logged again.

Recovery at start-up and (later) replicas tailing the log both call
``apply_record``; what a primary logged is what they execute.
"""

from __future__ import annotations

from collections.abc import Iterable

from cairn.commands.context import Client, Server
from cairn.commands.dispatch import resolve
from cairn.keyspace import Effect
from cairn.protocol import ErrorReply


class ReplayError(Exception):
    """A logged effect could not be applied: the log and this code disagree."""


class Replayer:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.client = Client(server, addr="replay")
        self.client.authenticated = True
        self.records = 0
        self.applied_lsn = 0

    def apply_record(self, lsn: int, effects: Iterable[Effect]) -> None:
        server = self.server
        keyspace = server.keyspace
        client = self.client
        dbs = keyspace.dbs
        keyspace.replaying = True
        try:
            for db_index, argv in effects:
                client.db = dbs[db_index]
                try:
                    cmd = resolve(server, argv)
                    assert cmd.handler is not None
                    cmd.handler(client, argv)
                except ErrorReply as exc:
                    raise ReplayError(f"record {lsn}: {argv[:3]!r}... failed: {exc.message}") from None
            keyspace.effects.clear()
        finally:
            keyspace.replaying = False
        self.records += 1
        self.applied_lsn = lsn
