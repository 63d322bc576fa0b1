"""Faults under load, checked for linearizability.

Clients read and write registers (SET/GET), counters (INCR/GET) and lists
(RPUSH/LRANGE) on whichever node is primary, recording every call and its
outcome, while the harness kills the primary, stops it past its lease, and cuts
it off from etcd and from its clients (a fault-injecting proxy on loopback in
front of each node's etcd endpoints and client port). Afterwards the recorded
history must be linearizable (tests/multiaz/linearizability.py), and every
replica must converge to the primary's state.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import redis

from tests.multiaz.cluster import ETCD, Shard, new_etcd, no_retry
from tests.multiaz.faultproxy import FaultProxy
from tests.multiaz.history import Recorder
from tests.multiaz.linearizability import CounterModel, ListModel, RegisterModel, check

pytestmark = pytest.mark.skipif(ETCD is None, reason="etcd-server is not installed")

REGISTERS = [f"reg:{i}" for i in range(8)]
COUNTERS = [f"ctr:{i}" for i in range(4)]
LISTS = [f"list:{i}" for i in range(3)]


@dataclass
class ProxiedNode:
    """A node reached only through proxies: its etcd links and its client port."""

    node: object
    etcd_proxies: list[FaultProxy]
    client_proxy: FaultProxy

    def cut_off(self) -> None:
        for p in [*self.etcd_proxies, self.client_proxy]:
            p.blackhole()

    def heal(self) -> None:
        for p in [*self.etcd_proxies, self.client_proxy]:
            p.heal()


@dataclass
class World:
    shard: Shard
    nodes: list[ProxiedNode] = field(default_factory=list)

    def client_port(self, node: object) -> int:
        return next(p.client_proxy.port for p in self.nodes if p.node is node)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    etcd = new_etcd()
    base = tempfile.mkdtemp(prefix="cairn-lin-")
    shard = Shard(etcd, base)
    proxies: list[FaultProxy] = []
    w = World(shard)
    try:
        for _ in range(3):
            etcd_proxies = [FaultProxy(upstream=("127.0.0.1", m.client_port)).start()
                            for m in etcd.members]
            proxies += etcd_proxies
            node = shard.add_node(etcd_endpoints=[f"127.0.0.1:{p.port}" for p in etcd_proxies])
            client_proxy = FaultProxy(upstream=("127.0.0.1", node.port)).start()
            proxies.append(client_proxy)
            w.nodes.append(ProxiedNode(node, etcd_proxies, client_proxy))
        shard.wait_roles(timeout=30)
        yield w
    finally:
        shard.stop()
        for p in proxies:
            p.stop()
        etcd.destroy()
        shutil.rmtree(base, ignore_errors=True)


class Worker(threading.Thread):
    def __init__(self, world: World, recorder: Recorder, wid: int, seed: int) -> None:
        super().__init__(daemon=True)
        self.world = world
        self.rec = recorder
        self.wid = wid
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.conn: redis.Redis | None = None
        self.seq = 0
        self.done = 0
        self.unexpected: list[str] = []

    def _connect(self) -> redis.Redis | None:
        for pn in self.world.nodes:
            if not pn.node.running:  # type: ignore[attr-defined]
                continue
            try:
                c = redis.Redis(port=pn.client_proxy.port, socket_timeout=1.5,
                                socket_connect_timeout=0.5, retry=no_retry())
                if c.execute_command("ROLE")[0] == b"master":
                    return c
            except (redis.RedisError, OSError):
                continue
        return None

    def _choose(self, c: redis.Redis) -> tuple[str, str, object, object]:
        """(key, kind, input, the call) of a random operation."""
        rng = self.rng
        value = f"{self.wid}-{self.seq}"
        roll = rng.random()
        if roll < 0.3:
            key = rng.choice(REGISTERS)
            return key, "write", value, lambda: c.set(key, value) and None
        if roll < 0.5:
            key = rng.choice(REGISTERS)
            return key, "read", None, lambda: c.get(key)
        if roll < 0.65:
            key = rng.choice(COUNTERS)
            return key, "incr", 1, lambda: c.incr(key)
        if roll < 0.75:
            key = rng.choice(COUNTERS)
            return key, "get", None, lambda: c.get(key)
        if roll < 0.9:
            key = rng.choice(LISTS)
            return key, "rpush", value, lambda: c.rpush(key, value)
        key = rng.choice(LISTS)
        return key, "lrange", None, lambda: c.lrange(key, 0, -1)

    def run(self) -> None:
        while not self.stop.is_set():
            if self.conn is None:
                self.conn = self._connect()
                if self.conn is None:
                    time.sleep(0.05)
                    continue
            self.seq += 1
            key, kind, arg, call = self._choose(self.conn)
            try:
                with self.rec.op(self.wid, key, kind, arg) as op:
                    op.ok(call())  # type: ignore[operator]
            except Exception as exc:  # an error the recorder could not classify
                self.unexpected.append(repr(exc))
                self.conn = None
                continue
            if op.outcome == "ok":
                self.done += 1
            else:  # not applied (MOVED, LOADING...) or unknown (timeout, reset): reconnect
                self.conn = None


PHASE = float(os.environ.get("CAIRN_LIN_PHASE", "2"))


def _wait_writes(workers: list[Worker], rec: Recorder, more: int, timeout: float = 30) -> None:
    """Until ``more`` operations completed after now (the shard serves again), and
    at least PHASE seconds of traffic."""
    start = sum(w.done for w in workers)
    began = time.monotonic()
    deadline = began + timeout
    while sum(w.done for w in workers) < start + more or time.monotonic() - began < PHASE:
        assert time.monotonic() < deadline, "writes did not resume"
        time.sleep(0.05)


def test_history_is_linearizable_across_faults(world: World) -> None:
    shard = world.shard
    rec = Recorder(unknown_prefixes=("MISCONF",))
    workers = [Worker(world, rec, wid, seed=wid * 7919) for wid in range(6)]
    for w in workers:
        w.start()
    faults: list[str] = []
    try:
        _wait_writes(workers, rec, 200)
        # 1. SIGKILL the primary; it comes back as a replica.
        old = shard.primary()
        shard.kill(old)
        faults.append("kill")
        shard.primary(exclude=old, timeout=20)
        _wait_writes(workers, rec, 200)
        shard.start(old)
        shard.wait_roles(timeout=30)
        # 2. SIGSTOP the primary past its lease, then let it run again.
        old = shard.primary()
        shard.pause(old)
        faults.append("pause")
        shard.primary(exclude=old, timeout=20)
        _wait_writes(workers, rec, 200)
        shard.resume(old)
        shard.wait_roles(timeout=30)
        # 3. Cut the primary off from etcd and from its clients, then heal.
        old = shard.primary()
        cut = next(pn for pn in world.nodes if pn.node is old)
        cut.cut_off()
        faults.append("partition")
        try:
            shard_primary = None
            deadline = time.monotonic() + 20
            while shard_primary is None:
                assert time.monotonic() < deadline, "no new primary after the partition"
                others = [pn for pn in world.nodes if pn is not cut]
                for pn in others:
                    if pn.node.role() == "master":  # type: ignore[attr-defined]
                        shard_primary = pn
                time.sleep(0.05)
            _wait_writes(workers, rec, 200)
        finally:
            cut.heal()
        shard.wait_roles(timeout=30)
        _wait_writes(workers, rec, 100)
    finally:
        for w in workers:
            w.stop.set()
        for w in workers:
            w.join(10)
    history = rec.history()
    summary = rec.summary()
    models = {**{k: RegisterModel() for k in REGISTERS}, **{k: CounterModel() for k in COUNTERS},
              **{k: ListModel() for k in LISTS}}
    for name, model in (("registers", RegisterModel()), ("counters", CounterModel()),
                        ("lists", ListModel())):
        keys = {k for k, m in models.items() if type(m) is type(model)}
        ops = [op for op in history if op.key in keys]
        result = check(ops, model, timeout=float(os.environ.get("CAIRN_LIN_TIMEOUT", "120")))
        assert result.status != "illegal", f"{name}: not linearizable\n{result.explain()}"
        assert result.ok, f"{name}: checker gave up ({result.status}); {summary}"
    # Every replica converges to the primary's state.
    primary = shard.primary()
    p = redis.Redis(port=primary.port)
    expected = {k: p.get(k) for k in REGISTERS + COUNTERS} | {k: p.lrange(k, 0, -1) for k in LISTS}
    for node in shard.nodes:
        if node is primary:
            continue
        r = redis.Redis(port=node.port)
        r.execute_command("READONLY")
        deadline = time.monotonic() + 20
        while True:
            got = {k: r.get(k) for k in REGISTERS + COUNTERS} | {k: r.lrange(k, 0, -1) for k in LISTS}
            if got == expected:
                break
            assert time.monotonic() < deadline, f"{node.name} did not converge"
            time.sleep(0.1)
    assert faults == ["kill", "pause", "partition"]
    assert not [e for w in workers for e in w.unexpected], [e for w in workers for e in w.unexpected][:5]
    print(f"linearizability: {summary}; faults {faults}")
    assert len(history) > 800, summary
