"""CLIENT subcommands, differential against redis-server where Redis 7.0 and 7.2 agree.

CLIENT SETINFO and CLIENT NO-TOUCH are Redis 7.2 commands and the lib-name /
lib-ver fields of CLIENT LIST are 7.2 output: the 7.0.15 oracle lacks them, so
those parts follow the 7.2 documentation and are checked against Cairn alone.
"""

from __future__ import annotations

import time

import pytest
from harness import Pair, RawClient, ServerProcess, encode_command

import cairn.commands  # noqa: F401  (registers every command)
from cairn.commands.client import client_pause, client_unpause
from cairn.commands.context import Client, Server

# Fields of a CLIENT LIST line added by Redis 7.2 (absent from the 7.0 oracle).
FIELDS_72 = ["lib-name", "lib-ver"]


def _body(reply: bytes) -> str:
    """Text of a bulk (RESP2) or verbatim (RESP3) reply."""
    head, _, rest = reply.partition(b"\r\n")
    assert head[:1] in (b"$", b"="), reply
    text = rest[: int(head[1:])]
    if head[:1] == b"=":
        assert text[:4] == b"txt:", reply
        text = text[4:]
    return text.decode()


def _parse_line(line: str) -> list[tuple[str, str]]:
    return [tuple(part.split("=", 1)) for part in line.split(" ")]  # type: ignore[misc]


def _lines(reply: bytes) -> list[list[tuple[str, str]]]:
    text = _body(reply)
    assert text == "" or text.endswith("\n")
    return [_parse_line(line) for line in text.split("\n") if line]


# Fields whose values must agree with Redis for the same session state.
SEMANTIC = ("name", "flags", "db", "sub", "psub", "ssub", "multi", "cmd", "user", "redir", "resp",
            "obl", "oll")


def _compare_lines(real: list[tuple[str, str]], cairn: list[tuple[str, str]]) -> None:
    real_keys = [k for k, _ in real]
    cairn_keys = [k for k, _ in cairn]
    assert cairn_keys == real_keys + FIELDS_72
    real_d, cairn_d = dict(real), dict(cairn)
    for key in SEMANTIC:
        assert cairn_d[key] == real_d[key], (key, real_d, cairn_d)


def _own_id(client: RawClient) -> int:
    reply = client.call("CLIENT", "ID")
    assert isinstance(reply, int)
    return reply


def test_errors(pair: Pair) -> None:
    pair.check("CLIENT")
    pair.check("CLIENT", "NOSUCH")
    pair.check("CLIENT", "PAUSE")
    pair.check("CLIENT", "PAUSE", "abc")
    pair.check("CLIENT", "PAUSE", "-1")
    pair.check("CLIENT", "PAUSE", "99999999999999999999")
    pair.check("CLIENT", "PAUSE", "10", "sometimes")
    pair.check("CLIENT", "Pause", "10", "write", "extra")
    pair.check("CLIENT", "REPLY")
    pair.check("CLIENT", "REPLY", "maybe")
    pair.check("CLIENT", "SETNAME")
    pair.check("CLIENT", "SETNAME", "a b")
    pair.check("CLIENT", "SETNAME", "a\nb")
    pair.check("CLIENT", "SETNAME", "x", "y")
    pair.check("CLIENT", "GETNAME", "x")
    pair.check("CLIENT", "ID", "x")
    pair.check("CLIENT", "KILL")
    pair.check("CLIENT", "KILL", "1.2.3.4:5")
    pair.check("CLIENT", "KILL", "addr")
    pair.check("CLIENT", "KILL", "ID", "abc")
    pair.check("CLIENT", "KILL", "ID", "0")
    pair.check("CLIENT", "KILL", "ID", "-3")
    pair.check("CLIENT", "KILL", "foo", "bar")
    pair.check("CLIENT", "KILL", "ID", "1", "SKIPME")
    pair.check("CLIENT", "KILL", "TYPE", "weird")
    pair.check("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "maybe")
    pair.check("CLIENT", "KILL", "USER", "nobody")
    pair.check("CLIENT", "LIST", "TYPE", "weird")
    pair.check("CLIENT", "LIST", "TYPE", "normal", "extra")
    pair.check("CLIENT", "LIST", "ID")
    pair.check("CLIENT", "LIST", "ID", "abc")
    pair.check("CLIENT", "LIST", "ID", "1", "x")
    pair.check("CLIENT", "LIST", "nonsense")
    pair.check("CLIENT", "NO-EVICT", "maybe")
    pair.check("CLIENT", "NO-EVICT")
    pair.check("CLIENT", "UNPAUSE", "x")
    pair.check("CLIENT", "HELP", "x")


def test_kill_nothing_to_kill(pair: Pair) -> None:
    pair.check("CLIENT", "KILL", "ADDR", "1.2.3.4:5")
    pair.check("CLIENT", "KILL", "LADDR", "1.2.3.4:5")
    pair.check("CLIENT", "KILL", "ID", "999999999")
    pair.check("CLIENT", "KILL", "ID", "1", "ID", "999999999")
    pair.check("CLIENT", "KILL", "SKIPME", "yes", "ID", "999999999")
    pair.check("CLIENT", "KILL", "TYPE", "master")
    pair.check("CLIENT", "KILL", "TYPE", "pubsub")
    pair.check("CLIENT", "KILL", "TYPE", "replica")
    pair.check("CLIENT", "KILL", "TYPE", "slave")


def test_setname_getname(pair: Pair) -> None:
    pair.check("CLIENT", "GETNAME")
    pair.check("CLIENT", "SETNAME", "worker-1")
    pair.check("CLIENT", "GETNAME")
    pair.check("CLIENT", "SETNAME", "")
    pair.check("CLIENT", "GETNAME")
    pair.check("CLIENT", "SETNAME", "~!@#$%^&*()")
    pair.check("CLIENT", "GETNAME")


def test_id_is_an_integer_and_stable(pair: Pair) -> None:
    real, cairn = pair.both("CLIENT", "ID")
    assert real[:1] == cairn[:1] == b":"
    assert pair.cairn.raw("CLIENT", "ID") == cairn
    other = RawClient(pair.cairn.port)
    try:
        assert _own_id(other) > int(cairn[1:-2])
    finally:
        other.close()


def test_getredir_without_tracking(pair: Pair) -> None:
    pair.check("CLIENT", "GETREDIR")


def test_unpause_and_no_evict(pair: Pair) -> None:
    pair.check("CLIENT", "UNPAUSE")
    pair.check("CLIENT", "NO-EVICT", "on")
    pair.check("CLIENT", "NO-EVICT", "OFF")


def test_help(pair: Pair) -> None:
    real, cairn = pair.both("CLIENT", "HELP")
    expected = _help_lines(real)
    # Redis 7.2 documents SETINFO after SETNAME and NO-TOUCH after NO-EVICT.
    at = expected.index("UNBLOCK <clientid> [TIMEOUT|ERROR]")
    expected[at:at] = [
        "SETINFO <option> <value>",
        "    Set client meta attr. Options are:",
        "    * LIB-NAME: the client lib name.",
        "    * LIB-VER: the client lib version.",
    ]
    at = expected.index("HELP")
    expected[at:at] = ["NO-TOUCH (ON|OFF)", "    Will not touch LRU/LFU stats when this mode is on."]
    assert _help_lines(cairn) == expected


def _help_lines(reply: bytes) -> list[str]:
    lines = reply.split(b"\r\n")
    assert lines[0] == b"*%d" % (len(lines) - 2)
    assert all(line.startswith(b"+") for line in lines[1:-1])
    return [line[1:].decode() for line in lines[1:-1]]


def test_list_and_info_format(pair: Pair) -> None:
    for args in (("CLIENT", "INFO"), ("CLIENT", "LIST")):
        real, cairn = pair.both(*args)
        assert real[:1] == cairn[:1]  # bulk in RESP2, verbatim in RESP3
        real_lines, cairn_lines = _lines(real), _lines(cairn)
        if args[1] == "LIST":
            real_lines = [ln for ln in real_lines if dict(ln)["cmd"] == "client|list"]
            cairn_lines = [ln for ln in cairn_lines if dict(ln)["cmd"] == "client|list"]
        assert len(real_lines) == len(cairn_lines) == 1
        _compare_lines(real_lines[0], cairn_lines[0])
    # The same after changing the session.
    pair.check("SELECT", "3")
    pair.check("CLIENT", "SETNAME", "named")
    pair.check("CLIENT", "NO-EVICT", "on")
    real, cairn = pair.both("CLIENT", "INFO")
    _compare_lines(_lines(real)[0], _lines(cairn)[0])
    assert dict(_lines(cairn)[0])["name"] == "named"
    assert dict(_lines(cairn)[0])["flags"] == "e"
    pair.check("CLIENT", "NO-EVICT", "off")
    pair.check("SELECT", "0")


def test_list_shows_other_clients(pair: Pair) -> None:
    others = [RawClient(pair.real.port), RawClient(pair.cairn.port)]
    try:
        ids = [_own_id(other) for other in others]
        for other in others:
            other.call("CLIENT", "SETNAME", "other")
            other.call("SELECT", "2")
            other.call("MULTI")
            other.call("PING")
        for other_id, me in zip(ids, (pair.real, pair.cairn), strict=True):
            reply = me.raw("CLIENT", "LIST", "ID", str(other_id), "999999999")
            lines = _lines(reply)
            assert len(lines) == 1
            fields = dict(lines[0])
            assert fields["name"] == "other"
            assert fields["db"] == "2"
            assert fields["flags"] == "x"
            assert fields["multi"] == "1"
        real = _lines(pair.real.raw("CLIENT", "LIST", "ID", str(ids[0])))[0]
        cairn = _lines(pair.cairn.raw("CLIENT", "LIST", "ID", str(ids[1])))[0]
        assert [k for k, _ in cairn] == [k for k, _ in real] + FIELDS_72
        for other in others:
            other.call("DISCARD")
    finally:
        for other in others:
            other.close()


def test_list_filters(pair: Pair) -> None:
    for me in (pair.real, pair.cairn):
        own = _own_id(me)
        ids = {int(dict(ln)["id"]) for ln in _lines(me.raw("CLIENT", "LIST", "TYPE", "normal"))}
        assert own in ids
        assert _lines(me.raw("CLIENT", "LIST", "TYPE", "pubsub")) == []
        assert _lines(me.raw("CLIENT", "LIST", "TYPE", "master")) == []
        lines = _lines(me.raw("CLIENT", "LIST", "ID", str(own), str(own)))
        assert [int(dict(ln)["id"]) for ln in lines] == [own, own]
    pair.check("CLIENT", "LIST", "ID", "0")
    pair.check("CLIENT", "LIST", "ID", "-5")
    pair.check("CLIENT", "LIST", "ID", "999999999")
    pair.check("CLIENT", "LIST", "TYPE", "pubsub")


def _closed(client: RawClient, timeout: float = 2.0) -> bool:
    client.sock.settimeout(timeout)
    try:
        return client.sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_kill_by_id(pair: Pair) -> None:
    for me in (pair.real, pair.cairn):
        victim = RawClient(me.port)
        try:
            victim_id = _own_id(victim)
            assert me.raw("CLIENT", "KILL", "ID", str(victim_id)) == b":1\r\n"
            assert _closed(victim)
            assert me.raw("CLIENT", "KILL", "ID", str(victim_id)) == b":0\r\n"
            assert _lines(me.raw("CLIENT", "LIST", "ID", str(victim_id))) == []
        finally:
            victim.close()


def _addr_of(client: RawClient) -> str:
    return dict(_lines(client.raw("CLIENT", "INFO"))[0])["addr"]


def test_kill_by_addr_old_and_new_form(pair: Pair) -> None:
    for me in (pair.real, pair.cairn):
        victim = RawClient(me.port)
        try:
            assert me.raw("CLIENT", "KILL", _addr_of(victim)) == b"+OK\r\n"
            assert _closed(victim)
        finally:
            victim.close()
        victim = RawClient(me.port)
        try:
            assert me.raw("CLIENT", "KILL", "ADDR", _addr_of(victim), "TYPE", "normal") == b":1\r\n"
            assert _closed(victim)
        finally:
            victim.close()
        # Filters combine: a wrong LADDR spares the client.
        victim = RawClient(me.port)
        try:
            reply = me.raw("CLIENT", "KILL", "ADDR", _addr_of(victim), "LADDR", "10.9.9.9:1")
            assert reply == b":0\r\n"
            assert victim.raw("PING") == b"+PONG\r\n"
        finally:
            victim.close()


def test_kill_skipme(pair: Pair) -> None:
    for port in (pair.real.port, pair.cairn.port):
        me = RawClient(port)
        try:
            own = str(_own_id(me))
            assert me.raw("CLIENT", "KILL", "ID", own) == b":0\r\n"
            assert me.raw("CLIENT", "KILL", "ID", own, "SKIPME", "no") == b":1\r\n"
            assert _closed(me)
        finally:
            me.close()
        me = RawClient(port)
        try:
            # The old form may kill the caller itself: OK first, then the close.
            assert me.raw("CLIENT", "KILL", _addr_of(me)) == b"+OK\r\n"
            assert _closed(me)
        finally:
            me.close()


def _pipeline(client: RawClient, *commands: tuple[str, ...]) -> bytes:
    """Send commands then PING; return every byte received before the PONG."""
    client.send(b"".join(encode_command(cmd) for cmd in commands) + encode_command(("PING",)))
    data = b""
    client.sock.settimeout(5)
    while not data.endswith(b"+PONG\r\n"):
        chunk = client.sock.recv(65536)
        assert chunk, data
        data += chunk
    return data[: -len(b"+PONG\r\n")]


REPLY_SCRIPTS = [
    [("CLIENT", "REPLY", "OFF"), ("SET", "a", "1"), ("GET", "a"), ("CLIENT", "REPLY", "ON"),
     ("GET", "a")],
    [("CLIENT", "REPLY", "SKIP"), ("SET", "b", "2"), ("GET", "b")],
    [("CLIENT", "REPLY", "SKIP"), ("CLIENT", "REPLY", "SKIP"), ("GET", "x"), ("GET", "y"),
     ("ECHO", "z")],
    [("CLIENT", "REPLY", "OFF"), ("CLIENT", "REPLY", "SKIP"), ("GET", "a"),
     ("CLIENT", "REPLY", "ON"), ("ECHO", "on")],
    [("CLIENT", "REPLY", "SKIP"), ("CLIENT", "REPLY", "ON"), ("ECHO", "after")],
    [("CLIENT", "REPLY", "OFF"), ("CLIENT", "REPLY", "bogus"), ("CLIENT", "REPLY", "ON"),
     ("ECHO", "x")],
]


@pytest.mark.parametrize("script", REPLY_SCRIPTS, ids=[str(i) for i in range(len(REPLY_SCRIPTS))])
def test_reply_modes(pair2: Pair, script: list[tuple[str, ...]]) -> None:
    expected = _pipeline(pair2.real, *script)
    actual = _pipeline(pair2.cairn, *script)
    assert actual == expected


def _pause_blocks_writes_only(port: int) -> tuple[bool, bool, bool, float]:
    """(read answered during pause, write answered during pause, write answered after unpause)."""
    admin, worker = RawClient(port), RawClient(port)
    try:
        assert admin.raw("CLIENT", "PAUSE", "5000", "WRITE") == b"+OK\r\n"
        worker.sock.settimeout(3)
        start = time.monotonic()
        read_ok = worker.raw("GET", "paused-key") == b"$-1\r\n"
        read_time = time.monotonic() - start
        worker.send(encode_command(("SET", "paused-key", "1")))
        worker.sock.settimeout(0.4)
        try:
            write_answered = bool(worker.sock.recv(100))
        except TimeoutError:
            write_answered = False
        assert admin.raw("CLIENT", "UNPAUSE") == b"+OK\r\n"
        worker.sock.settimeout(3)
        after = worker.read_reply() == b"+OK\r\n"
        return read_ok, write_answered, after, read_time
    finally:
        admin.raw("CLIENT", "UNPAUSE")
        admin.close()
        worker.close()


def test_pause_write_blocks_writes_not_reads(pair2: Pair) -> None:
    for port in (pair2.real.port, pair2.cairn.port):
        read_ok, write_answered, after, read_time = _pause_blocks_writes_only(port)
        assert read_ok and read_time < 0.3
        assert not write_answered
        assert after


def test_pause_all_blocks_reads_until_timeout(pair2: Pair) -> None:
    for port in (pair2.real.port, pair2.cairn.port):
        admin, worker = RawClient(port), RawClient(port)
        try:
            assert admin.raw("CLIENT", "PAUSE", "300") == b"+OK\r\n"
            start = time.monotonic()
            assert worker.raw("GET", "k") == b"$-1\r\n"
            assert time.monotonic() - start >= 0.2
        finally:
            admin.close()
            worker.close()


def test_pause_all_holds_the_next_pause_too(pair2: Pair) -> None:
    for port in (pair2.real.port, pair2.cairn.port):
        admin, worker = RawClient(port), RawClient(port)
        try:
            start = time.monotonic()
            admin.send(encode_command(("CLIENT", "PAUSE", "300", "ALL"))
                       + encode_command(("CLIENT", "PAUSE", "100", "WRITE")))
            assert admin.read_reply() == b"+OK\r\n"
            # The second PAUSE is itself a command held by the first.
            assert admin.read_reply() == b"+OK\r\n"
            assert time.monotonic() - start >= 0.25
            assert worker.raw("PING") == b"+PONG\r\n"
        finally:
            admin.raw("CLIENT", "UNPAUSE")
            admin.close()
            worker.close()


def test_pause_merging_in_process() -> None:
    server = Server()
    c = Client(server)
    client_pause(c, [b"CLIENT", b"PAUSE", b"1000", b"ALL"])
    until = server.paused_until
    assert not server.pause_writes_only
    # A shorter WRITE pause neither shortens nor weakens a running ALL pause.
    client_pause(c, [b"CLIENT", b"PAUSE", b"100", b"WRITE"])
    assert server.paused_until == until and not server.pause_writes_only
    client_unpause(c, [b"CLIENT", b"UNPAUSE"])
    assert server.paused_until == 0.0
    client_pause(c, [b"CLIENT", b"PAUSE", b"100", b"WRITE"])
    assert server.pause_writes_only
    client_pause(c, [b"CLIENT", b"PAUSE", b"2000", b"all"])
    assert not server.pause_writes_only
    assert server.paused_until > time.monotonic() + 1.5
    client_unpause(c, [b"CLIENT", b"UNPAUSE"])


# -- Redis 7.2 subcommands: the 7.0 oracle answers "unknown subcommand" -------------------


def test_setinfo_72(cairn_server: ServerProcess) -> None:
    me = RawClient(cairn_server.port)
    try:
        assert me.raw("CLIENT", "SETINFO", "LIB-NAME", "redis-py") == b"+OK\r\n"
        assert me.raw("CLIENT", "SETINFO", "lib-ver", "5.0.1") == b"+OK\r\n"
        fields = dict(_lines(me.raw("CLIENT", "INFO"))[0])
        assert (fields["lib-name"], fields["lib-ver"]) == ("redis-py", "5.0.1")
        assert me.raw("CLIENT", "SETINFO", "lib-name", "") == b"+OK\r\n"
        assert dict(_lines(me.raw("CLIENT", "INFO"))[0])["lib-name"] == ""
        assert me.raw("CLIENT", "SETINFO", "color", "x") == b"-ERR Unrecognized option 'color'\r\n"
        assert me.raw("CLIENT", "SETINFO", "lib-name", "a b") == (
            b"-ERR lib-name cannot contain spaces, newlines or special characters.\r\n"
        )
        assert me.raw("CLIENT", "SETINFO", "lib-name") == (
            b"-ERR wrong number of arguments for 'client|setinfo' command\r\n"
        )
    finally:
        me.close()


def test_no_touch_72(cairn_server: ServerProcess) -> None:
    me = RawClient(cairn_server.port)
    try:
        assert me.raw("CLIENT", "NO-TOUCH", "on") == b"+OK\r\n"
        assert dict(_lines(me.raw("CLIENT", "INFO"))[0])["flags"] == "T"
        assert me.raw("CLIENT", "NO-TOUCH", "OFF") == b"+OK\r\n"
        assert dict(_lines(me.raw("CLIENT", "INFO"))[0])["flags"] == "N"
        assert me.raw("CLIENT", "NO-TOUCH", "maybe") == b"-ERR syntax error\r\n"
    finally:
        me.close()


def test_kill_maxage_extension(cairn_server: ServerProcess) -> None:
    # MAXAGE is a Redis 7.4 filter; Cairn accepts it.
    me, victim = RawClient(cairn_server.port), RawClient(cairn_server.port)
    try:
        victim_id = str(_own_id(victim))
        assert me.raw("CLIENT", "KILL", "ID", victim_id, "MAXAGE", "1000") == b":0\r\n"
        time.sleep(1.1)
        assert me.raw("CLIENT", "KILL", "ID", victim_id, "MAXAGE", "1") == b":1\r\n"
        assert _closed(victim)
        assert me.raw("CLIENT", "KILL", "MAXAGE", "soon") == b"-ERR syntax error\r\n"
    finally:
        me.close()
        victim.close()
