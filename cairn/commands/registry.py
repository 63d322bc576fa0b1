"""The command table: metadata as data, one entry per command or subcommand.

Each family module declares its commands with ``@command(...)``. ACL categories
such as @write, @read, @fast and @slow are derived from the flags the way Redis
derives them, so an entry only names its data-type category.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[..., Any]

# How a write command's change reaches the transaction log.
VERBATIM = "verbatim"  # its own argv, whenever it changed something
CUSTOM = "custom"  # the handler calls db.propagate() with rewritten commands
NO_EFFECTS = "none"  # not a write

KNOWN_FLAGS = frozenset(
    """write readonly denyoom module admin pubsub noscript blocking loading stale
    skip_monitor skip_slowlog asking fast no_auth may_replicate sentinel only_sentinel
    no_mandatory_keys protected module_getkeys module_no_cluster no_async_loading
    no_multi movablekeys allow_busy module_getchannels touches_arbitrary_keys""".split()
)

KEY_FLAGS = frozenset(
    """RO RW OW RM ACCESS UPDATE INSERT DELETE NOT_KEY INCOMPLETE VARIABLE_FLAGS""".split()
)


@dataclass(frozen=True)
class KeySpec:
    """Where a command's keys are, in Redis' key-spec terms.

    begin: an argument index (int) or ``("keyword", keyword, startfrom)``.
    find: ``("range", lastkey, step, limit)`` or ``("keynum", keynumidx, firstkey, step)``.
    """

    flags: tuple[str, ...]
    begin: int | tuple[str, str, int] = 1
    find: tuple[str, int, int, int] = ("range", 0, 1, 0)
    notes: str = ""

    def keys(self, argv: list[bytes]) -> list[int]:
        """Indexes of the key arguments this spec finds in argv."""
        argc = len(argv)
        if isinstance(self.begin, int):
            start = self.begin
        else:
            _, keyword, startfrom = self.begin
            kw = keyword.encode().lower()
            rng = range(startfrom, argc) if startfrom >= 0 else range(argc + startfrom, 0, -1)
            start = -1
            for i in rng:
                if argv[i].lower() == kw:
                    start = i + 1
                    break
            if start < 0:
                return []
        if start >= argc:
            return []
        kind, a, b, c = self.find
        if kind == "range":
            lastkey, step, limit = a, b, c
            if lastkey >= 0:
                last = start + lastkey
            elif limit > 1 and lastkey == -1:
                last = start + (argc - start) // limit - 1
            else:
                last = argc + lastkey
            return list(range(start, min(last, argc - 1) + 1, step))
        keynumidx, firstkey, step = a, b, c
        try:
            numkeys = int(argv[start + keynumidx])
        except (IndexError, ValueError):
            return []
        first = start + firstkey
        return [i for i in range(first, first + numkeys * step, step) if i < argc]


@dataclass
class Command:
    name: str  # lower case; "config|get" for a subcommand
    arity: int
    flags: frozenset[str]
    handler: Handler | None
    group: str
    since: str
    summary: str = ""
    complexity: str = ""
    key_specs: tuple[KeySpec, ...] = ()
    acl: frozenset[str] = frozenset()  # the data-type categories; the rest derive from flags
    effects: str = NO_EFFECTS
    subcommands: dict[bytes, Command] = field(default_factory=dict)
    parent: Command | None = None
    doc_flags: tuple[str, ...] = ()
    deprecated_since: str = ""
    replaced_by: str = ""
    # Statistics (INFO commandstats)
    calls: int = 0
    usec: int = 0
    rejected_calls: int = 0
    failed_calls: int = 0

    @property
    def fullname(self) -> str:
        return self.name

    @property
    def is_write(self) -> bool:
        return "write" in self.flags

    @property
    def acl_categories(self) -> list[str]:
        """Categories as COMMAND INFO lists them, derived as Redis derives them."""
        cats = set(self.acl)
        flags = self.flags
        if "write" in flags:
            cats.add("write")
        if "readonly" in flags and "scripting" not in self.acl:
            cats.add("read")
        if "admin" in flags:
            cats.update(("admin", "dangerous"))
        if "pubsub" in flags:
            cats.add("pubsub")
        if "fast" in flags:
            cats.add("fast")
        if "blocking" in flags:
            cats.add("blocking")
        if "fast" not in flags:
            cats.add("slow")
        return sorted(cats, key=_ACL_ORDER.index)

    def legacy_range(self) -> tuple[int, int, int, bool]:
        """(first key, last key, step, movable keys) as COMMAND INFO reports them.

        One plain index+range spec is used as is; otherwise consecutive step-1
        range specs are merged and anything else makes the keys "movable".
        """
        specs = self.key_specs
        if not specs:
            return 0, 0, 0, False
        only = specs[0]
        if len(specs) == 1 and isinstance(only.begin, int) and only.find[0] == "range":
            _, lastkey, step, _limit = only.find
            last = lastkey if lastkey < 0 else only.begin + lastkey
            return only.begin, last, step, "INCOMPLETE" in only.flags
        movable = False
        first = None
        last = 0
        prev_last = 0
        for spec in specs:
            if not isinstance(spec.begin, int) or spec.find[0] != "range":
                movable = True
                continue
            _, lastkey, step, _limit = spec.find
            if step != 1 or (prev_last and prev_last != spec.begin - 1):
                movable = True
                continue
            if "INCOMPLETE" in spec.flags:
                movable = True
            first = spec.begin if first is None else min(first, spec.begin)
            spec_last = lastkey + spec.begin if lastkey >= 0 else lastkey
            # Negative (relative to the end) wins, like Redis' unsigned comparison.
            if last < 0 and spec_last < 0:
                last = max(last, spec_last)
            elif last < 0 or spec_last < 0:
                last = min(last, spec_last)
            else:
                last = max(last, spec_last)
            prev_last = last
        if first is None:
            return 0, 0, 0, True
        return first, last, 1, movable

    def key_positions(self, argv: list[bytes]) -> list[int]:
        positions: list[int] = []
        for spec in self.key_specs:
            if "NOT_KEY" in spec.flags:
                continue
            positions.extend(spec.keys(argv))
        return positions


# Order in which Redis lists ACL categories (ACLCommandCategories).
_ACL_ORDER = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
]


class Registry:
    def __init__(self) -> None:
        self.commands: dict[bytes, Command] = {}

    def add(self, cmd: Command) -> Command:
        unknown = cmd.flags - KNOWN_FLAGS
        if unknown:
            raise ValueError(f"{cmd.name}: unknown flags {sorted(unknown)}")
        for spec in cmd.key_specs:
            bad = set(spec.flags) - KEY_FLAGS
            if bad:
                raise ValueError(f"{cmd.name}: unknown key-spec flags {sorted(bad)}")
        if cmd.handler is not None and cmd.is_write and cmd.effects not in (VERBATIM, CUSTOM):
            raise ValueError(
                f"{cmd.name} is flagged write but declares no effects (VERBATIM or CUSTOM)"
            )
        if not cmd.is_write and cmd.effects != NO_EFFECTS and not cmd.subcommands:
            raise ValueError(f"{cmd.name} declares effects but is not flagged write")
        if "|" in cmd.name:
            parent_name, sub = cmd.name.split("|", 1)
            parent = self.commands[parent_name.encode()]
            cmd.parent = parent
            parent.subcommands[sub.encode()] = cmd
        else:
            self.commands[cmd.name.encode()] = cmd
        return cmd

    def get(self, name: bytes) -> Command | None:
        return self.commands.get(name.lower())

    def all(self) -> list[Command]:
        """Every command and subcommand."""
        out: list[Command] = []
        for cmd in self.commands.values():
            out.append(cmd)
            out.extend(cmd.subcommands.values())
        return out


REGISTRY = Registry()


def _flags(text: str) -> frozenset[str]:
    return frozenset(text.split())


def command(
    name: str,
    arity: int,
    flags: str = "",
    *,
    group: str,
    since: str,
    keys: tuple[KeySpec, ...] | KeySpec = (),
    acl: str = "",
    effects: str = NO_EFFECTS,
    summary: str = "",
    complexity: str = "",
    doc_flags: tuple[str, ...] = (),
    deprecated_since: str = "",
    replaced_by: str = "",
) -> Callable[[Handler], Handler]:
    """Declare a command (or ``container|sub``) and register its handler."""

    def wrap(handler: Handler) -> Handler:
        REGISTRY.add(
            Command(
                name=name,
                arity=arity,
                flags=_flags(flags),
                handler=handler,
                group=group,
                since=since,
                summary=summary,
                complexity=complexity,
                key_specs=keys if isinstance(keys, tuple) else (keys,),
                acl=_flags(acl),
                effects=effects,
                doc_flags=doc_flags,
                deprecated_since=deprecated_since,
                replaced_by=replaced_by,
            )
        )
        return handler

    return wrap


def container(
    name: str, *, group: str, since: str, summary: str = "", acl: str = "", flags: str = ""
) -> Command:
    """Declare a command that only has subcommands (CONFIG, CLIENT, OBJECT...)."""
    return REGISTRY.add(
        Command(
            name=name,
            arity=-2,
            flags=_flags(flags),
            handler=None,
            group=group,
            since=since,
            summary=summary,
            acl=_flags(acl),
        )
    )


def ks(flags: str, begin: int | tuple[str, str, int] = 1, find: tuple[str, int, int, int] = ("range", 0, 1, 0)) -> KeySpec:
    """Shorthand for a KeySpec: ``ks("RW ACCESS", 1, ("range", -1, 2, 0))``."""
    return KeySpec(tuple(flags.split()), begin, find)
