"""Who is in the shard: each node publishes itself under ``P members/<node id>``.

The value (JSON) says the node's zone, client address, role and the newest LSN it
has applied; the key is bound to the node's own member lease, so a dead node
disappears from the topology a few seconds after it died. Every node watches the
prefix: that is where CLUSTER SLOTS/SHARDS/NODES get the other nodes from, and
where WAIT learns how far each replica got. A node re-publishes when its role or
address changes, and its applied LSN at most every ``progress_interval``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from cairn.durability.etcd import proto as pb
from cairn.durability.etcd.client import EtcdError, prefix_end

log = logging.getLogger("cairn.replication")


@dataclass
class MemberInfo:
    node_id: str
    zone: str
    address: str
    role: str  # "primary" | "replica"
    applied: int
    epoch: int

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.address.rpartition(":")
        return host, int(port) if port.isdigit() else 0


class MemberRegistry:
    def __init__(self, prefix: bytes, submit: Callable[[Any], Future[Any]], client: Any,
                 describe: Callable[[], MemberInfo], *, ttl: int = 5,
                 progress_interval: float = 0.02) -> None:
        self.prefix = prefix + b"members/"
        self._submit = submit  # starts a coroutine on the etcd thread
        self._client = client
        self._describe = describe
        self.ttl = ttl
        self.progress_interval = progress_interval
        self.members: dict[str, MemberInfo] = {}
        self.listeners: list[Callable[[], None]] = []
        self._lease = 0
        self._published: MemberInfo | None = None
        self._poke = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._publish_loop()), loop.create_task(self._watch_loop())]

    async def _etcd(self, coro: Any) -> Any:
        return await asyncio.wrap_future(self._submit(coro))

    def stop(self) -> None:
        for t in self._tasks:
            t.cancel()

    def changed(self) -> None:
        """Something in describe() changed: publish soon."""
        self._poke.set()

    # -- publishing ------------------------------------------------------------
    async def _publish_loop(self) -> None:
        last_keepalive = 0.0
        while True:
            try:
                if not self._lease:
                    self._lease, _ = await self._etcd(self._client.lease_grant(self.ttl))
                    self._published = None
                now = time.monotonic()
                if now - last_keepalive > self.ttl / 3:
                    ttl = await self._etcd(self._client.lease_keepalive(self._lease))
                    if ttl <= 0:
                        self._lease = 0
                        continue
                    last_keepalive = now
                info = self._describe()
                if info != self._published:
                    key = self.prefix + info.node_id.encode()
                    await self._etcd(self._client.put(key, json.dumps(info.__dict__).encode(),
                                                      lease=self._lease))
                    self._published = info
            except asyncio.CancelledError:
                raise
            except EtcdError as exc:
                log.debug("member registry: %s", exc)
                if "lease not found" in str(exc):
                    self._lease = 0
                await asyncio.sleep(0.2)
                continue
            except Exception:
                log.exception("member registry")
                await asyncio.sleep(0.5)
                continue
            self._poke.clear()
            try:
                await asyncio.wait_for(self._poke.wait(), self.ttl / 3)
            except TimeoutError:
                pass
            await asyncio.sleep(self.progress_interval)

    # -- watching ----------------------------------------------------------------
    async def _watch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                resp = await self._etcd(self._client.range(self.prefix, prefix_end(self.prefix)))
                members = {}
                for kv in resp.kvs:
                    info = _decode(kv.value)
                    if info is not None:
                        members[info.node_id] = info
                self.members = members
                self._notify()
                queue: asyncio.Queue[Any] = asyncio.Queue()

                async def watch(start: int, queue: asyncio.Queue[Any] = queue) -> None:
                    # (runs on the etcd thread)
                    async for wresp in self._client.watch(self.prefix, prefix_end(self.prefix), start):
                        loop.call_soon_threadsafe(queue.put_nowait, list(wresp.events))

                future = asyncio.wrap_future(self._submit(watch(int(resp.header.revision) + 1)))
                try:
                    while True:
                        getter = loop.create_task(queue.get())
                        done, _ = await asyncio.wait({getter, future},
                                                     return_when=asyncio.FIRST_COMPLETED)
                        if getter not in done:
                            getter.cancel()
                            future.result()  # raises what ended the watch
                            break
                        for ev in getter.result():
                            node = ev.kv.key[len(self.prefix):].decode(errors="replace")
                            if ev.type == pb.EVENT_DELETE:
                                self.members.pop(node, None)
                            else:
                                info = _decode(ev.kv.value)
                                if info is not None:
                                    self.members[info.node_id] = info
                        self._notify()
                finally:
                    future.cancel()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("member watch: %s", exc)
                await asyncio.sleep(0.2)

    def _notify(self) -> None:
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:
                log.exception("member listener")


def _decode(value: bytes) -> MemberInfo | None:
    try:
        data = json.loads(value)
        return MemberInfo(**data)
    except (ValueError, TypeError):
        return None
