"""COMMAND and its subcommands: the registry as clients see it.

COMMAND DOCS leaves out the ``arguments`` trees (the registry does not hold
argument specs); everything else follows Redis 7.2's reply shapes.
"""

from __future__ import annotations

from typing import Any

from cairn.commands import errors
from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.registry import (
    ACL_CATEGORIES,
    KEY_FLAG_ORDER,
    Command,
    KeySpec,
    Registry,
    command,
)
from cairn.glob import compile_glob
from cairn.protocol import MapReply, SetReply, Status

G = "server"
_FLAGS = "loading stale sentinel"
_ACL = "connection"
_NONDET = "nondeterministic_output_order"

_KEY_FLAG_NAMES = dict(KEY_FLAG_ORDER)


# -- reply builders -------------------------------------------------------------


def key_flags_reply(flags: tuple[str, ...]) -> SetReply:
    present = set(flags)
    return SetReply([Status(shown) for name, shown in KEY_FLAG_ORDER if name in present])


def _begin_search(spec: KeySpec) -> MapReply:
    begin = spec.begin
    if isinstance(begin, int):
        return MapReply([(b"type", b"index"), (b"spec", MapReply([(b"index", begin)]))])
    if begin[0] == "keyword":
        inner = MapReply([(b"keyword", begin[1].encode()), (b"startfrom", begin[2])])
        return MapReply([(b"type", b"keyword"), (b"spec", inner)])
    return MapReply([(b"type", b"unknown"), (b"spec", MapReply())])


def _find_keys(spec: KeySpec) -> MapReply:
    kind, a, b, c = spec.find
    if kind == "range":
        inner = MapReply([(b"lastkey", a), (b"keystep", b), (b"limit", c)])
        return MapReply([(b"type", b"range"), (b"spec", inner)])
    if kind == "keynum":
        inner = MapReply([(b"keynumidx", a), (b"firstkey", b), (b"keystep", c)])
        return MapReply([(b"type", b"keynum"), (b"spec", inner)])
    return MapReply([(b"type", b"unknown"), (b"spec", MapReply())])


def key_spec_reply(spec: KeySpec) -> MapReply:
    fields: list[tuple[bytes, Any]] = []
    if spec.notes:
        fields.append((b"notes", spec.notes.encode()))
    fields.append((b"flags", key_flags_reply(spec.flags)))
    fields.append((b"begin_search", _begin_search(spec)))
    fields.append((b"find_keys", _find_keys(spec)))
    return MapReply(fields)


_INFO_CACHE: dict[int, tuple[Command, list[Any]]] = {}


def command_info(cmd: Command) -> list[Any]:
    """One COMMAND INFO entry: name, arity, flags, first/last/step, ACL
    categories, tips, key specs, subcommands."""
    cached = _INFO_CACHE.get(id(cmd))
    if cached is not None and cached[0] is cmd:
        return cached[1]
    first, last, step, _movable = cmd.legacy_range()
    if cmd.subcommands:
        subs: Any = [command_info(sub) for sub in cmd.subcommands.values()]
    else:
        subs = SetReply()
    info = [
        cmd.name.encode(),
        cmd.arity,
        SetReply([Status(flag) for flag in cmd.info_flags()]),
        first,
        last,
        step,
        SetReply([Status("@" + cat) for cat in cmd.acl_categories]),
        SetReply([tip.encode() for tip in cmd.tips]),
        SetReply([key_spec_reply(spec) for spec in cmd.key_specs]),
        subs,
    ]
    _INFO_CACHE[id(cmd)] = (cmd, info)
    return info


def command_docs(cmd: Command) -> MapReply:
    """One COMMAND DOCS entry (without the arguments tree)."""
    fields: list[tuple[bytes, Any]] = []
    if cmd.summary:
        fields.append((b"summary", cmd.summary.encode()))
    if cmd.since:
        fields.append((b"since", cmd.since.encode()))
    fields.append((b"group", cmd.group.encode()))
    if cmd.complexity:
        fields.append((b"complexity", cmd.complexity.encode()))
    if cmd.doc_flags:
        fields.append((b"doc_flags", SetReply([Status(f.lower()) for f in cmd.doc_flags])))
    if cmd.deprecated_since:
        fields.append((b"deprecated_since", cmd.deprecated_since.encode()))
    if cmd.replaced_by:
        fields.append((b"replaced_by", cmd.replaced_by.encode()))
    if cmd.history:
        fields.append(
            (b"history", SetReply([[v.encode(), d.encode()] for v, d in cmd.history]))
        )
    if cmd.subcommands:
        fields.append(
            (
                b"subcommands",
                MapReply([(s.name.encode(), command_docs(s)) for s in cmd.subcommands.values()]),
            )
        )
    return MapReply(fields)


# -- COMMAND ------------------------------------------------------------------


@command("command", -1, _FLAGS, group=G, since="2.8.13", acl=_ACL, tips=_NONDET,
         summary="Returns detailed information about all commands.",
         complexity="O(N) where N is the total number of Redis commands")
def command_(c: Client, argv: list[bytes]) -> Any:
    return [command_info(cmd) for cmd in c.server.registry.commands.values()]


@command("command|count", 2, _FLAGS, group=G, since="2.8.13", acl=_ACL,
         summary="Returns a count of commands.", complexity="O(1)")
def command_count(c: Client, argv: list[bytes]) -> Any:
    return len(c.server.registry.commands)


@command("command|info", -2, _FLAGS, group=G, since="2.8.13", acl=_ACL, tips=_NONDET,
         summary="Returns information about one, multiple or all commands.",
         complexity="O(N) where N is the number of commands to look up",
         history=(("7.0.0", "Allowed to be called with no argument to get info on all commands."),))
def command_info_(c: Client, argv: list[bytes]) -> Any:
    registry = c.server.registry
    if len(argv) == 2:
        return [command_info(cmd) for cmd in registry.commands.values()]
    out: list[Any] = []
    for name in argv[2:]:
        cmd = registry.lookup(name)
        out.append(None if cmd is None else command_info(cmd))
    return out


@command("command|docs", -2, _FLAGS, group=G, since="7.0.0", acl=_ACL, tips=_NONDET,
         summary="Returns documentary information about one, multiple or all commands.",
         complexity="O(N) where N is the number of commands to look up")
def command_docs_(c: Client, argv: list[bytes]) -> Any:
    registry = c.server.registry
    if len(argv) == 2:
        return MapReply([(cmd.name.encode(), command_docs(cmd)) for cmd in registry.commands.values()])
    out: list[tuple[bytes, Any]] = []
    for name in argv[2:]:
        cmd = registry.lookup(name)
        if cmd is not None:
            out.append((cmd.name.encode(), command_docs(cmd)))
    return MapReply(out)


def _every_command(registry: Registry) -> list[Command]:
    return registry.all()


@command("command|list", -2, _FLAGS, group=G, since="7.0.0", acl=_ACL, tips=_NONDET,
         summary="Returns a list of command names.",
         complexity="O(N) where N is the total number of Redis commands")
def command_list(c: Client, argv: list[bytes]) -> Any:
    commands = _every_command(c.server.registry)
    if len(argv) == 2:
        return [cmd.name.encode() for cmd in commands]
    if len(argv) != 5 or argv[2].lower() != b"filterby":
        raise CommandError(errors.SYNTAX)
    kind, value = argv[3].lower(), argv[4]
    if kind == b"module":
        return []  # Cairn loads no modules
    if kind == b"aclcat":
        category = value.decode("utf-8", "surrogateescape").lower()
        if category not in ACL_CATEGORIES:
            return []
        return [cmd.name.encode() for cmd in commands if category in cmd.acl_categories]
    if kind == b"pattern":
        regex = compile_glob(value, True)
        return [cmd.name.encode() for cmd in commands if regex.match(cmd.name.encode())]
    raise CommandError(errors.SYNTAX)


def _getkeys(c: Client, argv: list[bytes], with_flags: bool) -> Any:
    target = argv[2:]
    cmd = c.server.registry.get(target[0])
    if cmd is not None and cmd.subcommands and len(target) > 1:
        cmd = cmd.subcommands.get(target[1].lower())
    if cmd is None:
        raise CommandError("ERR Invalid command specified")
    if not cmd.has_keys:
        raise CommandError("ERR The command has no key arguments")
    argc = len(target)
    if (cmd.arity > 0 and cmd.arity != argc) or argc < -cmd.arity:
        raise CommandError("ERR Invalid number of arguments specified for command")
    found = cmd.keys_with_flags(target)
    if not found:
        if "no_mandatory_keys" in cmd.flags:
            return []
        raise CommandError("ERR Invalid arguments specified for command")
    if with_flags:
        return [[target[pos], key_flags_reply(flags)] for pos, flags in found]
    return [target[pos] for pos, _ in found]


@command("command|getkeys", -3, _FLAGS, group=G, since="2.8.13", acl=_ACL,
         summary="Extracts the key names from an arbitrary command.",
         complexity="O(N) where N is the number of arguments to the command")
def command_getkeys(c: Client, argv: list[bytes]) -> Any:
    return _getkeys(c, argv, False)


@command("command|getkeysandflags", -3, _FLAGS, group=G, since="7.0.0", acl=_ACL,
         summary="Extracts the key names and access flags for an arbitrary command.",
         complexity="O(N) where N is the number of arguments to the command")
def command_getkeysandflags(c: Client, argv: list[bytes]) -> Any:
    return _getkeys(c, argv, True)


_HELP = [
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
]
_HELP_REPLY = [Status(line) for line in _HELP]


@command("command|help", 2, _FLAGS, group=G, since="5.0.0", acl=_ACL,
         summary="Returns helpful text about the different subcommands.", complexity="O(1)")
def command_help(c: Client, argv: list[bytes]) -> Any:
    return _HELP_REPLY
