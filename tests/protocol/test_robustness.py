"""Protocol robustness against live servers, compared with the real redis-server.

Every case sends the same bytes to redis-server and to Cairn and compares the
reply bytes and whether the server closed the connection. Misbehaving clients
(half-sent requests, vanishing, never reading) must not take the server down or
leak connections.
"""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from harness import RawClient, ServerProcess, encode_command, frame_end, start_cairn, start_redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

INLINE_MAX = 64 * 1024
_pool = ThreadPoolExecutor(max_workers=2)


def exchange(port: int, data: bytes | list[bytes], idle: float = 0.3, pause: float = 0.0) -> tuple[bytes, bool]:
    """Send data (chunks separated by ``pause`` seconds), then read until the
    server closes the connection or stays silent for ``idle`` seconds."""
    chunks = data if isinstance(data, list) else [data]
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = bytearray()
    closed = False
    try:
        for i, chunk in enumerate(chunks):
            if i and pause:
                time.sleep(pause)
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        while not closed:
            ready, _, _ = select.select([sock], [], [], idle)
            if not ready:
                break
            try:
                got = sock.recv(1 << 20)
            except ConnectionResetError:
                got = b""
            if not got:
                closed = True
            out += got
    finally:
        sock.close()
    return bytes(out), closed


def compare(real: int, cairn: int, data: bytes | list[bytes], **kwargs: float) -> tuple[bytes, bool]:
    """Run the same exchange on both servers at once; assert identical outcomes."""
    expected_f = _pool.submit(exchange, real, data, **kwargs)
    actual_f = _pool.submit(exchange, cairn, data, **kwargs)
    expected, actual = expected_f.result(), actual_f.result()
    assert actual == expected, f"sent {_short(data)}\n  redis: {_short(expected)}\n  cairn: {_short(actual)}"
    return actual


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) < 400 else text[:200] + " ... " + text[-150:]


def mb(*args: bytes | str) -> bytes:
    return encode_command(args)


# -- malformed requests, byte for byte ---------------------------------------------

MALFORMED = [
    # multibulk headers
    b"*x\r\n",
    b"*01\r\n",
    b"*+1\r\n",
    b"*\r\n",
    b"* 1\r\n",
    b"*1 \r\n",
    b"*2147483648\r\n",
    b"*99999999999999999999999\r\n",
    b"*-2147483649\r\nPING\r\n",
    # bulk headers
    b"*1\r\n:1\r\n",
    b"*1\r\n+PING\r\n",
    b"*1\r\n*1\r\n$4\r\nPING\r\n",
    b"*2\r\n$4\r\nECHO\r\n\r\n",
    b"*1\r\n$-1\r\n",
    b"*1\r\n$-0\r\n",
    b"*1\r\n$-100\r\n",
    b"*1\r\n$04\r\nPING\r\n",
    b"*1\r\n$+4\r\nPING\r\n",
    b"*1\r\n$4x\r\nPING\r\n",
    b"*1\r\n$\r\nPING\r\n",
    b"*1\r\n$536870913\r\n",
    b"*1\r\n$9223372036854775807\r\n",
    b"*1\r\n$9223372036854775808\r\n",
    # empty and null multibulks are skipped
    b"*0\r\n*-1\r\n*-5\r\nPING\r\n",
    b"*0\r\n" * 100 + mb("ECHO", "after"),
    # a bare CR where the LF should be is not checked by Redis
    b"*1\rX$4\r\nPING\r\n",
    b"*1\r\n$4\rXPING\r\n",
    # the CRLF after a bulk is not checked either
    b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n",
    # inline
    b"PING\r\nPING\nPING\r\n",
    b"\r\n\r\n\n  \t \r\nPING\r\n",
    b'ECHO "a b" \'c d\'\r\n',
    b'ECHO "\\x41\\x4g\\n\\t\\z"\r\n',
    b"ECHO 'it\\'s'\r\n",
    b'ECHO "unbalanced\r\n',
    b"ECHO 'unbalanced\r\n",
    b'ECHO "a"b\r\n',
    b"ECHO 'a'b\r\n",
    b'ECHO a"b c"\r\n',
    b"ECHO\r\n",
    b"ECHO a b\r\n",
    b"12345 6\r\n",
    # NUL hides the line end (redis-server uses strchr)
    b"PING\0\r\n",
    b"*1\0\r\n$4\r\nPING\r\n",
    b"*1\r\n$4\0\r\nPING\r\n",
    mb("ECHO", b"\0\0\0"),
    # commands before the error run; nothing after it does
    mb("PING") + b"*1\r\n:1\r\n" + mb("PING"),
    b"PING\r\n*x\r\n" + mb("ECHO", "never"),
    b'PING\r\nECHO "oops\r\nPING\r\n',
    # nothing after QUIT is looked at, not even a protocol error
    b"QUIT\r\n*x\r\n",
    b"QUIT\r\nPING\r\n",
    mb("QUIT") + mb("PING"),
]


@pytest.mark.parametrize("data", MALFORMED, ids=[repr(d)[:60] for d in MALFORMED])
def test_malformed(redis_server: ServerProcess, cairn_server: ServerProcess, data: bytes) -> None:
    compare(redis_server.port, cairn_server.port, data)


@pytest.mark.parametrize(
    "chunks",
    [
        [b"*1\r\n$4\r\nPI", b"NG\r\n"],
        [b"*", b"2\r", b"\n$4\r\nECHO\r\n", b"$1\r\nx\r", b"\n"],
        [b"*2\r\n$4\r\nECHO\r\n", b"$5\r\nhello\r\n"],
        [b"PI", b"NG\r", b"\nECHO a", b"b\r\n"],
        [b"*1\r\n", b":1\r\n"],
        [b"*1\r\n$4\r\nPING\r\n*1", b"x\r\n"],
    ],
)
def test_requests_split_across_writes(
    redis_server: ServerProcess, cairn_server: ServerProcess, chunks: list[bytes]
) -> None:
    compare(redis_server.port, cairn_server.port, chunks, pause=0.05)


def test_too_big_inline_request(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    compare(redis_server.port, cairn_server.port, b"PING\r\n" + b"x" * (INLINE_MAX + 100))
    compare(redis_server.port, cairn_server.port, b"PING\0" + b"x" * (INLINE_MAX + 100) + b"\r\n")
    # just under the limit it waits for the newline
    compare(redis_server.port, cairn_server.port, b"ECHO " + b"x" * (INLINE_MAX - 10))


def test_long_inline_line_arriving_whole(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    # A line longer than the inline limit is accepted when its newline arrives
    # before the buffer is checked; send it in one write.
    compare(redis_server.port, cairn_server.port, b"ECHO " + b"y" * 20000 + b"\r\n")


def test_too_big_count_strings(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    compare(redis_server.port, cairn_server.port, b"*" + b"1" * (INLINE_MAX + 100))
    compare(redis_server.port, cairn_server.port, b"*1\r\n$" + b"1" * (INLINE_MAX + 100))
    compare(redis_server.port, cairn_server.port, mb("PING") + b"*1\r\n$" + b"9" * (INLINE_MAX + 1))


def test_huge_declared_lengths_wait_for_data(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    # Legal but huge: nothing is allocated up front, the servers just wait.
    compare(redis_server.port, cairn_server.port, b"*2147483647\r\n$4\r\nECHO\r\n")
    compare(redis_server.port, cairn_server.port, b"*2\r\n$4\r\nECHO\r\n$536870912\r\nabc")


def test_large_bulk_argument(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    value = os.urandom(3 * 1024 * 1024)
    expected, closed = compare(redis_server.port, cairn_server.port, mb("ECHO", value) + mb("PING"), idle=1.0)
    assert expected.endswith(b"+PONG\r\n") and not closed


# -- pipelining -------------------------------------------------------------------


def _read_all(port: int, data: bytes, size: int) -> bytes:
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        sock.sendall(data)
        out = bytearray()
        while len(out) < size:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            out += chunk
        return bytes(out)
    finally:
        sock.close()


def _pipeline_compare(real: int, cairn: int, data: bytes) -> bytes:
    expected = exchange(real, data, idle=1.0)[0]
    actual = _read_all(cairn, data, len(expected))
    assert len(actual) == len(expected)
    assert actual == expected
    return actual


def test_ten_thousand_inline_pings(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    out = _pipeline_compare(redis_server.port, cairn_server.port, b"PING\r\n" * 10000)
    assert out == b"+PONG\r\n" * 10000


def test_ten_thousand_multibulk_echoes(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    # Different sizes, so the server's reads end at every possible point of a command.
    data = b"".join(mb("ECHO", b"v%d-" % i + b"x" * (i % 97)) for i in range(10000))
    _pipeline_compare(redis_server.port, cairn_server.port, data)


def test_pipeline_mixing_inline_and_multibulk(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    parts = []
    for i in range(5000):
        parts.append(b"PING %d\r\n" % i if i % 3 == 0 else mb("ECHO", b"%d" % i))
        if i % 1000 == 999:
            parts.append(b"*0\r\n\r\n")
    _pipeline_compare(redis_server.port, cairn_server.port, b"".join(parts))


def test_pipeline_ending_in_protocol_error(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    data = mb("PING") * 5000 + b"*1\r\n$x\r\n" + mb("PING") * 10
    compare(redis_server.port, cairn_server.port, data, idle=1.0)


# -- unauthenticated limits (requirepass) ------------------------------------------


@pytest.fixture(scope="module")
def auth_pair() -> Iterator[tuple[ServerProcess, ServerProcess]]:
    real = start_redis(["--requirepass", "s3cret"])
    cairn = start_cairn(["--durability", "none", "--requirepass", "s3cret"])
    yield real, cairn
    real.stop()
    cairn.stop()


AUTH_CASES = [
    b"*11\r\n",
    b"*10\r\n" + b"$1\r\na\r\n" * 10,
    b"*2\r\n$4\r\nAUTH\r\n$16385\r\n",
    mb("AUTH", b"x" * 16384),
    b"PING\r\n",
    mb("ECHO", "x"),
    mb("AUTH", "wrong"),
    # the limits lift for requests after a successful AUTH in the same write
    mb("AUTH", "s3cret") + mb("ECHO", b"y" * 20000),
    mb("AUTH", "s3cret") + mb(*([b"ECHO"] + [b"a"] * 11)),
    b"AUTH s3cret\r\n*12\r\n" + b"$1\r\na\r\n" * 12,
    # ... and not after a failed one
    mb("AUTH", "nope") + mb("ECHO", b"y" * 20000),
]


@pytest.mark.parametrize("data", AUTH_CASES, ids=[repr(d)[:60] for d in AUTH_CASES])
def test_unauthenticated_limits(auth_pair: tuple[ServerProcess, ServerProcess], data: bytes) -> None:
    real, cairn = auth_pair
    compare(real.port, cairn.port, data)


def test_limits_lift_after_hello_auth(auth_pair: tuple[ServerProcess, ServerProcess]) -> None:
    # HELLO's reply names the server and its version; compare what follows it.
    real, cairn = auth_pair
    data = mb("HELLO", "2", "AUTH", "default", "s3cret") + mb("ECHO", b"z" * 17000) + b"*12\r\n"
    outcomes = []
    for port in (real.port, cairn.port):
        out, closed = exchange(port, data)
        end = frame_end(out, 0)
        assert end is not None and out.startswith(b"*14\r\n")
        outcomes.append((out[end:], closed))
    assert outcomes[1] == outcomes[0]
    assert outcomes[0] == (b"$17000\r\n" + b"z" * 17000 + b"\r\n", False)


# -- misbehaving clients ---------------------------------------------------------


def _socket_count(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


def _connected_clients(proc: ServerProcess) -> int:
    """INFO clients' connected_clients when INFO exists, else the server's sockets
    (which count the listener, the client asking, and nothing else when idle)."""
    client = RawClient(proc.port)
    try:
        reply = client.raw("INFO", "clients")
    finally:
        client.close()
    if reply.startswith(b"$"):
        for line in reply.split(b"\r\n"):
            if line.startswith(b"connected_clients:"):
                return int(line.split(b":")[1]) - 1  # not counting the asking client
    assert proc.proc is not None
    return _socket_count(proc.proc.pid)


def _wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _assert_serving(proc: ServerProcess) -> None:
    client = RawClient(proc.port, timeout=5)
    try:
        assert client.raw("PING") == b"+PONG\r\n"
        assert client.raw("ECHO", "still here") == b"$10\r\nstill here\r\n"
    finally:
        client.close()


HALF_SENT = [
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc",
    b"*2\r\n$4\r\nECHO\r\n$5",
    b"*2\r\n",
    b"*",
    b"PING",
    b"ECHO \"open quote",
    b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n",
]


@pytest.mark.parametrize("server", ["redis", "cairn"])
def test_half_sent_requests_then_disconnect(
    redis_server: ServerProcess, cairn_server: ServerProcess, server: str
) -> None:
    proc = cairn_server if server == "cairn" else redis_server
    baseline = _connected_clients(proc)
    for _ in range(20):
        for data in HALF_SENT:
            sock = socket.create_connection(("127.0.0.1", proc.port))
            sock.sendall(data)
            sock.close()
    # and some that reset the connection instead of closing it
    for data in HALF_SENT:
        sock = socket.create_connection(("127.0.0.1", proc.port))
        sock.sendall(data)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    assert _wait_for(lambda: _connected_clients(proc) <= baseline), "connections leaked"
    _assert_serving(proc)


def test_client_vanishing_mid_pipeline(cairn_server: ServerProcess) -> None:
    baseline = _connected_clients(cairn_server)
    payload = mb("ECHO", b"x" * 1000) * 2000
    for cut in (1, 17, len(payload) // 3, len(payload) - 5):
        sock = socket.create_connection(("127.0.0.1", cairn_server.port))
        sock.sendall(payload[:cut])
        sock.close()
    assert _wait_for(lambda: _connected_clients(cairn_server) <= baseline), "connections leaked"
    _assert_serving(cairn_server)


def test_client_that_never_reads(cairn_server: ServerProcess) -> None:
    """A client pipelining far more replies than it reads: the server keeps
    serving others, and everything is freed when the client goes."""
    baseline = _connected_clients(cairn_server)
    hogs = []
    request = mb("ECHO", b"r" * 4096) * 256  # 1 MiB of replies per write
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", cairn_server.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 3
        while sent < 64 * len(request) and time.monotonic() < deadline:
            try:
                sent += sock.send(request)
            except BlockingIOError:
                time.sleep(0.01)  # the server stopped reading: back-pressure works
        hogs.append(sock)
    for _ in range(3):
        _assert_serving(cairn_server)
    for sock in hogs:
        sock.close()
    assert _wait_for(lambda: _connected_clients(cairn_server) <= baseline), "connections leaked"
    _assert_serving(cairn_server)


def test_many_connections_opened_and_dropped(cairn_server: ServerProcess) -> None:
    baseline = _connected_clients(cairn_server)
    socks = [socket.create_connection(("127.0.0.1", cairn_server.port)) for _ in range(200)]
    for i, sock in enumerate(socks):
        if i % 2:
            sock.sendall(b"PING\r\n")
    for sock in socks:
        sock.close()
    assert _wait_for(lambda: _connected_clients(cairn_server) <= baseline), "connections leaked"
    _assert_serving(cairn_server)


# -- Hypothesis: random byte streams, both servers ---------------------------------

_safe_request = st.one_of(
    st.just(b"PING\r\n"),
    st.builds(lambda a: mb("ECHO", a), st.binary(max_size=8)),
    st.builds(lambda a: mb("PING", a), st.binary(max_size=8)),
    st.builds(lambda a: b"ECHO " + a + b"\r\n", st.sampled_from([b"x", b'"q"', b"'s'", b'"\\x41"'])),
)
# Junk built from RESP punctuation, digits and a few letters that cannot spell
# a command name, so every reply is about the protocol, not about commands
# Cairn may not have yet. NUL is left out: see test_unknown_command_with_nul.
_junk_byte = st.sampled_from(list(b"*$:+-0123456789\r\n \t\"'\\xza"))
_fragment = st.one_of(
    _safe_request,
    st.sampled_from(
        [b"*", b"$", b"\r\n", b"*1\r\n", b"*2\r\n", b"$1\r\n", b"$4\r\n", b"$-1\r\n", b"*-1\r\n",
         b"*0\r\n", b":1\r\n", b"$0\r\n\r\n", b"\\x4", b"*11\r\n"]
    ),
    st.lists(_junk_byte, min_size=1, max_size=6).map(bytes),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_fragment, min_size=1, max_size=12).map(b"".join))
def test_random_streams_match_redis(
    redis_server: ServerProcess, cairn_server: ServerProcess, data: bytes
) -> None:
    compare(redis_server.port, cairn_server.port, data, idle=0.15)


def test_unknown_command_with_nul(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    compare(redis_server.port, cairn_server.port, mb(b"a\0b", b"c\0d"))
