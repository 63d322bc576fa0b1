"""Harness for multi-AZ tests: a real etcd cluster and Cairn shard members on loopback
(the same code as ``cairn local-cluster up``), plus redis-py clients for them."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cairn.replication.etcdcluster import EtcdCluster
from cairn.replication.localcluster import CairnNode, LocalShard

ETCD = shutil.which("etcd")

Shard = LocalShard


def no_retry() -> Retry:
    """redis-py (6+) re-sends a command after a timeout or a dropped connection by
    default: an acknowledged INCR could then have been applied twice. Fault tests
    must see every failure as it happened."""
    return Retry(NoBackoff(), 0)


def client(node: CairnNode, timeout: float = 2.0) -> redis.Redis:
    return redis.Redis(port=node.port, socket_timeout=timeout, socket_connect_timeout=timeout,
                       retry=no_retry())


def new_etcd(size: int = 3) -> EtcdCluster:
    base = tempfile.mkdtemp(prefix="cairn-etcd-")
    cluster = EtcdCluster(base, size=size)
    cluster.start()
    return cluster


@contextmanager
def running_shard(nodes: int = 3, **kw: Any) -> Iterator[LocalShard]:
    """A fresh etcd cluster and a shard of ``nodes`` nodes with settled roles."""
    etcd = new_etcd()
    base = tempfile.mkdtemp(prefix="cairn-shard-")
    shard = Shard(etcd, base, **kw)
    try:
        for _ in range(nodes):
            shard.add_node()
        shard.wait_roles()
        yield shard
    finally:
        shard.stop()
        etcd.destroy()
        shutil.rmtree(base, ignore_errors=True)
