"""The local transaction log backend: recovery, group commit, failures, check-log."""

from __future__ import annotations

import errno
import itertools
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.durability.checklog import main as check_log
from cairn.durability.local import LocalLog, list_segments, segment_name
from cairn.durability.log import (
    LogCorrupt,
    LogTrimmed,
    LogUnavailable,
    MemoryLog,
    misconf_error,
)
from cairn.durability.record import FLAG_BATCH_END, HEADER_SIZE, encode_record


def eff(i: int, size: int = 10) -> list[tuple[int, list[bytes]]]:
    return [(i % 3, [b"SET", b"key:%d" % i, b"v" * size])]


@pytest.fixture
def logs() -> Iterator[list[LocalLog]]:
    """Logs a test opened; closed at the end so no writer thread outlives the test."""
    opened: list[LocalLog] = []
    yield opened
    for log in opened:
        if log.commit_gate is not None:
            log.commit_gate.set()
        log.close()


def open_log(logs: list[LocalLog], path: Path, **kw: object) -> tuple[LocalLog, list]:
    log = LocalLog(str(path), **kw)  # type: ignore[arg-type]
    logs.append(log)
    return log, list(log.open())


def write_log(path: Path, n: int, **kw: object) -> list[list]:
    """A closed log holding records 1..n (one batch each)."""
    log = LocalLog(str(path), **kw)  # type: ignore[arg-type]
    log.open()
    effects = []
    for i in range(1, n + 1):
        effects.append(eff(i))
        log.append(eff(i))
        assert log.flush(10)
    log.close()
    return effects


def only_segment(path: Path) -> str:
    segments = list_segments(str(path))
    assert len(segments) == 1
    return segments[0][1]


# -- basics ---------------------------------------------------------------------
def test_fresh_log(tmp_path: Path, logs: list[LocalLog]) -> None:
    log, replay = open_log(logs, tmp_path / "log")
    assert replay == []
    assert (log.committed, log.last_lsn, log.first_lsn) == (0, 0, 1)
    assert sorted(os.listdir(tmp_path / "log")) == ["00000000000000000001.log", "LOCK"]
    assert log.failure is None


def test_append_commit_reopen_replay(tmp_path: Path, logs: list[LocalLog]) -> None:
    log, _ = open_log(logs, tmp_path)
    seen: list[tuple[int, str]] = []
    log.subscribe(lambda lsn: seen.append((lsn, threading.current_thread().name)))
    multi = [(0, [b"MULTI-ish", b"a"]), (5, [b"DEL", b"x", b"y"]), (0, [b"SET", b"\r\n", b"\x00"])]
    assert log.append(eff(1)) == 1
    assert log.append(multi) == 2
    assert log.append([]) == 3
    assert log.last_lsn == 3
    assert log.flush(5)
    assert log.committed == 3
    assert seen and seen[-1][0] == 3
    assert [lsn for lsn, _ in seen] == sorted(lsn for lsn, _ in seen)
    assert all(name == "cairn-log-writer" for _, name in seen)  # called from the writer thread
    assert list(log.read(2)) == [(2, multi), (3, [])]
    log.close()
    log2, replay = open_log(logs, tmp_path)
    assert replay == [(1, eff(1)), (2, multi), (3, [])]
    assert (log2.committed, log2.last_lsn) == (3, 3)
    assert log2.append(eff(4)) == 4
    assert log2.flush(5)
    log2.close()
    log3, replay = open_log(logs, tmp_path)
    assert [lsn for lsn, _ in replay] == [1, 2, 3, 4]
    assert list(log3.read(4)) == [(4, eff(4))]


def test_open_from_lsn(tmp_path: Path, logs: list[LocalLog]) -> None:
    effects = write_log(tmp_path, 10)
    log = LocalLog(str(tmp_path))
    logs.append(log)
    assert list(log.open(from_lsn=7)) == [(i, effects[i - 1]) for i in range(7, 11)]


def test_second_open_is_refused(tmp_path: Path, logs: list[LocalLog]) -> None:
    open_log(logs, tmp_path)
    with pytest.raises(LogUnavailable, match="in use by another process"):
        LocalLog(str(tmp_path)).open()


def test_append_before_open_raises(tmp_path: Path) -> None:
    with pytest.raises(LogUnavailable):
        LocalLog(str(tmp_path)).append(eff(1))


def test_memory_log_unchanged() -> None:
    log = MemoryLog()
    assert [log.append(eff(i)) for i in range(3)] == [1, 2, 3]
    assert log.committed == 3 and log.failure is None
    assert list(log.read(1)) == [] and log.trim(3) == 0 and log.try_resume()


# -- torn tails and corruption ---------------------------------------------------
RECORD_SIZE = len(encode_record(3, 0, eff(3)))


@pytest.mark.parametrize("keep", range(RECORD_SIZE))
def test_torn_last_record_is_cut(tmp_path: Path, logs: list[LocalLog], keep: int) -> None:
    """Cut the last record after every possible byte: open() drops it, keeps the rest."""
    effects = write_log(tmp_path, 3)
    path = only_segment(tmp_path)
    size = os.path.getsize(path)
    start = size - RECORD_SIZE
    os.truncate(path, start + keep)
    log, replay = open_log(logs, tmp_path)
    assert replay == [(1, effects[0]), (2, effects[1])]
    assert os.path.getsize(path) == start
    assert log.cut_bytes == keep
    assert log.committed == log.last_lsn == 2
    # The log carries on from there, and a reopen sees the new record.
    assert log.append(eff(30)) == 3
    assert log.flush(5)
    log.close()
    _, replay = open_log(logs, tmp_path)
    assert replay[-1] == (3, eff(30))


@pytest.mark.parametrize("tail", [b"\0" * 4096, b"\xde\xad", b"CRNL" + b"\x01" * 60])
def test_garbage_tail_is_cut(tmp_path: Path, logs: list[LocalLog], tail: bytes) -> None:
    effects = write_log(tmp_path, 2)
    path = only_segment(tmp_path)
    with open(path, "ab") as f:
        f.write(tail)
    log, replay = open_log(logs, tmp_path)
    assert [e for _, e in replay] == effects
    assert log.cut_bytes == len(tail)


def test_torn_final_batch_with_later_pages_on_disk_is_cut(
    tmp_path: Path, logs: list[LocalLog]
) -> None:
    # Batches [1,2] and [3,4,5]; a crash before the second fsync returned left
    # record 3 as zeros while 4 and 5 reached the disk. None of 3..5 was acknowledged.
    tmp_path.mkdir(exist_ok=True)
    parts = [encode_record(i, 0, eff(i), FLAG_BATCH_END if i in (2, 5) else 0) for i in range(1, 6)]
    parts[2] = bytes(len(parts[2]))
    path = tmp_path / segment_name(1)
    path.write_bytes(b"".join(parts))
    _log, replay = open_log(logs, tmp_path)
    assert [lsn for lsn, _ in replay] == [1, 2]
    assert os.path.getsize(path) == len(parts[0]) + len(parts[1])


def _corrupt(path: str, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x10]))


@pytest.mark.parametrize("field_offset", [0, 5, 12, 28, HEADER_SIZE + 2])
def test_corrupt_record_in_the_middle_is_refused(tmp_path: Path, field_offset: int) -> None:
    write_log(tmp_path, 5)
    path = only_segment(tmp_path)
    size_before = os.path.getsize(path)
    record2 = RECORD_SIZE  # every record has the same size here
    _corrupt(path, record2 + field_offset)
    with pytest.raises(LogCorrupt) as info:
        LocalLog(str(tmp_path)).open()
    message = str(info.value)
    assert path in message and f"byte offset {record2}" in message
    assert info.value.path == path and info.value.offset == record2
    assert os.path.getsize(path) == size_before  # nothing cut
    # The directory lock was released: a later open gets the same answer.
    with pytest.raises(LogCorrupt):
        LocalLog(str(tmp_path)).open()


def test_bad_record_in_a_non_final_segment_is_refused(tmp_path: Path) -> None:
    write_log(tmp_path, 12, segment_size=200)
    segments = list_segments(str(tmp_path))
    assert len(segments) >= 3
    first_path = segments[0][1]
    # Damage the *last* record of the first segment: it would look torn if it were the last one.
    size = os.path.getsize(first_path)
    os.truncate(first_path, size - 3)
    with pytest.raises(LogCorrupt) as info:
        LocalLog(str(tmp_path)).open()
    assert first_path in str(info.value)
    assert f"byte offset {size - RECORD_SIZE}" in str(info.value)


def test_missing_segment_is_refused(tmp_path: Path) -> None:
    write_log(tmp_path, 12, segment_size=200)
    segments = list_segments(str(tmp_path))
    os.unlink(segments[1][1])
    with pytest.raises(LogCorrupt, match="segment starts at LSN"):
        LocalLog(str(tmp_path)).open()


def test_out_of_sequence_record_is_refused(tmp_path: Path) -> None:
    write_log(tmp_path, 2)
    path = only_segment(tmp_path)
    with open(path, "ab") as f:
        f.write(encode_record(7, 0, eff(7), FLAG_BATCH_END))
    with pytest.raises(LogCorrupt, match="unexpected LSN 7"):
        LocalLog(str(tmp_path)).open()


# -- segments and trim -------------------------------------------------------------
def test_rollover_and_reading_across_segments(tmp_path: Path, logs: list[LocalLog]) -> None:
    effects = write_log(tmp_path, 40, segment_size=300)
    segments = list_segments(str(tmp_path))
    assert len(segments) > 5
    for (first, path), (nxt, _p) in itertools.pairwise(segments):
        assert os.path.basename(path) == segment_name(first)
        assert os.path.getsize(path) >= 300  # rolled only once full
        assert nxt > first
    log, replay = open_log(logs, tmp_path, segment_size=300)
    assert replay == [(i, effects[i - 1]) for i in range(1, 41)]
    for start in (1, segments[2][0], segments[2][0] + 1, 40, 41):
        assert list(log.read(start)) == [(i, effects[i - 1]) for i in range(start, 41)]


def test_trim(tmp_path: Path, logs: list[LocalLog]) -> None:
    effects = write_log(tmp_path, 40, segment_size=300)
    log, _ = open_log(logs, tmp_path, segment_size=300)
    segments = list_segments(str(tmp_path))
    second_first = segments[1][0]
    assert log.trim(second_first - 2) == 0  # the first segment still holds a record > upto
    assert log.trim(second_first - 1) == 1
    assert list_segments(str(tmp_path)) == segments[1:]
    assert log.first_lsn == second_first
    with pytest.raises(LogTrimmed):
        log.read(1)
    assert next(iter(log.read(second_first)))[0] == second_first
    # Never the current segment, never past what is durable.
    assert log.trim(10**9) == len(segments) - 2
    assert len(list_segments(str(tmp_path))) == 1
    log.close()
    log2 = LocalLog(str(tmp_path), segment_size=300)
    logs.append(log2)
    with pytest.raises(LogTrimmed):
        log2.open()  # from LSN 1: gone
    log3 = LocalLog(str(tmp_path), segment_size=300)
    logs.append(log3)
    last_first = list_segments(str(tmp_path))[0][0]
    assert list(log3.open(last_first)) == [(i, effects[i - 1]) for i in range(last_first, 41)]
    assert log3.last_lsn == 40


# -- group commit and hooks -----------------------------------------------------------
def test_group_commit_and_append_never_waits(tmp_path: Path, logs: list[LocalLog]) -> None:
    calls: list[int] = []
    release = threading.Event()

    def slow_fsync(fd: int) -> None:
        calls.append(fd)
        release.wait(10)  # the disk is "stuck" until the test says so
        os.fdatasync(fd)

    log, _ = open_log(logs, tmp_path, fsync=slow_fsync)
    n = 5000
    started = time.monotonic()
    for i in range(n):
        log.append(eff(i))
    elapsed = time.monotonic() - started
    assert log.committed == 0  # nothing durable yet: the first fsync is blocked
    assert elapsed < 5  # the loop thread was never held up by the disk
    release.set()
    assert log.flush(10)
    assert log.committed == n
    assert len(calls) <= 10  # group commit: a handful of fsyncs for 5000 records
    assert log.stat_fsyncs == len(calls) and log.stat_records == n


def test_commit_gate_holds_commits(tmp_path: Path, logs: list[LocalLog]) -> None:
    gate = threading.Event()
    log, _ = open_log(logs, tmp_path, commit_gate=gate)
    lsn = log.append(eff(1))
    assert not log.flush(0.3)
    assert log.committed == 0
    assert list(log.read(1)) == []  # read() shows durable records only
    gate.set()
    assert log.flush(5) and log.committed == lsn


def test_commit_delay(tmp_path: Path, logs: list[LocalLog]) -> None:
    log, _ = open_log(logs, tmp_path, commit_delay=0.3)
    started = time.monotonic()
    log.append(eff(1))
    assert log.committed == 0
    assert log.flush(5)
    assert time.monotonic() - started >= 0.3


# -- failures -------------------------------------------------------------------------
class FlakyDisk:
    """fsync that fails with ENOSPC while ``broken``; counts calls."""

    def __init__(self) -> None:
        self.broken = False
        self.calls = 0

    def fsync(self, fd: int) -> None:
        self.calls += 1
        if self.broken:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        os.fdatasync(fd)


def test_fsync_failure_stops_commits_until_resume(tmp_path: Path, logs: list[LocalLog]) -> None:
    disk = FlakyDisk()
    log, _ = open_log(logs, tmp_path, fsync=disk.fsync)
    for i in range(1, 6):
        log.append(eff(i))
    assert log.flush(5) and log.committed == 5
    seen: list[int] = []
    log.subscribe(seen.append)

    disk.broken = True
    log.append(eff(6))
    assert not log.flush(5)
    assert log.failure == "fdatasync failed: No space left on device"
    assert misconf_error(log.failure) == (
        "MISCONF Errors writing to the transaction log: fdatasync failed: No space left on device. "
        "Writes are refused until the log is healthy again."
    )
    assert log.committed == 5 and seen == []
    # Later appends are numbered but never reported durable while failed.
    assert log.append(eff(7)) == 7
    time.sleep(0.2)
    assert log.committed == 5 and not log.flush(0.1)
    # Reads of durable records keep working.
    assert [lsn for lsn, _ in log.read(1)] == [1, 2, 3, 4, 5]
    # Resuming while the disk still fails changes nothing.
    assert not log.try_resume()
    assert log.failure is not None and log.committed == 5 and seen == []
    # Healthy again: the failed batch and what came after are written again and committed.
    disk.broken = False
    assert log.try_resume()
    assert log.failure is None and log.committed == 7 and seen == [7]
    assert log.append(eff(8)) == 8
    assert log.flush(5)
    log.close()
    _, replay = open_log(logs, tmp_path)
    assert replay == [(i, eff(i)) for i in range(1, 9)]


def test_partial_write_failure_is_truncated_on_resume(tmp_path: Path, logs: list[LocalLog]) -> None:
    state = {"fail": False}

    def write(fd: int, data: memoryview) -> int:
        if state["fail"]:
            os.write(fd, data[: len(data) // 2])  # half of it reaches the file...
            raise OSError(errno.EIO, os.strerror(errno.EIO))  # ...then the device errors
        return os.write(fd, data)

    log, _ = open_log(logs, tmp_path, write=write)
    log.append(eff(1))
    assert log.flush(5)
    path = only_segment(tmp_path)
    good_size = os.path.getsize(path)
    state["fail"] = True
    log.append(eff(2, size=500))
    assert not log.flush(5)
    assert log.failure == "write failed: Input/output error"
    assert os.path.getsize(path) > good_size  # half a record on disk
    state["fail"] = False
    assert log.try_resume()
    assert log.committed == 2
    log.close()
    _, replay = open_log(logs, tmp_path)
    assert replay == [(1, eff(1)), (2, eff(2, size=500))]


def test_resume_refuses_when_acknowledged_data_changed(
    tmp_path: Path, logs: list[LocalLog]
) -> None:
    disk = FlakyDisk()
    log, _ = open_log(logs, tmp_path, fsync=disk.fsync)
    log.append(eff(1))
    log.append(eff(2))
    assert log.flush(5)
    disk.broken = True
    log.append(eff(3))
    assert not log.flush(5)
    _corrupt(only_segment(tmp_path), 10)  # the disk returned something else
    disk.broken = False
    assert not log.try_resume()
    assert "does not hold the acknowledged records" in (log.failure or "")
    assert log.committed == 2


def _mount_tmpfs(where: Path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("the full-filesystem test needs root to mount a tmpfs")
    where.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")


def test_real_full_filesystem(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    _mount_tmpfs(mnt, "1m")
    log = None
    try:
        filler = mnt / "filler"
        filler.write_bytes(b"\0" * (256 << 10))
        log = LocalLog(str(mnt / "log"), segment_size=128 << 10)
        assert list(log.open()) == []
        appended = 0
        for i in range(1, 2000):
            log.append(eff(i, size=1000))
            appended = i
            if not log.flush(5):
                break
        assert log.failure is not None, "the 1 MiB filesystem never filled up"
        assert "No space left on device" in log.failure
        failed_at = log.committed
        assert failed_at < appended
        assert [lsn for lsn, _ in log.read(1)] == list(range(1, failed_at + 1))
        log.append(eff(appended + 1, size=1000))  # still only pending
        assert log.committed == failed_at
        assert not log.try_resume()  # still full
        assert log.committed == failed_at
        filler.unlink()  # an operator frees space
        assert log.try_resume(), log.failure
        assert log.committed == appended + 1
        log.close()
        log = LocalLog(str(mnt / "log"), segment_size=128 << 10)
        replay = list(log.open())
        assert replay == [(i, eff(i, size=1000)) for i in range(1, appended + 2)]
    finally:
        if log is not None:
            log.close()
        subprocess.run(["umount", str(mnt)], check=False)


def test_close_after_failure_then_reopen(tmp_path: Path, logs: list[LocalLog]) -> None:
    disk = FlakyDisk()
    log, _ = open_log(logs, tmp_path, fsync=disk.fsync)
    log.append(eff(1))
    assert log.flush(5)
    disk.broken = True
    log.append(eff(2))
    assert not log.flush(5)
    log.close()  # does not hang on the failed writer
    # A restart replays what the disk holds (record 2 was written, never acknowledged).
    _, replay = open_log(logs, tmp_path)
    assert [lsn for lsn, _ in replay] in ([1], [1, 2])


# -- check-log --------------------------------------------------------------------------
def test_check_log_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_log(tmp_path, 30, segment_size=300)
    assert check_log([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"segments: {len(list_segments(str(tmp_path)))}" in out
    assert "good records: 30" in out and "first LSN: 1" in out
    assert "(unbroken from the start): 30" in out and "status: clean" in out


def test_check_log_torn_and_truncate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], logs: list[LocalLog]
) -> None:
    write_log(tmp_path, 3)
    path = only_segment(tmp_path)
    os.truncate(path, os.path.getsize(path) - 5)
    assert check_log([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"torn tail in {path} at byte offset {2 * RECORD_SIZE}" in out
    assert check_log([str(tmp_path), "--truncate"]) == 0
    assert os.path.getsize(path) == 2 * RECORD_SIZE
    assert os.path.getsize(f"{path}.cut-at-{2 * RECORD_SIZE}") == RECORD_SIZE - 5
    _, replay = open_log(logs, tmp_path)
    assert [lsn for lsn, _ in replay] == [1, 2]


def test_check_log_corrupt_and_truncate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], logs: list[LocalLog]
) -> None:
    write_log(tmp_path, 30, segment_size=300)
    segments = list_segments(str(tmp_path))
    victim = segments[1][1]
    _corrupt(victim, RECORD_SIZE + 40)  # the second record of the second segment
    assert check_log([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"CORRUPT: first bad record in {victim} at byte offset {RECORD_SIZE}" in out
    assert f"(unbroken from the start): {segments[1][0]}" in out
    # Refused while a server holds the log... (a plain check works meanwhile)
    with pytest.raises(LogCorrupt):
        LocalLog(str(tmp_path)).open()
    assert check_log([str(tmp_path), "--truncate"]) == 0
    out = capsys.readouterr().out
    assert "status: clean" in out.split("after truncation:")[1]
    for _first, later in segments[2:]:
        assert os.path.exists(later + ".discarded") and not os.path.exists(later)
    _, replay = open_log(logs, tmp_path, segment_size=300)
    assert [lsn for lsn, _ in replay] == list(range(1, segments[1][0] + 1))


def test_check_log_truncate_refused_while_open(
    tmp_path: Path, logs: list[LocalLog], capsys: pytest.CaptureFixture[str]
) -> None:
    open_log(logs, tmp_path)
    assert check_log([str(tmp_path), "--truncate"]) == 2
    assert "in use by another process" in capsys.readouterr().err
    assert check_log([str(tmp_path / "nope")]) == 2


# -- throughput (printed, not asserted) ----------------------------------------------------
def test_throughput_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = 200_000
    log = LocalLog(str(tmp_path))
    log.open()
    value = b"x" * 32
    started = time.perf_counter()
    for i in range(n):
        log.append([(0, [b"SET", b"key:%d" % i, value])])
    appended = time.perf_counter() - started
    assert log.flush(60)
    committed = time.perf_counter() - started
    fsyncs = log.stat_fsyncs
    log.close()
    log = LocalLog(str(tmp_path))
    started = time.perf_counter()
    count = sum(1 for _ in log.open())
    replayed = time.perf_counter() - started
    started = time.perf_counter()
    reread = sum(1 for _ in log.read(1))
    read_s = time.perf_counter() - started
    log.close()
    assert count == reread == n
    with capsys.disabled():
        print(
            f"\n[local log] append {n / appended:,.0f} rec/s; append+commit {n / committed:,.0f} rec/s "
            f"({fsyncs} fsyncs); open+replay {n / replayed:,.0f} rec/s; read() with CRC {n / read_s:,.0f} rec/s"
        )


def test_concurrent_reader_sees_a_gapless_durable_prefix(
    tmp_path: Path, logs: list[LocalLog]
) -> None:
    log, _ = open_log(logs, tmp_path, segment_size=2000)
    stop = threading.Event()
    problems: list[str] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            before = log.committed
            lsns = [lsn for lsn, _ in log.read(1)]
            if lsns != list(range(1, len(lsns) + 1)) or len(lsns) < before:
                problems.append(f"read {len(lsns)} records, committed was {before}")
            reads[0] += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(1, 3001):
            log.append(eff(i))
            if i % 100 == 0:
                assert log.flush(10)  # at least 30 batches, so at least 30 rollovers
        assert log.flush(10)
    finally:
        stop.set()
        thread.join()
    assert problems == []
    assert reads[0] > 5
    assert len(list_segments(str(tmp_path))) > 10


_WRITER = """
import sys, threading
from cairn.durability.local import LocalLog
log = LocalLog(sys.argv[1], segment_size=20000)
log.open()
lock = threading.Lock()
def acked(lsn):
    with lock:
        sys.stdout.write(f"{lsn}\\n")
        sys.stdout.flush()
log.subscribe(acked)
while True:
    i = log.last_lsn + 1  # the LSN this record gets: the content says which it is
    assert log.append([(i % 4, [b"SET", b"key:%d" % i, b"v" * (i % 50)])]) == i
    if i % 100 == 0:
        import time; time.sleep(0.0005)
"""


def test_kill_9_keeps_every_acknowledged_record(tmp_path: Path) -> None:
    """A writer process is SIGKILLed mid-stream; every LSN it reported durable is there."""
    import signal
    import sys

    for round_ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        acked = 0
        deadline = time.monotonic() + 20
        while acked < 3000 * (round_ + 1) and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acked = int(line)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert acked > 0
        log = LocalLog(str(tmp_path), segment_size=20000)
        try:
            replay = list(log.open())
        finally:
            log.close()
        assert len(replay) >= acked
        assert [lsn for lsn, _ in replay] == list(range(1, len(replay) + 1))
        for i, effects in replay:
            assert effects == [(i % 4, [b"SET", b"key:%d" % i, b"v" * (i % 50)])]
