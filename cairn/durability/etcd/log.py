"""The etcd backend of the transaction log: fenced batch appends and tailing.

Keys (``P = /<cluster>/shards/<shard>/``)::

    P log/<first lsn, 20 digits>   one group-commit batch of framed records (record.py)
    P leader                       "<node id> <zone> <address>", bound to the leader's lease

The leader's **epoch** is the create revision of the leader key it wrote when it
won: etcd makes it unique and increasing, and it is stamped in every record.

Append = one Txn: *if* the leader key still has create revision == epoch *and*
the batch's key does not exist *then* put the batch, *else* read both keys back.

- success: the batch is durable on an etcd quorum; ``committed`` advances.
- failed compare: if the batch's key holds exactly our bytes, an earlier attempt
  of this same Txn was applied (a retry after a lost answer): success. Otherwise
  someone else leads: we are **deposed**; ``failure`` is set and stays set.
- unknown outcome (timeout, member lost mid-call): re-read the batch's key until
  some member answers; present with our bytes = success, absent = send the same
  Txn again (the compare still fences it). Nothing is acknowledged meanwhile.

Up to ``max_inflight`` Txns are in flight at once (etcd then groups their raft
entries into fewer fsyncs). They may be applied in any order, so the log can have
a **hole**: batch k+1 stored while batch k is still in flight, or never stored
because its leader died. The rules that keep this safe:

- ``committed`` only covers a contiguous prefix: a reply waits until every batch
  before its own is stored too. So nothing after a hole was ever acknowledged.
- Readers apply in LSN order only: ``read_batches`` returns the contiguous records
  and, separately, the batches stored beyond the first hole; replicas keep those
  aside until the hole is filled.
- A new leader, after reading to the first hole, deletes every batch beyond it
  (``truncate_after``, fenced by its own epoch) before appending anything. The old
  leader can no longer fill the hole (its appends are fenced), so those batches
  could only ever be unacknowledged orphans.

The etcd client lives on its own thread and asyncio loop (``self.loop``), so gRPC
never runs on the server's event loop; listeners are called from that thread.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from cairn.durability.etcd import proto as pb
from cairn.durability.etcd.client import EtcdClient, EtcdError, QuotaExceeded, TlsFiles, prefix_end
from cairn.durability.log import Effect, LogUnavailable
from cairn.durability.record import decode_record, encode_effects, frame_batch

log = logging.getLogger("cairn.etcd")
T = TypeVar("T")

DEFAULT_MAX_BATCH = 1024 * 1024
DEPOSED = "this node is no longer the primary (another node leads the shard)"
OUT_OF_SPACE = ("etcd is out of space (its NOSPACE alarm is raised; the log is being "
                "compacted)")


def log_key(prefix: bytes, first_lsn: int) -> bytes:
    return prefix + b"log/" + b"%020d" % first_lsn


def decode_batch(value: bytes) -> list[tuple[int, int, list[Effect]]]:
    """(lsn, epoch, effects) of every record in a stored batch; RecordError if damaged."""
    out = []
    offset = 0
    end = len(value)
    while offset < end:
        lsn, epoch, _flags, effects, offset = decode_record(value, offset)
        out.append((lsn, epoch, effects))
    return out


@dataclass
class ReadResult:
    records: list[tuple[int, int, list[Effect]]]  # contiguous from the LSN asked for
    beyond: dict[int, list[tuple[int, int, list[Effect]]]]  # batches after the first hole
    revision: int
    trimmed: int = 0  # records <= this LSN are gone from the log (see EtcdLog.trim)
    first: int = 0  # the first LSN stored (0: the log is empty)


class EtcdLog:
    """A TransactionLog on etcd. See the module docstring."""

    name = "etcd"

    def __init__(
        self,
        endpoints: str | list[str],
        cluster: str,
        shard: str,
        *,
        tls: TlsFiles | None = None,
        timeout: float = 2.0,
        max_batch_bytes: int = DEFAULT_MAX_BATCH,
        max_inflight: int = 4,
    ) -> None:
        self.tls = tls
        self.prefix = f"/{cluster}/shards/{shard}/".encode()
        self.leader_key = self.prefix + b"leader"
        self.log_prefix = self.prefix + b"log/"
        # Records <= the LSN stored here were trimmed (a snapshot in the store covers them).
        self.trimmed_key = self.prefix + b"trimmed"
        self.max_batch_bytes = max_batch_bytes
        self.max_inflight = max_inflight
        self.committed = 0
        self.last_lsn = 0
        self.failure: str | None = None
        self.deposed = False
        self.out_of_space = False
        self.epoch = 0  # 0: not leading; appends refused
        self.stat_batches = 0
        self.stat_records = 0
        self.stat_bytes = 0
        self.stat_retries = 0
        self.stat_append_seconds = 0.0
        self._listeners: list[Callable[[int], None]] = []
        self._lock = threading.Lock()
        self._pending: list[tuple[int, bytes]] = []
        self._wake: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self._idle = False  # the writer waits on _wake: the next append must set it
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="cairn-etcd", daemon=True)
        self._thread.start()
        self.client: EtcdClient = self.call(self._make_client(endpoints, tls, timeout))

    # -- the etcd thread -----------------------------------------------------
    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def _make_client(self, endpoints: str | list[str], tls: TlsFiles | None,
                           timeout: float) -> EtcdClient:
        self._wake = asyncio.Event()
        return EtcdClient(endpoints, tls=tls, timeout=timeout)

    def submit(self, coro: Awaitable[T]) -> Future[T]:
        """Run a coroutine on the etcd thread; a concurrent Future of its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]

    def call(self, coro: Awaitable[T], timeout: float | None = None) -> T:
        """Run a coroutine on the etcd thread and wait for it (never from that thread)."""
        return self.submit(coro).result(timeout)

    # -- reading -------------------------------------------------------------
    async def read_batches(self, from_lsn: int = 1, revision: int = 0) -> ReadResult:
        """The records with LSN >= from_lsn up to the first hole, the batches stored
        beyond it (by first LSN), and the etcd revision read at."""
        client = self.client
        end = prefix_end(self.log_prefix)
        # The batch holding from_lsn starts at or before it: find the newest key <= it.
        keys = await client.range(self.log_prefix, end, keys_only=True, revision=revision)
        revision = revision or int(keys.header.revision)
        first_stored = int(keys.kvs[0].key[len(self.log_prefix):]) if keys.kvs else 0
        first_key = self.log_prefix
        for kv in keys.kvs:
            if int(kv.key[len(self.log_prefix):]) <= from_lsn:
                first_key = kv.key
        marker = await client.range(self.trimmed_key, revision=revision)
        trimmed = int(marker.kvs[0].value) if marker.kvs else 0
        result = ReadResult([], {}, revision, trimmed, first_stored)
        if from_lsn <= trimmed:
            return result  # the caller needs a snapshot first
        expected = from_lsn
        cursor = first_key
        while True:
            resp = await client.range(cursor, end, limit=64, revision=revision)
            for kv in resp.kvs:
                batch = [rec for rec in decode_batch(kv.value) if rec[0] >= from_lsn]
                if not batch:
                    continue
                if result.beyond or batch[0][0] != expected:
                    result.beyond[batch[0][0]] = batch
                    continue
                result.records.extend(batch)
                expected = batch[-1][0] + 1
            if not resp.more or not resp.kvs:
                break
            cursor = resp.kvs[-1].key + b"\0"
        return result

    async def truncate_after(self, lsn: int, epoch: int) -> int:
        """Delete every batch beyond ``lsn`` (orphans after a hole), only while
        ``epoch`` leads. Returns how many keys went."""
        start = log_key(self.prefix, lsn + 1)
        resp = await self.client.txn(
            [pb.Compare(result=pb.EQUAL, target=pb.CREATE, key=self.leader_key, create_revision=epoch)],
            [pb.RequestOp(request_delete_range=pb.DeleteRangeRequest(
                key=start, range_end=prefix_end(self.log_prefix)))],
        )
        if not resp.succeeded:
            raise EtcdError("truncate refused: " + DEPOSED)
        return int(resp.responses[0].response_delete_range.deleted)

    def open(self, from_lsn: int = 1) -> Iterator[tuple[int, list[Effect]]]:
        """Records to replay (LSN >= from_lsn) as of now; sets last_lsn/committed."""
        result = self.call(self.read_batches(from_lsn))
        records = result.records
        self.open_revision = result.revision
        if records:
            self.last_lsn = self.committed = records[-1][0]
        elif from_lsn > 1:
            self.last_lsn = self.committed = from_lsn - 1
        return iter([(lsn, effects) for lsn, _epoch, effects in records])

    def read(self, from_lsn: int) -> Iterator[tuple[int, list[Effect]]]:
        """Stored records from ``from_lsn`` up to the first hole (all durable on etcd)."""
        records = self.call(self.read_batches(from_lsn)).records
        return iter([(lsn, effects) for lsn, _epoch, effects in records])

    # -- leading -------------------------------------------------------------
    def start_leading(self, epoch: int, last_lsn: int) -> None:
        """Called (from any thread) once this node won the leader key at create
        revision ``epoch`` and has applied the log up to ``last_lsn``."""
        with self._lock:
            self.epoch = epoch
            self.last_lsn = self.committed = last_lsn
            self._pending = []
            self.failure = None
            self.deposed = False
            self.out_of_space = False
        self.loop.call_soon_threadsafe(self._start_writer)

    def _start_writer(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = self.loop.create_task(self._write_loop())

    def stop_leading(self, reason: str = DEPOSED) -> None:
        """Refuse further appends (lease lost, or deposed)."""
        with self._lock:
            self.epoch = 0
            if self.failure is None:
                self.failure = reason
        if self._wake is not None:
            self.loop.call_soon_threadsafe(self._wake.set)

    # -- the loop side -------------------------------------------------------
    def append(self, effects: list[Effect]) -> int:
        """Number and buffer one record; returns its LSN. Never waits for etcd."""
        payload = encode_effects(effects)
        with self._lock:
            if self.epoch == 0 and self.failure is None:
                raise LogUnavailable("this node is not the primary")
            lsn = self.last_lsn + 1
            self.last_lsn = lsn
            self._pending.append((lsn, payload))
            idle = self._idle
            self._idle = False
        if idle and self._wake is not None:
            self.loop.call_soon_threadsafe(self._wake.set)
        return lsn

    def subscribe(self, listener: Callable[[int], None]) -> None:
        self._listeners.append(listener)

    def trim(self, upto_lsn: int) -> int:
        """Delete batches whose every record is <= upto_lsn; returns how many."""
        return self.call(self.trim_async(upto_lsn))

    async def trim_async(self, upto_lsn: int) -> int:
        """``trim`` as a coroutine for the etcd thread."""
        keys = await self.client.range(self.log_prefix, prefix_end(self.log_prefix), keys_only=True)
        starts = [int(kv.key[len(self.log_prefix):]) for kv in keys.kvs]
        # A batch ends where the next begins: keep the one that holds upto_lsn + 1.
        kept = [nxt for s, nxt in itertools.pairwise(starts) if nxt <= upto_lsn + 1]
        if not kept:
            return 0
        first_kept = kept[-1]
        # The marker first (records <= first_kept - 1 are gone), then the batches.
        # Under etcd's NOSPACE alarm only deletes are accepted: the marker is then
        # skipped, and readers recognise the trim by a snapshot in the store that
        # covers the gap before the first batch (see ReadResult.first).
        try:
            await self.client.put(self.trimmed_key, b"%d" % (first_kept - 1))
        except QuotaExceeded:
            pass
        deleted = await self.client.delete_range(self.log_prefix, log_key(self.prefix, first_kept))
        return deleted

    def try_resume(self) -> bool:
        """After an out-of-space refusal: resume once etcd's NOSPACE alarm is gone.
        (A deposed or lease-less node never resumes appending: it rejoins as a replica.)
        Blocks on etcd: call it off the event loop."""
        if not self.out_of_space:
            return self.failure is None
        try:
            alarms = self.call(self.client.alarms(), timeout=10)
        except Exception:
            return False
        if any(alarm == pb.ALARM_NOSPACE for _member, alarm in alarms):
            return False
        with self._lock:
            self.out_of_space = False
            if self.failure == OUT_OF_SPACE:
                self.failure = None
        log.warning("transaction log: etcd has space again; writes resume")
        if self._wake is not None:
            self.loop.call_soon_threadsafe(self._wake.set)
        return True

    def flush(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        target = self.last_lsn
        while self.committed < target:
            if self.failure is not None:
                return False
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True

        async def shutdown() -> None:
            if self._writer is not None:
                self._writer.cancel()
            await self.client.close()

        try:
            self.call(shutdown(), timeout=5)
        except Exception:  # closing must not raise
            log.exception("closing the etcd client")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)

    # -- the writer (etcd thread) ----------------------------------------------
    async def _write_loop(self) -> None:
        wake = self._wake
        assert wake is not None
        # Stored batches beyond ``committed`` (first LSN -> last): committed only
        # advances over a contiguous run of stored records, whatever order the
        # Txns complete in, so a batch still in flight (or sent back to the queue
        # after an out-of-space refusal) holds back everything after it.
        stored: dict[int, int] = {}
        tasks: set[asyncio.Task[None]] = set()
        failed = False

        def on_stored(first: int, last: int) -> None:
            stored[first] = last
            top = self.committed
            while top + 1 in stored:
                top = stored.pop(top + 1)
            if top > self.committed:
                self._commit(top)

        async def send(batch: list[tuple[int, bytes]], epoch: int) -> None:
            nonlocal failed
            started = time.monotonic()
            try:
                outcome = await self._append_batch(batch, epoch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("etcd append failed")
                self._fail(f"etcd append failed: {exc}")
                outcome = False
            if outcome is True:
                self.stat_append_seconds += time.monotonic() - started
                self.stat_batches += 1
                self.stat_records += len(batch)
                on_stored(batch[0][0], batch[-1][0])
            elif outcome is False:
                failed = True  # deposed or failed: nothing after it may ever commit
            # (None: refused for lack of space; the batch is back in the queue)
            current = asyncio.current_task()
            if current is not None:
                tasks.discard(current)  # before waking the loop: a slot is free now
            wake.set()

        try:
            while not self._closing and not failed:
                with self._lock:
                    epoch = self.epoch
                    can_send = epoch and not self.out_of_space and len(tasks) < self.max_inflight
                    batch = self._take_batch() if can_send else []
                if batch:
                    task = asyncio.get_running_loop().create_task(send(batch, epoch))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    continue
                if epoch == 0:
                    return  # not leading any more: in-flight batches are abandoned
                wake.clear()
                with self._lock:
                    ready = (bool(self._pending) and self.epoch != 0 and not self.out_of_space
                             and len(tasks) < self.max_inflight)
                    self._idle = not ready
                if not ready:
                    await wake.wait()
        finally:
            for task in tasks:
                task.cancel()

    def _take_batch(self) -> list[tuple[int, bytes]]:
        pending = self._pending
        if not pending:
            return []
        size = 0
        n = 0
        for _lsn, payload in pending:
            size += len(payload) + 32
            n += 1
            if size >= self.max_batch_bytes:
                break
        if size > self.max_batch_bytes and n > 1:
            n -= 1
        batch = pending[:n]
        self._pending = pending[n:]
        return batch

    async def _append_batch(self, batch: list[tuple[int, bytes]], epoch: int) -> bool | None:
        key = log_key(self.prefix, batch[0][0])
        value = frame_batch(batch, epoch)
        self.stat_bytes += len(value)
        compare = [
            pb.Compare(result=pb.EQUAL, target=pb.CREATE, key=self.leader_key, create_revision=epoch),
            pb.Compare(result=pb.EQUAL, target=pb.CREATE, key=key, create_revision=0),
        ]
        success = [pb.RequestOp(request_put=pb.PutRequest(key=key, value=value))]
        failure = [
            pb.RequestOp(request_range=pb.RangeRequest(key=self.leader_key)),
            pb.RequestOp(request_range=pb.RangeRequest(key=key)),
        ]
        client = self.client
        while not self._closing:
            if self.epoch != epoch:  # lease lost meanwhile: never acknowledge
                return False
            try:
                resp = await client.txn(compare, success, failure)
            except QuotaExceeded as exc:
                self._out_of_space(batch, exc)
                return None
            except EtcdError as exc:
                if not exc.unknown_outcome:
                    self._fail(f"etcd refused the append: {exc}")
                    return False
                self.stat_retries += 1
                outcome = await self._resolve(key, value)
                if outcome is True:
                    return True
                if outcome is False:
                    self._deposed()
                    return False
                continue  # absent: send the same fenced Txn again
            if resp.succeeded:
                return True
            stored = resp.responses[1].response_range.kvs
            if stored and stored[0].value == value:
                return True  # an earlier, unanswered attempt was applied
            self._deposed()
            return False
        return False

    async def _resolve(self, key: bytes, value: bytes) -> bool | None:
        """After an unknown outcome: True = our batch is there, False = another's, None = absent."""
        while not self._closing:
            try:
                kv = await self.client.get(key)
            except EtcdError:
                await asyncio.sleep(0.05)
                if self.epoch == 0:
                    return None  # lease lost: stop trying; the caller sees epoch changed
                continue
            if kv is None:
                return None
            return kv.value == value
        return None

    def _deposed(self) -> None:
        log.warning("etcd append fenced: %s", DEPOSED)
        with self._lock:
            self.deposed = True
            self.epoch = 0
            self.failure = DEPOSED
        self._notify_listeners(self.committed)

    def _out_of_space(self, batch: list[tuple[int, bytes]], exc: Exception) -> None:
        """etcd refused the batch for lack of space (the NOSPACE alarm): it was not
        applied. Put it back at the front of the queue and refuse writes until
        ``try_resume`` finds the alarm cleared (compaction and defragmentation
        free the space: the primary's log upkeep does both)."""
        with self._lock:
            self._pending = sorted(self._pending + batch)
            if not self.out_of_space:
                log.error("transaction log: etcd is out of space (%s); writes are refused", exc)
            self.out_of_space = True
            self.failure = OUT_OF_SPACE
        self._notify_listeners(self.committed)

    def _fail(self, reason: str) -> None:
        log.error("transaction log: %s", reason)
        with self._lock:
            self.failure = reason
            self.epoch = 0
        self._notify_listeners(self.committed)

    def _commit(self, lsn: int) -> None:
        with self._lock:
            if lsn > self.committed:
                self.committed = lsn
        self._notify_listeners(lsn)

    def _notify_listeners(self, lsn: int) -> None:
        for listener in self._listeners:
            try:
                listener(lsn)
            except Exception:
                log.exception("transaction log subscriber failed")

    def info(self) -> dict[str, Any]:
        return {
            "log_backend": "etcd",
            "log_etcd_endpoint": self.client.endpoint,
            "log_etcd_failovers": self.client.failovers,
            "log_epoch": self.epoch,
            "log_batches": self.stat_batches,
            "log_records": self.stat_records,
            "log_bytes": self.stat_bytes,
            "log_append_retries": self.stat_retries,
        }
