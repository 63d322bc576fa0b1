"""A fault-injecting TCP proxy for loopback tests (etcd's gRPC, RESP, anything).

    proxy = FaultProxy(upstream=("127.0.0.1", etcd_port)).start()
    client connects to proxy.address
    proxy.cut()          # reset every connection, refuse new ones (a dead host)
    proxy.blackhole()    # forward nothing either way, hold connections open
    proxy.delay(50)      # add 50 ms to every chunk
    proxy.heal()         # back to a clean link
    proxy.stop()

The proxy runs an asyncio loop in a background thread; every control method is
synchronous and has taken effect when it returns. Bytes are forwarded unchanged
and in order, chunk by chunk, with TCP_NODELAY on both legs, and half-closes
(FIN) are passed on, so HTTP/2 and RESP work through it untouched.

A blackhole behaves like packets that vanish: the proxy stops reading from the
sockets (the sender's window fills and its writes stall) and holds what it has
already read. Peers see silence and time out, never a reset. ``heal`` delivers
the held bytes, as TCP retransmission would after a short partition; for a
partition long enough to kill connections, ``cut`` then ``heal``. New
connections during a blackhole are accepted by the kernel but not connected
upstream until the link heals.

Only loopback addresses (127.0.0.0/8) are accepted, for both ends.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import struct
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Literal, TypeVar

__all__ = ["Direction", "FaultProxy"]

Direction = Literal["both", "c2s", "s2c"]  # client->server, server->client
_DIRS = ("c2s", "s2c")
_T = TypeVar("_T")


def _loopback(address: tuple[str, int], what: str) -> tuple[str, int]:
    host, port = address
    if host == "localhost":
        host = "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{what}: {host!r} is not an IP address") from None
    if not (ip.version == 4 and ip in ipaddress.ip_network("127.0.0.0/8")):
        raise ValueError(f"{what}: {host} is not a loopback address (127.0.0.0/8 only)")
    return host, int(port)


def _dirs(direction: Direction) -> tuple[str, ...]:
    if direction == "both":
        return _DIRS
    if direction in _DIRS:
        return (direction,)
    raise ValueError(f"direction must be 'both', 'c2s' or 's2c', not {direction!r}")


def _tune(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


def _reset(writer: asyncio.StreamWriter | None) -> None:
    """Close with an RST (SO_LINGER 0), not a FIN."""
    if writer is None:
        return
    transport = writer.transport
    if transport.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


class _Link:
    """One proxied connection: the client leg, the upstream leg, their pumps."""

    __slots__ = ("client", "main", "tasks", "upstream")

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.main = asyncio.current_task()  # the handler, which may wait at a gate
        self.tasks: list[asyncio.Task[None]] = []

    def reset(self) -> None:
        current = asyncio.current_task()
        for task in (*self.tasks, self.main):
            if task is not None and task is not current:
                task.cancel()
        _reset(self.client)
        _reset(self.upstream)


class FaultProxy:
    """A TCP proxy on loopback whose link can be cut, blackholed, delayed, healed."""

    def __init__(
        self,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        upstream: tuple[str, int] | None = None,
        *,
        chunk_size: int = 65536,
        queue_chunks: int = 16,
        name: str = "faultproxy",
    ) -> None:
        if upstream is None:
            raise ValueError("upstream=(host, port) is required")
        self.listen_address = _loopback(listen, "listen")
        self.upstream = _loopback(upstream, "upstream")
        self.chunk_size = chunk_size
        self.queue_chunks = queue_chunks
        self.name = name
        self.accepted = 0
        self.bytes = dict.fromkeys(_DIRS, 0)  # forwarded (delivered) bytes
        self._port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._open: dict[str, asyncio.Event] = {}
        self._delay = dict.fromkeys(_DIRS, 0.0)
        self._jitter = dict.fromkeys(_DIRS, 0.0)
        self._refusing = False

    # ------------------------------------------------------------------
    # Lifecycle (called from the test's thread)

    def start(self) -> FaultProxy:
        if self._thread is not None:
            raise RuntimeError("already started")
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()
        self._run(self._init())
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._run(self._shutdown())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start() if self._thread is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return self.listen_address[0], self._port

    @property
    def port(self) -> int:
        return self._port

    @property
    def connections(self) -> int:
        """Connections currently held (accepted and not yet closed)."""
        return len(self._links)

    # ------------------------------------------------------------------
    # Faults

    def cut(self) -> None:
        """Reset every connection (both legs) and refuse new ones until ``heal``."""
        self._run(self._cut(refuse=True))

    def drop_connections(self) -> None:
        """Reset every current connection but keep accepting new ones."""
        self._run(self._cut(refuse=False))

    def blackhole(self, direction: Direction = "both") -> None:
        """Stop forwarding (one direction or both); hold the bytes and connections."""
        self._run(self._set_open(_dirs(direction), False))

    def delay(self, ms: float, direction: Direction = "both", jitter_ms: float = 0.0) -> None:
        """Deliver every chunk ``ms`` (+ up to ``jitter_ms``) after it was read; order kept."""
        if ms < 0 or jitter_ms < 0:
            raise ValueError("delay must be >= 0")

        async def set_delay() -> None:
            for d in _dirs(direction):
                self._delay[d] = ms / 1000.0
                self._jitter[d] = jitter_ms / 1000.0

        self._run(set_delay())

    def heal(self) -> None:
        """Accept again, forward both ways (held bytes are delivered), no delay."""
        self._run(self._heal())

    @property
    def healthy(self) -> bool:
        return (
            not self._refusing
            and all(e.is_set() for e in self._open.values())
            and not any(self._delay.values())
            and not any(self._jitter.values())
        )

    # ------------------------------------------------------------------
    # Inside the loop

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("proxy not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    async def _init(self) -> None:
        self._open = {d: asyncio.Event() for d in _DIRS}
        for event in self._open.values():
            event.set()
        await self._listen()

    async def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.listen_address[0], self._port or self.listen_address[1]))
            sock.listen(512)
            sock.setblocking(False)
            self._server = await asyncio.start_server(
                self._accept, sock=sock, limit=self.chunk_size * 2
            )
        except BaseException:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        self._refusing = False

    async def _cut(self, refuse: bool) -> None:
        if refuse and self._server is not None:
            self._server.close()
            self._server = None
            self._refusing = True
        links = list(self._links)
        for link in links:
            link.reset()
        handlers = [link.main for link in links if link.main is not None]
        if handlers:
            await asyncio.gather(*handlers, return_exceptions=True)

    async def _set_open(self, dirs: tuple[str, ...], flowing: bool) -> None:
        for d in dirs:
            if flowing:
                self._open[d].set()
            else:
                self._open[d].clear()

    async def _heal(self) -> None:
        for d in _DIRS:
            self._delay[d] = 0.0
            self._jitter[d] = 0.0
        await self._set_open(_DIRS, True)
        if self._server is None:
            await self._listen()

    async def _shutdown(self) -> None:
        await self._cut(refuse=True)

    async def _accept(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        link = _Link(cwriter)
        self._links.add(link)
        self.accepted += 1
        _tune(cwriter)
        try:
            # A partitioned link does not get as far as the server.
            for d in _DIRS:
                await self._open[d].wait()
            try:
                ureader, uwriter = await asyncio.open_connection(
                    *self.upstream, limit=self.chunk_size * 2
                )
            except OSError:
                _reset(cwriter)  # upstream down: the client sees a reset at once
                return
            link.upstream = uwriter
            _tune(uwriter)
            queues: list[asyncio.Queue[tuple[float, bytes] | None]] = [
                asyncio.Queue(self.queue_chunks) for _ in _DIRS
            ]
            link.tasks = [
                asyncio.ensure_future(self._read(creader, queues[0], "c2s")),
                asyncio.ensure_future(self._write(uwriter, queues[0], "c2s")),
                asyncio.ensure_future(self._read(ureader, queues[1], "s2c")),
                asyncio.ensure_future(self._write(cwriter, queues[1], "s2c")),
            ]
            # Returns when every pump has finished (both legs closed cleanly) or
            # as soon as one fails.
            done, _ = await asyncio.wait(link.tasks, return_when=asyncio.FIRST_EXCEPTION)
            if any(not t.cancelled() and t.exception() is not None for t in done):
                link.reset()  # one leg failed: the other sees a reset too
        except (OSError, asyncio.CancelledError):
            link.reset()
        finally:
            for task in link.tasks:
                task.cancel()
            for writer in (link.client, link.upstream):
                if writer is not None and not writer.transport.is_closing():
                    writer.transport.close()
            self._links.discard(link)

    async def _read(
        self,
        reader: asyncio.StreamReader,
        queue: asyncio.Queue[tuple[float, bytes] | None],
        direction: str,
    ) -> None:
        gate = self._open[direction]
        loop = asyncio.get_running_loop()
        while True:
            await gate.wait()
            data = await reader.read(self.chunk_size)
            if not data:
                await queue.put(None)
                return
            due = 0.0
            delay = self._delay[direction]
            jitter = self._jitter[direction]
            if delay or jitter:
                due = loop.time() + delay + (random.uniform(0, jitter) if jitter else 0.0)
            await queue.put((due, data))

    async def _write(
        self,
        writer: asyncio.StreamWriter,
        queue: asyncio.Queue[tuple[float, bytes] | None],
        direction: str,
    ) -> None:
        gate = self._open[direction]
        loop = asyncio.get_running_loop()
        while True:
            item = await queue.get()
            if item is None:
                await gate.wait()
                if writer.can_write_eof() and not writer.transport.is_closing():
                    writer.write_eof()
                return
            due, data = item
            if due:
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            await gate.wait()
            writer.write(data)
            await writer.drain()
            self.bytes[direction] += len(data)
