"""The text of INFO: Redis' sections, field names and layout.

Each section is a list of ``(field, value)`` pairs rendered as ``field:value``
lines under a ``# Title`` header; sections are joined by a blank line. Fields
that belong to another subsystem (pub/sub, blocking, replication, snapshots)
start at their idle value here and are filled in by that subsystem through
``register_fields``.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cairn.commands.context import Server

Fields = list[tuple[str, Any]]

# Section names in the order Redis prints them, with their titles.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("server", "Server"),
    ("clients", "Clients"),
    ("memory", "Memory"),
    ("persistence", "Persistence"),
    ("stats", "Stats"),
    ("replication", "Replication"),
    ("cpu", "CPU"),
    ("modules", "Modules"),
    ("commandstats", "Commandstats"),
    ("errorstats", "Errorstats"),
    ("cluster", "Cluster"),
    ("keyspace", "Keyspace"),
)
DEFAULT_SECTIONS = frozenset(
    ("server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules",
     "errorstats", "cluster", "keyspace")
)
ALL_SECTIONS = frozenset(name for name, _ in SECTIONS)

# Other subsystems add or override fields: provider(server) -> [(field, value)].
_PROVIDERS: dict[str, list[Callable[[Server], Iterable[tuple[str, Any]]]]] = {}


def register_fields(section: str, provider: Callable[[Server], Iterable[tuple[str, Any]]]) -> None:
    """Let a subsystem report its own fields in a section (replacing idle values by name)."""
    _PROVIDERS.setdefault(section, []).append(provider)


class _State:
    """Per-server figures INFO keeps between calls."""

    def __init__(self) -> None:
        self.peak_memory = 0
        self.startup_memory = rss_bytes()
        self.replid = os.urandom(20).hex()
        # (monotonic time, commands, net in, net out) samples for instantaneous_*.
        self.last_sample: tuple[float, int, int, int] | None = None
        self.ops: deque[float] = deque(maxlen=16)
        self.kbps_in: deque[float] = deque(maxlen=16)
        self.kbps_out: deque[float] = deque(maxlen=16)


_STATES: weakref.WeakKeyDictionary[Server, _State] = weakref.WeakKeyDictionary()


def _state(server: Server) -> _State:
    state = _STATES.get(server)
    if state is None:
        state = _STATES[server] = _State()
    return state


def sample_instantaneous(server: Server) -> None:
    """Record one sample of the instantaneous_* rates; meant for the server cron (~every 100 ms)."""
    state = _state(server)
    now = time.monotonic()
    current = (now, server.stat_commands, server.stat_net_input, server.stat_net_output)
    last = state.last_sample
    state.last_sample = current
    if last is None or now <= last[0]:
        return
    elapsed = now - last[0]
    state.ops.append((current[1] - last[1]) / elapsed)
    state.kbps_in.append((current[2] - last[2]) / elapsed / 1024)
    state.kbps_out.append((current[3] - last[3]) / elapsed / 1024)


def _mean(samples: deque[float]) -> float:
    return sum(samples) / len(samples) if samples else 0.0


def reset_instantaneous(server: Server) -> None:
    state = _state(server)
    state.ops.clear()
    state.kbps_in.clear()
    state.kbps_out.clear()
    state.last_sample = None


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Resident set size of this process.

    Python has no allocator statistic comparable to Redis' zmalloc counter, so
    INFO reports the process RSS (from /proc/self/statm) as used_memory too.
    """
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bytes_to_human(n: int) -> str:
    """Redis' bytesToHuman: 1023B, 1.16M, 23.54G..."""
    if n < 1024:
        return f"{n}B"
    for unit, power in (("K", 1), ("M", 2), ("G", 3), ("T", 4), ("P", 5)):
        if n < 1024 ** (power + 1):
            return f"{n / 1024**power:.2f}{unit}"
    return f"{n}B"


def _total_system_memory() -> int:
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * _PAGE_SIZE)
    except (ValueError, OSError, AttributeError):
        return 0


# -- sections ------------------------------------------------------------------


def _server(server: Server) -> Fields:
    from cairn import __version__

    now = time.time()
    uptime = int(server.uptime())
    uname = platform.uname()
    config = server.config
    hz = config["hz"]
    binds = ",".join(f"bind={addr}" for addr in config["bind"].split())
    return [
        ("redis_version", server.redis_version),
        ("redis_git_sha1", "00000000"),
        ("redis_git_dirty", 0),
        ("redis_build_id", _build_id(__version__)),
        ("redis_mode", "cluster" if config["cluster-enabled"] else "standalone"),
        ("os", f"{uname.system} {uname.release} {uname.machine}"),
        ("arch_bits", 64 if sys.maxsize > 2**32 else 32),
        ("monotonic_clock", "POSIX clock_gettime"),
        ("multiplexing_api", "kqueue" if sys.platform == "darwin" else "epoll"),
        ("process_id", os.getpid()),
        ("process_supervised", "no"),
        ("run_id", server.run_id),
        ("tcp_port", server.port),
        ("server_time_usec", int(now * 1_000_000)),
        ("uptime_in_seconds", uptime),
        ("uptime_in_days", uptime // 86400),
        ("hz", hz),
        ("configured_hz", hz),
        ("lru_clock", int(now) & 0xFFFFFF),
        ("executable", os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""),
        ("config_file", config.path or ""),
        ("io_threads_active", 0),
        # Redis 7.2 lists each listener at the end of the section.
        ("listener0", f"name=tcp,{binds},port={server.port}"),
        ("cairn_version", __version__),
    ]


def _build_id(version: str) -> str:
    import hashlib

    return hashlib.sha1(version.encode()).hexdigest()[:16]


def _live_clients(server: Server) -> list[Any]:
    return [c for c in server.clients.values() if not c.closing]


def _clients(server: Server) -> Fields:
    clients = _live_clients(server)
    max_in = max((c.query_bytes() for c in clients), default=0)
    max_out = max((c.output_bytes() for c in clients), default=0)
    return [
        ("connected_clients", len(clients)),
        ("cluster_connections", 0),
        ("maxclients", server.config["maxclients"]),
        ("client_recent_max_input_buffer", max_in),
        ("client_recent_max_output_buffer", max_out),
        ("blocked_clients", 0),
        ("tracking_clients", 0),
        ("clients_in_timeout_table", 0),
        # Redis 7.2 additions.
        ("total_blocking_keys", 0),
        ("total_blocking_keys_on_nokey", 0),
    ]


def _memory(server: Server) -> Fields:
    state = _state(server)
    used = rss_bytes()
    if used > state.peak_memory:
        state.peak_memory = used
    peak = state.peak_memory
    startup = min(state.startup_memory, used)
    clients_mem = sum(c.query_bytes() + c.output_bytes() for c in _live_clients(server))
    overhead = startup + clients_mem
    dataset = max(used - overhead, 0)
    net = used - startup
    total_system = _total_system_memory()
    maxmemory = server.config["maxmemory"]
    return [
        ("used_memory", used),
        ("used_memory_human", bytes_to_human(used)),
        ("used_memory_rss", used),
        ("used_memory_rss_human", bytes_to_human(used)),
        ("used_memory_peak", peak),
        ("used_memory_peak_human", bytes_to_human(peak)),
        ("used_memory_peak_perc", f"{used * 100 / peak:.2f}%" if peak else "0.00%"),
        ("used_memory_overhead", overhead),
        ("used_memory_startup", startup),
        ("used_memory_dataset", dataset),
        ("used_memory_dataset_perc", f"{dataset * 100 / net:.2f}%" if net > 0 else "0.00%"),
        ("total_system_memory", total_system),
        ("total_system_memory_human", bytes_to_human(total_system)),
        # Lua scripting (idle values: cairn.scripting reports its own).
        ("used_memory_lua", 0),
        ("used_memory_vm_eval", 0),
        ("used_memory_lua_human", "0B"),
        ("used_memory_scripts_eval", 0),
        ("number_of_cached_scripts", 0),
        ("number_of_functions", 0),
        ("number_of_libraries", 0),
        ("used_memory_vm_functions", 0),
        ("used_memory_vm_total", 0),
        ("used_memory_vm_total_human", "0B"),
        ("used_memory_functions", 0),
        ("used_memory_scripts", 0),
        ("used_memory_scripts_human", "0B"),
        ("maxmemory", maxmemory),
        ("maxmemory_human", bytes_to_human(maxmemory)),
        ("maxmemory_policy", server.config["maxmemory-policy"]),
        # used_memory is the RSS, so the ratio is 1 by construction.
        ("mem_fragmentation_ratio", "1.00"),
        ("mem_fragmentation_bytes", 0),
        ("mem_not_counted_for_evict", 0),
        ("mem_replication_backlog", 0),
        ("mem_total_replication_buffers", 0),
        ("mem_clients_slaves", 0),
        ("mem_clients_normal", clients_mem),
        ("mem_cluster_links", 0),
        ("mem_aof_buffer", 0),
        ("mem_allocator", "pymalloc"),
        ("active_defrag_running", 0),
        ("lazyfree_pending_objects", 0),
        ("lazyfreed_objects", 0),
    ]


def _persistence(server: Server) -> Fields:
    config = server.config
    aof = bool(config["appendonly"])
    fields: Fields = [
        ("loading", 0),
        ("async_loading", 0),
        ("current_cow_peak", 0),
        ("current_cow_size", 0),
        ("current_cow_size_age", 0),
        ("current_fork_perc", "0.00"),
        ("current_save_keys_processed", 0),
        ("current_save_keys_total", 0),
        ("rdb_changes_since_last_save", server.dirty),
        ("rdb_bgsave_in_progress", 0),
        ("rdb_last_save_time", server.lastsave),
        ("rdb_last_bgsave_status", "ok"),
        ("rdb_last_bgsave_time_sec", -1),
        ("rdb_current_bgsave_time_sec", -1),
        ("rdb_saves", 0),
        ("rdb_last_cow_size", 0),
        ("rdb_last_load_keys_expired", 0),
        ("rdb_last_load_keys_loaded", 0),
        ("aof_enabled", 1 if aof else 0),
        ("aof_rewrite_in_progress", 0),
        ("aof_rewrite_scheduled", 0),
        ("aof_last_rewrite_time_sec", -1),
        ("aof_current_rewrite_time_sec", -1),
        ("aof_last_bgrewrite_status", "ok"),
        ("aof_rewrites", 0),
        ("aof_rewrites_consecutive_failures", 0),
        ("aof_last_write_status", "ok" if server.log.failure is None else "err"),
        ("aof_last_cow_size", 0),
        ("module_fork_in_progress", 0),
        ("module_fork_last_cow_size", 0),
    ]
    if aof:
        fields += [
            ("aof_current_size", 0),
            ("aof_base_size", 0),
            ("aof_pending_rewrite", 0),
            ("aof_buffer_length", 0),
            ("aof_pending_bio_fsync", 0),
            ("aof_delayed_fsync", 0),
        ]
    fields.append(("durability", config["durability"]))
    log_info = getattr(server.log, "info", None)
    if log_info is not None:
        fields += [(f"cairn_{name}", value) for name, value in log_info().items()]
    fields += [
        ("cairn_recovered_records", server.recovered_records),
        ("cairn_recovery_seconds", f"{server.recovery_seconds:.3f}"),
        ("cairn_log_failure", server.log.failure or ""),
    ]
    return fields


def _stats(server: Server) -> Fields:
    state = _state(server)
    keyspace = server.keyspace
    return [
        ("total_connections_received", server.stat_connections),
        ("total_commands_processed", server.stat_commands),
        ("instantaneous_ops_per_sec", int(_mean(state.ops))),
        ("total_net_input_bytes", server.stat_net_input),
        ("total_net_output_bytes", server.stat_net_output),
        ("total_net_repl_input_bytes", 0),
        ("total_net_repl_output_bytes", 0),
        ("instantaneous_input_kbps", f"{_mean(state.kbps_in):.2f}"),
        ("instantaneous_output_kbps", f"{_mean(state.kbps_out):.2f}"),
        ("instantaneous_input_repl_kbps", "0.00"),
        ("instantaneous_output_repl_kbps", "0.00"),
        ("rejected_connections", server.stat_rejected_conn),
        ("sync_full", 0),
        ("sync_partial_ok", 0),
        ("sync_partial_err", 0),
        ("expired_keys", keyspace.stat_expired_keys),
        ("expired_stale_perc", "0.00"),
        ("expired_time_cap_reached_count", 0),
        ("evicted_keys", 0),
        ("evicted_clients", 0),
        ("total_eviction_exceeded_time", 0),
        ("current_eviction_exceeded_time", 0),
        ("keyspace_hits", keyspace.stat_hits),
        ("keyspace_misses", keyspace.stat_misses),
        ("pubsub_channels", 0),
        ("pubsub_patterns", 0),
        ("pubsubshard_channels", 0),
        ("latest_fork_usec", 0),
        ("total_forks", 0),
        ("migrate_cached_sockets", 0),
        ("slave_expires_tracked_keys", 0),
        ("active_defrag_hits", 0),
        ("active_defrag_misses", 0),
        ("active_defrag_key_hits", 0),
        ("active_defrag_key_misses", 0),
        ("total_active_defrag_time", 0),
        ("current_active_defrag_time", 0),
        ("tracking_total_keys", 0),
        ("tracking_total_items", 0),
        ("tracking_total_prefixes", 0),
        ("unexpected_error_replies", 0),
        ("total_error_replies", server.total_error_replies),
        ("dump_payload_sanitizations", 0),
        ("io_threaded_reads_processed", 0),
        ("io_threaded_writes_processed", 0),
    ]


def _replication(server: Server) -> Fields:
    if server.replication is not None:
        fields: Fields = list(server.replication.info())
        fields.append(("master_repl_offset", server.log.committed))
        return fields
    return [
        ("role", "master"),
        ("connected_slaves", 0),
        ("master_failover_state", "no-failover"),
        ("master_replid", _state(server).replid),
        ("master_replid2", "0" * 40),
        ("master_repl_offset", 0),
        ("second_repl_offset", -1),
        ("repl_backlog_active", 0),
        ("repl_backlog_size", 1048576),
        ("repl_backlog_first_byte_offset", 0),
        ("repl_backlog_histlen", 0),
    ]


def _seconds(value: float) -> str:
    return f"{value:.6f}"


def _cpu(server: Server) -> Fields:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    fields: Fields = [
        ("used_cpu_sys", _seconds(own.ru_stime)),
        ("used_cpu_user", _seconds(own.ru_utime)),
        ("used_cpu_sys_children", _seconds(children.ru_stime)),
        ("used_cpu_user_children", _seconds(children.ru_utime)),
    ]
    thread_usage = getattr(resource, "RUSAGE_THREAD", None)
    if thread_usage is not None:
        main = resource.getrusage(thread_usage)
        fields += [
            ("used_cpu_sys_main_thread", _seconds(main.ru_stime)),
            ("used_cpu_user_main_thread", _seconds(main.ru_utime)),
        ]
    return fields


def _modules(server: Server) -> Fields:
    return []


def _commandstats(server: Server) -> Fields:
    fields: Fields = []
    for cmd in server.registry.all():
        if not (cmd.calls or cmd.rejected_calls or cmd.failed_calls):
            continue
        per_call = cmd.usec / cmd.calls if cmd.calls else 0.0
        fields.append(
            (
                f"cmdstat_{cmd.name}",
                f"calls={cmd.calls},usec={cmd.usec},usec_per_call={per_call:.2f},"
                f"rejected_calls={cmd.rejected_calls},failed_calls={cmd.failed_calls}",
            )
        )
    return fields


def _errorstats(server: Server) -> Fields:
    # Redis keeps error codes in a radix tree, so they come out in byte order.
    return [(f"errorstat_{code}", f"count={count}") for code, count in sorted(server.error_stats.items())]


def _cluster(server: Server) -> Fields:
    return [("cluster_enabled", 1 if server.config["cluster-enabled"] else 0)]


def _avg_ttl(db: Any, now_ms: int) -> int:
    expires = db.expires
    if not expires:
        return 0
    total = 0
    count = 0
    # Like Redis this is an estimate: a bounded sample of the keys with a TTL.
    for when in expires.values():
        if when > now_ms:
            total += when - now_ms
            count += 1
        if count >= 1000:
            break
    return total // count if count else 0


def _keyspace(server: Server) -> Fields:
    now_ms = int(time.time() * 1000)
    fields: Fields = []
    for db in server.keyspace.dbs:
        keys = len(db.data)
        if keys:
            fields.append(
                (f"db{db.id}", f"keys={keys},expires={len(db.expires)},avg_ttl={_avg_ttl(db, now_ms)}")
            )
    return fields


_BUILDERS: dict[str, Callable[[Server], Fields]] = {
    "server": _server,
    "clients": _clients,
    "memory": _memory,
    "persistence": _persistence,
    "stats": _stats,
    "replication": _replication,
    "cpu": _cpu,
    "modules": _modules,
    "commandstats": _commandstats,
    "errorstats": _errorstats,
    "cluster": _cluster,
    "keyspace": _keyspace,
}


def section_fields(server: Server, name: str) -> Fields:
    """The (field, value) pairs of one section, with subsystem providers applied."""
    fields = _BUILDERS[name](server)
    providers = _PROVIDERS.get(name)
    if providers:
        index = {field: i for i, (field, _) in enumerate(fields)}
        for provider in providers:
            for field, value in provider(server):
                at = index.get(field)
                if at is None:
                    index[field] = len(fields)
                    fields.append((field, value))
                else:
                    fields[at] = (field, value)
    return fields


def select_sections(args: list[bytes]) -> list[str]:
    """Which sections INFO [section ...] asks for, in Redis' order."""
    if not args:
        wanted: set[str] = set(DEFAULT_SECTIONS)
    else:
        wanted = set()
        for arg in args:
            name = arg.decode("utf-8", "surrogateescape").lower()
            if name == "default":
                wanted |= DEFAULT_SECTIONS
            elif name in ("all", "everything"):
                wanted |= ALL_SECTIONS
            else:
                wanted.add(name)
    return [name for name, _ in SECTIONS if name in wanted]


def render(server: Server, sections: list[str]) -> bytes:
    """INFO's text: ``# Title`` then ``field:value`` lines, sections separated by a blank line."""
    titles = dict(SECTIONS)
    parts: list[str] = []
    for name in sections:
        lines = [f"# {titles[name]}"]
        lines.extend(f"{field}:{value}" for field, value in section_fields(server, name))
        parts.append("\r\n".join(lines) + "\r\n")
    return "\r\n".join(parts).encode("utf-8", "surrogateescape")


def info_text(server: Server, args: list[bytes]) -> bytes:
    return render(server, select_sections(args))
