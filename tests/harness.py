"""Differential testing: the same commands against redis-server and Cairn.

``RawClient`` sends argv and returns the exact reply bytes, so comparisons
cover types (RESP2/RESP3), errors and formatting byte for byte.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from typing import Any

import hiredis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def frame_end(data: bytes, pos: int) -> int | None:
    """End offset of the RESP2/RESP3 frame starting at pos, or None if incomplete."""
    nl = data.find(b"\r\n", pos)
    if nl < 0:
        return None
    kind = data[pos : pos + 1]
    head = data[pos + 1 : nl]
    after = nl + 2
    if kind in (b"$", b"=", b"!"):
        length = int(head)
        if length < 0:
            return after
        end = after + length + 2
        return end if end <= len(data) else None
    if kind in (b"*", b"~", b">", b"%", b"|"):
        count = int(head)
        if count < 0:
            return after
        if kind in (b"%", b"|"):
            count *= 2
        for _ in range(count):
            end = frame_end(data, after)
            if end is None:
                return None
            after = end
        return after
    return after


def encode_command(args: Iterable[Any]) -> bytes:
    parts = []
    items = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    parts.append(b"*%d\r\n" % len(items))
    for item in items:
        parts.append(b"$%d\r\n%s\r\n" % (len(item), item))
    return b"".join(parts)


class RawClient:
    """A blocking client that keeps the raw bytes of each reply."""

    def __init__(self, port: int, resp: int = 2, timeout: float = 10.0) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        if resp == 3:
            self.raw("HELLO", "3")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_reply(self) -> bytes:
        """The bytes of exactly one reply (a push message counts as one)."""
        while True:
            end = frame_end(self.buffer, 0)
            if end is not None:
                out, self.buffer = self.buffer[:end], self.buffer[end:]
                return out
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError(f"connection closed; partial reply {self.buffer!r}")
            self.buffer += chunk

    def raw(self, *args: Any) -> bytes:
        self.send(encode_command(args))
        return self.read_reply()

    def call(self, *args: Any) -> Any:
        """Parsed reply (errors returned as hiredis.ReplyError values)."""
        data = self.raw(*args)
        reader = hiredis.Reader()
        reader.feed(data)
        return reader.gets()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port}")


class ServerProcess:
    def __init__(self, argv: list[str], port: int, workdir: str) -> None:
        self.argv = argv
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        log = open(os.path.join(self.workdir, "server.log"), "ab")
        self.proc = subprocess.Popen(self.argv, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_text(self) -> str:
        try:
            with open(os.path.join(self.workdir, "server.log"), errors="replace") as f:
                return f.read()[-5000:]
        except OSError:
            return ""


def start_redis(extra: list[str] | None = None) -> ServerProcess:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="redis-oracle-")
    argv = [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", workdir,
        "--enable-debug-command", "yes",
        *(extra or []),
    ]
    return ServerProcess(argv, port, workdir).start()


def start_cairn(extra: list[str] | None = None, workdir: str | None = None, port: int | None = None) -> ServerProcess:
    port = port or free_port()
    workdir = workdir or tempfile.mkdtemp(prefix="cairn-")
    argv = [
        sys.executable,
        "-m",
        "cairn",
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", os.path.join(workdir, "data"),
        *(extra or []),
    ]
    env_argv = argv
    proc = ServerProcess(env_argv, port, workdir)
    return proc.start()


class Pair:
    """One connection to each server, same RESP version."""

    def __init__(self, real_port: int, cairn_port: int, resp: int = 2) -> None:
        self.resp = resp
        self.real = RawClient(real_port, resp)
        self.cairn = RawClient(cairn_port, resp)

    def both(self, *args: Any) -> tuple[bytes, bytes]:
        return self.real.raw(*args), self.cairn.raw(*args)

    def check(self, *args: Any) -> bytes:
        """Run on both; assert identical reply bytes; return them."""
        expected, actual = self.both(*args)
        assert actual == expected, (
            f"RESP{self.resp} {args!r}\n  redis: {expected!r}\n  cairn: {actual!r}"
        )
        return actual

    def check_unordered(self, *args: Any) -> Any:
        """For replies whose element order is unspecified (KEYS, SMEMBERS...)."""
        expected, actual = self.both(*args)
        e, a = _parse(expected), _parse(actual)
        assert _canon(a) == _canon(e), f"RESP{self.resp} {args!r}\n  redis: {e!r}\n  cairn: {a!r}"
        return a

    def close(self) -> None:
        self.real.close()
        self.cairn.close()


def _parse(data: bytes) -> Any:
    reader = hiredis.Reader()
    reader.feed(data)
    return reader.gets()


def _canon(value: Any) -> Any:
    if isinstance(value, list):
        return sorted((_canon(v) for v in value), key=repr)
    return value
