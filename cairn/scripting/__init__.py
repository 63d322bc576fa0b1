"""Lua scripting: EVAL scripts, function libraries, the sandbox and its limits.

``get_engine(server)`` gives the server's runtime (created on first use);
``busy_check`` is what dispatch asks while a script runs past
busy-reply-threshold; ``info_fields`` feeds INFO.
"""

from __future__ import annotations

from typing import Any

from cairn.commands.registry import Command
from cairn.observability.info import bytes_to_human, register_fields
from cairn.protocol import ErrorReply
from cairn.scripting.engine import BUSY_EVAL, BUSY_FUNCTION, RunState, ScriptEngine, get_engine

__all__ = ["ScriptEngine", "busy_check", "get_engine", "info_fields"]

_BUSY_EVAL = ErrorReply(BUSY_EVAL)
_BUSY_FUNCTION = ErrorReply(BUSY_FUNCTION)


def busy_check(server: Any, client: Any, cmd: Command) -> ErrorReply | None:
    """The BUSY error for a command arriving while a script is timed out
    (past busy-reply-threshold); None when it may run. Commands flagged
    allow_busy pass (SCRIPT KILL, FUNCTION KILL/STATS, SHUTDOWN, AUTH, HELLO,
    MULTI...); their handlers refuse what does not fit the running kind."""
    run: RunState | None = getattr(server, "script_running", None)
    if run is None or not run.timed_out or run.caller is client:
        return None
    if "allow_busy" in cmd.flags:
        return None
    return _BUSY_EVAL if run.is_eval else _BUSY_FUNCTION


def info_fields(server: Any) -> list[tuple[str, Any]]:
    """Scripting figures of INFO's memory section, in Redis 7's order. Eval
    scripts and functions share one Lua VM: it is counted as the eval VM."""
    engine: ScriptEngine | None = getattr(server, "scripting", None)
    if engine is None:
        lua_memory = scripts = libraries = functions = scripts_memory = functions_memory = 0
    else:
        lua_memory = engine.memory_used()
        scripts = len(engine.scripts)
        scripts_memory = engine.scripts_memory
        libraries, functions = engine.libraries.stats()
        functions_memory = engine.libraries.memory_used()
    return [
        ("used_memory_lua", lua_memory),
        ("used_memory_vm_eval", lua_memory),
        ("used_memory_lua_human", bytes_to_human(lua_memory)),
        ("used_memory_scripts_eval", scripts_memory),
        ("number_of_cached_scripts", scripts),
        ("number_of_functions", functions),
        ("number_of_libraries", libraries),
        ("used_memory_vm_functions", 0),
        ("used_memory_vm_total", lua_memory),
        ("used_memory_vm_total_human", bytes_to_human(lua_memory)),
        ("used_memory_functions", functions_memory),
        ("used_memory_scripts", scripts_memory + functions_memory),
        ("used_memory_scripts_human", bytes_to_human(scripts_memory + functions_memory)),
    ]


register_fields("memory", info_fields)
