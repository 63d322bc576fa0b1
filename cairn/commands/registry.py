"""The command table: metadata as data, one entry per command or subcommand.

Each family module declares its commands with ``@command(...)``. ACL categories
such as @write, @read, @fast and @slow are derived from the flags the way Redis
derives them, so an entry only names its data-type category.

Key extraction follows Redis 7: key specs first; when a spec cannot be used
(incomplete, variable flags, unknown, or invalid for this argv) the command's
get-keys procedure (``Command.getkeys``) decides, as Redis' ``getkeys_proc`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cairn.commands.args import to_int

Handler = Callable[..., Any]
# A get-keys procedure: argv -> [(position, key-spec flags)] ([] when no keys).
GetKeys = Callable[[list[bytes]], list[tuple[int, tuple[str, ...]]]]

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

# The flags COMMAND INFO shows, in the order Redis lists them. The others
# (may_replicate, sentinel, only_sentinel, protected, touches_arbitrary_keys,
# module_*) are internal and never shown.
INFO_FLAG_ORDER = (
    "write readonly denyoom module admin pubsub noscript blocking loading stale "
    "skip_monitor skip_slowlog asking fast no_auth no_mandatory_keys no_async_loading "
    "no_multi movablekeys allow_busy"
).split()

# Key-spec flags in the order (and spelling) COMMAND INFO shows them.
KEY_FLAG_ORDER = (
    ("RO", "RO"),
    ("RW", "RW"),
    ("OW", "OW"),
    ("RM", "RM"),
    ("ACCESS", "access"),
    ("UPDATE", "update"),
    ("INSERT", "insert"),
    ("DELETE", "delete"),
    ("NOT_KEY", "not_key"),
    ("INCOMPLETE", "incomplete"),
    ("VARIABLE_FLAGS", "variable_flags"),
)
KEY_FLAGS = frozenset(name for name, _ in KEY_FLAG_ORDER)

# A key spec whose begin or find part Redis calls "unknown" (SORT's BY/GET/STORE).
UNKNOWN_BEGIN: tuple[str, str, int] = ("unknown", "", 0)
UNKNOWN_FIND: tuple[str, int, int, int] = ("unknown", 0, 0, 0)


@dataclass(frozen=True)
class KeySpec:
    """Where a command's keys are, in Redis' key-spec terms.

    begin: an argument index (int), ``("keyword", keyword, startfrom)`` or UNKNOWN_BEGIN.
    find: ``("range", lastkey, step, limit)``, ``("keynum", keynumidx, firstkey, step)``
    or UNKNOWN_FIND.
    """

    flags: tuple[str, ...]
    begin: int | tuple[str, str, int] = 1
    find: tuple[str, int, int, int] = ("range", 0, 1, 0)
    notes: str = ""

    @property
    def is_plain_range(self) -> bool:
        return isinstance(self.begin, int) and self.find[0] == "range"

    def find_keys(self, argv: list[bytes]) -> list[int] | None:
        """Positions of this spec's keys in argv; None when the spec cannot be
        applied (Redis' "invalid spec": out of bounds, bad numkeys, unknown)."""
        argc = len(argv)
        begin = self.begin
        if isinstance(begin, int):
            first = begin
        elif begin[0] == "keyword":
            _, keyword, startfrom = begin
            kw = keyword.encode().lower()
            # Redis never looks at the last argument (a keyword there has no key).
            if startfrom >= 0:
                candidates: range = range(startfrom, argc - 1)
            else:
                candidates = range(argc + startfrom, 0, -1)
            first = 0
            for i in candidates:
                if 1 <= i < argc and argv[i].lower() == kw:
                    first = i + 1
                    break
            if not first:
                return []  # keyword absent: no keys from this spec
        else:
            return None
        kind, a, b, c = self.find
        if kind == "range":
            lastkey, step, limit = a, b, c
            if lastkey >= 0:
                last = first + lastkey
            elif not limit:
                last = argc + lastkey
            else:
                last = first + (argc - first) // limit + lastkey
        elif kind == "keynum":
            keynumidx, firstkey, step = a, b, c
            if first + keynumidx >= argc:
                return None
            numkeys = to_int(argv[first + keynumidx])
            if numkeys is None or numkeys < 0:
                return None
            first += firstkey
            last = first + numkeys - 1
        else:
            return None
        if last >= argc or last < first or first >= argc:
            return None
        return list(range(first, last + 1, step))

    def keys(self, argv: list[bytes]) -> list[int]:
        """Indexes of the key arguments this spec finds in argv (lenient)."""
        return self.find_keys(argv) or []


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
    # Command tips as COMMAND INFO lists them ("request_policy:all_shards", ...).
    tips: tuple[str, ...] = ()
    # COMMAND DOCS history: ((version, description), ...).
    history: tuple[tuple[str, str], ...] = ()
    # Redis' getkeys_proc: used when the key specs cannot say (see module doc).
    getkeys: GetKeys | None = None
    # Derived at registration: a read of the whole keyspace (KEYS, SCAN, DBSIZE...).
    reads_keyspace: bool = False
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
        if "fast" not in cats:
            cats.add("slow")
        return sorted(cats, key=_ACL_ORDER.index)

    @property
    def movablekeys(self) -> bool:
        """Redis' CMD_MOVABLE_KEYS: some spec is not a plain index+range one,
        or the legacy (first, last, step) triple cannot describe the keys."""
        return self.legacy_range()[3]

    def info_flags(self) -> list[str]:
        """The flags COMMAND INFO shows, in Redis' order (movablekeys derived)."""
        flags = self.flags
        if self.movablekeys:
            flags = flags | {"movablekeys"}
        return [name for name in INFO_FLAG_ORDER if name in flags]

    def legacy_range(self) -> tuple[int, int, int, bool]:
        """(first key, last key, step, movable keys) as COMMAND INFO reports them.

        One plain index+range spec is used as is; otherwise consecutive step-1
        range specs are merged and anything else makes the keys "movable".
        """
        cached = self.__dict__.get("_legacy")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        result = self._compute_legacy_range()
        self.__dict__["_legacy"] = result
        return result

    def _compute_legacy_range(self) -> tuple[int, int, int, bool]:
        specs = self.key_specs
        if not specs:
            return 0, 0, 0, False
        only = specs[0]
        if len(specs) == 1 and only.is_plain_range:
            assert isinstance(only.begin, int)
            _, lastkey, step, _limit = only.find
            last = lastkey if lastkey < 0 else only.begin + lastkey
            return only.begin, last, step, "INCOMPLETE" in only.flags
        movable = False
        first: int | None = None
        last = 0
        prev_last = 0
        for spec in specs:
            if not spec.is_plain_range:
                movable = True
                continue
            assert isinstance(spec.begin, int)
            _, lastkey, step, _limit = spec.find
            if step != 1 or (prev_last and prev_last != spec.begin - 1):
                movable = True
                continue
            if "INCOMPLETE" in spec.flags:
                movable = True
            first = spec.begin if first is None else min(first, spec.begin)
            spec_last = lastkey + spec.begin if lastkey >= 0 else lastkey
            # Redis compares these as unsigned: a negative (relative to the end) wins.
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

    @property
    def has_keys(self) -> bool:
        """Redis' doesCommandHaveKeys: a get-keys procedure or a real key spec."""
        return self.getkeys is not None or any("NOT_KEY" not in s.flags for s in self.key_specs)

    def keys_with_flags(self, argv: list[bytes]) -> list[tuple[int, tuple[str, ...]]] | None:
        """(position, spec flags) of each key in argv, as COMMAND GETKEYSANDFLAGS
        finds them; None when the arguments are invalid for key extraction."""
        specs = self.key_specs
        usable = any("NOT_KEY" not in s.flags for s in specs) and not any(
            "VARIABLE_FLAGS" in s.flags for s in specs
        )
        if usable:
            out: list[tuple[int, tuple[str, ...]]] = []
            for spec in specs:
                if "NOT_KEY" in spec.flags:
                    continue
                found = spec.find_keys(argv)
                if found is None or (found and "INCOMPLETE" in spec.flags):
                    out = []
                    break
                out.extend((pos, spec.flags) for pos in found)
            else:
                return out
        if self.getkeys is not None:
            return self.getkeys(argv)
        return None

    def key_positions(self, argv: list[bytes]) -> list[int]:
        """Positions of the keys in argv (empty when none can be found)."""
        simple = self.__dict__.get("_simple")
        if simple is None:
            simple = self._simple_spec()
            self.__dict__["_simple"] = simple
        if simple:
            # The common case: one index spec with a fixed range.
            first, last = simple
            return list(range(first, last + 1)) if last < len(argv) else []
        found = self.keys_with_flags(argv)
        return [pos for pos, _ in found] if found else []

    def _simple_spec(self) -> tuple[int, int] | tuple[()]:
        if len(self.key_specs) != 1:
            return ()
        spec = self.key_specs[0]
        if not isinstance(spec.begin, int) or spec.find[0] != "range":
            return ()
        _, lastkey, step, _ = spec.find
        if lastkey < 0 or step != 1 or set(spec.flags) & {"NOT_KEY", "INCOMPLETE", "VARIABLE_FLAGS"}:
            return ()
        return (spec.begin, spec.begin + lastkey)


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
ACL_CATEGORIES: tuple[str, ...] = tuple(_ACL_ORDER)


# -- Redis' get-keys procedures (facts of each command's key syntax) -----------

_RO_ACCESS = ("RO", "ACCESS")
_OW_UPDATE = ("OW", "UPDATE")
_RW_ACCESS_UPDATE = ("RW", "ACCESS", "UPDATE")
_RW_ACCESS_DELETE = ("RW", "ACCESS", "DELETE")


def _atoi(value: bytes) -> int:
    """C's atoi: optional blanks and sign, then digits up to the first non-digit."""
    text = value.lstrip(b" \t\n\v\f\r")
    sign = 1
    if text[:1] in (b"+", b"-"):
        sign = -1 if text[:1] == b"-" else 1
        text = text[1:]
    digits = 0
    n = 0
    for ch in text:
        if 48 <= ch <= 57:
            n = n * 10 + ch - 48
            digits += 1
        else:
            break
    return sign * n if digits else 0


def _getkeys_set(argv: list[bytes]) -> list[tuple[int, tuple[str, ...]]]:
    for arg in argv[3:]:
        if arg.lower() == b"get":
            return [(1, _RW_ACCESS_UPDATE)]
    return [(1, _OW_UPDATE)]


def _getkeys_bitfield(argv: list[bytes]) -> list[tuple[int, tuple[str, ...]]]:
    readonly = True
    argc = len(argv)
    i = 2
    while i < argc:
        rest = argc - i - 1
        op = argv[i].lower()
        if op == b"get" and rest >= 2:
            i += 3
        elif op == b"overflow" and rest >= 1:
            i += 2
        else:  # SET / INCRBY or a syntax error: assume it writes
            readonly = False
            break
    return [(1, _RO_ACCESS if readonly else _RW_ACCESS_UPDATE)]


def _getkeys_sort(argv: list[bytes]) -> list[tuple[int, tuple[str, ...]]]:
    store = 0
    argc = len(argv)
    i = 2
    while i < argc:
        arg = argv[i].lower()
        if arg == b"limit":
            i += 2
        elif arg in (b"get", b"by"):
            i += 1
        elif arg == b"store" and i + 1 < argc:
            store = i + 1  # the last STORE wins; its key is scanned next like SORT does
        i += 1
    keys: list[tuple[int, tuple[str, ...]]] = [(1, _RO_ACCESS)]
    if store:
        keys.append((store, _OW_UPDATE))
    return keys


def _getkeys_sort_ro(argv: list[bytes]) -> list[tuple[int, tuple[str, ...]]]:
    return [(1, _RO_ACCESS)]


def _getkeys_migrate(argv: list[bytes]) -> list[tuple[int, tuple[str, ...]]]:
    first, num = 3, 1
    argc = len(argv)
    i = 6
    while i < argc:
        opt = argv[i].lower()
        if opt == b"auth":
            i += 1
        elif opt == b"auth2":
            i += 2
        elif opt == b"keys":
            if argv[3]:
                return []
            first, num = i + 1, argc - i - 1
            break
        i += 1
    return [(pos, _RW_ACCESS_DELETE) for pos in range(first, first + num)]


def _keynum_getkeys(specs: tuple[KeySpec, ...]) -> GetKeys | None:
    """Redis' generic procedure for numkeys commands (ZUNIONSTORE, EVAL, LMPOP...):
    numkeys read with atoi, keys without flags, a destination key last."""
    store = 0
    keynum: KeySpec | None = None
    for spec in specs:
        if isinstance(spec.begin, int) and spec.find[0] == "keynum":
            keynum = spec
        elif isinstance(spec.begin, int) and spec.find[0] == "range":
            store = spec.begin
    if keynum is None:
        return None
    assert isinstance(keynum.begin, int)
    count_at = keynum.begin + keynum.find[1]
    first = keynum.begin + keynum.find[2]
    step = keynum.find[3] or 1

    def getkeys(argv: list[bytes]) -> list[tuple[int, tuple[str, ...]]]:
        if count_at >= len(argv):
            return []
        num = _atoi(argv[count_at])
        if num < 1 or num > (len(argv) - first) // step:
            return []
        keys: list[tuple[int, tuple[str, ...]]] = [(first + i * step, ()) for i in range(num)]
        if store:
            keys.append((store, ()))
        return keys

    return getkeys


_GETKEYS_PROCS: dict[str, GetKeys] = {
    "set": _getkeys_set,
    "bitfield": _getkeys_bitfield,
    "sort": _getkeys_sort,
    "sort_ro": _getkeys_sort_ro,
    "migrate": _getkeys_migrate,
}


def default_getkeys(name: str, specs: tuple[KeySpec, ...]) -> GetKeys | None:
    """The get-keys procedure Redis has for this command, if any."""
    return _GETKEYS_PROCS.get(name) or _keynum_getkeys(specs)


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
        if cmd.getkeys is None:
            cmd.getkeys = default_getkeys(cmd.name, cmd.key_specs)
        cmd.reads_keyspace = ("readonly" in cmd.flags and not cmd.key_specs) or cmd.name == "info"
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

    def lookup(self, fullname: bytes) -> Command | None:
        """A command or ``container|sub`` by its full name (COMMAND INFO/DOCS)."""
        name, _, sub = fullname.lower().partition(b"|")
        cmd = self.commands.get(name)
        if cmd is None or not sub:
            return cmd
        return cmd.subcommands.get(sub)

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


def _tips(text: str) -> tuple[str, ...]:
    return tuple(text.lower().split())


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
    tips: str = "",
    history: tuple[tuple[str, str], ...] = (),
    getkeys: GetKeys | None = None,
) -> Callable[[Handler], Handler]:
    """Declare a command (or ``container|sub``) and register its handler.

    ``tips`` are Redis' command tips, space separated
    (``"request_policy:all_shards response_policy:all_succeeded"``).
    """

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
                tips=_tips(tips),
                history=history,
                getkeys=getkeys,
            )
        )
        return handler

    return wrap


def container(
    name: str,
    *,
    group: str,
    since: str,
    summary: str = "",
    acl: str = "",
    flags: str = "",
    complexity: str = "Depends on subcommand.",
    tips: str = "",
    history: tuple[tuple[str, str], ...] = (),
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
            complexity=complexity,
            acl=_flags(acl),
            tips=_tips(tips),
            history=history,
        )
    )


def ks(
    flags: str,
    begin: int | tuple[str, str, int] = 1,
    find: tuple[str, int, int, int] = ("range", 0, 1, 0),
    notes: str = "",
) -> KeySpec:
    """Shorthand for a KeySpec: ``ks("RW ACCESS", 1, ("range", -1, 2, 0))``."""
    return KeySpec(tuple(flags.split()), begin, find, notes)
