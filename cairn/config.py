"""Server configuration: one table of parameters, used by the command line, the
config file, CONFIG GET/SET and INFO alike."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


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
    if unit not in _UNITS or not number or not number.lstrip("-").isdigit():
        raise ConfigError("argument must be a memory value")
    return int(number) * _UNITS[unit]


@dataclass
class Param:
    name: str
    kind: str  # bool, int, memory, enum, string, special
    default: Any
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    immutable: bool = False
    sensitive: bool = False
    # Turns the text of CONFIG SET / the config file into the stored value.
    parse: Callable[[str], Any] | None = None
    # Turns the stored value into the text of CONFIG GET.
    render: Callable[[Any], str] | None = None


def _p(name: str, kind: str, default: Any, **kw: Any) -> Param:
    return Param(name, kind, default, **kw)


I64 = 2**63 - 1

PARAMS: list[Param] = [
    # network
    _p("bind", "string", "127.0.0.1 -::1"),
    _p("port", "int", 6379, minimum=0, maximum=65535),
    _p("unixsocket", "string", "", immutable=True),
    _p("timeout", "int", 0, minimum=0, maximum=2**31 - 1),
    _p("tcp-keepalive", "int", 300, minimum=0, maximum=2**31 - 1),
    _p("tcp-backlog", "int", 511, immutable=True),
    _p("protected-mode", "bool", True),
    _p("maxclients", "int", 10000, minimum=1, maximum=2**31 - 1),
    _p("databases", "int", 16, minimum=1, maximum=2**31 - 1, immutable=True),
    _p("requirepass", "string", "", sensitive=True),
    _p("daemonize", "bool", False, immutable=True),
    _p("pidfile", "string", "", immutable=True),
    _p("loglevel", "enum", "notice", choices=("debug", "verbose", "notice", "warning", "nothing")),
    _p("logfile", "string", "", immutable=True),
    _p("hz", "int", 10, minimum=1, maximum=500),
    _p("dynamic-hz", "bool", True),
    # limits
    _p("proto-max-bulk-len", "memory", 512 * 1024 * 1024, minimum=1024 * 1024, maximum=I64),
    _p("client-query-buffer-limit", "memory", 1024 * 1024 * 1024, minimum=1024 * 1024, maximum=I64),
    _p(
        "client-output-buffer-limit",
        "string",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    _p("maxmemory", "memory", 0, minimum=0, maximum=I64),
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
    _p("maxmemory-samples", "int", 5, minimum=1, maximum=2**31 - 1),
    _p("busy-reply-threshold", "int", 5000, aliases=("lua-time-limit",), minimum=0, maximum=I64),
    # persistence: Cairn's own, plus what clients expect to read
    _p("dir", "string", "./data"),
    _p("durability", "enum", "local", choices=("local", "none")),
    _p("dbfilename", "string", "dump.rdb"),
    _p("appendonly", "bool", True),
    _p("appendfsync", "enum", "always", choices=("always", "everysec", "no")),
    _p("appendfilename", "string", "appendonly.aof", immutable=True),
    _p("save", "string", ""),
    _p("stop-writes-on-bgsave-error", "bool", True),
    _p("log-segment-size", "memory", 64 * 1024 * 1024, minimum=1024, maximum=I64),
    _p("snapshot-log-size", "memory", 256 * 1024 * 1024, minimum=0, maximum=I64),
    _p("snapshot-retention", "int", 2, minimum=1, maximum=1000),
    # observability
    _p("slowlog-log-slower-than", "int", 10000, minimum=-1, maximum=I64),
    _p("slowlog-max-len", "int", 128, minimum=0, maximum=2**63 - 1),
    _p("latency-monitor-threshold", "int", 0, minimum=0, maximum=I64),
    _p("latency-tracking", "bool", True),
    _p("notify-keyspace-events", "string", ""),
    # encodings (reported by OBJECT ENCODING)
    _p("hash-max-listpack-entries", "int", 128, aliases=("hash-max-ziplist-entries",), minimum=0, maximum=I64),
    _p("hash-max-listpack-value", "int", 64, aliases=("hash-max-ziplist-value",), minimum=0, maximum=I64),
    _p("list-max-listpack-size", "int", -2, aliases=("list-max-ziplist-size",), minimum=-5, maximum=2**31 - 1),
    _p("list-compress-depth", "int", 0, minimum=0, maximum=2**31 - 1),
    _p("set-max-intset-entries", "int", 512, minimum=0, maximum=I64),
    _p("set-max-listpack-entries", "int", 128, minimum=0, maximum=I64),
    _p("set-max-listpack-value", "int", 64, minimum=0, maximum=I64),
    _p("zset-max-listpack-entries", "int", 128, aliases=("zset-max-ziplist-entries",), minimum=0, maximum=I64),
    _p("zset-max-listpack-value", "int", 64, aliases=("zset-max-ziplist-value",), minimum=0, maximum=I64),
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
    _p("lfu-log-factor", "int", 10, minimum=0, maximum=2**31 - 1),
    _p("lfu-decay-time", "int", 1, minimum=0, maximum=2**31 - 1),
    _p("enable-debug-command", "enum", "no", choices=("no", "yes", "local"), immutable=True),
    _p("cluster-enabled", "bool", False, immutable=True),
]

BY_NAME: dict[str, Param] = {}
for _param in PARAMS:
    BY_NAME[_param.name] = _param
    for _alias in _param.aliases:
        BY_NAME[_alias] = _param


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered == "yes":
        return True
    if lowered == "no":
        return False
    raise ConfigError("argument must be 'yes' or 'no'")


def parse_value(param: Param, text: str) -> Any:
    """Validate and convert a textual value; raises ConfigError with Redis' reason."""
    if param.parse is not None:
        return param.parse(text)
    kind = param.kind
    if kind == "bool":
        return _parse_bool(text)
    if kind in ("int", "memory"):
        if kind == "memory":
            value = parse_memory(text)
        else:
            try:
                value = int(text)
            except ValueError:
                raise ConfigError("argument couldn't be parsed into an integer") from None
        if (param.minimum is not None and value < param.minimum) or (
            param.maximum is not None and value > param.maximum
        ):
            raise ConfigError(f"argument must be between {param.minimum} and {param.maximum} inclusive")
        return value
    if kind == "enum":
        lowered = text.lower()
        if lowered not in param.choices:
            raise ConfigError(f"argument(s) must be one of the following: {', '.join(param.choices)}")
        return lowered
    return text


def render_value(param: Param, value: Any) -> str:
    if param.render is not None:
        return param.render(value)
    if param.kind == "bool":
        return "yes" if value else "no"
    return str(value)


class Config:
    """Current values, by canonical name, with change listeners."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {p.name: p.default for p in PARAMS}
        self.listeners: dict[str, list[Callable[[Any], None]]] = {}

    def __getitem__(self, name: str) -> Any:
        return self.values[BY_NAME[name].name]

    def get(self, name: str) -> Any:
        return self[name]

    def set_text(self, name: str, text: str) -> None:
        """Set from text (command line, config file, CONFIG SET)."""
        param = BY_NAME.get(name.lower())
        if param is None:
            raise KeyError(name)
        self.set(param.name, parse_value(param, text))

    def set(self, name: str, value: Any) -> None:
        param = BY_NAME[name]
        self.values[param.name] = value
        for listener in self.listeners.get(param.name, ()):
            listener(value)

    def on_change(self, name: str, listener: Callable[[Any], None]) -> None:
        self.listeners.setdefault(BY_NAME[name].name, []).append(listener)

    def matching(self, pattern: str) -> list[tuple[str, str]]:
        """(name, rendered value) of every parameter or alias matching a glob."""
        pattern = pattern.lower()
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for name, param in BY_NAME.items():
            if name in seen:
                continue
            if fnmatch.fnmatchcase(name, pattern):
                seen.add(name)
                out.append((name, render_value(param, self.values[param.name])))
        return out
