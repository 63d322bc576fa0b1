"""The Lua runtime of one server: script cache, running scripts, redis.call.

One ``lupa.lua51.LuaRuntime`` per server (with a memory ceiling). Scripts
and library functions are compiled once and called many times; KEYS and ARGV
are fresh tables on every call. ``redis.call`` runs commands the way
``cairn.commands.dispatch.call`` does (its steps are inlined in ``_call``, the
hot path) on a dedicated script client (its own RESP version and selected
database), the way EXEC runs its queue: the effects of every inner command
pile up and leave as ONE log record when the EVAL/FCALL returns, and reads
note their keys for the durable-read barrier.

redis.call costs one Lua -> Python crossing: the Python callback takes the
arguments as Lua gave them, finds the command in a per-name cache, runs it and
answers the common replies (bulk, integer, nil, OK) without any generic
conversion; the Lua side builds the status and error tables itself (see the
bootstrap in sandbox.py).

A count hook (every 100000 Lua instructions) checks the elapsed time; past
``busy-reply-threshold`` the script is "timed out": the hook then calls
``server.busy_poll()`` (provided by the network layer, if any) so other clients
are answered BUSY and SCRIPT KILL / FUNCTION KILL can stop the script.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from lupa import lua51

from cairn.commands.blocking import Block
from cairn.commands.context import Client, Server
from cairn.commands.registry import VERBATIM, Command
from cairn.durability.log import misconf_error
from cairn.protocol import OK, ErrorReply, Status
from cairn.scripting.convert import RETRY, ToLua, from_lua, lua_args
from cairn.scripting.sandbox import BOOTSTRAP, INTERNAL_CHUNK

log = logging.getLogger("cairn.scripting")

LUA_MAX_MEMORY = 1 << 30

BUSY_EVAL = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
BUSY_FUNCTION = "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
NOTBUSY = "NOTBUSY No scripts in execution right now."
UNKILLABLE = (
    "UNKILLABLE Sorry the script already executed write commands against the dataset. "
    "You can either wait the script termination or kill the server in a hard way using "
    "the SHUTDOWN NOSAVE command."
)

_E_NO_ARGS = b"ERR Please specify at least one argument for this redis lib call"
_E_ARG_TYPE = b"ERR Lua redis lib command arguments must be strings or integers"
_E_UNKNOWN = b"ERR Unknown Redis command called from script"
_E_ARITY = b"ERR Wrong number of args calling Redis command from script"
_E_NOSCRIPT = b"ERR This Redis command is not allowed from script"
_E_READONLY = b"ERR Write commands are not allowed from read-only scripts."
# A cached script's bytes besides its body (its digest, the entry): INFO's estimate.
_SCRIPT_OVERHEAD = 96
_RETRY = (None, True)
_OK_STATUS = (None, None, b"OK")
# Refusal modes of a command called from a script (checked after arity).
_WRITE, _MAY_REPLICATE, _NOSCRIPT = 1, 2, 3
_LOG_LEVELS = (logging.DEBUG, logging.INFO, logging.INFO, logging.WARNING)

_perf = time.perf_counter


def _version_num(version: str) -> int:
    major, minor, patch = (int(p) for p in [*version.split("."), "0", "0"][:3])
    return (major << 16) | (minor << 8) | patch


def _deny_attributes(obj: Any, name: Any, is_setting: bool) -> Any:
    raise AttributeError("access to Python objects is not allowed")


class RunState:
    """The script or function being executed (Redis' scriptRunCtx)."""

    __slots__ = (
        "argv",
        "caller",
        "is_eval",
        "killed",
        "name",
        "read_only",
        "resp",
        "start",
        "timed_out",
        "wrote",
    )

    def __init__(self, caller: Client, argv: list[bytes], name: str, is_eval: bool, read_only: bool) -> None:
        self.caller = caller
        self.argv = argv
        self.name = name
        self.is_eval = is_eval
        self.read_only = read_only
        self.resp = 2
        self.start = _perf()
        self.killed = False
        self.timed_out = False
        self.wrote = False

    def duration_ms(self) -> int:
        return int((_perf() - self.start) * 1000)


class Script:
    """A compiled EVAL script, its SHA1 (hex) and its shebang flags."""

    __slots__ = ("body", "flags", "fn", "sha", "shebang")

    def __init__(self, fn: Any, body: bytes, sha: str, shebang: bool, flags: frozenset[bytes]) -> None:
        self.fn = fn
        self.body = body
        self.sha = sha
        self.shebang = shebang
        self.flags = flags


class ScriptEngine:
    def __init__(self, server: Server) -> None:
        self.server = server
        lua = lua51.LuaRuntime(
            encoding=None,
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            attribute_filter=_deny_attributes,
            max_memory=LUA_MAX_MEMORY,
        )
        self.gc_above = LUA_MAX_MEMORY // 2
        self.lua = lua
        self.lualibs = False
        try:
            from cairn.scripting import lualibs

            install = getattr(lualibs, "install", None)
            if install is not None:
                install(lua)
                self.lualibs = True
        except ImportError:  # cjson, cmsgpack, bit, struct not written yet
            pass
        except Exception:  # a broken library must not take scripting down
            log.exception("could not install the Lua libraries (cjson, cmsgpack, bit, struct)")
        loader = lua.eval("loadstring")
        self.run: RunState | None = None  # (the hook may fire during the bootstrap)
        bootstrap = loader(BOOTSTRAP.encode(), INTERNAL_CHUNK.encode())
        if type(bootstrap) is tuple:
            raise RuntimeError(f"scripting bootstrap does not compile: {bootstrap!r}")
        version = server.redis_version
        self.api = bootstrap(
            self._call, self._hook, self._log, self._sha1, self._setresp, self._acl_check,
            version.encode(), _version_num(version),
        )
        self._run_eval = self.api.run_eval
        self._run_function = self.api.run_function
        self._compile = self.api.compile_eval
        self.to_lua = ToLua(lua)
        # The script cache, by lower-case hex SHA1.
        self.scripts: dict[bytes, Script] = {}
        self.scripts_memory = 0  # INFO used_memory_scripts_eval: bodies and digests
        # redis.call's command cache: raw name -> (command, arity, refusal mode)
        self._commands: dict[bytes, tuple[Command, int, int]] = {}
        client = Client(server, addr="lua")
        client.authenticated = True
        client.name = b""
        self.client = client
        from cairn.scripting.functions import Libraries

        self.libraries = Libraries(self)

    # -- the script cache ------------------------------------------------------------
    def compile(self, body: bytes) -> Script:
        """Compile (or find) a script; raises the Redis error on a bad shebang or syntax."""
        sha = hashlib.sha1(body).hexdigest()
        key = sha.encode()
        script = self.scripts.get(key)
        if script is not None:
            return script
        shebang = body.startswith(b"#!")
        flags: frozenset[bytes] = frozenset()
        code = body
        if shebang:
            flags, code = parse_shebang(body)
        compiled = self._compile(code)
        fn, err = compiled if type(compiled) is tuple else (compiled, None)
        if fn is None:
            text = err.decode("utf-8", "surrogateescape") if isinstance(err, bytes) else str(err)
            raise ErrorReply("ERR Error compiling script (new function): " + text)
        script = Script(fn, body, sha, shebang, flags)
        self.scripts[key] = script
        self.scripts_memory += len(body) + _SCRIPT_OVERHEAD
        return script

    def flush_scripts(self) -> None:
        self.scripts.clear()
        self.scripts_memory = 0
        self.lua.gccollect()

    # -- running ---------------------------------------------------------------------
    def run_script(self, caller: Client, argv: list[bytes], script: Script, nkeys: int, read_only: bool) -> Any:
        return self._execute(caller, argv, self._run_eval, script.fn, script.sha, True, nkeys, read_only)

    def run_function(
        self, caller: Client, argv: list[bytes], fn: Any, name: str, nkeys: int, read_only: bool
    ) -> Any:
        return self._execute(caller, argv, self._run_function, fn, name, False, nkeys, read_only)

    def _execute(
        self, caller: Client, argv: list[bytes], runner: Any, fn: Any, name: str, is_eval: bool,
        nkeys: int, read_only: bool,
    ) -> Any:
        server = self.server
        state = RunState(caller, argv, name, is_eval, read_only)
        self.run = state
        server.script_running = state  # type: ignore[attr-defined]
        keyspace = server.keyspace
        frozen = keyspace.frozen_time
        keyspace.frozen_time = True
        client = self.client
        client.db = caller.db
        client.resp = 2
        try:
            result = runner(fn, nkeys, *argv[3:])
        except lua51.LuaMemoryError:
            self.lua.gccollect()
            return ErrorReply("ERR Error running script: not enough memory")
        except lua51.LuaError as exc:
            return ErrorReply(f"ERR Error running script: {exc}")
        finally:
            keyspace.frozen_time = frozen
            self.run = None
            server.script_running = None  # type: ignore[attr-defined]
            if state.killed:
                self.api.reset_hook()
            # Lua 5.1 has no emergency collection: garbage left near the memory
            # ceiling would fail the next allocations, some of them outside any
            # protected call (a PANIC, the process aborts). Collect it now.
            if self.lua.get_memory_used() > self.gc_above:
                self.lua.gccollect()
        if type(result) is tuple:
            ok = result[0]
            value = result[1] if len(result) > 1 else None
        else:
            ok, value = result, None
        if ok:
            if type(value) is bytes:
                return value
            return from_lua(value, state.resp == 3)
        return ErrorReply(_error_text(value, name))

    # -- callbacks from Lua (never raise; never return Python objects) ---------------------
    def _call(self, *args: Any) -> Any:
        """redis.call / redis.pcall. Answers (see the bootstrap's rpcall): the
        converted reply, (None, message) for an error, (None, None, text) for a
        status, (None, True) to have Lua write out an ambiguous number first."""
        try:
            run = self.run
            if run is None:
                return None, _E_UNKNOWN
            for arg in args:
                if type(arg) is not bytes:
                    argv = lua_args(args, True)
                    if argv is None:
                        return None, _E_ARG_TYPE
                    if argv is RETRY:
                        return _RETRY
                    break
            else:
                if not args:
                    return None, _E_NO_ARGS
                argv = list(args)
            entry: Any = self._commands.get(argv[0])
            if entry is None:
                entry = self._lookup(argv)
                if type(entry) is bytes:
                    return None, entry
            cmd, arity, mode = entry
            argc = len(argv)
            if (arity > 0 and argc != arity) or argc < -arity:
                return None, _E_ARITY
            if mode:
                if mode == _NOSCRIPT:
                    return None, _E_NOSCRIPT
                if run.read_only:
                    return None, _E_READONLY
                if mode == _WRITE:
                    failure = self.server.log.failure
                    if failure is not None:
                        return None, misconf_error(failure).encode()
                    run.wrote = True
            # dispatch.call(), inlined: the same steps in the same order.
            server = self.server
            client = self.client
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
                keyspace.read_barrier = server.log.last_lsn
            cmd.calls += 1
            cmd.usec += elapsed_us
            client.commands_processed += 1
            client.last_command = cmd.name
            server.stat_commands += 1
            threshold = server.slowlog_threshold
            if (threshold >= 0 and elapsed_us >= threshold) or server.latency_threshold or server.monitors:
                from cairn.commands.dispatch import _after_call

                _after_call(server, client, cmd, argv, elapsed_us)
            t = type(reply)
            if t is bytes or t is int:
                return reply
            if reply is None:
                return None if run.resp == 3 else False
            if reply is OK:
                return _OK_STATUS
            if t is Status:
                return None, None, reply.encode()
            if t is Block:  # blocking commands never block inside a script
                reply = reply.multi_reply
            if isinstance(reply, ErrorReply):
                return None, reply.message.encode("utf-8", "surrogateescape")
            return self.to_lua(reply, run.resp == 3)
        except Exception as exc:  # a bug must not leak a Python object into Lua
            log.exception("redis.call failed")
            return None, f"ERR {type(exc).__name__} in redis.call".encode()

    def _lookup(self, argv: list[bytes]) -> tuple[Command, int, int] | bytes:
        """The command for argv as (command, arity, refusal mode), or the error
        message. Commands without subcommands are remembered by raw name."""
        cmd = self.server.registry.commands.get(argv[0].lower())
        if cmd is None:
            return _E_UNKNOWN
        subcommands = cmd.subcommands
        if subcommands and len(argv) >= 2:
            sub = subcommands.get(argv[1].lower())
            if sub is None:
                return _E_UNKNOWN
            cmd = sub
        if cmd.handler is None:
            return _E_ARITY
        flags = cmd.flags
        if "noscript" in flags:
            mode = _NOSCRIPT
        elif "write" in flags:
            mode = _WRITE
        elif "may_replicate" in flags:
            mode = _MAY_REPLICATE
        else:
            mode = 0
        entry = (cmd, cmd.arity, mode)
        if not subcommands and len(self._commands) < 1024:
            self._commands[argv[0]] = entry
        return entry

    def _hook(self) -> bool:
        run = self.run
        if run is None:
            return False
        if run.killed:
            return True
        server = self.server
        threshold = server.config["busy-reply-threshold"]
        if threshold > 0 and (_perf() - run.start) * 1000 >= threshold:
            if not run.timed_out:
                run.timed_out = True
                log.warning(
                    "Slow script detected: still in execution after %d milliseconds. "
                    "You can try killing the script using the %s command. Script name is: %s.",
                    run.duration_ms(), "SCRIPT KILL" if run.is_eval else "FUNCTION KILL", run.name,
                )
            poll = getattr(server, "busy_poll", None)
            if poll is not None:
                # Other clients run between two hooks: keep this script's pending
                # effects, barrier and modified keys out of their way.
                ks = server.keyspace
                saved = (ks.effects, ks.modified, ks.read_barrier)
                ks.effects, ks.modified = [], []
                try:
                    poll()
                except Exception:
                    log.exception("busy_poll failed")
                finally:
                    ks.effects, ks.modified, ks.read_barrier = saved
        return run.killed

    def _log(self, level: int, message: bytes) -> None:
        log.log(_LOG_LEVELS[int(level)], "%s", message.decode("utf-8", "replace"))

    def _sha1(self, data: bytes) -> bytes:
        return hashlib.sha1(data).hexdigest().encode()

    def _setresp(self, version: int) -> None:
        run = self.run
        if run is not None:
            run.resp = int(version)
            self.client.resp = int(version)

    def _acl_check(self, *args: Any) -> tuple[bool, Any]:
        argv = lua_args(args)
        if argv is None:
            return False, _E_ARG_TYPE
        cmd = self.server.registry.commands.get(argv[0].lower())
        if cmd is not None and cmd.subcommands and len(argv) >= 2:
            cmd = cmd.subcommands.get(argv[1].lower())
        if cmd is None:
            return False, b"ERR Invalid command passed to redis.acl_check_cmd()"
        # No ACL users yet: the default user may run every command.
        return True, True

    # -- introspection ---------------------------------------------------------------------
    def memory_used(self) -> int:
        return int(self.lua.get_memory_used())


def _error_text(value: Any, name: str) -> str:
    """A failed script's error reply, as Redis 7 words it."""
    if lua51.lua_type(value) == "table":
        err = value[b"err"]
        source = value[b"source"]
        line = value[b"line"]
        text = err.decode("utf-8", "surrogateescape") if isinstance(err, bytes) else str(err)
        if source is not None:
            src = source.decode("utf-8", "surrogateescape") if isinstance(source, bytes) else str(source)
            return f"{text} script: {name}, on {src}:{line}."
        return f"{text} script: {name}"
    if isinstance(value, bytes):
        return "ERR " + value.decode("utf-8", "surrogateescape")
    return "ERR " + str(value)


_SHEBANG_FLAGS = frozenset((b"no-writes", b"allow-oom", b"allow-stale", b"no-cluster", b"allow-cross-slot-keys"))


def parse_shebang(body: bytes) -> tuple[frozenset[bytes], bytes]:
    """EVAL's ``#!lua flags=...`` line: (flags, code to compile). The shebang
    line is blanked so line numbers in errors count it, as Redis does."""
    nl = body.find(b"\n")
    if nl < 0:
        raise ErrorReply("ERR Invalid script shebang")
    parts = [p for p in body[:nl].split(b" ") if p]
    if not parts or parts[0] != b"#!lua":
        engine = parts[0] if parts else b"#!"
        raise ErrorReply("ERR Unexpected engine in script shebang: " + engine.decode("utf-8", "surrogateescape"))
    flags: set[bytes] = set()
    for part in parts[1:]:
        if part.startswith(b"flags="):
            for flag in part[6:].split(b","):
                if not flag:
                    continue
                if flag not in _SHEBANG_FLAGS:
                    raise ErrorReply(
                        "ERR Unexpected flag in script shebang: " + flag.decode("utf-8", "surrogateescape")
                    )
                flags.add(flag)
        else:
            raise ErrorReply("ERR Unknown lua shebang option: " + part.decode("utf-8", "surrogateescape"))
    return frozenset(flags), b"\n" + body[nl + 1 :]


def get_engine(server: Server) -> ScriptEngine:
    """The server's scripting engine, created on first use."""
    engine: ScriptEngine | None = getattr(server, "scripting", None)
    if engine is None:
        engine = ScriptEngine(server)
        server.scripting = engine  # type: ignore[attr-defined]
    return engine


def sha1hex(body: bytes) -> str:
    return hashlib.sha1(body).hexdigest()
