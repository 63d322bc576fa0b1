"""The etcd log backend against a real 3-member etcd cluster on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from cairn.durability.etcd import proto as pb
from cairn.durability.etcd.client import EtcdClient, EtcdError, parse_endpoints, prefix_end
from cairn.durability.etcd.log import DEPOSED, EtcdLog, decode_batch, log_key
from cairn.replication.etcdcluster import EtcdCluster
from tests.multiaz.cluster import ETCD, new_etcd

pytestmark = pytest.mark.skipif(ETCD is None, reason="etcd-server is not installed")


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdCluster]:
    cluster = new_etcd()
    yield cluster
    cluster.destroy()


_counter = iter(range(1_000_000))


@pytest.fixture
def elog(etcd: EtcdCluster) -> Iterator[EtcdLog]:
    log = EtcdLog(etcd.endpoints, "t", f"shard{next(_counter)}")
    yield log
    log.close()


def lead(log: EtcdLog, node: bytes = b"n1") -> int:
    """Take the leader key like a campaign does; returns the epoch."""

    async def campaign() -> int:
        lease, _ttl = await log.client.lease_grant(60)
        resp = await log.client.txn(
            [pb.Compare(result=pb.EQUAL, target=pb.CREATE, key=log.leader_key, create_revision=0)],
            [pb.RequestOp(request_put=pb.PutRequest(key=log.leader_key, value=node, lease=lease))],
        )
        assert resp.succeeded
        return int(resp.header.revision)

    epoch = log.call(campaign())
    log.start_leading(epoch, log.committed)
    return epoch


def wait_committed(log: EtcdLog, lsn: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while log.committed < lsn:
        assert log.failure is None, log.failure
        assert time.monotonic() < deadline, "not committed in time"
        time.sleep(0.002)


def test_parse_endpoints() -> None:
    assert parse_endpoints("http://127.0.0.1:1, 127.0.0.1:2/") == ["127.0.0.1:1", "127.0.0.1:2"]
    with pytest.raises(ValueError):
        parse_endpoints(" , ")
    assert prefix_end(b"/a/") == b"/a0"
    assert prefix_end(b"a\xff") == b"b"


def test_append_commits_and_reads_back(elog: EtcdLog) -> None:
    with pytest.raises(Exception, match="not the primary"):
        elog.append([(0, [b"SET", b"k", b"v"])])
    epoch = lead(elog)
    lsns = [elog.append([(0, [b"SET", b"k%d" % i, b"v"])]) for i in range(200)]
    assert lsns == list(range(1, 201))
    wait_committed(elog, 200)
    records = list(elog.read(1))
    assert [lsn for lsn, _ in records] == lsns
    assert records[57][1] == [(0, [b"SET", b"k57", b"v"])]
    # Stored as group-commit batches keyed by first LSN, every record stamped with the epoch.
    resp = elog.call(elog.client.range(elog.log_prefix, prefix_end(elog.log_prefix)))
    assert 1 <= len(resp.kvs) <= 200
    assert resp.kvs[0].key == log_key(elog.prefix, 1)
    for kv in resp.kvs:
        for _lsn, rec_epoch, _effects in decode_batch(kv.value):
            assert rec_epoch == epoch
    # From the middle of a batch.
    assert [lsn for lsn, _ in elog.read(150)] == list(range(150, 201))


def test_large_records_are_split_into_batches(etcd: EtcdCluster) -> None:
    log = EtcdLog(etcd.endpoints, "t", f"big{next(_counter)}", max_batch_bytes=64 * 1024)
    try:
        lead(log)
        big = b"x" * 40_000
        for i in range(20):
            log.append([(0, [b"SET", b"k%d" % i, big])])
        wait_committed(log, 20)
        resp = log.call(log.client.range(log.log_prefix, prefix_end(log.log_prefix)))
        assert all(len(kv.value) <= 64 * 1024 + 40_100 for kv in resp.kvs)
        assert len(resp.kvs) >= 10
        assert [lsn for lsn, _ in log.read(1)] == list(range(1, 21))
    finally:
        log.close()


def test_deposed_leader_is_fenced(etcd: EtcdCluster) -> None:
    shard = f"fence{next(_counter)}"
    old = EtcdLog(etcd.endpoints, "t", shard)
    new = EtcdLog(etcd.endpoints, "t", shard)
    try:
        lead(old, b"old")
        old.append([(0, [b"SET", b"a", b"1"])])
        wait_committed(old, 1)
        # The old leader's key goes (its lease lapsed); another node takes over.
        old.call(old.client.delete_range(old.leader_key))
        list(new.open())
        assert new.committed == 1
        lead(new, b"new")
        new.append([(0, [b"SET", b"b", b"2"])])
        wait_committed(new, 2)
        # The old leader still believes it leads: its next append must be refused.
        lsn = old.append([(0, [b"SET", b"a", b"lost"])])
        deadline = time.monotonic() + 10
        while old.failure is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert old.failure == DEPOSED and old.deposed
        assert old.committed < lsn
        assert [(lsn, eff) for lsn, eff in new.read(1)] == [
            (1, [(0, [b"SET", b"a", b"1"])]),
            (2, [(0, [b"SET", b"b", b"2"])]),
        ]
    finally:
        old.close()
        new.close()


def test_key_collision_without_leadership_change_is_fenced(etcd: EtcdCluster) -> None:
    """Someone else's batch at our next LSN (a split brain that should not exist) is
    never mistaken for ours."""
    log = EtcdLog(etcd.endpoints, "t", f"coll{next(_counter)}")
    try:
        lead(log)
        log.call(log.client.put(log_key(log.prefix, 1), b"not ours"))
        log.append([(0, [b"SET", b"a", b"1"])])
        deadline = time.monotonic() + 10
        while log.failure is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert log.failure == DEPOSED
        assert log.committed == 0
    finally:
        log.close()


def test_retried_txn_that_was_applied_counts_as_committed(elog: EtcdLog) -> None:
    """An unanswered Txn that etcd applied: the retry's compare fails, and the
    re-read finds our own bytes, so the batch is committed exactly once."""
    lead(elog)
    real_txn = elog.client.txn
    calls = {"n": 0}

    async def lossy_txn(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        resp = await real_txn(*args, **kwargs)
        if calls["n"] == 1:  # applied, but the answer is "lost"
            raise EtcdError("etcd: deadline exceeded", grpc.StatusCode.DEADLINE_EXCEEDED)
        return resp

    elog.client.txn = lossy_txn  # type: ignore[method-assign]
    elog.append([(0, [b"INCR", b"c"])])
    wait_committed(elog, 1)
    assert elog.stat_retries == 1
    assert [lsn for lsn, _ in elog.read(1)] == [1]
    elog.append([(0, [b"INCR", b"c"])])
    wait_committed(elog, 2)
    assert [lsn for lsn, _ in elog.read(1)] == [1, 2]


def test_unknown_outcome_not_applied_is_resent(elog: EtcdLog) -> None:
    lead(elog)
    real_txn = elog.client.txn
    calls = {"n": 0}

    async def dropping_txn(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= 2:  # never reached etcd
            raise EtcdError("etcd: unavailable", grpc.StatusCode.UNAVAILABLE)
        return await real_txn(*args, **kwargs)

    elog.client.txn = dropping_txn  # type: ignore[method-assign]
    elog.append([(0, [b"SET", b"k", b"v"])])
    wait_committed(elog, 1)
    assert calls["n"] == 3
    assert [lsn for lsn, _ in elog.read(1)] == [1]


def test_trim_keeps_the_batch_holding_the_next_record(elog: EtcdLog) -> None:
    lead(elog)
    for i in range(30):
        elog.append([(0, [b"SET", b"k", b"%d" % i])])
        wait_committed(elog, i + 1)  # one batch per record
    assert elog.trim(10) == 10
    assert [lsn for lsn, _ in elog.read(11)] == list(range(11, 31))
    resp = elog.call(elog.client.range(elog.log_prefix, prefix_end(elog.log_prefix), keys_only=True))
    assert resp.kvs[0].key == log_key(elog.prefix, 11)


def test_writes_continue_when_one_member_dies() -> None:
    cluster = new_etcd()
    log = EtcdLog(cluster.endpoints, "t", "one-down", timeout=1.0)
    try:
        lead(log)
        log.append([(0, [b"SET", b"a", b"1"])])
        wait_committed(log, 1)
        # Kill the member the client is using.
        victim = next(m for m in cluster.members if m.endpoint == log.client.endpoint)
        cluster.kill(victim)
        for i in range(20):
            log.append([(0, [b"SET", b"b", b"%d" % i])])
        wait_committed(log, 21, timeout=20)
        assert [lsn for lsn, _ in log.read(1)] == list(range(1, 22))
        assert log.client.endpoint != victim.endpoint
    finally:
        log.close()
        cluster.destroy()


def test_watch_resumes_across_member_failure() -> None:
    cluster = new_etcd()

    async def scenario() -> list[bytes]:
        client = EtcdClient(cluster.endpoints, timeout=1.0)
        start = (await client.range(b"/w/")).header.revision + 1
        seen: list[bytes] = []

        async def watcher() -> None:
            async for resp in client.watch(b"/w/", prefix_end(b"/w/"), start):
                seen.extend(ev.kv.key for ev in resp.events)
                if len(seen) >= 10:
                    return

        task = asyncio.create_task(watcher())
        writer = EtcdClient(cluster.endpoints, timeout=1.0)
        for i in range(5):
            await writer.put(b"/w/%d" % i, b"x")
        await asyncio.sleep(0.2)
        victim = next(m for m in cluster.members if m.endpoint == client.endpoint)
        cluster.kill(victim)
        for i in range(5, 10):
            await writer.put(b"/w/%d" % i, b"x")
        await asyncio.wait_for(task, 20)
        await client.close()
        await writer.close()
        return seen

    try:
        seen = asyncio.run(scenario())
        assert seen == [b"/w/%d" % i for i in range(10)]  # each once, in order
    finally:
        cluster.destroy()


def test_out_of_order_completion_commits_only_a_contiguous_prefix(elog: EtcdLog) -> None:
    """With several Txns in flight, a later batch stored first is not acknowledged
    until every batch before it is stored."""
    lead(elog)
    real_txn = elog.client.txn
    release = asyncio.Event()
    held: dict[str, int] = {"n": 0}

    async def slow_first(*args: Any, **kwargs: Any) -> Any:
        held["n"] += 1
        if held["n"] == 1:
            await release.wait()  # the first batch is slow
        return await real_txn(*args, **kwargs)

    elog.client.txn = slow_first  # type: ignore[method-assign]
    first = elog.append([(0, [b"SET", b"a", b"1"])])
    time.sleep(0.05)
    for i in range(5):
        elog.append([(0, [b"SET", b"b", b"%d" % i])])
        time.sleep(0.02)
    # The later batches are stored in etcd, but nothing is committed: LSN 1 is missing.
    deadline = time.monotonic() + 10
    while elog.stat_batches < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert elog.stat_batches >= 1
    assert elog.committed == 0
    result = elog.call(elog.read_batches(1))
    assert result.records == []  # the hole at LSN 1 stops readers
    assert min(result.beyond) > first
    elog.loop.call_soon_threadsafe(release.set)
    wait_committed(elog, 6)
    assert [lsn for lsn, _ in elog.read(1)] == list(range(1, 7))


def test_new_leader_truncates_batches_after_a_hole(etcd: EtcdCluster) -> None:
    shard = f"hole{next(_counter)}"
    log = EtcdLog(etcd.endpoints, "t", shard)
    try:
        from cairn.durability.record import encode_effects, frame_batch

        def batch(first: int, n: int, epoch: int) -> bytes:
            return frame_batch([(first + i, encode_effects([(0, [b"SET", b"k", b"%d" % (first + i)])]))
                                for i in range(n)], epoch)

        # What a dead leader left: batches 1-2 and 3, a hole at 4-5, then an orphan at 6.
        for first, n in ((1, 2), (3, 1), (6, 2)):
            log.call(log.client.put(log_key(log.prefix, first), batch(first, n, 7)))
        result = log.call(log.read_batches(1))
        assert [r[0] for r in result.records] == [1, 2, 3]
        assert list(result.beyond) == [6]
        assert [r[0] for r in log.call(log.read_batches(2)).records] == [2, 3]
        epoch = lead(log, b"new")
        # Only the current leader may truncate.
        with pytest.raises(EtcdError):
            log.call(log.truncate_after(3, epoch - 1))
        assert log.call(log.truncate_after(3, epoch)) == 1
        result = log.call(log.read_batches(1))
        assert [r[0] for r in result.records] == [1, 2, 3] and result.beyond == {}
    finally:
        log.close()
