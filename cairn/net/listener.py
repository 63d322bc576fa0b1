"""The node: listeners, the server cron, commit notifications and shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import select
import signal
import time
from typing import TYPE_CHECKING

from cairn.commands.context import Server
from cairn.observability.info import sample_instantaneous

if TYPE_CHECKING:
    from cairn.net.connection import Connection

log = logging.getLogger("cairn")


class Node:
    """Runs one Server on an event loop."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.connections: set[Connection] = set()
        # Connections holding replies until the log commits their barrier.
        self.tracker_pending: set[Connection] = set()
        # Connections with pushes waiting for the end of this loop pass.
        self.pushes_pending: list[Connection] = []
        self.listeners: list[asyncio.AbstractServer] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping: asyncio.Event | None = None
        self._resume_running = False
        self._last_resume_attempt = 0.0
        server.log.subscribe(self._on_commit)
        server.shutdown_requested = self.request_shutdown
        server.busy_poll = self.busy_poll

    def _on_commit(self, committed: int) -> None:
        """Called by the log (on any thread) when its committed LSN advances."""
        loop = self.loop
        if loop is None:
            return
        loop.call_soon_threadsafe(self._release, committed)

    def push_pending(self, conn: Connection) -> None:
        """``conn`` has pushes to write: flush them all once this loop pass is done."""
        if not self.pushes_pending and self.loop is not None:
            self.loop.call_soon(self.flush_pushes)
        self.pushes_pending.append(conn)

    def flush_pushes(self) -> None:
        pending = self.pushes_pending
        self.pushes_pending = []
        for conn in pending:
            conn.flush_pushes()

    def _release(self, committed: int) -> None:
        self.server.keyspace.release_pending(committed)
        for conn in list(self.tracker_pending):
            conn.release(committed)

    async def start(self, host: str | None = None, port: int | None = None) -> list[tuple[str, int]]:
        from cairn.net.connection import Connection

        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        self.server.call_later = self.loop.call_later
        config = self.server.config
        port = config["port"] if port is None else port
        hosts = [h.lstrip("-") for h in (host or config["bind"]).split()]
        bound: list[tuple[str, int]] = []
        for h in hosts:
            try:
                srv = await self.loop.create_server(
                    lambda: Connection(self),
                    h,
                    port,
                    backlog=config["tcp-backlog"],
                    reuse_address=True,
                )
            except OSError as exc:
                # Like Redis, an optional ("-" prefixed) or IPv6 address that
                # cannot be bound is skipped when another address works.
                if len(hosts) > 1 and (":" in h):
                    log.warning("could not bind %s:%s: %s", h, port, exc)
                    continue
                raise
            self.listeners.append(srv)
            for sock in srv.sockets:
                name = sock.getsockname()
                bound.append((name[0], name[1]))
                if port == 0:
                    port = name[1]
        self.server.port = port
        self.loop.create_task(self._cron())
        replication = self.server.replication
        if replication is not None:
            replication.disconnect_all = self.disconnect_all
            if not replication.address:
                replication.address = f"{bound[0][0]}:{port}" if bound else f"127.0.0.1:{port}"
            replication.start()
        return bound

    async def _cron(self) -> None:
        server = self.server
        while self.stopping is not None and not self.stopping.is_set():
            hz = server.config["hz"]
            await asyncio.sleep(1.0 / hz)
            keyspace = server.keyspace
            keyspace.lru_clock = int(time.time())
            sample_instantaneous(server)
            removed = 0
            paused = server.paused_until and time.monotonic() < server.paused_until
            # No active expiry while the log is failed (its DELs could not be made
            # durable) or while clients are paused (like Redis: the dataset is frozen).
            if server.log.failure is None and not paused:
                removed = keyspace.active_expire_cycle(budget_s=0.25 / hz)
            if keyspace.effects:
                # Active expiry's DELs are durable like any write.
                keyspace.mark_pending(server.log.append(keyspace.take_effects()))
            if removed:
                log.debug("active expire removed %d keys", removed)
            self._close_idle_clients()
            self._maybe_resume_log()
            if server.snapshots is not None:
                server.snapshots.cron()  # automatic snapshots by log size

    def _maybe_resume_log(self) -> None:
        """After a write/fsync failure, re-check the log about once a second (off
        the loop: it does disk I/O). Writes resume only when the check passes."""
        server_log = self.server.log
        if server_log.failure is None or self._resume_running or self.loop is None:
            return
        now = time.monotonic()
        if now - self._last_resume_attempt < 1.0:
            return
        self._last_resume_attempt = now
        self._resume_running = True

        def done(future: asyncio.Future[bool]) -> None:
            self._resume_running = False
            if not future.cancelled() and future.exception() is None and future.result():
                log.warning("transaction log healthy again: writes accepted")

        self.loop.run_in_executor(None, server_log.try_resume).add_done_callback(done)

    def _close_idle_clients(self) -> None:
        timeout = self.server.config["timeout"]
        if not timeout:
            return
        now = time.monotonic()
        for conn in list(self.connections):
            client = conn.client
            if client is None or client.is_monitor:
                continue
            if now - client.last_interaction > timeout and not conn.held:
                conn.close()

    def busy_poll(self) -> None:
        """Called from inside a script that runs past busy-reply-threshold (the event
        loop is blocked meanwhile): read what other clients sent and handle it, so
        they get BUSY and SCRIPT KILL / FUNCTION KILL / SHUTDOWN NOSAVE get through.
        The script's own client is not read (its next command waits for the script).
        New connections wait in the listen backlog until the script ends."""
        running = self.server.script_running
        caller = running.caller if running is not None else None
        by_fd: dict[int, Connection] = {}
        for conn in self.connections:
            transport = conn.transport
            if transport is None or conn.client is caller or transport.is_closing():
                continue
            sock = transport.get_extra_info("socket")
            if sock is not None:
                by_fd[sock.fileno()] = conn
        if not by_fd:
            return
        try:
            ready, _, _ = select.select(list(by_fd), [], [], 0)
        except (OSError, ValueError):
            return
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                continue
            if data:  # (at EOF the loop sees the close itself once the script ends)
                by_fd[fd].data_received(data)

    def disconnect_all(self) -> None:
        """Close every client connection (a primary stepping down: held replies are dropped)."""
        for conn in list(self.connections):
            conn.close()

    def request_shutdown(self) -> None:
        if self.stopping is not None:
            self.stopping.set()

    async def serve_forever(self) -> None:
        assert self.loop is not None and self.stopping is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self.loop.add_signal_handler(sig, self.request_shutdown)
            except (NotImplementedError, RuntimeError):
                pass
        await self.stopping.wait()
        await self.stop()

    async def stop(self) -> None:
        for srv in self.listeners:
            srv.close()
        for conn in list(self.connections):
            conn.close()
        for srv in self.listeners:
            await srv.wait_closed()
        if self.server.snapshots is not None:
            await self.server.snapshots.close()  # stops a running builder
        self.server.log.close()


def run(server: Server, host: str | None = None, port: int | None = None) -> None:
    """Run a node until SIGTERM, SIGINT or SHUTDOWN."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def main() -> None:
        node = Node(server)
        bound = await node.start(host, port)
        log.info("Ready to accept connections on %s", ", ".join(f"{h}:{p}" for h, p in bound))
        await node.serve_forever()

    asyncio.run(main())
