"""XADD and PUBLISH (to 10 subscribers): Cairn vs redis-server, side by side.

    python bench/streams_pubsub.py                      # -P 1, 100k requests, 50 clients, best of 3
    python bench/streams_pubsub.py --pipelines 1,16 --rounds 5
    python bench/streams_pubsub.py --modes none         # skip the durable (local log) pair
    python bench/streams_pubsub.py --output bench/results-streams-pubsub.md

Tests, each run with `redis-benchmark -c <clients> -n <requests> -P <pipeline> <command>`:

- `xadd`: `xadd mystream * f v` (the stream is deleted before every run);
- `publish`: `publish ch hello` while 10 subscriber connections, SUBSCRIBEd to
  `ch`, read continuously (one thread of this process, raw sockets). Every
  message a subscriber receives is the same RESP frame, so the bytes read give
  the exact count; the table shows delivered / expected (requests x 10) and the
  run fails loudly if a subscriber was dropped or a message went missing.

Durability pairs (as bench/run.py): `none` = Cairn `--durability none` vs redis
`--save '' --appendonly no`; `local` = Cairn's default durable local log (in a
temp dir) vs redis `--appendonly yes --appendfsync always`. PUBLISH writes
nothing to either log (pub/sub is not durable), so its `local` row measures the
same work as its `none` row.

Every run alternates which server goes first; the table shows the best ops/s of
the rounds per server (the machine is shared: the best run is the least
disturbed one), with the server's CPU µs per request of that run, which depends
much less on the rest of the machine. The load average is recorded before and
after. Uses the helpers of bench/run.py; needs redis-server and redis-benchmark.
"""

from __future__ import annotations

import argparse
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from run import (  # bench/ is not a package: run.py is found through sys.path
    Result,
    Server,
    cpu_seconds,
    machine,
    start_cairn,
    start_redis,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results-streams-pubsub.md")
TARGET_P1 = 0.7  # issue 5: >= 0.7x redis-server at -P 1 (durability none)
SUBSCRIBERS = 10
CHANNEL = b"ch"
MESSAGE = b"hello"
FRAME = b"*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(CHANNEL), CHANNEL, len(MESSAGE), MESSAGE)
TESTS = {
    "xadd": ["xadd", "mystream", "*", "f", "v"],
    "publish": ["publish", CHANNEL.decode(), MESSAGE.decode()],
}


def call(port: int, *args: bytes) -> bytes:
    """One command, raw reply bytes (enough for DEL / FLUSHALL)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
        return sock.recv(4096)


class Subscribers:
    """N connections subscribed to CHANNEL, drained by one thread; counts messages."""

    def __init__(self, port: int, n: int) -> None:
        self.socks: list[socket.socket] = []
        self.received = [0] * n  # bytes of messages per subscriber
        self.closed: list[int] = []
        confirm = b"*3\r\n$9\r\nsubscribe\r\n$%d\r\n%s\r\n:1\r\n" % (len(CHANNEL), CHANNEL)
        for _ in range(n):
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(CHANNEL), CHANNEL))
            got = b""
            while len(got) < len(confirm):
                chunk = sock.recv(len(confirm) - len(got))
                if not chunk:
                    raise RuntimeError("subscriber connection closed during SUBSCRIBE")
                got += chunk
            if got != confirm:
                raise RuntimeError(f"SUBSCRIBE answered {got!r}")
            sock.setblocking(False)
            self.socks.append(sock)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        sel = selectors.DefaultSelector()
        for i, sock in enumerate(self.socks):
            sel.register(sock, selectors.EVENT_READ, i)
        buf = bytearray(1 << 20)
        while not self.stop.is_set():
            for key, _ in sel.select(0.1):
                i = key.data
                try:
                    n = key.fileobj.recv_into(buf)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                except OSError:
                    n = 0
                if n == 0:
                    sel.unregister(key.fileobj)
                    self.closed.append(i)
                    continue
                self.received[i] += n
        sel.close()

    def messages(self) -> int:
        return sum(r // len(FRAME) for r in self.received)

    def wait_for(self, expected: int, timeout: float = 30.0) -> int:
        """Messages received once they stop arriving (or all are in)."""
        deadline = time.monotonic() + timeout
        last, still = -1, 0
        while time.monotonic() < deadline:
            now = self.messages()
            if now >= expected:
                return now
            still = still + 1 if now == last else 0
            if still >= 10:  # nothing new for a second
                return now
            last = now
            time.sleep(0.1)
        return self.messages()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for sock in self.socks:
            sock.close()


def benchmark(server: Server, args: list[str], pipeline: int, requests: int, clients: int) -> Result:
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(server.port), "--csv",
            "-c", str(clients), "-n", str(requests), "-P", str(pipeline), *args]
    before = cpu_seconds(server.proc.pid)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    after = cpu_seconds(server.proc.pid)
    if proc.returncode != 0:
        raise RuntimeError(f"redis-benchmark failed: {proc.stderr.strip() or proc.stdout.strip()}")
    cpu_us = None if before is None or after is None else (after - before) * 1e6 / requests
    for line in proc.stdout.splitlines():
        row = [field.strip('"') for field in line.split('","')]
        if len(row) >= 7 and row[0] != "test":
            return Result(float(row[1]), float(row[4]), float(row[6]), cpu_us)
    raise RuntimeError(f"no result in redis-benchmark output:\n{proc.stdout}\n{proc.stderr}")


def run_one(server: Server, test: str, pipeline: int, requests: int, clients: int) -> tuple[Result, str]:
    """One benchmark run; returns the result and a delivery note (PUBLISH)."""
    if test == "xadd":
        call(server.port, b"DEL", b"mystream")
        r = benchmark(server, TESTS[test], pipeline, requests, clients)
        length = call(server.port, b"XLEN", b"mystream")
        if length != b":%d\r\n" % requests:
            raise RuntimeError(f"{server.name}: XLEN after {requests} XADDs is {length!r}")
        return r, "-"
    subs = Subscribers(server.port, SUBSCRIBERS)
    try:
        # A CPU reading that includes the subscribers' reads: the server's work
        # for one PUBLISH is its 10 deliveries, and they may trail the replies.
        before = cpu_seconds(server.proc.pid)
        r = benchmark(server, TESTS[test], pipeline, requests, clients)
        expected = requests * SUBSCRIBERS
        got = subs.wait_for(expected)
        after = cpu_seconds(server.proc.pid)
        if before is not None and after is not None:
            r.cpu_us = (after - before) * 1e6 / requests
    finally:
        subs.close()
    if got != expected or subs.closed:
        raise RuntimeError(f"{server.name}: subscribers received {got} of {expected} messages"
                           f" ({len(subs.closed)} connections closed by the server)")
    return r, f"{got:,}/{expected:,}"


def loadavg() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "?"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return f"load average: {loadavg()}"


Row = tuple[str, str, int, Result, Result, str, str]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", "-n", type=int, default=100_000)
    parser.add_argument("--clients", "-c", type=int, default=50)
    parser.add_argument("--pipelines", "-P", default="1")
    parser.add_argument("--tests", "-t", default="xadd,publish")
    parser.add_argument("--modes", default="none,local", help="Cairn durability modes: none,local")
    parser.add_argument("--rounds", type=int, default=3, help="runs per server and test; the best is shown")
    parser.add_argument("--output", default="-", help=f"write the markdown here too (e.g. {RESULTS})")
    args = parser.parse_args(argv)

    for tool in ("redis-server", "redis-benchmark"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (apt-get install redis-server redis-tools)", file=sys.stderr)
            return 2
    pipelines = [int(p) for p in args.pipelines.split(",")]
    tests = [t.strip() for t in args.tests.split(",") if t.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for test in tests:
        if test not in TESTS:
            parser.error(f"unknown test {test!r} (known: {', '.join(TESTS)})")
    uptime_before = uptime()

    rows: list[Row] = []
    flip = False
    for mode in modes:
        workdir = tempfile.mkdtemp(prefix=f"cairn-bench-streams-{mode}-")
        redis = cairn = None
        try:
            redis = start_redis(mode, workdir)
            cairn = start_cairn(mode, workdir)
            for test in tests:
                for pipeline in pipelines:
                    best: dict[str, tuple[Result, str]] = {}
                    for _ in range(args.rounds):
                        order = [cairn, redis] if flip else [redis, cairn]
                        flip = not flip
                        for server in order:
                            r, note = run_one(server, test, pipeline, args.requests, args.clients)
                            if server.name not in best or r.rps > best[server.name][0].rps:
                                best[server.name] = (r, note)
                    (r, rnote), (c, cnote) = best["redis"], best["cairn"]
                    rows.append((mode, test, pipeline, r, c, rnote, cnote))
                    print(f"{mode:5} {test:8} -P {pipeline:<3} redis {r.rps:>10,.0f}/s  "
                          f"cairn {c.rps:>10,.0f}/s  ratio {c.rps / r.rps:.2f}", flush=True)
        finally:
            for started in (cairn, redis):
                if started is not None:
                    started.stop()
            shutil.rmtree(workdir, ignore_errors=True)

    text = render(rows, machine(), args, uptime_before, uptime())
    print()
    print(text)
    if args.output != "-":
        with open(args.output, "w") as f:
            f.write(text)
        print(f"wrote {args.output}")
    return 0


def _cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(rows: list[Row], info: dict[str, str], args: argparse.Namespace,
           uptime_before: str, uptime_after: str) -> str:
    out = ["# Streams and pub/sub: Cairn vs redis-server (redis-benchmark side by side)", ""]
    out.append("Written by `python bench/streams_pubsub.py` (see its docstring); do not edit by hand.")
    out.append("")
    out.append(f"- date: {info['date']}")
    out.append(f"- machine: {info['nproc']} CPUs ({info['cpu']}), {info['os']}; the benchmark client, "
               "the subscriber thread and other jobs share the machine with the servers")
    out.append(f"- `uptime` before: `{uptime_before}`")
    out.append(f"- `uptime` after: `{uptime_after}`")
    out.append(f"- versions: redis-server {info['redis-server']}, redis-benchmark {info['redis-benchmark']}, "
               f"cairn {info['cairn']}, Python {info['python']}, hiredis {info['hiredis']}, "
               f"uvloop {info['uvloop']}")
    out.append(f"- load: `redis-benchmark -c {args.clients} -n {args.requests} -P <pipeline> <command>`, "
               f"best ops/s of {args.rounds} rounds per server, alternating which server goes first")
    out.append("- `xadd`: `xadd mystream * f v` on an emptied stream (XLEN checked afterwards)")
    out.append(f"- `publish`: `publish {CHANNEL.decode()} {MESSAGE.decode()}` with {SUBSCRIBERS} "
               "subscribed connections reading continuously; *delivered* counts the messages they "
               "received (expected: requests x 10); CPU µs/op includes the deliveries")
    out.append("- p50 in milliseconds; CPU µs/op is the server process' user + system CPU time per request")
    out.append("")
    for mode in dict.fromkeys(r[0] for r in rows):
        if mode == "none":
            out.append("## durability none (redis: `--save '' --appendonly no`)")
        else:
            out.append(f"## durability {mode} (redis: `--appendonly yes --appendfsync always`)")
        out.append("")
        out.append("| test | pipeline | redis ops/s | cairn ops/s | ratio | target | redis p50 | cairn p50 "
                   "| redis CPU µs/op | cairn CPU µs/op | delivered (redis) | delivered (cairn) |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for m, test, pipeline, r, c, rnote, cnote in rows:
            if m != mode:
                continue
            ratio = c.rps / r.rps if r.rps else 0.0
            target = TARGET_P1 if mode == "none" and pipeline == 1 else None
            met = "" if target is None else (" ✓" if ratio >= target else " ✗")
            target_text = f"≥{target:.1f}" if target else "-"
            out.append(f"| {test} | {pipeline} | {r.rps:,.0f} | {c.rps:,.0f} | {ratio:.2f}{met} "
                       f"| {target_text} | {r.p50:.3f} | {c.p50:.3f} | {_cpu(r.cpu_us)} | {_cpu(c.cpu_us)} "
                       f"| {rnote} | {cnote} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
