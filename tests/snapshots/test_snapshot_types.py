"""Every value type survives SAVE, kill -9 and a restart from the snapshot alone."""

from __future__ import annotations

import os
import shutil
import tempfile

from harness import RawClient, start_cairn


def _state(client: RawClient) -> dict[bytes, object]:
    return {
        b"str": client.raw("GET", "str"),
        b"list": client.raw("LRANGE", "list", "0", "-1"),
        b"hash": client.raw("HGETALL", "hash"),
        b"set": client.raw("SMEMBERS", "set"),
        b"intset": client.raw("SMEMBERS", "intset"),
        b"bigset": client.raw("SCARD", "bigset"),
        b"encodings": [client.raw("OBJECT", "ENCODING", k) for k in ("list", "hash", "set", "intset", "bigset")],
        b"zset": client.raw("ZRANGE", "zset", "0", "-1", "WITHSCORES"),
        b"bigzset": client.raw("ZRANGE", "bigzset", "0", "-1", "WITHSCORES"),
        b"zenc": [client.raw("OBJECT", "ENCODING", k) for k in ("zset", "bigzset")],
        b"ttl": client.raw("PEXPIRETIME", "list"),
    }


def test_all_types_round_trip_through_a_snapshot() -> None:
    workdir = tempfile.mkdtemp(prefix="cairn-snaptypes-")
    server = start_cairn([], workdir=workdir)
    try:
        client = RawClient(server.port)
        client.raw("SET", "str", "v")
        client.raw("RPUSH", "list", "a", "b", "c")
        client.raw("PEXPIREAT", "list", "99999999999999")
        client.raw("HSET", "hash", "f1", "1", "f2", "2")
        client.raw("SADD", "set", "x", "y")
        client.raw("SADD", "intset", "3", "1", "2")
        client.raw("SADD", "bigset", *[f"m{i}" for i in range(300)])
        client.raw("ZADD", "zset", "1.5", "a", "-2", "b", "inf", "c")
        client.raw("ZADD", "bigzset", *[x for i in range(200) for x in (str(i / 7), f"m{i}")])
        before = _state(client)
        assert client.raw("SAVE") == b"+OK\r\n"
        client.close()
        server.kill()
        # Only the snapshot is left: the log was trimmed to it, drop what remains too.
        shutil.rmtree(os.path.join(workdir, "data", "log"))
        server = start_cairn([], workdir=workdir, port=server.port)
        client = RawClient(server.port)
        assert _state(client) == before
        client.close()
    finally:
        server.kill()
        shutil.rmtree(workdir, ignore_errors=True)
