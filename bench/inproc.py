"""In-process hot-path measurement: µs of server CPU per command, no sockets.

    python bench/inproc.py [--mode none|local] [--pipeline 16] [--profile]

Feeds pipelined requests straight into a Connection (a fake transport collects
the replies) on a real event loop, so it measures parse + dispatch + handler +
encode (+ the log's loop-side work in local mode) without the kernel or the
benchmark client. Use it to compare hot-path changes; bench/run.py measures the
real thing side by side with redis-server.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import shutil
import tempfile
import time
from typing import Any

import cairn.commands  # noqa: F401
from cairn.cli.server import build_server
from cairn.config import Config
from cairn.net.connection import Connection
from cairn.net.listener import Node


class FakeTransport:
    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 5555) if name in ("peername", "sockname") else None

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def request(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


TESTS = {
    "set": lambda i: request(b"SET", b"key:%012d" % (i % 1000), b"xxx"),
    "get": lambda i: request(b"GET", b"key:%012d" % (i % 1000)),
    "incr": lambda i: request(b"INCR", b"counter:%012d" % (i % 1000)),
    "mset": lambda i: request(b"MSET", *[x for j in range(10) for x in (b"key:%012d" % ((i + j) % 1000), b"xxx")]),
}


async def run(mode: str, test: str, pipeline: int, rounds: int, profile: bool) -> tuple[float, float]:
    tmp = tempfile.mkdtemp(prefix="cairn-inproc-")
    config = Config()
    config.set_text("durability", mode)
    config.set_text("dir", tmp)
    server = build_server(config)
    node = Node(server)
    node.loop = asyncio.get_running_loop()
    server.call_later = node.loop.call_later
    conn = Connection(node)
    conn.connection_made(FakeTransport())  # type: ignore[arg-type]
    batches = [b"".join(TESTS[test](r * pipeline + k) for k in range(pipeline)) for r in range(64)]
    prof = cProfile.Profile() if profile else None
    cpu0 = time.process_time()
    thread0 = time.thread_time()
    if prof:
        prof.enable()
    for r in range(rounds):
        conn.data_received(batches[r & 63])
        if r % 8 == 7:
            await asyncio.sleep(0)  # let commits release held replies
    if prof:
        prof.disable()
    loop_cpu = time.thread_time() - thread0
    server.log.close()
    await asyncio.sleep(0.05)
    cpu = time.process_time() - cpu0
    shutil.rmtree(tmp, ignore_errors=True)
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    n = rounds * pipeline
    return cpu / n * 1e6, loop_cpu / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="none")
    parser.add_argument("--tests", default="set,get,incr,mset")
    parser.add_argument("--pipeline", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per test; the best is printed")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    for test in args.tests.split(","):
        runs = [
            asyncio.run(run(args.mode, test, args.pipeline, args.rounds, args.profile))
            for _ in range(args.repeat)
        ]
        us = min(r[0] for r in runs)
        loop_us = min(r[1] for r in runs)
        print(
            f"{args.mode:5} {test:5} P{args.pipeline:<3} {us:6.2f} µs/command (process CPU),"
            f" {loop_us:6.2f} on the event-loop thread"
        )


if __name__ == "__main__":
    main()
