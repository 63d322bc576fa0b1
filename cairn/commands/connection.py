"""Connection commands: PING ECHO QUIT RESET SELECT HELLO AUTH."""

from __future__ import annotations

import hmac
from typing import Any

from cairn.commands import errors
from cairn.commands.args import parse_db_index, to_int
from cairn.commands.context import Client, unwatch_all
from cairn.commands.errors import CommandError
from cairn.commands.registry import command
from cairn.protocol import OK, PONG, MapReply, Status

G = "connection"


@command("ping", -1, "fast", group=G, since="1.0.0", acl="connection",
         tips="request_policy:all_shards response_policy:all_succeeded",
         summary="Returns the server's liveliness response.", complexity="O(1)")
def ping(c: Client, argv: list[bytes]) -> Any:
    if len(argv) > 2:
        raise errors.wrong_arity("ping")
    if c.subscribed and c.resp == 2:
        # Subscribed RESP2 clients get an array, as Redis sends them.
        return [b"pong", b"" if len(argv) == 1 else argv[1]]
    return PONG if len(argv) == 1 else argv[1]


@command("echo", 2, "loading stale fast", group=G, since="1.0.0", acl="connection",
         summary="Returns the given string.", complexity="O(1)")
def echo(c: Client, argv: list[bytes]) -> Any:
    return argv[1]


@command("quit", -1, "allow_busy noscript loading stale fast no_auth", group=G, since="1.0.0",
         acl="connection", summary="Closes the connection.", complexity="O(1)",
         deprecated_since="7.2.0", replaced_by="just closing the connection",
         doc_flags=("deprecated",))
def quit_(c: Client, argv: list[bytes]) -> Any:
    c.close_after_reply = True
    return OK


@command("select", 2, "loading stale fast", group=G, since="1.0.0", acl="connection",
         summary="Changes the selected database.", complexity="O(1)")
def select(c: Client, argv: list[bytes]) -> Any:
    index = parse_db_index(argv[1], len(c.server.keyspace.dbs))
    c.server.select(c, index)
    return OK


def _password_ok(c: Client, username: bytes, password: bytes) -> bool:
    required = c.server.config["requirepass"]
    if username != b"default":
        return False
    if not required:
        return True  # the default user has nopass
    return hmac.compare_digest(password, required.encode("utf-8", "surrogateescape"))


_WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."


def _authenticate(c: Client, username: bytes, password: bytes) -> None:
    if not _password_ok(c, username, password):
        raise CommandError(_WRONGPASS)
    c.authenticated = True
    c.user = username.decode("utf-8", "surrogateescape")


@command("auth", -2, "noscript loading stale fast no_auth allow_busy", group=G, since="1.0.0",
         acl="connection", summary="Authenticates the connection.",
         complexity="O(N) where N is the number of passwords defined for the user")
def auth(c: Client, argv: list[bytes]) -> Any:
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    if len(argv) == 2:
        if not c.server.config["requirepass"]:
            raise CommandError(
                "ERR AUTH <password> called without any password configured for the "
                "default user. Are you sure your configuration is correct?"
            )
        _authenticate(c, b"default", argv[1])
    else:
        _authenticate(c, argv[1], argv[2])
    return OK


def valid_client_name(name: bytes) -> bool:
    return all(0x21 <= b <= 0x7E for b in name)


@command("hello", -1, "noscript loading stale fast no_auth allow_busy", group=G, since="6.0.0",
         acl="connection", summary="Handshakes with the Redis server.", complexity="O(1)")
def hello(c: Client, argv: list[bytes]) -> Any:
    version = 0
    if len(argv) >= 2:
        parsed = to_int(argv[1])
        if parsed is None:
            raise CommandError("ERR Protocol version is not an integer or out of range")
        version = parsed
        if version < 2 or version > 3:
            raise CommandError("NOPROTO unsupported protocol version")
    auth_pair: tuple[bytes, bytes] | None = None
    setname: bytes | None = None
    i = 2
    while i < len(argv):
        opt = argv[i].lower()
        more = len(argv) - i - 1
        if opt == b"auth" and more >= 2:
            auth_pair = (argv[i + 1], argv[i + 2])
            i += 3
        elif opt == b"setname" and more >= 1:
            setname = argv[i + 1]
            i += 2
        else:
            raise CommandError(
                f"ERR Syntax error in HELLO option '{argv[i].decode('utf-8', 'surrogateescape')}'"
            )
    if auth_pair is not None:
        _authenticate(c, *auth_pair)
    if not c.authenticated:
        raise CommandError(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
            "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
            "select the RESP protocol version at the same time"
        )
    if setname is not None:
        if not valid_client_name(setname):
            raise CommandError(
                "ERR Client names cannot contain spaces, newlines or special characters."
            )
        c.name = setname
    if version:
        c.resp = version
    return MapReply(
        [
            (b"server", b"redis"),
            (b"version", c.server.redis_version.encode()),
            (b"proto", c.resp),
            (b"id", c.id),
            (b"mode", b"standalone"),
            (b"role", b"master"),
            (b"modules", []),
        ]
    )


@command("reset", 1, "noscript loading stale fast no_auth allow_busy", group=G, since="6.2.0",
         acl="connection", summary="Resets the connection.", complexity="O(1)")
def reset(c: Client, argv: list[bytes]) -> Any:
    server = c.server
    c.in_multi = False
    c.multi_queue = []
    c.dirty_exec = False
    unwatch_all(c)
    server.select(c, 0)
    c.resp = 2
    c.name = b""
    c.reply_mode = "on"
    c.skip_next_reply = False
    c.no_evict = False
    c.no_touch = False
    if c.is_monitor:
        c.is_monitor = False
        if c in server.monitors:
            server.monitors.remove(c)
    c.authenticated = not server.config["requirepass"]
    c.user = "default"
    for hook in RESET_HOOKS:
        hook(c)
    return Status("RESET")


# Other families (pub/sub, tracking...) add what RESET must clear for them.
RESET_HOOKS: list[Any] = []
