"""Harness for multi-AZ tests: a real etcd cluster and Cairn shard members on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import redis

from cairn.replication.etcdcluster import EtcdCluster, free_port

ETCD = shutil.which("etcd")


@dataclass
class CairnNode:
    name: str
    zone: str
    port: int
    data_dir: str
    log_path: str
    proc: subprocess.Popen[bytes] | None = None

    def client(self, timeout: float = 2.0) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=timeout, socket_connect_timeout=timeout)

    def role(self) -> str:
        try:
            return str(self.client(1.0).info("replication")["role"])
        except (redis.RedisError, OSError) as exc:
            return type(exc).__name__

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Shard:
    """``replicas + 1`` Cairn nodes sharing one etcd cluster."""

    etcd: EtcdCluster
    base_dir: str
    cluster_name: str = "test"
    shard: str = "s1"
    lease_ttl: int = 2
    nodes: list[CairnNode] = field(default_factory=list)

    def add_node(self) -> CairnNode:
        i = len(self.nodes)
        node = CairnNode(name=f"n{i}", zone=f"az{i % 3 + 1}", port=free_port(),
                         data_dir=os.path.join(self.base_dir, f"n{i}"),
                         log_path=os.path.join(self.base_dir, f"n{i}.log"))
        self.nodes.append(node)
        self.start(node)
        return node

    def start(self, node: CairnNode) -> None:
        args = [sys.executable, "-m", "cairn", "--port", str(node.port), "--bind", "127.0.0.1",
                "--log", "etcd", "--etcd-endpoints", ",".join(self.etcd.endpoints),
                "--cluster-name", self.cluster_name, "--shard", self.shard, "--zone", node.zone,
                "--node-id", node.name, "--dir", node.data_dir, "--lease-ttl", str(self.lease_ttl),
                "--loglevel", "notice"]
        with open(node.log_path, "ab") as logf:
            node.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def kill(self, node: CairnNode) -> None:
        if node.proc is not None and node.proc.poll() is None:
            node.proc.kill()
            node.proc.wait()

    def pause(self, node: CairnNode) -> None:
        assert node.proc is not None
        node.proc.send_signal(signal.SIGSTOP)

    def resume(self, node: CairnNode) -> None:
        assert node.proc is not None
        node.proc.send_signal(signal.SIGCONT)

    def primary(self, timeout: float = 20.0, exclude: CairnNode | None = None) -> CairnNode:
        """The one node reporting role master (waits for an election)."""
        deadline = time.monotonic() + timeout
        while True:
            masters = [n for n in self.nodes if n is not exclude and n.running
                       and n.role() == "master"]
            if len(masters) == 1:
                return masters[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no single primary: {[(n.name, n.role()) for n in self.nodes]}"
                                   f"\n{self.logs()}")
            time.sleep(0.05)

    def wait_roles(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            roles = [n.role() for n in self.nodes if n.running]
            if roles.count("master") == 1 and roles.count("slave") == len(roles) - 1:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"roles not settled: {roles}\n{self.logs()}")
            time.sleep(0.05)

    def logs(self) -> str:
        out = []
        for n in self.nodes:
            try:
                with open(n.log_path, errors="replace") as f:
                    out.append(f"--- {n.name}\n{f.read()[-3000:]}")
            except OSError:
                pass
        return "\n".join(out)

    def stop(self) -> None:
        for n in self.nodes:
            if n.proc is not None and n.proc.poll() is None:
                n.proc.send_signal(signal.SIGCONT)
                n.proc.kill()
                n.proc.wait()


def new_etcd(size: int = 3) -> EtcdCluster:
    base = tempfile.mkdtemp(prefix="cairn-etcd-")
    cluster = EtcdCluster(base, size=size)
    cluster.start()
    return cluster
