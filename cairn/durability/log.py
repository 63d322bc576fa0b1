"""The transaction log contract shared by every backend.

The command layer only ever calls ``append(effects) -> lsn`` and reads
``committed``; a reply whose barrier LSN is above ``committed`` waits. Backends
call ``_advance(lsn)`` when records become durable, which notifies listeners
(the reply tracker) on the event loop's thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

Argv = list[bytes]
Effect = tuple[int, Argv]


class LogUnavailable(Exception):
    """Writes cannot be made durable (disk error, lost leadership...)."""


class TransactionLog(Protocol):
    committed: int
    last_lsn: int

    def append(self, effects: list[Effect]) -> int:
        """Buffer one record (never blocks); returns its LSN."""
        ...

    def subscribe(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(committed)`` whenever ``committed`` advances."""
        ...

    def read(self, from_lsn: int) -> Iterator[tuple[int, list[Effect]]]:
        """Records with LSN >= from_lsn, in order."""
        ...

    def close(self) -> None: ...


class MemoryLog:
    """``durability none``: records are numbered and immediately 'committed', and
    nothing is kept. For pure caches and benchmarks; INFO says so plainly."""

    name = "none"

    def __init__(self) -> None:
        self.committed = 0
        self.last_lsn = 0
        self._listeners: list[Callable[[int], None]] = []

    def append(self, effects: list[Effect]) -> int:
        self.last_lsn += 1
        self.committed = self.last_lsn
        return self.last_lsn

    def subscribe(self, listener: Callable[[int], None]) -> None:
        self._listeners.append(listener)

    def read(self, from_lsn: int) -> Iterator[tuple[int, list[Effect]]]:
        return iter(())

    def close(self) -> None:
        pass
