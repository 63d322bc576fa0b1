"""The state commands run against: the server and one client's session.

Neither knows about sockets. The network layer creates a Client per connection
and gives it callbacks (``push`` for out-of-band messages, ``close``).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from cairn import REDIS_VERSION, __version__
from cairn.commands.registry import REGISTRY, Command, Registry
from cairn.config import Config
from cairn.durability.log import MemoryLog, TransactionLog
from cairn.keyspace import Database, Keyspace

_client_ids = itertools.count(1)


class Client:
    """One connection's session state (Redis' ``client`` struct, minus the socket)."""

    def __init__(self, server: Server, addr: str = "", laddr: str = "", fd: int = -1) -> None:
        self.server = server
        self.id = next(_client_ids)
        self.addr = addr
        self.laddr = laddr
        self.fd = fd
        self.name: bytes = b""
        self.lib_name: bytes = b""
        self.lib_ver: bytes = b""
        self.db: Database = server.keyspace.dbs[0]
        self.resp = 2
        self.authenticated = not server.config["requirepass"]
        self.user = "default"
        self.created = time.time()
        self.last_interaction = time.monotonic()
        self.last_command = "NULL"
        # MULTI / WATCH
        self.in_multi = False
        self.multi_queue: list[tuple[Command, list[bytes]]] = []
        self.dirty_exec = False  # a command failed to queue: EXEC aborts
        self.dirty_cas = False  # a watched key changed: EXEC returns null
        self.last_write_lsn = 0  # the record of this client's latest write (WAIT)
        self.cluster_readonly = False  # READONLY: reads may be served by a replica
        self.watched: list[tuple[Database, bytes, bool]] = []  # (db, key, expired at WATCH)
        # CLIENT REPLY ON|OFF|SKIP
        self.reply_mode = "on"
        self.skip_next_reply = False
        self.no_evict = False
        self.no_touch = False
        self.is_monitor = False
        self.close_after_reply = False
        self.closing = False
        # Any pub/sub subscription (cairn/commands/pubsub.py keeps the details).
        self.subscribed = False
        # Set by the network layer.
        self.push: Callable[[Any], None] = lambda value: None
        # A parked blocking command's reply, with the LSN it waits for.
        self.unblocked: Callable[[Any, int], None] = lambda reply, lsn: None
        self.close: Callable[[], None] = lambda: None
        self.output_bytes: Callable[[], int] = lambda: 0
        self.query_bytes: Callable[[], int] = lambda: 0
        # Statistics
        self.commands_processed = 0

    @property
    def flags(self) -> str:
        """Client flags as CLIENT LIST shows them."""
        text = ""
        if self.is_monitor:
            text += "O"
        if self.subscribed:
            text += "P"
        if self.in_multi:
            text += "x"
        if self.dirty_cas:
            text += "d"
        if self.close_after_reply:
            text += "c"
        if self.no_evict:
            text += "e"
        if self.no_touch:
            text += "T"
        return text or "N"


class Server:
    """Everything shared by all clients of one node."""

    def __init__(self, config: Config | None = None, log: TransactionLog | None = None) -> None:
        self.config = config or Config()
        self.registry: Registry = REGISTRY
        self.keyspace = Keyspace(self.config["databases"])
        self.log: TransactionLog = log or MemoryLog()
        self.keyspace.writes_refused = lambda: self.log.failure is not None
        self.clients: dict[int, Client] = {}
        self.monitors: list[Client] = []
        self.started = time.time()
        self.started_monotonic = time.monotonic()
        self.version = __version__
        self.redis_version = REDIS_VERSION
        self.run_id = "".join(f"{b:02x}" for b in __import__("os").urandom(20))
        self.port = self.config["port"]
        self.paused_until = 0.0  # CLIENT PAUSE deadline (monotonic seconds)
        self.pause_writes_only = False
        self.shutdown_requested: Callable[[], None] | None = None
        # Statistics (INFO stats)
        self.stat_connections = 0
        self.stat_commands = 0
        self.stat_rejected_conn = 0
        self.stat_net_input = 0
        self.stat_net_output = 0
        self.error_stats: dict[str, int] = {}
        self.total_error_replies = 0
        self.slowlog: deque[tuple[int, int, int, list[bytes], str, bytes]] = deque()
        self.slowlog_next_id = 0
        self.latency_events: dict[str, deque[tuple[int, int]]] = {}
        self.latency_max: dict[str, int] = {}
        self.dirty = 0  # changes since the last snapshot (rdb_changes_since_last_save)
        from cairn.commands.blocking import BlockingRegistry

        self.blocking = BlockingRegistry(self)
        # Set by the network layer: run a callback after a delay (timers of
        # blocking commands); returns a handle with cancel().
        self.call_later: Callable[[float, Callable[[], None]], Any] = _no_timer
        # Thresholds read on every call, mirrored from the config.
        self.slowlog_threshold = self.config["slowlog-log-slower-than"]
        self.latency_threshold = self.config["latency-monitor-threshold"]
        self.config.on_change("slowlog-log-slower-than", lambda v: setattr(self, "slowlog_threshold", v))
        self.config.on_change("latency-monitor-threshold", lambda v: setattr(self, "latency_threshold", v))
        self.snapshots: Any = None  # the snapshot manager (durability local)
        # Multi-AZ: the shard member (replication/shard.py), and what this node's
        # role refuses: (error, writes only) — READONLY on a replica, LOADING while
        # it catches up or steps down.
        self.replication: Any = None
        self.role_refusal: tuple[str, bool] | None = None
        # A multi-AZ primary serves only until its lease may have lapsed (monotonic
        # seconds; 0 when not leading): every command checks it, reads included.
        self.lease_deadline = 0.0
        # The Lua script or function being executed (scripting.engine.RunState), and
        # the network layer's way to answer other clients while it runs too long.
        self.script_running: Any = None
        self.busy_poll: Callable[[], None] | None = None
        # Cluster mode on a replica: (client, cmd, argv) -> a MOVED error or None.
        self.redirect: Callable[[Client, Any, list[bytes]], Any] | None = None
        self.recovery_seconds = 0.0
        self.recovered_records = 0
        from cairn.commands.keys import sync_policy

        sync_policy(self)  # LFU settings mirrored into the keyspace, now and on CONFIG SET
        self.lastsave = int(time.time())

    # -- client registry -----------------------------------------------------
    def add_client(self, client: Client) -> None:
        self.clients[client.id] = client
        self.stat_connections += 1

    def remove_client(self, client: Client) -> None:
        self.clients.pop(client.id, None)
        self.blocking.remove(client)
        unwatch_all(client)
        if client.is_monitor and client in self.monitors:
            self.monitors.remove(client)
        if client.subscribed:
            from cairn.commands.pubsub import unsubscribe_all

            unsubscribe_all(client)

    def select(self, client: Client, index: int) -> None:
        client.db = self.keyspace.dbs[index]

    def uptime(self) -> float:
        return time.monotonic() - self.started_monotonic

    def count_error(self, message: str) -> None:
        code = message.split(" ", 1)[0]
        self.error_stats[code] = self.error_stats.get(code, 0) + 1
        self.total_error_replies += 1


class _NoTimer:
    def cancel(self) -> None:
        pass


def _no_timer(delay: float, callback: Callable[[], None]) -> Any:
    """Without an event loop (in-process tests) timers never fire."""
    return _NoTimer()


def unwatch_all(client: Client) -> None:
    for db, key, _expired in client.watched:
        watchers = db.watched.get(key)
        if watchers is not None:
            try:
                watchers.remove(client)
            except ValueError:
                pass
            if not watchers:
                del db.watched[key]
    client.watched = []
    client.dirty_cas = False
