"""The fault-injecting TCP proxy: passthrough, cut, blackhole, delay, heal.

Behind it: a plain echo server (selectors, one thread), the session's real
redis-server, a gRPC server (HTTP/2) and, when installed, a real etcd.
"""

from __future__ import annotations

import hashlib
import os
import random
import selectors
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from harness import ServerProcess, free_port, wait_for_port
from redis.backoff import NoBackoff
from redis.retry import Retry

from multiaz.faultproxy import FaultProxy
from multiaz.history import Recorder
from multiaz.linearizability import CounterModel, ListModel, Operation, RegisterModel, check


class EchoServer:
    """Echoes every byte back; counts accepted and open connections."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.open = 0
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ)
        self.pending: dict[socket.socket, bytearray] = {}
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _close(self, conn: socket.socket) -> None:
        self.sel.unregister(conn)
        self.pending.pop(conn, None)
        conn.close()
        self.open -= 1

    def _run(self) -> None:
        while self.running:
            for key, mask in self.sel.select(0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self.listener:
                    conn, _ = sock.accept()
                    conn.setblocking(False)
                    self.accepted += 1
                    self.open += 1
                    self.pending[conn] = bytearray()
                    self.sel.register(conn, selectors.EVENT_READ)
                    continue
                try:
                    if mask & selectors.EVENT_READ:
                        data = sock.recv(1 << 16)
                        if not data:
                            self._close(sock)
                            continue
                        self.pending[sock] += data
                    buf = self.pending[sock]
                    if buf:
                        try:
                            sent = sock.send(buf)
                        except BlockingIOError:  # its send buffer is full: later
                            sent = 0
                        del buf[:sent]
                    events = selectors.EVENT_READ | (selectors.EVENT_WRITE if buf else 0)
                    self.sel.modify(sock, events)
                except OSError:
                    self._close(sock)

    def stop(self) -> None:
        self.running = False
        self.thread.join(5)
        for conn in list(self.pending):
            conn.close()
        self.listener.close()


def wait_until(predicate: object, timeout: float = 5.0) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.stop()


@pytest.fixture
def proxy(echo: EchoServer) -> Iterator[FaultProxy]:
    with FaultProxy(upstream=("127.0.0.1", echo.port)) as p:
        yield p


@pytest.fixture
def redis_proxy(redis_server: ServerProcess) -> Iterator[FaultProxy]:
    with FaultProxy(upstream=("127.0.0.1", redis_server.port)) as p:
        yield p


def rclient(port: int, timeout: float = 0.3) -> redis.Redis:
    """A client that fails at once instead of retrying."""
    return redis.Redis(
        port=port,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def connect(proxy: FaultProxy, timeout: float = 2.0) -> socket.socket:
    sock = socket.create_connection(proxy.address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def roundtrip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("closed")
        got += chunk
    return got


# ---------------------------------------------------------------------------


def test_only_loopback_addresses() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy(upstream=("10.1.2.3", 80))
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy(listen=("0.0.0.0", 0), upstream=("127.0.0.1", 80))
    with pytest.raises(ValueError, match="not an IP address"):
        FaultProxy(upstream=("example.com", 80))
    FaultProxy(listen=("127.0.0.2", 0), upstream=("localhost", 80))  # all of 127/8 is fine


def test_echo_passthrough_and_half_close(proxy: FaultProxy, echo: EchoServer) -> None:
    sock = connect(proxy)
    assert roundtrip(sock, b"hello") == b"hello"
    payload = bytes(range(256)) * 100
    assert roundtrip(sock, payload) == payload
    # A half-close reaches the server, which closes; the client sees EOF.
    sock.shutdown(socket.SHUT_WR)
    assert sock.recv(10) == b""
    sock.close()
    assert wait_until(lambda: proxy.connections == 0 and echo.open == 0)
    assert proxy.bytes == {"c2s": 5 + len(payload), "s2c": 5 + len(payload)}


def test_ten_megabytes_intact(proxy: FaultProxy) -> None:
    payload = os.urandom(10 * 1024 * 1024)
    sock = connect(proxy, timeout=20)
    received = hashlib.sha256()
    count = 0

    def reader() -> None:
        nonlocal count
        while count < len(payload):
            chunk = sock.recv(1 << 18)
            if not chunk:
                break
            received.update(chunk)
            count += len(chunk)

    t = threading.Thread(target=reader)
    t.start()
    sock.sendall(payload)
    t.join(30)
    sock.close()
    assert count == len(payload)
    assert received.digest() == hashlib.sha256(payload).digest()


def test_two_hundred_concurrent_connections(proxy: FaultProxy, echo: EchoServer) -> None:
    socks = [connect(proxy) for _ in range(200)]
    for i, s in enumerate(socks):
        s.sendall(b"conn-%03d;" % i)
    for i, s in enumerate(socks):
        want = b"conn-%03d;" % i
        got = b""
        while len(got) < len(want):
            got += s.recv(64)
        assert got == want
    assert proxy.connections == 200
    assert wait_until(lambda: echo.open == 200)
    for s in socks:
        s.close()
    assert wait_until(lambda: proxy.connections == 0 and echo.open == 0)
    assert proxy.accepted == 200


def test_redis_passthrough_with_large_values(redis_proxy: FaultProxy) -> None:
    r = rclient(redis_proxy.port, timeout=10)
    assert r.ping()
    big = os.urandom(10 * 1024 * 1024)
    assert r.set("fp:big", big)
    assert r.get("fp:big") == big
    pipe = r.pipeline(transaction=False)
    for i in range(1000):
        pipe.rpush("fp:list", i)
    pipe.lrange("fp:list", 0, -1)
    replies = pipe.execute()
    assert replies[:1000] == list(range(1, 1001))
    assert replies[-1] == [str(i).encode() for i in range(1000)]
    r.delete("fp:big", "fp:list")
    r.close()


def test_cut_resets_connections_and_refuses_new(redis_proxy: FaultProxy, redis_server: ServerProcess) -> None:
    r = rclient(redis_proxy.port, timeout=2)
    assert r.set("fp:cut", "1")
    raw = connect(redis_proxy)
    assert roundtrip(raw, b"PING\r\n") == b"+PONG\r\n"
    start = time.monotonic()
    redis_proxy.cut()
    with pytest.raises(ConnectionResetError):
        raw.send(b"PING\r\n")
        raw.recv(10)
    with pytest.raises(redis.exceptions.ConnectionError):
        r.get("fp:cut")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(redis_proxy.address, timeout=1)
    assert time.monotonic() - start < 1.0  # errors come fast, not as timeouts
    assert redis_proxy.connections == 0
    # The server's end was reset too: only our direct client is left.
    direct = rclient(redis_server.port, timeout=2)
    assert wait_until(lambda: len(direct.client_list()) == 1)
    redis_proxy.heal()
    assert redis_proxy.healthy
    assert rclient(redis_proxy.port, timeout=2).get("fp:cut") == b"1"
    raw.close()


def test_drop_connections_keeps_accepting(proxy: FaultProxy) -> None:
    sock = connect(proxy)
    assert roundtrip(sock, b"x") == b"x"
    proxy.drop_connections()
    with pytest.raises(ConnectionResetError):
        sock.send(b"y")
        sock.recv(10)
    assert roundtrip(connect(proxy), b"z") == b"z"


def test_upstream_down_resets_client(echo: EchoServer) -> None:
    port = free_port()  # nothing listens there
    with FaultProxy(upstream=("127.0.0.1", port)) as p:
        with pytest.raises((ConnectionResetError, ConnectionError)):
            sock = connect(p)  # (the reset can come before connect() even returns)
            sock.sendall(b"hello")
            if sock.recv(10) == b"":
                raise ConnectionError("closed")


def test_blackhole_times_out_then_heal_delivers(redis_proxy: FaultProxy, redis_server: ServerProcess) -> None:
    raw = connect(redis_proxy, timeout=0.3)
    assert roundtrip(raw, b"PING\r\n") == b"+PONG\r\n"
    r = rclient(redis_proxy.port, timeout=0.3)
    assert r.ping()
    redis_proxy.blackhole()
    start = time.monotonic()
    with pytest.raises(redis.exceptions.TimeoutError):
        r.get("fp:bh")
    elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 1.5, elapsed  # silence, not a reset
    raw.sendall(b"PING\r\n")
    with pytest.raises(TimeoutError):
        raw.recv(10)
    # New connections are accepted but reach nothing.
    direct = rclient(redis_server.port, timeout=2)
    clients_before = len(direct.client_list())
    late = connect(redis_proxy, timeout=0.3)
    late.sendall(b"PING\r\n")
    with pytest.raises(TimeoutError):
        late.recv(10)
    assert len(direct.client_list()) == clients_before
    redis_proxy.heal()
    # What was held goes through, as TCP would retransmit it.
    raw.settimeout(2)
    late.settimeout(2)
    assert raw.recv(10) == b"+PONG\r\n"
    assert late.recv(10) == b"+PONG\r\n"
    assert rclient(redis_proxy.port, timeout=2).ping()
    raw.close()
    late.close()


def test_blackhole_server_to_client_only_applies_the_write(
    redis_proxy: FaultProxy, redis_server: ServerProcess
) -> None:
    """The request arrives, the reply is lost: a write with an unknown outcome."""
    direct = rclient(redis_server.port, timeout=2)
    direct.delete("fp:s2c")
    r = rclient(redis_proxy.port, timeout=0.3)
    assert r.ping()
    redis_proxy.blackhole("s2c")
    with pytest.raises(redis.exceptions.TimeoutError):
        r.set("fp:s2c", "applied")
    assert wait_until(lambda: direct.get("fp:s2c") == b"applied", 2)
    redis_proxy.heal()
    direct.delete("fp:s2c")


def test_blackhole_client_to_server_holds_the_write(
    redis_proxy: FaultProxy, redis_server: ServerProcess
) -> None:
    """The request is held: not applied during the partition, applied after it heals."""
    direct = rclient(redis_server.port, timeout=2)
    direct.delete("fp:c2s")
    raw = connect(redis_proxy, timeout=0.3)
    assert roundtrip(raw, b"PING\r\n") == b"+PONG\r\n"
    redis_proxy.blackhole("c2s")
    raw.sendall(b"SET fp:c2s late\r\n")
    with pytest.raises(TimeoutError):
        raw.recv(10)
    assert direct.get("fp:c2s") is None
    redis_proxy.heal()
    raw.settimeout(2)
    assert raw.recv(10) == b"+OK\r\n"
    assert direct.get("fp:c2s") == b"late"
    direct.delete("fp:c2s")
    raw.close()


def test_cut_during_blackhole_then_heal(proxy: FaultProxy, echo: EchoServer) -> None:
    sock = connect(proxy, timeout=0.3)
    proxy.blackhole()
    waiting = connect(proxy, timeout=0.3)  # held before reaching upstream
    assert wait_until(lambda: proxy.connections == 2)
    proxy.cut()
    assert proxy.connections == 0
    for s in (sock, waiting):
        with pytest.raises((ConnectionResetError, ConnectionError)):
            s.send(b"x")
            if s.recv(1) == b"":
                raise ConnectionError("closed")
    proxy.heal()
    assert roundtrip(connect(proxy), b"after") == b"after"
    assert proxy.port == proxy.address[1]


def _rtt(sock: socket.socket) -> float:
    start = time.monotonic()
    assert roundtrip(sock, b"ping") == b"ping"
    return time.monotonic() - start


def test_delay_adds_latency_and_keeps_throughput(proxy: FaultProxy) -> None:
    sock = connect(proxy)
    base = min(_rtt(sock) for _ in range(5))
    assert base < 0.05
    proxy.delay(100)
    rtt = _rtt(sock)
    assert 0.2 <= rtt < 0.6, rtt  # 100 ms each way
    proxy.delay(0)
    proxy.delay(100, direction="c2s")
    rtt = _rtt(sock)
    assert 0.1 <= rtt < 0.2 + 0.2, rtt
    # Chunks are delayed, not serialized: 20 back-to-back messages take one delay.
    proxy.delay(100, direction="both")
    start = time.monotonic()
    for i in range(20):
        sock.sendall(b"m%02d" % i)
        time.sleep(0.005)
    got = b""
    while len(got) < 60:
        got += sock.recv(100)
    assert got == b"".join(b"m%02d" % i for i in range(20))
    assert time.monotonic() - start < 0.9
    proxy.heal()
    assert proxy.healthy
    assert _rtt(sock) < 0.1
    with pytest.raises(ValueError):
        proxy.delay(-1)


def test_jitter_keeps_order(proxy: FaultProxy) -> None:
    proxy.delay(5, jitter_ms=20)
    sock = connect(proxy)
    payload = b"".join(b"%04d" % i for i in range(500))
    for i in range(0, len(payload), 40):
        sock.sendall(payload[i : i + 40])
    got = b""
    while len(got) < len(payload):
        got += sock.recv(4096)
    assert got == payload


def test_stop_closes_everything(echo: EchoServer) -> None:
    p = FaultProxy(upstream=("127.0.0.1", echo.port)).start()
    sock = connect(p)
    assert roundtrip(sock, b"a") == b"a"
    address = p.address
    p.stop()
    p.stop()  # idempotent
    with pytest.raises((ConnectionResetError, ConnectionError)):
        sock.send(b"x")
        if sock.recv(1) == b"":
            raise ConnectionError("closed")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=1)
    assert wait_until(lambda: echo.open == 0)


# ---------------------------------------------------------------------------
# HTTP/2: gRPC and etcd


def test_grpc_through_the_proxy() -> None:
    grpc = pytest.importorskip("grpc")
    from concurrent import futures

    def echo_unary(request: bytes, context: object) -> bytes:
        return request[::-1]

    def echo_stream(request: bytes, context: object) -> Iterator[bytes]:
        for i in range(50):
            yield request + b"%d" % i

    handler = grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Reverse": grpc.unary_unary_rpc_method_handler(echo_unary),
            "Stream": grpc.unary_stream_rpc_method_handler(echo_stream),
        },
    )
    sizes = [("grpc.max_receive_message_length", 16 << 20), ("grpc.max_send_message_length", 16 << 20)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=sizes)
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with FaultProxy(upstream=("127.0.0.1", port)) as p:
            channel = grpc.insecure_channel(f"127.0.0.1:{p.port}", options=sizes)
            reverse = channel.unary_unary("/test.Echo/Reverse")
            stream = channel.unary_stream("/test.Echo/Stream")
            big = os.urandom(5 << 20)
            assert reverse(big, timeout=10) == big[::-1]
            assert list(stream(b"s", timeout=10)) == [b"s%d" % i for i in range(50)]
            p.blackhole()
            with pytest.raises(grpc.RpcError) as err:
                reverse(b"abc", timeout=0.3)
            assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            p.heal()
            assert reverse(b"abc", timeout=5) == b"cba"
            p.cut()
            with pytest.raises(grpc.RpcError) as err:
                reverse(b"abc", timeout=2)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            p.heal()
            assert reverse(b"abc", timeout=5, wait_for_ready=True) == b"cba"
            channel.close()
    finally:
        server.stop(0)


ETCD = shutil.which("etcd")
ETCDCTL = shutil.which("etcdctl")


@pytest.mark.skipif(ETCD is None or ETCDCTL is None, reason="etcd is not installed")
def test_etcd_through_the_proxy() -> None:
    assert ETCD is not None and ETCDCTL is not None
    workdir = tempfile.mkdtemp(prefix="faultproxy-etcd-")
    client_port, peer_port = free_port(), free_port()
    argv = [
        ETCD,
        "--name", "fp",
        "--data-dir", os.path.join(workdir, "data"),
        "--listen-client-urls", f"http://127.0.0.1:{client_port}",
        "--advertise-client-urls", f"http://127.0.0.1:{client_port}",
        "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
        "--initial-cluster", f"fp=http://127.0.0.1:{peer_port}",
    ]
    server = ServerProcess(argv, client_port, workdir)
    server.start()
    try:
        wait_for_port(client_port)
        with FaultProxy(upstream=("127.0.0.1", client_port)) as p:

            def ctl(*args: str, timeout: str = "3s") -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    [ETCDCTL, "--endpoints", f"127.0.0.1:{p.port}", "--command-timeout", timeout,
                     "--dial-timeout", timeout, *args],
                    capture_output=True, text=True, timeout=20,
                    env={**os.environ, "ETCDCTL_API": "3"},
                )

            assert ctl("put", "fp/key", "value").stdout.strip() == "OK"
            assert ctl("get", "fp/key", "--print-value-only").stdout.strip() == "value"
            p.blackhole()
            start = time.monotonic()
            res = ctl("get", "fp/key", timeout="500ms")
            assert res.returncode != 0
            assert "deadline" in res.stderr.lower() or "context" in res.stderr.lower(), res.stderr
            assert time.monotonic() - start >= 0.4
            p.heal()
            assert ctl("get", "fp/key", "--print-value-only").stdout.strip() == "value"
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------
# End to end: a recorded history through faults, checked for linearizability


CAS = "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('set', KEYS[1], ARGV[2]) return 1 end return 0"


def _client_loop(rec: Recorder, port: int, client: int, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    r = rclient(port, timeout=0.15)
    n = 0
    while not stop.is_set():
        n += 1
        key = rng.choice(["e2e:reg:0", "e2e:reg:1", "e2e:cnt", "e2e:list"])
        value = f"{client}-{n}"
        if key.startswith("e2e:reg"):
            kind = rng.choice(["read", "write", "cas"])
            if kind == "read":
                with rec.op(client, key, "read") as op:
                    op.ok(r.get(key))
            elif kind == "write":
                with rec.op(client, key, "write", value) as op:
                    r.set(key, value)
                    op.ok()
            else:
                old = f"{rng.randrange(6)}-{rng.randint(max(1, n - 20), n)}"
                with rec.op(client, key, "cas", (old, value)) as op:
                    op.ok(r.eval(CAS, 1, key, old, value))
        elif key == "e2e:cnt":
            if rng.random() < 0.5:
                with rec.op(client, key, "get") as op:
                    op.ok(r.get(key))
            else:
                with rec.op(client, key, "incr", 1) as op:
                    op.ok(r.incrby(key, 1))
        elif rng.random() < 0.5:
            with rec.op(client, key, "lrange") as op:
                op.ok(r.lrange(key, 0, -1))
        else:
            with rec.op(client, key, "rpush", value) as op:
                op.ok(r.rpush(key, value))
        if op.outcome != "ok":
            time.sleep(0.02)  # after an error, do not spin


def test_recorded_history_through_faults_is_linearizable(
    redis_proxy: FaultProxy, redis_server: ServerProcess
) -> None:
    direct = rclient(redis_server.port, timeout=2)
    direct.delete("e2e:reg:0", "e2e:reg:1", "e2e:cnt", "e2e:list")
    rec = Recorder(refused_is_failure=True)
    stop = threading.Event()
    threads = [
        threading.Thread(target=_client_loop, args=(rec, redis_proxy.port, c, stop, c)) for c in range(5)
    ]
    for t in threads:
        t.start()
    try:
        for fault in ("s2c", "cut", "c2s", "delay"):
            time.sleep(0.15)
            if fault == "cut":
                redis_proxy.cut()
            elif fault == "delay":
                redis_proxy.delay(30, jitter_ms=30)
            else:
                redis_proxy.blackhole(fault)  # type: ignore[arg-type]
            time.sleep(0.3)
            redis_proxy.heal()
        time.sleep(0.15)
    finally:
        stop.set()
        for t in threads:
            t.join(5)
    history = rec.history()
    print(rec.summary())
    assert len(history) > 100, rec.summary()
    assert any(op.ret is None for op in history), rec.summary()  # faults did bite
    for prefix, model in (("e2e:reg", RegisterModel()), ("e2e:cnt", CounterModel()), ("e2e:list", ListModel())):
        part = [op for op in history if str(op.key).startswith(prefix)]
        result = check(part, model, timeout=20)
        assert result.ok, f"{rec.summary()}\n{result.explain()}"
    # The checker is not vacuous here: a lost acknowledged increment is caught.
    incrs = [op for op in history if op.kind == "incr" and op.ret is not None]
    assert incrs
    last = max(incrs, key=lambda op: op.ret or 0)
    lost = [*history, Operation("checker", "get", None, (last.output or 0) - 1, (last.ret or 0) + 1, (last.ret or 0) + 2, key="e2e:cnt")]
    assert not check([op for op in lost if op.key == "e2e:cnt"], CounterModel(), timeout=20).ok
