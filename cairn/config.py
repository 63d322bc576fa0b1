"""Server configuration: one table of parameters, used by the command line, the
config file, CONFIG GET/SET/REWRITE and INFO alike."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cairn.glob import compile_glob


class ConfigError(ValueError):
    """A value that cannot be applied; the message is Redis' reason text."""


_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1024,
    "m": 1000**2,
    "mb": 1024**2,
    "g": 1000**3,
    "gb": 1024**3,
}


def parse_memory(text: str) -> int:
    """Redis' memtoull: a number with an optional k/kb/m/mb/g/gb unit."""
    lowered = text.lower()
    i = len(lowered)
    while i > 0 and lowered[i - 1].isalpha():
        i -= 1
    number, unit = lowered[:i], lowered[i:]
    # Like Redis' memtoull, a unit without digits ("mb", "") reads as 0.
    if unit not in _UNITS or (number and not number.isdigit()):
        raise ConfigError("argument must be a memory value")
    # strtoull saturates; a unit that overflows is not a memory value.
    value = min(int(number or "0"), 2**64 - 1) * _UNITS[unit]
    if value > 2**64 - 1:
        raise ConfigError("argument must be a memory value")
    return value


@dataclass
class Param:
    name: str
    kind: str  # bool, int, memory, enum, string
    default: Any
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    immutable: bool = False  # "can't set immutable config"
    protected: bool = False  # settable only with enable-protected-configs
    sensitive: bool = False
    # Turns the text of CONFIG SET / the config file into the stored value.
    parse: Callable[[str], Any] | None = None
    # Like parse, for values merged into the current one (client-output-buffer-limit).
    merge: Callable[[str, Any], Any] | None = None
    # Turns the stored value into the text of CONFIG GET.
    render: Callable[[Any], str] | None = None
    # A value computed from other parameters (appendonly from durability).
    derive: Callable[[dict[str, Any]], Any] | None = None
    # Written by CONFIG REWRITE as several tokens rather than one quoted string.
    multi_arg: bool = False


def _p(name: str, kind: str, default: Any, **kw: Any) -> Param:
    return Param(name, kind, default, **kw)


I64 = 2**63 - 1
I32 = 2**31 - 1
U64 = 2**64 - 1


def _parse_hz(text: str) -> int:
    value = _parse_int_in(text, 0, I32)
    return min(max(value, 1), 500)  # Redis clamps silently


_DECIMAL = re.compile(r"-?[1-9][0-9]{0,19}|0")


def _parse_int_in(text: str, lo: int, hi: int) -> int:
    """Redis' string2ll (strict decimal, no sign "+", no leading zeros), then a range check."""
    if _DECIMAL.fullmatch(text) is None or not -(2**63) <= int(text) <= I64:
        raise ConfigError("argument couldn't be parsed into an integer")
    value = int(text)
    if value < lo or value > hi:
        raise ConfigError(f"argument must be between {lo} and {hi} inclusive")
    return value


# notify-keyspace-events. Stored canonically with every class chosen; CONFIG GET
# shows it the way Redis does, where "A" hides "n" (Redis' own rendering quirk).
_EVENT_ALL = "g$lshzxetd"  # what "A" stands for (not m: key-miss, not n: new key)
_EVENT_VALID = set(_EVENT_ALL) | set("KEmnA")


def _parse_events(text: str) -> str:
    chosen: set[str] = set()
    for ch in text:
        if ch not in _EVENT_VALID:
            raise ConfigError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
        if ch == "A":
            chosen.update(_EVENT_ALL)
        else:
            chosen.add(ch)
    if chosen >= set(_EVENT_ALL):
        out = "A" + ("n" if "n" in chosen else "")
    else:
        out = "".join(ch for ch in _EVENT_ALL + "n" if ch in chosen)
    return out + "".join(ch for ch in "KEm" if ch in chosen)


def _render_events(value: str) -> str:
    return value.replace("n", "") if value.startswith("A") else value


_COB_CLASSES = ("normal", "slave", "pubsub")
COB_DEFAULT = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"


def parse_output_buffer_limits(text: str, current: str = COB_DEFAULT) -> str:
    """client-output-buffer-limit: ``<class> <hard> <soft> <seconds>`` groups,
    merged into the current limits and rendered canonically."""
    tokens = text.split()
    if len(tokens) % 4:
        raise ConfigError("Wrong number of arguments in buffer limit configuration.")
    limits = dict(_split_cob(current))
    for i in range(0, len(tokens), 4):
        cls = tokens[i].lower()
        if cls == "replica":
            cls = "slave"
        if cls not in _COB_CLASSES:
            raise ConfigError("Invalid client class specified in buffer limit configuration.")
        try:
            hard = parse_memory(tokens[i + 1])
            soft = parse_memory(tokens[i + 2])
            seconds = int(tokens[i + 3])
            if seconds < 0:
                raise ValueError
        except (ConfigError, ValueError):
            raise ConfigError(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
            ) from None
        limits[cls] = (hard, soft, seconds)
    return " ".join(f"{cls} {h} {s} {t}" for cls, (h, s, t) in ((c, limits[c]) for c in _COB_CLASSES))


def _split_cob(text: str) -> Iterable[tuple[str, tuple[int, int, int]]]:
    tokens = text.split()
    for i in range(0, len(tokens), 4):
        yield tokens[i], (int(tokens[i + 1]), int(tokens[i + 2]), int(tokens[i + 3]))


def _parse_save(text: str) -> str:
    tokens = text.split()
    if len(tokens) % 2:
        raise ConfigError("Invalid save parameters")
    for token in tokens:
        if not token.isdigit():
            raise ConfigError("Invalid save parameters")
    return " ".join(str(int(t)) for t in tokens)


def _derive_appendonly(values: dict[str, Any]) -> bool:
    return values["durability"] != "none"


def _derive_appendfsync(values: dict[str, Any]) -> str:
    return "always" if values["durability"] != "none" else "no"


PARAMS: list[Param] = [
    # network
    _p("bind", "string", "127.0.0.1 -::1", multi_arg=True),
    _p("port", "int", 6379, minimum=0, maximum=65535),
    _p("unixsocket", "string", "", immutable=True),
    _p("timeout", "int", 0, minimum=0, maximum=I32),
    _p("tcp-keepalive", "int", 300, minimum=0, maximum=I32),
    _p("tcp-backlog", "int", 511, minimum=0, maximum=I32, immutable=True),
    _p("protected-mode", "bool", True),
    _p("maxclients", "int", 10000, minimum=1, maximum=2**32 - 1),
    _p("databases", "int", 16, minimum=1, maximum=I32, immutable=True),
    _p("requirepass", "string", "", sensitive=True),
    _p("daemonize", "bool", False, immutable=True),
    _p("pidfile", "string", "", immutable=True),
    _p("loglevel", "enum", "notice", choices=("debug", "verbose", "notice", "warning", "nothing")),
    _p("logfile", "string", "", immutable=True),
    _p("hz", "int", 10, minimum=0, maximum=I32, parse=_parse_hz),
    _p("dynamic-hz", "bool", True),
    _p("enable-protected-configs", "enum", "no", choices=("no", "yes", "local"), immutable=True),
    _p("enable-debug-command", "enum", "no", choices=("no", "yes", "local"), immutable=True),
    # limits
    _p("proto-max-bulk-len", "memory", 512 * 1024 * 1024, minimum=1024 * 1024, maximum=I64),
    _p("client-query-buffer-limit", "memory", 1024 * 1024 * 1024, minimum=1024 * 1024, maximum=I64),
    _p("client-output-buffer-limit", "string", COB_DEFAULT, merge=parse_output_buffer_limits,
       multi_arg=True),
    _p("maxmemory", "memory", 0, minimum=0, maximum=U64),
    _p(
        "maxmemory-policy",
        "enum",
        "noeviction",
        choices=(
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ),
    ),
    _p("maxmemory-samples", "int", 5, minimum=1, maximum=I32),
    _p("busy-reply-threshold", "int", 5000, aliases=("lua-time-limit",), minimum=0, maximum=I64),
    # persistence: Cairn's own, plus what clients expect to read
    _p("dir", "string", "./data", protected=True),
    _p("durability", "enum", "local", choices=("local", "none"), immutable=True),
    _p("dbfilename", "string", "dump.rdb", protected=True),
    # Derived from durability: a durable Cairn logs and fsyncs every write
    # before replying, which is what "appendonly yes / appendfsync always" promise.
    _p("appendonly", "bool", True, derive=_derive_appendonly),
    _p("appendfsync", "enum", "always", choices=("everysec", "always", "no"),
       derive=_derive_appendfsync),
    _p("appendfilename", "string", "appendonly.aof", immutable=True),
    _p("save", "string", "", parse=_parse_save, multi_arg=True),
    _p("stop-writes-on-bgsave-error", "bool", True),
    # multi-AZ (log etcd): the shard this node belongs to and how leadership works
    _p("log", "enum", "local", choices=("local", "etcd"), immutable=True),
    _p("etcd-endpoints", "string", "127.0.0.1:2379", immutable=True),
    # TLS to etcd: a CA to verify the members, and a client certificate + key (PEM)
    _p("etcd-tls-ca", "string", "", immutable=True),
    _p("etcd-tls-cert", "string", "", immutable=True),
    _p("etcd-tls-key", "string", "", immutable=True),
    _p("cluster-name", "string", "cairn", immutable=True),
    _p("shard", "string", "shard1", immutable=True),
    _p("zone", "string", "", immutable=True),
    _p("node-id", "string", "", immutable=True),
    _p("announce-address", "string", "", immutable=True),
    # (etcd raises a lease's TTL to its minimum, 1.5x its election timeout, rounded
    # up: with etcd's default 1000 ms election timeout a 1 s lease lasts 2 s)
    _p("lease-ttl", "int", 1, minimum=1, maximum=3600, immutable=True),
    # appends to etcd in flight at once (more: lower latency when etcd has CPU to
    # spare; fewer: bigger batches; 1 measured best on a 2-core machine running etcd)
    _p("etcd-max-inflight", "int", 1, minimum=1, maximum=64, immutable=True),
    # where a shard's snapshots live (every node must read it); "" = <dir>/snapshots
    _p("snapshot-store", "string", "", immutable=True),
    _p("log-segment-size", "memory", 64 * 1024 * 1024, minimum=1024, maximum=I64),
    _p("snapshot-log-size", "memory", 256 * 1024 * 1024, minimum=0, maximum=I64),
    _p("snapshot-retention", "int", 2, minimum=1, maximum=1000),
    # observability
    _p("slowlog-log-slower-than", "int", 10000, minimum=-1, maximum=I64),
    _p("slowlog-max-len", "int", 128, minimum=0, maximum=I64),
    _p("latency-monitor-threshold", "int", 0, minimum=0, maximum=I64),
    _p("latency-tracking", "bool", True),
    _p("notify-keyspace-events", "string", "", parse=_parse_events, render=_render_events),
    # encodings (reported by OBJECT ENCODING)
    _p("hash-max-listpack-entries", "int", 512, aliases=("hash-max-ziplist-entries",), minimum=0,
       maximum=I64),
    _p("hash-max-listpack-value", "memory", 64, aliases=("hash-max-ziplist-value",), minimum=0,
       maximum=I64),
    _p("list-max-listpack-size", "int", -2, aliases=("list-max-ziplist-size",), minimum=-(2**31),
       maximum=I32),
    _p("list-compress-depth", "int", 0, minimum=0, maximum=I32),
    _p("set-max-intset-entries", "int", 512, minimum=0, maximum=I64),
    _p("set-max-listpack-entries", "int", 128, minimum=0, maximum=I64),
    _p("set-max-listpack-value", "memory", 64, minimum=0, maximum=I64),
    _p("zset-max-listpack-entries", "int", 128, aliases=("zset-max-ziplist-entries",), minimum=0,
       maximum=I64),
    _p("zset-max-listpack-value", "memory", 64, aliases=("zset-max-ziplist-value",), minimum=0,
       maximum=I64),
    _p("hll-sparse-max-bytes", "memory", 3000, minimum=0, maximum=I64),
    _p("stream-node-max-bytes", "memory", 4096, minimum=0, maximum=I64),
    _p("stream-node-max-entries", "int", 100, minimum=0, maximum=I64),
    _p("activerehashing", "bool", True),
    _p("lazyfree-lazy-eviction", "bool", False),
    _p("lazyfree-lazy-expire", "bool", False),
    _p("lazyfree-lazy-server-del", "bool", False),
    _p("lazyfree-lazy-user-del", "bool", False),
    _p("lazyfree-lazy-user-flush", "bool", False),
    _p("replica-read-only", "bool", True, aliases=("slave-read-only",)),
    _p("lfu-log-factor", "int", 10, minimum=0, maximum=I32),
    _p("lfu-decay-time", "int", 1, minimum=0, maximum=I32),
    _p("cluster-enabled", "bool", False, immutable=True),
]

BY_NAME: dict[str, Param] = {}
for _param in PARAMS:
    BY_NAME[_param.name] = _param
    for _alias in _param.aliases:
        BY_NAME[_alias] = _param

_DERIVED = [p for p in PARAMS if p.derive is not None]


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered == "yes":
        return True
    if lowered == "no":
        return False
    raise ConfigError("argument must be 'yes' or 'no'")


def parse_value(param: Param, text: str, current: Any = None) -> Any:
    """Validate and convert a textual value; raises ConfigError with Redis' reason."""
    if param.merge is not None:
        return param.merge(text, param.default if current is None else current)
    if param.parse is not None:
        return param.parse(text)
    kind = param.kind
    if kind == "bool":
        return _parse_bool(text)
    if kind == "int":
        lo = param.minimum if param.minimum is not None else -(2**63)
        hi = param.maximum if param.maximum is not None else I64
        return _parse_int_in(text, lo, hi)
    if kind == "memory":
        value = parse_memory(text)
        if (param.minimum is not None and value < param.minimum) or (
            param.maximum is not None and value > param.maximum
        ):
            raise ConfigError(
                f"argument must be between {param.minimum} and {param.maximum} inclusive"
            )
        return value
    if kind == "enum":
        lowered = text.lower()
        if lowered not in param.choices:
            raise ConfigError(
                f"argument(s) must be one of the following: {', '.join(param.choices)}"
            )
        return lowered
    return text


def render_value(param: Param, value: Any) -> str:
    if param.render is not None:
        return param.render(value)
    if param.kind == "bool":
        return "yes" if value else "no"
    return str(value)


_GLOB_CHARS = re.compile(r"[*?\[]")


class Config:
    """Current values, by canonical name, with change listeners.

    ``path`` is the absolute path of the config file the server was started
    with (None without one); CONFIG REWRITE writes to it.
    """

    def __init__(self) -> None:
        self.values: dict[str, Any] = {p.name: p.default for p in PARAMS}
        self.listeners: dict[str, list[Callable[[Any], None]]] = {}
        self.path: str | None = None
        self._derive()

    def __getitem__(self, name: str) -> Any:
        return self.values[BY_NAME[name].name]

    def get(self, name: str) -> Any:
        return self[name]

    def set_text(self, name: str, text: str) -> None:
        """Set from text (command line, config file)."""
        param = BY_NAME.get(name.lower())
        if param is None:
            raise KeyError(name)
        value = parse_value(param, text, self.values[param.name])
        if param.derive is not None:
            self._check_derived(param, value)
            return
        self.set(param.name, value)

    def set(self, name: str, value: Any) -> None:
        param = BY_NAME[name]
        self.values[param.name] = value
        if _DERIVED:
            self._derive()
        for listener in self.listeners.get(param.name, ()):
            listener(value)

    def on_change(self, name: str, listener: Callable[[Any], None]) -> None:
        """Call listener(new value) whenever the parameter changes. A listener may
        raise ConfigError to refuse the value (CONFIG SET then rolls back)."""
        self.listeners.setdefault(BY_NAME[name].name, []).append(listener)

    def _derive(self) -> None:
        for param in _DERIVED:
            assert param.derive is not None
            self.values[param.name] = param.derive(self.values)

    def _check_derived(self, param: Param, value: Any) -> None:
        """A derived parameter accepts only the value it already has."""
        if value != self.values[param.name]:
            raise ConfigError(
                f"{param.name} follows the 'durability' setting "
                f"(currently '{self.values['durability']}')"
            )

    # -- CONFIG SET -----------------------------------------------------------
    def set_many(self, pairs: list[tuple[Param, str]]) -> None:
        """Parse every value, then apply them in order; all or nothing.

        Raises ConfigError(param_argument_index, reason) via ConfigSetError.
        """
        parsed: list[tuple[int, Param, Any]] = []
        for index, (param, text) in enumerate(pairs):
            try:
                value = parse_value(param, text, self.values[param.name])
                if param.derive is not None:
                    self._check_derived(param, value)
            except ConfigError as exc:
                raise ConfigSetError(index, str(exc)) from None
            parsed.append((index, param, value))
        applied: list[tuple[Param, Any]] = []
        for index, param, value in parsed:
            if param.derive is not None:
                continue
            old = self.values[param.name]
            try:
                self.set(param.name, value)
            except ConfigError as exc:
                applied.append((param, old))
                for undo_param, undo_value in reversed(applied):
                    try:
                        self.set(undo_param.name, undo_value)
                    except ConfigError:
                        pass
                raise ConfigSetError(index, str(exc)) from None
            applied.append((param, old))

    # -- CONFIG GET -----------------------------------------------------------
    def get_many(self, patterns: list[str]) -> list[tuple[str, str]]:
        """(name, rendered value) for CONFIG GET: exact names as given, globs
        against every name and alias (case-insensitive); no name twice."""
        out: dict[str, str] = {}
        seen: set[str] = set()  # lower-cased names already answered
        for pattern in patterns:
            if _GLOB_CHARS.search(pattern) is None:
                param = BY_NAME.get(pattern.lower())
                if param is not None and pattern.lower() not in seen:
                    seen.add(pattern.lower())
                    out[pattern] = render_value(param, self.values[param.name])
                continue
            regex = compile_glob(pattern.encode("utf-8", "surrogateescape"), True)
            for name, param in BY_NAME.items():
                if name in seen:
                    continue
                if regex.match(name.encode()):
                    seen.add(name)
                    out[name] = render_value(param, self.values[param.name])
        return list(out.items())

    def matching(self, pattern: str) -> list[tuple[str, str]]:
        """(name, rendered value) of every parameter or alias matching a glob."""
        return self.get_many([pattern])

    # -- CONFIG REWRITE -------------------------------------------------------
    def rewrite(self) -> None:
        """Rewrite the config file: directives we know are replaced in place with
        their current value (duplicates dropped), comments and lines we do not
        know are kept, changed parameters not in the file are appended."""
        if self.path is None:
            raise ConfigError("The server is running without a config file")
        try:
            with open(self.path, encoding="utf-8", errors="surrogateescape") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            lines = []
        out: list[str] = []
        written: set[str] = set()
        for line in lines:
            tokens = line.strip().split(None, 1)
            if not tokens or tokens[0].startswith("#"):
                out.append(line)
                continue
            param = BY_NAME.get(tokens[0].lower())
            if param is None or param.derive is not None:
                out.append(line)
                continue
            if param.name in written:
                continue  # a later duplicate: its value is already written above
            written.add(param.name)
            out.append(self._directive(param))
        missing = [
            p
            for p in PARAMS
            if p.name not in written
            and p.derive is None
            and self.values[p.name] != p.default
            and p.name != "dir"  # relative to where the server started; kept as given
        ]
        if self.values["dir"] != BY_NAME["dir"].default and "dir" not in written:
            missing.insert(0, BY_NAME["dir"])
        if missing:
            marker = "# Generated by CONFIG REWRITE"
            if marker not in out:
                out.append(marker)
            out.extend(self._directive(p) for p in missing)
        text = "\n".join(out) + "\n"
        directory = os.path.dirname(self.path) or "."
        fd, tmp = tempfile.mkstemp(prefix=".cairn-rewrite-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.chmod(tmp, os.stat(self.path).st_mode & 0o7777)
            except FileNotFoundError:
                pass
            os.replace(tmp, self.path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def _directive(self, param: Param) -> str:
        value = render_value(param, self.values[param.name])
        if param.kind == "string" and not (param.multi_arg and value):
            value = quote(value)
        return f"{param.name} {value}"


class ConfigSetError(ConfigError):
    """CONFIG SET failed on the pair at ``index`` (0-based) for ``reason``."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


def quote(text: str) -> str:
    """A double-quoted config-file string, escaping what the tokenizer needs."""
    out = ['"']
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
