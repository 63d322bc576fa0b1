"""The transaction log contract shared by every backend.

The command layer only ever calls ``append(effects) -> lsn`` and reads
``committed``; a reply whose barrier LSN is above ``committed`` waits. Backends
tell subscribers when ``committed`` advances. The local backend calls them from
its writer thread: a subscriber that touches the event loop must hop over with
``loop.call_soon_threadsafe`` (``net.listener.Node._on_commit`` does).

Failure contract (what the dispatcher relies on):

- ``failure`` is None while the log is healthy, else a short reason
  ("fdatasync failed: No space left on device"). It is set by the backend
  (possibly from another thread) and cleared only by a successful
  ``try_resume()``.
- While ``failure`` is set, the dispatcher refuses every command that may write
  (before running it, where Redis checks MISCONF) with ``misconf_error(failure)``.
  Reads keep working; a read whose keys are dirty still waits for its barrier,
  so nothing that was not made durable is ever shown.
- ``append()`` itself never raises because of an I/O failure: a record appended
  in the instant between that check and the failure (or by active expiry) has
  already changed memory, so it is numbered and kept pending like the records of
  the failed batch. None of them is reported committed unless ``try_resume()``
  re-validates the log on disk and writes them again successfully; otherwise
  they never are (and a restart replays only what the disk holds).
  ``append()`` raises ``LogUnavailable`` only on a log that is not open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

Argv = list[bytes]
Effect = tuple[int, Argv]


class LogUnavailable(Exception):
    """Writes cannot be made durable (disk error, lost leadership, log closed...)."""


class LogCorrupt(Exception):
    """A record in the middle of the log is damaged; the log refuses to open."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(f"{path}: corrupt record at byte offset {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


class LogTrimmed(LookupError):
    """The records asked for were trimmed away (a snapshot covers them)."""


def misconf_error(reason: str) -> str:
    """The error a write command gets while the log is failed."""
    return (
        f"MISCONF Errors writing to the transaction log: {reason}. "
        "Writes are refused until the log is healthy again."
    )


class TransactionLog(Protocol):
    committed: int
    last_lsn: int
    failure: str | None

    def append(self, effects: list[Effect]) -> int:
        """Buffer one record (never blocks); returns its LSN."""
        ...

    def subscribe(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(committed)`` whenever ``committed`` advances (any thread)."""
        ...

    def read(self, from_lsn: int) -> Iterator[tuple[int, list[Effect]]]:
        """Durable records with LSN >= from_lsn, in order."""
        ...

    def trim(self, upto_lsn: int) -> int:
        """Drop stored records <= upto_lsn where the backend can; returns how many units went."""
        ...

    def try_resume(self) -> bool:
        """After a failure: re-validate and resume if the storage works again."""
        ...

    def close(self) -> None: ...


class MemoryLog:
    """``durability none``: records are numbered and immediately 'committed', and
    nothing is kept. For pure caches and benchmarks; INFO says so plainly."""

    name = "none"

    def __init__(self) -> None:
        self.committed = 0
        self.last_lsn = 0
        self.failure: str | None = None
        self._listeners: list[Callable[[int], None]] = []

    def append(self, effects: list[Effect]) -> int:
        self.last_lsn += 1
        self.committed = self.last_lsn
        return self.last_lsn

    def subscribe(self, listener: Callable[[int], None]) -> None:
        self._listeners.append(listener)

    def read(self, from_lsn: int) -> Iterator[tuple[int, list[Effect]]]:
        return iter(())

    def trim(self, upto_lsn: int) -> int:
        return 0

    def try_resume(self) -> bool:
        return True

    def close(self) -> None:
        pass
