"""Harness for multi-AZ tests: a real etcd cluster and Cairn shard members on loopback
(the same code as ``cairn local-cluster up``), plus redis-py clients for them."""

from __future__ import annotations

import shutil
import tempfile

import redis

from cairn.replication.etcdcluster import EtcdCluster
from cairn.replication.localcluster import CairnNode, LocalShard

ETCD = shutil.which("etcd")

Shard = LocalShard


def client(node: CairnNode, timeout: float = 2.0) -> redis.Redis:
    return redis.Redis(port=node.port, socket_timeout=timeout, socket_connect_timeout=timeout)


def new_etcd(size: int = 3) -> EtcdCluster:
    base = tempfile.mkdtemp(prefix="cairn-etcd-")
    cluster = EtcdCluster(base, size=size)
    cluster.start()
    return cluster
