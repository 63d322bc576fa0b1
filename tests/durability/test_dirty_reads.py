"""No dirty reads: nothing is shown to any client before it is durable.

The server runs with CAIRN_TEST_COMMIT_DELAY=0.3: each batch's commit (and so
every reply that waits for it) comes 0.3 s after its fsync. A write's own reply
therefore takes ~0.3 s; another client reading the written key must not see the
new value before that reply arrived. Reads of other keys must not wait at all.

Replies released by the same commit leave within microseconds of each other, in
no particular order between connections, so "B saw it after A's reply" is
checked with a margin (MARGIN, far below the 0.3 s a dirty read would gain).
"""

from __future__ import annotations

import os
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from crashlib import Conn, Server, start_server

COMMIT_DELAY = 0.3
MARGIN = 0.05


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = str(tmp_path_factory.mktemp("dirty-reads"))
    proc = start_server(workdir, [], {"CAIRN_TEST_COMMIT_DELAY": str(COMMIT_DELAY)})
    yield proc
    proc.stop()


@pytest.fixture
def conns(server: Server) -> Iterator[list[Conn]]:
    opened: list[Conn] = []
    yield opened
    for conn in opened:
        conn.close()


def connect(server: Server, opened: list[Conn]) -> Conn:
    conn = Conn(server.port)
    opened.append(conn)
    return conn


class Poller:
    """Client B: runs one command over and over, recording (sent, received, reply)."""

    def __init__(self, conn: Conn, command: tuple[Any, ...]) -> None:
        self.conn = conn
        self.command = command
        self.seen: list[tuple[float, float, Any]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            sent = time.monotonic()
            reply = self.conn.call(*self.command)
            self.seen.append((sent, time.monotonic(), _plain(reply)))

    def __enter__(self) -> Poller:
        self.thread.start()
        while not self.seen:  # B is running before A writes
            time.sleep(0.001)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def _plain(reply: Any) -> Any:
    if isinstance(reply, list):
        return [_plain(r) for r in reply]
    if isinstance(reply, Exception):
        return ("error", str(reply))
    return reply


def timed(conn: Conn, *command: Any) -> tuple[Any, float]:
    started = time.monotonic()
    reply = conn.call(*command)
    return reply, time.monotonic() - started


def check_no_early_sighting(poller: Poller, before: Any, written_at: float, acked_at: float) -> None:
    """Every reply of B that differs from ``before`` arrived after A's reply."""
    changed = [(sent, got, reply) for sent, got, reply in poller.seen if reply != before]
    assert changed, f"B never saw the write: {poller.seen[-3:]}"
    _sent, first_got, first = changed[0]
    assert first_got >= acked_at - MARGIN, (
        f"dirty read: B got {first!r} {acked_at - first_got:.3f} s before A's reply "
        f"(A wrote at {written_at:.3f}, its reply came {acked_at - written_at:.3f} s later)"
    )
    # and the write really was slow, so the check above had something to catch
    assert acked_at - written_at >= COMMIT_DELAY - MARGIN
    # B had a request out in the middle of the pending window (so B did ask while
    # the write was pending; its request was held, not answered with the new value)
    middle = acked_at - COMMIT_DELAY / 2
    assert any(sent <= middle <= got for sent, got, _r in poller.seen), (
        "B had no request out while the write was pending"
    )


# Client B's view of the key A writes. Value readers see every change; existence
# readers only see a creation or a deletion.
VALUE_READERS = [
    ("GET", "{k}"),
    ("STRLEN", "{k}"),
    ("MGET", "clean", "{k}"),
    ("GETRANGE", "{k}", 0, -1),
]
EXISTENCE_READERS = [
    ("EXISTS", "{k}"),
    ("TYPE", "{k}"),
    ("DBSIZE",),
    ("KEYS", "{k}*"),
    ("SCAN", 0, "COUNT", 1000),
]
CASES = [(r, m) for r in VALUE_READERS for m in ("create", "overwrite", "delete")] + [
    (r, m) for r in EXISTENCE_READERS for m in ("create", "delete")
]


@pytest.mark.parametrize(("reader", "mode"), CASES, ids=[f"{r[0]}-{m}" for r, m in CASES])
def test_a_pending_write_is_invisible_to_other_clients(
    server: Server, conns: list[Conn], reader: tuple[Any, ...], mode: str
) -> None:
    a, b = connect(server, conns), connect(server, conns)
    key = f"dirty:{reader[0]}:{mode}:{os.urandom(4).hex()}"
    assert a.call("SET", "clean", "c") == b"OK"
    if mode != "create":
        assert a.call("SET", key, "old") == b"OK"
    write = ("DEL", key) if mode == "delete" else ("SET", key, "new-value")
    command = tuple(arg.format(k=key) if isinstance(arg, str) else arg for arg in reader)
    before = _plain(b.call(*command))
    with Poller(b, command) as poller:
        written_at = time.monotonic()
        assert a.call(*write) in (b"OK", 1)
        acked_at = time.monotonic()
        time.sleep(0.1)  # B keeps reading after the reply: it must see the change
    check_no_early_sighting(poller, before, written_at, acked_at)


def test_a_write_depending_on_a_pending_write_is_not_acknowledged_first(
    server: Server, conns: list[Conn]
) -> None:
    """B's INCR runs on A's not yet durable INCR: B's reply (2) waits for both."""
    a, b = connect(server, conns), connect(server, conns)
    key = f"dirty:incr:{os.urandom(4).hex()}"
    a.send([("INCR", key)])
    time.sleep(0.05)  # A's INCR is executed and pending
    written_at = time.monotonic() - 0.05
    reply, took = timed(b, "INCR", key)
    assert reply == 2
    assert a.read() == 1
    acked_at = time.monotonic()
    assert took >= COMMIT_DELAY - 0.05 - MARGIN
    assert acked_at - written_at >= COMMIT_DELAY - MARGIN


def test_reads_of_clean_keys_are_not_delayed_by_a_pending_write(
    server: Server, conns: list[Conn]
) -> None:
    a, c = connect(server, conns), connect(server, conns)
    key = f"dirty:pending:{os.urandom(4).hex()}"
    assert a.call("SET", "clean", "c") == b"OK"
    a.send([("SET", key, "v")])
    time.sleep(0.02)
    latencies = []
    for command in (("GET", "clean"), ("GET", "no-such-key"), ("EXISTS", "clean"), ("PING",),
                    ("STRLEN", "clean"), ("MGET", "clean", "no-such-key")):
        reply, took = timed(c, *command)
        assert not isinstance(reply, Exception), reply
        latencies.append(took)
    # A's write is still pending, so the fast replies above were not just late ones.
    a.sock.setblocking(False)
    try:
        with pytest.raises(BlockingIOError):
            a.sock.recv(1)
    finally:
        a.sock.setblocking(True)
    assert a.read() == b"OK"
    assert max(latencies) < COMMIT_DELAY / 3, latencies
    print(f"\nclean-key read latency while a write is pending: max {max(latencies) * 1000:.1f} ms")


def test_pipeline_replies_stay_in_order(server: Server, conns: list[Conn]) -> None:
    """SET a 1, GET a, GET clean in one write: the GET clean is ready at once but
    must not overtake the two replies before it."""
    a, c = connect(server, conns), connect(server, conns)
    key = f"dirty:pipe:{os.urandom(4).hex()}"
    assert a.call("SET", "clean", "c") == b"OK"
    sent = time.monotonic()
    a.send([("SET", key, "1"), ("GET", key), ("GET", "clean"), ("PING",)])
    # meanwhile another client's read of the clean key is not held
    reply, took = timed(c, "GET", "clean")
    assert reply == b"c" and took < COMMIT_DELAY / 3
    replies = []
    for _ in range(4):
        replies.append((a.read(), time.monotonic() - sent))
    assert [r for r, _ in replies] == [b"OK", b"1", b"c", b"PONG"]
    assert replies[0][1] >= COMMIT_DELAY - MARGIN
    assert all(t >= replies[0][1] for _, t in replies)


def test_exec_is_all_or_nothing_and_not_visible_early(server: Server, conns: list[Conn]) -> None:
    a, b, c = (connect(server, conns) for _ in range(3))
    key = f"dirty:exec:{os.urandom(4).hex()}"
    assert a.call("MSET", key + ":s", "old", "clean", "c") == b"OK"
    command = ("MGET", key + ":s", key + ":n")
    before = _plain(b.call(*command))
    assert before == [b"old", None]
    with Poller(b, command) as poller:
        written_at = time.monotonic()
        a.send([("MULTI",), ("SET", key + ":s", "new"), ("INCR", key + ":n"), ("EXEC",)])
        time.sleep(0.05)
        # a read-only transaction on clean keys is not delayed
        c.send([("MULTI",), ("GET", "clean"), ("EXEC",)])
        started = time.monotonic()
        assert [c.read() for _ in range(3)] == [b"OK", b"QUEUED", [b"c"]]
        clean_took = time.monotonic() - started
        # a transaction reading the pending keys waits for them
        started = time.monotonic()
        c.send([("MULTI",), ("GET", key + ":s"), ("EXEC",)])
        dirty_exec = [c.read() for _ in range(3)]
        dirty_took = time.monotonic() - started
        assert [a.read() for _ in range(4)] == [b"OK", b"QUEUED", b"QUEUED", [b"OK", 1]]
        acked_at = time.monotonic()
        time.sleep(0.1)
    assert clean_took < COMMIT_DELAY / 3
    assert dirty_exec == [b"OK", b"QUEUED", [b"new"]]
    assert dirty_took >= COMMIT_DELAY - 0.05 - MARGIN
    check_no_early_sighting(poller, before, written_at, acked_at)
    # all or nothing: B never saw one half of the transaction
    for _sent, _got, reply in poller.seen:
        assert reply in ([b"old", None], [b"new", b"1"]), reply


def test_keys_changed_by_a_pending_flushdb_wait(server: Server, conns: list[Conn]) -> None:
    """FLUSHDB marks every key of its database pending (in db 9, not to disturb the others)."""
    a, b = connect(server, conns), connect(server, conns)
    for conn in (a, b):
        assert conn.call("SELECT", 9) == b"OK"
    assert a.call("SET", "x", "1") == b"OK"
    with Poller(b, ("GET", "x")) as poller:
        written_at = time.monotonic()
        assert a.call("FLUSHDB") == b"OK"
        acked_at = time.monotonic()
        time.sleep(0.1)
    check_no_early_sighting(poller, b"1", written_at, acked_at)




def race(
    server: Server, conns: list[Conn], write: tuple[Any, ...], probe: list[tuple[Any, ...]], db: int
) -> tuple[list[Any], float, float]:
    """A sends ``write``; 50 ms later (still pending) B sends the ``probe`` pipeline,
    both in database ``db``. Returns B's replies, when they arrived, and when A's
    reply arrived."""
    a, b = connect(server, conns), connect(server, conns)
    for conn in (a, b):
        assert conn.call("SELECT", db) == b"OK"
    a.send([write])
    time.sleep(0.05)
    b.send(probe)
    replies = [b.read() for _ in probe]
    got_at = time.monotonic()
    assert not isinstance(a.read(), Exception)
    return replies, got_at, time.monotonic()


EXEC_READS = [
    pytest.param(("GET", "{k}"), "create", id="GET"),
    pytest.param(("EXISTS", "{k}"), "delete", id="EXISTS"),
    pytest.param(("DBSIZE",), "create", id="DBSIZE"),
    pytest.param(("KEYS", "{k}"), "create", id="KEYS"),
    pytest.param(("SCAN", 0, "MATCH", "{k}"), "create", id="SCAN"),
    pytest.param(("RANDOMKEY",), "delete", id="RANDOMKEY"),
]


@pytest.mark.parametrize(("probe", "mode"), EXEC_READS)
def test_reads_inside_exec_wait_for_pending_writes(
    server: Server, conns: list[Conn], probe: tuple[Any, ...], mode: str
) -> None:
    key = f"dirty:exec-read:{os.urandom(4).hex()}"
    conn = connect(server, conns)
    assert conn.call("SELECT", 5) == b"OK"  # alone in its database (DBSIZE, RANDOMKEY)
    assert conn.call("FLUSHDB") == b"OK"
    if mode == "delete":
        assert conn.call("SET", key, "old") == b"OK"
    command = tuple(arg.format(k=key) if isinstance(arg, str) else arg for arg in probe)
    transaction = [("MULTI",), command, ("EXEC",)]
    conn.send(transaction)
    before = [conn.read() for _ in transaction][2]
    write = ("DEL", key) if mode == "delete" else ("SET", key, "v")
    replies, got_at, acked_at = race(server, conns, write, transaction, db=5)
    conn.send(transaction)
    after = [conn.read() for _ in transaction][2]
    assert replies[2] == after != before, (before, replies[2], after)
    assert got_at >= acked_at - MARGIN, (
        f"EXEC answered {acked_at - got_at:.3f} s before the write was durable: {replies[2]!r}"
    )


def test_exec_aborted_by_a_pending_write_waits_for_it(server: Server, conns: list[Conn]) -> None:
    key = f"dirty:watch:{os.urandom(4).hex()}"
    a, b = connect(server, conns), connect(server, conns)
    assert a.call("SET", key, "old") == b"OK"
    assert b.call("WATCH", key) == b"OK"
    a.send([("SET", key, "new")])
    time.sleep(0.05)
    b.send([("MULTI",), ("PING",), ("EXEC",)])
    replies = [b.read() for _ in range(3)]
    got_at = time.monotonic()
    assert a.read() == b"OK"
    acked_at = time.monotonic()
    assert replies[2] is None  # aborted: the key changed
    assert got_at >= acked_at - MARGIN, f"EXEC said nil {acked_at - got_at:.3f} s before the write was durable"


def test_info_keyspace_waits_for_pending_writes(server: Server, conns: list[Conn]) -> None:
    conn = connect(server, conns)
    assert conn.call("SELECT", 6) == b"OK"
    assert conn.call("FLUSHDB") == b"OK"
    replies, got_at, acked_at = race(
        server, conns, ("SET", "k", "v"), [("INFO", "keyspace")], db=6
    )
    assert b"db6:keys=1," in replies[0]
    assert got_at >= acked_at - MARGIN, f"INFO showed the key {acked_at - got_at:.3f} s early"


_UNTRACKED_SERVER = textwrap.dedent(
    """
    import sys
    import cairn.cli.server as cli

    build = cli.build_server

    def build_without_read_barriers(config):
        server = build(config)
        server.keyspace.track_pending = False  # BROKEN ON PURPOSE: dirty reads
        return server

    cli.build_server = build_without_read_barriers
    sys.exit(cli.main(sys.argv[1:]))
    """
)


def test_the_check_catches_a_dirty_read(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Negative control: against a server whose reads ignore pending writes, the
    same check must fail."""
    workdir = str(tmp_path_factory.mktemp("dirty-broken"))
    broken = start_server(
        workdir, [], {"CAIRN_TEST_COMMIT_DELAY": str(COMMIT_DELAY)}, script=_UNTRACKED_SERVER
    )
    a, b = Conn(broken.port), Conn(broken.port)
    try:
        with Poller(b, ("GET", "k")) as poller:
            written_at = time.monotonic()
            assert a.call("SET", "k", "v") == b"OK"
            acked_at = time.monotonic()
            time.sleep(0.1)
        with pytest.raises(AssertionError, match="dirty read"):
            check_no_early_sighting(poller, None, written_at, acked_at)
    finally:
        a.close()
        b.close()
        broken.stop()
