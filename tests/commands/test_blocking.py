"""Blocking list commands (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP), both servers.

Each scenario runs the same steps against redis-server and Cairn with several
connections and compares the reply bytes, so wake-up order, timeouts and
reply shapes must match.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
from harness import Pair, RawClient, ServerProcess, encode_command


def both(redis_server: ServerProcess, cairn_server: ServerProcess,
         scenario: Callable[[int], list[bytes]]) -> None:
    results = []
    for port in (redis_server.port, cairn_server.port):
        flush = RawClient(port)
        flush.raw("FLUSHALL")
        flush.close()
        results.append(scenario(port))
    assert results[1] == results[0], f"\n redis: {results[0]!r}\n cairn: {results[1]!r}"


def test_immediate_and_timeout_replies(pair: Pair) -> None:
    pair.check("RPUSH", "l", "a", "b")
    pair.check("BLPOP", "missing", "l", "0")
    pair.check("BRPOP", "l", "0")
    pair.check("BLPOP", "l", "0.05")  # the list is gone: times out
    pair.check("BRPOP", "l", "0.01")
    pair.check("BLMOVE", "l", "dst", "LEFT", "RIGHT", "0.01")
    pair.check("BRPOPLPUSH", "l", "dst", "0.01")
    pair.check("BLMPOP", "0.01", "2", "l", "m", "LEFT")


def test_argument_errors(pair: Pair) -> None:
    pair.check("BLPOP", "l", "-1")
    pair.check("BLPOP", "l", "x")
    pair.check("BLPOP", "l", "inf")
    pair.check("BLPOP", "l", "1e400")
    pair.check("BLPOP", "l")
    pair.check("BLMOVE", "a", "b", "UP", "LEFT", "0")
    pair.check("BLMOVE", "a", "b", "LEFT", "LEFT", "-2")
    pair.check("BLMPOP", "0", "0", "a", "LEFT")
    pair.check("BLMPOP", "0", "1", "a", "MIDDLE")
    pair.check("BLMPOP", "0", "1", "a", "LEFT", "COUNT", "0")
    pair.check("BLMPOP", "-1", "1", "a", "LEFT")
    pair.check("SET", "s", "x")
    pair.check("BLPOP", "s", "0")
    pair.check("BLMOVE", "s", "d", "LEFT", "LEFT", "0")
    pair.check("RPUSH", "l", "1")
    pair.check("BLMOVE", "l", "s", "LEFT", "LEFT", "0")


def test_blocking_inside_multi_does_not_block(pair: Pair) -> None:
    pair.check("MULTI")
    pair.check("BLPOP", "empty", "0")
    pair.check("BLMOVE", "empty", "d", "LEFT", "LEFT", "0")
    pair.check("BLMPOP", "0", "1", "empty", "RIGHT")
    pair.check("EXEC")


def _send(client: RawClient, *args: object) -> None:
    client.send(encode_command(args))


def test_push_wakes_the_first_waiter_fifo(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    def scenario(port: int) -> list[bytes]:
        waiters = [RawClient(port) for _ in range(3)]
        for w in waiters:
            _send(w, "BLPOP", "q", "5")
            time.sleep(0.05)  # park in a known order
        pusher = RawClient(port)
        out = [pusher.raw("RPUSH", "q", "a", "b", "c")]
        out += [w.read_reply() for w in waiters]
        out.append(pusher.raw("EXISTS", "q"))
        for c in (*waiters, pusher):
            c.close()
        return out

    both(redis_server, cairn_server, scenario)


def test_waiter_on_several_keys_and_brpop(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    def scenario(port: int) -> list[bytes]:
        w1, w2 = RawClient(port), RawClient(port)
        _send(w1, "BRPOP", "k1", "k2", "5")
        time.sleep(0.05)
        _send(w2, "BLPOP", "k2", "5")
        time.sleep(0.05)
        pusher = RawClient(port)
        out = [pusher.raw("RPUSH", "k2", "x", "y")]
        out += [w1.read_reply(), w2.read_reply()]
        for c in (w1, w2, pusher):
            c.close()
        return out

    both(redis_server, cairn_server, scenario)


def test_push_inside_multi_wakes_after_exec(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    def scenario(port: int) -> list[bytes]:
        waiter = RawClient(port)
        _send(waiter, "BLPOP", "q", "5")
        time.sleep(0.05)
        pusher = RawClient(port)
        out = [pusher.raw("MULTI"), pusher.raw("RPUSH", "q", "1"), pusher.raw("RPUSH", "q", "2"),
               pusher.raw("LPOP", "q"), pusher.raw("EXEC")]
        out.append(waiter.read_reply())
        out.append(pusher.raw("LRANGE", "q", "0", "-1"))
        waiter.close()
        pusher.close()
        return out

    both(redis_server, cairn_server, scenario)


def test_blmove_chain_and_brpoplpush(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    def scenario(port: int) -> list[bytes]:
        a, b = RawClient(port), RawClient(port)
        _send(a, "BLMOVE", "src", "mid", "RIGHT", "LEFT", "5")
        time.sleep(0.05)
        _send(b, "BRPOPLPUSH", "mid", "dst", "5")
        time.sleep(0.05)
        pusher = RawClient(port)
        out = [pusher.raw("LPUSH", "src", "v")]
        out += [a.read_reply(), b.read_reply()]
        out += [pusher.raw("LRANGE", "dst", "0", "-1"), pusher.raw("EXISTS", "src", "mid")]
        for c in (a, b, pusher):
            c.close()
        return out

    both(redis_server, cairn_server, scenario)


def test_blmpop_with_count(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    def scenario(port: int) -> list[bytes]:
        waiter = RawClient(port, resp=3)
        _send(waiter, "BLMPOP", "5", "2", "a", "b", "RIGHT", "COUNT", "2")
        time.sleep(0.05)
        pusher = RawClient(port)
        out = [pusher.raw("RPUSH", "b", "1", "2", "3"), waiter.read_reply(),
               pusher.raw("LRANGE", "b", "0", "-1")]
        waiter.close()
        pusher.close()
        return out

    both(redis_server, cairn_server, scenario)


def test_pipelined_commands_wait_for_the_blocked_one(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    def scenario(port: int) -> list[bytes]:
        waiter = RawClient(port)
        waiter.send(encode_command(("BLPOP", "q", "5")) + encode_command(("ECHO", "after")))
        time.sleep(0.1)
        pusher = RawClient(port)
        out = [pusher.raw("RPUSH", "q", "z"), waiter.read_reply(), waiter.read_reply()]
        waiter.close()
        pusher.close()
        return out

    both(redis_server, cairn_server, scenario)


def test_sub_second_timeout_is_honoured(cairn_server: ServerProcess) -> None:
    client = RawClient(cairn_server.port)
    started = time.monotonic()
    assert client.raw("BLPOP", "nothing", "0.2") == b"*-1\r\n"
    elapsed = time.monotonic() - started
    assert 0.18 <= elapsed < 0.6, elapsed
    client.close()


@pytest.mark.parametrize("mode", ["TIMEOUT", "ERROR"])
def test_client_unblock(redis_server: ServerProcess, cairn_server: ServerProcess, mode: str) -> None:
    def scenario(port: int) -> list[bytes]:
        waiter, admin = RawClient(port), RawClient(port)
        client_id = int(waiter.raw("CLIENT", "ID")[1:-2])
        _send(waiter, "BLPOP", "q", "0")
        time.sleep(0.05)
        out = [admin.raw("CLIENT", "UNBLOCK", str(client_id), mode), waiter.read_reply(),
               admin.raw("CLIENT", "UNBLOCK", str(client_id)), waiter.raw("PING")]
        waiter.close()
        admin.close()
        return out

    both(redis_server, cairn_server, scenario)


def test_disconnect_while_blocked_frees_the_waiter(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    def scenario(port: int) -> list[bytes]:
        gone = socket.create_connection(("127.0.0.1", port))
        gone.sendall(encode_command(("BLPOP", "q", "0")))
        time.sleep(0.05)
        gone.close()
        waiter = RawClient(port)
        _send(waiter, "BLPOP", "q", "5")
        time.sleep(0.1)
        pusher = RawClient(port)
        out = [pusher.raw("RPUSH", "q", "only"), waiter.read_reply(), pusher.raw("LLEN", "q")]
        waiter.close()
        pusher.close()
        return out

    both(redis_server, cairn_server, scenario)


def test_wrong_type_while_blocked_keeps_waiting(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    def scenario(port: int) -> list[bytes]:
        waiter = RawClient(port)
        _send(waiter, "BLPOP", "q", "0.5")
        time.sleep(0.05)
        other = RawClient(port)
        out = [other.raw("SET", "q", "string"), other.raw("DEL", "q"), other.raw("RPUSH", "q", "v"),
               waiter.read_reply()]
        waiter.close()
        other.close()
        return out

    both(redis_server, cairn_server, scenario)


# -- sorted sets ------------------------------------------------------------------------


def test_zset_immediate_timeout_and_errors(pair: Pair) -> None:
    pair.check("ZADD", "z", "1", "a", "2", "b", "3", "c")
    pair.check("BZPOPMIN", "missing", "z", "0")
    pair.check("BZPOPMAX", "z", "0")
    pair.check("BZMPOP", "0", "2", "nope", "z", "MIN", "COUNT", "5")
    pair.check("BZPOPMIN", "z", "0.01")
    pair.check("BZMPOP", "0.01", "1", "z", "MAX")
    pair.check("BZPOPMIN", "z", "-1")
    pair.check("BZMPOP", "0", "1", "z", "SIDEWAYS")
    pair.check("SET", "s", "x")
    pair.check("BZPOPMAX", "s", "0")
    pair.check("MULTI")
    pair.check("BZPOPMIN", "empty", "0")
    pair.check("BZMPOP", "0", "1", "empty", "MIN")
    pair.check("EXEC")


def test_zadd_wakes_bzpopmin_waiters_in_order(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    def scenario(port: int) -> list[bytes]:
        w1, w2 = RawClient(port), RawClient(port, resp=3)
        _send(w1, "BZPOPMIN", "z", "5")
        time.sleep(0.05)
        _send(w2, "BZMPOP", "5", "1", "z", "MAX", "COUNT", "2")
        time.sleep(0.05)
        adder = RawClient(port)
        out = [adder.raw("ZADD", "z", "1.5", "a", "2", "b", "3", "c"), w1.read_reply(),
               w2.read_reply(), adder.raw("ZCARD", "z")]
        for c in (w1, w2, adder):
            c.close()
        return out

    both(redis_server, cairn_server, scenario)
