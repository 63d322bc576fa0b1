"""EVAL EVALSHA EVAL_RO EVALSHA_RO and SCRIPT.

A script's writes reach the log as the effects of the commands it ran
(redis.call goes through dispatch.call), never as the script: EVAL declares no
effects of its own, like EXEC. The script cache is volatile, as in Redis.
"""

from __future__ import annotations

from typing import Any

from cairn.commands.args import to_int
from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.registry import command, container, ks
from cairn.protocol import OK, Status
from cairn.scripting.engine import BUSY_FUNCTION, NOTBUSY, UNKILLABLE, Script, get_engine

G = "scripting"
_KEYS_RW = ks("RW ACCESS UPDATE", 2, ("keynum", 0, 1, 1))
_KEYS_RO = ks("RO ACCESS", 2, ("keynum", 0, 1, 1))
_NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL."
_RO_WITH_WRITE_FLAG = "ERR Can not execute a script with write flag using *_ro command."


def parse_numkeys(argv: list[bytes], bad: str) -> int:
    raw = argv[2]
    if len(raw) == 1 and 48 <= raw[0] <= 57:  # the usual single digit
        nkeys = raw[0] - 48
    else:
        parsed = to_int(raw)
        if parsed is None:
            raise CommandError(bad)
        if parsed < 0:
            raise CommandError("ERR Number of keys can't be negative")
        nkeys = parsed
    if nkeys > len(argv) - 3:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    return nkeys


def _eval(c: Client, argv: list[bytes], by_sha: bool, ro: bool) -> Any:
    nkeys = parse_numkeys(argv, "ERR value is not an integer or out of range")
    engine = get_engine(c.server)
    script: Script | None
    if by_sha:
        scripts = engine.scripts
        script = scripts.get(argv[1])
        if script is None:
            script = scripts.get(argv[1].lower())
            if script is None:
                raise CommandError(_NOSCRIPT)
    else:
        script = engine.compile(argv[1])
    read_only = ro
    if script.shebang:
        writes = b"no-writes" not in script.flags
        if ro and writes:
            raise CommandError(_RO_WITH_WRITE_FLAG)
        read_only = read_only or not writes
    return engine.run_script(c, argv, script, nkeys, read_only)


@command("eval", -3, "noscript skip_monitor may_replicate no_mandatory_keys stale", group=G,
         since="2.6.0", keys=_KEYS_RW, acl="scripting",
         summary="Runs a Lua script on the server.",
         complexity="Depends on the script that is executed.")
def eval_(c: Client, argv: list[bytes]) -> Any:
    return _eval(c, argv, False, False)


@command("evalsha", -3, "noscript skip_monitor may_replicate no_mandatory_keys stale", group=G,
         since="2.6.0", keys=_KEYS_RW, acl="scripting",
         summary="Runs a cached Lua script by its SHA1 digest.",
         complexity="Depends on the script that is executed.")
def evalsha(c: Client, argv: list[bytes]) -> Any:
    return _eval(c, argv, True, False)


@command("eval_ro", -3, "noscript skip_monitor no_mandatory_keys stale readonly", group=G,
         since="7.0.0", keys=_KEYS_RO, acl="scripting",
         summary="Runs a read-only Lua script on the server.",
         complexity="Depends on the script that is executed.")
def eval_ro(c: Client, argv: list[bytes]) -> Any:
    return _eval(c, argv, False, True)


@command("evalsha_ro", -3, "noscript skip_monitor no_mandatory_keys stale readonly", group=G,
         since="7.0.0", keys=_KEYS_RO, acl="scripting",
         summary="Runs a cached read-only Lua script by its SHA1 digest.",
         complexity="Depends on the script that is executed.")
def evalsha_ro(c: Client, argv: list[bytes]) -> Any:
    return _eval(c, argv, True, True)


container("script", group=G, since="2.6.0", summary="Commands for the Lua script cache.")


@command("script|load", 3, "noscript stale", group=G, since="2.6.0", acl="scripting",
         tips="request_policy:all_nodes response_policy:all_succeeded",
         summary="Loads a Lua script into the script cache without running it.",
         complexity="O(N) with N being the length in bytes of the script body.")
def script_load(c: Client, argv: list[bytes]) -> Any:
    return get_engine(c.server).compile(argv[2]).sha.encode()


@command("script|exists", -3, "noscript", group=G, since="2.6.0", acl="scripting",
         tips="request_policy:all_shards response_policy:agg_logical_and",
         summary="Tells which scripts are in the script cache.",
         complexity="O(N) with N being the number of scripts to check.")
def script_exists(c: Client, argv: list[bytes]) -> Any:
    scripts = get_engine(c.server).scripts
    return [1 if sha.lower() in scripts else 0 for sha in argv[2:]]


@command("script|flush", -2, "noscript", group=G, since="2.6.0", acl="scripting",
         tips="request_policy:all_nodes response_policy:all_succeeded",
         history=(("6.2.0", "Added the `ASYNC` and `SYNC` flushing mode modifiers."),),
         summary="Empties the script cache.",
         complexity="O(N) with N being the number of scripts in cache")
def script_flush(c: Client, argv: list[bytes]) -> Any:
    if len(argv) > 3 or (len(argv) == 3 and argv[2].lower() not in (b"sync", b"async")):
        raise CommandError("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    get_engine(c.server).flush_scripts()
    return OK


@command("script|kill", 2, "noscript allow_busy", group=G, since="2.6.0", acl="scripting",
         tips="request_policy:all_shards response_policy:one_succeeded",
         summary="Stops the Lua script that is running.", complexity="O(1)")
def script_kill(c: Client, argv: list[bytes]) -> Any:
    return kill(c, True)


def kill(c: Client, is_eval: bool) -> Any:
    """SCRIPT KILL / FUNCTION KILL: stop the running script if it has not written."""
    from cairn.scripting.engine import BUSY_EVAL

    run = get_engine(c.server).run
    if run is None:
        raise CommandError(NOTBUSY)
    if run.is_eval != is_eval:
        raise CommandError(BUSY_FUNCTION if is_eval else BUSY_EVAL)
    if run.wrote:
        raise CommandError(UNKILLABLE)
    run.killed = True
    return OK


@command("script|debug", 3, "noscript", group=G, since="3.2.0", acl="scripting",
         summary="Sets the debug mode of server-side Lua scripts.", complexity="O(1)")
def script_debug(c: Client, argv: list[bytes]) -> Any:
    mode = argv[2].lower()
    if mode == b"no":
        return OK
    if mode in (b"yes", b"sync"):
        # No Lua debugger (LDB) here: refuse rather than pretend.
        raise CommandError("ERR SCRIPT DEBUG YES|SYNC is not supported by this server")
    raise CommandError("ERR Use SCRIPT DEBUG YES/SYNC/NO")


_HELP = [
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
]
_HELP_REPLY = [Status(line) for line in _HELP]


@command("script|help", 2, "loading stale", group=G, since="5.0.0", acl="scripting",
         summary="Returns helpful text about the different subcommands.", complexity="O(1)")
def script_help(c: Client, argv: list[bytes]) -> Any:
    return _HELP_REPLY
