"""MULTI / EXEC / DISCARD / WATCH / UNWATCH against the real redis-server."""

from __future__ import annotations

import time

from harness import Pair, RawClient


def test_exec_runs_queued_commands(pair: Pair) -> None:
    pair.check("MULTI")
    pair.check("PING")
    pair.check("ECHO", "x")
    pair.check("EXEC")


def test_errors_outside_multi(pair: Pair) -> None:
    pair.check("EXEC")
    pair.check("DISCARD")
    pair.check("UNWATCH")


def test_nested_multi_and_watch_inside_multi_do_not_abort(pair: Pair) -> None:
    pair.check("MULTI")
    pair.check("MULTI")
    pair.check("WATCH", "a")
    pair.check("PING")
    pair.check("EXEC")


def test_queue_time_error_aborts(pair: Pair) -> None:
    pair.check("MULTI")
    pair.check("NOSUCHCOMMAND", "x")
    pair.check("PING")
    pair.check("EXEC")
    # The client is out of MULTI afterwards.
    pair.check("PING")


def test_arity_error_while_queueing_aborts(pair: Pair) -> None:
    pair.check("MULTI")
    pair.check("ECHO")
    pair.check("EXEC")


def test_runtime_error_does_not_abort(pair: Pair) -> None:
    pair.check("MULTI")
    pair.check("SELECT", "100")
    pair.check("PING")
    pair.check("EXEC")


def test_discard(pair: Pair) -> None:
    pair.check("MULTI")
    pair.check("PING")
    pair.check("DISCARD")
    pair.check("PING")


def test_select_inside_multi(pair: Pair) -> None:
    pair.check("MULTI")
    pair.check("SELECT", "1")
    pair.check("PING")
    pair.check("EXEC")


def test_watch_broken_by_another_client(redis_server, cairn_server) -> None:  # type: ignore[no-untyped-def]
    for port in (redis_server.port, cairn_server.port):
        a, b = RawClient(port), RawClient(port)
        a.raw("FLUSHALL")
        assert a.raw("SET", "w", "1") == b"+OK\r\n"
        assert a.raw("WATCH", "w") == b"+OK\r\n"
        assert b.raw("SET", "w", "2") == b"+OK\r\n"
        assert a.raw("MULTI") == b"+OK\r\n"
        assert a.raw("SET", "w", "3") == b"+QUEUED\r\n"
        assert a.raw("EXEC") == b"*-1\r\n", port
        assert a.raw("GET", "w") == b"$1\r\n2\r\n"
        a.close()
        b.close()


def test_watch_unbroken_then_exec_applies(redis_server, cairn_server) -> None:  # type: ignore[no-untyped-def]
    for port in (redis_server.port, cairn_server.port):
        a = RawClient(port, resp=3)
        a.raw("FLUSHALL")
        assert a.raw("WATCH", "w", "v") == b"+OK\r\n"
        assert a.raw("MULTI") == b"+OK\r\n"
        assert a.raw("SET", "w", "3") == b"+QUEUED\r\n"
        assert a.raw("EXEC") == b"*1\r\n+OK\r\n"
        # EXEC unwatched everything: a change now does not matter.
        assert a.raw("SET", "w", "4") == b"+OK\r\n"
        assert a.raw("MULTI") == b"+OK\r\n"
        assert a.raw("EXEC") == b"*0\r\n"
        a.close()


def test_watch_broken_by_expiry(redis_server, cairn_server) -> None:  # type: ignore[no-untyped-def]
    for port in (redis_server.port, cairn_server.port):
        a = RawClient(port, resp=3)
        a.raw("FLUSHALL")
        assert a.raw("SET", "w", "1", "PX", "50") == b"+OK\r\n"
        assert a.raw("WATCH", "w") == b"+OK\r\n"
        time.sleep(0.12)
        assert a.raw("MULTI") == b"+OK\r\n"
        assert a.raw("PING") == b"+QUEUED\r\n"
        assert a.raw("EXEC") == b"_\r\n", port
        a.close()


def test_watch_broken_by_flushall(redis_server, cairn_server) -> None:  # type: ignore[no-untyped-def]
    for port in (redis_server.port, cairn_server.port):
        a, b = RawClient(port), RawClient(port)
        a.raw("FLUSHALL")
        a.raw("SET", "w", "1")
        assert a.raw("WATCH", "w") == b"+OK\r\n"
        b.raw("FLUSHALL")
        assert a.raw("MULTI") == b"+OK\r\n"
        assert a.raw("EXEC") == b"*-1\r\n", port
        a.close()
        b.close()


def test_watch_of_missing_key_not_broken_by_flush(redis_server, cairn_server) -> None:  # type: ignore[no-untyped-def]
    for port in (redis_server.port, cairn_server.port):
        a, b = RawClient(port), RawClient(port)
        a.raw("FLUSHALL")
        assert a.raw("WATCH", "nothing") == b"+OK\r\n"
        b.raw("FLUSHALL")
        assert a.raw("MULTI") == b"+OK\r\n"
        assert a.raw("EXEC") == b"*0\r\n", port
        a.close()
        b.close()
