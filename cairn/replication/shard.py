"""One node of a multi-AZ shard: replica or primary, decided through etcd.

Life of a node (all of it on the server's event loop; etcd calls run on the
log's own thread through ``EtcdLog.submit``):

1. **Catch up**: apply the log from the start (or the snapshot) through the one
   apply path (``Replayer``), as a replica.
2. **Replica**: watch the shard's prefix from the revision read at; apply each new
   batch in LSN order; reads are served, writes get ``READONLY``. When the leader
   key disappears (its lease lapsed), campaign.
3. **Campaign**: grant a lease; one Txn creates the leader key bound to it only if
   no leader key exists. The winner's epoch is that key's create revision.
4. **Take over**: read the log to its end and apply it (the old leader can no
   longer append: its appends compare the leader key's create revision), append a
   leadership record (no effects, the new epoch), wait for it, then serve writes.
5. **Primary**: renew the lease every ``ttl/4``. The lease is valid until
   ``(send time of the last renewal that succeeded) + ttl - margin``; etcd can only
   expire it later than that. At that deadline without a newer renewal the node
   steps down *before* any other node can be elected: it refuses every command,
   drops every client (replies held for records whose outcome is unknown are never
   sent), rebuilds its memory from the log, and rejoins as a replica.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from cairn.commands.context import Server
from cairn.commands.replay import Replayer
from cairn.durability.etcd import proto as pb
from cairn.durability.etcd.client import EtcdError, prefix_end
from cairn.durability.etcd.log import EtcdLog, decode_batch
from cairn.replication.members import MemberInfo, MemberRegistry

log = logging.getLogger("cairn.replication")
T = TypeVar("T")

READONLY = "READONLY You can't write against a read only replica."
LOADING = "LOADING Cairn is loading the dataset in memory"


class ShardMember:
    def __init__(self, server: Server, etcdlog: EtcdLog, *, node_id: str, zone: str,
                 address: str, lease_ttl: int = 2, lease_margin: float = 0.3,
                 snapshot_store: str = "", endpoints: str = "", cluster: str = "",
                 shard: str = "") -> None:
        self.server = server
        self.snapshot_store = snapshot_store or os.path.join(server.config["dir"], "snapshots")
        self.endpoints, self.cluster, self.shard = endpoints, cluster, shard
        self.snapshots_taken = 0
        self.last_snapshot_lsn = 0
        self.last_snapshot_error = ""
        self.trims = 0
        self.compactions = 0
        self.etcd_db_size = 0
        self.log = etcdlog
        self.node_id = node_id
        self.zone = zone
        self.address = address
        self.lease_ttl = lease_ttl
        self.lease_margin = lease_margin
        self.role = "replica"
        self.epoch = 0
        self.leader: tuple[str, str, str] | None = None  # (node id, zone, address)
        # The last primary known, kept through an election: cluster clients are
        # shown it (and fail over by retrying) rather than a shard with no slots.
        self.last_leader: tuple[str, str, str] | None = None
        self.lease_id = 0
        self.lease_deadline = 0.0
        self.applied_lsn = 0
        self.applied_revision = 0
        self.primary_last_lsn = 0  # the newest LSN seen in the log (replication lag)
        self.stepdowns = 0
        self.failovers_won = 0
        self.disconnect_all: Callable[[], None] = lambda: None
        self._replayer = Replayer(server)
        # Batches read or watched beyond a hole in the log, by first LSN.
        self._beyond: dict[int, list[tuple[int, int, list[Any]]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._leader_gone: asyncio.Event | None = None
        self._stop = False
        self.registry: MemberRegistry | None = None
        self._waiters: list[tuple[int, int, Callable[[int], None]]] = []
        self._dirty_memory = False  # memory may be ahead of the log: rebuild before serving
        self._snapshot_requested = False
        server.replication = self
        self._refuse(LOADING, writes_only=False)

    # -- plumbing ------------------------------------------------------------
    async def _etcd(self, coro: Any) -> Any:
        return await asyncio.wrap_future(self.log.submit(coro))

    def _refuse(self, error: str | None, *, writes_only: bool = True) -> None:
        self.server.role_refusal = None if error is None else (error, writes_only)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        self.registry = MemberRegistry(self.log.prefix, self.log.submit, self.log.client,
                                       self.describe)
        self.registry.listeners.append(self._serve_waiters)
        self.registry.start()

    def stop(self) -> None:
        self._stop = True
        if self._task is not None:
            self._task.cancel()
        if self.registry is not None:
            self.registry.stop()

    def describe(self) -> MemberInfo:
        return MemberInfo(self.node_id, self.zone, self.address, self.role, self.applied_lsn,
                          self.epoch)

    # -- WAIT ----------------------------------------------------------------
    def replicas_at(self, lsn: int) -> int:
        """How many replicas have applied the log up to ``lsn``."""
        return sum(1 for m in self.registry.members.values() if m.node_id != self.node_id
                   and m.role == "replica" and m.applied >= lsn) if self.registry else 0

    def add_waiter(self, lsn: int, count: int, done: Callable[[int], None]) -> None:
        self._waiters.append((lsn, count, done))

    def remove_waiter(self, done: Callable[[int], None]) -> None:
        self._waiters = [w for w in self._waiters if w[2] is not done]

    def _serve_waiters(self) -> None:
        if not self._waiters:
            return
        still = []
        for lsn, count, done in self._waiters:
            reached = self.replicas_at(lsn)
            if reached >= count:
                done(reached)
            else:
                still.append((lsn, count, done))
        self._waiters = still

    # -- the state machine ---------------------------------------------------
    async def _run(self) -> None:
        self._load_snapshot()  # a node starts from the newest snapshot plus the log
        while not self._stop:
            try:
                if self._dirty_memory:
                    await self._rebuild()
                await self._serve_as_replica()
                if await self._campaign():
                    await self._serve_as_primary()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # etcd unreachable (no quorum), a watch broken beyond repair...: retry.
                # A node that was primary rebuilds first (its memory may hold writes
                # that never reached etcd).
                log.warning("replication: %s; retrying", exc, exc_info=not isinstance(exc, EtcdError))
                if isinstance(exc, EtcdError):
                    # Say why: writes are refused; reads too while memory is incomplete.
                    self._refuse(f"CLUSTERDOWN the shard's transaction log (etcd) is "
                                 f"unavailable: {exc}", writes_only=not self._dirty_memory)
                if self.role == "primary":
                    try:
                        await self._step_down()
                    except Exception as again:
                        log.warning("replication: stepping down: %s", again)
                await asyncio.sleep(0.25)

    def _apply(self, records: list[tuple[int, int, list[Any]]]) -> None:
        """Apply records in LSN order, then any batches kept aside that now follow."""
        self._apply_records(records)
        beyond = self._beyond
        while beyond:
            batch = beyond.pop(self.applied_lsn + 1, None)
            if batch is None:
                break
            self._apply_records(batch)
        for first in [f for f in beyond if f <= self.applied_lsn]:
            del beyond[first]
        top = max((b[-1][0] for b in beyond.values()), default=self.applied_lsn)
        self.primary_last_lsn = max(self.primary_last_lsn, self.applied_lsn, top)
        if self.role != "primary":
            etcdlog = self.log  # nothing is pending on a replica: what it applied is durable
            etcdlog.last_lsn = etcdlog.committed = self.applied_lsn
        if self.registry is not None:
            self.registry.changed()

    def _apply_records(self, records: list[tuple[int, int, list[Any]]]) -> None:
        replayer = self._replayer
        for lsn, _epoch, effects in records:
            if lsn <= self.applied_lsn:
                continue  # already applied (a re-read after a watch restart)
            if lsn != self.applied_lsn + 1:
                raise RuntimeError(f"log hole: applied {self.applied_lsn}, next record {lsn}")
            replayer.apply_record(lsn, effects)
            self.applied_lsn = lsn

    async def _catch_up(self) -> int:
        result = await self._etcd(self.log.read_batches(self.applied_lsn + 1))
        trimmed = result.trimmed
        if not result.records and result.first > self.applied_lsn + 1:
            # A gap before the first stored batch: a trim (whose marker could not be
            # written under etcd's NOSPACE alarm) when a snapshot covers it.
            from cairn.replication.snapshots import newest_snapshot

            snap = newest_snapshot(self.snapshot_store, at_least=result.first - 1)
            if snap is not None:
                trimmed = max(trimmed, result.first - 1)
        if trimmed > self.applied_lsn:
            # What we need next was trimmed: start again from a snapshot that covers it.
            self._load_snapshot(at_least=trimmed)
            result = await self._etcd(self.log.read_batches(self.applied_lsn + 1))
            if trimmed > self.applied_lsn:
                raise RuntimeError(f"the log is trimmed to LSN {trimmed} and the store "
                                   f"has no snapshot past LSN {self.applied_lsn}")
        self._beyond = dict(result.beyond)
        self._apply(result.records)
        self.applied_revision = result.revision
        return int(result.revision)

    def _load_snapshot(self, at_least: int = 0) -> bool:
        """Replace memory with the newest snapshot in the store (LSN >= at_least)."""
        from cairn.replication.snapshots import load_newest

        started = time.monotonic()
        self.server.keyspace.held_events.clear()
        self.server.keyspace.release_pending(1 << 62)
        lsn = load_newest(self.server, self.snapshot_store, at_least=max(at_least, 1))
        if lsn < 0:
            return False
        self._replayer = Replayer(self.server)
        self.applied_lsn = lsn
        self._beyond = {}
        log.warning("replication: loaded the snapshot at LSN %d in %.3f s", lsn,
                    time.monotonic() - started)
        return True

    async def _read_leader(self) -> Any:
        return await self._etcd(self.log.client.get(self.log.leader_key))

    async def _serve_as_replica(self) -> None:
        """Tail the log until there is no leader (then return to campaign)."""
        self.role = "replica"
        self.epoch = 0
        await self._catch_up()
        self._refuse(READONLY)
        from cairn.commands.cluster import make_redirect

        self.server.redirect = make_redirect(self.server)
        while not self._stop:
            leader = await self._read_leader()
            if leader is None:
                return
            self._set_leader(leader.value)
            gone = await self._tail_until_leader_gone(int(leader.create_revision))
            if gone:
                return

    def _set_leader(self, value: bytes) -> None:
        parts = value.decode(errors="replace").split(" ")
        while len(parts) < 3:
            parts.append("")
        self.leader = (parts[0], parts[1], parts[2])

    async def _tail_until_leader_gone(self, leader_revision: int) -> bool:
        """Apply new batches until the leader key with that revision is deleted."""
        loop = asyncio.get_running_loop()
        gone = asyncio.Event()
        self._leader_gone = gone
        leader_key = self.log.leader_key
        start = self.applied_revision + 1

        async def watch() -> None:  # runs on the etcd thread
            log_prefix = self.log.log_prefix
            # The leader key and the log keys ("leader" < "log/..."), not the members.
            async for resp in self.log.client.watch(leader_key, prefix_end(log_prefix), start):
                batches: list[tuple[int, Any]] = []  # (first LSN, records or None if deleted)
                leader_event: tuple[int, bytes] | None = None
                for ev in resp.events:
                    kv = ev.kv
                    if kv.key == leader_key:
                        leader_event = (ev.type, kv.value)
                    elif kv.key.startswith(log_prefix):
                        first = int(kv.key[len(log_prefix):])
                        if ev.type == pb.EVENT_PUT:
                            batches.append((first, decode_batch(kv.value)))
                        else:
                            batches.append((first, None))
                revision = int(resp.header.revision)
                loop.call_soon_threadsafe(self._on_watch, batches, leader_event, revision, gone)
                if leader_event is not None and leader_event[0] == pb.EVENT_DELETE:
                    return

        future = self.log.submit(watch())
        watching: asyncio.Future[Any] = asyncio.wrap_future(future)
        waiting: asyncio.Future[Any] = loop.create_task(gone.wait())
        try:
            await asyncio.wait({watching, waiting}, return_when=asyncio.FIRST_COMPLETED)
            if gone.is_set():
                return True
            exc = watching.exception() if watching.done() else None
            if exc is not None:
                if getattr(exc, "compact_revision", 0):
                    # Our revision was compacted away: re-read the log and watch again.
                    log.warning("replica: watch history compacted; re-reading the log")
                    await self._catch_up()
                    return False
                raise exc
            return gone.is_set()
        finally:
            future.cancel()
            waiting.cancel()

    def _on_watch(self, batches: list[tuple[int, Any]],
                  leader_event: tuple[int, bytes] | None, revision: int,
                  gone: asyncio.Event) -> None:
        for first, records in batches:
            if records is None:  # trimmed, or an orphan truncated by a new leader
                self._beyond.pop(first, None)
            elif first == self.applied_lsn + 1 or first <= self.applied_lsn:
                self._apply(records)
            else:
                self._beyond[first] = records  # beyond a hole: wait for it to fill
                self._apply([])
        self.applied_revision = max(self.applied_revision, revision)
        if leader_event is not None:
            if leader_event[0] == pb.EVENT_DELETE:
                self.last_leader = self.leader or self.last_leader
                self.leader = None
                gone.set()
            else:
                self._set_leader(leader_event[1])

    async def _campaign(self) -> bool:
        client = self.log.client
        lease_id, _ttl = await self._etcd(client.lease_grant(self.lease_ttl))
        sent = time.monotonic()
        value = f"{self.node_id} {self.zone} {self.address}".encode()
        key = self.log.leader_key
        try:
            resp = await self._etcd(client.txn(
                [pb.Compare(result=pb.EQUAL, target=pb.CREATE, key=key, create_revision=0)],
                [pb.RequestOp(request_put=pb.PutRequest(key=key, value=value, lease=lease_id))],
                [pb.RequestOp(request_range=pb.RangeRequest(key=key))],
            ))
        except EtcdError as exc:
            if not exc.unknown_outcome:
                raise
            kv = await self._read_leader()  # did our put land?
            if kv is None or kv.lease != lease_id:
                await self._revoke(lease_id)
                return False
            revision = int(kv.create_revision)
        else:
            if not resp.succeeded:
                await self._revoke(lease_id)
                return False
            revision = int(resp.header.revision)
        self.lease_id = lease_id
        self._set_deadline(sent + self.lease_ttl - self.lease_margin)
        self.epoch = revision
        log.warning("replication: won the election for %s (epoch %d)",
                    self.log.prefix.decode(), revision)
        return True

    async def _revoke(self, lease_id: int) -> None:
        try:
            await self._etcd(self.log.client.lease_revoke(lease_id))
        except EtcdError:
            pass  # it lapses by itself

    async def _serve_as_primary(self) -> None:
        loop = asyncio.get_running_loop()
        keeper = loop.create_task(self._keep_lease())
        upkeep: asyncio.Task[None] | None = None
        try:
            # The old leader is fenced from here on: everything in the log is final.
            await self._catch_up()
            if self._beyond:
                # Batches after a hole were never acknowledged (commits are contiguous):
                # remove them before our records take their LSNs.
                removed = await self._etcd(self.log.truncate_after(self.applied_lsn, self.epoch))
                log.warning("replication: removed %d unacknowledged batches after LSN %d",
                            removed, self.applied_lsn)
                self._beyond = {}
            self.log.start_leading(self.epoch, self.applied_lsn)
            lsn = self.log.append([])  # the leadership record
            while self.log.committed < lsn:
                if self.log.failure is not None or not self._lease_valid():
                    raise _LostLease()
                await asyncio.sleep(0.001)
            self.applied_lsn = lsn
            self.role = "primary"
            self.leader = (self.node_id, self.zone, self.address)
            if self.registry is not None:
                self.registry.changed()
            self.failovers_won += 1
            self._refuse(None)
            self.server.redirect = None
            log.warning("replication: serving as primary from LSN %d", lsn)
            upkeep = loop.create_task(self._log_upkeep())
            while not self._stop:
                await asyncio.sleep(0.05)
                lost = self.log.failure is not None and not self.log.out_of_space
                if lost or not self._lease_valid() or keeper.done():
                    raise _LostLease()
        except _LostLease:
            await self._step_down()
        finally:
            keeper.cancel()
            if upkeep is not None:
                upkeep.cancel()

    def _set_deadline(self, deadline: float) -> None:
        self.lease_deadline = deadline
        if self.role == "primary" or self.epoch:
            self.server.lease_deadline = deadline

    # -- the primary's log upkeep: snapshot, trim, compact, defragment ----------
    async def _log_upkeep(self) -> None:
        """Keep etcd's size bounded: when ``snapshot-log-size`` bytes were appended
        since the last snapshot, build one (a separate process), publish it in the
        store, trim the records it covers, compact etcd's history, and defragment
        the members now and then. The NOSPACE alarm is disarmed once space is back."""
        base_bytes = self.log.stat_bytes
        while True:
            await asyncio.sleep(0.5)
            threshold = self.server.config["snapshot-log-size"]
            due = threshold and self.log.stat_bytes - base_bytes >= threshold
            if self.log.out_of_space:
                # etcd refused appends: free space now (compaction + defragmentation,
                # after a snapshot if there are records to trim), then disarm.
                if self.log.committed <= self.last_snapshot_lsn:
                    await self._free_space(self.last_snapshot_lsn)
                    continue
                due = True
            if not due and not self._snapshot_requested:
                continue
            self._snapshot_requested = False
            upto = self.log.committed
            if upto <= self.last_snapshot_lsn:
                continue
            base_bytes = self.log.stat_bytes
            try:
                await self.snapshot_and_trim(upto)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_snapshot_error = str(exc)
                log.error("replication: snapshot/trim at LSN %d failed: %s", upto, exc)

    async def snapshot_and_trim(self, upto: int) -> None:
        import json
        import sys

        from cairn.replication.snapshots import retain

        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cairn.replication.snapshots", "--store", self.snapshot_store,
            "--etcd-endpoints", self.endpoints, "--cluster-name", self.cluster,
            "--shard", self.shard, "--upto", str(upto),
            "--databases", str(self.server.config["databases"]), *self._tls_args(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        lines = out.decode(errors="replace").strip().splitlines()
        result = json.loads(lines[-1]) if lines else {"ok": False, "error": err.decode()[-500:]}
        if not result.get("ok"):
            raise RuntimeError(result.get("error", "the snapshot builder failed"))
        self.snapshots_taken += 1
        self.last_snapshot_lsn = upto
        self.last_snapshot_error = ""
        retain(self.snapshot_store, max(1, int(self.server.config["snapshot-retention"])))
        deleted = await self._etcd(self.log.trim_async(upto))
        if deleted:
            self.trims += 1
        await self._compact_and_defrag()
        log.info("replication: snapshot at LSN %d (%s keys); %d log batches trimmed",
                 upto, result.get("keys"), deleted)

    def _tls_args(self) -> list[str]:
        tls = self.log.tls
        if tls is None:
            return []
        pairs = (("--etcd-tls-ca", tls.ca), ("--etcd-tls-cert", tls.cert), ("--etcd-tls-key", tls.key))
        return [arg for flag, value in pairs if value for arg in (flag, value)]

    async def _free_space(self, snapshot_lsn: int) -> None:
        try:
            if snapshot_lsn:
                await self._etcd(self.log.trim_async(snapshot_lsn))  # (again, if it failed)
            await self._compact_and_defrag(defrag=True)
        except EtcdError as exc:
            log.warning("replication: freeing etcd space: %s", exc)
            await asyncio.sleep(1)

    async def _compact_and_defrag(self, defrag: bool = False) -> None:
        """Compact etcd's history up to now; every 5th time (or when asked, e.g.
        out of space) also defragment each member in turn, which returns the
        freed pages to the file system, then disarm a NOSPACE alarm."""
        client = self.log.client
        resp = await self._etcd(client.range(self.log.leader_key))
        self.compactions += 1
        await self._etcd(client.compact(int(resp.header.revision)))
        if defrag or self.compactions % 5 == 0 or self.log.out_of_space:
            sizes = []
            for i in range(len(client.members)):
                try:
                    await self._etcd(client.defragment(i))
                    status = await self._etcd(client.status(i))
                    sizes.append(int(status.dbSize))
                except EtcdError as exc:
                    log.warning("replication: defragmenting member %d: %s", i, exc)
            if sizes:
                self.etcd_db_size = max(sizes)
            alarms = await self._etcd(client.alarms())
            for member_id, alarm in alarms:
                if alarm == pb.ALARM_NOSPACE:
                    await self._etcd(client.disarm(member_id, alarm))
                    log.warning("replication: etcd NOSPACE alarm disarmed after compaction")

    def request_snapshot(self) -> None:
        self._snapshot_requested = True

    def _lease_valid(self) -> bool:
        return time.monotonic() < self.lease_deadline

    async def _keep_lease(self) -> None:
        client = self.log.client
        loop = asyncio.get_running_loop()
        timer = loop.call_at(0, lambda: None)
        try:
            while True:
                timer.cancel()
                timer = loop.call_at(
                    loop.time() + max(0.0, self.lease_deadline - time.monotonic()), self._lease_timer)
                sent = time.monotonic()
                try:
                    ttl = await asyncio.wait_for(
                        self._etcd(client.lease_keepalive(self.lease_id, timeout=self.lease_ttl / 2)),
                        self.lease_ttl / 2)
                except (TimeoutError, EtcdError) as exc:
                    log.warning("replication: lease renewal failed: %s", exc)
                    await asyncio.sleep(0.1)
                    continue
                if ttl <= 0:
                    log.warning("replication: the lease is gone")
                    return
                self._set_deadline(max(self.lease_deadline, sent + ttl - self.lease_margin))
                await asyncio.sleep(self.lease_ttl / 4)
        finally:
            timer.cancel()

    def _lease_timer(self) -> None:
        """At the lease deadline: refuse everything at once, before any other check runs."""
        if self.role == "primary" and not self._lease_valid():
            self._refuse(LOADING, writes_only=False)
            self.log.stop_leading("the primary lease lapsed")

    async def _step_down(self) -> None:
        log.warning("replication: stepping down (lease lapsed or deposed); rebuilding as a replica")
        self.stepdowns += 1
        self._dirty_memory = True
        self.role = "replica"
        for _lsn, _count, done in self._waiters:
            done(0)
        self._waiters = []
        self.epoch = 0
        self.server.lease_deadline = 0.0
        self._refuse(LOADING, writes_only=False)
        self.server.redirect = None
        self.log.stop_leading("this node stepped down")
        self.disconnect_all()
        if self.lease_id:
            await self._revoke(self.lease_id)
            self.lease_id = 0
        await self._rebuild()

    async def _rebuild(self) -> None:
        """Forget memory (it may hold writes that never reached etcd) and replay the log."""
        self._refuse(LOADING, writes_only=False)
        server = self.server
        server.keyspace.flushall()
        server.keyspace.effects = []
        self._replayer = Replayer(server)
        self.applied_lsn = 0
        self.applied_revision = 0
        self._beyond = {}
        self.log.failure = None
        self._load_snapshot()
        # Marks and held notifications of records that will never commit: dropped.
        server.keyspace.held_events.clear()
        server.keyspace.release_pending(1 << 62)
        await self._catch_up()
        self._dirty_memory = False

    # -- introspection --------------------------------------------------------
    def info(self) -> list[tuple[str, Any]]:
        lag = max(0, self.primary_last_lsn - self.applied_lsn) if self.role == "replica" else 0
        fields: list[tuple[str, Any]] = [
            ("role", "master" if self.role == "primary" else "slave"),
            ("cairn_node_id", self.node_id),
            ("cairn_zone", self.zone),
            ("cairn_epoch", self.epoch),
            ("cairn_applied_lsn", self.applied_lsn),
            ("cairn_replication_lag_records", lag),
            ("cairn_snapshots_taken", self.snapshots_taken),
            ("cairn_last_snapshot_lsn", self.last_snapshot_lsn),
            ("cairn_last_snapshot_error", self.last_snapshot_error),
            ("cairn_log_trims", self.trims),
            ("cairn_etcd_compactions", self.compactions),
            ("cairn_etcd_db_size", self.etcd_db_size),
        ]
        if self.leader is not None and self.role != "primary":
            host, _, port = self.leader[2].rpartition(":")
            fields += [("master_host", host), ("master_port", port),
                       ("master_link_status", "up")]
        return fields


class _LostLease(Exception):
    pass


def new_node_id() -> str:
    return os.urandom(20).hex()
