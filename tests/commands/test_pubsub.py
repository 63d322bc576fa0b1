"""Pub/sub: differential tests with several connections per server, exact bytes."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import hiredis
import pytest
from harness import Pair, RawClient, ServerProcess, encode_command


class Duo:
    """One connection to each server (same RESP version), compared reply by reply."""

    def __init__(self, real_port: int, cairn_port: int, resp: int) -> None:
        self.resp = resp
        self.real = RawClient(real_port, resp)
        self.cairn = RawClient(cairn_port, resp)

    def send(self, *args: Any) -> None:
        data = encode_command(args)
        self.real.send(data)
        self.cairn.send(data)

    def read(self) -> bytes:
        expected, actual = self.real.read_reply(), self.cairn.read_reply()
        assert actual == expected, f"RESP{self.resp}\n  redis: {expected!r}\n  cairn: {actual!r}"
        return actual

    def check(self, *args: Any, replies: int = 1) -> list[bytes]:
        self.send(*args)
        return [self.read() for _ in range(replies)]

    def check_unordered(self, *args: Any, replies: int) -> None:
        """Unsubscribe-all confirmations: Redis walks a hash table, so the channel
        order is unspecified; the counts (decreasing) and the set of channels are."""
        self.send(*args)
        real = [_parse(self.real.read_reply()) for _ in range(replies)]
        ours = [_parse(self.cairn.read_reply()) for _ in range(replies)]
        assert [(r[0], r[2]) for r in ours] == [(r[0], r[2]) for r in real]
        assert sorted(r[1] for r in ours) == sorted(r[1] for r in real)

    def nothing_pending(self) -> None:
        """Neither server sent anything more (checked after a PING round trip)."""
        self.send("PING")
        self.read()
        assert self.real.buffer == b"" and self.cairn.buffer == b""

    def close(self) -> None:
        self.real.close()
        self.cairn.close()


@pytest.fixture
def duos(pair: Pair, redis_server: ServerProcess, cairn_server: ServerProcess) -> Iterator[Any]:
    """A factory of extra connection pairs, in the pair fixture's RESP version."""
    made: list[Duo] = []

    def make(resp: int | None = None) -> Duo:
        duo = Duo(redis_server.port, cairn_server.port, pair.resp if resp is None else resp)
        made.append(duo)
        return duo

    yield make
    for duo in made:
        duo.close()


def test_subscribe_publish_unsubscribe(duos: Any) -> None:
    sub, pub = duos(), duos()
    sub.check("SUBSCRIBE", "a", "b", "a", replies=3)
    pub.check("PUBLISH", "a", "hello")
    sub.read()
    pub.check("PUBLISH", "b", "")
    sub.read()
    pub.check("PUBLISH", "nobody", "x")
    sub.check("UNSUBSCRIBE", "b", "zzz", replies=2)
    pub.check("PUBLISH", "b", "x")
    pub.check("PUBLISH", "a", b"bin\x00\xff")
    sub.read()
    sub.check("UNSUBSCRIBE")  # the remaining channel
    sub.check("UNSUBSCRIBE")  # none left: one reply with a null channel
    sub.check("PUNSUBSCRIBE")
    sub.check("SUNSUBSCRIBE")
    pub.check("PUBLISH", "a", "x")
    sub.nothing_pending()


def test_unsubscribe_all_order_and_counts(duos: Any) -> None:
    sub = duos()
    sub.check("SUBSCRIBE", "c1", "c2", "c3", replies=3)
    sub.check("PSUBSCRIBE", "p1*", "p2?", replies=2)
    sub.check("SSUBSCRIBE", "s1", "s2", replies=2)
    sub.check_unordered("UNSUBSCRIBE", replies=3)
    sub.check_unordered("SUNSUBSCRIBE", replies=2)
    sub.check_unordered("PUNSUBSCRIBE", replies=2)
    sub.check("PUNSUBSCRIBE")


def test_patterns(duos: Any) -> None:
    s1, s2, pub = duos(), duos(), duos()
    s1.check("PSUBSCRIBE", "news.*", replies=1)
    s2.check("PSUBSCRIBE", "n?ws.[a-c]*", replies=1)
    s2.check("SUBSCRIBE", "news.art", replies=1)
    pub.check("PUBLISH", "news.art", "m1")  # s2 by channel, s1 and s2 by pattern
    s1.read()
    s2.read()
    s2.read()
    pub.check("PUBLISH", "news.zoo", "m2")
    s1.read()
    pub.check("PUBLISH", "nows.b", "m3")
    s2.read()
    pub.check("PUBLISH", "other", "m4")
    s1.check("PUNSUBSCRIBE", "news.*", "never", replies=2)
    pub.check("PUBLISH", "news.zoo", "m5")
    s1.nothing_pending()


def test_sharded(duos: Any) -> None:
    sub, pub = duos(), duos()
    sub.check("SSUBSCRIBE", "{s}1", "{s}2", replies=2)
    sub.check("SUBSCRIBE", "{s}1")  # a plain channel of the same name is separate
    pub.check("SPUBLISH", "{s}1", "hi")
    sub.read()
    pub.check("PUBLISH", "{s}1", "plain")
    sub.read()
    pub.check("SPUBLISH", "{s}3", "none")
    pub.check("PUBSUB", "SHARDNUMSUB", "{s}1", "{s}2", "{s}3")
    pub.check("PUBSUB", "SHARDCHANNELS", "{s}1")
    pub.check("PUBSUB", "SHARDCHANNELS", "*1")
    sub.check("SUNSUBSCRIBE", "{s}1", replies=1)
    pub.check("SPUBLISH", "{s}1", "gone")
    sub.check("SUNSUBSCRIBE", replies=1)
    sub.check("SUNSUBSCRIBE")
    sub.check("UNSUBSCRIBE")


def test_pubsub_introspection(duos: Any) -> None:
    a, b, q = duos(), duos(), duos()
    q.check("PUBSUB", "NUMPAT")
    q.check("PUBSUB", "CHANNELS")
    q.check("PUBSUB", "NUMSUB")
    a.check("SUBSCRIBE", "x1", "x2", replies=2)
    b.check("SUBSCRIBE", "x1", "y", replies=2)
    a.check("PSUBSCRIBE", "x*", "y*", replies=2)
    b.check("PSUBSCRIBE", "x*", replies=1)
    q.check("PUBSUB", "NUMPAT")
    q.check("PUBSUB", "NUMSUB", "x1", "x2", "y", "nope", "x*")
    # Channel lists come in hash-table order in Redis: compared as sets.
    assert sorted(q.cairn.call("PUBSUB", "CHANNELS", "x?")) == sorted(q.real.call("PUBSUB", "CHANNELS", "x?"))
    q.check("PUBSUB", "CHANNELS", "nothing*")
    real = sorted(q.real.call("PUBSUB", "CHANNELS"))
    ours = sorted(q.cairn.call("PUBSUB", "CHANNELS"))
    assert ours == real == [b"x1", b"x2", b"y"]
    q.check("PUBSUB", "HELP")
    q.check("PUBSUB", "NOSUCH")
    q.check("PUBSUB", "NUMPAT", "extra")
    q.check("PUBSUB", "CHANNELS", "a", "b")
    q.check("PUBSUB", "SHARDCHANNELS", "a", "b")
    q.check("PUBSUB", "HELP", "extra")
    q.check("PUBSUB")
    a.check_unordered("UNSUBSCRIBE", replies=2)
    a.check_unordered("PUNSUBSCRIBE", replies=2)
    q.check("PUBSUB", "NUMPAT")
    q.check("PUBSUB", "NUMSUB", "x1", "x2")


def test_arity_errors(pair: Pair) -> None:
    pair.check("SUBSCRIBE")
    pair.check("PSUBSCRIBE")
    pair.check("SSUBSCRIBE")
    pair.check("PUBLISH", "a")
    pair.check("PUBLISH", "a", "b", "c")
    pair.check("SPUBLISH", "a")
    pair.check("PUBLISH", "a", "b")


def test_resp2_subscribed_context(duos: Any) -> None:
    sub = duos(2)
    sub.check("SUBSCRIBE", "ch")
    sub.check("GET", "x")
    sub.check("SET", "x", "1")
    sub.check("PUBLISH", "ch", "m")
    sub.check("PUBSUB", "CHANNELS")
    sub.check("CLIENT", "INFO")
    sub.check("HELLO", "3")
    sub.check("PING")
    sub.check("PING", "hello")
    sub.check("PING", "a", "b")
    sub.check("NOSUCHCOMMAND")
    sub.check("GET")  # arity is checked before the context
    sub.check("PSUBSCRIBE", "p*")
    sub.check("SSUBSCRIBE", "s")
    sub.check("UNSUBSCRIBE")
    sub.check("PUNSUBSCRIBE")
    sub.check("ECHO", "still shard-subscribed")
    sub.check("SUNSUBSCRIBE")
    sub.check("GET", "x")  # allowed again
    sub.check("PING")


def test_resp2_multi_while_subscribed(duos: Any) -> None:
    sub = duos(2)
    sub.check("SUBSCRIBE", "ch")
    sub.check("MULTI")
    sub.check("EXEC")  # rejected: EXECABORT, and the transaction is gone
    sub.check("EXEC")
    sub.check("DISCARD")
    sub.check("UNSUBSCRIBE")
    sub.check("EXEC")
    sub.check("DISCARD")
    sub.check("SUBSCRIBE", "ch")
    sub.check("WATCH", "k")


def test_resp3_pushes_interleaved(duos: Any) -> None:
    sub, pub = duos(3), duos(3)
    sub.check("SUBSCRIBE", "ch", "other", replies=2)
    sub.check("SET", "k", "v")
    sub.check("GET", "k")
    sub.check("PING")
    pub.check("PUBLISH", "ch", "m1")
    sub.read()
    sub.check("GET", "k")
    # A client subscribed to its own channel: the message comes before PUBLISH's reply.
    sub.check("PUBLISH", "ch", "self", replies=2)
    sub.check("PUBSUB", "NUMSUB", "ch")
    sub.check_unordered("UNSUBSCRIBE", replies=2)
    sub.check("UNSUBSCRIBE")


def test_reset_and_quit_while_subscribed(duos: Any) -> None:
    sub, pub = duos(), duos()
    sub.check("SUBSCRIBE", "a", replies=1)
    sub.check("PSUBSCRIBE", "a*", replies=1)
    sub.check("SSUBSCRIBE", "s", replies=1)
    sub.check("RESET")
    pub.check("PUBLISH", "a", "x")
    pub.check("SPUBLISH", "s", "x")
    pub.check("PUBSUB", "NUMSUB", "a")
    pub.check("PUBSUB", "NUMPAT")
    sub.check("GET", "x")  # no longer subscribed
    sub.check("SUBSCRIBE", "q", replies=1)
    sub.check("QUIT")
    time.sleep(0.1)
    pub.check("PUBLISH", "q", "x")  # the closed subscriber is gone
    pub.check("PUBSUB", "NUMSUB", "q")


def test_disconnect_cleans_up(duos: Any) -> None:
    sub, pub = duos(), duos()
    sub.check("SUBSCRIBE", "gone", replies=1)
    sub.check("PSUBSCRIBE", "gone*", replies=1)
    sub.close()
    deadline = time.monotonic() + 5
    while pub.cairn.call("PUBSUB", "NUMPAT") != 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    while pub.real.call("PUBSUB", "NUMPAT") != 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    pub.check("PUBLISH", "gone", "x")
    pub.check("PUBSUB", "NUMSUB", "gone")


def _parse(data: bytes) -> Any:
    reader = hiredis.Reader()
    reader.feed(data)
    return reader.gets()


def _client_fields(client: RawClient) -> dict[str, str]:
    line = client.call("CLIENT", "INFO").decode()
    return dict(part.split("=", 1) for part in line.split() if "=" in part)


def test_client_list_fields_and_info(duos: Any) -> None:
    c = duos(3)
    c.check("SUBSCRIBE", "a", "b", replies=2)
    c.check("PSUBSCRIBE", "p*", replies=1)
    c.check("SSUBSCRIBE", "s", replies=1)
    for client in (c.real, c.cairn):
        fields = _client_fields(client)
        assert (fields["flags"], fields["sub"], fields["psub"], fields["ssub"]) == ("P", "2", "1", "1")
        info = client.call("INFO", "stats").decode()
        stats = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        assert (stats["pubsub_channels"], stats["pubsub_patterns"], stats["pubsubshard_channels"]) == ("2", "1", "1")
    real_ids = c.real.call("CLIENT", "LIST", "TYPE", "pubsub").decode().count("id=")
    ours_ids = c.cairn.call("CLIENT", "LIST", "TYPE", "pubsub").decode().count("id=")
    assert real_ids == ours_ids >= 1
    c.check_unordered("UNSUBSCRIBE", replies=2)
    c.check("PUNSUBSCRIBE", replies=1)
    c.check("SUNSUBSCRIBE", replies=1)
    for client in (c.real, c.cairn):
        fields = _client_fields(client)
        assert (fields["flags"], fields["sub"], fields["psub"], fields["ssub"]) == ("N", "0", "0", "0")


def test_publish_is_not_logged(pair: Pair) -> None:
    """PUBLISH changes nothing: no dirty counter, no keyspace effect."""
    before = pair.cairn.call("INFO", "persistence").decode()
    dirty = [line for line in before.splitlines() if line.startswith("rdb_changes_since_last_save")]
    pair.check("PUBLISH", "ch", "m")
    pair.check("SPUBLISH", "ch", "m")
    after = pair.cairn.call("INFO", "persistence").decode()
    assert [line for line in after.splitlines() if line.startswith("rdb_changes_since_last_save")] == dirty
    pair.check("COMMAND", "INFO", "PUBLISH", "SPUBLISH", "SUBSCRIBE")


def _set_limit(port: int, value: str) -> None:
    c = RawClient(port)
    assert c.call("CONFIG", "SET", "client-output-buffer-limit", value) == b"OK"
    c.close()


def _subscriber(port: int, channel: str) -> socket.socket:
    """A subscriber that never reads what it is sent."""
    sub = socket.create_connection(("127.0.0.1", port))
    sub.sendall(encode_command(["SUBSCRIBE", channel]))
    deadline = time.monotonic() + 5
    probe = RawClient(port)
    while probe.call("PUBSUB", "NUMSUB", channel) != [channel.encode(), 1]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    probe.close()
    return sub


def _drain_until_closed(sub: socket.socket) -> int:
    sub.settimeout(10)
    received = 0
    while True:
        try:
            chunk = sub.recv(1 << 20)
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += len(chunk)
    sub.close()
    return received


@pytest.mark.parametrize("server_name", ["redis", "cairn"])
def test_slow_subscriber_disconnected_at_hard_limit(
    server_name: str, redis_server: ServerProcess, cairn_server: ServerProcess
) -> None:
    port = redis_server.port if server_name == "redis" else cairn_server.port
    _set_limit(port, "pubsub 1mb 512kb 60")
    try:
        sub = _subscriber(port, "firehose")
        pub = RawClient(port)
        other = RawClient(port)
        payload = b"x" * 100_000
        dropped_after = None
        worst_ping = 0.0
        for i in range(400):
            if pub.call("PUBLISH", "firehose", payload) == 0:
                dropped_after = i
                break
            start = time.monotonic()
            assert other.call("PING") == b"PONG"
            worst_ping = max(worst_ping, time.monotonic() - start)
        # Dropped once its pending output passed 1 MB (plus what the kernel buffers).
        assert dropped_after is not None and 10 <= dropped_after < 300
        assert worst_ping < 0.5
        assert pub.call("PUBSUB", "NUMSUB", "firehose") == [b"firehose", 0]
        # The subscriber sees its connection end (after at most what was queued).
        assert _drain_until_closed(sub) <= (dropped_after + 1) * (len(payload) + 64)
        pub.close()
        other.close()
    finally:
        _set_limit(port, "pubsub 32mb 8mb 60")


@pytest.mark.parametrize("server_name", ["redis", "cairn"])
def test_slow_subscriber_disconnected_after_soft_seconds(
    server_name: str, redis_server: ServerProcess, cairn_server: ServerProcess
) -> None:
    port = redis_server.port if server_name == "redis" else cairn_server.port
    _set_limit(port, "pubsub 0 512kb 1")
    try:
        sub = _subscriber(port, "soft")
        pub = RawClient(port)
        payload = b"y" * 100_000
        # Far more than the kernel buffers: the rest stays above the soft limit.
        for _ in range(150):
            assert pub.call("PUBLISH", "soft", payload) == 1
        assert pub.call("PUBSUB", "NUMSUB", "soft") == [b"soft", 1]
        # Dropped once above the soft limit for more than a second, without any
        # further message (Redis compares whole seconds: up to ~2 s).
        deadline = time.monotonic() + 5
        while pub.call("PUBSUB", "NUMSUB", "soft") != [b"soft", 0]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert pub.call("PUBLISH", "soft", payload) == 0
        _drain_until_closed(sub)
        pub.close()
    finally:
        _set_limit(port, "pubsub 32mb 8mb 60")


def test_output_limit_config(pair: Pair) -> None:
    pair.check("CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 512kb 60")
    pair.check("CONFIG", "GET", "client-output-buffer-limit")
    pair.check("CONFIG", "SET", "client-output-buffer-limit", "pubsub 33554432 8388608 60")
    pair.check("CONFIG", "GET", "client-output-buffer-limit")


def test_pipelined_subscribe_keeps_reply_order(redis_server: ServerProcess, cairn_server: ServerProcess) -> None:
    """Confirmations pushed while a pipeline runs stay behind the earlier replies."""
    outputs = []
    for port in (redis_server.port, cairn_server.port):
        for resp in (2, 3):
            client = RawClient(port, resp=resp)
            client.send(encode_command(("PING",)) + encode_command(("SUBSCRIBE", "pa", "pb"))
                        + encode_command(("PING",)))
            outputs.append([client.read_reply() for _ in range(4)])
            client.close()
    assert outputs[2:] == outputs[:2], outputs
