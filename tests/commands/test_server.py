"""INFO TIME LASTSAVE SLOWLOG LATENCY MONITOR SHUTDOWN DEBUG, mostly differential.

The oracle is Redis 7.0.15; Cairn follows 7.2. Where they differ (INFO's
listener0 and total_blocking_keys* fields) the test says so.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import pytest
from harness import Pair, RawClient, ServerProcess, encode_command, start_cairn, start_redis

import cairn.commands  # noqa: F401  (registers every command)
from cairn.commands.context import Client, Server
from cairn.commands.dispatch import execute
from cairn.commands.server import record_latency, reset_stats
from cairn.observability import info as info_mod

# -- fixtures ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def debug_cairn() -> Iterator[ServerProcess]:
    """A Cairn of our own: DEBUG enabled, every command slow-logged."""
    proc = start_cairn(["--durability", "none", "--enable-debug-command", "yes",
                        "--slowlog-log-slower-than", "0"])
    yield proc
    proc.stop()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def dpair(request: pytest.FixtureRequest, redis_server: ServerProcess,
          debug_cairn: ServerProcess) -> Iterator[Pair]:
    for port in (redis_server.port, debug_cairn.port):
        c = RawClient(port)
        c.raw("FLUSHALL")
        c.close()
    p = Pair(redis_server.port, debug_cairn.port, request.param)
    yield p
    p.close()


# -- INFO -------------------------------------------------------------------------


def _text(reply: bytes) -> str:
    head, _, rest = reply.partition(b"\r\n")
    assert head[:1] in (b"$", b"="), reply
    body = rest[: int(head[1:])]
    if head[:1] == b"=":
        assert body[:4] == b"txt:"
        body = body[4:]
    return body.decode()


def _sections(text: str) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.split("\r\n"):
        if line.startswith("# "):
            current = sections.setdefault(line[2:], [])
        elif line:
            key, _, value = line.partition(":")
            current.append((key, value))
    return sections


def _info(client: RawClient, *sections: str) -> dict[str, list[tuple[str, str]]]:
    return _sections(_text(client.raw("INFO", *sections)))


def _field(client: RawClient, section: str, name: str) -> str:
    return dict(_info(client, section)[section.capitalize() if section != "cpu" else "CPU"])[name]


# What Cairn prints beyond the 7.0 oracle, per section.
EXTRA = {
    # Redis 7.2 lists its listeners; cairn_version is ours.
    "Server": {"listener0", "cairn_version"},
    # Redis 7.2 additions.
    "Clients": {"total_blocking_keys", "total_blocking_keys_on_nokey"},
    # Cairn's durability mode (local / none).
    "Persistence": {"durability", "aof_current_size", "aof_base_size", "aof_pending_rewrite",
                    "aof_buffer_length", "aof_pending_bio_fsync", "aof_delayed_fsync"},
}
# What the oracle prints that Cairn does not, and why.
OMITTED = {
    # C build facts with no meaning for a Python server.
    "Server": {"atomicvar_api", "gcc_version"},
    # jemalloc internals, and Lua/function memory that the scripting subsystem reports
    # through info.register_fields when it exists.
    "Memory": {
        "allocator_allocated", "allocator_active", "allocator_resident", "allocator_frag_ratio",
        "allocator_frag_bytes", "allocator_rss_ratio", "allocator_rss_bytes",
        "rss_overhead_ratio", "rss_overhead_bytes", "used_memory_lua", "used_memory_vm_eval",
        "used_memory_lua_human", "used_memory_scripts_eval", "number_of_cached_scripts",
        "number_of_functions", "number_of_libraries", "used_memory_vm_functions",
        "used_memory_vm_total", "used_memory_vm_total_human", "used_memory_functions",
        "used_memory_scripts", "used_memory_scripts_human",
    },
    # Counters Cairn does not keep (no expire-cycle CPU accounting, no reply buffers).
    "Stats": {"expire_cycle_cpu_milliseconds", "total_reads_processed", "total_writes_processed",
              "reply_buffer_shrinks", "reply_buffer_expands"},
}
FIXED_SECTIONS = ("Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU",
                  "Modules", "Cluster")


def test_info_field_names_match_redis(pair2: Pair) -> None:
    real = _info(pair2.real, "everything")
    cairn = _info(pair2.cairn, "everything")
    for name in FIXED_SECTIONS:
        real_keys = [k for k, _ in real[name]]
        cairn_keys = [k for k, _ in cairn[name]]
        # cairn_* fields are Cairn's own additions.
        extra = {k for k in set(cairn_keys) - set(real_keys) if not k.startswith("cairn_")}
        missing = set(real_keys) - set(cairn_keys)
        assert extra <= EXTRA.get(name, set()), (name, extra)
        assert missing <= OMITTED.get(name, set()), (name, missing)
        # Shared fields come in Redis' order.
        assert [k for k in cairn_keys if k in real_keys] == [k for k in real_keys if k in cairn_keys]
        assert len(cairn_keys) == len(set(cairn_keys))


def test_info_section_selection(pair: Pair) -> None:
    def headers(client: RawClient, *args: str) -> list[str]:
        text = _text(client.raw("INFO", *args))
        return [line for line in text.split("\r\n") if line.startswith("#")]

    for args in [(), ("default",), ("server",), ("CPU", "cluster", "server"), ("keyspace",),
                 ("cluster", "cluster"), ("default", "commandstats"), ("all",), ("everything",),
                 ("nosuchsection",), ("modules",), ("errorstats",), ("commandstats",)]:
        real = headers(pair.real, *args)
        # Cairn keeps no per-command latency histograms: no Latencystats section.
        real = [h for h in real if h != "# Latencystats"]
        assert headers(pair.cairn, *args) == real, args
    # Whole-reply framing: verbatim "txt" in RESP3, bulk in RESP2, blank line between sections.
    pair.check("INFO", "nosuchsection")
    pair.check("INFO", "cluster")
    pair.check("INFO", "keyspace")
    pair.check("INFO", "modules")
    pair.check("INFO", "keyspace", "cluster")
    real, cairn = pair.both("INFO", "cluster", "keyspace", "modules")
    assert real[:1] == cairn[:1]


def test_info_values(pair2: Pair) -> None:
    cairn = _info(pair2.cairn)
    server = dict(cairn["Server"])
    assert server["redis_version"] == "7.2.4"
    assert server["redis_mode"] == "standalone"
    assert int(server["tcp_port"]) == pair2.cairn.port
    assert re.fullmatch(r"\d+\.\d+\.\d+", server["cairn_version"])
    assert server["listener0"] == f"name=tcp,bind=127.0.0.1,port={pair2.cairn.port}"
    assert abs(int(server["server_time_usec"]) / 1e6 - time.time()) < 5
    assert int(server["lru_clock"]) == int(time.time()) & 0xFFFFFF or \
        abs(int(server["lru_clock"]) - (int(time.time()) & 0xFFFFFF)) <= 2
    memory = dict(cairn["Memory"])
    used = int(memory["used_memory"])
    assert used > 1_000_000
    assert re.fullmatch(r"\d+\.\d\d[KMG]", memory["used_memory_human"])
    assert memory["maxmemory"] == "0" and memory["maxmemory_human"] == "0B"
    assert memory["maxmemory_policy"] == "noeviction"
    assert int(memory["used_memory_peak"]) >= used
    persistence = dict(cairn["Persistence"])
    assert persistence["loading"] == "0"
    assert persistence["durability"] == "none"  # the session server runs --durability none
    assert persistence["aof_enabled"] in ("0", "1")
    assert abs(int(persistence["rdb_last_save_time"]) - time.time()) < 3600
    assert dict(cairn["Replication"])["role"] == "master"
    cpu = dict(cairn["CPU"])
    assert all(re.fullmatch(r"\d+\.\d{6}", v) for v in cpu.values())
    # At least this connection (a just-closed one may not be reaped yet).
    assert int(dict(cairn["Clients"])["connected_clients"]) >= 1


def test_info_counters_move_like_redis(pair2: Pair) -> None:
    def snapshot(client: RawClient) -> dict[str, int]:
        info = _info(client, "stats", "persistence")
        stats, persistence = dict(info["Stats"]), dict(info["Persistence"])
        return {
            "hits": int(stats["keyspace_hits"]),
            "misses": int(stats["keyspace_misses"]),
            "commands": int(stats["total_commands_processed"]),
            "errors": int(stats["total_error_replies"]),
            "dirty": int(persistence["rdb_changes_since_last_save"]),
        }

    before = {c: snapshot(c) for c in (pair2.real, pair2.cairn)}
    for client in (pair2.real, pair2.cairn):
        client.raw("SET", "k", "v")
        client.raw("SET", "k2", "v")
        client.raw("GET", "k")
        client.raw("GET", "missing")
        client.raw("GET", "missing2")
        client.raw("NOSUCHCOMMAND")
        client.raw("GET", "k", "extra")
    deltas = []
    for client in (pair2.real, pair2.cairn):
        after = snapshot(client)
        deltas.append({k: after[k] - before[client][k] for k in after})
    assert deltas[1] == deltas[0]


def _cmdstat(client: RawClient, name: str) -> dict[str, str] | None:
    stats = dict(_info(client, "commandstats")["Commandstats"])
    value = stats.get(f"cmdstat_{name}")
    if value is None:
        return None
    assert re.fullmatch(
        r"calls=\d+,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=\d+,failed_calls=\d+", value
    ), value
    return dict(part.split("=") for part in value.split(","))


def test_commandstats_and_errorstats(pair2: Pair) -> None:
    deltas = []
    for client in (pair2.real, pair2.cairn):
        before = _cmdstat(client, "client|id") or {"calls": "0", "failed_calls": "0"}
        errors_before = dict(_info(client, "errorstats")["Errorstats"]).get("errorstat_ERR",
                                                                              "count=0")
        for _ in range(3):
            client.raw("CLIENT", "ID")
        client.raw("CLIENT", "PAUSE", "abc")
        after = _cmdstat(client, "client|id")
        pause = _cmdstat(client, "client|pause")
        assert after is not None and pause is not None
        errors_after = dict(_info(client, "errorstats")["Errorstats"])["errorstat_ERR"]
        deltas.append((
            int(after["calls"]) - int(before["calls"]),
            int(pause["failed_calls"]) >= 1,
            int(errors_after.split("=")[1]) - int(errors_before.split("=")[1]),
        ))
    assert deltas[0] == deltas[1] == (3, True, 1)


def test_info_keyspace(pair: Pair) -> None:
    for client in (pair.real, pair.cairn):
        client.raw("SET", "a", "1")
        client.raw("SET", "b", "2", "EX", "1000")
        client.raw("SELECT", "5")
        client.raw("SET", "c", "3")
        client.raw("SELECT", "0")
    real = dict(_info(pair.real, "keyspace")["Keyspace"])
    cairn = dict(_info(pair.cairn, "keyspace")["Keyspace"])
    assert list(cairn) == list(real) == ["db0", "db5"]
    assert cairn["db5"] == real["db5"] == "keys=1,expires=0,avg_ttl=0"
    match = re.fullmatch(r"keys=2,expires=1,avg_ttl=(\d+)", cairn["db0"])
    assert match and 990_000 < int(match.group(1)) <= 1_000_000
    assert re.fullmatch(r"keys=2,expires=1,avg_ttl=\d+", real["db0"])


def test_info_is_verbatim_in_resp3(pair: Pair) -> None:
    real, cairn = pair.both("INFO", "server")
    assert cairn[:1] == real[:1] == (b"=" if pair.resp == 3 else b"$")


# -- TIME LASTSAVE ----------------------------------------------------------------


def test_time_and_lastsave(pair: Pair) -> None:
    real, cairn = pair.both("TIME")
    pattern = rb"\*2\r\n\$10\r\n(\d{10})\r\n\$\d\r\n(\d{1,6})\r\n"
    assert re.fullmatch(pattern, real)
    match = re.fullmatch(pattern, cairn)
    assert match is not None
    assert abs(int(match.group(1)) - time.time()) < 5
    real, cairn = pair.both("LASTSAVE")
    assert re.fullmatch(rb":\d{10}\r\n", cairn) and re.fullmatch(rb":\d{10}\r\n", real)
    pair.check("TIME", "x")
    pair.check("LASTSAVE", "x")


# -- SLOWLOG ----------------------------------------------------------------------


def test_slowlog_errors_and_help(pair: Pair) -> None:
    pair.check("SLOWLOG")
    pair.check("SLOWLOG", "HELP")
    pair.check("SLOWLOG", "help", "x")
    pair.check("SLOWLOG", "nosuch")
    pair.check("SLOWLOG", "GET", "abc")
    pair.check("SLOWLOG", "GET", "-2")
    pair.check("SLOWLOG", "GET", "1", "2")
    pair.check("SLOWLOG", "LEN", "x")
    pair.check("SLOWLOG", "RESET", "x")
    pair.check("SLOWLOG", "RESET")
    pair.check("SLOWLOG", "GET", "0")


@pytest.fixture
def slow_oracle(redis_server: ServerProcess) -> Iterator[None]:
    admin = RawClient(redis_server.port)
    admin.raw("CONFIG", "SET", "slowlog-log-slower-than", "0")
    yield
    admin.raw("CONFIG", "SET", "slowlog-log-slower-than", "10000")
    admin.raw("SLOWLOG", "RESET")
    admin.close()


def _parse(data: bytes) -> object:
    import hiredis

    reader = hiredis.Reader()
    reader.feed(data)
    return reader.gets()


def test_slowlog_entries(dpair: Pair, slow_oracle: None) -> None:
    long_arg = "x" * 200
    many = [f"k{i}" for i in range(40)]
    entries = []
    for client in (dpair.real, dpair.cairn):
        client.raw("CLIENT", "SETNAME", "slowpoke")
        addr = re.search(rb"addr=(\S+)", client.raw("CLIENT", "INFO"))
        assert addr is not None
        assert client.raw("SLOWLOG", "RESET") == b"+OK\r\n"
        client.raw("SET", "foo", "bar")
        client.raw("SET", "long", long_arg)
        client.raw("DEL", *many)
        assert client.raw("SLOWLOG", "LEN") == b":4\r\n"
        got = _parse(client.raw("SLOWLOG", "GET"))
        assert isinstance(got, list)
        ids = [entry[0] for entry in got]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
        for entry in got:
            assert len(entry) == 6
            assert abs(entry[1] - time.time()) < 60 and entry[2] >= 0
            assert entry[4] == addr.group(1) and entry[5] == b"slowpoke"
        entries.append([entry[3] for entry in got])
        assert len(_parse(client.raw("SLOWLOG", "GET", "2"))) == 2  # type: ignore[arg-type]
        # RESET, 3 writes, LEN, GET and GET 2 are all in the log now.
        everything = _parse(client.raw("SLOWLOG", "GET", "-1"))
        assert isinstance(everything, list) and len(everything) == 7
        entries.append([entry[3] for entry in everything])
    assert entries[2] == entries[0]
    assert entries[3] == entries[1]
    # Long arguments and argument lists are abbreviated the same way.
    assert entries[0][1][-1].startswith(b"... (")
    assert entries[0][2][2].endswith(b"... (72 more bytes)")


# -- LATENCY ----------------------------------------------------------------------


def test_latency_without_samples(pair: Pair) -> None:
    pair.check("LATENCY", "LATEST")
    pair.check("LATENCY", "HISTORY", "command")
    pair.check("LATENCY", "HISTORY")
    pair.check("LATENCY", "RESET")
    pair.check("LATENCY", "RESET", "command", "fork")
    pair.check("LATENCY", "GRAPH", "command")
    pair.check("LATENCY", "nosuch")
    pair.check("LATENCY", "HELP", "x")
    real, cairn = pair.both("LATENCY", "DOCTOR")
    assert cairn[:1] == real[:1]  # text: bulk in RESP2, verbatim in RESP3
    assert b"latency-monitor-threshold" in cairn


def test_latency_help(pair: Pair) -> None:
    real, cairn = pair.both("LATENCY", "HELP")
    lines = real.split(b"\r\n")
    # Cairn keeps no per-command histograms, so its help leaves out HISTOGRAM.
    at = lines.index(b"+HISTOGRAM [COMMAND ...]")
    del lines[at: at + 3]
    lines[0] = b"*%d" % (len(lines) - 2)
    assert cairn == b"\r\n".join(lines)


def _local_server() -> tuple[Server, Client]:
    server = Server()
    client = Client(server, "127.0.0.1:5555", "127.0.0.1:6379")
    server.add_client(client)
    return server, client


def test_latency_samples_in_process() -> None:
    server, client = _local_server()
    record_latency(server, "command", 500)  # the monitor is off (threshold 0)
    assert execute(server, client, [b"LATENCY", b"LATEST"])[0] == []
    server.config.set("latency-monitor-threshold", 100)
    record_latency(server, "command", 50)  # below the threshold
    record_latency(server, "command", 150)
    record_latency(server, "command", 120)  # same second: the highest is kept
    record_latency(server, "fork", 300)
    latest = execute(server, client, [b"LATENCY", b"LATEST"])[0]
    now = int(time.time())
    assert [row[0] for row in latest] == [b"command", b"fork"]
    assert latest[0][2:] == [150, 150] and abs(latest[0][1] - now) <= 1
    history = execute(server, client, [b"LATENCY", b"HISTORY", b"command"])[0]
    assert len(history) == 1 and history[0][1] == 150
    graph = execute(server, client, [b"LATENCY", b"GRAPH", b"command"])[0]
    assert graph.startswith(b"command - high 150 ms")
    doctor = execute(server, client, [b"LATENCY", b"DOCTOR"])[0]
    assert b"command" in doctor and b"fork" in doctor
    assert execute(server, client, [b"LATENCY", b"RESET", b"fork", b"nosuch"])[0] == 1
    assert execute(server, client, [b"LATENCY", b"RESET"])[0] == 1
    assert execute(server, client, [b"LATENCY", b"LATEST"])[0] == []


# -- reset_stats / register_fields ---------------------------------------------------


def test_reset_stats_in_process() -> None:
    server, client = _local_server()
    execute(server, client, [b"TIME"])
    execute(server, client, [b"CLIENT", b"PAUSE", b"bad"])
    execute(server, client, [b"NOSUCH"])
    server.keyspace.stat_hits = 5
    server.keyspace.stat_misses = 6
    server.keyspace.stat_expired_keys = 7
    server.slowlog.appendleft((0, 0, 0, [b"TIME"], "", b""))
    assert server.registry.get(b"time").calls >= 1  # type: ignore[union-attr]
    assert server.error_stats and server.total_error_replies
    reset_stats(server)
    assert all(
        not (cmd.calls or cmd.usec or cmd.failed_calls or cmd.rejected_calls)
        for cmd in server.registry.all()
    )
    assert server.error_stats == {} and server.total_error_replies == 0
    assert server.stat_commands == 0 and server.stat_connections == 0
    keyspace = server.keyspace
    assert (keyspace.stat_hits, keyspace.stat_misses, keyspace.stat_expired_keys) == (0, 0, 0)
    assert len(server.slowlog) == 1  # CONFIG RESETSTAT leaves the slow log alone
    text = execute(server, client, [b"INFO", b"commandstats", b"errorstats"])[0]
    assert text == b"# Commandstats\r\n\r\n# Errorstats\r\n"


def test_register_fields_overrides_and_adds() -> None:
    server, _client = _local_server()
    info_mod.register_fields("stats", lambda s: [("pubsub_channels", 3), ("cairn_extra", "x")])
    try:
        stats = dict(_sections(info_mod.info_text(server, [b"stats"]).decode())["Stats"])
    finally:
        info_mod._PROVIDERS["stats"].pop()
    assert stats["pubsub_channels"] == "3" and stats["cairn_extra"] == "x"


def test_instantaneous_ops_sampling() -> None:
    server, _ = _local_server()
    info_mod.sample_instantaneous(server)
    server.stat_commands += 1000
    time.sleep(0.05)
    info_mod.sample_instantaneous(server)
    stats = dict(_sections(info_mod.info_text(server, [b"stats"]).decode())["Stats"])
    assert 1000 < int(stats["instantaneous_ops_per_sec"]) < 1000 / 0.05 + 1


# -- MONITOR ----------------------------------------------------------------------


MONITOR_LINE = re.compile(rb'\+\d+\.\d{6} \[(\d+) [^\]]+\] (.*)\r\n')


def test_monitor_streams_commands(pair2: Pair) -> None:
    seen = []
    for client in (pair2.real, pair2.cairn):
        watcher = RawClient(client.port)
        try:
            assert watcher.raw("MONITOR") == b"+OK\r\n"
            client.raw("SELECT", "2")
            client.raw("SET", "key with space", 'quote"\n\x01')
            client.raw("SELECT", "0")
            lines = [watcher.read_reply() for _ in range(3)]
            parsed = [MONITOR_LINE.fullmatch(line) for line in lines]
            assert all(parsed), lines
            seen.append([(m.group(1), m.group(2)) for m in parsed if m])
        finally:
            watcher.close()
    assert seen[1] == seen[0]


def test_monitor_twice_and_in_multi(pair2: Pair) -> None:
    for client in (pair2.real, pair2.cairn):
        watcher = RawClient(client.port)
        try:
            # A second MONITOR gets no reply at all: the next thing read is a command line.
            watcher.send(encode_command(("MONITOR",)) + encode_command(("MONITOR",)))
            assert watcher.read_reply() == b"+OK\r\n"
            client.raw("ECHO", "marker")
            assert watcher.read_reply().endswith(b'"ECHO" "marker"\r\n')
        finally:
            watcher.close()
    pair2.check("MULTI")
    pair2.check("MONITOR")
    pair2.check("EXEC")
    pair2.check("MONITOR", "x")


# -- SHUTDOWN ---------------------------------------------------------------------


def test_shutdown_errors(pair: Pair) -> None:
    pair.check("SHUTDOWN", "sometimes")
    pair.check("SHUTDOWN", "NOSAVE", "SAVE")
    pair.check("SHUTDOWN", "ABORT")
    pair.check("SHUTDOWN", "NOW", "ABORT")
    pair.check("SHUTDOWN", "ABORT", "FORCE")
    pair.check("MULTI")
    pair.check("SHUTDOWN")
    pair.check("EXEC")


def test_shutdown_stops_the_server() -> None:
    proc = start_cairn(["--durability", "none"])
    try:
        client = RawClient(proc.port)
        assert client.raw("PING") == b"+PONG\r\n"
        # With nothing to save to, SHUTDOWN SAVE refuses (unless FORCE).
        assert client.raw("SHUTDOWN", "SAVE") == b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n"
        other = RawClient(proc.port)
        client.send(encode_command(("SHUTDOWN", "NOSAVE", "NOW")))
        client.sock.settimeout(10)
        assert client.sock.recv(100) == b""  # no reply: the connection just closes
        assert proc.proc is not None
        assert proc.proc.wait(10) == 0
        other.sock.settimeout(5)
        try:
            assert other.sock.recv(100) == b""
        except ConnectionResetError:
            pass
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", proc.port), timeout=1)
    finally:
        proc.stop()


# -- DEBUG ------------------------------------------------------------------------


def test_debug_errors(dpair: Pair) -> None:
    dpair.check("DEBUG")
    dpair.check("DEBUG", "nosuch")
    dpair.check("DEBUG", "jmap")
    dpair.check("DEBUG", "Sleep")
    dpair.check("DEBUG", "sleep", "1", "2")
    dpair.check("DEBUG", "OBJECT")
    dpair.check("DEBUG", "OBJECT", "nokey")
    dpair.check("DEBUG", "OBJECT", "k", "extra")
    dpair.check("DEBUG", "SET-ACTIVE-EXPIRE")
    dpair.check("DEBUG", "HELP", "x")
    dpair.check("DEBUG", "SLEEP", "0")
    dpair.check("DEBUG", "SLEEP", "abc")


def test_debug_help_shape(dpair: Pair) -> None:
    lines = _parse(dpair.cairn.raw("DEBUG", "HELP"))
    assert isinstance(lines, list)
    assert lines[0] == b"DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert lines[-2:] == [b"HELP", b"    Prints this help."]
    # Every subcommand Cairn lists is one Redis lists too, with the same words.
    real = _parse(dpair.real.raw("DEBUG", "HELP"))
    assert isinstance(real, list)
    assert set(lines) <= set(real)


def test_debug_sleep_blocks(dpair: Pair) -> None:
    start = time.monotonic()
    assert dpair.cairn.raw("DEBUG", "SLEEP", "0.3") == b"+OK\r\n"
    assert time.monotonic() - start >= 0.3


DEBUG_OBJECT = re.compile(
    rb"\+Value at:0x[0-9a-f]+ refcount:(\d+) encoding:(\S+) serializedlength:(\d+) "
    rb"lru:(\d+) lru_seconds_idle:(\d+)\r\n"
)


def test_debug_object_strings(dpair: Pair) -> None:
    values = ["v", "123", "-5", "70000", "hello world", "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"]
    for i, value in enumerate(values):
        dpair.check("SET", f"s{i}", value)
        real, cairn = dpair.both("DEBUG", "OBJECT", f"s{i}")
        r, c = DEBUG_OBJECT.fullmatch(real), DEBUG_OBJECT.fullmatch(cairn)
        assert r and c, (real, cairn)
        # refcount, encoding and (for these uncompressed strings) the RDB length agree.
        assert c.group(1, 2, 3) == r.group(1, 2, 3), (value, real, cairn)
        if r.group(1) != b"2147483647":
            # A shared integer's LRU belongs to the shared object, not to the key.
            assert abs(int(c.group(4)) - int(r.group(4))) <= 2
            assert int(c.group(5)) <= 1


def test_debug_set_active_expire(dpair: Pair) -> None:
    outcomes = []
    for client in (dpair.real, dpair.cairn):
        assert client.raw("DEBUG", "SET-ACTIVE-EXPIRE", "0") == b"+OK\r\n"
        try:
            client.raw("SET", "short", "v", "PX", "50")
            time.sleep(0.5)
            kept = dict(_info(client, "keyspace")["Keyspace"]).get("db0")
            assert client.raw("DEBUG", "SET-ACTIVE-EXPIRE", "1") == b"+OK\r\n"
            deadline = time.monotonic() + 3
            while dict(_info(client, "keyspace")["Keyspace"]).get("db0") and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
            gone = dict(_info(client, "keyspace")["Keyspace"]).get("db0")
            outcomes.append((kept, gone))
        finally:
            client.raw("DEBUG", "SET-ACTIVE-EXPIRE", "1")
    assert outcomes[1] == outcomes[0]
    assert outcomes[0][0] is not None and outcomes[0][0].startswith("keys=1,expires=1")
    assert outcomes[0][1] is None


def test_debug_is_protected() -> None:
    # Both servers with the default (enable-debug-command no).
    oracle = start_redis(["--enable-debug-command", "no"])
    own = start_cairn(["--durability", "none"])
    try:
        real, cairn = RawClient(oracle.port), RawClient(own.port)
        for args in (("DEBUG", "SLEEP", "0"), ("DEBUG", "nosuch")):
            assert cairn.raw(*args) == real.raw(*args)
        assert cairn.raw("DEBUG", "SLEEP", "0").startswith(b"-ERR DEBUG command not allowed.")
        real.close()
        cairn.close()
    finally:
        oracle.stop()
        own.stop()
    local = start_cairn(["--durability", "none", "--enable-debug-command", "local"])
    try:
        client = RawClient(local.port)
        assert client.raw("DEBUG", "SLEEP", "0") == b"+OK\r\n"  # 127.0.0.1 is local
        client.close()
    finally:
        local.stop()
