"""One linear chain of checks per command, in Redis' order, then call().

``execute`` is the seam the network layer uses: argv in, (reply, barrier LSN)
out. The barrier is the log sequence number the reply must wait for: the record
holding this command's effects, or 0 when the reply may leave at once.
"""

from __future__ import annotations

import time
from typing import Any

from cairn.commands import errors
from cairn.commands.blocking import Block
from cairn.commands.context import Client, Server, unwatch_all
from cairn.commands.registry import VERBATIM, Command
from cairn.durability.log import misconf_error
from cairn.protocol import QUEUED, ErrorReply
from cairn.scripting import busy_check

_now = time.time
_perf = time.perf_counter

# Commands that run at once inside MULTI instead of being queued.
_MULTI_IMMEDIATE = frozenset((b"exec", b"discard", b"multi", b"watch", b"quit", b"reset"))


# What a RESP2 client may run while subscribed (pub/sub).
_SUBSCRIBED_ALLOWED = frozenset(
    ("ping", "subscribe", "ssubscribe", "unsubscribe", "sunsubscribe", "psubscribe",
     "punsubscribe", "quit", "reset")
)


class _Postpone:
    """execute() could not run the command now (CLIENT PAUSE, blocking): retry later."""

    __slots__ = ()


POSTPONE: Any = _Postpone()


class _Blocked:
    """execute() parked the client (a blocking command): its reply comes later
    through ``client.unblocked(reply, lsn)``."""

    __slots__ = ()


BLOCKED: Any = _Blocked()


def resolve(server: Server, argv: list[bytes]) -> Command:
    """Find the command (or subcommand) for argv, or raise its exact error."""
    name = argv[0].lower()
    cmd = server.registry.commands.get(name)
    if cmd is None:
        raise errors.unknown_command(argv)
    if cmd.subcommands and len(argv) >= 2:
        sub = cmd.subcommands.get(argv[1].lower())
        if sub is None:
            raise errors.unknown_subcommand(cmd.name, argv[1])
        cmd = sub
    arity = cmd.arity
    argc = len(argv)
    if (arity > 0 and argc != arity) or argc < -arity:
        raise errors.wrong_arity(cmd.name)
    return cmd


# Raw command name (as clients spell it) -> command, for commands without
# subcommands; bounded so odd spellings cannot grow it without limit.
_BY_RAW_NAME: dict[bytes, Command] = {}


def execute(server: Server, client: Client, argv: list[bytes]) -> tuple[Any, int]:
    """Run one request from a client; returns (reply, barrier LSN)."""
    cmd = _BY_RAW_NAME.get(argv[0])
    if cmd is not None:
        arity = cmd.arity
        if arity > 0:
            if len(argv) != arity:
                cmd = None  # resolve() reports it
        elif len(argv) < -arity:
            cmd = None
    if cmd is None:
        try:
            cmd = resolve(server, argv)
        except ErrorReply as exc:
            if client.in_multi:
                client.dirty_exec = True
            server.count_error(exc.message)
            return exc, 0
        if cmd.parent is None and not cmd.subcommands and len(_BY_RAW_NAME) < 1024:
            _BY_RAW_NAME[argv[0]] = cmd

    # The rejections and MULTI queueing only matter in these (rare) states.
    if (
        not client.authenticated
        or client.in_multi
        or server.paused_until
        or server.log.failure is not None
        or client.subscribed
        or server.replication is not None  # multi-AZ: lease, role and redirect checks
        or server.script_running is not None
    ):
        reject = _check(server, client, cmd, argv)
        if reject is not None:
            if reject is POSTPONE:
                return POSTPONE, 0
            cmd.rejected_calls += 1
            if client.in_multi:
                client.dirty_exec = True
            server.count_error(reject.message)
            return reject, 0
        if client.in_multi and cmd.name.split("|", 1)[0].encode() not in _MULTI_IMMEDIATE:
            client.multi_queue.append((cmd, argv))
            client.last_command = cmd.name
            return QUEUED, 0

    keyspace = server.keyspace
    if not keyspace.frozen_time:
        keyspace.time_ms = int(_now() * 1000)
    keyspace.read_barrier = 0
    # call(), inlined: the same steps in the same order (see call()).
    dirty_before = keyspace.dirty
    start = _perf()
    try:
        reply = cmd.handler(client, argv)  # type: ignore[misc]
    except ErrorReply as exc:
        reply = exc
        cmd.failed_calls += 1
        server.count_error(exc.message)
    elapsed_us = int((_perf() - start) * 1_000_000)
    changed = keyspace.dirty - dirty_before
    if changed:
        server.dirty += changed
        if cmd.effects == VERBATIM:
            client.db.propagate(argv)
    if cmd.reads_keyspace:
        keyspace.read_barrier = _whole_keyspace_barrier(server, cmd)
    cmd.calls += 1
    cmd.usec += elapsed_us
    client.commands_processed += 1
    client.last_command = cmd.name
    server.stat_commands += 1
    threshold = server.slowlog_threshold
    if (threshold >= 0 and elapsed_us >= threshold) or server.latency_threshold or server.monitors:
        _after_call(server, client, cmd, argv, elapsed_us)

    if keyspace.effects:
        # (A blocked command may still have expired a key lazily: that DEL is logged.)
        lsn = server.log.append(keyspace.take_effects())
        client.last_write_lsn = lsn
        if keyspace.modified:
            keyspace.mark_pending(lsn)
        if server.blocking.ready:
            server.blocking.serve_ready()
        if type(reply) is not Block:
            return reply, lsn
    if type(reply) is Block:
        server.blocking.park(client, cmd, argv, reply)
        return BLOCKED, 0
    return reply, keyspace.read_barrier


def _whole_keyspace_barrier(server: Server, cmd: Command) -> int:
    """What a whole-keyspace read waits for: every record appended so far. INFO is
    the exception while the log is failed: an operator must be able to see why
    (its key counts may then include writes not durable yet)."""
    log = server.log
    if log.failure is not None and cmd.name == "info":
        return 0
    return log.last_lsn


LEASE_LAPSED = "TRYAGAIN this node's primary lease lapsed; it is stepping down"


def _check(server: Server, client: Client, cmd: Command, argv: list[bytes]) -> Any:
    """The rejections between arity and execution; None when the command may run."""
    flags = cmd.flags
    if server.script_running is not None:  # a script that ran too long: BUSY for others
        busy = busy_check(server, client, cmd)
        if busy is not None:
            return busy
    if not client.authenticated and "no_auth" not in flags:
        return ErrorReply(errors.NOAUTH)
    if client.in_multi and "no_multi" in flags:
        return ErrorReply("ERR Command not allowed inside a transaction")
    # (EXEC carries the "loading" flag but runs what was queued: never exempt.)
    exempt = "loading" in flags and cmd.name != "exec"
    deadline = server.lease_deadline
    if deadline and not exempt and time.monotonic() >= deadline:
        # The primary lease may have lapsed (e.g. the process was stopped): another
        # node may lead by now, so not even a read is answered from this memory.
        return ErrorReply(LEASE_LAPSED)
    redirect = server.redirect
    if redirect is not None and cmd.has_keys:
        moved = redirect(client, cmd, argv)
        if moved is not None:
            return moved
    refusal = server.role_refusal
    if refusal is not None:
        error, writes_only = refusal
        if writes_only:
            if cmd.is_write or (cmd.name == "exec" and _may_write(client, cmd)):
                return ErrorReply(error)
        elif not exempt:
            return ErrorReply(error)
    failure = server.log.failure
    if failure is not None and _may_write(client, cmd):
        return ErrorReply(misconf_error(failure))
    if client.subscribed and client.resp == 2 and cmd.name not in _SUBSCRIBED_ALLOWED:
        message = (
            f"Can't execute '{cmd.name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
            "QUIT / RESET are allowed in this context"
        )
        if cmd.name == "exec":
            # Like Redis' execCommandAbort: the transaction is discarded.
            client.in_multi = False
            client.multi_queue = []
            client.dirty_exec = False
            unwatch_all(client)
            return ErrorReply("EXECABORT Transaction discarded because of: " + message)
        return ErrorReply("ERR " + message)
    if server.paused_until and not client.in_multi:
        if time.monotonic() < server.paused_until:
            if not server.pause_writes_only or cmd.is_write or "may_replicate" in flags:
                return POSTPONE
        else:
            server.paused_until = 0.0
    return None


def _may_write(client: Client, cmd: Command) -> bool:
    """Refused while the log is failed, as Redis refuses them on MISCONF."""
    if cmd.is_write or cmd.name == "ping":
        return True
    if cmd.name == "exec":
        return any(queued.is_write for queued, _ in client.multi_queue)
    return False


def call(server: Server, client: Client, cmd: Command, argv: list[bytes]) -> Any:
    """Execute a resolved command: handler, verbatim effects, statistics, slowlog."""
    keyspace = server.keyspace
    dirty_before = keyspace.dirty
    start = _perf()
    try:
        reply = cmd.handler(client, argv)  # type: ignore[misc]
    except ErrorReply as exc:
        reply = exc
        cmd.failed_calls += 1
        server.count_error(exc.message)
    elapsed_us = int((_perf() - start) * 1_000_000)
    changed = keyspace.dirty - dirty_before
    if changed:
        server.dirty += changed
        if cmd.effects == VERBATIM:
            client.db.propagate(argv)
    if cmd.reads_keyspace:
        # KEYS, SCAN, DBSIZE, RANDOMKEY, INFO... read the whole keyspace (also
        # inside EXEC): their reply waits for every record appended so far.
        keyspace.read_barrier = _whole_keyspace_barrier(server, cmd)
    cmd.calls += 1
    cmd.usec += elapsed_us
    client.commands_processed += 1
    client.last_command = cmd.name
    server.stat_commands += 1
    threshold = server.slowlog_threshold
    if (threshold >= 0 and elapsed_us >= threshold) or server.latency_threshold or server.monitors:
        _after_call(server, client, cmd, argv, elapsed_us)
    return reply


def _after_call(server: Server, client: Client, cmd: Command, argv: list[bytes], elapsed_us: int) -> None:
    """SLOWLOG, LATENCY and MONITOR, in that order, after a call."""
    threshold = server.slowlog_threshold
    if threshold >= 0 and elapsed_us >= threshold and "skip_slowlog" not in cmd.flags:
        _slowlog_add(server, client, argv, elapsed_us)
    latency_ms = server.latency_threshold
    if latency_ms and elapsed_us >= latency_ms * 1000:
        from cairn.commands.server import record_latency

        event = "fast-command" if "fast" in cmd.flags else "command"
        record_latency(server, event, elapsed_us // 1000)
    if server.monitors and "skip_monitor" not in cmd.flags and "admin" not in cmd.flags:
        _feed_monitors(server, client, argv)


def _slowlog_add(server: Server, client: Client, argv: list[bytes], elapsed_us: int) -> None:
    max_len = server.config["slowlog-max-len"]
    if max_len <= 0:
        return
    shown: list[bytes] = []
    for i, arg in enumerate(argv):
        if i == 31 and len(argv) > 32:
            shown.append(b"... (%d more arguments)" % (len(argv) - 31))
            break
        if len(arg) > 128:
            arg = arg[:128] + b"... (%d more bytes)" % (len(arg) - 128)
        shown.append(arg)
    entry = (server.slowlog_next_id, int(time.time()), elapsed_us, shown, client.addr, client.name)
    server.slowlog_next_id += 1
    server.slowlog.appendleft(entry)
    while len(server.slowlog) > max_len:
        server.slowlog.pop()


def _feed_monitors(server: Server, client: Client, argv: list[bytes]) -> None:
    now = time.time()
    parts = []
    for arg in argv:
        text = ""
        for byte in arg:
            ch = chr(byte)
            if ch in '\\"':
                text += "\\" + ch
            elif ch == "\n":
                text += "\\n"
            elif ch == "\r":
                text += "\\r"
            elif ch == "\t":
                text += "\\t"
            elif ch == "\a":
                text += "\\a"
            elif ch == "\b":
                text += "\\b"
            elif 32 <= byte < 127:
                text += ch
            else:
                text += f"\\x{byte:02x}"
        parts.append('"' + text + '"')
    line = f"{now:.6f} [{client.db.id} {client.addr}] " + " ".join(parts)
    from cairn.protocol import Status

    message = Status(line)
    for monitor in list(server.monitors):
        if monitor is not client:
            monitor.push(message)
