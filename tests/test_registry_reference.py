"""Every registered command against Redis 7.2's command specs.

The specs live outside the repository, in ``<repo>/../shared/reference/
redis-7.2-commands/<name>.json`` (``config-get.json`` for ``CONFIG GET``).
For each command and subcommand in the registry this checks arity, flags,
key specs, ACL categories (explicit ones from the JSON plus the ones Redis
derives from the flags), command tips and the documentation facts (since,
group, doc flags, deprecation). Each aspect is its own test so one report
lists every command that disagrees.

Not compared: summaries (ours are our own words), key-spec notes, complexity
and history prose, argument trees. Flags SENTINEL / ONLY_SENTINEL are ignored
on both sides: Cairn never runs as a Sentinel and Redis hides them from
COMMAND INFO anyway.
"""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

import pytest

import cairn.commands  # noqa: F401  (registers every command)
from cairn.commands.registry import (
    REGISTRY,
    UNKNOWN_BEGIN,
    UNKNOWN_FIND,
    Command,
    KeySpec,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.normpath(
    os.path.join(ROOT, "..", "shared", "reference", "redis-7.2-commands")
)

_IGNORED_FLAGS = {"sentinel", "only_sentinel"}

needs_reference = pytest.mark.skipif(
    not os.path.isdir(REFERENCE),
    reason=f"Redis 7.2 command specs not found at {REFERENCE}",
)


def reference_file(name: str) -> str:
    return os.path.join(REFERENCE, name.replace("|", "-") + ".json")


@cache
def load_reference(name: str) -> dict[str, Any] | None:
    """The JSON entry of a command ("get") or subcommand ("config|get")."""
    path = reference_file(name)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        data = json.load(handle)
    ((_, entry),) = data.items()
    return dict(entry)


def json_flags(entry: dict[str, Any]) -> set[str]:
    return {f.lower() for f in entry.get("command_flags", [])} - _IGNORED_FLAGS


def json_key_spec(spec: dict[str, Any]) -> KeySpec:
    """A KeySpec built from a JSON key spec (notes left out)."""
    (bkind, bval), = spec["begin_search"].items()
    begin: int | tuple[str, str, int]
    if bkind == "index":
        begin = bval["pos"]
    elif bkind == "keyword":
        begin = ("keyword", bval["keyword"], bval["startfrom"])
    else:
        begin = UNKNOWN_BEGIN
    (fkind, fval), = spec["find_keys"].items()
    find: tuple[str, int, int, int]
    if fkind == "range":
        find = ("range", fval["lastkey"], fval["step"], fval["limit"])
    elif fkind == "keynum":
        find = ("keynum", fval["keynumidx"], fval["firstkey"], fval["step"])
    else:
        find = UNKNOWN_FIND
    return KeySpec(tuple(spec["flags"]), begin, find)


def implied_acl(entry: dict[str, Any]) -> list[str]:
    """ACL categories as Redis computes them: the explicit ones plus those the
    flags imply (write, read unless scripting, admin+dangerous, pubsub, fast,
    blocking, and slow for whatever is not fast)."""
    cats = {c.lower() for c in entry.get("acl_categories", [])}
    flags = json_flags(entry)
    if "write" in flags:
        cats.add("write")
    if "readonly" in flags and "scripting" not in cats:
        cats.add("read")
    if "admin" in flags:
        cats |= {"admin", "dangerous"}
    if "pubsub" in flags:
        cats.add("pubsub")
    if "fast" in flags:
        cats.add("fast")
    if "blocking" in flags:
        cats.add("blocking")
    if "fast" not in cats:
        cats.add("slow")
    return sorted(cats)


def command_from_reference(name: str) -> Command:
    """A handler-less Command holding the reference's metadata (for key tests)."""
    entry = load_reference(name)
    assert entry is not None, name
    return Command(
        name=name,
        arity=entry["arity"],
        flags=frozenset(json_flags(entry)),
        handler=None,
        group=entry["group"],
        since=entry["since"],
        key_specs=tuple(json_key_spec(s) for s in entry.get("key_specs", [])),
        acl=frozenset(c.lower() for c in entry.get("acl_categories", [])),
    )


def _registered() -> list[Command]:
    return sorted(REGISTRY.all(), key=lambda c: c.name)


def _mismatches(check: Any) -> list[str]:
    problems: list[str] = []
    for cmd in _registered():
        entry = load_reference(cmd.name)
        if entry is None:
            continue  # reported by test_every_command_has_a_reference
        problem = check(cmd, entry)
        if problem:
            problems.append(f"{cmd.name}: {problem}")
    return problems


def _report(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} mismatch(es) with Redis 7.2:\n  " + "\n  ".join(problems)


@needs_reference
def test_every_command_has_a_reference() -> None:
    missing = [c.name for c in _registered() if load_reference(c.name) is None]
    assert not missing, f"registered but not a Redis 7.2 command: {missing}"


@needs_reference
def test_subcommands_belong_to_their_container() -> None:
    problems = []
    for cmd in _registered():
        if cmd.parent is None:
            continue
        entry = load_reference(cmd.name)
        if entry is not None and entry.get("container", "").lower() != cmd.parent.name:
            problems.append(f"{cmd.name}: container is {entry.get('container')!r}")
    _report(problems)


@needs_reference
def test_arity() -> None:
    _report(_mismatches(
        lambda cmd, e: cmd.arity != e["arity"] and f"arity {cmd.arity}, Redis {e['arity']}"
    ))


@needs_reference
def test_flags() -> None:
    def check(cmd: Command, entry: dict[str, Any]) -> str:
        ours = set(cmd.flags) - _IGNORED_FLAGS
        theirs = json_flags(entry)
        if ours == theirs:
            return ""
        return f"extra {sorted(ours - theirs)}, missing {sorted(theirs - ours)}"

    _report(_mismatches(check))


@needs_reference
def test_key_specs() -> None:
    def check(cmd: Command, entry: dict[str, Any]) -> str:
        ours = [(set(s.flags), s.begin, s.find) for s in cmd.key_specs]
        theirs = [
            (set(k.flags), k.begin, k.find)
            for k in (json_key_spec(s) for s in entry.get("key_specs", []))
        ]
        return "" if ours == theirs else f"\n    ours  {ours}\n    redis {theirs}"

    _report(_mismatches(check))


@needs_reference
def test_acl_categories() -> None:
    def check(cmd: Command, entry: dict[str, Any]) -> str:
        ours = sorted(cmd.acl_categories)
        theirs = implied_acl(entry)
        return "" if ours == theirs else f"ours {ours}, Redis {theirs}"

    _report(_mismatches(check))


@needs_reference
def test_command_tips() -> None:
    def check(cmd: Command, entry: dict[str, Any]) -> str:
        ours = sorted(cmd.tips)
        theirs = sorted(t.lower() for t in entry.get("command_tips", []))
        return "" if ours == theirs else f"tips {ours}, Redis {theirs}"

    _report(_mismatches(check))


@needs_reference
def test_documentation_facts() -> None:
    def check(cmd: Command, entry: dict[str, Any]) -> str:
        ours = (
            cmd.since,
            cmd.group,
            sorted(f.lower() for f in cmd.doc_flags),
            cmd.deprecated_since,
            cmd.replaced_by,
        )
        theirs = (
            entry["since"],
            entry["group"],
            sorted(f.lower() for f in entry.get("doc_flags", [])),
            entry.get("deprecated_since", ""),
            entry.get("replaced_by", ""),
        )
        return "" if ours == theirs else f"(since, group, doc_flags, deprecated, replaced_by) {ours}, Redis {theirs}"

    _report(_mismatches(check))


@needs_reference
def test_containers_list_the_subcommands_we_register() -> None:
    """A container's JSON entry exists and each subcommand names it."""
    problems = []
    for cmd in _registered():
        if cmd.subcommands and load_reference(cmd.name) is None:
            problems.append(f"{cmd.name}: no container entry")
    _report(problems)


def test_reference_helpers_roundtrip() -> None:
    """The JSON -> KeySpec conversion the tests above rely on."""
    spec = json_key_spec(
        {
            "flags": ["RW", "ACCESS"],
            "begin_search": {"keyword": {"keyword": "STREAMS", "startfrom": 1}},
            "find_keys": {"range": {"lastkey": -1, "step": 1, "limit": 2}},
        }
    )
    assert spec == KeySpec(("RW", "ACCESS"), ("keyword", "STREAMS", 1), ("range", -1, 1, 2))
    assert implied_acl({"command_flags": ["WRITE", "FAST"], "acl_categories": ["STRING"]}) == [
        "fast",
        "string",
        "write",
    ]
    assert implied_acl({"command_flags": ["READONLY"], "acl_categories": ["SCRIPTING"]}) == [
        "scripting",
        "slow",
    ]
