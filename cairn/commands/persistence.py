"""Persistence commands: SAVE, BGSAVE, BGREWRITEAOF (LASTSAVE is in server.py).

Cairn's durability is the transaction log; these commands make **snapshots**
(see ``cairn/snapshots``), which is what lets the log be trimmed and start-up be
fast. The replies are Redis' words:

- BGSAVE starts a snapshot built by a separate process and answers at once.
- SAVE builds one and waits for it (like Redis' SAVE, the server waits too).
- BGREWRITEAOF answers as Redis does with AOF on (Cairn reports
  ``appendonly yes``); what it starts is a snapshot, since that is what compacts
  Cairn's log.

The snapshot state lives in ``server.snapshots`` (a ``SnapshotManager``, set at
start-up by ``cairn.snapshots.manager.recover``); without a log (``durability
none``) there is none and these commands answer an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cairn.commands import errors
from cairn.commands.context import Client, Server
from cairn.commands.errors import CommandError
from cairn.commands.registry import command
from cairn.observability.info import register_fields
from cairn.protocol import OK, Status
from cairn.snapshots.format import SnapshotError

if TYPE_CHECKING:
    from cairn.snapshots.manager import SnapshotManager

G = "server"

_NO_SNAPSHOTS = "ERR snapshots need the transaction log; this server runs with durability none"
_BGSAVE_RUNNING = "ERR Background save already in progress"
_AOF_RUNNING = "ERR Background append only file rewriting already in progress"
_OTHER_CHILD = (
    "ERR Another child process is active (AOF?): can't BGSAVE right now. "
    "Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."
)
_NO_LOOP = "ERR background snapshots need the server's event loop"


def _manager(c: Client) -> SnapshotManager:
    manager: SnapshotManager | None = getattr(c.server, "snapshots", None)
    if manager is None:
        raise CommandError(_NO_SNAPSHOTS)
    return manager


def _in_exec(c: Client) -> bool:
    # EXEC freezes the command time for the whole transaction.
    return c.server.keyspace.frozen_time


def _start(manager: SnapshotManager, kind: str) -> None:
    try:
        manager.start(kind)
    except RuntimeError:
        raise CommandError(_NO_LOOP) from None


@command("save", 1, "admin noscript no_async_loading no_multi", group=G, since="1.0.0",
         summary="Writes a snapshot of the dataset and waits for it.",
         complexity="O(N) where N is the total number of keys in all databases")
def save(c: Client, argv: list[bytes]) -> Any:
    manager = _manager(c)
    if manager.job is not None:
        raise CommandError(_BGSAVE_RUNNING)
    try:
        manager.save()
    except SnapshotError as exc:
        raise CommandError(f"ERR snapshot failed: {exc}") from None
    return OK


@command("bgsave", -1, "admin noscript no_async_loading", group=G, since="1.0.0",
         history=(("3.2.2", "Added the `SCHEDULE` option."),),
         summary="Starts writing a snapshot of the dataset in a separate process.",
         complexity="O(1)")
def bgsave(c: Client, argv: list[bytes]) -> Any:
    schedule = False
    if len(argv) > 1:
        if len(argv) == 2 and argv[1].lower() == b"schedule":
            schedule = True
        else:
            raise CommandError(errors.SYNTAX)
    manager = _manager(c)
    running = manager.running_kind()
    if running == "rdb":
        raise CommandError(_BGSAVE_RUNNING)
    if running is not None or _in_exec(c):
        if schedule or _in_exec(c):
            _schedule(manager, "rdb")
            return Status("Background saving scheduled")
        raise CommandError(_OTHER_CHILD)
    _start(manager, "rdb")
    return Status("Background saving started")


@command("bgrewriteaof", 1, "admin noscript no_async_loading", group=G, since="1.0.0",
         summary="Compacts the transaction log: starts a snapshot, after which the log is trimmed.",
         complexity="O(1)")
def bgrewriteaof(c: Client, argv: list[bytes]) -> Any:
    manager = _manager(c)
    running = manager.running_kind()
    if running == "aof":
        raise CommandError(_AOF_RUNNING)
    if running is not None or _in_exec(c):
        _schedule(manager, "aof")
        return Status("Background append only file rewriting scheduled")
    _start(manager, "aof")
    return Status("Background append only file rewriting started")


def _schedule(manager: SnapshotManager, kind: str) -> None:
    try:
        manager.schedule(kind)
    except RuntimeError:
        raise CommandError(_NO_LOOP) from None


def _info_fields(server: Server) -> list[tuple[str, Any]]:
    manager: SnapshotManager | None = getattr(server, "snapshots", None)
    return [] if manager is None else manager.info_fields()


register_fields("persistence", _info_fields)
