"""Snapshots of a multi-AZ shard: built from the etcd log into the shard's snapshot
store, loaded by nodes that start, rebuild, or fall behind a trim.

    python -m cairn.replication.snapshots --store DIR --etcd-endpoints E \\
        --cluster-name C --shard S --upto LSN

builds the snapshot at LSN ``upto`` off the serving path (a separate process, like
the standalone builder): it loads the newest snapshot at or below ``upto`` from the
store, replays the log records after it from etcd, then writes, verifies and
publishes the file (``snapshots.builder.write_verified``). It prints one JSON line.

The store is a directory every node of the shard can read (one machine: the
local cluster's shared directory). Only after a snapshot is published may the
log records it covers be trimmed from etcd.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any

from cairn.snapshots.format import (
    Snapshot,
    SnapshotCorrupt,
    list_snapshots,
    load_into,
    read_snapshot,
)

log = logging.getLogger("cairn.replication")


def newest_snapshot(store: str, at_least: int = 0, at_most: int | None = None) -> Snapshot | None:
    """The newest readable snapshot with at_least <= LSN <= at_most; corrupt ones are skipped."""
    for lsn, path in reversed(list_snapshots(store)):
        if lsn < at_least:
            return None
        if at_most is not None and lsn > at_most:
            continue
        try:
            return read_snapshot(path)
        except SnapshotCorrupt as exc:
            log.error("snapshot store: %s is unusable (%s); trying an older one", path, exc.reason)
    return None


def retain(store: str, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` snapshots; returns the removed paths."""
    snaps = list_snapshots(store)
    removed = []
    for _lsn, path in snaps[:-keep] if keep > 0 else []:
        try:
            os.unlink(path)
            removed.append(path)
        except OSError:
            continue
    return removed


def build_from_etcd(store: str, endpoints: str, cluster: str, shard: str, upto: int,
                    databases: int = 16, tls: Any = None) -> dict[str, Any]:
    import cairn.commands  # noqa: F401  (registers every command)
    from cairn.commands.context import Server
    from cairn.commands.replay import Replayer
    from cairn.config import Config
    from cairn.durability.etcd.log import EtcdLog
    from cairn.snapshots.builder import ensure_dir, peak_rss, restore_functions, write_verified

    started = time.perf_counter()
    ensure_dir(store)
    config = Config()
    config.set_text("databases", str(databases))
    server = Server(config)
    base = newest_snapshot(store, at_most=upto)
    base_lsn = 0
    if base is not None:
        base_lsn = base.lsn
        load_into(server.keyspace, base)
        restore_functions(server, base)
    etcdlog = EtcdLog(endpoints, cluster, shard, tls=tls)
    try:
        result = etcdlog.call(etcdlog.read_batches(base_lsn + 1))
    finally:
        etcdlog.close()
    if base_lsn < upto and result.trimmed > base_lsn:
        raise RuntimeError(f"the log is trimmed up to LSN {result.trimmed} but the newest "
                           f"snapshot in {store} is at LSN {base_lsn}")
    replayer = Replayer(server)
    last = base_lsn
    for lsn, _epoch, effects in result.records:
        if lsn > upto:
            break
        replayer.apply_record(lsn, effects)
        last = lsn
    if last != upto:
        raise RuntimeError(f"the log holds records up to LSN {last}, not {upto}")
    written, _ = write_verified(server, store, upto)
    return {"ok": True, "lsn": upto, "base_lsn": base_lsn, "replayed": upto - base_lsn,
            "keys": written.keys, "bytes": written.size,
            "seconds": round(time.perf_counter() - started, 6), "peak_rss": peak_rss()}


def load_newest(server: Any, store: str, at_least: int = 0) -> int:
    """Empty the keyspace and load the newest snapshot (LSN >= at_least); its LSN, or -1."""
    snap = newest_snapshot(store, at_least=at_least)
    if snap is None:
        return -1
    from cairn.snapshots.builder import restore_functions

    server.keyspace.flushall()
    load_into(server.keyspace, snap)
    restore_functions(server, snap)
    return snap.lsn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cairn.replication.snapshots")
    parser.add_argument("--store", required=True)
    parser.add_argument("--etcd-endpoints", required=True)
    parser.add_argument("--cluster-name", required=True)
    parser.add_argument("--shard", required=True)
    parser.add_argument("--upto", type=int, required=True)
    parser.add_argument("--databases", type=int, default=16)
    parser.add_argument("--etcd-tls-ca")
    parser.add_argument("--etcd-tls-cert")
    parser.add_argument("--etcd-tls-key")
    args = parser.parse_args(argv)
    tls = None
    if args.etcd_tls_ca or args.etcd_tls_cert:
        from cairn.durability.etcd.client import TlsFiles

        tls = TlsFiles(args.etcd_tls_ca, args.etcd_tls_cert, args.etcd_tls_key)
    try:
        result = build_from_etcd(args.store, args.etcd_endpoints, args.cluster_name, args.shard,
                                 args.upto, args.databases, tls)
    except Exception as exc:
        print(json.dumps({"ok": False, "error": str(exc)}), flush=True)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
