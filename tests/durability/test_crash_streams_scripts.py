"""Crash tests for stream consumer groups and Lua scripts / functions.

Like test_crash.py: a durable Cairn runs with CAIRN_TEST_VOLATILE_WRITES=1 (log
bytes not yet fdatasynced vanish on kill -9) and a small fsync delay; client
threads work against a model of what each acknowledged reply implies; the
server is killed with SIGKILL at a random moment, restarted on the same
directory, and the recovered data must hold every acknowledged write, with the
operations that were in flight at the kill either fully there or fully absent.
Small log segments and a small ``snapshot-log-size`` make log rollovers,
automatic snapshots and log trimming happen during the run, so recovery often
starts from a snapshot (consumer groups and function libraries included).

Streams: producers XADD, consumers XREADGROUP ... > / XREADGROUP ... 0 (their own
history) and XACK. After a restart: every acknowledged XADD ID is in the stream
with its fields; every acknowledged delivery not acknowledged by XACK is in the
PEL of the consumer it went to, with its delivery count; no acknowledged XACK'd
ID is pending; the group's last-delivered-id covers every delivery and its
entries-read counts the entries up to it; and ``>`` never hands out an ID twice,
across restarts too. Between crashes (clients stopped) XINFO STREAM FULL of the
live server equals that of a second Cairn recovering from a copy of the data
directory (active-time and delivery times included; a consumer's seen-time
only as of its last logged change, see _without_seen_time).

Scripts: EVALSHA / EVAL / FCALL of scripts that write several keys (a
conditional transfer between accounts keeping the sum constant, an RPUSH plus
INCR keeping LLEN == counter, a transfer between shared accounts that also
counts itself). After a restart each worker's keys are its acknowledged state
plus a prefix of its in-flight scripts, the invariants hold, and the function
library last loaded (FUNCTION LOAD REPLACE before each round) is still there.

Pub/sub is not durable (as in Redis; see docs/pubsub.md): nothing to check here.

CAIRN_CRASH_SEED and CAIRN_CRASH_ROUNDS reproduce or lengthen a run.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import textwrap
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hiredis
from crashlib import Conn, Server, start_server

VOLATILE = {"CAIRN_TEST_VOLATILE_WRITES": "1", "CAIRN_TEST_FSYNC_DELAY": "0.003"}
# Rollovers, automatic snapshots and log trimming all happen during a run.
EXTRA = ["--log-segment-size", "16384", "--snapshot-log-size", "65536"]
STREAM = b"s"
GROUP = b"g"


def _seed() -> int:
    return int(os.environ.get("CAIRN_CRASH_SEED") or time.time_ns() % 1_000_000)


def _rounds(default: int) -> int:
    return int(os.environ.get("CAIRN_CRASH_ROUNDS", str(default)))


def _id(raw: bytes) -> tuple[int, int]:
    ms, seq = raw.split(b"-")
    return int(ms), int(seq)


def _copy_data(workdir: str) -> str:
    """A new work dir with a copy of ``<workdir>/data`` (log segments and snapshots)."""
    dst = tempfile.mkdtemp(prefix="cairn-copy-")
    shutil.copytree(os.path.join(workdir, "data"), os.path.join(dst, "data"),
                    ignore=shutil.ignore_patterns("*.tmp", "tmp-*"))
    return dst


def _recovered_copy(workdir: str, read: Any) -> Any:
    """Start a second Cairn on a copy of the data dir and return read(port)."""
    copy = _copy_data(workdir)
    server = start_server(copy, EXTRA)
    try:
        return read(server.port)
    finally:
        server.sigkill()
        shutil.rmtree(copy, ignore_errors=True)


def _snapshot_count(workdir: str) -> int:
    snaps = os.path.join(workdir, "data", "snapshots")
    return len(os.listdir(snaps)) if os.path.isdir(snaps) else 0


class _Stopper:
    """Threads that stop on an event; errors (failed reply checks) are collected."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.errors: list[str] = []

    def start(self, port: int, stop: threading.Event) -> None:
        self.thread = threading.Thread(target=self._main, args=(port, stop), daemon=True)
        self.thread.start()

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join(60)
        assert not self.thread.is_alive(), f"{self!r} is stuck"

    def _main(self, port: int, stop: threading.Event) -> None:
        try:
            conn = Conn(port)
        except OSError:
            return
        try:
            self.loop(conn, stop)
        except (OSError, ConnectionError):
            pass  # killed: the in-flight operations stay recorded
        except Exception as exc:
            self.errors.append(f"{self!r}: {exc!r}")
        finally:
            conn.close()

    def loop(self, conn: Conn, stop: threading.Event) -> None:
        raise NotImplementedError


# =============================================================================
# Streams and consumer groups
# =============================================================================


@dataclass
class GroupModel:
    """What the acknowledged replies say about the stream and its group."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    fields: dict[bytes, list[bytes]] = field(default_factory=dict)  # every entry seen
    delivered: set[bytes] = field(default_factory=set)  # ever handed out by ">"
    acked: set[bytes] = field(default_factory=set)  # removed from the PEL by an acked XACK
    floor: tuple[int, int] = (0, 0)  # last-delivered-id at the last restart
    redelivered: list[str] = field(default_factory=list)


class Producer(_Stopper):
    def __init__(self, pid: int, rng: random.Random) -> None:
        super().__init__()
        self.pid = pid
        self.rng = rng
        self.seq = 0
        self.acked: dict[int, bytes] = {}  # seq -> ID of every acknowledged XADD
        self.inflight: list[int] = []  # seqs sent, reply not received

    def __repr__(self) -> str:
        return f"producer {self.pid}"

    def entry(self, seq: int) -> list[bytes]:
        return [b"p", b"%d" % self.pid, b"n", b"%d" % seq, b"pad", b"x" * (seq % 23)]

    def loop(self, conn: Conn, stop: threading.Event) -> None:
        while not stop.is_set():
            seqs = [self.seq + i for i in range(1, self.rng.randrange(1, 4) + 1)]
            self.seq = seqs[-1]
            self.inflight = seqs
            conn.send([(b"XADD", STREAM, b"*", *self.entry(s)) for s in seqs])
            while self.inflight:
                reply = conn.read()
                assert isinstance(reply, bytes), f"XADD: {reply!r}"
                self.acked[self.inflight.pop(0)] = reply


class Consumer(_Stopper):
    """XREADGROUP >, XREADGROUP 0 (own history) and XACK, checked against the model."""

    def __init__(self, cid: int, rng: random.Random, model: GroupModel) -> None:
        super().__init__()
        self.name = b"c%d" % cid
        self.rng = rng
        self.model = model
        self.pending: dict[bytes, int] = {}  # ID -> delivery count
        # In flight at the kill: ("new", None) | ("ack", ids) | ("history", ids).
        self.inflight: list[tuple[str, list[bytes] | None]] = []

    def __repr__(self) -> str:
        return f"consumer {self.name.decode()}"

    def _history_ids(self, acking: list[bytes]) -> list[bytes]:
        return sorted(set(self.pending) - set(acking), key=_id)[:10]

    def loop(self, conn: Conn, stop: threading.Event) -> None:
        rng = self.rng
        while not stop.is_set():
            ops: list[tuple[str, list[bytes] | None]] = []
            acking: list[bytes] = []
            if self.pending and rng.random() < 0.7:
                acking = [i for i in self.pending if rng.random() < 0.5] or [next(iter(self.pending))]
                ops.append(("ack", acking))
            if rng.random() < 0.15:
                ops.append(("history", self._history_ids(acking)))
            ops.append(("new", None))
            self.inflight = ops
            commands: list[tuple[Any, ...]] = []
            for kind, ids in ops:
                if kind == "ack":
                    assert ids is not None
                    commands.append((b"XACK", STREAM, GROUP, *ids))
                else:
                    start = b"0" if kind == "history" else b">"
                    commands.append((b"XREADGROUP", b"GROUP", GROUP, self.name, b"COUNT", b"10",
                                     b"STREAMS", STREAM, start))
            conn.send(commands)
            while self.inflight:
                kind, ids = self.inflight[0]
                reply = conn.read()
                if kind == "ack":
                    assert ids is not None
                    assert reply == len(ids), f"XACK {ids!r} -> {reply!r}, expected {len(ids)}"
                    for i in ids:
                        del self.pending[i]
                    with self.model.lock:
                        self.model.acked.update(ids)
                elif kind == "history":
                    assert ids is not None
                    assert isinstance(reply, list) and len(reply) == 1 and reply[0][0] == STREAM, reply
                    got = reply[0][1]
                    expected = [[i, self.model.fields[i]] for i in ids]
                    assert got == expected, f"history of {self.name!r}: {got!r} != {expected!r}"
                    for i in ids:
                        self.pending[i] += 1
                else:
                    self._new(reply)
                self.inflight.pop(0)

    def _new(self, reply: Any) -> None:
        if reply is None:
            return
        assert isinstance(reply, list) and len(reply) == 1 and reply[0][0] == STREAM, reply
        model = self.model
        with model.lock:
            for entry_id, fields in reply[0][1]:
                if entry_id in model.delivered or _id(entry_id) <= model.floor:
                    model.redelivered.append(
                        f"{self.name!r} got {entry_id!r} from '>' again (delivered before, or "
                        f"<= last-delivered-id {model.floor} at the restart)"
                    )
                model.delivered.add(entry_id)
                model.fields[entry_id] = fields
                self.pending[entry_id] = 1


def _read_group_state(port: int) -> dict[str, Any]:
    conn = Conn(port)
    try:
        entries = conn.call(b"XRANGE", STREAM, b"-", b"+")
        groups = conn.call(b"XINFO", b"GROUPS", STREAM)
        pel = conn.call(b"XPENDING", STREAM, GROUP, b"-", b"+", b"1000000")
        full = conn.call(b"XINFO", b"STREAM", STREAM, b"FULL", b"COUNT", b"0")
    finally:
        conn.close()
    assert isinstance(entries, list), entries
    assert isinstance(groups, list) and len(groups) == 1, groups
    info = dict(zip(groups[0][::2], groups[0][1::2]))
    return {"entries": entries, "group": info, "pel": pel, "full": full}


@dataclass
class StreamWorkload:
    producers: list[Producer]
    consumers: list[Consumer]
    model: GroupModel
    inflight_seen: int = 0  # XADDs in flight at a kill
    inflight_durable: int = 0  # ... that the restarted server had
    reads_inflight: int = 0  # XREADGROUP > in flight at a kill
    reads_durable: int = 0  # entries those reads left in a PEL
    acks_inflight: int = 0  # IDs of XACKs in flight at a kill
    acks_durable: int = 0  # ... that were gone from the PEL after the restart

    @classmethod
    def create(cls, seed: int, producers: int = 3, consumers: int = 3) -> StreamWorkload:
        model = GroupModel()
        return cls(
            [Producer(i, random.Random(seed * 100 + i)) for i in range(producers)],
            [Consumer(i, random.Random(seed * 100 + 50 + i), model) for i in range(consumers)],
            model,
        )

    @property
    def workers(self) -> list[_Stopper]:
        return [*self.producers, *self.consumers]

    def run(self, port: int) -> threading.Event:
        stop = threading.Event()
        for w in self.workers:
            w.start(port, stop)
        return stop

    def join(self) -> None:
        for w in self.workers:
            w.join()
        errors = [e for w in self.workers for e in w.errors] + self.model.redelivered
        assert not errors, "\n".join(errors)

    def acked_xadds(self) -> int:
        return sum(len(p.acked) for p in self.producers)

    def verify(self, state: dict[str, Any]) -> list[str]:
        """Problems in a recovered (or live) stream; then adopt it as the known state."""
        problems: list[str] = []
        model = self.model
        entries: dict[bytes, list[bytes]] = {i: f for i, f in state["entries"]}
        order = [i for i, _ in state["entries"]]
        # -- entries: acknowledged XADDs, plus a prefix of each producer's in-flight ones
        by_producer: dict[int, dict[int, bytes]] = {p.pid: {} for p in self.producers}
        for entry_id, fields in entries.items():
            f = dict(zip(fields[::2], fields[1::2]))
            pid, seq = int(f.get(b"p", b"-1")), int(f.get(b"n", b"-1"))
            if pid not in by_producer or fields != self.producers[pid].entry(seq):
                problems.append(f"entry {entry_id!r} {fields!r} was never written")
                continue
            by_producer[pid][seq] = entry_id
        for p in self.producers:
            mine = by_producer[p.pid]
            lost = {s: i for s, i in p.acked.items() if mine.get(s) != i}
            if lost:
                problems.append(
                    f"{p!r}: {len(lost)} acknowledged XADDs missing or with another ID, e.g. "
                    + ", ".join(f"n={s} id={i!r} (now {mine.get(s)!r})" for s, i in sorted(lost.items())[:10])
                )
            extra = sorted(set(mine) - set(p.acked))
            if extra != p.inflight[:len(extra)]:
                problems.append(f"{p!r}: entries n={extra} are not a prefix of in flight {p.inflight}")
            self.inflight_seen += len(p.inflight)
            self.inflight_durable += len(extra)
        # -- the PEL
        last = state["group"][b"last-delivered-id"]
        last_t = _id(last)
        pel: dict[bytes, tuple[bytes, int]] = {}
        for entry_id, consumer, _idle, count in state["pel"]:
            pel[entry_id] = (consumer, count)
        if state["group"][b"pending"] != len(pel):
            problems.append(f"XINFO GROUPS pending {state['group'][b'pending']} != XPENDING {len(pel)}")
        inflight_acks = {i for c in self.consumers for k, ids in c.inflight if k == "ack" for i in ids or ()}
        for c in self.consumers:
            history = {i for k, ids in c.inflight if k == "history" for i in ids or ()}
            for entry_id, count in c.pending.items():
                got = pel.get(entry_id)
                if got is None:
                    if entry_id not in inflight_acks:
                        problems.append(f"{c!r}: delivered {entry_id!r} (not XACKed) is not pending")
                    continue
                if got[0] != c.name:
                    problems.append(f"{c!r}: {entry_id!r} is pending for {got[0]!r}")
                allowed = (count, count + 1) if entry_id in history else (count,)
                if got[1] not in allowed:
                    problems.append(f"{c!r}: {entry_id!r} delivery count {got[1]}, expected {allowed}")
        lost_acks = sorted(i for i in model.acked if i in pel)
        if lost_acks:
            problems.append(f"acknowledged XACKs undone, pending again: {lost_acks[:20]!r}")
        known = {i: c for c in self.consumers for i in c.pending}
        reading = {c.name for c in self.consumers if any(k == "new" for k, _ in c.inflight)}
        extras: dict[bytes, list[bytes]] = {}
        for entry_id, (consumer, count) in pel.items():
            if entry_id in known:
                continue
            if consumer not in reading or entry_id in model.delivered or count != 1 or _id(entry_id) <= model.floor:
                problems.append(f"{entry_id!r} pending for {consumer!r} (count {count}) was never delivered")
            extras.setdefault(consumer, []).append(entry_id)
        for consumer, ids in extras.items():
            if len(ids) > 10:
                problems.append(f"{consumer!r}: {len(ids)} pending entries from one in-flight COUNT 10 read")
        # -- last-delivered-id and entries-read
        high = [i for i in (*model.delivered, *pel) if _id(i) > last_t]
        if high:
            problems.append(f"last-delivered-id {last!r} is below delivered IDs {sorted(high, key=_id)[:10]!r}")
        upto = [i for i in order if _id(i) <= last_t]
        if state["group"][b"entries-read"] != len(upto):
            problems.append(f"entries-read {state['group'][b'entries-read']} but {len(upto)} entries <= {last!r}")
        done = model.acked | inflight_acks
        unaccounted = [i for i in upto if i not in pel and i not in done]
        if unaccounted:
            problems.append(f"entries <= last-delivered-id neither pending nor XACKed: {unaccounted[:20]!r}")
        self.reads_inflight += len(reading)
        self.reads_durable += sum(len(ids) for ids in extras.values())
        self.acks_inflight += len(inflight_acks)
        self.acks_durable += sum(i not in pel for i in inflight_acks)
        # -- adopt: the durable in-flight operations are now facts
        for p in self.producers:
            p.acked = dict(by_producer[p.pid])
            p.inflight = []
        for c in self.consumers:
            c.pending = {i: n for i, (who, n) in pel.items() if who == c.name}
            c.inflight = []
        model.acked |= {i for i in inflight_acks if i not in pel}
        model.delivered |= set(pel)
        model.fields.update(entries)
        model.floor = last_t
        return problems


def _without_seen_time(full: list[Any]) -> list[Any]:
    """XINFO STREAM FULL with every consumer's seen-time blanked out.

    An XREADGROUP that serves nothing updates the consumer's seen-time but
    writes nothing to the log (Redis does not propagate it either), so after
    a recovery seen-time may be older; active-time and all else must match."""
    out = list(full)
    at = out.index(b"groups") + 1
    groups = []
    for g in out[at]:
        g = list(g)
        ci = g.index(b"consumers") + 1
        consumers = []
        for c in g[ci]:
            c = list(c)
            c[c.index(b"seen-time") + 1] = None
            consumers.append(c)
        g[ci] = consumers
        groups.append(g)
    out[at] = groups
    return out


def _diff(live: Any, other: Any, path: str = "", limit: int = 12) -> list[str]:
    """The first few places where two replies differ, with their paths."""
    if type(live) is not type(other) or not isinstance(live, list):
        return [] if live == other else [f"{path or '.'}: live {live!r}, recovered {other!r}"]
    out: list[str] = []
    if len(live) != len(other):
        out.append(f"{path or '.'}: live has {len(live)} items, recovered {len(other)}")
    for i, (a, b) in enumerate(zip(live, other)):
        key = live[i - 1] if i % 2 else None
        label = key.decode(errors="replace") if isinstance(key, bytes) else str(i)
        out += _diff(a, b, f"{path}/{label}", limit)
        if len(out) >= limit:
            break
    return out[:limit]


def test_kill_9_under_consumer_group_traffic(tmp_path: Path) -> None:
    seed = _seed()
    rounds = _rounds(8)
    rng = random.Random(seed)
    workdir = str(tmp_path)
    context = f"(seed {seed}; rerun with CAIRN_CRASH_SEED={seed})"
    work = StreamWorkload.create(seed)
    server: Server | None = start_server(workdir, EXTRA, VOLATILE)
    assert server is not None
    conn = Conn(server.port)
    assert conn.call(b"XGROUP", b"CREATE", STREAM, GROUP, b"$", b"MKSTREAM") == b"OK"
    conn.close()
    started = time.monotonic()
    kills = replays = 0
    try:
        for round_ in range(rounds):
            # Load, then stop the clients: the live state equals the model, and a
            # second Cairn recovering from a copy of the data dir has the same stream.
            if round_ % 2 == 0:
                stop = work.run(server.port)
                time.sleep(rng.uniform(0.1, 0.4))
                stop.set()
                work.join()
                live = _read_group_state(server.port)
                problems = work.verify(live)
                assert not problems, f"live state, round {round_} {context}:\n" + "\n".join(problems)
                replayed = _recovered_copy(workdir, _read_group_state)
                replays += 1
                diffs = _diff(_without_seen_time(live["full"]), _without_seen_time(replayed["full"]))
                assert not diffs, (
                    f"XINFO STREAM FULL after recovery differs from the live server {context}:\n"
                    + "\n".join(diffs)
                )
            # Load, and kill -9 while it is in flight.
            stop = work.run(server.port)
            time.sleep(rng.uniform(0.1, 0.8))
            server.sigkill()
            kills += 1
            work.join()
            server = None
            if round_ % 4 == 3:  # killed again while recovering
                server = start_server(workdir, EXTRA, VOLATILE, wait=False)
                time.sleep(rng.uniform(0.0, 0.4))
                server.sigkill()
            server = start_server(workdir, EXTRA, VOLATILE)
            problems = work.verify(_read_group_state(server.port))
            assert not problems, f"after kill {kills} {context}:\n" + "\n".join(problems)
        # A last drain after the final restart: '>' hands out only new IDs, once.
        stop = work.run(server.port)
        time.sleep(0.3)
        stop.set()
        work.join()
        problems = work.verify(_read_group_state(server.port))
        assert not problems, f"final live state {context}:\n" + "\n".join(problems)
    finally:
        if server is not None:
            server.kill()
    print(
        f"\nstream crash test {context}: {kills} kills, {replays} recoveries compared, "
        f"{work.acked_xadds()} entries, {len(work.model.delivered)} delivered by '>', "
        f"{len(work.model.acked)} XACKed, {_snapshot_count(workdir)} snapshot files, "
        f"{time.monotonic() - started:.1f} s; XADDs in flight at a kill: "
        f"{work.inflight_seen}, durable: {work.inflight_durable}; XREADGROUP > in flight: "
        f"{work.reads_inflight}, entries they left pending: {work.reads_durable}; XACKed IDs "
        f"in flight: {work.acks_inflight}, durable: {work.acks_durable}"
    )
    assert work.acked_xadds() > 300
    assert len(work.model.acked) > 100


def test_stream_model_agrees_with_redis(redis_server) -> None:  # type: ignore[no-untyped-def]
    """The replies and states the checker predicts are those redis-server gives."""
    conn = Conn(redis_server.port)
    conn.call(b"DEL", STREAM)
    assert conn.call(b"XGROUP", b"CREATE", STREAM, GROUP, b"$", b"MKSTREAM") == b"OK"
    conn.close()
    work = StreamWorkload.create(_seed())
    for _ in range(2):
        stop = work.run(redis_server.port)
        time.sleep(0.4)
        stop.set()
        work.join()
        assert work.verify(_read_group_state(redis_server.port)) == []
    assert work.acked_xadds() > 50 and work.model.acked


_UNHELD_SERVER = textwrap.dedent(
    """
    import sys
    import cairn.net.connection as connection
    from cairn.commands.dispatch import execute
    from cairn.cli.server import main

    def execute_without_barrier(server, client, argv):
        reply, _lsn = execute(server, client, argv)
        return reply, 0  # BROKEN ON PURPOSE: the reply leaves before its fsync

    connection.execute = execute_without_barrier
    sys.exit(main(sys.argv[1:]))
    """
)
_SLOW_FSYNC = {"CAIRN_TEST_VOLATILE_WRITES": "1", "CAIRN_TEST_FSYNC_DELAY": "0.05"}


def test_the_stream_check_catches_replies_sent_before_fsync(tmp_path: Path) -> None:
    """Negative control: a server patched to reply before the fsync loses
    acknowledged XADDs / deliveries / XACKs on kill -9, and verify() says so."""
    work = StreamWorkload.create(_seed())
    server = start_server(str(tmp_path), [], _SLOW_FSYNC, script=_UNHELD_SERVER)
    try:
        conn = Conn(server.port)
        assert conn.call(b"XGROUP", b"CREATE", STREAM, GROUP, b"$", b"MKSTREAM") == b"OK"
        conn.close()
        time.sleep(0.2)  # the group itself is durable
        work.run(server.port)
        time.sleep(0.6)
        server.sigkill()
        work.join()
        server = start_server(str(tmp_path), [], _SLOW_FSYNC)
        problems = work.verify(_read_group_state(server.port))
    finally:
        server.kill()
    print("\nthe checker reported:\n" + "\n".join(p[:300] for p in problems))
    assert any("acknowledged XADDs missing" in p for p in problems), problems
    consumer_side = ("is not pending", "XACKs undone", "is below delivered IDs")
    assert any(word in p for p in problems for word in consumer_side), problems


# =============================================================================
# Scripts and functions
# =============================================================================

ACCOUNTS = 4
START_BALANCE = 1000
BANK = [b"bank:%d" % i for i in range(4)]  # shared by every worker: the sum stays 0

TRANSFER = b"""
local have = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
if have < amount then return {0, have} end
redis.call('DECRBY', KEYS[1], amount)
return {1, redis.call('INCRBY', KEYS[2], amount)}
"""
PUSHCOUNT = b"""
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
local c = redis.call('INCR', KEYS[2])
return {n, c}
"""
# Writes, then fails (INCR of a list): as in Redis, a script error rolls nothing
# back, so the RPUSH and INCR stay, and must be durable before the error reply.
PUSHCOUNT_FAIL = PUSHCOUNT.replace(b"return {n, c}", b"return redis.call('INCR', KEYS[1])")
SHARED = b"""
redis.call('DECRBY', KEYS[1], ARGV[1])
redis.call('INCRBY', KEYS[2], ARGV[1])
return redis.call('INCR', KEYS[3])
"""


def library(version: int) -> bytes:
    def fn(name: bytes, body: bytes) -> bytes:
        return b"redis.register_function('%s', function(KEYS, ARGV)\n%s\nend)\n" % (name, body)

    return (
        b"#!lua name=crash5\n-- version %d\n" % version
        + fn(b"transfer", TRANSFER)
        + fn(b"pushcount", PUSHCOUNT)
        + fn(b"shared", SHARED)
        + fn(b"libversion", b"return %d" % version)
    )


WRONGTYPE = object()  # the expected reply of PUSHCOUNT_FAIL: an error
State = dict[bytes, Any]  # key -> int (counters) or tuple of bytes (the list)


@dataclass
class ScriptOp:
    command: tuple[Any, ...]
    expected: Any  # None: a shared transfer (reply is the worker's transfer count)
    state: State  # the worker's state after it
    shared: int = 0


class ScriptWorker(_Stopper):
    def __init__(self, wid: int, rng: random.Random, shas: dict[str, bytes]) -> None:
        super().__init__()
        self.wid = wid
        self.rng = rng
        self.shas = shas
        self.accounts = [b"w%d:a%d" % (wid, i) for i in range(ACCOUNTS)]
        self.list = b"w%d:list" % wid
        self.count = b"w%d:count" % wid
        self.transfers = b"w%d:transfers" % wid
        self.state: State = {self.accounts[0]: START_BALANCE}
        self.inflight: list[ScriptOp] = []
        self.seq = 0
        self.acked_ops = 0

    def __repr__(self) -> str:
        return f"script worker {self.wid}"

    def keys(self) -> list[bytes]:
        return [*self.accounts, self.list, self.count, self.transfers]

    def _run(self, script: str, keys: list[bytes], args: list[Any]) -> tuple[Any, ...]:
        how = self.rng.choice(("evalsha", "fcall", "fcall", "eval") if script != "shared" else ("fcall",))
        if how == "fcall":
            return (b"FCALL", script.encode(), len(keys), *keys, *args)
        if how == "evalsha":
            return (b"EVALSHA", self.shas[script], len(keys), *keys, *args)
        body = {"transfer": TRANSFER, "pushcount": PUSHCOUNT}[script]
        return (b"EVAL", body, len(keys), *keys, *args)

    def make(self, s: State) -> ScriptOp:
        rng = self.rng
        roll = rng.random()
        new = dict(s)
        if roll < 0.45:
            src, dst = rng.sample(self.accounts, 2)
            have = s.get(src, 0)
            amount = rng.randrange(1, 400)
            command = self._run("transfer", [src, dst], [amount])
            if have < amount:
                return ScriptOp(command, [0, have], new)
            new[src] = have - amount
            new[dst] = s.get(dst, 0) + amount
            return ScriptOp(command, [1, new[dst]], new)
        if roll < 0.85:
            self.seq += 1
            item = b"w%d-%d" % (self.wid, self.seq)
            items = (*s.get(self.list, ()), item)
            new[self.list] = items
            new[self.count] = s.get(self.count, 0) + 1
            if roll < 0.8:
                return ScriptOp(self._run("pushcount", [self.list, self.count], [item]),
                                [len(items), new[self.count]], new)
            command = (b"EVAL", PUSHCOUNT_FAIL, 2, self.list, self.count, item)
            return ScriptOp(command, WRONGTYPE, new)
        src, dst = rng.sample(BANK, 2)
        new[self.transfers] = s.get(self.transfers, 0) + 1
        command = self._run("shared", [src, dst, self.transfers], [rng.randrange(1, 50)])
        return ScriptOp(command, new[self.transfers], new, shared=1)

    def loop(self, conn: Conn, stop: threading.Event) -> None:
        while not stop.is_set():
            ops: list[ScriptOp] = []
            s = self.state
            for _ in range(self.rng.randrange(1, 4)):
                ops.append(self.make(s))
                s = ops[-1].state
            self.inflight = ops
            conn.send([op.command for op in ops])
            while self.inflight:
                op = self.inflight[0]
                reply = conn.read()
                if op.expected is WRONGTYPE:
                    assert isinstance(reply, hiredis.ReplyError) and str(reply).startswith(
                        "WRONGTYPE"), f"failing script: {reply!r}"
                else:
                    assert reply == op.expected, f"{op.command[:2]!r}...: {reply!r} != {op.expected!r}"
                self.state = op.state
                self.inflight.pop(0)
                self.acked_ops += 1

    def candidates(self) -> list[State]:
        return [self.state, *(op.state for op in self.inflight)]


def _read_scripts_state(port: int, workers: Sequence[ScriptWorker]) -> dict[str, Any]:
    conn = Conn(port)
    try:
        per: dict[int, State] = {}
        for w in workers:
            conn.send([(b"GET", k) for k in w.accounts] + [(b"LRANGE", w.list, 0, -1),
                      (b"GET", w.count), (b"GET", w.transfers)])
            state: State = {}
            for k in w.accounts:
                v = conn.read()
                if v is not None:
                    state[k] = int(v)
            items = conn.read()
            if items:
                state[w.list] = tuple(items)
            for k in (w.count, w.transfers):
                v = conn.read()
                if v is not None:
                    state[k] = int(v)
            per[w.wid] = state
        bank = [conn.call(b"GET", k) for k in BANK]
        libs = conn.call(b"FUNCTION", b"LIST", b"WITHCODE")
        version = conn.call(b"FCALL", b"libversion", 0)
        dbsize = conn.call(b"DBSIZE")
    finally:
        conn.close()
    return {"workers": per, "bank": bank, "libs": libs, "version": version, "dbsize": dbsize}


def _short(value: Any) -> str:
    if isinstance(value, tuple) and len(value) > 4:
        return f"a list of {len(value)} ending {value[-3:]!r}"
    return repr(value)


def _verify_scripts(workers: Sequence[ScriptWorker], got: dict[str, Any], version: int) -> list[str]:
    problems: list[str] = []
    for w in workers:
        actual = got["workers"][w.wid]
        options = w.candidates()
        if actual in options:
            w.state = actual
        else:
            acked = options[0]
            problems.append(f"{w!r}: keys match neither the acknowledged state nor an in-flight prefix")
            for key in sorted(set(actual) | set(acked)):
                if actual.get(key) != acked.get(key):
                    problems.append(f"  {key!r}: on disk {_short(actual.get(key))}, "
                                    f"acknowledged {_short(acked.get(key))}")
            problems.append(f"  in flight: {[op.command[:2] for op in w.inflight]!r}")
        # The invariants, spelled out (a torn script breaks one of them).
        total = sum(actual.get(k, 0) for k in w.accounts)
        if total != START_BALANCE:
            problems.append(f"{w!r}: accounts sum to {total}, not {START_BALANCE}: torn transfer")
        if len(actual.get(w.list, ())) != actual.get(w.count, 0):
            problems.append(f"{w!r}: LLEN {len(actual.get(w.list, ()))} != counter "
                            f"{actual.get(w.count, 0)}: torn RPUSH+INCR")
        w.inflight = []
    bank = sum(int(v or 0) for v in got["bank"])
    if bank != 0:
        problems.append(f"shared accounts sum to {bank}, not 0: torn shared transfer")
    expected_keys = sum(len(w.state) for w in workers) + sum(v is not None for v in got["bank"])
    if got["dbsize"] != expected_keys:
        problems.append(f"DBSIZE {got['dbsize']}, expected {expected_keys}")
    libs = got["libs"]
    if not libs or len(libs) != 1:
        problems.append(f"FUNCTION LIST after restart: {libs!r}")
    else:
        lib = dict(zip(libs[0][::2], libs[0][1::2]))
        names = sorted(dict(zip(f[::2], f[1::2]))[b"name"] for f in lib[b"functions"])
        if lib[b"library_name"] != b"crash5" or lib[b"library_code"] != library(version):
            problems.append(f"library is {lib[b'library_name']!r} with code "
                            f"{lib[b'library_code'][:40]!r}..., not version {version}")
        if names != [b"libversion", b"pushcount", b"shared", b"transfer"]:
            problems.append(f"library functions {names!r}")
    if got["version"] != version:
        problems.append(f"FCALL libversion -> {got['version']!r}, expected {version}")
    return problems


def _prepare_scripts(port: int, version: int) -> dict[str, bytes]:
    """(Re)load the library (REPLACE, a new version) and the script cache (volatile)."""
    conn = Conn(port)
    try:
        assert conn.call(b"FUNCTION", b"LOAD", b"REPLACE", library(version)) == b"crash5"
        shas = {name: conn.call(b"SCRIPT", b"LOAD", body)
                for name, body in (("transfer", TRANSFER), ("pushcount", PUSHCOUNT))}
    finally:
        conn.close()
    return shas


def _run_scripts(port: int, workers: Sequence[ScriptWorker], shas: dict[str, bytes]) -> threading.Event:
    stop = threading.Event()
    for w in workers:
        w.shas.clear()
        w.shas.update(shas)
        w.start(port, stop)
    return stop


def _join_scripts(workers: Sequence[ScriptWorker]) -> None:
    for w in workers:
        w.join()
    errors = [e for w in workers for e in w.errors]
    assert not errors, "\n".join(errors)


def _make_script_workers(port: int, seed: int, n: int) -> list[ScriptWorker]:
    workers = [ScriptWorker(i, random.Random(seed * 100 + i), {}) for i in range(n)]
    conn = Conn(port)
    try:
        for w in workers:
            assert conn.call(b"SET", w.accounts[0], START_BALANCE) == b"OK"
    finally:
        conn.close()
    return workers


def test_kill_9_under_scripts_and_functions(tmp_path: Path) -> None:
    seed = _seed()
    rounds = _rounds(8)
    rng = random.Random(seed)
    workdir = str(tmp_path)
    context = f"(seed {seed}; rerun with CAIRN_CRASH_SEED={seed})"
    server: Server | None = start_server(workdir, EXTRA, VOLATILE)
    assert server is not None
    workers = _make_script_workers(server.port, seed, 4)
    started = time.monotonic()
    kills = replays = 0
    version = 0
    try:
        for round_ in range(rounds):
            version += 1
            shas = _prepare_scripts(server.port, version)
            if round_ % 2 == 0:
                stop = _run_scripts(server.port, workers, shas)
                time.sleep(rng.uniform(0.1, 0.4))
                stop.set()
                _join_scripts(workers)
                live = _read_scripts_state(server.port, workers)
                problems = _verify_scripts(workers, live, version)
                assert not problems, f"live state, round {round_} {context}:\n" + "\n".join(problems)
                replayed = _recovered_copy(workdir, lambda port: _read_scripts_state(port, workers))
                replays += 1
                assert replayed == live, f"a recovered copy differs from the live server {context}"
            stop = _run_scripts(server.port, workers, shas)
            time.sleep(rng.uniform(0.1, 0.8))
            server.sigkill()
            kills += 1
            _join_scripts(workers)
            server = None
            if round_ % 4 == 3:
                server = start_server(workdir, EXTRA, VOLATILE, wait=False)
                time.sleep(rng.uniform(0.0, 0.4))
                server.sigkill()
            server = start_server(workdir, EXTRA, VOLATILE)
            got = _read_scripts_state(server.port, workers)
            problems = _verify_scripts(workers, got, version)
            assert not problems, f"after kill {kills} {context}:\n" + "\n".join(problems)
    finally:
        if server is not None:
            server.kill()
    acked = sum(w.acked_ops for w in workers)
    print(
        f"\nscript crash test {context}: {kills} kills, {replays} recoveries compared, "
        f"{acked} acknowledged scripts, {_snapshot_count(workdir)} snapshot files, "
        f"{time.monotonic() - started:.1f} s"
    )
    assert acked > 300


def test_script_model_agrees_with_redis(redis_server) -> None:  # type: ignore[no-untyped-def]
    conn = Conn(redis_server.port)
    conn.call(b"FLUSHALL")
    conn.close()
    workers = _make_script_workers(redis_server.port, _seed(), 4)
    shas = _prepare_scripts(redis_server.port, 1)
    stop = _run_scripts(redis_server.port, workers, shas)
    time.sleep(0.5)
    stop.set()
    _join_scripts(workers)
    assert sum(w.acked_ops for w in workers) > 50
    assert _verify_scripts(workers, _read_scripts_state(redis_server.port, workers), 1) == []
    conn = Conn(redis_server.port)
    conn.call(b"FUNCTION", b"FLUSH")
    conn.call(b"FLUSHALL")
    conn.close()


def test_the_script_check_catches_replies_sent_before_fsync(tmp_path: Path) -> None:
    """Negative control: replies sent before their fsync lose acknowledged scripts."""
    server = start_server(str(tmp_path), [], _SLOW_FSYNC, script=_UNHELD_SERVER)
    try:
        workers = _make_script_workers(server.port, _seed(), 4)
        shas = _prepare_scripts(server.port, 1)
        time.sleep(0.3)  # the setup is durable
        _run_scripts(server.port, workers, shas)
        time.sleep(0.6)
        server.sigkill()
        _join_scripts(workers)
        server = start_server(str(tmp_path), [], _SLOW_FSYNC)
        problems = _verify_scripts(workers, _read_scripts_state(server.port, workers), 1)
    finally:
        server.kill()
    print("\nthe checker reported:\n" + "\n".join(problems)[:1500])
    assert any("neither the acknowledged state" in p for p in problems), problems
