"""Consumer groups: XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO GROUPS|CONSUMERS.

Replies holding times (idle, delivery times, seen-time) cannot match the oracle
byte for byte: those are compared with the time fields checked for range and
the rest exactly. Redis 7.2 added XINFO CONSUMERS ``inactive`` and XINFO STREAM
FULL ``active-time``; the 7.0 oracle lacks them, so they are checked apart.
"""

from __future__ import annotations

from typing import Any

from harness import Pair


def _setup(pair: Pair, n: int = 10) -> None:
    for i in range(1, n + 1):
        pair.check("XADD", "s", f"{i}-1", "f", str(i))
    pair.check("XGROUP", "CREATE", "s", "g", "0")


def _strip_times(value: Any, fields: tuple[bytes, ...]) -> Any:
    """Drop map entries named in fields from a parsed XINFO reply (any depth)."""
    if isinstance(value, dict):
        return {k: _strip_times(v, fields) for k, v in value.items() if k not in fields}
    if isinstance(value, list):
        if len(value) % 2 == 0 and value and all(isinstance(k, bytes) for k in value[::2]) and \
                any(k in fields for k in value[::2]):
            out = []
            for k, v in zip(value[::2], value[1::2], strict=True):
                if k not in fields:
                    out += [k, _strip_times(v, fields)]
            return out
        return [_strip_times(v, fields) for v in value]
    return value


def _compare_timed(pair: Pair, *args: Any, drop: tuple[bytes, ...] = (), timed: tuple[bytes, ...] = ()) -> Any:
    expected, actual = pair.real.call(*args), pair.cairn.call(*args)
    fields = drop + timed
    assert _strip_times(actual, fields) == _strip_times(expected, fields), (args, expected, actual)
    return actual


def _pending(pair: Pair, *args: Any) -> None:
    """XPENDING's extended form: idle times within a second of each other, the rest exact."""
    expected, actual = pair.real.call("XPENDING", *args), pair.cairn.call("XPENDING", *args)
    assert len(actual) == len(expected), (expected, actual)
    for e, a in zip(expected, actual, strict=True):
        assert a[:2] == e[:2] and a[3] == e[3], (expected, actual)
        assert abs(a[2] - e[2]) < 1000, (expected, actual)


def test_xgroup_create_and_errors(pair: Pair) -> None:
    pair.check("XGROUP", "CREATE", "s", "g", "0")
    pair.check("XGROUP", "CREATE", "s", "g", "0", "bogus")
    pair.check("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    pair.check("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    pair.check("XGROUP", "CREATE", "s", "g2", "bad")
    pair.check("XGROUP", "CREATE", "s", "g2", "-")
    pair.check("XGROUP", "create", "s", "g3", "0", "ENTRIESREAD", "x")
    pair.check("XGROUP", "CREATE", "s", "g3", "0", "ENTRIESREAD", "-2")
    pair.check("XGROUP", "CREATE", "s", "g3", "0", "ENTRIESREAD", "-1")
    pair.check("XGROUP", "CREATE", "s", "g4", "0", "ENTRIESREAD", "3", "MKSTREAM")
    pair.check("XGROUP", "CREATE", "s", "g5", "0", "MKSTREAM", "ENTRIESREAD", "1", "MKSTREAM")
    pair.check("XGROUP", "CREATE", "s", "g6", "0", "ENTRIESREAD")
    pair.check("XGROUP", "CREATE", "s")
    pair.check("XINFO", "GROUPS", "s")
    pair.check("XINFO", "STREAM", "s")
    pair.check("XGROUP", "CREATE", "nokey", "g", "0")
    pair.check("SET", "str", "x")
    pair.check("XGROUP", "CREATE", "str", "g", "0", "MKSTREAM")
    pair.check("XGROUP", "HELP")
    pair.check("XGROUP", "bogus")
    pair.check("XGROUP")


def test_xgroup_setid_destroy_consumers(pair: Pair) -> None:
    _setup(pair)
    for args in (("SETID", "nokey", "g", "0"), ("SETID", "s", "nog", "0"),
                 ("SETID", "s", "g", "bad"), ("SETID", "s", "g", "0", "ENTRIESREAD"),
                 ("SETID", "s", "g", "0", "FOO", "5"), ("SETID", "s", "g", "0", "ENTRIESREAD", "-5"),
                 ("SETID", "s", "g", "+"), ("SETID", "s", "g", "-"), ("SETID", "s", "g", "$"),
                 ("SETID", "s", "g", "3", "ENTRIESREAD", "3"), ("SETID", "s", "g", "5-1"),
                 ("DESTROY", "nokey", "g"), ("DESTROY", "s", "nog"),
                 ("CREATECONSUMER", "nokey", "g", "c"), ("CREATECONSUMER", "s", "nog", "c"),
                 ("CREATECONSUMER", "s", "g", "c"), ("CREATECONSUMER", "s", "g", "c"),
                 ("CREATECONSUMER", "s", "g", "d"),
                 ("DELCONSUMER", "s", "g", "zz"), ("DELCONSUMER", "nokey", "g", "c"),
                 ("DELCONSUMER", "s", "nog", "c")):
        pair.check("XGROUP", *args)
        pair.check("XINFO", "GROUPS", "s")
    pair.check("XREADGROUP", "GROUP", "g", "c", "COUNT", "3", "STREAMS", "s", ">")
    pair.check("XGROUP", "DELCONSUMER", "s", "g", "c")
    pair.check("XPENDING", "s", "g")
    pair.check("XGROUP", "DESTROY", "s", "g")
    pair.check("XGROUP", "DESTROY", "s", "g")
    pair.check("XINFO", "GROUPS", "s")


def test_xreadgroup_xack_xpending(pair: Pair) -> None:
    _setup(pair)
    pair.check("XREADGROUP", "GROUP", "g", "alice", "COUNT", "3", "STREAMS", "s", ">")
    pair.check("XREADGROUP", "GROUP", "g", "bob", "COUNT", "2", "STREAMS", "s", ">")
    pair.check("XREADGROUP", "GROUP", "g", "carol", "NOACK", "COUNT", "2", "STREAMS", "s", ">")
    pair.check("XPENDING", "s", "g")
    pair.check("XINFO", "GROUPS", "s")
    _pending(pair, "s", "g", "-", "+", "10")
    pair.check("XPENDING", "s", "g", "-", "+", "0")
    _pending(pair, "s", "g", "(1-1", "(3-1", "10", "alice")
    pair.check("XPENDING", "s", "g", "-", "+", "10", "nobody")
    pair.check("XPENDING", "s", "g", "IDLE", "100000", "-", "+", "10")
    for bad in (("-", "+"), ("IDLE", "5", "-", "+"), ("-", "+", "x"), ("IDLE", "x", "-", "+", "1"),
                ("bad", "+", "1"), ("-", "bad", "1"), ("(+", "+", "1"),
                ("-", "(-", "1"), ("-", "+", "1", "c", "extra", "more", "x")):
        pair.check("XPENDING", "s", "g", *bad)
    pair.check("XPENDING", "s", "nog")
    pair.check("XPENDING", "nokey", "g")
    pair.check("XACK", "s", "g", "1-1", "2-1", "9-1")
    pair.check("XACK", "s", "g", "1-1", "bad")
    pair.check("XACK", "s", "nog", "3-1")
    pair.check("XACK", "nokey", "g", "3-1")
    pair.check("XACK", "nokey", "g", "bad")
    pair.check("XACK", "s", "nog", "bad")
    pair.check("XPENDING", "s", "g")
    # History: the consumer's own pending entries, and a deleted one shows as null.
    pair.check("XDEL", "s", "4-1")
    _compare_timed(pair, "XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", "0")
    pair.check("XREADGROUP", "GROUP", "g", "bob", "COUNT", "1", "STREAMS", "s", "0-0")
    pair.check("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "99")
    pair.check("XREADGROUP", "GROUP", "g", "nobody", "STREAMS", "s", "0")
    _pending(pair, "s", "g", "-", "+", "10")
    pair.check("XINFO", "GROUPS", "s")
    pair.check("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">")
    pair.check("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">")
    pair.check("XINFO", "GROUPS", "s")


def test_xreadgroup_errors(pair: Pair) -> None:
    _setup(pair, 2)
    for args in (("GROUP", "g", "c", "STREAMS", "s"), ("GROUP", "g", "c", "STREAMS", "s", "$"),
                 ("GROUP", "nog", "c", "STREAMS", "s", ">"), ("GROUP", "g", "c", "STREAMS", "nokey", ">"),
                 ("GROUP", "g", "c", "COUNT", "x", "STREAMS", "s", ">"),
                 ("GROUP", "g", "c", "BLOCK", "-1", "STREAMS", "s", ">"),
                 ("GROUP", "g", "c", "BLOCK", "1.5", "STREAMS", "s", ">"),
                 ("GROUP", "g", "c", "FOO", "STREAMS", "s", ">"),
                 ("GROUP", "g", "c", "STREAMS", "s", "bad"),
                 ("GROUP", "g", "c", "COUNT", "1", "BLOCK", "5"),
                 ("GROUP", "g", "c", "STREAMS", "s", "nokey", ">", ">")):
        pair.check("XREADGROUP", *args)
    # Redis 7.2 names the command and its special ID (7.0 always said XREAD and '$').
    real, cairn = pair.both("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">", "x")
    assert real.startswith(b"-ERR Unbalanced ")
    assert cairn == (b"-ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID "
                     b"or '>' must be specified.\r\n")
    pair.check("SET", "str", "x")
    pair.check("XREADGROUP", "GROUP", "g", "c", "STREAMS", "str", ">")
    pair.check("XINFO", "GROUPS", "s")


def test_xgroup_setid_redelivers(pair: Pair) -> None:
    _setup(pair, 6)
    pair.check("XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">")
    pair.check("XGROUP", "SETID", "s", "g", "2-1")
    pair.check("XINFO", "GROUPS", "s")
    pair.check("XREADGROUP", "GROUP", "g", "b", "COUNT", "2", "STREAMS", "s", ">")
    pair.check("XPENDING", "s", "g")
    pair.check("XINFO", "GROUPS", "s")
    pair.check("XDEL", "s", "6-1")
    pair.check("XINFO", "GROUPS", "s")
    pair.check("XREADGROUP", "GROUP", "g", "b", "STREAMS", "s", ">")
    pair.check("XINFO", "GROUPS", "s")
    pair.check("XADD", "s", "7-1", "f", "v")
    pair.check("XINFO", "GROUPS", "s")


def test_lag_and_entries_read(pair: Pair) -> None:
    pair.check("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    pair.check("XINFO", "GROUPS", "s")
    for i in range(1, 8):
        pair.check("XADD", "s", f"{i}-0", "f", "v")
    pair.check("XGROUP", "CREATE", "s", "h", "0")
    pair.check("XGROUP", "CREATE", "s", "k", "3-0")
    pair.check("XGROUP", "CREATE", "s", "m", "7-0")
    pair.check("XGROUP", "CREATE", "s", "n", "9-0")
    pair.check("XINFO", "GROUPS", "s")
    pair.check("XREADGROUP", "GROUP", "h", "c", "COUNT", "2", "STREAMS", "s", ">")
    pair.check("XREADGROUP", "GROUP", "k", "c", "COUNT", "2", "STREAMS", "s", ">")
    pair.check("XINFO", "GROUPS", "s")
    pair.check("XDEL", "s", "5-0")
    pair.check("XINFO", "GROUPS", "s")
    pair.check("XREADGROUP", "GROUP", "h", "c", "STREAMS", "s", ">")
    pair.check("XINFO", "GROUPS", "s")
    pair.check("XDEL", "s", "1-0")
    pair.check("XTRIM", "s", "MAXLEN", "3")
    pair.check("XINFO", "GROUPS", "s")
    pair.check("XINFO", "STREAM", "s")


def test_xclaim(pair: Pair) -> None:
    _setup(pair, 6)
    pair.check("XREADGROUP", "GROUP", "g", "alice", "COUNT", "4", "STREAMS", "s", ">")
    pair.check("XCLAIM", "s", "g", "bob", "100000", "1-1")  # not idle long enough
    pair.check("XCLAIM", "s", "g", "bob", "0", "5-1")  # not pending, no FORCE
    pair.check("XINFO", "GROUPS", "s")
    pair.check("XCLAIM", "s", "g", "bob", "0", "1-1", "2-1")
    pair.check("XCLAIM", "s", "g", "bob", "0", "3-1", "JUSTID")
    pair.check("XCLAIM", "s", "g", "carl", "-5", "4-1", "RETRYCOUNT", "9", "IDLE", "1000")
    pair.check("XCLAIM", "s", "g", "carl", "0", "5-1", "FORCE", "JUSTID")
    pair.check("XCLAIM", "s", "g", "carl", "0", "6-1", "FORCE")
    pair.check("XCLAIM", "s", "g", "carl", "0", "1-1", "TIME", "12345", "LASTID", "5-1")
    pair.check("XCLAIM", "s", "g", "carl", "0", "2-1", "LASTID", "9-9", "RETRYCOUNT", "-1")
    pair.check("XINFO", "GROUPS", "s")
    _pending(pair, "s", "g", "-", "+", "10")
    _pending(pair, "s", "g", "IDLE", "100000000", "-", "+", "10")  # (idle times: clock-dependent)
    pair.check("XDEL", "s", "2-1")
    pair.check("XCLAIM", "s", "g", "dan", "0", "2-1", "3-1")
    pair.check("XPENDING", "s", "g")
    for bad in (("x", "1-1"), ("0", "1-1", "IDLE", "x"), ("0", "1-1", "TIME", "x"),
                ("0", "1-1", "RETRYCOUNT", "x"), ("0", "1-1", "LASTID", "x"), ("0", "1-1", "bogus"),
                ("0", "1-1", "IDLE"), ("0", "bad"), ("0", "1-1", "CTIME", "5")):
        pair.check("XCLAIM", "s", "g", "erin", *bad)
    pair.check("XCLAIM", "s", "nog", "erin", "0", "1-1")
    pair.check("XCLAIM", "nokey", "g", "erin", "0", "1-1")
    pair.check("SET", "str", "x")
    pair.check("XCLAIM", "str", "g", "erin", "0", "1-1")
    pair.check("XPENDING", "s", "g")
    _compare_timed(pair, "XINFO", "CONSUMERS", "s", "g", drop=(b"inactive",), timed=(b"idle",))


def test_xautoclaim(pair: Pair) -> None:
    _setup(pair, 8)
    pair.check("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">")
    pair.check("XAUTOCLAIM", "s", "g", "bob", "100000", "0")
    pair.check("XINFO", "GROUPS", "s")
    pair.check("XAUTOCLAIM", "s", "g", "bob", "0", "0", "COUNT", "3")
    pair.check("XAUTOCLAIM", "s", "g", "bob", "0", "(3-1", "COUNT", "2", "JUSTID")
    pair.check("XDEL", "s", "6-1", "7-1")
    pair.check("XAUTOCLAIM", "s", "g", "carl", "0", "6-1", "COUNT", "2")
    pair.check("XAUTOCLAIM", "s", "g", "carl", "0", "0")
    pair.check("XAUTOCLAIM", "s", "g", "carl", "0", "0-0", "JUSTID", "COUNT", "1")
    _pending(pair, "s", "g", "-", "+", "10")
    for bad in (("x", "0"), ("0", "bad"), ("0", "0", "COUNT", "0"), ("0", "0", "COUNT", "x"),
                ("0", "0", "bogus"), ("0", "(18446744073709551615-18446744073709551615"),
                ("0", "0", "COUNT")):
        pair.check("XAUTOCLAIM", "s", "g", "dan", *bad)
    pair.check("XAUTOCLAIM", "s", "nog", "dan", "0", "0")
    pair.check("XAUTOCLAIM", "nokey", "g", "dan", "0", "0")
    pair.check("XPENDING", "s", "g")


def test_xinfo_groups_consumers_and_full(pair: Pair) -> None:
    _setup(pair, 5)
    pair.check("XGROUP", "CREATE", "s", "a-group", "$")
    pair.check("XGROUP", "CREATE", "s", "z", "0")
    pair.check("XGROUP", "CREATECONSUMER", "s", "z", "zed")
    pair.check("XREADGROUP", "GROUP", "g", "bob", "COUNT", "2", "STREAMS", "s", ">")
    pair.check("XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "s", ">")
    pair.check("XINFO", "GROUPS", "s")
    pair.check("XINFO", "GROUPS", "nokey")
    pair.check("XINFO", "CONSUMERS", "s", "nog")
    pair.check("XINFO", "CONSUMERS", "nokey", "g")
    pair.check("XINFO", "CONSUMERS", "s")
    _compare_timed(pair, "XINFO", "CONSUMERS", "s", "g", drop=(b"inactive",), timed=(b"idle",))
    _compare_timed(pair, "XINFO", "STREAM", "s", "FULL", drop=(b"active-time",),
                   timed=(b"seen-time", b"pending"))
    _compare_timed(pair, "XINFO", "STREAM", "s", "FULL", "COUNT", "1", drop=(b"active-time",),
                   timed=(b"seen-time", b"pending"))
    # 7.2's fields: consumers carry active-time / inactive (-1 before any delivery).
    consumers = pair.cairn.call("XINFO", "CONSUMERS", "s", "z")
    flat = consumers[0] if isinstance(consumers[0], list) else [
        x for kv in consumers[0].items() for x in kv]
    info = dict(zip(flat[::2], flat[1::2], strict=True))
    assert info[b"name"] == b"zed" and info[b"inactive"] == -1 and 0 <= info[b"idle"] < 5000
    bob = pair.cairn.call("XINFO", "CONSUMERS", "s", "g")[0]
    flat = bob if isinstance(bob, list) else [x for kv in bob.items() for x in kv]
    info = dict(zip(flat[::2], flat[1::2], strict=True))
    assert info[b"name"] == b"alice" and 0 <= info[b"inactive"] < 5000
    pair.check("XINFO", "HELP")
