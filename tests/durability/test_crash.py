"""Server-level crash tests: kill -9 a durable Cairn under concurrent writes.

The server runs with CAIRN_TEST_VOLATILE_WRITES=1 (log bytes stay in process
memory until their fdatasync, so a kill loses every unsynced byte, as a power
cut would) and a small fsync delay that widens the window. Client threads write
(SET, SET EX, SET GET, MSET, APPEND, INCR/INCRBY, INCRBYFLOAT, DEL, GETDEL,
EXPIRE, PERSIST, RENAME, COPY, MULTI/EXEC blocks, INCR of a shared counter) in pipelines of 1..3 operations and check
every reply against a model. After each kill the server restarts on the same
directory and the dataset must hold every acknowledged write, with in-flight
operations only as a prefix per connection and MULTI/EXEC only all-or-nothing
(see crashlib). Between crashes, with the clients stopped, the live dataset must
equal what a second Cairn replays from a copy of the log.

CAIRN_CRASH_SEED and CAIRN_CRASH_ROUNDS reproduce or lengthen a run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from crashlib import Conn, Workload, dump, replay_dump, start_server

from cairn.durability.local import LocalLog

VOLATILE = {"CAIRN_TEST_VOLATILE_WRITES": "1", "CAIRN_TEST_FSYNC_DELAY": "0.003"}
SMALL_SEGMENTS = ["--log-segment-size", "32768"]  # rollovers happen during the run


def _seed() -> int:
    return int(os.environ.get("CAIRN_CRASH_SEED") or time.time_ns() % 1_000_000)


def test_kill_9_under_concurrent_writes_loses_no_acknowledged_write(tmp_path: Path) -> None:
    seed = _seed()
    rounds = int(os.environ.get("CAIRN_CRASH_ROUNDS", "28"))
    rng = random.Random(seed)
    workdir = str(tmp_path)
    workload = Workload.create(6, seed)
    started = time.monotonic()
    kills = 0
    kills_in_recovery = 0
    replays = 0
    server = None
    context = f"(seed {seed}; rerun with CAIRN_CRASH_SEED={seed})"
    try:
        for round_ in range(rounds + 1):
            if round_ % 4 == 3:
                # kill -9 during recovery (replaying, maybe cutting a torn tail)
                server = start_server(workdir, SMALL_SEGMENTS, VOLATILE, wait=False)
                time.sleep(rng.uniform(0.0, 0.5))
                server.sigkill()
                kills_in_recovery += 1
            server = start_server(workdir, SMALL_SEGMENTS, VOLATILE)
            problems = workload.verify(dump(server.port))
            assert not problems, f"after kill {kills} {context}:\n" + "\n".join(problems)
            if round_ == rounds:
                break
            # Writes, then stop the clients: every reply is in. The live dataset
            # equals the model, and a replay of the log equals the live dataset.
            stop = workload.run(server.port)
            time.sleep(rng.uniform(0.05, 0.4))
            stop.set()
            workload.join()
            live = dump(server.port)
            problems = workload.verify(live)
            assert not problems, f"live dataset, round {round_} {context}:\n" + "\n".join(problems)
            replayed = replay_dump(workdir)
            replays += 1
            assert replayed == live, f"a replay of the log differs from the live dataset {context}"
            # Writes again, and kill -9 at a random moment while they are in flight.
            stop = workload.run(server.port)
            time.sleep(rng.uniform(0.02, 1.0))
            server.sigkill()
            kills += 1
            workload.join()
            server = None
    finally:
        if server is not None:
            server.kill()
    elapsed = time.monotonic() - started
    segments = len([n for n in os.listdir(tmp_path / "data" / "log") if n.endswith(".log")])
    print(
        f"\ncrash test {context}: {kills} kills under load + {kills_in_recovery} during recovery, {workload.acked_writes} acknowledged writes "
        f"({sum(w.acked_ops for w in workload.workers)} acknowledged operations), "
        f"{replays} replays compared, {segments} segments, {elapsed:.1f} s; operations in "
        f"flight at a kill: {workload.inflight_seen}, of which durable: {workload.inflight_durable}"
    )
    assert kills >= min(rounds, 20)
    assert workload.acked_writes > 1000 * min(rounds, 20) // 20


# -- the checker catches a server that acknowledges before the fsync -------------
_UNHELD_SERVER = textwrap.dedent(
    """
    import sys
    import cairn.net.connection as connection
    from cairn.commands.dispatch import execute
    from cairn.cli.server import main

    def execute_without_barrier(server, client, argv):
        reply, _lsn = execute(server, client, argv)
        return reply, 0  # BROKEN ON PURPOSE: the reply leaves before its fsync

    connection.execute = execute_without_barrier
    sys.exit(main(sys.argv[1:]))
    """
)


def test_the_crash_check_catches_replies_sent_before_fsync(tmp_path: Path) -> None:
    """Negative control: the same workload against a server patched to send every
    reply at once. With the volatile hook the kill loses acknowledged writes, and
    verify() must say so; were the hook or the checker blind, this would fail."""
    workdir = str(tmp_path)
    env = {"CAIRN_TEST_VOLATILE_WRITES": "1", "CAIRN_TEST_FSYNC_DELAY": "0.05"}
    workload = Workload.create(4, _seed(), max_depth=1)
    server = start_server(workdir, [], env, script=_UNHELD_SERVER)
    try:
        workload.run(server.port)
        time.sleep(0.5)
        server.sigkill()
        workload.join()
        acked = workload.acked_writes
        server = start_server(workdir, [], env)
        problems = workload.verify(dump(server.port))
    finally:
        server.kill()
    assert acked > 50, "the broken server should acknowledge writes quickly"
    assert problems, "acknowledged-but-unsynced writes were lost and nobody noticed"
    print("\nthe checker reported:\n" + "\n".join(problems)[:1500])
    assert any("acknowledged" in p for p in problems)


# -- the hook itself: un-fsynced bytes vanish on kill -9 ---------------------------
_LOG_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from cairn.durability.local import LocalLog
    from cairn.durability.volatile import VolatileWrites

    volatile = sys.argv[2] == "volatile"
    hooks = VolatileWrites() if volatile else None

    def slow_fsync(fd):
        time.sleep(60)  # the second batch never gets its fsync before the kill
        os.fdatasync(fd)

    if volatile:
        log = LocalLog(sys.argv[1], fsync=hooks.fsync, write=hooks.write)
    else:
        log = LocalLog(sys.argv[1])
    log.open()
    log.append([(0, [b"SET", b"synced", b"1"])])
    assert log.flush(10)
    if volatile:
        hooks.fsync_delay = 60
    else:
        log.fsync = slow_fsync
    log.append([(0, [b"SET", b"unsynced", b"2"])])
    time.sleep(0.3)  # the writer thread has written the batch and is in fsync
    assert log.committed == 1
    print("ready", flush=True)
    time.sleep(60)
    """
)


@pytest.mark.parametrize("volatile", [True, False], ids=["volatile-hook", "page-cache"])
def test_volatile_hook_drops_unsynced_log_bytes_on_kill_9(tmp_path: Path, volatile: bool) -> None:
    """With VolatileWrites, a record written but not fsynced is gone after kill -9;
    without it the page cache keeps it (which would hide an early reply)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _LOG_CHILD, str(tmp_path), "volatile" if volatile else "plain"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    log = LocalLog(str(tmp_path))
    try:
        records = list(log.open())
    finally:
        log.close()
    keys = [effects[0][1][1] for _lsn, effects in records]
    if volatile:
        assert keys == [b"synced"]
    else:
        assert keys == [b"synced", b"unsynced"]


# -- the model itself agrees with Redis ------------------------------------------
def test_workload_model_agrees_with_redis(redis_server) -> None:  # type: ignore[no-untyped-def]
    """The replies and states the crash checker predicts are those redis-server gives."""
    conn = Conn(redis_server.port)
    conn.call("FLUSHALL")
    conn.close()
    workload = Workload.create(4, _seed())
    stop = workload.run(redis_server.port)
    time.sleep(0.5)
    stop.set()
    workload.join()
    assert workload.acked_writes > 100
    assert workload.verify(dump(redis_server.port)) == []
