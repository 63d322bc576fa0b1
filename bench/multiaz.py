"""Multi-AZ benchmark: a shard of three nodes on three local etcd members.

    python bench/multiaz.py [--failovers 20] [--requests 20000] [--out bench/results-multiaz.md]

Measures, on this machine (everything on loopback):

1. durable replicated SET latency at ``-c 10 -P 1`` (p50, p99) and throughput at
   ``-c 50 -P 1`` with redis-benchmark against the primary;
2. the write outage after SIGKILL of the primary, ``--failovers`` times: from the
   kill to the first acknowledged write on the new primary, as a client that
   retries every 10 ms against all nodes sees it;
3. CPU spent per request by the primary, a replica and the etcd members.

It prints a markdown report (and writes it with --out). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cairn.replication.etcdcluster import EtcdCluster
from cairn.replication.localcluster import CairnNode, LocalShard


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def benchmark(port: int, clients: int, requests: int) -> dict[str, float]:
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", "set", "-n", str(requests), "-c", str(clients),
         "-P", "1", "-r", "100000", "--precision", "3", "--csv"],
        capture_output=True, text=True, check=True).stdout
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    row = [line for line in out.splitlines() if line.startswith('"SET"')][-1]
    values = [float(v.strip('"')) for v in row.split(",")[1:]]
    return {"rps": values[0], "avg": values[1], "p50": values[3], "p95": values[4], "p99": values[5],
            "max": values[6]}


def send(port: int, payload: bytes, timeout: float = 0.5) -> bytes | None:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(payload)
            return s.recv(256)
    except OSError:
        return None


def measure_failover(shard: LocalShard, i: int) -> float:
    old = shard.primary(timeout=60)
    payload = b"*3\r\n$3\r\nSET\r\n$8\r\nfailover\r\n$%d\r\n%d\r\n" % (len(str(i)), i)
    assert send(old.port, payload) == b"+OK\r\n"
    shard.kill(old)
    killed = time.monotonic()
    others: list[CairnNode] = [n for n in shard.nodes if n is not old]
    while True:
        for node in others:
            if send(node.port, payload, timeout=0.2) == b"+OK\r\n":
                outage = time.monotonic() - killed
                shard.start(old)
                shard.wait_roles(timeout=60)
                return outage
        time.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--failovers", type=int, default=20)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--out", default="")
    # The defaults of `cairn local-cluster up`.
    parser.add_argument("--lease-ttl", type=int, default=1)
    parser.add_argument("--etcd-heartbeat-ms", type=int, default=50)
    parser.add_argument("--etcd-election-ms", type=int, default=500)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="cairn-bench-maz-")
    etcd = EtcdCluster(os.path.join(base, "etcd"), heartbeat_ms=args.etcd_heartbeat_ms,
                       election_ms=args.etcd_election_ms)
    etcd.start()
    shard = LocalShard(etcd, base, lease_ttl=args.lease_ttl)
    lines: list[str] = []
    try:
        for _ in range(3):
            shard.add_node()
        shard.wait_roles(timeout=60)
        primary = shard.primary()
        replica = next(n for n in shard.nodes if n is not primary)
        benchmark(primary.port, 10, 2000)  # warm up
        results = {}
        for clients in () if args.skip_throughput else (10, 50):
            before = (cpu_seconds(primary.proc.pid), cpu_seconds(replica.proc.pid),  # type: ignore[union-attr]
                      sum(cpu_seconds(m.proc.pid) for m in etcd.members))  # type: ignore[union-attr]
            r = benchmark(primary.port, clients, args.requests)
            after = (cpu_seconds(primary.proc.pid), cpu_seconds(replica.proc.pid),  # type: ignore[union-attr]
                     sum(cpu_seconds(m.proc.pid) for m in etcd.members))  # type: ignore[union-attr]
            r["cpu"] = [(a - b) / args.requests * 1e6 for a, b in zip(after, before)]  # type: ignore[assignment]
            results[clients] = r
        outages = [measure_failover(shard, i) for i in range(args.failovers)]
        load = open("/proc/loadavg").read().split()[:3]
        lines += [
            "# Multi-AZ benchmark (bench/multiaz.py)",
            "",
            f"Three etcd {os.popen('etcd --version').read().split()[2]} members and three Cairn nodes "
            f"on one {os.cpu_count()}-core machine, all on loopback; redis-benchmark SET, "
            f"{args.requests} requests, random keys. Load average when it finished: {' '.join(load)}.",
            "",
            "| test | ops/s | p50 ms | p99 ms | target | primary CPU µs/req | replica CPU µs/req | etcd CPU µs/req (3 members) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for clients, target in ((10, "p50 ≤ 2 ms, p99 ≤ 5 ms"), (50, "≥ 30,000 ops/s")):
            if clients not in results:
                continue
            r = results[clients]
            cpu = r["cpu"]
            lines.append(f"| SET -c {clients} -P 1 | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                         f"{target} | {cpu[0]:.0f} | {cpu[1]:.0f} | {cpu[2]:.0f} |")  # type: ignore[index]
        outages.sort()
        q = statistics.quantiles(outages, n=10) if len(outages) >= 2 else outages
        lines += [
            "",
            f"Write outage after SIGKILL of the primary, {len(outages)} failovers, lease-ttl "
            f"{args.lease_ttl} s, etcd heartbeat {args.etcd_heartbeat_ms} ms / election "
            f"{args.etcd_election_ms} ms (target: median ≤ 2 s):",
            "",
            "| min | p10 | median | p90 | max |",
            "|---|---|---|---|---|",
            f"| {outages[0]:.2f} s | {q[0]:.2f} s | {statistics.median(outages):.2f} s | "
            f"{q[-1]:.2f} s | {outages[-1]:.2f} s |",
            "",
            "All outages (s): " + ", ".join(f"{o:.2f}" for o in outages),
        ]
    finally:
        shard.stop()
        etcd.destroy()
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
