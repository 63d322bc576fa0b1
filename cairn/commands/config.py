"""CONFIG GET | SET | RESETSTAT | REWRITE | HELP."""

from __future__ import annotations

from typing import Any

from cairn.commands import errors
from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.registry import command, container
from cairn.config import BY_NAME, ConfigError, ConfigSetError, Param
from cairn.protocol import OK, MapReply, Status

G = "server"
_ADMIN = "admin noscript loading stale"
_ALL_NODES = "request_policy:all_nodes response_policy:all_succeeded"

container("config", group=G, since="2.0.0", summary="Server configuration commands.")


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


@command("config|get", -3, _ADMIN, group=G, since="2.0.0",
         summary="Returns the values of the configuration parameters matching the patterns.",
         complexity="O(N) when N is the number of configuration parameters provided",
         history=(("7.0.0", "Added the ability to pass multiple pattern parameters in one call"),))
def config_get(c: Client, argv: list[bytes]) -> Any:
    pairs = c.server.config.get_many([_text(a) for a in argv[2:]])
    return MapReply(
        [
            (name.encode("utf-8", "surrogateescape"), value.encode("utf-8", "surrogateescape"))
            for name, value in pairs
        ]
    )


def _set_failed(name: str, reason: str) -> CommandError:
    return CommandError(f"ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")


def _protected_allowed(c: Client) -> bool:
    mode = c.server.config["enable-protected-configs"]
    if mode == "yes":
        return True
    if mode == "local":
        host = c.addr.rsplit(":", 1)[0] if c.addr else ""
        return host in ("127.0.0.1", "::1", "[::1]") or c.addr.startswith("/") or not c.addr
    return False


@command("config|set", -4, _ADMIN, group=G, since="2.0.0", tips=_ALL_NODES,
         summary="Sets configuration parameters, all of them or none.",
         complexity="O(N) when N is the number of configuration parameters provided",
         history=(("7.0.0", "Added the ability to set multiple parameters in one call."),))
def config_set(c: Client, argv: list[bytes]) -> Any:
    if len(argv) % 2:
        raise CommandError(errors.SYNTAX)
    pairs: list[tuple[Param, str]] = []
    names: list[str] = []
    seen: set[str] = set()
    # First pass, in order: unknown, immutable, protected, duplicate; the first one wins.
    for i in range(2, len(argv), 2):
        name = _text(argv[i])
        lowered = name.lower()
        param = BY_NAME.get(lowered)
        if param is None:
            raise CommandError(
                f"ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            )
        if param.immutable:
            raise _set_failed(name, "can't set immutable config")
        if param.protected and not _protected_allowed(c):
            raise _set_failed(name, "can't set protected config")
        if lowered in seen:
            raise _set_failed(name, "duplicate parameter")
        seen.add(lowered)
        pairs.append((param, _text(argv[i + 1])))
        names.append(name)
    try:
        c.server.config.set_many(pairs)
    except ConfigSetError as exc:
        raise _set_failed(names[exc.index], exc.reason) from None
    return OK


@command("config|resetstat", 2, _ADMIN, group=G, since="2.0.0", tips=_ALL_NODES,
         summary="Resets the server's statistics.", complexity="O(1)")
def config_resetstat(c: Client, argv: list[bytes]) -> Any:
    from cairn.commands.server import reset_stats  # written by the server family

    reset_stats(c.server)
    return OK


@command("config|rewrite", 2, _ADMIN, group=G, since="2.8.0", tips=_ALL_NODES,
         summary="Persists the effective configuration to file.", complexity="O(1)")
def config_rewrite(c: Client, argv: list[bytes]) -> Any:
    config = c.server.config
    if config.path is None:
        raise CommandError("ERR The server is running without a config file")
    try:
        config.rewrite()
    except ConfigError as exc:
        raise CommandError(f"ERR {exc}") from None
    except OSError as exc:
        raise CommandError(f"ERR Rewriting config file: {exc.strerror or exc}") from None
    return OK


_HELP = [
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
]
_HELP_REPLY = [Status(line) for line in _HELP]


@command("config|help", 2, "loading stale", group=G, since="5.0.0",
         summary="Returns helpful text about the different subcommands.", complexity="O(1)")
def config_help(c: Client, argv: list[bytes]) -> Any:
    return _HELP_REPLY
