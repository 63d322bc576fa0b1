"""A thin asyncio client for the etcd v3 API over ``grpc.aio``.

gRPC does the plumbing (HTTP/2, TLS, deadlines); this module adds what Cairn needs
on top: several endpoints with failover, and an explicit answer to "did it happen?"
for calls whose outcome is unknown.

Endpoints: one channel per member. Calls go to the current member; when a call
fails with UNAVAILABLE (member down, or without a raft leader) or with a deadline,
the client moves to the next member. Reads and idempotent calls are retried there
(``retries``); a ``txn`` is never retried here, because whether a timed-out Txn was
applied is unknown: the caller (the log) re-reads and decides.

TLS: pass ``tls=TlsFiles(ca, cert, key)``; grpc's SSL channel credentials carry it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc import aio

from cairn.durability.etcd import proto as pb

log = logging.getLogger("cairn.etcd")

# Status codes that say "try another member": the member is down, has no raft
# leader, is shutting down, or did not answer in time.
_FAILOVER = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNKNOWN,
}


class EtcdError(Exception):
    """etcd answered with an error, or no member could be reached."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code

    @property
    def unknown_outcome(self) -> bool:
        """True when a write may or may not have been applied."""
        return self.code in _FAILOVER or self.code is None


class QuotaExceeded(EtcdError):
    """etcd's space quota is full (the NOSPACE alarm): writes are refused."""


@dataclass(frozen=True)
class TlsFiles:
    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        def read(path: str | None) -> bytes | None:
            if path is None:
                return None
            with open(path, "rb") as f:
                return f.read()

        return grpc.ssl_channel_credentials(read(self.ca), read(self.key), read(self.cert))


def parse_endpoints(spec: str | Sequence[str]) -> list[str]:
    """``"http://127.0.0.1:2379,127.0.0.1:22379"`` -> ``["127.0.0.1:2379", "127.0.0.1:22379"]``."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for item in items:
        item = item.strip()
        for scheme in ("http://", "https://"):
            if item.startswith(scheme):
                item = item[len(scheme):]
        if item:
            out.append(item.rstrip("/"))
    if not out:
        raise ValueError("no etcd endpoints given")
    return out


def prefix_end(prefix: bytes) -> bytes:
    """The range_end that selects every key starting with ``prefix``."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 8 * 1024 * 1024),
    # Keepalive pings no more often than etcd allows (--grpc-keepalive-min-time, 5 s
    # by default): more often and etcd answers GOAWAY "too_many_pings" and drops the
    # connection. Dead members are noticed by call deadlines anyway.
    ("grpc.keepalive_time_ms", 10000),
    ("grpc.keepalive_timeout_ms", 3000),
    ("grpc.keepalive_permit_without_calls", 0),
    # Reconnect quickly after a member comes back.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.enable_retries", 0),
]


class _Member:
    def __init__(self, endpoint: str, tls: TlsFiles | None) -> None:
        self.endpoint = endpoint
        if tls is not None:
            self.channel = aio.secure_channel(endpoint, tls.credentials(), options=_OPTIONS)
        else:
            self.channel = aio.insecure_channel(endpoint, options=_OPTIONS)
        self.calls: dict[str, Any] = {}
        for (service, method), (req, resp) in pb.METHODS.items():
            path = f"/etcdserverpb.{service}/{method}"
            request_cls, response_cls = pb.message(req), pb.message(resp)
            if method in ("Watch", "LeaseKeepAlive"):
                factory = self.channel.stream_stream
            else:
                factory = self.channel.unary_unary
            self.calls[method] = factory(
                path,
                request_serializer=request_cls.SerializeToString,
                response_deserializer=response_cls.FromString,
            )


class EtcdClient:
    """Must be created and used on one asyncio event loop (grpc.aio's rule)."""

    def __init__(
        self,
        endpoints: str | Sequence[str],
        *,
        timeout: float = 2.0,
        tls: TlsFiles | None = None,
        retries: int | None = None,
    ) -> None:
        self.endpoints = parse_endpoints(endpoints)
        self.timeout = timeout
        self.members = [_Member(e, tls) for e in self.endpoints]
        self.current = 0
        # By default a read tries every member once, then once more.
        self.retries = 2 * len(self.members) if retries is None else retries
        self.failovers = 0

    @property
    def endpoint(self) -> str:
        return self.members[self.current].endpoint

    def _next_member(self, failed: int) -> None:
        if self.current == failed:
            self.current = (failed + 1) % len(self.members)
            self.failovers += 1

    async def close(self) -> None:
        for m in self.members:
            await m.channel.close()

    # -- unary calls ---------------------------------------------------------
    async def _call(self, method: str, request: Any, *, retry: bool, timeout: float | None = None,
                    member: int | None = None) -> Any:
        attempts = (self.retries if retry else 0) + 1
        last: EtcdError | None = None
        for attempt in range(attempts):
            index = self.current if member is None else member
            try:
                return await self.members[index].calls[method](
                    request, timeout=timeout or self.timeout, wait_for_ready=False
                )
            except aio.AioRpcError as exc:
                last = _error(exc)
                if isinstance(last, QuotaExceeded) or exc.code() not in _FAILOVER:
                    raise last from None
                if member is None:
                    self._next_member(index)
                if attempt + 1 < attempts:
                    # After a full round of members, back off a little.
                    if (attempt + 1) % len(self.members) == 0:
                        await asyncio.sleep(0.05)
        assert last is not None
        raise last

    async def range(self, key: bytes, range_end: bytes = b"", *, limit: int = 0,
                    revision: int = 0, serializable: bool = False, keys_only: bool = False,
                    count_only: bool = False) -> Any:
        req = pb.RangeRequest(key=key, range_end=range_end, limit=limit, revision=revision,
                              serializable=serializable, keys_only=keys_only, count_only=count_only)
        return await self._call("Range", req, retry=True)

    async def get(self, key: bytes) -> Any | None:
        """The KeyValue at ``key`` (linearizable read), or None."""
        resp = await self.range(key)
        return resp.kvs[0] if resp.kvs else None

    async def put(self, key: bytes, value: bytes, *, lease: int = 0) -> Any:
        """A plain put: retried, so only for values where a second copy is harmless."""
        return await self._call("Put", pb.PutRequest(key=key, value=value, lease=lease), retry=True)

    async def delete_range(self, key: bytes, range_end: bytes = b"") -> int:
        resp = await self._call("DeleteRange", pb.DeleteRangeRequest(key=key, range_end=range_end),
                                retry=True)
        return int(resp.deleted)

    async def txn(self, compare: list[Any], success: list[Any], failure: list[Any] | None = None,
                  *, timeout: float | None = None) -> Any:
        """One Txn, sent once. EtcdError.unknown_outcome tells whether it may have applied."""
        req = pb.TxnRequest(compare=compare, success=success, failure=failure or [])
        return await self._call("Txn", req, retry=False, timeout=timeout)

    async def compact(self, revision: int, physical: bool = False) -> None:
        try:
            await self._call("Compact", pb.CompactionRequest(revision=revision, physical=physical),
                             retry=True, timeout=max(self.timeout, 10.0))
        except EtcdError as exc:
            if "required revision has been compacted" not in str(exc):
                raise

    async def lease_grant(self, ttl: int) -> tuple[int, int]:
        resp = await self._call("LeaseGrant", pb.LeaseGrantRequest(TTL=ttl), retry=True)
        if resp.error:
            raise EtcdError(resp.error)
        return int(resp.ID), int(resp.TTL)

    async def lease_revoke(self, lease_id: int) -> None:
        try:
            await self._call("LeaseRevoke", pb.LeaseRevokeRequest(ID=lease_id), retry=True)
        except EtcdError as exc:
            if "lease not found" not in str(exc):
                raise

    async def lease_keepalive(self, lease_id: int, *, timeout: float | None = None) -> int:
        """Renew once; returns the new TTL (0: the lease is gone)."""
        index = self.current
        call = self.members[index].calls["LeaseKeepAlive"]
        stream = call(timeout=timeout or self.timeout)
        try:
            await stream.write(pb.LeaseKeepAliveRequest(ID=lease_id))
            resp = await stream.read()
        except aio.AioRpcError as exc:
            err = _error(exc)
            if exc.code() in _FAILOVER:
                self._next_member(index)
            raise err from None
        finally:
            stream.cancel()
        if resp is aio.EOF:
            self._next_member(index)
            raise EtcdError("keepalive stream closed", grpc.StatusCode.UNAVAILABLE)
        return int(resp.TTL)

    # -- maintenance (per member) -------------------------------------------------
    async def status(self, member: int) -> Any:
        return await self._call("Status", pb.StatusRequest(), retry=False, member=member)

    async def defragment(self, member: int) -> None:
        await self._call("Defragment", pb.DefragmentRequest(), retry=False, member=member,
                         timeout=max(self.timeout, 30.0))

    async def alarms(self) -> list[tuple[int, int]]:
        resp = await self._call("Alarm", pb.AlarmRequest(action=pb.ALARM_GET), retry=True)
        return [(int(a.memberID), int(a.alarm)) for a in resp.alarms]

    async def disarm(self, member_id: int, alarm: int) -> None:
        await self._call("Alarm", pb.AlarmRequest(action=pb.ALARM_DEACTIVATE, memberID=member_id,
                                                  alarm=alarm), retry=True)

    # -- watch -------------------------------------------------------------------
    async def watch(self, key: bytes, range_end: bytes, start_revision: int,
                    *, progress_notify: bool = True) -> AsyncIterator[Any]:
        """WatchResponses for keys in [key, range_end) from ``start_revision`` on.

        Follows member failures: when a stream breaks it is re-created on the next
        member from the revision after the last one delivered. Raises EtcdError
        with ``compact_revision`` set when the history asked for was compacted.
        """
        next_revision = start_revision
        failures = 0
        while True:
            index = self.current
            stream = self.members[index].calls["Watch"]()
            try:
                create = pb.WatchCreateRequest(key=key, range_end=range_end,
                                               start_revision=next_revision,
                                               progress_notify=progress_notify)
                await stream.write(pb.WatchRequest(create_request=create))
                while True:
                    resp = await stream.read()
                    if resp is aio.EOF:
                        raise EtcdError("watch stream ended", grpc.StatusCode.UNAVAILABLE)
                    failures = 0
                    if resp.compact_revision:
                        err = EtcdError(f"watch: revision {next_revision} was compacted "
                                        f"(compact revision {resp.compact_revision})")
                        err.compact_revision = resp.compact_revision  # type: ignore[attr-defined]
                        raise err
                    if resp.canceled:
                        raise EtcdError(f"watch canceled: {resp.cancel_reason}",
                                        grpc.StatusCode.UNAVAILABLE)
                    if resp.events:
                        next_revision = resp.events[-1].kv.mod_revision + 1
                    elif resp.header.revision >= next_revision and not resp.created:
                        next_revision = resp.header.revision + 1
                    yield resp
            except aio.AioRpcError as exc:
                if exc.code() not in _FAILOVER:
                    raise _error(exc) from None
                failures += 1
            except EtcdError as exc:
                if exc.code is None:
                    raise
                failures += 1
            finally:
                stream.cancel()
            self._next_member(index)
            if failures >= len(self.members):
                await asyncio.sleep(0.1)


def _error(exc: aio.AioRpcError) -> EtcdError:
    details = exc.details() or exc.code().name
    if "database space exceeded" in details:
        return QuotaExceeded(f"etcd: {details}", exc.code())
    return EtcdError(f"etcd: {details}", exc.code())
