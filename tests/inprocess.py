"""In-process helpers: a Server without sockets, recording what reaches the log."""

from __future__ import annotations

from typing import Any

import cairn.commands  # noqa: F401  (registers every command)
from cairn.commands.context import Client, Server
from cairn.commands.dispatch import execute


class EffectsCapture:
    """Runs commands on an in-process Server and keeps every logged record."""

    def __init__(self) -> None:
        self.server = Server()
        self.client = Client(self.server)
        self.records: list[list[tuple[int, list[bytes]]]] = []
        original = self.server.log.append

        def append(effects: list[tuple[int, list[bytes]]]) -> int:
            self.records.append([(db, list(argv)) for db, argv in effects])
            return original(effects)

        self.server.log.append = append  # type: ignore[method-assign]

    def run(self, *args: Any) -> Any:
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        reply, _barrier = execute(self.server, self.client, argv)
        return reply

    def effects_of(self, *args: Any) -> list[list[bytes]]:
        """The commands logged by running one command."""
        before = len(self.records)
        self.run(*args)
        return [argv for record in self.records[before:] for _db, argv in record]
