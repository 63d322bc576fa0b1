"""The snapshot builder: a separate process, never a fork of the server.

    python -m cairn.snapshots.builder --dir DATA_DIR --upto LSN [--databases N]

1. Picks the newest valid snapshot at or below LSN (a corrupt one is skipped
   when the log still covers the records after the older one).
2. Loads it into a fresh ``Server`` and replays the log records after it, up
   to exactly LSN, through the one apply path (``Replayer``). The log is read
   without its LOCK file (the server holds it): only records at or below LSN
   are read, and those are durable before the builder starts.
3. Writes the snapshot to a temporary file and fsyncs it, then loads the file
   back and compares a digest of the keyspace with the one it replayed.
4. Publishes it (rename, fsync of the directory) and prints one JSON line on
   stdout: ``{"ok": true, "lsn": ..., "keys": ..., "bytes": ..., "peak_rss": ...}``.
   On failure: ``{"ok": false, "error": "..."}`` and exit status 1.

The server side (``manager``) trims the log and applies retention afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import hiredis

from cairn.durability.local import list_segments
from cairn.durability.log import Effect
from cairn.durability.record import HEADER, HEADER_SIZE, MAGIC, VERSION, crc32c
from cairn.snapshots.format import (
    Snapshot,
    SnapshotCorrupt,
    SnapshotError,
    functions_digest,
    keyspace_digest,
    list_snapshots,
    load_into,
    publish,
    read_snapshot,
    snapshot_digest,
    snapshot_name,
    write_snapshot,
)


def log_dir_of(data_dir: str) -> str:
    return os.path.join(data_dir, "log")


def snapshot_dir_of(data_dir: str) -> str:
    return os.path.join(data_dir, "snapshots")


# -- reading the log without its lock -----------------------------------------------


def _segment_records(
    path: str, buf: bytes, from_lsn: int, upto: int
) -> Iterator[tuple[int, list[Effect], int]]:
    """(lsn, effects, end offset) of the records of one segment in [from_lsn, upto].

    Records before ``from_lsn`` are skipped by their headers; from there on every
    record must carry the next LSN and a good checksum. Stops right after ``upto`` without looking at what follows (the server may be
    writing the next record at that very moment).
    """
    reader = hiredis.Reader()
    end = len(buf)
    pos = 0
    while pos < end:
        if end - pos < HEADER_SIZE:
            raise SnapshotError(f"{path}: incomplete record header at byte offset {pos}")
        magic, crc, version, _flags, _res, lsn, _epoch, length = HEADER.unpack_from(buf, pos)
        stop = pos + HEADER_SIZE + length
        if magic != MAGIC or version != VERSION or stop > end:
            raise SnapshotError(f"{path}: bad record at byte offset {pos}")
        if lsn >= from_lsn:
            if lsn != from_lsn:  # a gap, or a damaged LSN field
                raise SnapshotError(
                    f"{path}: found LSN {lsn} at byte offset {pos} where LSN {from_lsn} "
                    "was expected"
                )
            if crc32c(buf[pos + 8 : stop]) != crc:
                raise SnapshotError(f"{path}: checksum mismatch at byte offset {pos}")
            reader.feed(buf, pos + HEADER_SIZE, length)
            items = reader.gets()
            if not isinstance(items, list) or reader.has_data():
                raise SnapshotError(f"{path}: malformed record payload at byte offset {pos}")
            yield lsn, list(zip(items[::2], items[1::2])), stop
            if lsn == upto:
                return
            from_lsn += 1
        pos = stop


@dataclass
class LogPosition:
    """Where the log stands just after a given record: segment (by first LSN), byte offset."""

    segment: int
    offset: int


def read_log(
    log_dir: str, from_lsn: int, upto: int, end: LogPosition | None = None
) -> Iterator[tuple[int, list[Effect]]]:
    """Records from_lsn..upto (inclusive), in order, checksummed, without locking.

    SnapshotError when a record is missing or damaged. ``end`` (if given) is set to
    the position just after ``upto``.
    """
    if from_lsn > upto:
        return
    segments = list_segments(log_dir)
    if not segments or segments[0][0] > from_lsn:
        first = segments[0][0] if segments else None
        raise SnapshotError(
            f"the log in {log_dir} starts at LSN {first}; records from LSN {from_lsn} are gone"
        )
    start = 0
    for i, (first, _path) in enumerate(segments):
        if first <= from_lsn:
            start = i
    expected = from_lsn
    for first, path in segments[start:]:
        if first > upto:
            break
        with open(path, "rb") as handle:
            buf = handle.read()
        for lsn, effects, offset in _segment_records(path, buf, expected, upto):
            if lsn != expected:
                raise SnapshotError(f"{path}: found LSN {lsn} where LSN {expected} was expected")
            yield lsn, effects
            expected += 1
            if lsn == upto:
                if end is not None:
                    end.segment = first
                    end.offset = offset
                return
    raise SnapshotError(f"the log ends at LSN {expected - 1}, before LSN {upto}")


def position_after(log_dir: str, lsn: int) -> LogPosition:
    """The position just after record ``lsn`` (a walk over one segment's headers)."""
    segments = list_segments(log_dir)
    if not segments:
        return LogPosition(lsn + 1, 0)
    chosen = segments[0]
    for seg in segments:
        if seg[0] <= lsn:
            chosen = seg
    first, path = chosen
    if lsn < first:
        return LogPosition(first, 0)
    with open(path, "rb") as handle:
        buf = handle.read()
    pos = 0
    end = len(buf)
    while end - pos >= HEADER_SIZE:
        magic, _crc, _v, _f, _r, rec_lsn, _e, length = HEADER.unpack_from(buf, pos)
        if magic != MAGIC:
            break
        pos += HEADER_SIZE + length
        if rec_lsn >= lsn:
            break
    return LogPosition(first, min(pos, end))


def log_bytes_after(log_dir: str, position: LogPosition) -> int:
    """Bytes of log written after ``position`` (from file sizes: a few stat calls)."""
    total = 0
    for first, path in list_segments(log_dir):
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            continue
        if first > position.segment:
            total += size
        elif first == position.segment:
            total += max(0, size - position.offset)
    return total


# -- choosing the base ---------------------------------------------------------------


@dataclass
class Base:
    snapshot: Snapshot | None
    lsn: int
    skipped: list[str]  # why newer snapshots were not used


CORRUPT_SUFFIX = ".corrupt"


def choose_base(
    snap_dir: str, log_dir: str, upto: int | None = None, quarantine: bool = True
) -> Base:
    """The newest valid snapshot (at or below ``upto``) that the log can continue.

    A corrupt snapshot is skipped in favour of an older one only when the log
    still holds every record after the older one; otherwise SnapshotError with
    the whole story. No snapshot at all: the base is the empty keyspace at LSN 0,
    which the log must cover from LSN 1. A corrupt snapshot that is skipped is
    renamed to ``<name>.corrupt`` (with ``quarantine``).
    """
    segments = list_segments(log_dir) if os.path.isdir(log_dir) else []
    log_first = segments[0][0] if segments else None
    skipped: list[str] = []
    corrupt: list[str] = []
    candidates = [c for c in reversed(list_snapshots(snap_dir)) if upto is None or c[0] <= upto]
    for index, (lsn, path) in enumerate(candidates):
        newest = index == 0
        # The newest snapshot needs no log before it (an empty log may start after it).
        covered = lsn == upto or (log_first is None and newest) or (
            log_first is not None and log_first <= lsn + 1
        )
        if not covered:
            raise SnapshotError(
                "; ".join(skipped)
                + f"; the previous snapshot {path} is at LSN {lsn} but the log starts at LSN "
                f"{log_first}: the records in between are gone. Restore a good snapshot, or move "
                "the corrupt one away to accept losing them."
            )
        try:
            snapshot = read_snapshot(path)
        except SnapshotCorrupt as exc:
            skipped.append(f"snapshot {path} is unusable ({exc.reason})")
            corrupt.append(path)
            continue
        return _based(Base(snapshot, lsn, skipped), corrupt, quarantine)
    if skipped and log_first != 1:
        raise SnapshotError(
            "; ".join(skipped) + f"; no older snapshot is left and the log starts at LSN "
            f"{log_first}, not 1: the records before it are gone. Restore a good snapshot."
        )
    if not skipped and log_first is not None and log_first > 1 and (upto is None or upto > 0):
        raise SnapshotError(
            f"no snapshot in {snap_dir}, but the log starts at LSN {log_first}: "
            "the records before it were trimmed. Restore the snapshots directory."
        )
    return _based(Base(None, 0, skipped), corrupt, quarantine)


def _based(base: Base, corrupt: list[str], quarantine: bool) -> Base:
    """Once a base is found: move the corrupt snapshots skipped for it out of the way
    (retention must not count them), kept for inspection as ``<name>.corrupt``."""
    if quarantine:
        for path in corrupt:
            try:
                os.replace(path, path + CORRUPT_SUFFIX)
            except OSError:
                continue
            base.skipped.append(f"moved {path} to {path + CORRUPT_SUFFIX}")
    return base


# -- building ------------------------------------------------------------------------


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _live_dbs(server: Any) -> list[tuple[dict[bytes, Any], dict[bytes, int]]]:
    dbs = []
    for db in server.keyspace.dbs:
        expires = db.expires
        if expires and not expires.keys() <= db.data.keys():
            expires = {k: v for k, v in expires.items() if k in db.data}
        dbs.append((db.data, expires))
    return dbs


def write_verified(server: Any, snap_dir: str, upto: int,
                   position: tuple[int, int] = (0, 0)) -> tuple[Any, float]:
    """Write the server's keyspace as the snapshot at LSN ``upto`` in ``snap_dir``:
    to a temporary file, fsynced, read back whole and compared by digest, then
    published. Returns (what was written, when the write finished)."""
    from cairn.scripting.functions import dump_libraries

    dbs = _live_dbs(server)
    functions = dump_libraries(server) if _has_libraries(server) else b""
    digest = keyspace_digest(dbs) + functions_digest(functions)
    final = os.path.join(snap_dir, snapshot_name(upto))
    temp = f"{final}.tmp-{os.getpid()}"
    try:
        written = write_snapshot(temp, upto, dbs, int(time.time() * 1000), position=position,
                                 functions=functions)
        written_at = time.perf_counter()
        # Verify from the file: read it back whole (checksum, structure, every key
        # and value through its codec) and compare digests.
        lsn, loaded = snapshot_digest(temp)
        if lsn != upto or loaded != digest:
            raise SnapshotError(
                f"verification failed: the snapshot written to {temp} does not load back "
                "to the keyspace it was written from"
            )
        publish(temp, final)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    return written, written_at


def _has_libraries(server: Any) -> bool:
    engine = getattr(server, "scripting", None)
    return engine is not None and bool(engine.libraries.stats()[0])


def restore_functions(server: Any, snap: Snapshot) -> None:
    """Put a snapshot's function libraries into the server (after load_into)."""
    if snap.functions:
        from cairn.scripting.functions import restore_libraries

        restore_libraries(server, snap.functions)


def ensure_dir(path: str) -> None:
    """Create a snapshot directory durably (the parent's entry fsynced)."""
    if not os.path.isdir(path):
        os.makedirs(path, exist_ok=True)
        parent = os.path.dirname(os.path.abspath(path))
        fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def build(data_dir: str, upto: int, databases: int = 16) -> dict[str, Any]:
    """Build, verify and publish the snapshot at LSN ``upto``; the result as a dict."""
    import cairn.commands  # noqa: F401  (registers every command)
    from cairn.commands.context import Server
    from cairn.commands.replay import Replayer
    from cairn.config import Config

    started = time.perf_counter()
    log_dir = log_dir_of(data_dir)
    snap_dir = snapshot_dir_of(data_dir)
    ensure_dir(snap_dir)
    base = choose_base(snap_dir, log_dir, upto)
    config = Config()
    config.set_text("databases", str(databases))
    server = Server(config)
    end = LogPosition(0, 0)
    if base.snapshot is not None:
        end = LogPosition(*base.snapshot.position)
        load_into(server.keyspace, base.snapshot)
        restore_functions(server, base.snapshot)
        base.snapshot = None  # its dicts now belong to the keyspace
    elif upto == 0:
        segments = list_segments(log_dir)
        end = LogPosition(segments[0][0] if segments else 1, 0)
    loaded_at = time.perf_counter()
    replayer = Replayer(server)
    for lsn, effects in read_log(log_dir, base.lsn + 1, upto, end):
        replayer.apply_record(lsn, effects)
    replayed_at = time.perf_counter()

    delay = os.environ.get("CAIRN_TEST_SNAPSHOT_DELAY")
    if delay:  # test hook: keep the job "in progress" for a while (like rdb-key-save-delay)
        time.sleep(float(delay))
    written, written_at = write_verified(server, snap_dir, upto, (end.segment, end.offset))
    done = time.perf_counter()
    return {
        "ok": True,
        "lsn": upto,
        "path": os.path.join(snap_dir, snapshot_name(upto)),
        "keys": written.keys,
        "bytes": written.size,
        "base_lsn": base.lsn,
        "skipped": base.skipped,
        "replayed": upto - base.lsn,
        "log_segment": end.segment,
        "log_offset": end.offset,
        "seconds": round(done - started, 6),
        "load_seconds": round(loaded_at - started, 6),
        "replay_seconds": round(replayed_at - loaded_at, 6),
        "write_seconds": round(written_at - replayed_at, 6),
        "verify_seconds": round(done - written_at, 6),
        "peak_rss": peak_rss(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cairn.snapshots.builder")
    parser.add_argument("--dir", required=True, help="the server's data directory")
    parser.add_argument("--upto", required=True, type=int, help="the snapshot's LSN")
    parser.add_argument("--databases", type=int, default=16)
    args = parser.parse_args(argv)
    try:
        result = build(os.path.abspath(args.dir), args.upto, args.databases)
    except (SnapshotError, OSError) as exc:
        print(json.dumps({"ok": False, "error": str(exc), "peak_rss": peak_rss()}), flush=True)
        return 1
    except Exception as exc:  # a replay error, a bug: report it, never publish
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}",
                          "peak_rss": peak_rss()}), flush=True)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
