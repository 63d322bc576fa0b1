"""cairn-server: start a node, taking redis-server style arguments and config files.

    cairn-server [config-file] [--directive value ...]
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from cairn import REDIS_VERSION, __version__
from cairn.config import BY_NAME, Config, ConfigError

if TYPE_CHECKING:
    from cairn.commands.context import Server

log = logging.getLogger("cairn")


class StartupError(Exception):
    pass


def _tokenize_line(line: str) -> list[str]:
    from cairn.protocol import split_args

    args = split_args(line.encode("utf-8", "surrogateescape"))
    if args is None:
        raise ValueError("unbalanced quotes in configuration line")
    return [a.decode("utf-8", "surrogateescape") for a in args]


def apply_directive(config: Config, name: str, values: list[str], where: str) -> None:
    param = BY_NAME.get(name.lower())
    if param is None:
        raise StartupError(f"{where}: Bad directive or wrong number of arguments: '{name}'")
    if not values:
        raise StartupError(f"{where}: wrong number of arguments for '{name}'")
    text = " ".join(values) if param.kind == "string" else values[0]
    if param.kind != "string" and len(values) != 1:
        raise StartupError(f"{where}: wrong number of arguments for '{name}'")
    try:
        config.set_text(name, text)
    except ConfigError as exc:
        raise StartupError(f"{where}: '{name} {text}': {exc}") from None


def load_file(config: Config, path: str) -> None:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.readlines()
    except OSError as exc:
        raise StartupError(f"Fatal error, can't open config file '{path}': {exc.strerror}") from None
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{path}:{number}"
        try:
            tokens = _tokenize_line(stripped)
        except ValueError as exc:
            raise StartupError(f"{where}: {exc}") from None
        if tokens[0].lower() == "include":
            for included in tokens[1:]:
                load_file(config, included)
            continue
        apply_directive(config, tokens[0], tokens[1:], where)


def parse_args(argv: list[str]) -> Config:
    config = Config()
    args = list(argv)
    if args and not args[0].startswith("--"):
        path = args.pop(0)
        load_file(config, path)
        config.path = os.path.abspath(path)  # for CONFIG REWRITE
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise StartupError(f"Invalid argument '{arg}': expected --directive value")
        name = arg[2:]
        values: list[str] = []
        i += 1
        while i < len(args) and not args[i].startswith("--"):
            values.append(args[i])
            i += 1
        apply_directive(config, name, values, "command line")
    return config


def build_server(config: Config) -> Server:
    """Create the Server with the log the configuration asks for, and recover.

    ``durability local``: open the log in ``<dir>/log`` (cutting a torn tail,
    refusing mid-log corruption), replay every record through the one apply
    path, then serve with replies held until their record is fsynced.
    """
    import cairn.commands  # noqa: F401  (registers every command)
    from cairn.commands.context import Server

    server = Server(config)
    if config["durability"] == "none":
        log.warning("durability is none: writes are NOT persisted (cache mode)")
        return server
    if config["log"] == "etcd":
        return _build_etcd_member(server, config)
    from cairn.durability.local import LocalLog
    from cairn.durability.log import LogCorrupt, LogUnavailable
    from cairn.snapshots.format import SnapshotError
    from cairn.snapshots.manager import recover

    hooks = _test_hooks()
    local = LocalLog(
        os.path.join(config["dir"], "log"), segment_size=config["log-segment-size"], **hooks
    )
    started = time.perf_counter()
    try:
        records, snapshot_lsn = recover(server, config["dir"], local)
    except SnapshotError as exc:
        raise StartupError(f"cannot recover from the snapshots: {exc}") from None
    except LogCorrupt as exc:
        raise StartupError(
            f"the transaction log is corrupt: {exc}. Nothing was skipped. "
            "Inspect it with 'cairn check-log <dir>' (add --truncate to cut the log "
            "after the last good record)."
        ) from None
    except LogUnavailable as exc:
        raise StartupError(f"cannot open the transaction log: {exc}") from None
    elapsed = time.perf_counter() - started
    log.info(
        "DB loaded: snapshot at LSN %d + %d log records in %.3f seconds (%d keys)",
        snapshot_lsn,
        records,
        elapsed,
        sum(len(db) for db in server.keyspace.dbs),
    )
    server.log = local
    server.recovery_seconds = elapsed
    server.recovered_records = records
    server.keyspace.track_pending = True
    return server


def _build_etcd_member(server: Server, config: Config) -> Server:
    """A multi-AZ shard member: the log is on etcd; the node starts as a replica,
    catches up, and campaigns when the shard has no primary (replication/shard.py)."""
    from cairn.durability.etcd.client import TlsFiles
    from cairn.durability.etcd.log import EtcdLog
    from cairn.replication.shard import ShardMember, new_node_id

    tls = None
    if config["etcd-tls-ca"] or config["etcd-tls-cert"]:
        tls = TlsFiles(config["etcd-tls-ca"] or None, config["etcd-tls-cert"] or None,
                       config["etcd-tls-key"] or None)
    try:
        etcdlog = EtcdLog(config["etcd-endpoints"], config["cluster-name"], config["shard"],
                          max_inflight=config["etcd-max-inflight"], tls=tls)
    except Exception as exc:
        raise StartupError(f"cannot reach etcd at {config['etcd-endpoints']}: {exc}") from None
    server.log = etcdlog
    server.keyspace.track_pending = True
    # The etcd client runs on other threads (its loop and gRPC's poller); with the
    # default 5 ms GIL switch interval a busy event loop would delay every commit.
    sys.setswitchinterval(0.0002)
    ShardMember(
        server, etcdlog,
        node_id=config["node-id"] or new_node_id(),
        zone=config["zone"],
        address=config["announce-address"],
        lease_ttl=config["lease-ttl"],
        snapshot_store=config["snapshot-store"],
        endpoints=config["etcd-endpoints"],
        cluster=config["cluster-name"],
        shard=config["shard"],
    )
    return server


def _test_hooks() -> dict[str, Any]:
    """Fault-injection hooks for the crash tests, off unless their variables are set.

    CAIRN_TEST_VOLATILE_WRITES=1 keeps written log bytes in process memory until
    their fdatasync, so a kill -9 loses every unsynced byte (as a power cut
    would): if a reply ever left before its fsync, the crash tests see a lost
    acknowledged write. CAIRN_TEST_FSYNC_DELAY (seconds) widens that window.
    CAIRN_TEST_COMMIT_DELAY (seconds) delays the commit after each fsync.
    """
    hooks: dict[str, Any] = {}
    if os.environ.get("CAIRN_TEST_VOLATILE_WRITES") == "1":
        from cairn.durability.volatile import VolatileWrites

        volatile = VolatileWrites(float(os.environ.get("CAIRN_TEST_FSYNC_DELAY", "0")))
        hooks["write"] = volatile.write
        hooks["fsync"] = volatile.fsync
    delay = os.environ.get("CAIRN_TEST_COMMIT_DELAY")
    if delay:
        hooks["commit_delay"] = float(delay)
    return hooks


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-v", "--version"):
        print(f"Cairn server v={__version__} redis_version={REDIS_VERSION}")
        return 0
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    try:
        config = parse_args(argv)
    except StartupError as exc:
        print(f"*** FATAL CONFIG ERROR *** {exc}", file=sys.stderr)
        return 1
    level = {"debug": logging.DEBUG, "verbose": logging.INFO, "notice": logging.INFO,
             "warning": logging.WARNING, "nothing": logging.CRITICAL}[config["loglevel"]]
    logging.basicConfig(
        level=level,
        format="%(process)d:M %(asctime)s %(levelname).1s %(message)s",
        filename=config["logfile"] or None,
    )
    os.makedirs(config["dir"], exist_ok=True)
    from cairn.net.listener import run

    try:
        server = build_server(config)
    except StartupError as exc:
        print(f"*** FATAL *** {exc}", file=sys.stderr)
        return 1
    run(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
