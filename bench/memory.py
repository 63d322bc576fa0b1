"""Memory of many small hashes: Cairn's RSS against redis-server's, loaded the same way.

    python bench/memory.py                       # 200k hashes, 5 fields of 10-byte values
    python bench/memory.py --count 1000000
    python bench/memory.py --fields 10 --value-size 20 --count 100000
    python bench/memory.py --cairn-only          # skip redis-server (quicker A/B runs)
    python bench/memory.py --speed               # µs per hash command, in process (no sockets)

Starts one redis-server (``--save ''``) and one Cairn (``--durability none``) on free
loopback ports, sends both the same pipelined ``HSET key f1 v1 ... fN vN`` commands
over a raw socket, and reads each process' resident set size (VmRSS in
/proc/<pid>/status) before and after loading, plus redis' INFO used_memory. It
prints the totals, the growth (loaded minus empty) per hash, and both ratios: the
issue's target compares the totals.

``--speed`` times hash commands in process the way bench/inproc.py does (pipelined
requests fed straight into a Connection): on small (listpack) hashes of 5 fields
and on one big (hashtable) hash, so a change of representation shows its cost.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def command(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _read_line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def skip_replies(self, n: int) -> None:
        """Read ``n`` one-line replies (integers, statuses); fail on an error."""
        while self.buf.count(b"\r\n") < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        lines = self.buf.split(b"\r\n", n)
        for line in lines[:n]:
            if line[:1] == b"-":
                raise RuntimeError(line.decode())
        self.buf = lines[n]

    def call(self, *args: bytes) -> bytes:
        """A command whose reply is one bulk string or one line."""
        self.sock.sendall(command(*args))
        line = self._read_line()
        if line[:1] == b"$":
            size = int(line[1:])
            if size < 0:
                return b""
            while len(self.buf) < size + 2:
                self.buf += self.sock.recv(1 << 20)
            data, self.buf = self.buf[:size], self.buf[size + 2:]
            return data
        return line

    def close(self) -> None:
        self.sock.close()


def info_field(conn: Conn, section: str, name: str) -> str | None:
    text = conn.call(b"INFO", section.encode()).decode(errors="replace")
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def load(port: int, count: int, fields: int, value_size: int, batch: int = 2000) -> float:
    """HSET ``count`` hashes; returns the seconds it took."""
    conn = Conn(port)
    names = [b"field%d" % j for j in range(1, fields + 1)]
    started = time.perf_counter()
    for start in range(0, count, batch):
        end = min(count, start + batch)
        parts = []
        for i in range(start, end):
            args = [b"HSET", b"hash:%09d" % i]
            for j, name in enumerate(names):
                args.append(name)
                # A value of value_size bytes that differs between hashes.
                args.append((b"%d:%d:" % (i, j)).ljust(value_size, b"v")[:value_size])
            parts.append(command(*args))
        conn.sock.sendall(b"".join(parts))
        conn.skip_replies(end - start)
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def load_zset(port: int, count: int, value_size: int, batch: int = 1000) -> float:
    """ZADD ``count`` members (scores 0..count-1) to one sorted set; returns the seconds."""
    conn = Conn(port)
    started = time.perf_counter()
    commands = 0
    parts = []
    for start in range(0, count, batch):
        args = [b"ZADD", b"zset:big"]
        for i in range(start, min(count, start + batch)):
            args += [b"%d" % i, (b"member:%d:" % i).ljust(value_size, b"m")[:max(value_size, 1)]]
        parts.append(command(*args))
        commands += 1
        if len(parts) == 50:
            conn.sock.sendall(b"".join(parts))
            conn.skip_replies(len(parts))
            parts = []
    if parts:
        conn.sock.sendall(b"".join(parts))
        conn.skip_replies(len(parts))
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def start(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc)
    return proc


def measure(name: str, proc: subprocess.Popen[bytes], port: int, args: Any) -> dict[str, Any]:
    conn = Conn(port)
    conn.call(b"PING")
    time.sleep(0.5)
    before = rss_bytes(proc.pid)
    if args.zset:
        seconds = load_zset(port, args.count, args.value_size)
        expected = 1
    else:
        seconds = load(port, args.count, args.fields, args.value_size)
        expected = args.count
    time.sleep(1.0)
    after = rss_bytes(proc.pid)
    dbsize = int(conn.call(b"DBSIZE")[1:])
    used = info_field(conn, "memory", "used_memory")
    conn.close()
    if dbsize != expected:
        raise RuntimeError(f"{name}: DBSIZE {dbsize}, expected {expected}")
    return {"name": name, "before": before, "after": after, "seconds": seconds,
            "used_memory": int(used) if used and used.isdigit() else None}


# -- in-process speed of hash commands ---------------------------------------------------------

_F = [b"field%d" % j for j in range(1, 6)]


def _small(i: int) -> bytes:
    return b"h:%06d" % (i % 1000)


SPEED_TESTS: dict[str, Any] = {
    "hset5": lambda i: command(b"HSET", _small(i), *[x for f in _F for x in (f, b"v%09d" % i)]),
    "hset5_new": lambda i: command(b"HSET", b"n:%09d" % i,
                                   *[x for f in _F for x in (f, b"v%09d" % i)]),
    "hset1": lambda i: command(b"HSET", _small(i), _F[i % 5], b"v%09d" % i),
    "hget": lambda i: command(b"HGET", _small(i), _F[i % 5]),
    "hget_miss": lambda i: command(b"HGET", _small(i), b"nofield"),
    "hmget": lambda i: command(b"HMGET", _small(i), *_F[:3]),
    "hgetall": lambda i: command(b"HGETALL", _small(i)),
    "hincrby": lambda i: command(b"HINCRBY", _small(i), b"counter", b"1"),
    "hexists": lambda i: command(b"HEXISTS", _small(i), _F[i % 5]),
    "hlen": lambda i: command(b"HLEN", _small(i)),
    "hdel_hset": lambda i: command(b"HDEL", _small(i), _F[2]) if i & 1
    else command(b"HSET", _small(i), _F[2], b"back"),
    "big_hget": lambda i: command(b"HGET", b"big", b"f%d" % (i % 500)),
    "big_hset": lambda i: command(b"HSET", b"big", b"f%d" % (i % 500), b"v%d" % i),
}


def _prelude() -> list[bytes]:
    out = [command(b"HSET", _small(i), *[x for f in _F for x in (f, b"v%09d" % i)])
           for i in range(1000)]
    out.append(command(b"HSET", b"big", *[x for j in range(500) for x in (b"f%d" % j, b"x")]))
    return out


async def _time_test(test: str, pipeline: int, rounds: int) -> float:
    import asyncio

    import cairn.commands  # noqa: F401
    from cairn.cli.server import build_server
    from cairn.config import Config
    from cairn.net.connection import Connection
    from cairn.net.listener import Node

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from inproc import FakeTransport

    tmp = tempfile.mkdtemp(prefix="cairn-memspeed-")
    config = Config()
    config.set_text("durability", "none")
    config.set_text("dir", tmp)
    server = build_server(config)
    node = Node(server)
    node.loop = asyncio.get_running_loop()
    server.call_later = node.loop.call_later
    conn = Connection(node)
    conn.connection_made(FakeTransport())  # type: ignore[arg-type]
    for req in _prelude():
        conn.data_received(req)
    make = SPEED_TESTS[test]
    # A "_new" test writes a new key with every command, so it needs every batch.
    nb = rounds if test.endswith("_new") else 64
    batches = [b"".join(make(r * pipeline + k) for k in range(pipeline)) for r in range(nb)]
    cpu0 = time.process_time()
    for r in range(rounds):
        conn.data_received(batches[r % nb])
        if r % 8 == 7:
            await asyncio.sleep(0)
    cpu = time.process_time() - cpu0
    server.log.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return cpu / (rounds * pipeline) * 1e6


def speed(tests: list[str], repeat: int) -> None:
    import asyncio

    for test in tests:
        best = min(asyncio.run(_time_test(test, 16, 4000)) for _ in range(repeat))
        print(f"{test:10} {best:6.2f} µs/command (process CPU, P16)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--fields", type=int, default=5)
    parser.add_argument("--value-size", type=int, default=10)
    parser.add_argument("--cairn-only", action="store_true")
    parser.add_argument("--zset", action="store_true",
                        help="one sorted set of --count members instead of --count hashes")
    parser.add_argument("--speed", action="store_true", help="time hash commands in process")
    parser.add_argument("--tests", default=",".join(SPEED_TESTS), help="with --speed")
    parser.add_argument("--repeat", type=int, default=3, help="with --speed: best of N runs")
    args = parser.parse_args()
    if args.speed:
        speed(args.tests.split(","), args.repeat)
        return

    workdir = tempfile.mkdtemp(prefix="cairn-memory-")
    procs: list[subprocess.Popen[bytes]] = []
    results = []
    try:
        if not args.cairn_only:
            binary = shutil.which("redis-server")
            if binary is None:
                sys.exit("redis-server is not installed")
            port = free_port()
            proc = start([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", workdir], port)
            procs.append(proc)
            results.append(measure("redis", proc, port, args))
        port = free_port()
        proc = start([sys.executable, "-m", "cairn", "--port", str(port), "--bind", "127.0.0.1",
                      "--durability", "none", "--dir", os.path.join(workdir, "data")], port)
        procs.append(proc)
        results.append(measure("cairn", proc, port, args))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)

    mib = 1024 * 1024
    if args.zset:
        print(f"one sorted set of {args.count} members of {args.value_size} bytes")
    else:
        print(f"{args.count} hashes, {args.fields} fields of {args.value_size}-byte values")
    print(f"{'server':8} {'empty MiB':>10} {'loaded MiB':>11} {'growth B/hash':>14} "
          f"{'load s':>7} {'used_memory MiB':>16}")
    for r in results:
        growth = (r["after"] - r["before"]) / args.count
        used = f"{r['used_memory'] / mib:.1f}" if r["used_memory"] else "-"
        print(f"{r['name']:8} {r['before'] / mib:10.1f} {r['after'] / mib:11.1f} {growth:14.1f} "
              f"{r['seconds']:7.1f} {used:>16}")
    if len(results) == 2:
        real, ours = results
        total = ours["after"] / real["after"]
        growth = (ours["after"] - ours["before"]) / max(1, real["after"] - real["before"])
        print(f"RSS ratio cairn/redis: total {total:.2f}x, growth {growth:.2f}x")


if __name__ == "__main__":
    main()
