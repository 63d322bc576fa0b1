"""Pub/sub: SUBSCRIBE PSUBSCRIBE SSUBSCRIBE, their UNSUBSCRIBEs, PUBLISH SPUBLISH, PUBSUB.

Messages are not durable: PUBLISH changes nothing and logs nothing. The state
lives on the server (``server.pubsub``, created on first use): channel ->
subscribers in subscription order, pattern -> subscribers, and per client the
channels / patterns / shard channels it holds (insertion-ordered dicts).

A client with any subscription has ``client.subscribed`` set; in RESP2 dispatch
then allows only the commands Redis allows in that context.

Output buffer limits (``client-output-buffer-limit`` pubsub class) are checked
after every message pushed to a subscriber: a subscriber whose pending output
passes the hard limit, or stays above the soft limit for the soft seconds, is
disconnected (and unsubscribed at once).
"""

from __future__ import annotations

import time
from typing import Any

from cairn.commands import client as client_family
from cairn.commands import connection as connection_family
from cairn.commands.context import Client, Server
from cairn.commands.errors import CommandError
from cairn.commands.registry import command, container, ks
from cairn.glob import compile_glob
from cairn.observability.info import register_fields
from cairn.protocol import Push, Status

G = "pubsub"

_SUBSCRIBE = b"subscribe"
_PSUBSCRIBE = b"psubscribe"
_SSUBSCRIBE = b"ssubscribe"
_UNSUBSCRIBE = b"unsubscribe"
_PUNSUBSCRIBE = b"punsubscribe"
_SUNSUBSCRIBE = b"sunsubscribe"
_MESSAGE = b"message"
_PMESSAGE = b"pmessage"
_SMESSAGE = b"smessage"


class _Subs:
    """One client's subscriptions (dicts used as ordered sets)."""

    __slots__ = ("channels", "patterns", "shards", "soft_since")

    def __init__(self) -> None:
        self.channels: dict[bytes, None] = {}
        self.patterns: dict[bytes, None] = {}
        self.shards: dict[bytes, None] = {}
        self.soft_since = 0.0  # monotonic time the soft limit was first passed (0: below)


class PubSub:
    """The server-wide registry."""

    def __init__(self, server: Server) -> None:
        self.channels: dict[bytes, dict[Client, None]] = {}
        self.patterns: dict[bytes, dict[Client, None]] = {}
        self.shards: dict[bytes, dict[Client, None]] = {}
        self.clients: dict[Client, _Subs] = {}
        # (hard, soft, soft seconds) of the pubsub class, mirrored from the config.
        self.limits = _pubsub_limits(server.config["client-output-buffer-limit"])
        server.config.on_change("client-output-buffer-limit", self._limits_changed)

    def _limits_changed(self, value: Any) -> None:
        self.limits = _pubsub_limits(value)


def _pubsub_limits(text: str) -> tuple[int, int, int]:
    tokens = text.split()
    for i in range(0, len(tokens) - 3, 4):
        if tokens[i] == "pubsub":
            return int(tokens[i + 1]), int(tokens[i + 2]), int(tokens[i + 3])
    return 0, 0, 0


def registry(server: Server) -> PubSub:
    """The server's pub/sub state, created on first use."""
    state: PubSub | None = getattr(server, "pubsub", None)
    if state is None:
        state = PubSub(server)
        setattr(server, "pubsub", state)  # noqa: B010 - attribute owned by this module
    return state


def _subs(ps: PubSub, c: Client) -> _Subs:
    subs = ps.clients.get(c)
    if subs is None:
        subs = ps.clients[c] = _Subs()
    return subs


def _update_flag(ps: PubSub, c: Client) -> None:
    subs = ps.clients.get(c)
    if subs is not None and not (subs.channels or subs.patterns or subs.shards):
        del ps.clients[c]
        subs = None
    c.subscribed = subs is not None


def _confirm(c: Client, replies: list[Push]) -> Any:
    """Every confirmation but the last is pushed; the last is the command's reply."""
    push = c.push
    for reply in replies[:-1]:
        push(reply)
    return replies[-1]


# -- subscribing -----------------------------------------------------------------


def _subscribe(c: Client, argv: list[bytes], kind: int) -> Any:
    ps = registry(c.server)
    subs = _subs(ps, c)
    if kind == 0:
        mine, table, word = subs.channels, ps.channels, _SUBSCRIBE
    elif kind == 1:
        mine, table, word = subs.patterns, ps.patterns, _PSUBSCRIBE
    else:
        mine, table, word = subs.shards, ps.shards, _SSUBSCRIBE
    replies = []
    for name in argv[1:]:
        if name not in mine:
            mine[name] = None
            members = table.get(name)
            if members is None:
                members = table[name] = {}
            members[c] = None
        count = len(subs.shards) if kind == 2 else len(subs.channels) + len(subs.patterns)
        replies.append(Push([word, name, count]))
    c.subscribed = True
    return _confirm(c, replies)


def _unsubscribe(c: Client, argv: list[bytes] | None, kind: int) -> Any:
    """Unsubscribe the names in argv[1:] (all when there are none). Returns the
    replies (not sent) when argv is None: the silent form used by RESET and
    disconnection."""
    ps = registry(c.server)
    subs = ps.clients.get(c) or _Subs()
    if kind == 0:
        mine, table, word = subs.channels, ps.channels, _UNSUBSCRIBE
    elif kind == 1:
        mine, table, word = subs.patterns, ps.patterns, _PUNSUBSCRIBE
    else:
        mine, table, word = subs.shards, ps.shards, _SUNSUBSCRIBE
    names = argv[1:] if argv is not None and len(argv) > 1 else list(mine)
    replies = []
    for name in names:
        if name in mine:
            del mine[name]
            members = table.get(name)
            if members is not None:
                members.pop(c, None)
                if not members:
                    del table[name]
        count = len(subs.shards) if kind == 2 else len(subs.channels) + len(subs.patterns)
        replies.append(Push([word, name, count]))
    _update_flag(ps, c)
    if argv is None:
        return None
    if not replies:
        count = len(subs.shards) if kind == 2 else len(subs.channels) + len(subs.patterns)
        return Push([word, None, count])
    return _confirm(c, replies)


def unsubscribe_all(c: Client) -> None:
    """Drop every subscription of a client without telling it (RESET, disconnect)."""
    if c.subscribed:
        _unsubscribe(c, None, 0)
        _unsubscribe(c, None, 1)
        _unsubscribe(c, None, 2)


_SUB_FLAGS = "pubsub noscript loading stale sentinel"
_SHARD_KEYS = ks("NOT_KEY", 1, ("range", -1, 1, 0))


@command("subscribe", -2, _SUB_FLAGS, group=G, since="2.0.0",
         summary="Listens for messages published to channels.",
         complexity="O(N) where N is the number of channels to subscribe to.")
def subscribe(c: Client, argv: list[bytes]) -> Any:
    return _subscribe(c, argv, 0)


@command("psubscribe", -2, _SUB_FLAGS, group=G, since="2.0.0",
         summary="Listens for messages published to channels whose names match glob patterns.",
         complexity="O(N) where N is the number of patterns to subscribe to.")
def psubscribe(c: Client, argv: list[bytes]) -> Any:
    return _subscribe(c, argv, 1)


@command("ssubscribe", -2, "pubsub noscript loading stale", group=G, since="7.0.0",
         keys=_SHARD_KEYS, summary="Listens for messages published to shard channels.",
         complexity="O(N) where N is the number of shard channels to subscribe to.")
def ssubscribe(c: Client, argv: list[bytes]) -> Any:
    return _subscribe(c, argv, 2)


@command("unsubscribe", -1, _SUB_FLAGS, group=G, since="2.0.0",
         summary="Stops listening to channels.",
         complexity="O(N) where N is the number of channels to unsubscribe.")
def unsubscribe(c: Client, argv: list[bytes]) -> Any:
    return _unsubscribe(c, argv, 0)


@command("punsubscribe", -1, _SUB_FLAGS, group=G, since="2.0.0",
         summary="Stops listening to channel patterns.",
         complexity="O(N) where N is the number of patterns to unsubscribe.")
def punsubscribe(c: Client, argv: list[bytes]) -> Any:
    return _unsubscribe(c, argv, 1)


@command("sunsubscribe", -1, "pubsub noscript loading stale", group=G, since="7.0.0",
         keys=_SHARD_KEYS, summary="Stops listening to shard channels.",
         complexity="O(N) where N is the number of shard channels to unsubscribe.")
def sunsubscribe(c: Client, argv: list[bytes]) -> Any:
    return _unsubscribe(c, argv, 2)


# -- publishing ------------------------------------------------------------------


def _deliver(ps: PubSub, target: Client, message: Push) -> None:
    if target.closing:
        return
    target.push(message)
    hard, soft, seconds = ps.limits
    if not (hard or soft):
        return
    used = target.output_bytes()
    if hard and used >= hard:
        _drop(target)
        return
    subs = ps.clients.get(target)
    if subs is None:
        return
    if soft and used >= soft:
        now = time.monotonic()
        if not subs.soft_since:
            subs.soft_since = now
            # Checked again when the time is up, even if nothing more is published.
            target.server.call_later(seconds + 0.01, lambda: _soft_recheck(ps, target))
        elif now - subs.soft_since > seconds:
            _drop(target)
    elif subs.soft_since:
        subs.soft_since = 0.0


def _soft_recheck(ps: PubSub, target: Client) -> None:
    subs = ps.clients.get(target)
    if subs is None or target.closing or not subs.soft_since:
        return
    _hard, soft, seconds = ps.limits
    if not soft or target.output_bytes() < soft:
        subs.soft_since = 0.0
        return
    waited = time.monotonic() - subs.soft_since
    if waited > seconds:
        _drop(target)
    else:
        target.server.call_later(seconds - waited + 0.01, lambda: _soft_recheck(ps, target))


def _drop(target: Client) -> None:
    """Over its output buffer limit: unsubscribe and disconnect."""
    unsubscribe_all(target)
    target.close()


def publish_message(server: Server, channel: bytes, message: bytes) -> int:
    """Deliver to the channel's subscribers, then to matching patterns; returns receivers."""
    ps = registry(server)
    receivers = 0
    members = ps.channels.get(channel)
    if members:
        payload = Push([_MESSAGE, channel, message])
        for target in list(members):
            _deliver(ps, target, payload)
            receivers += 1
    if ps.patterns:
        for pattern, members in list(ps.patterns.items()):
            if not compile_glob(pattern).fullmatch(channel):
                continue
            payload = Push([_PMESSAGE, pattern, channel, message])
            for target in list(members):
                _deliver(ps, target, payload)
                receivers += 1
    return receivers


@command("publish", 3, "pubsub loading stale fast may_replicate sentinel", group=G, since="2.0.0",
         summary="Posts a message to a channel.",
         complexity="O(N+M) where N is the number of clients subscribed to the receiving channel "
                    "and M is the total number of subscribed patterns (by any client).")
def publish(c: Client, argv: list[bytes]) -> Any:
    held = c.server.keyspace.held_events
    if held and c.server.log.failure is None:
        # Keyspace notifications wait for their write to be durable; a message
        # published after them waits behind them, so subscribers get both in order.
        held.append((held[-1][0], argv[1], argv[2]))
        return _count_receivers(registry(c.server), argv[1])
    return publish_message(c.server, argv[1], argv[2])


def _count_receivers(ps: PubSub, channel: bytes) -> int:
    members = ps.channels.get(channel)
    receivers = len(members) if members else 0
    for pattern, members in ps.patterns.items():
        if compile_glob(pattern).fullmatch(channel):
            receivers += len(members)
    return receivers


@command("spublish", 3, "pubsub loading stale fast may_replicate", group=G, since="7.0.0",
         keys=ks("NOT_KEY"), summary="Posts a message to a shard channel.",
         complexity="O(N) where N is the number of clients subscribed to the receiving shard channel.")
def spublish(c: Client, argv: list[bytes]) -> Any:
    ps = registry(c.server)
    members = ps.shards.get(argv[1])
    if not members:
        return 0
    payload = Push([_SMESSAGE, argv[1], argv[2]])
    receivers = 0
    for target in list(members):
        _deliver(ps, target, payload)
        receivers += 1
    return receivers


# -- PUBSUB ----------------------------------------------------------------------

container("pubsub", group=G, since="2.8.0", summary="A container for pub/sub commands.")

_PS_FLAGS = "pubsub loading stale"


def _matching(table: dict[bytes, Any], argv: list[bytes]) -> list[bytes]:
    if len(argv) == 2:
        return list(table)
    if len(argv) > 3:
        raise CommandError(
            f"ERR unknown subcommand or wrong number of arguments for "
            f"'{argv[1].decode('utf-8', 'surrogateescape')}'. Try PUBSUB HELP."
        )
    regex = compile_glob(argv[2])
    return [name for name in table if regex.fullmatch(name)]


def _numsub(table: dict[bytes, dict[Client, None]], argv: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for name in argv[2:]:
        members = table.get(name)
        out.append(name)
        out.append(len(members) if members else 0)
    return out


@command("pubsub|channels", -2, _PS_FLAGS, group=G, since="2.8.0",
         summary="Returns the active channels.",
         complexity="O(N) where N is the number of active channels, and assuming constant time "
                    "pattern matching (relatively short channels and patterns)")
def pubsub_channels(c: Client, argv: list[bytes]) -> Any:
    return _matching(registry(c.server).channels, argv)


@command("pubsub|shardchannels", -2, _PS_FLAGS, group=G, since="7.0.0",
         summary="Returns the active shard channels.",
         complexity="O(N) where N is the number of active shard channels, and assuming constant "
                    "time pattern matching (relatively short shard channels).")
def pubsub_shardchannels(c: Client, argv: list[bytes]) -> Any:
    return _matching(registry(c.server).shards, argv)


@command("pubsub|numsub", -2, _PS_FLAGS, group=G, since="2.8.0",
         summary="Returns a count of subscribers to channels.",
         complexity="O(N) for the NUMSUB subcommand, where N is the number of requested channels")
def pubsub_numsub(c: Client, argv: list[bytes]) -> Any:
    return _numsub(registry(c.server).channels, argv)


@command("pubsub|shardnumsub", -2, _PS_FLAGS, group=G, since="7.0.0",
         summary="Returns the count of subscribers of shard channels.",
         complexity="O(N) for the SHARDNUMSUB subcommand, where N is the number of requested "
                    "shard channels")
def pubsub_shardnumsub(c: Client, argv: list[bytes]) -> Any:
    return _numsub(registry(c.server).shards, argv)


@command("pubsub|numpat", 2, _PS_FLAGS, group=G, since="2.8.0",
         summary="Returns a count of unique pattern subscriptions.", complexity="O(1)")
def pubsub_numpat(c: Client, argv: list[bytes]) -> Any:
    return len(registry(c.server).patterns)


_HELP = [
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
]
_HELP_REPLY = [Status(line) for line in _HELP]


@command("pubsub|help", 2, "loading stale", group=G, since="6.2.0",
         summary="Returns helpful text about the different subcommands.", complexity="O(1)")
def pubsub_help(c: Client, argv: list[bytes]) -> Any:
    return _HELP_REPLY


# -- integration -----------------------------------------------------------------


def install_notifications(server: Server) -> None:
    """Keyspace notifications (cairn/keyspace/notify.py) publish through
    publish_message; their flags follow notify-keyspace-events."""
    from cairn.keyspace import notify

    keyspace = server.keyspace
    ps = registry(server)

    def publish(channel: bytes, message: bytes) -> None:
        publish_message(server, channel, message)

    def listening() -> bool:
        return bool(ps.channels or ps.patterns)

    def next_lsn() -> int:
        return server.log.last_lsn + 1

    def changed(value: Any) -> None:
        notify.set_flags(keyspace, notify.parse_flags(value) or 0)

    notify.install(keyspace, publish, listening, next_lsn,
                   notify.parse_flags(server.config["notify-keyspace-events"]) or 0)
    server.config.on_change("notify-keyspace-events", changed)



def _subscriptions(c: Client) -> tuple[int, int, int]:
    if not c.subscribed:
        return 0, 0, 0
    subs = registry(c.server).clients.get(c)
    if subs is None:
        return 0, 0, 0
    return len(subs.channels), len(subs.patterns), len(subs.shards)


def info_fields(server: Server) -> list[tuple[str, Any]]:
    ps = registry(server)
    return [
        ("pubsub_channels", len(ps.channels)),
        ("pubsub_patterns", len(ps.patterns)),
        ("pubsubshard_channels", len(ps.shards)),
    ]


client_family.HOOKS.subscriptions = _subscriptions
connection_family.RESET_HOOKS.append(unsubscribe_all)
register_fields("stats", info_fields)
