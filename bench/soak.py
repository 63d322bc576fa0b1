"""Sustained writes against a multi-AZ shard: does etcd's database stay bounded?

    python bench/soak.py [--minutes 10] [--value-size 1000] [--snapshot-log-size 8mb]

Starts three etcd members and a shard of two nodes, then writes continuously
(redis-benchmark SET with random keys) for the given time, sampling every 10 s:
etcd's database size on each member (Maintenance/Status), the records and
snapshots of the primary (INFO replication). The primary snapshots, trims the
log, compacts and defragments on its own: the size must level off instead of
growing with the amount written. Prints the samples and a verdict. Not in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cairn.durability.etcd.client import EtcdClient
from cairn.replication.etcdcluster import EtcdCluster
from cairn.replication.localcluster import LocalShard


async def db_sizes(endpoints: list[str]) -> list[int]:
    client = EtcdClient(endpoints)
    try:
        return [int((await client.status(i)).dbSize) for i in range(len(endpoints))]
    finally:
        await client.close()


def info(port: int) -> dict[str, str]:
    out = subprocess.run(["redis-cli", "-p", str(port), "info", "replication"],
                         capture_output=True, text=True).stdout
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--value-size", type=int, default=1000)
    parser.add_argument("--snapshot-log-size", default="8mb")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="cairn-soak-")
    etcd = EtcdCluster(os.path.join(base, "etcd"))
    etcd.start()
    shard = LocalShard(etcd, base, extra_args=["--snapshot-log-size", args.snapshot_log_size])
    bench = None
    try:
        for _ in range(2):
            shard.add_node()
        shard.wait_roles(timeout=60)
        primary = shard.primary()
        bench = subprocess.Popen(
            ["redis-benchmark", "-p", str(primary.port), "-t", "set", "-n", "1000000000", "-c", "20",
             "-r", "100000", "-d", str(args.value_size), "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + args.minutes * 60
        samples = []
        print("elapsed_s  etcd_db_bytes(max)  applied_lsn  snapshots  trims  compactions")
        start = time.monotonic()
        while time.monotonic() < end:
            time.sleep(10)
            sizes = asyncio.run(db_sizes(etcd.endpoints))
            i = info(primary.port)
            samples.append((time.monotonic() - start, max(sizes), int(i.get("cairn_applied_lsn", 0))))
            print(f"{samples[-1][0]:9.0f}  {max(sizes):18,}  {i.get('master_repl_offset', '?'):>11}  "
                  f"{i.get('cairn_snapshots_taken', '?'):>9}  {i.get('cairn_log_trims', '?'):>5}  "
                  f"{i.get('cairn_etcd_compactions', '?'):>11}", flush=True)
        half = [s[1] for s in samples[len(samples) // 2:]]
        first = [s[1] for s in samples[: max(1, len(samples) // 2)]]
        bounded = max(half) <= 2 * max(first) + 16 * 1024 * 1024
        print(f"etcd size: max {max(s[1] for s in samples):,} bytes; first half max {max(first):,}, "
              f"second half max {max(half):,}: {'bounded' if bounded else 'GROWING'}")
        return 0 if bounded else 1
    finally:
        if bench is not None:
            bench.kill()
        shard.stop()
        etcd.destroy()


if __name__ == "__main__":
    sys.exit(main())
