"""COMMAND, COMMAND COUNT | INFO | DOCS | LIST | GETKEYS | GETKEYSANDFLAGS | HELP.

Differential where both servers know the command. Key extraction (the
registry's key-spec logic and get-keys procedures) is checked for every Redis
command with keys: a Command built from the 7.2 spec must find the same keys
(and flags) as the real server's COMMAND GETKEYSANDFLAGS, whether or not a
Cairn family implements that command yet.
"""

from __future__ import annotations

from typing import Any

import hiredis
import pytest
from harness import Pair, RawClient
from test_registry_reference import (
    command_from_reference,
    json_flags,
    load_reference,
    needs_reference,
)

import cairn.commands  # noqa: F401
from cairn.commands.introspection import key_flags_reply
from cairn.commands.registry import REGISTRY, Command, default_getkeys
from cairn.protocol import encode


def _parse(raw: bytes) -> Any:
    reader = hiredis.Reader()
    reader.feed(raw)
    return reader.gets()


def _norm_info(info: Any) -> Any:
    """COMMAND INFO entry with Redis' hash-ordered parts made order-free."""
    if info is None:
        return None
    name, arity, flags, first, last, step, cats, tips, specs, subs = info
    return (
        name, arity, sorted(flags), first, last, step, sorted(cats), sorted(tips),
        [_strip_notes(s) for s in specs],
        sorted((_norm_info(s) for s in subs), key=repr),
    )


def _strip_notes(spec: Any) -> Any:
    if isinstance(spec, dict):
        return {k: v for k, v in spec.items() if k != b"notes"}
    pairs = dict(zip(spec[::2], spec[1::2]))
    pairs.pop(b"notes", None)
    return pairs


def _expected_from_reference(name: str, oracle: Any) -> Any:
    """Where Redis 7.2 differs from the 7.0 oracle (arity, flags, tips), take 7.2."""
    entry = load_reference(name)
    if entry is None or oracle is None:
        return oracle
    info = list(oracle)
    info[1] = entry["arity"]
    movable = [b"movablekeys"] if b"movablekeys" in info[2] else []
    hidden = {"may_replicate", "protected", "touches_arbitrary_keys"}
    info[2] = sorted([f.encode() for f in json_flags(entry) - hidden] + movable)
    info[7] = sorted(t.lower().encode() for t in entry.get("command_tips", []))
    info[9] = sorted(
        (_expected_from_reference(sub[0].decode(), sub) for sub in info[9]), key=repr
    )
    return tuple(info)


def _only_in_72(pair: Pair) -> set[bytes]:
    """Registered names the 7.0 oracle does not know (CLIENT SETINFO, NO-TOUCH...)."""
    names = [c.name for c in REGISTRY.all()]
    infos = _parse(pair.real.raw("COMMAND", "INFO", *names))
    return {n.encode() for n, info in zip(names, infos) if info is None}


def test_count_matches_the_registry(pair: Pair) -> None:
    got = pair.cairn.call("COMMAND", "COUNT")
    assert got == len(REGISTRY.commands)
    assert pair.real.call("COMMAND", "COUNT") > 200
    pair.check("COMMAND", "COUNT", "x")


def test_all_commands_listed(pair2: Pair) -> None:
    infos = pair2.cairn.call("COMMAND")
    assert sorted(i[0] for i in infos) == sorted(c.name.encode() for c in REGISTRY.commands.values())
    assert pair2.cairn.call("COMMAND", "INFO") == infos
    names = pair2.cairn.call("COMMAND", "LIST")
    assert sorted(names) == sorted(c.name.encode() for c in REGISTRY.all())
    # Every name Cairn lists is one Redis lists too.
    assert set(names) <= set(pair2.real.call("COMMAND", "LIST")) | _only_in_72(pair2)


@needs_reference
def test_info_of_connection_commands_matches_redis(pair: Pair) -> None:
    """All commands of the connection group (and their subcommands) vs the oracle.

    Redis 7.2 changed some of them (e.g. ECHO gained loading/stale, COMMAND
    GETKEYS arity -3, CLIENT SETINFO is new): arity and flags follow the 7.2 specs."""
    names = [c.name for c in REGISTRY.all() if c.group == "connection"]
    assert names
    problems = []
    for name in names:
        cairn = _parse(pair.cairn.raw("COMMAND", "INFO", name))[0]
        real = _parse(pair.real.raw("COMMAND", "INFO", name))[0]
        if real is None:  # new in 7.2 (CLIENT SETINFO): check against the spec only
            entry = load_reference(name)
            assert entry is not None and cairn[1] == entry["arity"], name
            continue
        expected = _expected_from_reference(name, _norm_info(real))
        # Subcommands are compared one by one (a container may lack some of Redis').
        if _norm_info(cairn)[:9] != expected[:9]:
            problems.append(f"{name}:\n    cairn {_norm_info(cairn)}\n    redis {expected}")
    assert not problems, "\n".join(problems)


@needs_reference
def test_info_of_config_and_command_matches_redis(pair: Pair) -> None:
    for name in ("config", "config|get", "CONFIG|SET", "command|count", "command|list"):
        cairn = _parse(pair.cairn.raw("COMMAND", "INFO", name))[0]
        real = _parse(pair.real.raw("COMMAND", "INFO", name))[0]
        assert _norm_info(cairn) == _expected_from_reference(name.lower(), _norm_info(real)), name
    # The raw bytes, both protocols, for an entry without hash-ordered parts.
    pair.check("COMMAND", "INFO", "config|get", "nosuch", "config|nosuch", "command|count",
               "config|help")


@needs_reference
def test_info_reply_shape_for_key_specs() -> None:
    """Key-spec maps, legacy range and movablekeys for the kinds of spec Redis has."""
    from cairn.commands.introspection import command_info

    real = RawClient(_oracle_port(), 3)
    try:
        for name in ("get", "mset", "sort", "migrate", "zunionstore", "xread", "georadius",
                     "blpop", "eval", "sunionstore", "spublish", "set", "memory|usage"):
            cmd = command_from_reference(name)
            entry = load_reference(name)
            assert entry is not None
            cmd.tips = tuple(t.lower() for t in entry.get("command_tips", []))
            ours = _parse(encode([command_info(cmd)], True))[0]
            theirs = _parse(real.raw("COMMAND", "INFO", name))[0]
            assert _norm_info(ours) == _expected_from_reference(name, _norm_info(theirs)), name
    finally:
        real.close()


_ORACLE_PORT: list[int] = []


def _oracle_port() -> int:
    assert _ORACLE_PORT, "the redis_server fixture sets this"
    return _ORACLE_PORT[0]


@pytest.fixture(autouse=True)
def _remember_oracle(redis_server: Any) -> None:
    _ORACLE_PORT[:] = [redis_server.port]


def test_docs(pair: Pair) -> None:
    def norm(raw: bytes) -> Any:
        value = _parse(raw)
        if isinstance(value, list):
            value = dict(zip(value[::2], value[1::2]))
        out = {}
        for name, doc in value.items():
            if isinstance(doc, list):
                doc = dict(zip(doc[::2], doc[1::2]))
            doc = {k: v for k, v in doc.items() if k not in (b"summary", b"arguments", b"subcommands")}
            out[name] = doc
        return out

    for names in (("config|get",), ("config|set", "nosuch", "command|docs"), ("ping", "echo")):
        assert norm(pair.cairn.raw("COMMAND", "DOCS", *names)) == norm(
            pair.real.raw("COMMAND", "DOCS", *names)
        ), names
    pair.check("COMMAND", "DOCS", "nosuch")
    docs = _parse(pair.cairn.raw("COMMAND", "DOCS", "config"))
    docs = docs if isinstance(docs, dict) else dict(zip(docs[::2], docs[1::2]))
    config = docs[b"config"]
    config = config if isinstance(config, dict) else dict(zip(config[::2], config[1::2]))
    subs = config[b"subcommands"]
    subs = subs if isinstance(subs, dict) else dict(zip(subs[::2], subs[1::2]))
    assert set(subs) == {b"config|get", b"config|set", b"config|resetstat", b"config|rewrite",
                         b"config|help"}
    # QUIT is deprecated in 7.2 (not in the 7.0 oracle): doc flags from the registry.
    quit_doc = _parse(pair.cairn.raw("COMMAND", "DOCS", "quit"))
    assert b"deprecated" in repr(quit_doc).encode()
    everything = _parse(pair.cairn.raw("COMMAND", "DOCS"))
    assert len(everything) in (len(REGISTRY.commands), 2 * len(REGISTRY.commands))


def test_list_filterby(pair: Pair) -> None:
    ours_all = {c.name.encode() for c in REGISTRY.all()}
    new = _only_in_72(pair)
    for args in (("PATTERN", "conf*"), ("pattern", "CONFIG|*"), ("PATTERN", "*|help"),
                 ("PATTERN", "c[lo]*"), ("ACLCAT", "connection"), ("aclcat", "ADMIN"),
                 ("ACLCAT", "slow"), ("ACLCAT", "fast"), ("ACLCAT", "dangerous"),
                 ("ACLCAT", "nosuch"), ("MODULE", "nosuch")):
        ours = _parse(pair.cairn.raw("COMMAND", "LIST", "FILTERBY", *args))
        theirs = _parse(pair.real.raw("COMMAND", "LIST", "FILTERBY", *args))
        assert len(ours) == len(set(ours)), args
        # Cairn lists exactly what Redis lists, among the commands Cairn has
        # (leaving out those new in 7.2, which the oracle cannot list).
        assert set(ours) - new == set(theirs) & ours_all, args
    for bad in (("FILTERBY",), ("FILTERBY", "foo", "bar"), ("foo",), ("FILTERBY", "PATTERN"),
                ("FILTERBY", "PATTERN", "x", "y"), ("FILTERBY", "ACLCAT")):
        pair.check("COMMAND", "LIST", *bad)


def test_help_and_errors(pair: Pair) -> None:
    pair.check("COMMAND", "HELP")
    pair.check("COMMAND", "HELP", "x")
    pair.check("COMMAND", "NOSUCH")
    pair.check("COMMAND", "INFO", "nosuch")


def test_getkeys_errors(pair: Pair) -> None:
    pair.check("COMMAND", "GETKEYS", "nosuch", "a")
    pair.check("COMMAND", "GETKEYS", "ping", "a")
    pair.check("COMMAND", "GETKEYS", "config", "get")
    pair.check("COMMAND", "GETKEYS", "config", "nosuch")
    pair.check("COMMAND", "GETKEYSANDFLAGS", "nosuch", "a")
    pair.check("COMMAND", "GETKEYS", "watch", "a", "b", "c")
    pair.check("COMMAND", "GETKEYSANDFLAGS", "watch", "a", "b")
    pair.check("COMMAND", "GETKEYS")
    # 7.2 lowered COMMAND GETKEYS' arity from -4 to -3 (the 7.0 oracle answers
    # an arity error); 7.2 then reports the target command's arity.
    for sub in ("GETKEYS", "GETKEYSANDFLAGS"):
        assert pair.cairn.raw("COMMAND", sub, "watch") == (
            b"-ERR Invalid number of arguments specified for command\r\n"
        )
        assert pair.cairn.raw("COMMAND", sub, "config") == (
            b"-ERR The command has no key arguments\r\n"
        )
        assert pair.cairn.raw("COMMAND", sub, "nosuch") == b"-ERR Invalid command specified\r\n"


# -- key extraction against the oracle for every Redis command with keys ---------

# Argument vectors per command name; every command with key specs also gets
# generic vectors of plain words of lengths its arity allows.
_SAMPLES: dict[str, list[list[str]]] = {
    "sort": [["sort", "k"], ["sort", "k", "store", "d"], ["sort", "k", "by", "store", "store", "d"],
             ["sort", "k", "limit", "0", "1", "store", "d", "get", "store"],
             ["sort", "k", "store", "a", "store", "b"], ["sort", "k", "store"]],
    "sort_ro": [["sort_ro", "k", "by", "x"]],
    "migrate": [["migrate", "h", "1", "k", "0", "10"],
                ["migrate", "h", "1", "", "0", "10", "keys", "a", "b"],
                ["migrate", "h", "1", "k", "0", "10", "keys", "a", "b"],
                ["migrate", "h", "1", "", "0", "10", "auth", "keys", "keys", "a"],
                ["migrate", "h", "1", "", "0", "10", "auth2", "u", "keys", "keys", "a"],
                ["migrate", "h", "1", "", "0", "10", "copy", "replace", "keys", "a"]],
    "set": [["set", "k", "v"], ["set", "k", "v", "get"], ["set", "k", "v", "nx", "GET"],
            ["set", "k", "get"]],
    "bitfield": [["bitfield", "k"], ["bitfield", "k", "get", "u8", "0"],
                 ["bitfield", "k", "get", "u8", "0", "set", "u8", "0", "1"],
                 ["bitfield", "k", "overflow", "wrap", "get", "i8", "1"],
                 ["bitfield", "k", "get", "u8"], ["bitfield", "k", "incrby", "u8", "0", "1"]],
    "zunionstore": [["zunionstore", "d", "2", "a", "b"], ["zunionstore", "d", "0", "a"],
                    ["zunionstore", "d", "2abc", "a", "b"], ["zunionstore", "d", "3", "a", "b"],
                    ["zunionstore", "d", "-1", "a"], ["zunionstore", "d", "1", "a", "weights", "2"]],
    "zinter": [["zinter", "2", "a", "b"], ["zinter", "1x", "a"], ["zinter", " 1", "a"],
               ["zinter", "0", "a"]],
    "eval": [["eval", "s", "0"], ["eval", "s", "2", "a", "b", "c"], ["eval", "s", "3", "a"],
             ["eval", "s", "x"], ["eval", "s", "-1"], ["eval", "s", "1"]],
    "fcall": [["fcall", "f", "1", "a"], ["fcall", "f", "0", "a"]],
    "lmpop": [["lmpop", "2", "a", "b", "left"], ["lmpop", "0", "a", "left"],
              ["lmpop", "5", "a", "left"]],
    "blmpop": [["blmpop", "0", "2", "a", "b", "left"], ["blmpop", "0", "1", "a", "left", "count", "1"]],
    "sintercard": [["sintercard", "2", "a", "b"], ["sintercard", "2", "a", "b", "limit", "1"]],
    "xread": [["xread", "streams", "a", "0"], ["xread", "streams", "a", "b", "0", "0"],
              ["xread", "count", "1", "streams", "a", "b", "c"],
              ["xread", "count", "streams", "streams", "a", "0"], ["xread", "block", "0", "a", "0"]],
    "xreadgroup": [["xreadgroup", "group", "g", "c", "streams", "a", "0"],
                   ["xreadgroup", "group", "g", "c", "count", "1", "streams", "a", "b", "0", "0"]],
    "georadius": [["georadius", "k", "1", "2", "3", "m"],
                  ["georadius", "k", "1", "2", "3", "m", "store", "d"],
                  ["georadius", "k", "1", "2", "3", "m", "store", "d", "storedist", "e"],
                  ["georadius", "k", "1", "2", "3", "m", "withdist", "store"]],
    "mset": [["mset", "a", "1", "b", "2"], ["mset", "a", "1", "b"]],
    "blpop": [["blpop", "a", "b", "0"], ["blpop", "a", "0"]],
    "memory|usage": [["memory", "usage", "k"], ["memory", "usage", "k", "samples", "5"]],
    "object|encoding": [["object", "encoding", "k"]],
    "xinfo|stream": [["xinfo", "stream", "k", "full"]],
    "spublish": [["spublish", "c", "m"]],
    "ssubscribe": [["ssubscribe", "a", "b"]],
}


def _generic_samples(cmd: Command) -> list[list[str]]:
    words = cmd.name.split("|")
    arity = cmd.arity
    lengths = [arity] if arity > 0 else [-arity, -arity + 1, -arity + 2, -arity + 3]
    out = []
    for n in lengths:
        extra = n - len(words)
        if extra >= 0:
            out.append(words + [f"a{i}" for i in range(extra)])
    return out


def _reference_commands_with_keys() -> list[str]:
    import os

    from test_registry_reference import REFERENCE

    names = []
    for file in sorted(os.listdir(REFERENCE)):
        if not file.endswith(".json"):
            continue
        entry = load_reference(file[:-5])
        if entry is None or not entry.get("key_specs"):
            continue
        name = file[:-5]
        if entry.get("container"):
            name = entry["container"].lower() + "|" + name[len(entry["container"]) + 1:]
            entry = load_reference(name)
            if entry is None:
                continue
        names.append(name)
    return names


@needs_reference
def test_key_extraction_matches_redis_for_every_command(redis_server: Any) -> None:
    real = RawClient(redis_server.port, 3)
    checked = 0
    problems = []
    try:
        for name in _reference_commands_with_keys():
            cmd = command_from_reference(name)
            cmd.getkeys = default_getkeys(name, cmd.key_specs)  # as the registry attaches it
            oracle_info = _parse(real.raw("COMMAND", "INFO", name))[0]
            if oracle_info is None or oracle_info[1] != cmd.arity:
                continue  # not in 7.0, or its syntax changed in 7.2 (ZRANK WITHSCORE)
            samples = _SAMPLES.get(name, []) + _generic_samples(cmd)
            for argv in samples:
                if (cmd.arity > 0 and len(argv) != cmd.arity) or len(argv) < -cmd.arity:
                    continue
                theirs = real.raw("COMMAND", "GETKEYSANDFLAGS", *argv)
                if theirs.startswith(b"-ERR wrong number of arguments"):
                    continue  # 7.0's COMMAND GETKEYS arity (-4) is stricter than 7.2's
                found = cmd.keys_with_flags([a.encode() for a in argv])
                if not cmd.has_keys:
                    ours = encode_error("ERR The command has no key arguments")
                elif not found:
                    ours = (b"*0\r\n" if "no_mandatory_keys" in cmd.flags
                            else encode_error("ERR Invalid arguments specified for command"))
                else:
                    ours = encode([[argv[p].encode(), key_flags_reply(f)] for p, f in found], True)
                checked += 1
                if ours != theirs:
                    problems.append(f"{argv}: redis {theirs!r} ours {ours!r}")
    finally:
        real.close()
    assert checked > 300
    assert not problems, "\n".join(problems)


def encode_error(message: str) -> bytes:
    return b"-" + message.encode() + b"\r\n"
