"""Server administration: INFO TIME LASTSAVE SLOWLOG LATENCY MONITOR SHUTDOWN DEBUG.

CONFIG RESETSTAT (in config.py) calls ``reset_stats``; the dispatcher feeds the
slow log and MONITOR; ``record_latency`` is the entry point of the latency monitor.
"""

from __future__ import annotations

import re
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from cairn.commands import errors
from cairn.commands.args import to_int
from cairn.commands.context import Client, Server
from cairn.commands.errors import CommandError
from cairn.commands.registry import command, container
from cairn.observability import info as info_mod
from cairn.protocol import OK, Status, Verbatim

G = "server"


def _help(lines: list[str]) -> list[Status]:
    return [Status(line) for line in lines]


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def reset_stats(server: Server) -> None:
    """CONFIG RESETSTAT: zero the statistics INFO reports (not the slow log)."""
    for cmd in server.registry.all():
        cmd.calls = 0
        cmd.usec = 0
        cmd.rejected_calls = 0
        cmd.failed_calls = 0
    server.error_stats.clear()
    server.total_error_replies = 0
    server.stat_commands = 0
    server.stat_connections = 0
    server.stat_rejected_conn = 0
    server.stat_net_input = 0
    server.stat_net_output = 0
    keyspace = server.keyspace
    keyspace.stat_hits = 0
    keyspace.stat_misses = 0
    keyspace.stat_expired_keys = 0
    info_mod.reset_instantaneous(server)


# -- INFO TIME LASTSAVE --------------------------------------------------------


@command("info", -1, "loading stale sentinel",
         tips="nondeterministic_output request_policy:all_shards response_policy:special",
         history=(("7.0.0", "Added support for taking multiple section arguments."),),
         group=G, since="1.0.0", acl="dangerous",
         summary="Reports server information and statistics, by section.", complexity="O(1)")
def info(c: Client, argv: list[bytes]) -> Any:
    return Verbatim(info_mod.info_text(c.server, argv[1:]))


@command("time", 1, "loading stale fast",
         tips="nondeterministic_output",
         group=G, since="2.6.0",
         summary="Returns the server's clock.", complexity="O(1)")
def time_(c: Client, argv: list[bytes]) -> Any:
    now_us = time.time_ns() // 1000
    return [b"%d" % (now_us // 1_000_000), b"%d" % (now_us % 1_000_000)]


@command("lastsave", 1, "loading stale fast",
         tips="nondeterministic_output",
         group=G, since="1.0.0", acl="admin dangerous",
         summary="Returns the Unix time of the last successful snapshot.", complexity="O(1)")
def lastsave(c: Client, argv: list[bytes]) -> Any:
    return c.server.lastsave


# -- SLOWLOG -------------------------------------------------------------------

container("slowlog", group=G, since="2.2.12", summary="A container for slow log commands.")

_SLOWLOG_HELP = [
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
]


@command("slowlog|help", 2, "loading stale", group=G, since="6.2.0",
         summary="Shows what SLOWLOG can do.", complexity="O(1)")
def slowlog_help(c: Client, argv: list[bytes]) -> Any:
    return _help(_SLOWLOG_HELP)


def _subcommand_syntax(container_name: str, sub: bytes) -> CommandError:
    return CommandError(
        f"ERR unknown subcommand or wrong number of arguments for '{_text(sub)[:128]}'. "
        f"Try {container_name} HELP."
    )


@command("slowlog|get", -2, "admin loading stale",
         tips="request_policy:all_nodes nondeterministic_output",
         history=(("4.0.0", "Added client IP address, port and name to the reply."),),
         group=G, since="2.2.12",
         summary="Returns entries of the slow log, newest first.",
         complexity="O(N) where N is the number of entries returned")
def slowlog_get(c: Client, argv: list[bytes]) -> Any:
    if len(argv) > 3:
        raise _subcommand_syntax("SLOWLOG", argv[1])
    count = 10
    if len(argv) == 3:
        parsed = to_int(argv[2])
        if parsed is None or parsed < -1:
            raise CommandError("ERR count should be greater than or equal to -1")
        count = parsed
    entries = c.server.slowlog
    if count == -1 or count > len(entries):
        count = len(entries)
    out = []
    for i in range(count):
        entry_id, when, usec, args, addr, name = entries[i]
        out.append([entry_id, when, usec, list(args), addr.encode(), name])
    return out


@command("slowlog|len", 2, "admin loading stale",
         tips="request_policy:all_nodes response_policy:agg_sum nondeterministic_output",
         group=G, since="2.2.12",
         summary="Returns the number of entries in the slow log.", complexity="O(1)")
def slowlog_len(c: Client, argv: list[bytes]) -> Any:
    return len(c.server.slowlog)


@command("slowlog|reset", 2, "admin loading stale",
         tips="request_policy:all_nodes response_policy:all_succeeded",
         group=G, since="2.2.12",
         summary="Clears the slow log.", complexity="O(N) where N is the number of entries in the slowlog")
def slowlog_reset(c: Client, argv: list[bytes]) -> Any:
    c.server.slowlog.clear()
    return OK


# -- LATENCY -------------------------------------------------------------------

container("latency", group=G, since="2.8.13", summary="A container for latency diagnostics commands.")

LATENCY_HISTORY_LEN = 160

_LATENCY_HELP = [
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HELP",
    "    Prints this help.",
]


def record_latency(server: Server, event: str, latency_ms: int) -> None:
    """Add one latency sample (milliseconds) for an event, when it reaches the threshold.

    Samples of the same second are merged (the highest is kept), as Redis does.
    """
    threshold = server.config["latency-monitor-threshold"]
    if not threshold or latency_ms < threshold:
        return
    now = int(time.time())
    samples = server.latency_events.get(event)
    if samples is None:
        samples = server.latency_events[event] = deque(maxlen=LATENCY_HISTORY_LEN)
    if samples and samples[-1][0] == now:
        if latency_ms > samples[-1][1]:
            samples[-1] = (now, latency_ms)
    else:
        samples.append((now, latency_ms))
    if latency_ms > server.latency_max.get(event, 0):
        server.latency_max[event] = latency_ms


@command("latency|help", 2, "loading stale", group=G, since="2.8.13",
         summary="Shows what LATENCY can do.", complexity="O(1)")
def latency_help(c: Client, argv: list[bytes]) -> Any:
    return _help(_LATENCY_HELP)


@command("latency|latest", 2, "admin noscript loading stale",
         tips="nondeterministic_output request_policy:all_nodes response_policy:special",
         group=G, since="2.8.13",
         summary="Returns the newest latency sample of every event.", complexity="O(1)")
def latency_latest(c: Client, argv: list[bytes]) -> Any:
    server = c.server
    out = []
    for event, samples in server.latency_events.items():
        if not samples:
            continue
        when, latency = samples[-1]
        out.append([event.encode(), when, latency, server.latency_max.get(event, latency)])
    return out


@command("latency|history", 3, "admin noscript loading stale",
         tips="nondeterministic_output request_policy:all_nodes response_policy:special",
         group=G, since="2.8.13",
         summary="Returns the (time, latency) samples of one event.", complexity="O(1)")
def latency_history(c: Client, argv: list[bytes]) -> Any:
    samples = c.server.latency_events.get(_text(argv[2]), ())
    return [[when, latency] for when, latency in samples]


@command("latency|reset", -2, "admin noscript loading stale",
         tips="request_policy:all_nodes response_policy:agg_sum",
         group=G, since="2.8.13",
         summary="Forgets the samples of some or all events.", complexity="O(1)")
def latency_reset(c: Client, argv: list[bytes]) -> Any:
    server = c.server
    if len(argv) == 2:
        count = len(server.latency_events)
        server.latency_events.clear()
        server.latency_max.clear()
        return count
    count = 0
    for raw in argv[2:]:
        event = _text(raw)
        if server.latency_events.pop(event, None) is not None:
            count += 1
        server.latency_max.pop(event, None)
    return count


@command("latency|doctor", 2, "admin noscript loading stale",
         tips="nondeterministic_output request_policy:all_nodes response_policy:special",
         group=G, since="2.8.13",
         summary="Describes the recorded latency events in plain words.", complexity="O(1)")
def latency_doctor(c: Client, argv: list[bytes]) -> Any:
    server = c.server
    threshold = server.config["latency-monitor-threshold"]
    if not threshold:
        text = (
            "The latency monitor is disabled: no samples are recorded. Enable it with "
            "CONFIG SET latency-monitor-threshold <milliseconds>.\n"
        )
        return Verbatim(text.encode())
    events = [(e, s) for e, s in server.latency_events.items() if s]
    if not events:
        text = f"No event took {threshold} milliseconds or more since the monitor was enabled.\n"
        return Verbatim(text.encode())
    lines = [f"Latency events of {threshold} milliseconds or more:", ""]
    for n, (event, samples) in enumerate(events, 1):
        values = [latency for _, latency in samples]
        average = sum(values) / len(values)
        first = samples[0][0]
        lines.append(
            f"{n}. {event}: {len(values)} latency spikes (average {average:.0f}ms, "
            f"worst {server.latency_max.get(event, max(values))}ms, "
            f"first seen {int(time.time()) - first} seconds ago)."
        )
    return Verbatim(("\n".join(lines) + "\n").encode())


@command("latency|graph", 3, "admin noscript loading stale",
         tips="nondeterministic_output request_policy:all_nodes response_policy:special",
         group=G, since="2.8.13",
         summary="Draws the samples of one event as text.", complexity="O(1)")
def latency_graph(c: Client, argv: list[bytes]) -> Any:
    server = c.server
    event = _text(argv[2])
    samples = server.latency_events.get(event)
    if not samples:
        raise CommandError(f"ERR No samples available for event '{event}'")
    values = [latency for _, latency in samples]
    high, low = max(values), min(values)
    now = int(time.time())
    lines = [
        f"{event} - high {high} ms, low {low} ms (all time high "
        f"{server.latency_max.get(event, high)} ms)",
        "-" * 60,
    ]
    for when, latency in samples:
        bar = "#" * max(1, round(40 * latency / high)) if high else ""
        lines.append(f"{now - when:>8}s ago {latency:>8} ms |{bar}")
    return Verbatim(("\n".join(lines) + "\n").encode())


# -- MONITOR -------------------------------------------------------------------


@command("monitor", 1, "admin noscript loading stale", group=G, since="1.0.0",
         summary="Streams every command the server runs.")
def monitor(c: Client, argv: list[bytes]) -> Any:
    server = c.server
    # Frozen command time means we run inside EXEC (or a script): a client that
    # expects one reply per command cannot become a monitor there.
    if server.keyspace.frozen_time:
        raise CommandError("ERR MONITOR isn't allowed for DENY BLOCKING client")
    if c.is_monitor:
        # Already monitoring: Redis sends no reply at all.
        if c.reply_mode == "on":
            c.reply_mode = "skip"
        return OK
    c.is_monitor = True
    server.monitors.append(c)
    return OK


# -- SHUTDOWN ------------------------------------------------------------------

_SHUTDOWN_FAILED = "ERR Errors trying to SHUTDOWN. Check logs."


@command("shutdown", -1, "admin noscript loading stale no_multi sentinel allow_busy",
         history=(("7.0.0", "Added the `NOW`, `FORCE` and `ABORT` modifiers."),), group=G,
         since="1.0.0", summary="Stops the server, after the log is flushed.",
         complexity="O(N) when saving, where N is the number of keys in all databases when "
         "saving data, otherwise O(1)")
def shutdown(c: Client, argv: list[bytes]) -> Any:
    save = nosave = now = force = abort = False
    for arg in argv[1:]:
        opt = arg.lower()
        if opt == b"nosave":
            nosave = True
        elif opt == b"save":
            save = True
        elif opt == b"now":
            now = True
        elif opt == b"force":
            force = True
        elif opt == b"abort":
            abort = True
        else:
            raise CommandError(errors.SYNTAX)
    if (save and nosave) or (abort and len(argv) > 2):
        raise CommandError(errors.SYNTAX)
    del now  # nothing to wait for: Cairn has no replicas to let catch up here
    server = c.server
    if abort:
        # A shutdown starts and completes within this command: none is ever pending.
        raise CommandError("ERR No shutdown in progress.")
    if save and server.config["durability"] == "none" and not force:
        # Nothing can be saved without a log; SAVE asked for it, so refuse.
        raise CommandError(_SHUTDOWN_FAILED)
    request = server.shutdown_requested
    if request is None:
        raise CommandError(_SHUTDOWN_FAILED)
    request()
    # Like Redis, a successful SHUTDOWN sends no reply: the connection just closes.
    c.close()
    return OK


# -- DEBUG ---------------------------------------------------------------------

_DEBUG_NOT_ALLOWED = (
    'ERR DEBUG command not allowed. If the enable-debug-command option is set to "local", '
    "you can run it from a local connection, otherwise you need to set this option in the "
    "configuration file, and then restart the server."
)

DebugHandler = Callable[[Client, list[bytes]], Any]
# name -> (argc including "DEBUG <sub>", handler); other modules may add entries.
DEBUG_SUBCOMMANDS: dict[bytes, tuple[int, DebugHandler]] = {}

_DEBUG_HELP_LINES: list[tuple[str, str]] = [
    ("OBJECT <key>", "Show low level info about `key` and associated value."),
    ("SET-ACTIVE-EXPIRE <0|1>",
     "Setting it to 0 disables expiring keys in background when they are not\n"
     "accessed (otherwise the Redis behavior). Setting it to 1 reenables back the\n"
     "default."),
    ("SLEEP <seconds>", "Stop the server for <seconds>. Decimals allowed."),
]


def _is_local(c: Client) -> bool:
    addr = c.addr
    return not addr or addr.startswith("127.") or addr.startswith("[::1]") or addr.startswith("/")


def _debug_allowed(c: Client) -> bool:
    mode = c.server.config["enable-debug-command"]
    return mode == "yes" or (mode == "local" and _is_local(c))


@command("debug", -2, "admin noscript loading stale protected", group=G, since="1.0.0",
         doc_flags=("syscmd",), summary="Debugging and testing helpers.",
         complexity="Depends on subcommand.")
def debug(c: Client, argv: list[bytes]) -> Any:
    if not _debug_allowed(c):
        raise CommandError(_DEBUG_NOT_ALLOWED)
    sub = argv[1].lower()
    if sub == b"help" and len(argv) == 2:
        lines = ["DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"]
        for usage, text in _DEBUG_HELP_LINES:
            lines.append(usage)
            lines.extend("    " + part for part in text.split("\n"))
        lines += ["HELP", "    Prints this help."]
        return _help(lines)
    entry = DEBUG_SUBCOMMANDS.get(sub)
    if entry is None or entry[0] != len(argv):
        raise _subcommand_syntax("DEBUG", argv[1])
    return entry[1](c, argv)


_FLOAT_PREFIX = re.compile(rb"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _strtod(value: bytes) -> float:
    """C's strtod as Redis uses it here: the longest numeric prefix, else 0."""
    match = _FLOAT_PREFIX.match(value)
    return float(match.group()) if match else 0.0


def _debug_sleep(c: Client, argv: list[bytes]) -> Any:
    seconds = _strtod(argv[2])
    if seconds > 0:
        # Blocks the event loop on purpose: that is what DEBUG SLEEP is for.
        time.sleep(seconds)
    return OK


def _debug_set_active_expire(c: Client, argv: list[bytes]) -> Any:
    match = re.match(rb"\s*[+-]?\d+", argv[2])
    c.server.keyspace.active_expire_enabled = bool(match and int(match.group()))
    return OK


def _string_encoding(value: bytes | bytearray) -> str:
    # Same rules as OBJECT ENCODING (keys.string_encoding); kept here as a fallback.
    try:
        from cairn.commands.keys import string_encoding
    except ImportError:
        if type(value) is bytearray:
            return "raw"
        if len(value) <= 20 and to_int(value) is not None:
            return "int"
        return "embstr" if len(value) <= 44 else "raw"
    return string_encoding(value)


def value_encoding(value: Any, config: Any) -> str:
    """What OBJECT ENCODING reports for a stored value."""
    if type(value) is bytes or type(value) is bytearray:
        return _string_encoding(value)
    return str(value.encoding(config))


def _rdb_length_size(n: int) -> int:
    if n < 64:
        return 1
    if n < 16384:
        return 2
    return 5 if n <= 0xFFFFFFFF else 9


def _serialized_length(value: Any, encoding: str) -> int:
    """RDB size of a string value (without LZF compression); a rough estimate otherwise."""
    if type(value) is bytes or type(value) is bytearray:
        if encoding == "int":
            n = int(value)
            if -(2**7) <= n < 2**7:
                return 2
            if -(2**15) <= n < 2**15:
                return 3
            if -(2**31) <= n < 2**31:
                return 5
        return _rdb_length_size(len(value)) + len(value)
    try:
        return _rdb_length_size(len(value)) + sys.getsizeof(value)
    except TypeError:
        return 0


def _debug_object(c: Client, argv: list[bytes]) -> Any:
    db = c.db
    key = argv[2]
    value = db.lookup(key, touch=False)
    if value is None:
        raise CommandError(errors.NO_SUCH_KEY)
    config = c.server.config
    encoding = value_encoding(value, config)
    atime = db.atime.get(key, c.server.keyspace.lru_clock)
    idle = max(0, int(time.time()) - atime)
    refcount = 1
    policy = config["maxmemory-policy"]
    shared = not (config["maxmemory"] and ("lru" in policy or "lfu" in policy))
    if encoding == "int" and shared and 0 <= int(value) < 10000:
        refcount = 2147483647  # Redis shares small integers (unless LRU/LFU eviction is on)
    return Status(
        f"Value at:0x{id(value):x} refcount:{refcount} encoding:{encoding} "
        f"serializedlength:{_serialized_length(value, encoding)} lru:{atime & 0xFFFFFF} "
        f"lru_seconds_idle:{idle}"
    )


DEBUG_SUBCOMMANDS[b"sleep"] = (3, _debug_sleep)
DEBUG_SUBCOMMANDS[b"set-active-expire"] = (3, _debug_set_active_expire)
DEBUG_SUBCOMMANDS[b"object"] = (3, _debug_object)
