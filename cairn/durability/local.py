"""The local transaction log: segment files, one writer thread, group commit.

Layout: ``<dir>/<first LSN, 20 digits>.log`` segment files (record format in
``record.py``) and a ``LOCK`` file held with ``flock`` while the log is open.

Threads:

- ``append()`` runs on the caller's thread (the event loop): it encodes the
  record, numbers it and adds it to the pending list under a short lock. It never
  waits for the disk.
- One writer thread takes everything pending as one batch (group commit), writes
  it to the current segment, calls ``fdatasync``, then advances ``committed`` and
  calls the subscribers **from the writer thread**. A subscriber that touches the
  event loop must marshal with ``loop.call_soon_threadsafe``.

A segment rolls over before a batch once it has reached ``segment_size``; a batch
never spans two segments. Creating a segment fsyncs the directory.

A failed write or fsync puts the log in a failed state (see the failure contract
in ``log.py``): ``failure`` is set, the writer thread stops, ``committed`` stops
advancing, and the failed batch plus everything appended after it stay pending.
A failed fsync is never retried on the same data: ``try_resume()`` reopens the
current segment, truncates it to the last acknowledged byte, re-reads and checks
every record on it, then writes the pending records again and fsyncs; only when
all of that succeeds is the failure cleared.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cairn.durability.log import Effect, LogCorrupt, LogTrimmed, LogUnavailable
from cairn.durability.record import (
    RecordError,
    Scan,
    encode_effects,
    frame_batch,
    iter_segment,
    scan_segment,
    torn_tail,
)

log = logging.getLogger("cairn")

SEGMENT_RE = re.compile(r"^(\d{20})\.log$")
DEFAULT_SEGMENT_SIZE = 64 << 20


def segment_name(first_lsn: int) -> str:
    return f"{first_lsn:020d}.log"


def list_segments(directory: str) -> list[tuple[int, str]]:
    """(first LSN, path) of every segment file, in LSN order."""
    found = []
    for name in os.listdir(directory):
        m = SEGMENT_RE.match(name)
        if m:
            found.append((int(m.group(1)), os.path.join(directory, name)))
    found.sort()
    return found


def fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lock_directory(directory: str) -> int:
    """Take the log's LOCK file; LogUnavailable if another process holds it."""
    fd = os.open(os.path.join(directory, "LOCK"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise LogUnavailable(
                f"{directory}: the transaction log is in use by another process"
            ) from None
        raise
    return fd


def _read_file(path: str, limit: int | None = None) -> bytes:
    with open(path, "rb") as handle:
        return handle.read() if limit is None else handle.read(limit)


@dataclass
class Problem:
    kind: str  # "torn" (safe to cut) or "corrupt" (refuse)
    path: str
    offset: int
    reason: str


@dataclass
class Examination:
    """The state of a log directory: every segment's scan and the first problem."""

    segments: list[tuple[str, Scan]] = field(default_factory=list)
    problem: Problem | None = None
    good_last_lsn: int = 0

    @property
    def records(self) -> int:
        return sum(scan.records for _path, scan in self.segments)

    @property
    def first_lsn(self) -> int:
        return self.segments[0][1].first_lsn if self.segments else 1

    @property
    def last_lsn(self) -> int:
        """The last LSN of the unbroken run of good records from the start."""
        return self.good_last_lsn


def examine(directory: str, segments: list[tuple[int, str]] | None = None) -> Examination:
    """Scan every segment of a log directory (reads them all; changes nothing)."""
    if segments is None:
        segments = list_segments(directory)
    exam = Examination()
    prev: Scan | None = None
    for index, (first, path) in enumerate(segments):
        scan = scan_segment(_read_file(path), first)
        exam.segments.append((path, scan))
        if exam.problem is not None:
            continue  # keep scanning for the report, but the first problem stands
        if prev is not None and first != prev.last_lsn + 1:
            exam.problem = Problem(
                "corrupt",
                path,
                0,
                f"segment starts at LSN {first} but the previous one ends at LSN {prev.last_lsn}",
            )
            continue
        exam.good_last_lsn = scan.last_lsn
        if scan.bad_offset is not None:
            reason = scan.bad_reason or "bad record"
            last_segment = index == len(segments) - 1
            if last_segment and torn_tail(scan):
                exam.problem = Problem("torn", path, scan.bad_offset, reason)
            else:
                if not last_segment:
                    reason += "; in a segment that is not the last"
                elif scan.after_bad:
                    reason += f"; {len(scan.after_bad)} intact record(s) follow it"
                exam.problem = Problem("corrupt", path, scan.bad_offset, reason)
        prev = scan
    return exam


def _describe(exc: BaseException, what: str) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{what} failed: {exc.strerror}"
    return f"{what} failed: {exc!r}"


class LocalLog:
    """The standalone backend: see the module docstring."""

    name = "local"

    def __init__(
        self,
        directory: str,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
        *,
        epoch: int = 0,
        fsync: Callable[[int], None] = os.fdatasync,
        write: Callable[[int, memoryview], int] = os.write,
        commit_delay: float = 0.0,
        commit_gate: threading.Event | None = None,
    ) -> None:
        self.directory = os.path.abspath(directory)
        self.segment_size = segment_size
        self.epoch = epoch
        # Test hooks: fsync/write are replaceable (failure injection); commit_delay
        # sleeps and commit_gate (an Event) is waited for after each batch's fsync,
        # before ``committed`` advances.
        self.fsync = fsync
        self.write = write
        self.commit_delay = commit_delay
        self.commit_gate = commit_gate

        self.committed = 0
        self.last_lsn = 0
        self.first_lsn = 1
        self.failure: str | None = None
        self.cut_bytes = 0  # bytes of torn tail cut by open()
        self._what = "write"  # the operation in progress, for the failure reason

        self.stat_batches = 0
        self.stat_fsyncs = 0
        self.stat_records = 0
        self.stat_bytes = 0
        self.stat_fsync_seconds = 0.0

        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # the writer waits for work here
        self._done = threading.Condition(self._lock)  # flush() waits for commits here
        self._resume_lock = threading.Lock()
        # (lsn, payload) of records appended but not yet written; the writer
        # thread frames them (header + checksum), off the event loop.
        self._pending: list[tuple[int, bytes]] = []
        self._idle = False
        self._closing = False
        self._open = False
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[int], None]] = []
        self._lock_fd = -1
        self._fd = -1
        self._segments: list[tuple[int, str]] = []
        self._durable_end = 0  # bytes of the current segment known durable

    # -- opening -------------------------------------------------------------
    def open(self, from_lsn: int = 1) -> Iterator[tuple[int, list[Effect]]]:
        """Check the log, cut a torn tail, start the writer; return the records to replay.

        Raises LogCorrupt (naming the file and byte offset) when a damaged record
        is followed by intact ones or sits in a segment that is not the last.
        """
        if not os.path.isdir(self.directory):
            os.makedirs(self.directory)
            fsync_directory(os.path.dirname(self.directory))
        self._lock_fd = lock_directory(self.directory)
        try:
            self._open_locked()
        except BaseException:
            os.close(self._lock_fd)
            self._lock_fd = -1
            raise
        try:
            # Every record up to committed was just checked by examine(): skip the CRC.
            return self._reader(from_lsn, verify=False)
        except LogTrimmed:
            self.close()
            raise

    def _open_locked(self) -> None:
        segments = list_segments(self.directory)
        exam = examine(self.directory, segments)
        problem = exam.problem
        if problem is not None and problem.kind == "corrupt":
            raise LogCorrupt(problem.path, problem.offset, problem.reason)
        if problem is not None:  # a torn final batch: it was never acknowledged
            path, scan = exam.segments[-1]
            self.cut_bytes = scan.size - problem.offset
            log.warning(
                "transaction log: cutting a torn tail of %d bytes from %s at byte offset %d (%s)",
                self.cut_bytes,
                path,
                problem.offset,
                problem.reason,
            )
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.ftruncate(fd, problem.offset)
                self.fsync(fd)
            finally:
                os.close(fd)
        if not segments:
            path = os.path.join(self.directory, segment_name(1))
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
            fsync_directory(self.directory)
            segments = [(1, path)]
            self._durable_end = 0
            last = 0
        else:
            scan = exam.segments[-1][1]
            self._durable_end = scan.good_end
            last = scan.last_lsn
        self._segments = segments
        self.first_lsn = segments[0][0]
        self.last_lsn = self.committed = last
        self._fd = os.open(segments[-1][1], os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        self._open = True
        self._start_writer()

    def _start_writer(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cairn-log-writer", daemon=True)
        self._thread.start()

    # -- the loop side -------------------------------------------------------
    def append(self, effects: list[Effect]) -> int:
        """Number and buffer one record; returns its LSN. Never waits for the disk."""
        payload = encode_effects(effects)
        lock = self._lock
        lock.acquire()
        try:
            if not self._open:
                raise LogUnavailable("the transaction log is not open")
            lsn = self.last_lsn + 1
            self._pending.append((lsn, payload))
            self.last_lsn = lsn
            if self._idle:
                self._idle = False
                self._wake.notify()
        finally:
            lock.release()
        return lsn

    def subscribe(self, listener: Callable[[int], None]) -> None:
        """``listener(committed)`` is called from the writer thread after each commit."""
        self._listeners.append(listener)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything appended so far is durable; False on failure or timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self.last_lsn
            while self.committed < target:
                if self.failure is not None:
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._done.wait(remaining)
        return True

    # -- the writer thread ---------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closing:
                    self._idle = True
                    self._wake.wait()
                self._idle = False
                if not self._pending:
                    return  # closing, and everything is written
                batch = self._pending
                self._pending = []
                first = self.committed + 1
            try:
                self._write_batch(batch, first)
            except BaseException as exc:  # any failure stops the log
                self._fail(batch, exc)
                return
            if self.commit_delay:
                time.sleep(self.commit_delay)
            gate = self.commit_gate
            if gate is not None:
                gate.wait()
            self._commit(first + len(batch) - 1)

    def _write_batch(self, batch: list[tuple[int, bytes]], first: int) -> None:
        if self._durable_end >= self.segment_size:
            self._what = "creating a segment"
            self._rollover(first)
        data = frame_batch(batch, self.epoch)
        view = memoryview(data)
        fd = self._fd
        self._what = "write"
        while view:
            written = self.write(fd, view)
            view = view[written:]
        self._what = "fdatasync"
        started = time.monotonic()
        self.fsync(fd)
        self.stat_fsync_seconds += time.monotonic() - started
        self.stat_fsyncs += 1
        self.stat_batches += 1
        self.stat_records += len(batch)
        self.stat_bytes += len(data)
        with self._lock:
            self._durable_end += len(data)

    def _rollover(self, first: int) -> None:
        path = os.path.join(self.directory, segment_name(first))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            fsync_directory(self.directory)
        except BaseException:
            os.close(fd)
            raise
        old = self._fd
        with self._lock:  # readers see the new segment and its size together
            self._fd = fd
            self._durable_end = 0
            self._segments.append((first, path))
        os.close(old)

    def _commit(self, lsn: int) -> None:
        with self._lock:
            self.committed = lsn
            self._done.notify_all()
        for listener in self._listeners:
            try:
                listener(lsn)
            except Exception:  # a subscriber's bug must not stop the log
                log.exception("transaction log subscriber failed")

    def _fail(self, batch: list[tuple[int, bytes]], exc: BaseException) -> None:
        reason = _describe(exc, getattr(self, "_what", "write"))
        log.error("transaction log: %s; writes are refused until it is healthy again", reason)
        with self._lock:
            self._pending = batch + self._pending
            self.failure = reason
            self._done.notify_all()

    # -- recovery from a failure ---------------------------------------------
    def try_resume(self) -> bool:
        """After a failure: truncate the current segment to what was acknowledged,
        check it on disk, write every pending record again and fsync. Clears
        ``failure`` and restarts the writer only when all of that succeeds.

        Blocks on disk I/O: call it off the event loop (e.g. in an executor).
        """
        with self._resume_lock:
            if self.failure is None:
                return True
            if not self._open:
                return False
            try:
                self._reset_segment()
                with self._lock:
                    batch = self._pending
                    self._pending = []
                    first = self.committed + 1
                if batch:
                    try:
                        self._write_batch(batch, first)
                    except BaseException:
                        with self._lock:
                            self._pending = batch + self._pending
                        raise
            except Exception as exc:
                reason = _describe(exc, getattr(self, "_what", "resume"))
                log.error("transaction log: still failing: %s", reason)
                with self._lock:
                    self.failure = reason
                return False
            with self._lock:
                self.failure = None
            log.warning("transaction log: healthy again; writes accepted")
            if batch:
                self._commit(first + len(batch) - 1)
            self._start_writer()
            return True

    def _reset_segment(self) -> None:
        self._what = "reopening the segment"
        try:
            os.close(self._fd)
        except OSError:
            pass
        self._fd = -1
        with self._lock:
            current_first, path = self._segments[-1]
        # A segment created by a rollover that failed half way holds nothing durable.
        for first, stray in list_segments(self.directory):
            if first > current_first:
                os.unlink(stray)
                fsync_directory(self.directory)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        try:
            self._what = "truncating the segment"
            os.ftruncate(fd, self._durable_end)
            self._what = "fdatasync"
            self.fsync(fd)
            self._what = "verifying the segment"
            scan = scan_segment(_read_file(path), current_first)
            if (
                scan.bad_offset is not None
                or scan.good_end != self._durable_end
                or scan.last_lsn != self.committed
            ):
                where = scan.bad_offset if scan.bad_offset is not None else scan.good_end
                raise OSError(
                    errno.EIO,
                    f"segment {path} does not hold the acknowledged records "
                    f"(checked up to LSN {scan.last_lsn}, byte offset {where}; "
                    f"expected LSN {self.committed} at {self._durable_end})",
                )
            self._what = "probe write"
            self._probe()
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _probe(self) -> None:
        """Write and fsync a scratch file: the storage takes writes again."""
        path = os.path.join(self.directory, "PROBE")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            self.write(fd, memoryview(b"\0" * 4096))
            self.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(path)

    # -- reading and trimming ------------------------------------------------
    def read(self, from_lsn: int) -> Iterator[tuple[int, list[Effect]]]:
        """Durable records with LSN >= from_lsn (up to ``committed`` at the call), in order.

        LogTrimmed when from_lsn is before the first stored record. Checks every
        record's checksum as it goes (RecordError names the file and offset).
        """
        return self._reader(from_lsn, verify=True)

    def _reader(self, from_lsn: int, verify: bool) -> Iterator[tuple[int, list[Effect]]]:
        with self._lock:
            segments = list(self._segments)
            limit = self.committed
            durable_end = self._durable_end
        if from_lsn < self.first_lsn and from_lsn <= limit:
            raise LogTrimmed(
                f"records before LSN {self.first_lsn} were trimmed (asked for {from_lsn})"
            )
        return self._read(segments, from_lsn, limit, durable_end, verify)

    def _read(
        self,
        segments: list[tuple[int, str]],
        from_lsn: int,
        limit: int,
        durable_end: int,
        verify: bool,
    ) -> Iterator[tuple[int, list[Effect]]]:
        start = 0
        for i, (first, _path) in enumerate(segments):
            if first <= from_lsn:
                start = i
        for i in range(start, len(segments)):
            first, path = segments[i]
            if first > limit:
                return
            last_segment = i == len(segments) - 1
            buf = _read_file(path, durable_end if last_segment else None)
            try:
                yield from iter_segment(buf, from_lsn, limit, verify=verify)
            except RecordError as exc:
                raise LogCorrupt(path, exc.offset, exc.reason) from None

    def trim(self, upto_lsn: int) -> int:
        """Delete whole segments whose records are all <= upto_lsn (and durable).

        The current segment is never deleted. Returns the number removed.
        """
        removed = 0
        with self._lock:
            upto = min(upto_lsn, self.committed)
            doomed = []
            while len(self._segments) > 1 and self._segments[1][0] - 1 <= upto:
                doomed.append(self._segments.pop(0))
            if doomed:
                self.first_lsn = self._segments[0][0]
        for _first, path in doomed:
            os.unlink(path)
            removed += 1
        if removed:
            fsync_directory(self.directory)
        return removed

    # -- closing -------------------------------------------------------------
    def close(self) -> None:
        """Write and fsync everything pending (unless failed), stop the writer, close files.

        With a ``commit_gate`` installed, set it first: the writer waits for it.
        """
        with self._resume_lock:
            with self._lock:
                if not self._open:
                    return
                self._closing = True
                self._wake.notify()
            if self._thread is not None:
                self._thread.join()
            with self._lock:
                self._open = False
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1

    def info(self) -> dict[str, object]:
        """Figures for INFO persistence."""
        return {
            "log_backend": self.name,
            "log_dir": self.directory,
            "log_first_lsn": self.first_lsn,
            "log_last_lsn": self.last_lsn,
            "log_committed_lsn": self.committed,
            "log_segments": len(self._segments),
            "log_status": "ok" if self.failure is None else "err",
            "log_error": self.failure or "",
            "log_batches": self.stat_batches,
            "log_fsyncs": self.stat_fsyncs,
            "log_records_written": self.stat_records,
            "log_bytes_written": self.stat_bytes,
            "log_fsync_seconds": round(self.stat_fsync_seconds, 6),
        }


__all__ = ["DEFAULT_SEGMENT_SIZE", "Examination", "LocalLog", "Problem", "examine"]
