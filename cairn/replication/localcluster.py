"""A whole multi-AZ shard on one machine: three etcd members and Cairn nodes on
loopback, each labelled with a zone (``cairn local-cluster up``; the tests use it too)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from cairn.replication.etcdcluster import EtcdCluster, free_port


@dataclass
class CairnNode:
    name: str
    zone: str
    port: int
    data_dir: str
    log_path: str
    proc: subprocess.Popen[bytes] | None = None
    etcd_endpoints: list[str] | None = None  # this node's own (e.g. proxied) endpoints

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def role(self, timeout: float = 1.0) -> str:
        """'master', 'slave', or why it could not tell (a small RESP exchange)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
                s.sendall(b"*1\r\n$4\r\nROLE\r\n")
                data = b""
                while b"\r\n" not in data[4:] or data.count(b"\r\n") < 3:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        except OSError as exc:
            return type(exc).__name__
        if data.startswith(b"-"):
            return data[1:].split(b" ", 1)[0].decode(errors="replace")
        parts = data.split(b"\r\n")
        return parts[2].decode(errors="replace") if len(parts) > 2 else "unknown"


@dataclass
class LocalShard:
    """``nodes`` Cairn processes sharing the etcd cluster ``etcd``."""

    etcd: EtcdCluster
    base_dir: str
    cluster_name: str = "local"
    shard: str = "shard1"
    lease_ttl: int = 2
    nodes: list[CairnNode] = field(default_factory=list)
    extra_args: list[str] = field(default_factory=list)

    def add_node(self, port: int = 0, etcd_endpoints: list[str] | None = None) -> CairnNode:
        i = len(self.nodes)
        node = CairnNode(name=f"node{i + 1}", zone=f"az{i % 3 + 1}", port=port or free_port(),
                         data_dir=os.path.join(self.base_dir, f"node{i + 1}"),
                         log_path=os.path.join(self.base_dir, f"node{i + 1}.log"),
                         etcd_endpoints=etcd_endpoints)
        self.nodes.append(node)
        self.start(node)
        return node

    def start(self, node: CairnNode) -> None:
        args = [sys.executable, "-m", "cairn", "--port", str(node.port), "--bind", "127.0.0.1",
                "--log", "etcd", "--etcd-endpoints",
                ",".join(node.etcd_endpoints or self.etcd.endpoints),
                "--cluster-name", self.cluster_name, "--shard", self.shard, "--zone", node.zone,
                "--node-id", node.name, "--dir", node.data_dir, "--lease-ttl", str(self.lease_ttl),
                "--snapshot-store", os.path.join(self.base_dir, "snapshots"),
                "--loglevel", "notice", *self.extra_args]
        os.makedirs(self.base_dir, exist_ok=True)
        with open(node.log_path, "ab") as logf:
            node.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def kill(self, node: CairnNode) -> None:
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(signal.SIGCONT)
            node.proc.kill()
            node.proc.wait()

    def pause(self, node: CairnNode) -> None:
        if node.proc is not None:
            node.proc.send_signal(signal.SIGSTOP)

    def resume(self, node: CairnNode) -> None:
        if node.proc is not None:
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
                roles = [(n.name, n.role()) for n in self.nodes]
                raise TimeoutError(f"no single primary: {roles}\n{self.logs()}")
            time.sleep(0.05)

    def wait_roles(self, timeout: float = 20.0) -> None:
        """Until exactly one running node is primary and the others replicas."""
        deadline = time.monotonic() + timeout
        while True:
            roles = [n.role() for n in self.nodes if n.running]
            if roles.count("master") == 1 and roles.count("slave") == len(roles) - 1:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"roles not settled: {roles}\n{self.logs()}")
            time.sleep(0.05)

    def logs(self, tail: int = 3000) -> str:
        out = []
        for n in self.nodes:
            try:
                with open(n.log_path, errors="replace") as f:
                    out.append(f"--- {n.name}\n{f.read()[-tail:]}")
            except OSError:
                pass
        return "\n".join(out)

    def stop(self) -> None:
        for n in self.nodes:
            if n.proc is not None and n.proc.poll() is None:
                n.proc.send_signal(signal.SIGCONT)
                n.proc.terminate()
        for n in self.nodes:
            if n.proc is not None:
                try:
                    n.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    n.proc.kill()
                    n.proc.wait()


def up(argv: list[str]) -> int:
    """``cairn local-cluster up [--replicas N] [--dir DIR] [--port P] [--lease-ttl S]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="cairn local-cluster up")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--dir", default="./local-cluster")
    parser.add_argument("--port", type=int, default=7000, help="first node's port (then +1...)")
    parser.add_argument("--lease-ttl", type=int, default=1)
    parser.add_argument("--etcd-heartbeat-ms", type=int, default=50)
    parser.add_argument("--etcd-election-ms", type=int, default=500)
    args = parser.parse_args(argv)
    base = os.path.abspath(args.dir)
    # On loopback etcd can elect quickly: a 500 ms election timeout allows 1 s leases.
    etcd = EtcdCluster(os.path.join(base, "etcd"), heartbeat_ms=args.etcd_heartbeat_ms,
                       election_ms=args.etcd_election_ms)
    shard = LocalShard(etcd, base, lease_ttl=args.lease_ttl)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        etcd.start()
        for m in etcd.members:
            print(f"etcd  {m.name}  zone {m.zone}  {m.endpoint}")
        for i in range(args.replicas + 1):
            shard.add_node(args.port + i)
        shard.wait_roles(timeout=60)
        for n in shard.nodes:
            print(f"cairn {n.name}  zone {n.zone}  127.0.0.1:{n.port}  {n.role()}")
        print(f"etcd endpoints: {','.join(etcd.endpoints)}")
        print(f"data and logs in {base}; Ctrl-C stops everything", flush=True)
        while not stopping:
            time.sleep(0.2)
    finally:
        shard.stop()
        etcd.stop()
        print("stopped", flush=True)
    return 0
