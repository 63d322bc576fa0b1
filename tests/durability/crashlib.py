"""Shared helpers for the server-level durability tests.

- ``start_server``: a Cairn process on a given work dir (``<workdir>/data`` is its
  ``--dir``, so the log lives in ``<workdir>/data/log``) with extra environment
  variables (the fault-injection hooks of ``cairn.cli.server._test_hooks``), or
  started through a small wrapper script.
- ``Conn``: a blocking RESP client that pipelines and tells exactly which
  replies arrived before the connection died.
- ``dump``: every key of a server (type, value, absolute expiry) for comparisons.
- ``Workload``/``Worker``: client threads writing against a model of what each
  acknowledged reply implies; ``Workload.verify`` checks a dump against it.

The model: every worker owns its keys (``w<id>:...`` in database ``id % 2``; the
last worker has database 2 to itself and also runs FLUSHDB), so
the state of those keys after its acknowledged operations is known exactly. The
operations that were sent but not acknowledged when the server died ("in
flight") may or may not be durable, but only as a prefix (the log is a prefix
and one connection's records are in order) and a MULTI/EXEC block only as a
whole. So after a crash the worker's keys must equal the acknowledged state
followed by some prefix of its in-flight operations: anything else is a lost
acknowledged write, a torn transaction, or a value that was never written.
One counter per database (``shared:counter``) is INCRed by the workers of that database.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import hiredis

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness import ServerProcess, encode_command, free_port, wait_for_port

SHARED_COUNTER = b"shared:counter"
DBS = (0, 1, 2)  # workers share 0 and 1; one worker has 2 to itself (FLUSHDB)


# -- processes ------------------------------------------------------------------
class Server(ServerProcess):
    """A Cairn process with its own environment (test hooks) and data dir."""

    def __init__(self, argv: list[str], port: int, workdir: str, env: dict[str, str]) -> None:
        super().__init__(argv, port, workdir)
        self.env = env

    def start(self, wait: bool = True) -> Server:
        with open(os.path.join(self.workdir, "server.log"), "ab") as log:
            log.write(b"---- start %r\n" % (self.argv[-6:],))
            log.flush()
            self.proc = subprocess.Popen(
                self.argv, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        if wait:
            wait_for_port(self.port, self.proc, timeout=60)
        return self

    def sigkill(self) -> None:
        """kill -9, and wait for the process to be gone."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


def start_server(
    workdir: str,
    extra: Sequence[str] = (),
    env: dict[str, str] | None = None,
    script: str | None = None,
    data_dir: str | None = None,
    wait: bool = True,
) -> Server:
    """Start Cairn with ``--dir <workdir>/data`` (or ``data_dir``) on a fresh port.

    ``env`` is added to the environment (e.g. CAIRN_TEST_VOLATILE_WRITES=1).
    ``script``: Python source run instead of ``-m cairn``; it gets the server
    arguments in ``sys.argv[1:]`` (used to run a deliberately broken server).
    ``wait=False`` returns at once, without waiting for the port (still recovering).
    """
    port = free_port()
    full_env = dict(os.environ)
    for name in ("CAIRN_TEST_VOLATILE_WRITES", "CAIRN_TEST_FSYNC_DELAY", "CAIRN_TEST_COMMIT_DELAY"):
        full_env.pop(name, None)
    full_env.update(env or {})
    head = [sys.executable, "-c", script] if script is not None else [sys.executable, "-m", "cairn"]
    argv = [
        *head,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", data_dir or os.path.join(workdir, "data"),
        *extra,
    ]
    return Server(argv, port, workdir, full_env).start(wait)


def copy_log(src_workdir: str) -> str:
    """A new work dir holding a copy of the segment files of ``src_workdir``'s log."""
    dst = tempfile.mkdtemp(prefix="cairn-copy-")
    src_log = os.path.join(src_workdir, "data", "log")
    dst_log = os.path.join(dst, "data", "log")
    os.makedirs(dst_log)
    for name in sorted(os.listdir(src_log)):
        if name.endswith(".log"):
            shutil.copyfile(os.path.join(src_log, name), os.path.join(dst_log, name))
    return dst


def replay_dump(src_workdir: str, extra: Sequence[str] = ()) -> dict[tuple[int, bytes], Any]:
    """Start a second Cairn (no hooks) on a copy of the log and dump what it replayed."""
    copy = copy_log(src_workdir)
    server = start_server(copy, extra)
    try:
        return dump(server.port)
    finally:
        server.sigkill()
        shutil.rmtree(copy, ignore_errors=True)


# -- a client -------------------------------------------------------------------
class Conn:
    """Blocking RESP2 client: ``send`` a pipeline, then ``read`` replies one by one."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()

    def send(self, commands: Iterable[Sequence[Any]]) -> None:
        self.sock.sendall(b"".join(encode_command(c) for c in commands))

    def read(self) -> Any:
        while True:
            reply = self.reader.gets()
            if reply is not False:
                return reply
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("connection closed by the server")
            self.reader.feed(chunk)

    def call(self, *args: Any) -> Any:
        self.send([args])
        return self.read()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def dump(port: int, dbs: Sequence[int] = DBS) -> dict[tuple[int, bytes], Any]:
    """{(db, key): (type, value, pexpiretime)} of every key."""
    conn = Conn(port)
    out: dict[tuple[int, bytes], Any] = {}
    try:
        for db in dbs:
            assert conn.call("SELECT", db) == b"OK"
            keys = conn.call("KEYS", "*")
            conn.send([("TYPE", k) for k in keys])
            types = [conn.read().decode() for _ in keys]
            commands: list[tuple[Any, ...]] = []
            for key, kind in zip(keys, types):
                commands.append(READERS[kind](key))
                commands.append(("PEXPIRETIME", key))
            conn.send(commands)
            for key, kind in zip(keys, types):
                value = conn.read()
                expires = conn.read()
                out[(db, key)] = (kind, _freeze(value), expires)
    finally:
        conn.close()
    return out


def _freeze(value: Any) -> Any:
    return tuple(_freeze(v) for v in value) if isinstance(value, list) else value


# How dump() reads each type. Lists/sorted sets come later: add e.g.
#   "list": lambda k: ("LRANGE", k, 0, -1),
READERS: dict[str, Callable[[bytes], tuple[Any, ...]]] = {
    "string": lambda k: ("GET", k),
}


# -- the workload model ---------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    kind: str
    value: Any
    ttl: bool  # has an expiry


State = dict[bytes, Entry]
Change = dict[bytes, Entry | None]


@dataclass
class Op:
    """Commands sent together, the replies they must get, and their effect."""

    name: str
    commands: list[tuple[Any, ...]]
    expected: list[Any] | None  # None: not predicted (the shared counter)
    changes: Change
    writes: int = 1
    shared_incrs: int = 0


def apply(state: State, changes: Change) -> State:
    new = dict(state)
    for key, entry in changes.items():
        if entry is None:
            new.pop(key, None)
        else:
            new[key] = entry
    return new


TTL = (100_000, 200_000)  # seconds: nothing expires during a test


class Maker:
    """Builds the next operation of a worker from its (predicted) state."""

    def __init__(self, wid: int, rng: random.Random, owns_db: bool = False) -> None:
        self.wid = wid
        self.rng = rng
        self.owns_db = owns_db
        self.table = self.SIMPLE + ([("flushdb", 1)] if owns_db else [])
        self.seq = 0
        self.strings = [b"w%d:s%d" % (wid, i) for i in range(6)]
        self.counters = [b"w%d:c%d" % (wid, i) for i in range(3)]
        self.floats = [b"w%d:f0" % wid]

    def unique(self) -> bytes:
        self.seq += 1
        return b"w%d-%d-%s" % (self.wid, self.seq, b"x" * self.rng.randrange(0, 40))

    # Each returns (commands, expected replies, changes), given the state.
    def set(self, s: State) -> tuple[list[tuple[Any, ...]], list[Any], Change]:
        key, value = self.rng.choice(self.strings), self.unique()
        return [("SET", key, value)], [b"OK"], {key: Entry("string", value, False)}

    def set_ex(self, s: State) -> tuple[list[tuple[Any, ...]], list[Any], Change]:
        key, value = self.rng.choice(self.strings), self.unique()
        return (
            [("SET", key, value, "EX", self.rng.randrange(*TTL))],
            [b"OK"],
            {key: Entry("string", value, True)},
        )

    def append(self, s: State) -> tuple[list[tuple[Any, ...]], list[Any], Change]:
        key, more = self.rng.choice(self.strings), self.unique()
        old = s.get(key)
        value = (old.value if old else b"") + more
        ttl = old.ttl if old else False
        return [("APPEND", key, more)], [len(value)], {key: Entry("string", value, ttl)}

    def incr(self, s: State) -> tuple[list[tuple[Any, ...]], list[Any], Change]:
        key = self.rng.choice(self.counters)
        by = self.rng.choice((1, 1, 1, 7, -3))
        old = s.get(key)
        value = (int(old.value) if old else 0) + by
        command = ("INCR", key) if by == 1 else ("INCRBY", key, by)
        entry = Entry("string", b"%d" % value, old.ttl if old else False)
        return [command], [value], {key: entry}

    def incrbyfloat(self, s: State) -> tuple[list[tuple[Any, ...]], list[Any], Change]:
        key = self.floats[0]
        by = self.rng.randrange(-8, 9) / 4  # exact in binary: no rounding questions
        old = s.get(key)
        value = (float(old.value) if old else 0.0) + by
        text = b"%d" % value if value == int(value) else repr(value).encode()
        entry = Entry("string", text, old.ttl if old else False)
        return [("INCRBYFLOAT", key, repr(by))], [text], {key: entry}

    def delete(self, s: State) -> tuple[list[tuple[Any, ...]], list[Any], Change]:
        keys = self.rng.sample(self.strings + self.counters, self.rng.choice((1, 2)))
        return [("DEL", *keys)], [sum(k in s for k in keys)], dict.fromkeys(keys)

    def expire(self, s: State) -> tuple[list[tuple[Any, ...]], list[Any], Change]:
        key = self.rng.choice(self.strings + self.counters)
        old = s.get(key)
        if old is None:
            return [("EXPIRE", key, TTL[0])], [0], {}
        return [("EXPIRE", key, self.rng.randrange(*TTL))], [1], {key: Entry(old.kind, old.value, True)}

    def persist(self, s: State) -> tuple[list[tuple[Any, ...]], list[Any], Change]:
        key = self.rng.choice(self.strings + self.counters)
        old = s.get(key)
        if old is None or not old.ttl:
            return [("PERSIST", key)], [0], {}
        return [("PERSIST", key)], [1], {key: Entry(old.kind, old.value, False)}

    def _existing(self, s: State) -> tuple[list[bytes], bytes | None]:
        group = self.rng.choice((self.strings, self.counters))
        present = [k for k in group if k in s]
        return group, self.rng.choice(present) if present else None

    def rename(self, s: State) -> tuple[list[tuple[Any, ...]], list[Any], Change]:
        group, src = self._existing(s)
        if src is None:
            return self.set(s)
        dst = self.rng.choice(group)
        if dst == src:
            return [("RENAME", src, dst)], [b"OK"], {}
        return [("RENAME", src, dst)], [b"OK"], {src: None, dst: s[src]}

    def copy(self, s: State) -> tuple[list[tuple[Any, ...]], list[Any], Change]:
        group, src = self._existing(s)
        dst = self.rng.choice(group)
        if src is None or dst == src:
            return self.incr(s)
        return [("COPY", src, dst, "REPLACE")], [1], {dst: s[src]}

    def mset(self, s: State) -> tuple[list[tuple[Any, ...]], list[Any], Change]:
        keys = self.rng.sample(self.strings, 3)
        values = [self.unique() for _ in keys]
        changes: Change = {k: Entry("string", v, False) for k, v in zip(keys, values)}
        return [("MSET", *[x for kv in zip(keys, values) for x in kv])], [b"OK"], changes

    def set_get(self, s: State) -> tuple[list[tuple[Any, ...]], list[Any], Change]:
        key, value = self.rng.choice(self.strings), self.unique()
        old = s.get(key)
        return (
            [("SET", key, value, "GET")],
            [old.value if old else None],
            {key: Entry("string", value, False)},
        )

    def getdel(self, s: State) -> tuple[list[tuple[Any, ...]], list[Any], Change]:
        key = self.rng.choice(self.strings)
        old = s.get(key)
        return [("GETDEL", key)], [old.value if old else None], {key: None}

    # The operations a worker picks from, with weights. A new data type's write
    # (LPUSH, ZADD...) is one more method above and one more line here (plus a
    # READERS line); MULTI blocks pick from this table too.
    SIMPLE: list[tuple[str, int]] = [
        ("set", 6),
        ("set_ex", 3),
        ("append", 2),
        ("incr", 6),
        ("incrbyfloat", 1),
        ("delete", 2),
        ("expire", 1),
        ("persist", 1),
        ("rename", 1),
        ("copy", 1),
        ("mset", 1),
        ("set_get", 1),
        ("getdel", 1),
    ]

    def flushdb(self, s: State) -> tuple[list[tuple[Any, ...]], list[Any], Change]:
        """Only for the worker that has a database to itself."""
        return [("FLUSHDB",)], [b"OK"], dict.fromkeys(s)

    def simple(self, s: State) -> Op:
        names, weights = zip(*self.table)
        name = self.rng.choices(names, weights)[0]
        commands, expected, changes = getattr(self, name)(s)
        return Op(name, commands, expected, changes)

    def multi(self, s: State) -> Op:
        """MULTI + 2..4 simple writes + EXEC: all-or-nothing."""
        inner_cmds: list[tuple[Any, ...]] = []
        results: list[Any] = []
        changes: Change = {}
        state = s
        n = self.rng.randrange(2, 5)
        for _ in range(n):
            op = self.simple(state)
            assert op.expected is not None
            inner_cmds += op.commands
            results += op.expected
            changes.update(op.changes)
            state = apply(state, op.changes)
        return Op(
            "multi",
            [("MULTI",), *inner_cmds, ("EXEC",)],
            [b"OK", *[b"QUEUED"] * len(inner_cmds), results],
            changes,
            writes=n,
        )

    def next(self, s: State) -> Op:
        roll = self.rng.random()
        if roll < 0.15:
            return self.multi(s)
        if roll < 0.25 and not self.owns_db:
            return Op("shared", [("INCR", SHARED_COUNTER)], None, {}, shared_incrs=1)
        return self.simple(s)


class Worker:
    """One client: pipelines 1..max_depth operations at a time and checks every reply."""

    def __init__(self, wid: int, seed: int, max_depth: int = 3, own_db: int | None = None) -> None:
        self.wid = wid
        self.db = wid % 2 if own_db is None else own_db
        self.maker = Maker(wid, random.Random(seed), owns_db=own_db is not None)
        self.max_depth = max_depth
        self.state: State = {}  # after every acknowledged operation
        self.inflight: list[Op] = []  # sent, not acknowledged, server died
        self.acked_ops = 0
        self.acked_writes = 0
        self.shared_acked = 0
        self.shared_replies: list[int] = []
        self.shared_inflight = 0
        self.errors: list[str] = []
        self.thread: threading.Thread | None = None

    def start(self, port: int, stop: threading.Event) -> None:
        self.thread = threading.Thread(target=self._run, args=(port, stop), daemon=True)
        self.thread.start()

    def join(self, timeout: float = 60) -> None:
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"worker {self.wid} is stuck"

    def _run(self, port: int, stop: threading.Event) -> None:
        try:
            conn = Conn(port)
            try:
                if self.db:
                    assert conn.call("SELECT", self.db) == b"OK"
                self._loop(conn, stop)
            finally:
                conn.close()
        except (OSError, ConnectionError):
            pass  # the server died before this worker got going
        except Exception as exc:  # an assertion about a reply
            self.errors.append(f"worker {self.wid}: {exc!r}")

    def _loop(self, conn: Conn, stop: threading.Event) -> None:
        rng = self.maker.rng
        while not stop.is_set():
            ops: list[Op] = []
            predicted = self.state
            for _ in range(rng.randrange(1, self.max_depth + 1)):
                op = self.maker.next(predicted)
                ops.append(op)
                predicted = apply(predicted, op.changes)
            self.inflight = ops
            try:
                conn.send([c for op in ops for c in op.commands])
                while self.inflight:
                    op = self.inflight[0]
                    replies = [conn.read() for _ in op.commands]
                    self._acknowledged(op, replies)
            except (OSError, ConnectionError):
                self.shared_inflight += sum(op.shared_incrs for op in self.inflight)
                return  # the server was killed: self.inflight stays for verify()

    def _acknowledged(self, op: Op, replies: list[Any]) -> None:
        if op.expected is None:  # INCR of the shared counter
            (value,) = replies
            assert isinstance(value, int), f"INCR shared: {value!r}"
            self.shared_replies.append(value)
            self.shared_acked += op.shared_incrs
        else:
            assert replies == op.expected, f"{op.commands!r}: {replies!r} != {op.expected!r}"
        self.inflight.pop(0)
        self.state = apply(self.state, op.changes)
        self.acked_ops += 1
        self.acked_writes += op.writes

    def candidates(self) -> list[State]:
        """The states allowed after a crash: acked + each prefix of the in-flight ops."""
        out = [self.state]
        for op in self.inflight:
            out.append(apply(out[-1], op.changes))
        return out


@dataclass
class Workload:
    workers: list[Worker]
    shared_base: dict[int, int] = field(default_factory=dict)  # per db, at the last verify
    inflight_seen: int = 0  # operations in flight at a kill
    inflight_durable: int = 0  # ... of which the restarted server had

    @classmethod
    def create(cls, n: int, seed: int, max_depth: int = 3) -> Workload:
        """n workers; the last one alone in database 2 (so it may FLUSHDB)."""
        workers = [Worker(i, seed * 1000 + i, max_depth) for i in range(n - 1)]
        workers.append(Worker(n - 1, seed * 1000 + n - 1, max_depth, own_db=2))
        return cls(workers)

    def run(self, port: int) -> threading.Event:
        """Start every worker; set the returned event to stop them after their batch."""
        stop = threading.Event()
        for worker in self.workers:
            worker.start(port, stop)
        return stop

    def join(self) -> None:
        for worker in self.workers:
            worker.join()
        errors = [e for w in self.workers for e in w.errors]
        assert not errors, "\n".join(errors)

    @property
    def acked_writes(self) -> int:
        return sum(w.acked_writes for w in self.workers)

    def verify(self, data: dict[tuple[int, bytes], Any]) -> list[str]:
        """Problems found in a dump (empty: all good); then adopt it as the state."""
        problems: list[str] = []
        by_worker: dict[int, State] = {w.wid: {} for w in self.workers}
        shared: dict[int, Any] = {}
        for (db, key), (kind, value, expires) in data.items():
            if key == SHARED_COUNTER:
                shared[db] = value
                continue
            wid = _owner(key)
            if wid not in by_worker or self.workers[wid].db != db:
                problems.append(f"unexpected key {key!r} in db {db}")
                continue
            if expires != -1 and expires < time.time() * 1000 + (TTL[0] - 3600) * 1000:
                problems.append(f"{key!r}: expiry {expires} is not the one written")
            by_worker[wid][key] = Entry(kind, value, expires != -1)
        for worker in self.workers:
            actual = by_worker[worker.wid]
            options = worker.candidates()
            if actual in options:
                worker.state = actual
                self.inflight_seen += len(options) - 1
                self.inflight_durable += options.index(actual)
            else:
                problems.append(_explain(worker, actual, options))
            worker.inflight = []
        # The shared counter of each database: every acknowledged INCR is in,
        # in-flight ones may be; no acknowledged reply exceeds the value.
        for db in DBS:
            workers = [w for w in self.workers if w.db == db]
            acked = sum(w.shared_acked for w in workers)
            inflight = sum(w.shared_inflight for w in workers)
            replies = sorted(r for w in workers for r in w.shared_replies)
            value = int(shared[db]) if db in shared else 0
            base = self.shared_base.get(db, 0)
            low = base + acked
            if not low <= value <= low + inflight:
                problems.append(
                    f"db {db} shared counter is {value}: expected {low}..{low + inflight} "
                    f"(base {base}, {acked} acknowledged INCRs, {inflight} in flight)"
                )
            if replies and (replies[-1] > value or len(set(replies)) != len(replies)):
                problems.append(
                    f"db {db} shared counter {value} vs acknowledged INCR replies {replies[-5:]}"
                )
            self.shared_base[db] = value
        for worker in self.workers:
            worker.shared_acked = worker.shared_inflight = 0
            worker.shared_replies = []
        return problems


def _owner(key: bytes) -> int:
    head = key.split(b":", 1)[0]
    return int(head[1:]) if head[:1] == b"w" and head[1:].isdigit() else -1


def _explain(worker: Worker, actual: State, options: list[State]) -> str:
    acked = options[0]
    lines = [f"worker {worker.wid}: state matches neither the acknowledged state nor any in-flight prefix"]
    for key in sorted(set(actual) | set(acked)):
        if actual.get(key) != acked.get(key):
            later = [i for i, o in enumerate(options) if o.get(key) == actual.get(key)]
            lines.append(
                f"  {key!r}: on disk {actual.get(key)!r}, acknowledged {acked.get(key)!r}"
                + (f" (matches in-flight prefix {later})" if later else " (neither the acknowledged value nor an in-flight one)")
            )
    lines.append(f"  in flight: {[op.commands for op in worker.inflight]!r}")
    return "\n".join(lines)
