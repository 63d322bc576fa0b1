"""One client connection: an asyncio Protocol around the sans-IO parser.

Replies of one read are joined into one write. A reply whose barrier LSN is not
yet durable is held, and so is every later reply of the same client, so no
reply overtakes an earlier one.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from cairn.commands.context import Client, Server
from cairn.commands.dispatch import BLOCKED, POSTPONE, execute
from cairn.protocol import (
    OK,
    ErrorReply,
    ProtocolError,
    QueryBufferOverflow,
    RequestParser,
    encode,
    encode_error,
)
from cairn.protocol.replies import SMALL_INTS

if TYPE_CHECKING:
    from cairn.net.listener import Node

_MAX_CLIENTS = b"-ERR max number of clients reached\r\n"


class Connection(asyncio.Protocol):
    def __init__(self, node: Node) -> None:
        self.node = node
        self.server: Server = node.server
        self.transport: asyncio.Transport | None = None
        self.client: Client | None = None
        self.parser = RequestParser()
        self.queue: deque[list[bytes]] = deque()  # parsed, not yet executed
        self.held: deque[tuple[int, bytes]] = deque()  # replies waiting for their LSN
        self.pending_error: ProtocolError | None = None
        self.reading_paused = False
        self.retry_handle: asyncio.TimerHandle | None = None
        self.blocked = False  # a blocking command is parked: later requests wait
        self.batch: list[bytes] | None = None  # replies of the read being run
        # Pushes (pub/sub messages...) produced by other clients' commands, written
        # together once per loop pass (Node.flush_pushes) instead of one send each.
        self.pushes: list[bytes] | None = None
        self.pushes_bytes = 0
        self.out_bytes = 0

    # -- asyncio callbacks ---------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        server = self.server
        if len(server.clients) >= server.config["maxclients"]:
            server.stat_rejected_conn += 1
            transport.write(_MAX_CLIENTS)  # type: ignore[attr-defined]
            transport.close()
            return
        sock = transport.get_extra_info("socket")
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        client = Client(server, _addr(peer), _addr(local), sock.fileno() if sock else -1)
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            keepalive = server.config["tcp-keepalive"]
            if keepalive > 0:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                if hasattr(socket, "TCP_KEEPIDLE"):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, keepalive)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, keepalive // 3))
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
        client.push = self.push
        client.unblocked = self.unblocked
        client.close = self.close
        client.output_bytes = self._output_bytes
        client.query_bytes = lambda: self.parser.buffered
        self.parser.max_bulk_len = server.config["proto-max-bulk-len"]
        self.parser.query_buffer_limit = server.config["client-query-buffer-limit"]
        self.parser.authenticated = client.authenticated
        self.client = client
        server.add_client(client)
        self.node.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.retry_handle is not None:
            self.retry_handle.cancel()
        if self.client is not None:
            self.client.closing = True
            self.server.remove_client(self.client)
        self.node.connections.discard(self)
        self.node.tracker_pending.discard(self)
        self.queue.clear()
        self.held.clear()

    def data_received(self, data: bytes) -> None:
        client = self.client
        if client is None or client.closing or client.close_after_reply:
            return
        self.server.stat_net_input += len(data)
        client.last_interaction = time.monotonic()
        parser = self.parser
        while True:
            try:
                commands, error = parser.feed(data)
            except QueryBufferOverflow:
                self.close()
                return
            if error is not None:
                self.pending_error = error
            if self.queue or self.blocked:
                self.queue.extend(commands)
                return  # a postponed or parked command is first in line
            self._run(commands)
            # An unauthenticated client's requests are parsed one at a time.
            if not parser.more or self.queue or client.closing or client.close_after_reply:
                return
            data = b""

    def pause_writing(self) -> None:
        # The client does not read its replies: stop reading its requests.
        if self.transport is not None and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()

    # -- running commands ----------------------------------------------------
    def _run(self, commands: Any) -> None:
        client = self.client
        assert client is not None
        server = self.server
        if self.pushes is not None:
            self.flush_pushes()  # older than anything this read produces
        out: list[bytes] = []
        # Pushes to this client while its commands run (its own SUBSCRIBE
        # confirmations, a RESP3 client's own PUBLISH) join ``out`` in order.
        self.batch = out
        # The highest barrier of the replies in ``out``: they leave together,
        # once it is durable (like Redis, which writes a read's replies after
        # the fsync of its iteration).
        barrier = 0
        i = 0
        for argv in commands:
            reply, lsn = execute(server, client, argv)
            if reply is POSTPONE:
                self.queue.extend(commands[i:] if isinstance(commands, list) else commands)
                self._schedule_retry()
                break
            if reply is BLOCKED:
                self.blocked = True
                self.queue.extend(commands[i + 1 :] if isinstance(commands, list) else commands)
                break
            i += 1
            if client.reply_mode != "on":
                if client.skip_next_reply:
                    client.skip_next_reply = False
                    continue
                if client.reply_mode == "off" or client.reply_mode == "skip":
                    if client.reply_mode == "skip":
                        client.reply_mode = "on"
                    continue
            # The most common replies, encoded inline (the same in RESP2 and RESP3).
            kind = type(reply)
            if kind is bytes:
                data = b"$%d\r\n%s\r\n" % (len(reply), reply)
            elif reply is OK:
                data = b"+OK\r\n"
            elif kind is int and -1 <= reply <= 1023:
                data = SMALL_INTS[reply + 1]
            else:
                data = encode(reply, client.resp == 3)
            out.append(data)
            if lsn > barrier:
                barrier = lsn
            if client.close_after_reply or client.closing:
                break
        self.batch = None
        # Limits for what is parsed next (AUTH, HELLO AUTH, RESET change it).
        self.parser.authenticated = client.authenticated
        if out:
            data = b"".join(out) if len(out) > 1 else out[0]
            held = self.held
            committed = server.log.committed
            if held or barrier > committed:
                if held and barrier < held[-1][0]:
                    barrier = held[-1][0]
                held.append((barrier, data))
                self.node.tracker_pending.add(self)
                self.release(committed)
            else:
                self._write(data)
        if client.close_after_reply:
            # Like Redis, nothing after QUIT (or a killed client) is looked at,
            # not even a protocol error further down the same read.
            self.pending_error = None
        elif self.pending_error is not None and not self.queue:
            message = "ERR Protocol error: " + str(self.pending_error)
            server.count_error(message)
            self.pending_error = None
            self._write_or_hold(encode_error(message))
            client.close_after_reply = True
        if client.close_after_reply:
            self._close_when_flushed()

    def _run_queue(self) -> None:
        self.retry_handle = None
        if self.client is None or self.client.closing:
            return
        pending = list(self.queue)
        self.queue.clear()
        self._run(pending)
        if self.parser.more and not self.queue:
            self.data_received(b"")

    def unblocked(self, reply: Any, lsn: int) -> None:
        """The parked command's reply: send (or hold) it, then run what queued up."""
        client = self.client
        if client is None or client.closing or not self.blocked:
            return
        self.blocked = False
        if self.pushes is not None:
            self.flush_pushes()
        if client.reply_mode == "on" and not client.skip_next_reply:
            data = encode(reply, client.resp == 3)
            held = self.held
            if held or lsn > self.server.log.committed:
                held.append((max(lsn, held[-1][0]) if held else lsn, data))
                self.node.tracker_pending.add(self)
                self.release(self.server.log.committed)
            else:
                self._write(data)
        elif client.skip_next_reply:
            client.skip_next_reply = False
        elif client.reply_mode == "skip":
            client.reply_mode = "on"
        if self.queue:
            asyncio.get_running_loop().call_soon(self._run_queue)

    def _schedule_retry(self) -> None:
        if self.retry_handle is None:
            loop = asyncio.get_running_loop()
            self.retry_handle = loop.call_later(0.01, self._run_queue)

    # -- output --------------------------------------------------------------
    def release(self, committed: int, prefix: list[bytes] | None = None) -> None:
        """Write every held reply whose barrier is durable, in order."""
        out = prefix if prefix is not None else []
        held = self.held
        while held and held[0][0] <= committed:
            out.append(held.popleft()[1])
        if out:
            self._write(b"".join(out))
        if not held:
            self.node.tracker_pending.discard(self)
            if self.client is not None and self.client.close_after_reply:
                self._close_when_flushed()

    def _write_or_hold(self, data: bytes) -> None:
        if self.held:
            self.held.append((self.held[-1][0], data))
        else:
            self._write(data)

    def _write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self.server.stat_net_output += len(data)
            transport.write(data)

    def push(self, value: Any) -> None:
        """An out-of-band message (pub/sub, MONITOR): written at once."""
        client = self.client
        if client is None or client.closing:
            return
        try:
            data = encode(value, client.resp == 3)
        except ErrorReply:
            return
        if self.batch is not None:
            self.batch.append(data)
            return
        if self.node.loop is None:  # not serving on a loop (in-process use)
            self._write_or_hold(data)
            return
        pushes = self.pushes
        if pushes is None:
            self.pushes = [data]
            self.pushes_bytes = len(data)
            self.node.push_pending(self)
        else:
            pushes.append(data)
            self.pushes_bytes += len(data)

    def flush_pushes(self) -> None:
        pushes = self.pushes
        if pushes is None:
            return
        self.pushes = None
        self.pushes_bytes = 0
        if self.client is None or self.client.closing:
            return
        self._write_or_hold(b"".join(pushes) if len(pushes) > 1 else pushes[0])

    def _output_bytes(self) -> int:
        transport = self.transport
        pending = self.pushes_bytes
        return pending + (transport.get_write_buffer_size() if transport is not None else 0)

    def _close_when_flushed(self) -> None:
        if self.held:
            return  # closed by release() once the held replies are out
        if self.transport is not None:
            self.transport.close()  # asyncio flushes the write buffer first
        if self.client is not None:
            self.client.closing = True

    def close(self) -> None:
        """Close now (CLIENT KILL, timeouts, output buffer limits, SHUTDOWN): like
        Redis freeing the client, whatever it had not read yet is dropped."""
        if self.client is not None:
            self.client.closing = True
        self.pushes = None
        self.pushes_bytes = 0
        if self.transport is not None:
            self.transport.abort()


def _addr(info: Any) -> str:
    if isinstance(info, tuple) and len(info) >= 2:
        host = info[0]
        return f"[{host}]:{info[1]}" if ":" in host else f"{host}:{info[1]}"
    if isinstance(info, str):
        return info
    return ""
