"""FUNCTION (LOAD DELETE LIST DUMP RESTORE FLUSH STATS KILL HELP), FCALL, FCALL_RO.

FUNCTION LOAD / DELETE / FLUSH / RESTORE are logged verbatim (loading a
library is deterministic), so recovery replays them; FCALL is logged as the
effects of the commands its function ran, like EVAL.
"""

from __future__ import annotations

from typing import Any

from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.registry import CUSTOM, command, container, ks
from cairn.commands.scripting import kill, parse_numkeys
from cairn.glob import glob_match
from cairn.protocol import OK, ErrorReply, MapReply, SetReply, Status
from cairn.scripting.engine import BUSY_EVAL, get_engine

G = "scripting"
_ALL_SUCCEEDED = "request_policy:all_shards response_policy:all_succeeded"


def _logged(c: Client, argv: list[bytes]) -> None:
    """Record a successful library change, verbatim."""
    c.server.dirty += 1
    c.db.propagate(list(argv))


def _fcall(c: Client, argv: list[bytes], ro: bool) -> Any:
    engine = get_engine(c.server)
    function = engine.libraries.functions.get(argv[1])
    if function is None:
        raise CommandError("ERR Function not found")
    nkeys = parse_numkeys(argv, "ERR Bad number of keys provided")
    writes = b"no-writes" not in function.flags
    if ro and writes:
        raise CommandError("ERR Can not execute a script with write flag using *_ro command.")
    name = argv[1].decode("utf-8", "surrogateescape")
    return engine.run_function(c, argv, function.fn, name, nkeys, not writes)


@command("fcall", -3, "noscript skip_monitor may_replicate no_mandatory_keys stale", group=G,
         since="7.0.0", keys=ks("RW ACCESS UPDATE", 2, ("keynum", 0, 1, 1)), acl="scripting",
         summary="Invokes a function.", complexity="Depends on the function that is executed.")
def fcall(c: Client, argv: list[bytes]) -> Any:
    return _fcall(c, argv, False)


@command("fcall_ro", -3, "noscript skip_monitor no_mandatory_keys stale readonly", group=G,
         since="7.0.0", keys=ks("RO ACCESS", 2, ("keynum", 0, 1, 1)), acl="scripting",
         summary="Invokes a read-only function.", complexity="Depends on the function that is executed.")
def fcall_ro(c: Client, argv: list[bytes]) -> Any:
    return _fcall(c, argv, True)


container("function", group=G, since="7.0.0", summary="A container for function commands.")


@command("function|load", -3, "noscript write denyoom", group=G, since="7.0.0", acl="scripting",
         effects=CUSTOM, tips=_ALL_SUCCEEDED, summary="Creates a library.",
         complexity="O(1) (considering compilation time is redundant)")
def function_load(c: Client, argv: list[bytes]) -> Any:
    replace = False
    i = 2
    while i < len(argv) - 1:
        if argv[i].lower() == b"replace":
            replace = True
        else:
            raise CommandError("ERR Unknown option given: " + argv[i].decode("utf-8", "surrogateescape"))
        i += 1
    name = get_engine(c.server).libraries.load(argv[-1], replace)
    _logged(c, argv)
    return name


@command("function|delete", 3, "noscript write", group=G, since="7.0.0", acl="scripting",
         effects=CUSTOM, tips=_ALL_SUCCEEDED, summary="Deletes a library and its functions.",
         complexity="O(1)")
def function_delete(c: Client, argv: list[bytes]) -> Any:
    get_engine(c.server).libraries.delete(argv[2])
    _logged(c, argv)
    return OK


@command("function|flush", -2, "noscript write", group=G, since="7.0.0", acl="scripting",
         effects=CUSTOM, tips=_ALL_SUCCEEDED, summary="Deletes all libraries and functions.",
         complexity="O(N) where N is the number of functions deleted")
def function_flush(c: Client, argv: list[bytes]) -> Any:
    if len(argv) > 3 or (len(argv) == 3 and argv[2].lower() not in (b"sync", b"async")):
        raise CommandError("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
    get_engine(c.server).libraries.flush()
    _logged(c, argv)
    return OK


@command("function|list", -2, "noscript", group=G, since="7.0.0", acl="scripting",
         tips="nondeterministic_output_order", summary="Returns information about all libraries.",
         complexity="O(N) where N is the number of functions")
def function_list(c: Client, argv: list[bytes]) -> Any:
    with_code = False
    pattern: bytes | None = None
    i = 2
    while i < len(argv):
        arg = argv[i].lower()
        if arg == b"withcode" and not with_code:
            with_code = True
        elif arg == b"libraryname" and pattern is None:
            if i + 1 >= len(argv):
                raise CommandError("ERR library name argument was not given")
            i += 1
            pattern = argv[i]
        else:
            raise CommandError("ERR Unknown argument " + argv[i].decode("utf-8", "surrogateescape"))
        i += 1
    out = []
    for library in get_engine(c.server).libraries.libraries.values():
        if pattern is not None and not glob_match(pattern, library.name):
            continue
        functions = [
            MapReply([
                (b"name", f.name),
                (b"description", f.description),
                (b"flags", SetReply([Status(flag.decode()) for flag in f.flags])),
            ])
            for f in library.functions.values()
        ]
        entry: list[tuple[bytes, Any]] = [
            (b"library_name", library.name),
            (b"engine", b"LUA"),
            (b"functions", functions),
        ]
        if with_code:
            entry.append((b"library_code", library.code))
        out.append(MapReply(entry))
    return out


@command("function|dump", 2, "noscript", group=G, since="7.0.0", acl="scripting",
         summary="Dumps all libraries into a serialized binary payload.",
         complexity="O(N) where N is the number of functions")
def function_dump(c: Client, argv: list[bytes]) -> Any:
    return get_engine(c.server).libraries.dump()


@command("function|restore", -3, "noscript write denyoom", group=G, since="7.0.0",
         acl="scripting", effects=CUSTOM, tips=_ALL_SUCCEEDED,
         summary="Restores all libraries from a payload.",
         complexity="O(N) where N is the number of functions on the payload")
def function_restore(c: Client, argv: list[bytes]) -> Any:
    policy = b"append"
    if len(argv) > 4:
        raise CommandError("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
    if len(argv) == 4:
        policy = argv[3].lower()
        if policy not in (b"flush", b"append", b"replace"):
            raise CommandError("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
    get_engine(c.server).libraries.restore(argv[2], policy)
    _logged(c, argv)
    return OK


@command("function|stats", 2, "noscript allow_busy", group=G, since="7.0.0", acl="scripting",
         tips="nondeterministic_output request_policy:all_shards response_policy:special",
         summary="Returns information about a function during execution.", complexity="O(1)")
def function_stats(c: Client, argv: list[bytes]) -> Any:
    engine = get_engine(c.server)
    run = engine.run
    running: Any = None
    if run is not None:
        if run.is_eval:
            return ErrorReply(BUSY_EVAL)
        running = MapReply([
            (b"name", run.name.encode("utf-8", "surrogateescape")),
            (b"command", list(run.argv)),
            (b"duration_ms", run.duration_ms()),
        ])
    libraries, functions = engine.libraries.stats()
    return MapReply([
        (b"running_script", running),
        (b"engines", MapReply([
            (b"LUA", MapReply([(b"libraries_count", libraries), (b"functions_count", functions)])),
        ])),
    ])


@command("function|kill", 2, "noscript allow_busy", group=G, since="7.0.0", acl="scripting",
         tips="request_policy:all_shards response_policy:one_succeeded",
         summary="Terminates a function during execution.", complexity="O(1)")
def function_kill(c: Client, argv: list[bytes]) -> Any:
    return kill(c, False)


_HELP = [
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
]
_HELP_REPLY = [Status(line) for line in _HELP]


@command("function|help", 2, "loading stale", group=G, since="7.0.0", acl="scripting",
         summary="Returns helpful text about the different subcommands.", complexity="O(1)")
def function_help(c: Client, argv: list[bytes]) -> Any:
    return _HELP_REPLY
