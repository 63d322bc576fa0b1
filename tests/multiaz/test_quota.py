"""etcd's space quota: when it fills, writes are refused with a clear error (reads
go on, nothing acknowledged is lost), and the primary frees the space (snapshot,
trim, compaction, defragmentation, NOSPACE alarm disarmed) so writes resume."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time

import pytest
import redis

from cairn.replication.etcdcluster import EtcdCluster
from tests.multiaz.cluster import ETCD, Shard, client

pytestmark = pytest.mark.skipif(ETCD is None, reason="etcd-server is not installed")


def test_quota_full_refuses_writes_clearly_then_recovers() -> None:
    base = tempfile.mkdtemp(prefix="cairn-quota-")
    etcd = EtcdCluster(base + "/etcd", quota_bytes=12 * 1024 * 1024)
    etcd.start()
    shard = Shard(etcd, base, extra_args=["--snapshot-log-size", "0"])  # no snapshots yet
    try:
        shard.add_node()
        shard.wait_roles()
        primary = shard.primary()
        value = b"v" * 20_000
        acked: list[int] = []
        stop = threading.Event()

        def writer() -> None:
            c = client(primary, timeout=120)
            i = 0
            while not stop.is_set():
                try:
                    c.set(f"k{i}", value)
                except redis.ResponseError:
                    time.sleep(0.05)  # refused (MISCONF): never applied
                    continue
                acked.append(i)
                i += 1

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        probe = client(primary, timeout=10)
        deadline = time.monotonic() + 120
        error = None
        while error is None:
            assert time.monotonic() < deadline, "etcd's quota never filled"
            try:
                probe.set("probe", "x")
            except redis.ResponseError as exc:
                error = str(exc)
            time.sleep(0.1)
        assert "etcd is out of space" in error, error
        assert error.startswith("MISCONF") or "MISCONF" in repr(error)
        assert probe.get("k0") == value  # reads go on
        # INFO answers at once (it does not wait for the refused records) and says why.
        assert "etcd is out of space" in str(client(primary, timeout=5).info("persistence"))
        # Let the primary free space: snapshots on, it snapshots, trims, compacts,
        # defragments, disarms the alarm, and writes resume by themselves.
        probe.config_set("snapshot-log-size", "1mb")
        deadline = time.monotonic() + 120
        while True:
            try:
                probe.set("probe", "y")
                break
            except redis.ResponseError:
                assert time.monotonic() < deadline, shard.logs()
                time.sleep(0.2)
        count = len(acked)
        deadline = time.monotonic() + 60
        while len(acked) < count + 20:
            assert time.monotonic() < deadline, "writes did not resume"
            time.sleep(0.1)
        stop.set()
        t.join(30)
        info = probe.info("replication")
        assert info["cairn_snapshots_taken"] >= 1 and info["cairn_etcd_compactions"] >= 1
        missing = [i for i in acked if probe.get(f"k{i}") != value]
        assert not missing, f"acknowledged writes lost: {missing[:10]}"
        # And after a restart from the snapshot + log, too.
        shard.kill(primary)
        shard.start(primary)
        shard.wait_roles(timeout=60)
        again = client(shard.primary(), timeout=10)
        missing = [i for i in acked if again.get(f"k{i}") != value]
        assert not missing, f"acknowledged writes lost after restart: {missing[:10]}"
    finally:
        shard.stop()
        etcd.destroy()
        shutil.rmtree(base, ignore_errors=True)
