"""The server side of snapshots: jobs, INFO fields, trimming, retention, recovery.

A job runs the builder (``python -m cairn.snapshots.builder``) as a child
process: BGSAVE through asyncio (the loop keeps serving), SAVE synchronously
(the server waits, as Redis' SAVE blocks). Never a fork of the server.

When a builder has published snapshot S:

1. retention: only the newest ``snapshot-retention`` snapshot files are kept;
2. the log is trimmed up to the LSN of the *oldest* snapshot kept, so that
   every kept snapshot can still be continued by the log (a corrupt newest
   snapshot falls back to the previous one at start-up). With retention 1 that
   is S itself. (The local log drops whole segments only.)
3. ``LASTSAVE`` and ``rdb_changes_since_last_save`` move on, as after a
   Redis BGSAVE.

Automatic snapshots: ``cron()`` (called by the node's cron) starts one when the
log written since the newest snapshot passes ``snapshot-log-size`` bytes (0 turns
them off); after a failure it waits 5 seconds before trying again.

Start-up is ``recover()``: newest valid snapshot, then the log after it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cairn.snapshots.builder import (
    LogPosition,
    choose_base,
    log_bytes_after,
    position_after,
    restore_functions,
    snapshot_dir_of,
)
from cairn.snapshots.format import (
    SnapshotError,
    fsync_directory,
    list_snapshots,
    load_into,
    temp_files,
)

if TYPE_CHECKING:
    from cairn.commands.context import Server
    from cairn.durability.local import LocalLog

log = logging.getLogger("cairn")

RDB = "rdb"  # BGSAVE, SAVE and automatic snapshots
AOF = "aof"  # BGREWRITEAOF: for Cairn, a snapshot is what compacts the log
RETRY_DELAY = 5.0  # seconds before an automatic snapshot is tried again after a failure
CHECK_INTERVAL = 1.0  # seconds between checks of the log size
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class SnapshotBusy(SnapshotError):
    """A snapshot is being built already."""


@dataclass
class Job:
    kind: str
    upto: int
    dirty_at_start: int
    auto: bool = False
    started: float = field(default_factory=time.monotonic)
    pid: int = 0


class SnapshotManager:
    """Snapshot state of one server (``server.snapshots``)."""

    def __init__(
        self,
        server: Server,
        data_dir: str,
        log_: LocalLog,
        snapshot_lsn: int = 0,
        position: LogPosition | None = None,
        loaded_keys: int = 0,
    ) -> None:
        self.server = server
        self.data_dir = os.path.abspath(data_dir)
        self.snap_dir = snapshot_dir_of(self.data_dir)
        self.log = log_
        self.log_dir = log_.directory
        self.snapshot_lsn = snapshot_lsn
        self.position = position or position_after(self.log_dir, snapshot_lsn)
        self.loaded_keys = loaded_keys
        self.job: Job | None = None
        self.scheduled: list[str] = []  # kinds waiting for the running job
        self.last_status = "ok"
        self.last_error = ""
        self.last_seconds = -1
        self.saves = 0
        self.aof_status = "ok"
        self.aof_seconds = -1
        self.aof_rewrites = 0
        self.aof_failures = 0
        self.builder_rss = 0
        self.last_result: dict[str, Any] = {}
        self._next_check = 0.0
        self._retry_after = 0.0
        self._task: asyncio.Task[None] | None = None
        self._process: asyncio.subprocess.Process | None = None
        for stale in temp_files(self.snap_dir):  # a builder that died half way
            try:
                os.unlink(stale)
            except FileNotFoundError:
                pass
        server.snapshots = self

    # -- the builder ------------------------------------------------------------
    def builder_argv(self, upto: int) -> list[str]:
        return [
            sys.executable, "-m", "cairn.snapshots.builder",
            "--dir", self.data_dir,
            "--upto", str(upto),
            "--databases", str(len(self.server.keyspace.dbs)),
        ]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        path = env.get("PYTHONPATH")
        env["PYTHONPATH"] = _PACKAGE_ROOT + (os.pathsep + path if path else "")
        return env

    @staticmethod
    def _result(returncode: int, stdout: bytes, stderr: bytes) -> dict[str, Any]:
        lines = stdout.decode("utf-8", "replace").strip().splitlines()
        result: dict[str, Any] | None = None
        if lines:
            try:
                result = json.loads(lines[-1])
            except ValueError:
                result = None
        if result is None:
            tail = stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise SnapshotError(
                f"the snapshot builder exited with status {returncode}: " + " | ".join(tail)
            )
        if returncode != 0 or not result.get("ok"):
            raise SnapshotError(str(result.get("error") or f"builder exit status {returncode}"))
        return result

    # -- state ------------------------------------------------------------------
    def running_kind(self) -> str | None:
        return self.job.kind if self.job is not None else None

    def log_bytes(self) -> int:
        """Bytes of log written since the newest snapshot."""
        return log_bytes_after(self.log_dir, self.position)

    # -- SAVE ---------------------------------------------------------------------
    def save(self) -> dict[str, Any]:
        """Build a snapshot of everything written so far, and wait for it (SAVE)."""
        if self.job is not None:
            raise SnapshotBusy("Background save already in progress")
        if not self.log.flush():
            raise SnapshotError(f"the transaction log is failing: {self.log.failure}")
        job = Job(RDB, self.log.committed, self.server.dirty)
        started = time.monotonic()
        try:
            proc = subprocess.run(
                self.builder_argv(job.upto), capture_output=True, env=self._env(), check=False
            )
            result = self._result(proc.returncode, proc.stdout, proc.stderr)
        except (SnapshotError, OSError) as exc:
            self._failed(job, exc)
            raise SnapshotError(str(exc)) from None
        self._succeeded(job, result, time.monotonic() - started)
        self._after_publish(result)
        return result

    # -- BGSAVE / BGREWRITEAOF / automatic ---------------------------------------
    def start(self, kind: str = RDB, auto: bool = False) -> None:
        """Start a background snapshot of everything written so far (on the loop)."""
        if self.job is not None:
            raise SnapshotBusy("Background save already in progress")
        loop = asyncio.get_running_loop()
        job = Job(kind, self.log.last_lsn, self.server.dirty, auto)
        self.job = job
        self._task = loop.create_task(self._run(job))

    def schedule(self, kind: str) -> None:
        """Run a snapshot of ``kind`` as soon as the running one (if any) is done."""
        if kind not in self.scheduled:
            self.scheduled.append(kind)
        if self.job is None:
            asyncio.get_running_loop().call_soon(self._start_scheduled)

    def _start_scheduled(self) -> None:
        if self.job is None and self.scheduled:
            kind = self.scheduled.pop(0)
            try:
                self.start(kind)
            except RuntimeError:  # no loop: nothing to run it on
                self.scheduled.insert(0, kind)

    async def _run(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        try:
            # The snapshot covers every write before the command: wait for it to be durable.
            while self.log.committed < job.upto:
                if self.log.failure is not None:
                    raise SnapshotError(f"the transaction log is failing: {self.log.failure}")
                await asyncio.sleep(0.001)
            process = await asyncio.create_subprocess_exec(
                *self.builder_argv(job.upto),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._env(),
            )
            self._process = process
            job.pid = process.pid
            stdout, stderr = await process.communicate()
            self._process = None
            assert process.returncode is not None
            result = self._result(process.returncode, stdout, stderr)
        except asyncio.CancelledError:
            self.job = None
            raise
        except Exception as exc:
            self._failed(job, exc)
        else:
            self._succeeded(job, result, time.monotonic() - job.started)
            await loop.run_in_executor(None, self._after_publish, result)
        finally:
            self._process = None
        if self.job is job:
            self.job = None
        self._start_scheduled()

    def _after_publish(self, result: dict[str, Any]) -> None:
        """Retention, then trim the log to what the oldest kept snapshot needs (disk I/O)."""
        keep = max(1, int(self.server.config["snapshot-retention"]))
        try:
            snapshots = list_snapshots(self.snap_dir)
            doomed, kept = snapshots[:-keep], snapshots[-keep:]
            for _lsn, path in doomed:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
            if doomed:
                fsync_directory(self.snap_dir)
            result["deleted_snapshots"] = len(doomed)
            if kept:
                result["trimmed_segments"] = self.log.trim(kept[0][0])
        except OSError as exc:  # the snapshot stands; the next one tries again
            log.error("after the snapshot at LSN %s: retention/trim failed: %s", result["lsn"], exc)

    def _succeeded(self, job: Job, result: dict[str, Any], seconds: float) -> None:
        server = self.server
        self.snapshot_lsn = int(result["lsn"])
        self.position = LogPosition(int(result["log_segment"]), int(result["log_offset"]))
        self.builder_rss = int(result.get("peak_rss", 0))
        self.last_result = result
        server.lastsave = int(time.time())
        server.dirty = max(0, server.dirty - job.dirty_at_start)
        self.saves += 1
        if job.kind == AOF:
            self.aof_status = "ok"
            self.aof_seconds = int(seconds)
            self.aof_rewrites += 1
            self.aof_failures = 0
        else:
            self.last_status = "ok"
            self.last_seconds = int(seconds)
        self.last_error = ""
        for note in result.get("skipped") or ():
            log.warning("snapshot builder: %s", note)
        log.info(
            "snapshot at LSN %d written (%d keys, %d bytes, %.3f s, builder peak RSS %d bytes)",
            self.snapshot_lsn, result.get("keys", 0), result.get("bytes", 0), seconds,
            self.builder_rss,
        )

    def _failed(self, job: Job, exc: BaseException) -> None:
        reason = str(exc) or type(exc).__name__
        log.error("snapshot at LSN %d failed: %s", job.upto, reason)
        self.last_error = reason
        if job.kind == AOF:
            self.aof_status = "err"
            self.aof_failures += 1
        else:
            self.last_status = "err"
        self._retry_after = time.monotonic() + RETRY_DELAY

    # -- the node's cron ------------------------------------------------------------
    def cron(self) -> None:
        """Start an automatic snapshot when the log since the newest one is big enough."""
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + CHECK_INTERVAL
        if self.job is not None:
            return
        if self.scheduled:
            self._start_scheduled()
            return
        threshold = self.server.config["snapshot-log-size"]
        if not threshold or now < self._retry_after or self.log.failure is not None:
            return
        if self.log.last_lsn <= self.snapshot_lsn:
            return
        if self.log_bytes() >= threshold:
            log.info("automatic snapshot: %d bytes of log since LSN %d", self.log_bytes(),
                     self.snapshot_lsn)
            self.start(RDB, auto=True)

    async def close(self) -> None:
        """At shutdown: stop a running builder (its temporary file is removed next start)."""
        process = self._process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
        task = self._task
        if task is not None and not task.done():
            task.cancel()

    # -- INFO -------------------------------------------------------------------------
    def info_fields(self) -> list[tuple[str, Any]]:
        job = self.job
        now = time.monotonic()
        rdb_running = job is not None and job.kind == RDB
        aof_running = job is not None and job.kind == AOF
        return [
            ("rdb_bgsave_in_progress", 1 if rdb_running else 0),
            ("rdb_last_bgsave_status", self.last_status),
            ("rdb_last_bgsave_time_sec", self.last_seconds),
            ("rdb_current_bgsave_time_sec", int(now - job.started) if rdb_running and job else -1),
            ("rdb_saves", self.saves),
            ("rdb_last_cow_size", 0),
            ("rdb_last_load_keys_loaded", self.loaded_keys),
            ("aof_rewrite_in_progress", 1 if aof_running else 0),
            ("aof_rewrite_scheduled", 1 if AOF in self.scheduled else 0),
            ("aof_last_rewrite_time_sec", self.aof_seconds),
            ("aof_current_rewrite_time_sec", int(now - job.started) if aof_running and job else -1),
            ("aof_last_bgrewrite_status", self.aof_status),
            ("aof_rewrites", self.aof_rewrites),
            ("aof_rewrites_consecutive_failures", self.aof_failures),
            ("cairn_snapshot_lsn", self.snapshot_lsn),
            ("cairn_snapshot_memory", self.builder_rss),
            ("cairn_snapshot_log_bytes", self.log_bytes()),
            ("cairn_snapshot_count", len(list_snapshots(self.snap_dir))),
            ("cairn_snapshot_last_error", self.last_error),
        ]


# -- start-up ---------------------------------------------------------------------------


def recover(server: Server, data_dir: str, log_: LocalLog) -> tuple[int, int]:
    """Load the newest valid snapshot, then replay the log after it; (records, snapshot LSN).

    Opens ``log_`` (``log_.open(from_lsn=snapshot_lsn + 1)``) and attaches a
    ``SnapshotManager`` as ``server.snapshots``. SnapshotError (with the whole
    story) when no usable snapshot + log combination exists; LogCorrupt and
    LogUnavailable come from the log as before.
    """
    from cairn.commands.replay import Replayer
    from cairn.durability.local import list_segments, segment_name

    data_dir = os.path.abspath(data_dir)
    log_dir = log_.directory
    base = choose_base(snapshot_dir_of(data_dir), log_dir)
    for note in base.skipped:
        log.error("recovery: %s; falling back to an older one", note)
    lsn = base.lsn
    loaded = 0
    position: LogPosition | None = None
    if base.snapshot is not None:
        if base.snapshot.position[0]:
            position = LogPosition(*base.snapshot.position)
        loaded = load_into(server.keyspace, base.snapshot)
        restore_functions(server, base.snapshot)
        log.info("recovery: loaded snapshot %s (LSN %d, %d keys)", base.snapshot.path, lsn, loaded)
        base.snapshot = None
    if lsn > 0 and not (os.path.isdir(log_dir) and list_segments(log_dir)):
        # No log at all (a new directory, or restored from snapshots alone): the log
        # continues after the snapshot, so new records never reuse its LSNs.
        os.makedirs(log_dir, exist_ok=True)
        path = os.path.join(log_dir, segment_name(lsn + 1))
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
        fsync_directory(log_dir)
        fsync_directory(os.path.dirname(log_dir))
        position = LogPosition(lsn + 1, 0)
    records = log_.open(from_lsn=lsn + 1)
    if log_.last_lsn < lsn:
        log_.close()
        raise SnapshotError(
            f"the snapshot is at LSN {lsn} but the log in {log_dir} ends at LSN "
            f"{log_.last_lsn}: the log lost records the snapshot covers"
        )
    replayer = Replayer(server)
    for record_lsn, effects in records:
        replayer.apply_record(record_lsn, effects)
    if position is None:
        position = position_after(log_dir, lsn)
    SnapshotManager(server, data_dir, log_, lsn, position, loaded)
    return replayer.records, lsn


__all__ = ["AOF", "RDB", "SnapshotBusy", "SnapshotManager", "recover"]
