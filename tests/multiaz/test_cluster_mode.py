"""A multi-AZ shard seen by cluster clients: topology commands, MOVED, READONLY, WAIT,
and redis-py's RedisCluster following a failover."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from redis.cluster import RedisCluster
from redis.exceptions import MovedError, RedisClusterException

from cairn.cluster.slots import key_slot
from cairn.commands.cluster import topology_id
from tests.multiaz.cluster import ETCD, Shard, client, running_shard

pytestmark = pytest.mark.skipif(ETCD is None, reason="etcd-server is not installed")


@pytest.fixture(scope="module")
def shard() -> Iterator[Shard]:
    with running_shard(3) as s:
        yield s


def wait_members(shard: Shard, n: int) -> None:
    """Until every node lists all ``n`` nodes (members publish themselves via etcd)."""
    deadline = time.monotonic() + 10
    for node in shard.nodes:
        while True:
            slots = client(node).execute_command("CLUSTER", "SLOTS")
            if slots and len(slots[0]) == 2 + n:
                break
            assert time.monotonic() < deadline, "members not published"
            time.sleep(0.05)


def test_topology_commands(shard: Shard) -> None:
    primary = shard.primary()
    replicas = [n for n in shard.nodes if n is not primary]
    wait_members(shard, 3)
    for node in shard.nodes:
        c = client(node)
        slots = c.execute_command("CLUSTER", "SLOTS")
        assert len(slots) == 1
        start, end, master, *reps = slots[0]
        assert (start, end) == (0, 16383)
        assert master[:2] == [b"127.0.0.1", primary.port]
        assert sorted(r[1] for r in reps) == sorted(r.port for r in replicas)
        ids = {master[2]} | {r[2] for r in reps}
        assert len(ids) == 3 and all(len(i) == 40 for i in ids)
        myid = c.execute_command("CLUSTER", "MYID")
        assert myid in ids
        info = c.execute_command("CLUSTER", "INFO").decode()
        assert "cluster_state:ok\r\n" in info and "cluster_slots_ok:16384\r\n" in info
        assert "cluster_known_nodes:3\r\n" in info and "cluster_size:1\r\n" in info
        lines = c.execute_command("CLUSTER", "NODES").decode().splitlines()
        assert len(lines) == 3
        mine = [ln for ln in lines if "myself" in ln]
        assert len(mine) == 1 and mine[0].startswith(myid.decode())
        masters = [ln for ln in lines if " master " in ln or ",master " in ln]
        assert len(masters) == 1 and masters[0].endswith(" connected 0-16383")
        shards = c.execute_command("CLUSTER", "SHARDS")
        assert len(shards) == 1
        assert c.execute_command("CLUSTER", "KEYSLOT", "{user1000}.following") == 3443
    assert topology_id("x" * 40) != "x" * 40  # not hex: derived
    assert topology_id("a" * 40) == "a" * 40


def test_replicas_redirect_and_serve_readonly(shard: Shard) -> None:
    primary = shard.primary()
    replica = next(n for n in shard.nodes if n is not primary)
    client(primary).set("foo", "bar")
    r = client(replica)
    # (redis-py turns "-MOVED <slot> <address>" into a MovedError of "<slot> <address>")
    with pytest.raises(MovedError, match=f"^{key_slot(b'foo')} 127.0.0.1:{primary.port}$"):
        r.get("foo")
    with pytest.raises(MovedError):
        r.set("foo", "x")
    assert r.execute_command("READONLY") is True  # (+OK, as redis-py reports it)
    deadline = time.monotonic() + 5
    while r.get("foo") != b"bar":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with pytest.raises(MovedError):
        r.set("foo", "x")  # writes still go to the primary
    # Keyless writes are refused like on a Redis replica.
    with pytest.raises(redis.ReadOnlyError):
        r.flushall()
    assert r.execute_command("READWRITE") is True
    with pytest.raises(MovedError):
        r.get("foo")


def test_wait_counts_replicas_that_applied_the_write(shard: Shard) -> None:
    primary = shard.primary()
    c = client(primary)
    c.set("w", 1)
    assert c.execute_command("WAIT", 2, 5000) == 2
    started = time.monotonic()
    assert c.execute_command("WAIT", 3, 300) == 2  # only two replicas exist
    assert time.monotonic() - started >= 0.29
    assert c.execute_command("WAIT", 0, 0) >= 0
    replica = next(n for n in shard.nodes if n is not primary)
    with pytest.raises(redis.ResponseError, match="WAIT cannot be used with replica instances"):
        client(replica).execute_command("WAIT", 1, 10)


def test_standalone_node_has_cluster_support_disabled(pair) -> None:  # type: ignore[no-untyped-def]
    for args in (("CLUSTER", "SLOTS"), ("CLUSTER", "INFO"), ("CLUSTER", "KEYSLOT", "x"),
                 ("READONLY",), ("READWRITE",)):
        pair.check(*args)
    pair.check("WAIT", 0, 0)
    pair.check("WAIT", "x", 0)
    pair.check("WAIT", 0, -1)


def test_redis_py_cluster_client_follows_failover(shard: Shard) -> None:
    shard.wait_roles(timeout=30)
    old = shard.primary()
    start = next(n for n in shard.nodes if n is not old)
    rc = RedisCluster(host="127.0.0.1", port=start.port, socket_timeout=2)
    assert rc.set("cc", 0)
    acked = 0
    for _ in range(20):
        acked = rc.incr("cc")
    shard.kill(old)
    errors = 0
    deadline = time.monotonic() + 30
    while True:
        try:
            acked = rc.incr("cc")
            break
        except (redis.RedisError, RedisClusterException, OSError):
            errors += 1
            assert time.monotonic() < deadline, "the cluster client never recovered"
            time.sleep(0.1)
    # Nothing acknowledged was lost. (RedisCluster re-sends a command after a
    # connection error, so an INCR whose reply was lost in the kill may count twice.)
    assert acked >= 21
    assert int(rc.get("cc")) == acked
    shard.start(old)
    shard.wait_roles(timeout=30)
    rc.close()
