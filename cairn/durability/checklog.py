"""``cairn check-log <dir> [--truncate]``: inspect (and optionally repair) a local log.

Without ``--truncate`` it only reads: one line per segment, the totals, and the
first bad record (file and byte offset) with whether the server would cut it on
start (a torn final batch) or refuse to start (corruption).

With ``--truncate`` it cuts the log after the last good record: the segment
holding the first bad record is truncated there and every later segment is set
aside. Nothing is destroyed: the cut bytes are saved to
``<segment>.cut-at-<offset>`` and later segments are renamed ``<name>.discarded``
(files the server ignores). Records after the cut are lost to the server, so
this is for an operator who has decided to accept that. It refuses while a
server holds the log open.

Exit status: 0 the log is clean (or was repaired), 1 a bad record was found and
left in place, 2 the directory could not be read or locked.
"""

from __future__ import annotations

import argparse
import os
import sys

from cairn.durability.local import (
    Examination,
    examine,
    fsync_directory,
    list_segments,
    lock_directory,
)
from cairn.durability.log import LogUnavailable


def report(exam: Examination, directory: str, out: list[str]) -> None:
    out.append(f"log directory: {directory}")
    if not exam.segments:
        out.append("no segments (an empty log)")
        return
    for path, scan in exam.segments:
        first = scan.first_lsn
        span = f"LSN {first}..{scan.last_lsn}" if scan.records else "no records"
        state = (
            "ok"
            if scan.bad_offset is None
            else f"BAD at byte offset {scan.bad_offset}: {scan.bad_reason}"
        )
        out.append(
            f"  {os.path.basename(path)}: {scan.size} bytes, {scan.records} good records, {span}, {state}"
        )
    out.append(f"segments: {len(exam.segments)}")
    out.append(f"good records: {exam.records}")
    out.append(f"first LSN: {exam.first_lsn}")
    out.append(f"last good LSN (unbroken from the start): {exam.last_lsn}")
    problem = exam.problem
    if problem is None:
        out.append("status: clean")
    elif problem.kind == "torn":
        out.append(
            f"status: torn tail in {problem.path} at byte offset {problem.offset} ({problem.reason}); "
            "an unacknowledged final batch, which the server cuts on start"
        )
    else:
        out.append(
            f"status: CORRUPT: first bad record in {problem.path} at byte offset {problem.offset} "
            f"({problem.reason}); the server refuses to start"
        )


def truncate(exam: Examination, directory: str, out: list[str]) -> None:
    """Cut after the last good record, setting the cut bytes and later segments aside."""
    problem = exam.problem
    assert problem is not None
    segments = list_segments(directory)
    if problem.offset == 0 and segments and segments[0][1] != problem.path:
        # Nothing good in this segment: set it aside whole, with the later ones.
        for _first, path in segments:
            if path >= problem.path:
                os.rename(path, path + ".discarded")
                out.append(f"set aside {path} as {path}.discarded")
        fsync_directory(directory)
        return
    with open(problem.path, "rb") as handle:
        handle.seek(problem.offset)
        tail = handle.read()
    if tail:
        saved = f"{problem.path}.cut-at-{problem.offset}"
        with open(saved, "wb") as handle:
            handle.write(tail)
            handle.flush()
            os.fsync(handle.fileno())
        out.append(f"saved the {len(tail)} cut bytes to {saved}")
    fd = os.open(problem.path, os.O_WRONLY)
    try:
        os.ftruncate(fd, problem.offset)
        os.fsync(fd)
    finally:
        os.close(fd)
    out.append(f"truncated {problem.path} at byte offset {problem.offset}")
    for _first, path in segments:
        if path > problem.path:
            os.rename(path, path + ".discarded")
            out.append(f"set aside {path} as {path}.discarded")
    fsync_directory(directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cairn check-log", description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", help="the log's data directory")
    parser.add_argument(
        "--truncate", action="store_true", help="cut the log after the last good record"
    )
    args = parser.parse_args(argv)
    directory = os.path.abspath(args.dir)
    out: list[str] = []
    lock_fd = -1
    try:
        if not os.path.isdir(directory):
            print(f"check-log: {directory}: not a directory", file=sys.stderr)
            return 2
        if args.truncate:
            lock_fd = lock_directory(directory)
        exam = examine(directory)
        report(exam, directory, out)
        status = 0 if exam.problem is None else 1
        if args.truncate and exam.problem is not None:
            truncate(exam, directory, out)
            exam = examine(directory)
            out.append("after truncation:")
            report(exam, directory, out)
            status = 0 if exam.problem is None else 1
    except (OSError, LogUnavailable) as exc:
        print("\n".join(out))
        print(f"check-log: {exc}", file=sys.stderr)
        return 2
    finally:
        if lock_fd >= 0:
            os.close(lock_fd)
    print("\n".join(out))
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
