"""Multi-AZ snapshots: the primary snapshots into the shared store, trims the etcd
log and compacts etcd; nodes that start later, or fall behind the trim, load the
snapshot and continue from the log."""

from __future__ import annotations

import shutil
import tempfile
import time

import pytest

from cairn.durability.etcd.client import prefix_end
from cairn.durability.etcd.log import EtcdLog
from tests.multiaz.cluster import ETCD, Shard, client, new_etcd

pytestmark = pytest.mark.skipif(ETCD is None, reason="etcd-server is not installed")


def info(node, field):  # type: ignore[no-untyped-def]
    return client(node).info("replication").get(field)


def test_snapshot_trim_and_recovery_from_the_store() -> None:
    etcd = new_etcd()
    base = tempfile.mkdtemp(prefix="cairn-snap-")
    shard = Shard(etcd, base, extra_args=["--snapshot-log-size", "65536"])
    try:
        shard.add_node()
        shard.add_node()
        shard.wait_roles()
        primary = shard.primary()
        c = client(primary)
        pipe = c.pipeline(transaction=False)
        for i in range(3000):
            pipe.set(f"key:{i}", "x" * 100)
            pipe.incr("counter")
            if i % 200 == 199:
                pipe.execute()
        pipe.execute()
        deadline = time.monotonic() + 30
        while (info(primary, "cairn_log_trims") or 0) < 1:
            assert time.monotonic() < deadline, shard.logs()
            time.sleep(0.1)
        assert info(primary, "cairn_last_snapshot_error") in ("", None)
        assert info(primary, "cairn_etcd_compactions") >= 1
        # The log in etcd now starts after a snapshot.
        elog = EtcdLog(etcd.endpoints, shard.cluster_name, shard.shard)
        try:
            result = elog.call(elog.read_batches(1))
            assert result.trimmed > 0 and result.records == []
            keys = elog.call(elog.client.range(elog.log_prefix, prefix_end(elog.log_prefix),
                                               count_only=True))
            assert keys.count < 3000  # most batches went
        finally:
            elog.close()
        for i in range(3000, 3100):
            c.set(f"key:{i}", "y")
        # A node that joins now cannot replay the log from LSN 1: it loads the snapshot.
        late = shard.add_node()
        deadline = time.monotonic() + 30
        while True:
            try:
                if late.role() == "slave":
                    rc = client(late)
                    rc.execute_command("READONLY")
                    if rc.get("key:3099") == b"y":
                        break
            except Exception:
                pass
            assert time.monotonic() < deadline, shard.logs()
            time.sleep(0.1)
        assert rc.dbsize() == 3101
        assert rc.get("counter") == b"3000"
        with open(late.log_path) as f:
            assert "loaded the snapshot at LSN" in f.read()
        # Every node down, then back: nothing acknowledged is lost.
        for node in shard.nodes:
            shard.kill(node)
        for node in shard.nodes:
            shard.start(node)
        shard.wait_roles(timeout=60)
        p = client(shard.primary())
        assert p.dbsize() == 3101
        assert p.get("counter") == b"3000"
        assert p.get("key:1234") == b"x" * 100
    finally:
        shard.stop()
        etcd.destroy()
        shutil.rmtree(base, ignore_errors=True)
