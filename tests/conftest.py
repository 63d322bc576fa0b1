"""Shared fixtures: one real redis-server (the oracle) and one Cairn per session."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Pair, RawClient, ServerProcess, start_cairn, start_redis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[ServerProcess]:
    proc = start_redis()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def cairn_server() -> Iterator[ServerProcess]:
    proc = start_cairn(["--durability", "none", "--enable-debug-command", "yes"])
    yield proc
    proc.stop()


def _flush(port: int) -> None:
    client = RawClient(port)
    client.raw("FLUSHALL")
    client.close()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def pair(request: pytest.FixtureRequest, redis_server: ServerProcess, cairn_server: ServerProcess) -> Iterator[Pair]:
    """A fresh pair of connections (RESP2 and RESP3) on empty servers."""
    _flush(redis_server.port)
    _flush(cairn_server.port)
    p = Pair(redis_server.port, cairn_server.port, request.param)
    yield p
    p.close()


@pytest.fixture
def pair2(redis_server: ServerProcess, cairn_server: ServerProcess) -> Iterator[Pair]:
    """RESP2 only, for tests where the protocol version does not matter."""
    _flush(redis_server.port)
    _flush(cairn_server.port)
    p = Pair(redis_server.port, cairn_server.port, 2)
    yield p
    p.close()
