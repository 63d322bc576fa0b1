"""A full disk under a running server: MISCONF, reads keep working, resume, no loss.

Cairn runs with its data dir on a 2 MiB tmpfs (needs root; skipped otherwise).
A filler file takes nearly all the space, then writes go on until the log
cannot write: from then on writes (and PING, as in Redis) get a MISCONF error,
reads of durable keys work, a read of the key whose write was in the failed
batch waits. Once the filler is deleted, the server resumes by itself (it
retries about once a second), the held reply is released, and after a kill -9
and a restart every acknowledged write is there.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crashlib import Conn, Server, dump, start_server


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs to fill up needs root")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or result.returncode})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path: Path, leave: int) -> None:
    """Write ``path`` until the filesystem is full, then give back ``leave`` bytes."""
    chunk = b"\0" * 65536
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
        size = os.fstat(fd).st_size
        os.ftruncate(fd, max(0, size - leave))
    finally:
        os.close(fd)


def is_error(reply: Any, prefix: str) -> bool:
    return isinstance(reply, Exception) and str(reply).startswith(prefix)


def test_full_disk_misconf_then_resume_without_loss(tmp_path: Path, tiny_fs: Path) -> None:
    data_dir = str(tiny_fs / "data")
    server: Server | None = start_server(
        str(tmp_path), ["--log-segment-size", "65536"], data_dir=data_dir
    )
    assert server is not None
    acked: dict[bytes, bytes] = {}
    counter = 0
    value = b"v" * 1000
    conn = Conn(server.port, timeout=5)
    try:
        for i in range(40):
            key = b"before:%d" % i
            assert conn.call("SET", key, value + key) == b"OK"
            acked[key] = value + key
        counter = conn.call("INCRBY", "counter", 40)
        filler = tiny_fs / "filler"
        fill(filler, leave=40 << 10)

        # Write until a write's reply does not come: its batch failed.
        held_key = None
        conn.sock.settimeout(2)
        for i in range(10_000):
            key = b"during:%d" % i
            try:
                reply = conn.call("SET", key, value + key)
            except TimeoutError:
                held_key = key
                break
            if is_error(reply, "MISCONF"):
                break  # the failure came between two writes
            assert reply == b"OK", reply
            acked[key] = value + key
        else:
            pytest.fail("the 2 MiB filesystem never filled up")
        written_before_failure = len(acked) - 40

        other = Conn(server.port, timeout=10)
        # writes are refused with MISCONF, and not executed
        refused = [
            ("SET", "refused:1", "x"),
            ("INCR", "counter"),
            ("DEL", "before:0"),
            ("APPEND", "before:1", "more"),
            ("EXPIRE", "before:2", 100),
            ("PING",),
        ]
        for command in refused:
            reply = other.call(*command)
            assert is_error(reply, "MISCONF"), (command, reply)
            assert "No space left on device" in str(reply), reply
        # a transaction with a write: the write is refused at queue time, EXEC aborts
        other.send([("MULTI",), ("SET", "refused:2", "x"), ("EXEC",)])
        multi = [other.read() for _ in range(3)]
        assert multi[0] == b"OK" and is_error(multi[1], "MISCONF"), multi
        assert is_error(multi[2], "EXECABORT"), multi
        # reads of durable keys keep working, at once
        started = time.monotonic()
        assert other.call("GET", "before:3") == acked[b"before:3"]
        assert other.call("MGET", "before:4", "nope") == [acked[b"before:4"], None]
        assert other.call("GET", "counter") == b"%d" % counter
        assert other.call("EXISTS", "refused:1", "refused:2") == 0
        other.send([("MULTI",), ("GET", "before:5"), ("EXEC",)])
        assert [other.read() for _ in range(3)] == [b"OK", b"QUEUED", [acked[b"before:5"]]]
        assert time.monotonic() - started < 1.0
        # a read of the key whose write is stuck in the failed batch waits for it
        waiter = None
        if held_key is not None:
            waiter = Conn(server.port, timeout=0.5)
            waiter.send([("GET", held_key)])
            with pytest.raises(TimeoutError):
                waiter.read()
            waiter.sock.settimeout(30)

        # Free the space: the server resumes by itself within a few seconds.
        failed_at = time.monotonic()
        filler.unlink()
        resumed = None
        while time.monotonic() - failed_at < 10:
            reply = other.call("SET", "after:probe", "1")
            if reply == b"OK":
                resumed = time.monotonic() - failed_at
                acked[b"after:probe"] = b"1"
                break
            assert is_error(reply, "MISCONF"), reply
            time.sleep(0.1)
        assert resumed is not None and resumed < 5, f"writes refused for {time.monotonic() - failed_at:.1f} s after space was freed"
        assert other.call("PING") == b"PONG"
        if held_key is not None:
            conn.sock.settimeout(30)
            assert conn.read() == b"OK"  # the held reply is released: now durable
            acked[held_key] = value + held_key
            assert waiter is not None
            assert waiter.read() == value + held_key
            waiter.close()
        for i in range(20):
            key = b"after:%d" % i
            assert other.call("SET", key, value + key) == b"OK"
            acked[key] = value + key
        counter = other.call("INCR", "counter")
        other.close()
        conn.close()

        # kill -9 and restart: every acknowledged write is there, nothing refused is.
        server.sigkill()
        server = start_server(str(tmp_path), ["--log-segment-size", "65536"], data_dir=data_dir)
        data = dump(server.port, dbs=(0,))
        expected = {(0, k): ("string", v, -1) for k, v in acked.items()}
        expected[(0, b"counter")] = ("string", b"%d" % counter, -1)
        assert data == expected
        print(
            f"\nfull disk: {written_before_failure} writes fitted after the filler, "
            f"{'one reply held' if held_key else 'no reply held'} while failed, "
            f"writes resumed {resumed:.1f} s after the filler was deleted, "
            f"{len(acked) + 2} acknowledged writes verified after kill -9"
        )
    finally:
        conn.close()
        if server is not None:
            server.kill()



def test_kill_and_restart_while_the_disk_is_still_full(tmp_path: Path, tiny_fs: Path) -> None:
    """kill -9 while the log is failed, restart on the still-full disk: the acknowledged
    writes are served (a torn tail left by the failed write is cut), new writes are
    refused, SIGTERM still stops the server; with space again everything is there."""
    data_dir = str(tiny_fs / "data")
    extra = ["--log-segment-size", "65536"]
    server = start_server(str(tmp_path), extra, data_dir=data_dir)
    acked: dict[bytes, bytes] = {}
    value = b"w" * 3000
    try:
        conn = Conn(server.port, timeout=2)
        for i in range(20):
            key = b"k:%d" % i
            assert conn.call("SET", key, value + key) == b"OK"
            acked[key] = value + key
        filler = tiny_fs / "filler"
        fill(filler, leave=0)
        # Several clients write at once into the full disk. What fits in the slack
        # of the last page is acknowledged; the rest is held (in the failed batch)
        # or refused with MISCONF.
        clients = [Conn(server.port, timeout=0.5) for _ in range(4)]
        for i, client in enumerate(clients):
            client.send([("SET", b"full:%d" % i, value), ("INCR", "full:counter")])
        maybe: dict[bytes, bytes] = {}  # sent, not acknowledged, not refused
        incr_replies: list[int] = []
        incr_maybe = 0
        failures = 0
        for i, client in enumerate(clients):
            replies: list[Any] = []
            with contextlib.suppress(TimeoutError):
                while len(replies) < 2:
                    replies.append(client.read())
            failures += len(replies) < 2 or is_error(replies[-1], "MISCONF")
            if not replies:
                maybe[b"full:%d" % i] = value
            elif replies[0] == b"OK":
                acked[b"full:%d" % i] = value
            else:
                assert is_error(replies[0], "MISCONF"), replies
            if len(replies) < 2:
                incr_maybe += 1
            elif isinstance(replies[1], int):
                incr_replies.append(replies[1])
            else:
                assert is_error(replies[1], "MISCONF"), replies
        assert failures, "the full disk did not stop any write"
        assert is_error(conn.call("SET", "x", "y"), "MISCONF")
        server.sigkill()
        for client in [*clients, conn]:
            client.close()

        server = start_server(str(tmp_path), extra, data_dir=data_dir)
        data = {k: v for (_db, k), (_t, v, _e) in dump(server.port, dbs=(0,)).items()}
        counter = int(data.pop(b"full:counter", 0))
        assert len(incr_replies) <= counter <= len(incr_replies) + incr_maybe
        assert counter >= max(incr_replies, default=0)
        for key, written in acked.items():
            assert data.get(key) == written, key
        for key, got in data.items():
            assert got == acked.get(key, maybe.get(key)), key
        acked = data  # unacknowledged writes that made it are part of the state now
        if counter:
            acked[b"full:counter"] = b"%d" % counter
        conn = Conn(server.port, timeout=1)
        assert conn.call("GET", "k:7") == acked[b"k:7"]
        # Cutting the torn tail may have given back a little space: write until it is gone.
        for i in range(1000):
            key = b"still-full:%d" % i
            try:
                reply = conn.call("SET", key, value)
            except TimeoutError:
                break  # held: its batch failed
            if is_error(reply, "MISCONF"):
                break
            assert reply == b"OK", reply
            acked[key] = value
        else:
            pytest.fail("writes kept succeeding on a full disk")
        conn.sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            conn.read()  # nothing else in flight on this connection (the held reply, if any)
        pinger = Conn(server.port)
        assert is_error(pinger.call("PING"), "MISCONF")
        pinger.close()
        conn.close()
        # a graceful stop with the log failed does not hang
        assert server.proc is not None
        server.proc.terminate()
        assert server.proc.wait(10) is not None

        filler.unlink()
        server = start_server(str(tmp_path), extra, data_dir=data_dir)
        conn = Conn(server.port, timeout=5)
        assert conn.call("SET", "after", "1") == b"OK"
        acked[b"after"] = b"1"
        conn.close()
        final = dump(server.port, dbs=(0,))
        assert {k: v for (_db, k), (_t, v, _e) in final.items()} == acked
    finally:
        server.kill()


def test_reads_of_expired_keys_keep_working_while_the_disk_is_full(
    tmp_path: Path, tiny_fs: Path
) -> None:
    server = start_server(str(tmp_path), [], data_dir=str(tiny_fs / "data"))
    try:
        conn = Conn(server.port, timeout=2)
        assert conn.call("SET", "short", "v", "PX", 300) == b"OK"
        assert conn.call("SET", "keep", "v") == b"OK"
        fill(tiny_fs / "filler", leave=0)
        writer = Conn(server.port, timeout=1)
        with contextlib.suppress(TimeoutError):
            writer.call("SET", "x", b"y" * 8192)  # fails the log (held, or MISCONF)
        pinger = Conn(server.port)
        assert is_error(pinger.call("PING"), "MISCONF")
        time.sleep(0.4)  # "short" has expired
        assert conn.call("GET", "keep") == b"v"
        started = time.monotonic()
        assert conn.call("GET", "short") is None  # Redis answers nil at once
        assert conn.call("EXISTS", "short") == 0
        assert time.monotonic() - started < 1
        for client in (conn, writer, pinger):
            client.close()
    finally:
        server.kill()
