"""CLIENT and its subcommands: ID GETNAME SETNAME LIST INFO KILL PAUSE UNPAUSE
REPLY SETINFO NO-EVICT NO-TOUCH GETREDIR HELP.

Pause and reply modes are only recorded here: the dispatcher postpones commands
while ``server.paused_until`` lies ahead, and the connection drops replies as
``client.reply_mode`` / ``skip_next_reply`` say.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cairn.commands import errors
from cairn.commands.args import to_int
from cairn.commands.connection import valid_client_name
from cairn.commands.context import Client, Server
from cairn.commands.errors import CommandError
from cairn.commands.registry import command, container
from cairn.protocol import OK, ErrorReply, Status, Verbatim

G = "connection"
_FLAGS = "noscript loading stale sentinel"
_ADMIN_FLAGS = "admin noscript loading stale sentinel"


# Version history of the commands, as COMMAND DOCS reports it (Redis' reference data).
_HISTORY_CLIENT_LIST = (
    ("2.8.12", "Added unique client `id` field."),
    ("5.0.0", "Added optional `TYPE` filter."),
    ("6.0.0", "Added `user` field."),
    ("6.2.0", "Added `argv-mem`, `tot-mem`, `laddr` and `redir` fields and the optional `ID` filter."),
    ("7.0.0", "Added `resp`, `multi-mem`, `rbs` and `rbp` fields."),
    ("7.0.3", "Added `ssub` field."),
)
_HISTORY_CLIENT_KILL = (
    ("2.8.12", "Added new filter format."),
    ("2.8.12", "`ID` option."),
    ("3.2.0", "Added `master` type in for `TYPE` option."),
    ("5.0.0", "Replaced `slave` `TYPE` with `replica`. `slave` still supported for backward "
              "compatibility."),
    ("6.2.0", "`LADDR` option."),
)
_HISTORY_CLIENT_PAUSE = (
    ("6.2.0", "`CLIENT PAUSE WRITE` mode added along with the `mode` option."),
)


class ClientHooks:
    """What other subsystems know about a client; they replace these defaults.

    ``subscriptions(client) -> (channels, patterns, shard channels)``,
    ``client_type(client) -> "normal" | "master" | "replica" | "pubsub"``,
    ``redirect(client) -> tracking redirect id (-1 without tracking)``,
    ``user_exists(server, name) -> bool``.
    """

    def __init__(self) -> None:
        self.subscriptions: Callable[[Client], tuple[int, int, int]] = lambda c: (0, 0, 0)
        self.client_type: Callable[[Client], str] | None = None
        self.redirect: Callable[[Client], int] = lambda c: -1
        self.user_exists: Callable[[Server, str], bool] = lambda s, name: name == "default"


HOOKS = ClientHooks()


def client_type(c: Client) -> str:
    if HOOKS.client_type is not None:
        return HOOKS.client_type(c)
    return "pubsub" if any(HOOKS.subscriptions(c)) else "normal"


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def client_info_line(c: Client, now: float, current: list[bytes] | None = None) -> str:
    """One CLIENT LIST line (without the newline), fields in Redis 7.2's order.

    ``current`` is the argv being executed when ``c`` is the caller.
    """
    sub, psub, ssub = HOOKS.subscriptions(c)
    qbuf = c.query_bytes()
    omem = c.output_bytes()
    argv_mem = sum(len(a) for a in current) if current is not None else 0
    multi_mem = sum(sum(len(a) for a in argv) for _, argv in c.multi_queue) if c.in_multi else 0
    cmd = "client|" + _text(current[1]).lower() if current is not None else c.last_command
    return (
        f"id={c.id} addr={c.addr} laddr={c.laddr} fd={c.fd} name={_text(c.name)} "
        f"age={int(time.time() - c.created)} idle={int(now - c.last_interaction)} "
        f"flags={c.flags} db={c.db.id} sub={sub} psub={psub} ssub={ssub} "
        f"multi={len(c.multi_queue) if c.in_multi else -1} qbuf={qbuf} qbuf-free=0 "
        f"argv-mem={argv_mem} multi-mem={multi_mem} rbs=0 rbp=0 obl=0 oll=0 omem={omem} "
        f"tot-mem={qbuf + argv_mem + multi_mem + omem} events={'rw' if omem else 'r'} "
        f"cmd={cmd} user={c.user} redir={HOOKS.redirect(c)} resp={c.resp} "
        f"lib-name={_text(c.lib_name)} lib-ver={_text(c.lib_ver)}"
    )


_CLIENT_TYPES = {b"normal": "normal", b"master": "master", b"replica": "replica",
                 b"slave": "replica", b"pubsub": "pubsub"}


def _parse_type(value: bytes) -> str:
    kind = _CLIENT_TYPES.get(value.lower())
    if kind is None:
        raise CommandError(f"ERR Unknown client type '{_text(value)}'")
    return kind


def _subcommand_syntax(sub: bytes) -> CommandError:
    return CommandError(
        f"ERR unknown subcommand or wrong number of arguments for '{_text(sub)[:128]}'. "
        "Try CLIENT HELP."
    )


container("client", group=G, since="2.4.0", flags="sentinel",
          summary="A container for client connection commands.")


_HELP = [
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    # Redis 7.2
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    # Redis 7.2
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
    "HELP",
    "    Prints this help.",
]


@command("client|help", 2, "loading stale sentinel", group=G, since="5.0.0", acl="connection",
         summary="Shows what CLIENT can do.", complexity="O(1)")
def client_help(c: Client, argv: list[bytes]) -> Any:
    return [Status(line) for line in _HELP]


@command("client|id", 2, _FLAGS, group=G, since="5.0.0", acl="connection",
         summary="Returns the connection's ID.", complexity="O(1)")
def client_id(c: Client, argv: list[bytes]) -> Any:
    return c.id


@command("client|getname", 2, _FLAGS, group=G, since="2.6.9", acl="connection",
         summary="Returns the connection's name.", complexity="O(1)")
def client_getname(c: Client, argv: list[bytes]) -> Any:
    return c.name or None


@command("client|setname", 3, _FLAGS,
         tips="request_policy:all_nodes response_policy:all_succeeded",
         group=G, since="2.6.9", acl="connection",
         summary="Names the connection.", complexity="O(1)")
def client_setname(c: Client, argv: list[bytes]) -> Any:
    name = argv[2]
    if not valid_client_name(name):
        raise CommandError("ERR Client names cannot contain spaces, newlines or special characters.")
    c.name = name
    return OK


@command("client|setinfo", 4, _FLAGS,
         tips="request_policy:all_nodes response_policy:all_succeeded",
         group=G, since="7.2.0", acl="connection",
         summary="Records the client library's name or version.", complexity="O(1)")
def client_setinfo(c: Client, argv: list[bytes]) -> Any:
    attr = argv[2].lower()
    if attr not in (b"lib-name", b"lib-ver"):
        raise CommandError(f"ERR Unrecognized option '{_text(argv[2])}'")
    value = argv[3]
    if not valid_client_name(value):
        raise CommandError(
            f"ERR {_text(argv[2])} cannot contain spaces, newlines or special characters."
        )
    if attr == b"lib-name":
        c.lib_name = value
    else:
        c.lib_ver = value
    return OK


@command("client|info", 2, _FLAGS,
         tips="nondeterministic_output",
         group=G, since="6.2.0", acl="connection",
         summary="Describes the connection, as one CLIENT LIST line.", complexity="O(1)")
def client_info(c: Client, argv: list[bytes]) -> Any:
    return Verbatim((client_info_line(c, time.monotonic(), argv) + "\n").encode("utf-8", "surrogateescape"))


@command("client|list", -2, _ADMIN_FLAGS,
         tips="nondeterministic_output",
         history=_HISTORY_CLIENT_LIST,
         group=G, since="2.4.0", acl="connection",
         summary="Describes every open connection.",
         complexity="O(N) where N is the number of client connections")
def client_list(c: Client, argv: list[bytes]) -> Any:
    server = c.server
    argc = len(argv)
    chosen: list[Client]
    if argc == 2:
        chosen = [other for other in server.clients.values() if not other.closing or other is c]
    elif argc == 4 and argv[2].lower() == b"type":
        kind = _parse_type(argv[3])
        chosen = [
            other for other in server.clients.values()
            if (not other.closing or other is c) and client_type(other) == kind
        ]
    elif argc >= 4 and argv[2].lower() == b"id":
        chosen = []
        for raw in argv[3:]:
            wanted = to_int(raw)
            if wanted is None:
                raise CommandError("ERR Invalid client ID")
            other = server.clients.get(wanted)
            if other is not None and (not other.closing or other is c):
                chosen.append(other)
    else:
        raise CommandError(errors.SYNTAX)
    now = time.monotonic()
    lines = [client_info_line(o, now, argv if o is c else None) + "\n" for o in chosen]
    return Verbatim("".join(lines).encode("utf-8", "surrogateescape"))


def _kill(c: Client, victim: Client) -> None:
    if victim is c:
        c.close_after_reply = True
    else:
        victim.close()


@command("client|kill", -3, _ADMIN_FLAGS,
         history=_HISTORY_CLIENT_KILL, group=G, since="2.4.0", acl="connection",
         summary="Closes connections chosen by address, ID, type, user or age.",
         complexity="O(N) where N is the number of client connections")
def client_kill(c: Client, argv: list[bytes]) -> Any:
    server = c.server
    if len(argv) == 3:
        # Old form: CLIENT KILL ip:port, may kill the caller, replies OK.
        addr = _text(argv[2])
        for other in list(server.clients.values()):
            if other.addr == addr and not (other.closing and other is not c):
                _kill(c, other)
                return OK
        raise CommandError("ERR No such client")
    if len(argv) % 2 != 0:
        raise CommandError(errors.SYNTAX)
    want_id: int | None = None
    want_type: str | None = None
    want_addr: str | None = None
    want_laddr: str | None = None
    want_user: str | None = None
    max_age: int | None = None
    skipme = True
    for i in range(2, len(argv), 2):
        opt = argv[i].lower()
        value = argv[i + 1]
        if opt == b"id":
            parsed = to_int(value)
            if parsed is None or parsed <= 0:
                raise CommandError("ERR client-id should be greater than 0")
            want_id = parsed
        elif opt == b"type":
            want_type = _parse_type(value)
        elif opt == b"addr":
            want_addr = _text(value)
        elif opt == b"laddr":
            want_laddr = _text(value)
        elif opt == b"user":
            name = _text(value)
            if not HOOKS.user_exists(server, name):
                raise CommandError(f"ERR No such user '{name}'")
            want_user = name
        elif opt == b"skipme":
            lowered = value.lower()
            if lowered == b"yes":
                skipme = True
            elif lowered == b"no":
                skipme = False
            else:
                raise CommandError(errors.SYNTAX)
        elif opt == b"maxage":
            # MAXAGE arrived in Redis 7.4; accepted here as an extension.
            parsed = to_int(value)
            if parsed is None:
                raise CommandError(errors.SYNTAX)
            max_age = parsed
        else:
            raise CommandError(errors.SYNTAX)
    now = time.time()
    killed = 0
    for other in list(server.clients.values()):
        if other.closing and other is not c:
            continue
        if want_id is not None and other.id != want_id:
            continue
        if want_addr is not None and other.addr != want_addr:
            continue
        if want_laddr is not None and other.laddr != want_laddr:
            continue
        if want_type is not None and client_type(other) != want_type:
            continue
        if want_user is not None and other.user != want_user:
            continue
        if max_age is not None and now - other.created < max_age:
            continue
        if skipme and other is c:
            continue
        _kill(c, other)
        killed += 1
    return killed


@command("client|pause", -3, _ADMIN_FLAGS,
         history=_HISTORY_CLIENT_PAUSE, group=G, since="3.0.0", acl="connection",
         summary="Holds the commands of every client (or only writes) for a while.",
         complexity="O(1)")
def client_pause(c: Client, argv: list[bytes]) -> Any:
    if len(argv) > 4:
        raise _subcommand_syntax(argv[1])
    timeout = to_int(argv[2])
    if timeout is None:
        raise CommandError("ERR timeout is not an integer or out of range")
    if timeout < 0:
        raise CommandError("ERR timeout is negative")
    writes_only = False
    if len(argv) == 4:
        mode = argv[3].lower()
        if mode == b"write":
            writes_only = True
        elif mode != b"all":
            raise CommandError("ERR CLIENT PAUSE mode must be WRITE or ALL")
    server = c.server
    now = time.monotonic()
    until = now + timeout / 1000
    if server.paused_until > now:
        # A running pause is only ever extended, and WRITE never weakens ALL.
        server.paused_until = max(server.paused_until, until)
        server.pause_writes_only = server.pause_writes_only and writes_only
    else:
        server.paused_until = until
        server.pause_writes_only = writes_only
    return OK


@command("client|unpause", 2, _ADMIN_FLAGS, group=G, since="6.2.0", acl="connection",
         summary="Ends a CLIENT PAUSE.", complexity="O(N) Where N is the number of paused clients")
def client_unpause(c: Client, argv: list[bytes]) -> Any:
    server = c.server
    server.paused_until = 0.0
    server.pause_writes_only = False
    return OK


@command("client|reply", 3, _FLAGS, group=G, since="3.2.0", acl="connection",
         summary="Turns the connection's replies on, off, or off for one command.",
         complexity="O(1)")
def client_reply(c: Client, argv: list[bytes]) -> Any:
    mode = argv[2].lower()
    if mode == b"on":
        c.reply_mode = "on"
        c.skip_next_reply = False
    elif mode == b"off":
        c.reply_mode = "off"
    elif mode == b"skip":
        # The connection drops this command's reply and the next one's.
        if c.reply_mode != "off":
            c.reply_mode = "skip"
            c.skip_next_reply = True
    else:
        raise CommandError(errors.SYNTAX)
    return OK


def _on_off(value: bytes) -> bool:
    lowered = value.lower()
    if lowered == b"on":
        return True
    if lowered == b"off":
        return False
    raise CommandError(errors.SYNTAX)


@command("client|no-evict", 3, _ADMIN_FLAGS, group=G, since="7.0.0", acl="connection",
         summary="Exempts the connection from client eviction, or not.", complexity="O(1)")
def client_no_evict(c: Client, argv: list[bytes]) -> Any:
    c.no_evict = _on_off(argv[2])
    return OK


@command("client|no-touch", 3, "noscript loading stale", group=G, since="7.2.0", acl="connection",
         summary="Stops the connection's reads from updating key access times, or not.",
         complexity="O(1)")
def client_no_touch(c: Client, argv: list[bytes]) -> Any:
    c.no_touch = _on_off(argv[2])
    return OK


@command("client|getredir", 2, _FLAGS, group=G, since="6.0.0", acl="connection",
         summary="Returns where tracking invalidations are redirected (-1: nowhere).",
         complexity="O(1)")
def client_getredir(c: Client, argv: list[bytes]) -> Any:
    return HOOKS.redirect(c)


@command("client|unblock", -3, "admin noscript loading stale sentinel", group=G, since="5.0.0",
         acl="connection", summary="Unblocks a client blocked by a blocking command from a "
         "different connection.", complexity="O(log N) where N is the number of client connections")
def client_unblock(c: Client, argv: list[bytes]) -> Any:
    if len(argv) > 4:
        raise CommandError(
            "ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP."
        )
    client_id = to_int(argv[2])
    if client_id is None:
        raise CommandError(errors.NOT_INTEGER)
    error = False
    if len(argv) == 4:
        mode = argv[3].lower()
        if mode == b"error":
            error = True
        elif mode != b"timeout":
            raise CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    target = c.server.clients.get(client_id)
    if target is None:
        return 0
    reply = ErrorReply("UNBLOCKED client unblocked via CLIENT UNBLOCK") if error else None
    return 1 if c.server.blocking.unblock(target, reply) else 0
