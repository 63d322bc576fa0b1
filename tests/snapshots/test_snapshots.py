"""Snapshots: file format, builder process, trimming, retention, recovery, commands.

In-process tests run a ``Server`` over a real ``LocalLog`` in a temporary data
directory (recovered with ``cairn.snapshots.manager.recover``, commands through
``dispatch.execute`` so every write reaches the log). Process tests start
``python -m cairn``, whose start-up recovers through ``recover`` and whose cron
runs the automatic-snapshot check.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import RawClient, ServerProcess, free_port  # tests/ is on sys.path (conftest)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cairn.commands  # noqa: F401
from cairn.commands.context import Client, Server
from cairn.commands.dispatch import execute
from cairn.config import Config
from cairn.durability.local import LocalLog, list_segments
from cairn.protocol import OK
from cairn.snapshots import format as fmt
from cairn.snapshots.builder import build, choose_base
from cairn.snapshots.format import (
    SnapshotCorrupt,
    SnapshotError,
    list_snapshots,
    read_snapshot,
    register_codec,
    write_snapshot,
)
from cairn.snapshots.manager import SnapshotManager, recover

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

def start_wired(workdir: str, *extra: str, port: int | None = None,
                builder_delay: float = 0.0) -> ServerProcess:
    port = port or free_port()
    argv = [
        sys.executable, "-m", "cairn",
        "--port", str(port), "--bind", "127.0.0.1",
        "--dir", os.path.join(workdir, "data"),
        *extra,
    ]
    proc = ServerProcess(argv, port, workdir)
    if not builder_delay:
        return proc.start()
    os.environ["CAIRN_TEST_SNAPSHOT_DELAY"] = str(builder_delay)  # inherited by its builders
    try:
        return proc.start()
    finally:
        del os.environ["CAIRN_TEST_SNAPSHOT_DELAY"]


# -- helpers -------------------------------------------------------------------------


def b(x: Any) -> bytes:
    return x if isinstance(x, bytes) else str(x).encode()


class Local:
    """An in-process server over a real local log, recovered from its data directory."""

    def __init__(self, data_dir: str, segment_size: int = 4096, **config: str) -> None:
        cfg = Config()
        cfg.set_text("dir", data_dir)
        for name, value in config.items():
            cfg.set_text(name.replace("_", "-"), value)
        self.data_dir = data_dir
        self.server = Server(cfg)
        self.log = LocalLog(os.path.join(data_dir, "log"), segment_size=segment_size)
        self.records, self.snapshot_lsn = recover(self.server, data_dir, self.log)
        self.server.log = self.log
        self.client = Client(self.server)
        self.manager: SnapshotManager = self.server.snapshots  # type: ignore[attr-defined]

    def run(self, *args: Any) -> Any:
        reply, _lsn = execute(self.server, self.client, [b(a) for a in args])
        return reply

    def flush(self) -> None:
        assert self.log.flush(10)

    def state(self) -> list[tuple[dict[bytes, bytes], dict[bytes, int]]]:
        return [
            ({k: bytes(v) for k, v in db.data.items()}, dict(db.expires))
            for db in self.server.keyspace.dbs
        ]

    def close(self) -> None:
        self.log.close()


@pytest.fixture
def opened() -> Iterator[list[Local]]:
    items: list[Local] = []
    yield items
    for item in items:
        item.close()


def local(opened: list[Local], data_dir: Path | str, **kw: Any) -> Local:
    item = Local(str(data_dir), **kw)
    opened.append(item)
    return item


def write_some(node: Local, n: int, seed: int = 0, prefix: str = "k") -> None:
    """A mix of writes: strings, overwrites, appends (bytearray), expiries, deletes, dbs."""
    rnd = random.Random(seed)
    for i in range(n):
        key = f"{prefix}{rnd.randrange(n // 2 + 1)}"
        op = rnd.random()
        db = rnd.randrange(3)
        node.run("SELECT", db)
        if op < 0.5:
            node.run("SET", key, "v" * rnd.randrange(40) + str(i))
        elif op < 0.65:
            node.run("APPEND", key, "+a")
        elif op < 0.8:
            node.run("SET", key, str(i), "PX", rnd.randrange(100_000, 10_000_000))
        elif op < 0.9:
            node.run("INCR", f"counter{rnd.randrange(5)}")
        else:
            node.run("DEL", key)
    node.run("SELECT", 0)


def snapshot_state(path: str, databases: int = 16) -> list[tuple[dict[bytes, bytes], dict[bytes, int]]]:
    snap = read_snapshot(path)
    return [
        ({k: bytes(v) for k, v in snap.dbs.get(i, ({}, {}))[0].items()},
         dict(snap.dbs.get(i, ({}, {}))[1]))
        for i in range(databases)
    ]


# -- the file format ------------------------------------------------------------------

keys_st = st.binary(min_size=0, max_size=20)
values_st = st.one_of(st.binary(max_size=60), st.binary(max_size=60).map(bytearray),
                      st.binary(min_size=1000, max_size=5000))
db_st = st.dictionaries(keys_st, values_st, max_size=40)


@st.composite
def keyspaces(draw: st.DrawFn) -> list[tuple[dict[bytes, Any], dict[bytes, int]]]:
    dbs = []
    for _ in range(draw(st.integers(1, 4))):
        data = draw(db_st)
        expiring = draw(st.lists(st.sampled_from(sorted(data)), unique=True)) if data else []
        expires = {k: draw(st.integers(0, 2**62)) for k in expiring}
        dbs.append((data, expires))
    return dbs


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dbs=keyspaces(), lsn=st.integers(0, 2**63), block=st.sampled_from([1, 3, 8192]))
def test_round_trip(tmp_path: Path, dbs: list[tuple[dict[bytes, Any], dict[bytes, int]]], lsn: int,
                    block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fmt, "BLOCK_KEYS", block)  # many small blocks, too
    path = str(tmp_path / "s.snap")
    written = write_snapshot(path, lsn, dbs, 1234, fsync=False)
    assert written.keys == sum(len(d) for d, _ in dbs)
    assert written.size == os.path.getsize(path)
    snap = read_snapshot(path)
    assert (snap.lsn, snap.created_ms, snap.databases, snap.keys) == (lsn, 1234, len(dbs), written.keys)
    for i, (data, expires) in enumerate(dbs):
        got_data, got_exp = snap.dbs.get(i, ({}, {}))
        assert got_data == {k: bytes(v) for k, v in data.items()}
        assert all(type(v) is bytes for v in got_data.values())
        assert got_exp == (expires if data else {})
    digest = fmt.keyspace_digest(dbs)
    assert digest == fmt.keyspace_digest(snap.dbs.get(i, ({}, {})) for i in range(len(dbs)))
    assert fmt.snapshot_digest(path) == (lsn, digest)  # the builder's check, from the file
    if any(data for data, _ in dbs):
        changed = [(dict(d), dict(e)) for d, e in dbs]
        data = next(d for d, _ in changed if d)
        key = next(iter(data))
        data[key] = bytes(data[key]) + b"!"
        assert fmt.keyspace_digest(changed) != digest


def test_load_into_keyspace_expires_and_counts(tmp_path: Path) -> None:
    data = {b"a": b"1", b"b": bytearray(b"2"), b"c": b"3"}
    expires = {b"b": 1, b"c": 2**60}  # b is long due: active expiry deletes it
    path = str(tmp_path / "s.snap")
    write_snapshot(path, 7, [({}, {}), (data, expires)], 0)
    server = Server()
    assert fmt.load_into(server.keyspace, read_snapshot(path)) == 3
    db = server.keyspace.dbs[1]
    assert db.data == {b"a": b"1", b"b": b"2", b"c": b"3"} and db.expires == expires
    assert server.keyspace.active_expire_cycle() == 1
    assert sorted(db.data) == [b"a", b"c"]
    with pytest.raises(SnapshotError, match="only 1 databases"):
        small = Config()
        small.set_text("databases", "1")
        fmt.load_into(Server(small).keyspace, read_snapshot(path))


def _good_snapshot(tmp_path: Path) -> tuple[str, bytes]:
    data = {b"key%d" % i: b"value%d" % i for i in range(300)}
    path = str(tmp_path / "s.snap")
    write_snapshot(path, 42, [(data, {b"key1": 99})], 0)
    return path, Path(path).read_bytes()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_checksum_catches_any_flipped_bit(tmp_path: Path, where: float, bit: int) -> None:
    path, good = _good_snapshot(tmp_path)
    damaged = bytearray(good)
    damaged[int(where * len(good))] ^= 1 << bit
    Path(path).write_bytes(bytes(damaged))
    with pytest.raises(SnapshotCorrupt):
        read_snapshot(path)


@pytest.mark.parametrize("cut", [0, 10, 36, 100, -29, -4, -1])
def test_truncated_snapshot_is_refused(tmp_path: Path, cut: int) -> None:
    path, good = _good_snapshot(tmp_path)
    Path(path).write_bytes(good[:cut] if cut else b"")
    with pytest.raises(SnapshotCorrupt):
        read_snapshot(path)


class Bag:
    """A stand-in for a future type in cairn/types/: only TYPE_NAME and its own data."""

    TYPE_NAME = "testbag"

    def __init__(self, items: list[bytes]) -> None:
        self.items = items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Bag) and other.items == self.items

    __hash__ = None  # type: ignore[assignment]


def test_type_codec_registry(tmp_path: Path) -> None:
    path = str(tmp_path / "s.snap")
    data: dict[bytes, Any] = {b"s": b"str", b"bag": Bag([b"x", b"", b"y" * 3000])}
    with pytest.raises(SnapshotError, match="no snapshot codec for type 'testbag'"):
        write_snapshot(path, 1, [(data, {})], 0)
    register_codec("testbag", lambda bag: fmt.pack_items(bag.items),
                   lambda raw: Bag(fmt.unpack_items(raw)))
    try:
        write_snapshot(path, 1, [(data, {b"bag": 5})], 0)
        snap = read_snapshot(path)
        assert snap.dbs[0] == (data, {b"bag": 5})
        assert fmt.keyspace_digest([(data, {b"bag": 5})]) == fmt.keyspace_digest([snap.dbs[0]])
        assert fmt.snapshot_digest(path) == (1, fmt.keyspace_digest([(data, {b"bag": 5})]))
    finally:
        del fmt.CODECS["testbag"]
    with pytest.raises(SnapshotCorrupt, match="unknown to this build"):
        read_snapshot(path)  # a type this build cannot decode: refuse, never drop keys
    with pytest.raises(ValueError):
        register_codec("string", bytes, bytes)


# -- builder, trimming, retention, recovery (in process) ---------------------------------


def test_builder_snapshot_equals_keyspace_at_its_lsn_while_writes_continue(
    tmp_path: Path, opened: list[Local]
) -> None:
    node = local(opened, tmp_path, segment_size=8192)
    write_some(node, 3000, seed=1)
    node.flush()
    upto = node.log.committed
    expected = node.state()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cairn.snapshots.builder", "--dir", str(tmp_path), "--upto", str(upto)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
    )
    writes = 0
    while proc.poll() is None:  # the log keeps growing (and rolling over) meanwhile
        write_some(node, 50, seed=writes, prefix="late")
        writes += 1
    out, err = proc.communicate()
    assert proc.returncode == 0, (out, err)
    assert writes > 0
    assert node.log.committed > upto
    path = str(tmp_path / "snapshots" / fmt.snapshot_name(upto))
    assert snapshot_state(path) == expected
    assert expected[0][0] and any(e for _, e in expected)  # the case is not trivial


def test_save_trims_log_and_restart_is_snapshot_plus_log(tmp_path: Path, opened: list[Local]) -> None:
    node = local(opened, tmp_path, snapshot_retention="1")
    write_some(node, 2000, seed=2)
    assert node.run("SAVE") == "OK"
    lsn = node.manager.snapshot_lsn
    assert lsn == node.log.committed > 0
    segments = list_segments(node.log.directory)
    assert segments[0][0] > 1  # whole segments covered by the snapshot are gone
    assert segments[0][0] <= lsn + 1  # but nothing after it
    write_some(node, 500, seed=3, prefix="after")
    node.flush()
    expected = node.state()
    node.close()
    opened.remove(node)
    again = local(opened, tmp_path)
    assert again.snapshot_lsn == lsn
    assert again.records == again.log.committed - lsn > 0
    assert again.state() == expected
    assert again.manager.loaded_keys == sum(len(d) for d, _ in snapshot_state(
        str(tmp_path / "snapshots" / fmt.snapshot_name(lsn))))


def test_retention_keeps_n_and_log_covers_the_oldest(tmp_path: Path, opened: list[Local]) -> None:
    node = local(opened, tmp_path, snapshot_retention="2")
    lsns = []
    for round_ in range(4):
        write_some(node, 600, seed=10 + round_)
        assert node.run("SAVE") == "OK"
        lsns.append(node.manager.snapshot_lsn)
    assert [lsn for lsn, _ in list_snapshots(str(tmp_path / "snapshots"))] == lsns[-2:]
    first = list_segments(node.log.directory)[0][0]
    assert 1 < first <= lsns[-2] + 1  # trimmed, yet the older kept snapshot can be continued
    node.run("CONFIG", "SET", "snapshot-retention", "1")
    write_some(node, 300, seed=20)
    assert node.run("SAVE") == "OK"
    assert len(list_snapshots(str(tmp_path / "snapshots"))) == 1


def _corrupt(path: str) -> None:
    data = bytearray(Path(path).read_bytes())
    data[len(data) // 2] ^= 0x40
    Path(path).write_bytes(bytes(data))


def test_corrupt_newest_snapshot_falls_back_to_the_previous(tmp_path: Path, opened: list[Local]) -> None:
    node = local(opened, tmp_path, snapshot_retention="2")
    write_some(node, 800, seed=4)
    node.run("SAVE")
    write_some(node, 800, seed=5)
    node.run("SAVE")
    write_some(node, 200, seed=6, prefix="tail")
    node.flush()
    expected = node.state()
    node.close()
    opened.remove(node)
    (older, _), (newest, newest_path) = list_snapshots(str(tmp_path / "snapshots"))
    _corrupt(newest_path)
    again = local(opened, tmp_path)
    assert again.snapshot_lsn == older
    assert again.state() == expected
    # It was moved aside: retention does not count it, the builder starts from the older one.
    assert not os.path.exists(newest_path) and os.path.exists(newest_path + ".corrupt")
    assert again.run("SAVE") == "OK"
    assert again.manager.last_result["base_lsn"] == older
    assert [s for s, _ in list_snapshots(str(tmp_path / "snapshots"))] == [older, again.log.committed]
    assert again.log.committed > newest


def test_corrupt_newest_without_log_cover_stops_with_a_clear_error(
    tmp_path: Path, opened: list[Local]
) -> None:
    node = local(opened, tmp_path, snapshot_retention="1")
    write_some(node, 1500, seed=7)
    node.run("SAVE")
    node.close()
    opened.remove(node)
    ((_lsn, path),) = list_snapshots(str(tmp_path / "snapshots"))
    _corrupt(path)
    with pytest.raises(SnapshotError, match=r"checksum mismatch.*no older snapshot is left"):
        Local(str(tmp_path))
    os.unlink(path)  # no snapshot at all, and the log no longer starts at LSN 1
    with pytest.raises(SnapshotError, match="records before it were trimmed"):
        Local(str(tmp_path))


def test_snapshot_alone_restores_and_log_continues_after_it(tmp_path: Path, opened: list[Local]) -> None:
    node = local(opened, tmp_path)
    write_some(node, 500, seed=8)
    node.run("SAVE")
    lsn = node.manager.snapshot_lsn
    expected = node.state()
    node.close()
    opened.remove(node)
    for _, path in list_segments(str(tmp_path / "log")):
        os.unlink(path)  # restore from the snapshot directory alone
    again = local(opened, tmp_path)
    assert again.state() == expected
    again.run("SET", "new", "1")
    again.flush()
    assert again.log.committed == lsn + 1  # LSNs never go back


def test_builder_refuses_a_damaged_log_and_publishes_nothing(tmp_path: Path, opened: list[Local]) -> None:
    node = local(opened, tmp_path, segment_size=1 << 20)
    write_some(node, 300, seed=9)
    node.flush()
    node.close()
    opened.remove(node)
    ((_, seg),) = list_segments(str(tmp_path / "log"))
    data = bytearray(Path(seg).read_bytes())
    data[len(data) // 2] ^= 1
    Path(seg).write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match=r"checksum mismatch|bad record|where LSN"):
        build(str(tmp_path), 300)
    assert list_snapshots(str(tmp_path / "snapshots")) == []
    assert fmt.temp_files(str(tmp_path / "snapshots")) == []


def test_choose_base_skips_snapshots_above_upto(tmp_path: Path, opened: list[Local]) -> None:
    node = local(opened, tmp_path, snapshot_retention="3")
    write_some(node, 200, seed=11)
    node.run("SAVE")
    first = node.manager.snapshot_lsn
    write_some(node, 200, seed=12)
    node.run("SAVE")
    base = choose_base(str(tmp_path / "snapshots"), node.log.directory, first + 5)
    assert base.lsn == first


def test_info_fields_and_dirty_after_save(tmp_path: Path, opened: list[Local]) -> None:
    node = local(opened, tmp_path)
    write_some(node, 100, seed=13)
    assert node.server.dirty > 0
    before = node.server.lastsave
    time.sleep(1.05)
    assert node.run("SAVE") == "OK"
    fields = dict(node.manager.info_fields())
    assert node.server.dirty == 0
    assert node.run("LASTSAVE") == node.server.lastsave > before
    assert fields["rdb_saves"] == 1 and fields["rdb_last_bgsave_status"] == "ok"
    assert fields["cairn_snapshot_lsn"] == node.log.committed
    assert fields["cairn_snapshot_memory"] > 1 << 20  # the builder's peak RSS
    assert fields["cairn_snapshot_log_bytes"] == 0
    node.run("SET", "x", "y")
    node.flush()
    assert dict(node.manager.info_fields())["cairn_snapshot_log_bytes"] > 0
    info = bytes(node.run("INFO", "persistence"))
    assert b"rdb_saves:1\r\n" in info and b"rdb_bgsave_in_progress:0\r\n" in info
    assert b"cairn_snapshot_lsn:%d\r\n" % node.manager.snapshot_lsn in info


# -- the real server (process tests) --------------------------------------------------------


def info_fields(client: RawClient) -> dict[str, str]:
    text = client.call("INFO", "persistence").decode()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def wait_idle(client: RawClient, timeout: float = 60.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fields = info_fields(client)
        if (fields["rdb_bgsave_in_progress"] == "0" and fields["aof_rewrite_in_progress"] == "0"
                and fields.get("aof_rewrite_scheduled", "0") == "0"):
            return fields
        time.sleep(0.05)
    raise TimeoutError("snapshot still running")


@pytest.fixture
def wired() -> Iterator[ServerProcess]:
    # Every snapshot takes at least 0.5 s, like the oracle below: "in progress" answers
    # do not depend on which of the two finishes first.
    proc = start_wired(tempfile.mkdtemp(prefix="cairn-snap-"), "--log-segment-size", "16kb",
                       builder_delay=0.5)
    yield proc
    proc.stop()


def test_command_replies_match_redis(redis_server: ServerProcess, wired: ServerProcess) -> None:
    real, ours = RawClient(redis_server.port), RawClient(wired.port)
    try:
        real.raw("FLUSHALL")
        real.raw("CONFIG", "SET", "rdb-key-save-delay", "500000")  # 0.5 s per key: one key
        for c in (real, ours):
            c.raw("SET", "k", "v")

        def both(*args: Any) -> bytes:
            want, got = real.raw(*args), ours.raw(*args)
            assert got == want, (args, got, want)
            return got

        assert both("SAVE") == b"+OK\r\n"
        both("SAVE", "x")
        both("BGSAVE", "foo")
        both("BGSAVE", "SCHEDULE", "x")
        lastsave = [c.call("LASTSAVE") for c in (real, ours)]
        assert all(abs(t - time.time()) < 5 for t in lastsave), lastsave  # just saved
        assert both("BGSAVE") == b"+Background saving started\r\n"
        # A snapshot is running on both (redis-server's child runs for a while too).
        assert both("BGSAVE") == b"-ERR Background save already in progress\r\n"
        both("BGSAVE", "SCHEDULE")
        both("SAVE")
        assert both("BGREWRITEAOF") == b"+Background append only file rewriting scheduled\r\n"
        wait_idle(ours)
        wait_idle(real)
        assert both("BGREWRITEAOF") == b"+Background append only file rewriting started\r\n"
        assert both("BGREWRITEAOF") == b"-ERR Background append only file rewriting already in progress\r\n"
        assert both("BGSAVE").startswith(b"-ERR Another child process is active (AOF?)")
        assert both("BGSAVE", "SCHEDULE") == b"+Background saving scheduled\r\n"
        wait_idle(ours)
        wait_idle(real)
        for cmd in ("BGSAVE", "BGREWRITEAOF"):
            both("MULTI")
            both(cmd)
            both("EXEC")  # inside EXEC both answer "... scheduled"
            wait_idle(ours)
            wait_idle(real)
        both("MULTI")
        both("SAVE")  # not allowed in a transaction
        both("EXEC")
        for c in (real, ours):
            assert c.call("LASTSAVE") >= int(time.time()) - 5
        fields = info_fields(ours)
        assert int(fields["rdb_saves"]) >= 5 and fields["rdb_last_bgsave_status"] == "ok"
        assert fields["aof_last_bgrewrite_status"] == "ok" and int(fields["aof_rewrites"]) >= 2
    finally:
        real.raw("CONFIG", "SET", "rdb-key-save-delay", "0")
        real.close()
        ours.close()


def test_bgsave_under_load_then_kill_and_restart(tmp_path: Path) -> None:
    """BGSAVE while clients write; after kill -9 the restart has every acknowledged write."""
    proc = start_wired(str(tmp_path), "--log-segment-size", "32kb", "--snapshot-retention", "1")
    acked: dict[bytes, bytes] = {}
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        c = RawClient(proc.port)
        i = 0
        try:
            while not stop.is_set():
                key, value = b"w%d:%d" % (n, i % 500), b"%d" % i
                assert c.raw("SET", key, value) == b"+OK\r\n"
                acked[key] = value
                i += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            c.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    admin = RawClient(proc.port)
    try:
        time.sleep(0.5)
        for _ in range(3):
            assert admin.raw("BGSAVE") == b"+Background saving started\r\n"
            fields = wait_idle(admin)
            assert fields["rdb_last_bgsave_status"] == "ok", fields
            time.sleep(0.3)
        snap_lsn = int(info_fields(admin)["cairn_snapshot_lsn"])
        assert snap_lsn > 0
        stop.set()
        for t in threads:
            t.join()
        assert not errors, errors
        assert list_segments(str(tmp_path / "data" / "log"))[0][0] > 1  # the log was trimmed
        proc.kill()
        proc = start_wired(str(tmp_path), "--log-segment-size", "32kb", port=proc.port)
        log_text = proc.log_text()
        assert f"DB loaded: snapshot at LSN {snap_lsn} " in log_text
        client = RawClient(proc.port)
        try:
            for key, value in acked.items():
                assert client.call("GET", key) == value
        finally:
            client.close()
    finally:
        admin.close()
        stop.set()
        proc.stop()


def test_automatic_snapshot_after_the_log_threshold(tmp_path: Path) -> None:
    proc = start_wired(str(tmp_path), "--log-segment-size", "8kb", "--snapshot-log-size", "64kb")
    client = RawClient(proc.port)
    try:
        assert info_fields(client)["cairn_snapshot_lsn"] == "0"
        value = b"x" * 100
        for i in range(200):  # about 30 KB of log: under the threshold
            client.raw("SET", b"a%d" % i, value)
        time.sleep(1.5)
        fields = info_fields(client)
        assert fields["cairn_snapshot_lsn"] == "0" and fields["rdb_saves"] == "0"
        for i in range(600):  # past 64 KB
            client.raw("SET", b"b%d" % i, value)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            fields = info_fields(client)
            if fields["rdb_saves"] != "0" and fields["rdb_bgsave_in_progress"] == "0":
                break
            time.sleep(0.1)
        assert fields["rdb_last_bgsave_status"] == "ok"
        lsn = int(fields["cairn_snapshot_lsn"])
        assert lsn > 200  # past the first writes: the threshold was crossed by the second batch
        assert int(fields["cairn_snapshot_log_bytes"]) < 64 * 1024
        assert [s for s, _ in list_snapshots(str(tmp_path / "data" / "snapshots"))][-1] == lsn
        assert list_segments(str(tmp_path / "data" / "log"))[0][0] > 1
    finally:
        client.close()
        proc.stop()


def test_durability_none_refuses_snapshot_commands(pair2: Any) -> None:
    # The session Cairn runs with durability none: no log, so no snapshots.
    for cmd in (("SAVE",), ("BGSAVE",), ("BGREWRITEAOF",)):
        reply = pair2.cairn.raw(*cmd)
        assert reply.startswith(b"-ERR snapshots need the transaction log"), reply


def _damage_first_segment(node: Local) -> None:
    """Flip a byte in the middle of the first (closed) segment of a running log."""
    (_, first), *_rest = list_segments(node.log.directory)
    assert _rest, "needs more than one segment"
    data = bytearray(Path(first).read_bytes())
    data[len(data) // 2] ^= 0x20
    Path(first).write_bytes(bytes(data))


def test_failed_save_reports_and_keeps_log(tmp_path: Path, opened: list[Local]) -> None:
    node = local(opened, tmp_path)
    for round_ in range(8):
        write_some(node, 100, seed=round_)
        node.flush()  # several batches, so several segments
    _damage_first_segment(node)
    segments = list_segments(node.log.directory)
    reply = node.run("SAVE")
    assert reply.message.startswith("ERR snapshot failed: ")  # type: ignore[union-attr]
    fields = dict(node.manager.info_fields())
    assert fields["rdb_last_bgsave_status"] == "err" and fields["rdb_saves"] == 0
    assert "checksum mismatch" in fields["cairn_snapshot_last_error"] or "where LSN" in fields[
        "cairn_snapshot_last_error"]
    assert list_snapshots(str(tmp_path / "snapshots")) == []
    assert list_segments(node.log.directory) == segments  # nothing trimmed
    assert node.server.dirty > 0


def test_bgsave_in_process_event_loop(tmp_path: Path, opened: list[Local]) -> None:
    import asyncio

    node = local(opened, tmp_path, segment_size=1 << 20)

    async def scenario() -> list[Any]:
        replies = []
        write_some(node, 500, seed=15)
        replies.append(node.run("BGSAVE"))
        replies.append(node.run("BGSAVE"))
        replies.append(node.run("BGREWRITEAOF"))  # scheduled after the running one
        fields = dict(node.manager.info_fields())
        replies.append((fields["rdb_bgsave_in_progress"], fields["aof_rewrite_scheduled"]))
        upto = node.manager.job.upto if node.manager.job else -1
        while node.manager.job is not None or node.manager.scheduled:
            write_some(node, 5, seed=len(replies), prefix="meanwhile")  # the loop keeps serving
            await asyncio.sleep(0.01)
        replies.append(upto)
        return replies

    started, again, aof, progress, upto = asyncio.run(scenario())
    assert str(started) == "Background saving started"
    assert again.message == "ERR Background save already in progress"
    assert str(aof) == "Background append only file rewriting scheduled"
    assert progress == (1, 1)
    fields = dict(node.manager.info_fields())
    assert fields["rdb_saves"] == 2 and fields["aof_rewrites"] == 1
    lsns = [lsn for lsn, _ in list_snapshots(str(tmp_path / "snapshots"))]
    assert lsns[0] == upto and len(lsns) == 2 and lsns[1] > upto


def test_bgsave_failure_in_process(tmp_path: Path, opened: list[Local]) -> None:
    import asyncio

    node = local(opened, tmp_path)
    for round_ in range(8):
        write_some(node, 100, seed=round_)
        node.flush()
    _damage_first_segment(node)

    async def scenario() -> Any:
        reply = node.run("BGSAVE")
        while node.manager.job is not None:
            await asyncio.sleep(0.01)
        return reply

    assert str(asyncio.run(scenario())) == "Background saving started"
    fields = dict(node.manager.info_fields())
    assert fields["rdb_last_bgsave_status"] == "err" and fields["rdb_bgsave_in_progress"] == 0
    assert list_snapshots(str(tmp_path / "snapshots")) == []
    assert fmt.temp_files(str(tmp_path / "snapshots")) == []


def test_function_libraries_live_in_snapshots(tmp_path: Path, opened: list[Local]) -> None:
    """FUNCTION LOAD is logged; once the log is trimmed behind a snapshot, the
    libraries must come back from the snapshot itself."""
    node = local(opened, tmp_path)
    code = "#!lua name=mylib\nredis.register_function('double', function(keys, args) return args[1] * 2 end)"
    assert node.run("FUNCTION", "LOAD", code) == b"mylib"
    write_some(node, 50, seed=9)
    node.run("SAVE")
    lsn = node.manager.snapshot_lsn
    snap = fmt.read_snapshot(str(tmp_path / "snapshots" / fmt.snapshot_name(lsn)))
    assert snap.functions  # the libraries are in the file
    listing = node.run("FUNCTION", "LIST", "WITHCODE")
    node.close()
    opened.remove(node)
    for _, path in list_segments(str(tmp_path / "log")):
        os.unlink(path)  # nothing to replay: the snapshot alone
    again = local(opened, tmp_path)
    assert again.run("FCALL", "double", "0", "21") == 42
    assert again.run("FUNCTION", "LIST", "WITHCODE") == listing
    # A snapshot without libraries carries no functions block.
    assert again.run("FUNCTION", "FLUSH") == OK
    again.run("SAVE")
    snap = fmt.read_snapshot(str(tmp_path / "snapshots" / fmt.snapshot_name(again.manager.snapshot_lsn)))
    assert snap.functions == b""
