"""CLUSTER topology commands, READONLY/READWRITE, and WAIT.

A multi-AZ shard presents itself to cluster clients as a Redis cluster with one
shard owning all 16384 slots: the primary serves every slot, replicas answer
reads after READONLY and send everything else to the primary with ``MOVED``.
A standalone node answers like a redis-server without cluster support.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cairn.cluster.slots import SLOTS, key_slot
from cairn.commands.args import to_int
from cairn.commands.blocking import Block, parse_timeout
from cairn.commands.context import Client, Server
from cairn.commands.errors import CommandError
from cairn.commands.registry import command, container
from cairn.protocol import OK, ErrorReply, MapReply, Verbatim

G = "cluster"
DISABLED = "ERR This instance has cluster support disabled"
NOT_INTEGER = "ERR value is not an integer or out of range"

container("cluster", group=G, since="3.0.0", summary="A container for Redis Cluster commands.")


def _member(c: Client) -> Any:
    member = c.server.replication
    if member is None or member.registry is None:
        raise CommandError(DISABLED)
    return member


def topology_id(node_id: str) -> str:
    """A 40-hex-digit node id, as cluster clients expect (derived when the name is not one)."""
    if len(node_id) == 40 and all(ch in "0123456789abcdef" for ch in node_id):
        return node_id
    return hashlib.sha1(node_id.encode()).hexdigest()


def _nodes(member: Any) -> tuple[Any, list[Any]]:
    """(the primary's MemberInfo or None, the replicas' MemberInfo), known nodes only."""
    members = dict(member.registry.members)
    me = member.describe()
    members[me.node_id] = me  # our own view is the freshest
    primary = None
    leader = member.leader or member.last_leader
    if leader is not None:
        primary = members.get(leader[0])
        if primary is None:
            # The leader key names the primary even when its registry entry is
            # missing (its member lease lapsed under load, or not published yet).
            from cairn.replication.members import MemberInfo

            primary = MemberInfo(leader[0], leader[1], leader[2], "primary", 0, member.epoch)
            members[leader[0]] = primary
    replicas = [m for m in members.values() if primary is None or m.node_id != primary.node_id]
    replicas = [m for m in replicas if m.role != "primary"]
    replicas.sort(key=lambda m: m.node_id)
    return primary, replicas


def _node_entry(m: Any) -> list[Any]:
    host, port = m.host_port
    return [host.encode(), port, topology_id(m.node_id).encode(), MapReply([])]


@command("cluster|slots", 2, "loading stale", group=G, since="3.0.0", tips="nondeterministic_output",
         doc_flags=("deprecated",), deprecated_since="7.0.0", replaced_by="`CLUSTER SHARDS`",
         summary="Returns the mapping of cluster slots to nodes.", complexity="O(N) where N is the total number of Cluster nodes")
def cluster_slots(c: Client, argv: list[bytes]) -> Any:
    primary, replicas = _nodes(_member(c))
    if primary is None:
        return []
    return [[0, SLOTS - 1, _node_entry(primary), *(_node_entry(r) for r in replicas)]]


def _shard_node(m: Any, role: str, member: Any) -> MapReply:
    host, port = m.host_port
    healthy = m.role == "primary" or m.applied > 0 or member.applied_lsn == 0
    return MapReply([
        (b"id", topology_id(m.node_id).encode()),
        (b"port", port),
        (b"ip", host.encode()),
        (b"endpoint", host.encode()),
        (b"role", role.encode()),
        (b"replication-offset", m.applied),
        (b"health", b"online" if healthy else b"loading"),
    ])


@command("cluster|shards", 2, "loading stale", group=G, since="7.0.0", tips="nondeterministic_output",
         summary="Returns the mapping of cluster slots to shards.", complexity="O(N) where N is the total number of cluster nodes")
def cluster_shards(c: Client, argv: list[bytes]) -> Any:
    member = _member(c)
    primary, replicas = _nodes(member)
    nodes = [] if primary is None else [_shard_node(primary, "master", member)]
    nodes += [_shard_node(r, "replica", member) for r in replicas]
    slots = [0, SLOTS - 1] if primary is not None else []
    return [MapReply([(b"slots", slots), (b"nodes", nodes)])]


@command("cluster|nodes", 2, "stale", group=G, since="3.0.0", tips="nondeterministic_output",
         summary="Returns the cluster configuration for a node.", complexity="O(N) where N is the total number of Cluster nodes")
def cluster_nodes(c: Client, argv: list[bytes]) -> Any:
    member = _member(c)
    primary, replicas = _nodes(member)
    lines = []
    for m in ([primary] if primary is not None else []) + replicas:
        host, port = m.host_port
        flags = "master" if m is primary else "slave"
        if m.node_id == member.node_id:
            flags = "myself," + flags
        master = "-" if m is primary or primary is None else topology_id(primary.node_id)
        slots = f" 0-{SLOTS - 1}" if m is primary else ""
        cport = port + 10000 if port + 10000 <= 65535 else 0
        lines.append(f"{topology_id(m.node_id)} {host}:{port}@{cport} {flags} {master} "
                     f"0 0 {m.epoch} connected{slots}\n")
    return Verbatim("".join(lines).encode())


@command("cluster|info", 2, "stale", group=G, since="3.0.0", tips="nondeterministic_output",
         summary="Returns information about the state of a node.", complexity="O(1)")
def cluster_info(c: Client, argv: list[bytes]) -> Any:
    member = _member(c)
    primary, replicas = _nodes(member)
    ok = primary is not None
    epoch = primary.epoch if primary is not None else 0
    fields = [
        ("cluster_state", "ok" if ok else "fail"),
        ("cluster_slots_assigned", SLOTS if ok else 0),
        ("cluster_slots_ok", SLOTS if ok else 0),
        ("cluster_slots_pfail", 0),
        ("cluster_slots_fail", 0),
        ("cluster_known_nodes", len(replicas) + (1 if ok else 0)),
        ("cluster_size", 1 if ok else 0),
        ("cluster_current_epoch", epoch),
        ("cluster_my_epoch", epoch),
        ("cluster_stats_messages_sent", 0),
        ("cluster_stats_messages_received", 0),
        ("total_cluster_links_buffer_limit_exceeded", 0),
    ]
    return Verbatim("".join(f"{k}:{v}\r\n" for k, v in fields).encode())


@command("cluster|myid", 2, "stale", group=G, since="3.0.0", summary="Returns the ID of a node.",
         complexity="O(1)")
def cluster_myid(c: Client, argv: list[bytes]) -> Any:
    return topology_id(_member(c).node_id).encode()


@command("cluster|myshardid", 2, "stale", group=G, since="7.2.0", tips="nondeterministic_output",
         summary="Returns the shard ID of a node.", complexity="O(1)")
def cluster_myshardid(c: Client, argv: list[bytes]) -> Any:
    member = _member(c)
    return hashlib.sha1(member.log.prefix).hexdigest().encode()


@command("cluster|keyslot", 3, "stale", group=G, since="3.0.0",
         summary="Returns the hash slot for a key.", complexity="O(N) where N is the number of bytes in the key")
def cluster_keyslot(c: Client, argv: list[bytes]) -> Any:
    _member(c)
    return key_slot(argv[2])


def _slot_arg(arg: bytes) -> int:
    slot = to_int(arg)
    if slot is None or slot < 0 or slot >= SLOTS:
        raise CommandError("ERR Invalid slot")
    return slot


@command("cluster|countkeysinslot", 3, "stale", group=G, since="3.0.0",
         summary="Returns the number of keys in a hash slot.", complexity="O(1)")
def cluster_countkeysinslot(c: Client, argv: list[bytes]) -> Any:
    _member(c)
    slot = _slot_arg(argv[2])
    return sum(1 for key in c.db.data if key_slot(key) == slot)


@command("cluster|getkeysinslot", 4, "stale", group=G, since="3.0.0", tips="nondeterministic_output",
         summary="Returns the key names in a hash slot.", complexity="O(N) where N is the number of requested keys")
def cluster_getkeysinslot(c: Client, argv: list[bytes]) -> Any:
    _member(c)
    slot = _slot_arg(argv[2])
    count = to_int(argv[3])
    if count is None or count < 0:
        raise CommandError("ERR Invalid number of keys")
    out: list[bytes] = []
    for key in c.db.data:
        if len(out) >= count:
            break
        if key_slot(key) == slot:
            out.append(key)
    return out


@command("readonly", 1, "fast loading stale", group=G, since="3.0.0", acl="connection",
         summary="Enables read-only queries for a connection to a Redis Cluster replica node.",
         complexity="O(1)")
def readonly(c: Client, argv: list[bytes]) -> Any:
    _member(c)
    c.cluster_readonly = True
    return OK


@command("readwrite", 1, "fast loading stale", group=G, since="3.0.0", acl="connection",
         summary="Enables read-write queries for a connection to a Reids Cluster replica node.",
         complexity="O(1)")
def readwrite(c: Client, argv: list[bytes]) -> Any:
    _member(c)
    c.cluster_readonly = False
    return OK


def make_redirect(server: Server) -> Any:
    """The MOVED check a replica installs as ``server.redirect``."""

    def redirect(client: Client, cmd: Any, argv: list[bytes]) -> ErrorReply | None:
        if client.cluster_readonly and not cmd.is_write:
            return None
        positions = cmd.key_positions(argv)
        if not positions:
            return None
        member = server.replication
        leader = member.leader if member is not None else None
        if leader is None:
            return ErrorReply("CLUSTERDOWN The cluster is down")
        return ErrorReply(f"MOVED {key_slot(argv[positions[0]])} {leader[2]}")

    return redirect


@command("wait", 3, "", group="generic", since="3.0.0", acl="connection",
         tips="request_policy:all_shards response_policy:agg_min",
         summary="Blocks until the asynchronous replication of all preceding write commands sent "
         "by the connection is completed.", complexity="O(1)")
def wait(c: Client, argv: list[bytes]) -> Any:
    numreplicas = to_int(argv[1])
    if numreplicas is None:
        raise CommandError(NOT_INTEGER)
    timeout_ms = to_int(argv[2])
    if timeout_ms is None:
        raise CommandError("ERR timeout is not an integer or out of range")
    if timeout_ms < 0:
        raise CommandError("ERR timeout is negative")
    timeout = parse_timeout(b"%d" % timeout_ms) / 1000
    member = c.server.replication
    if member is None or member.role != "primary":
        if member is not None and member.role != "primary":
            raise CommandError("ERR WAIT cannot be used with replica instances. Please also note "
                               "that since Redis 4.0 if a replica is configured to be writable "
                               "(which is not the default) writes to replicas are just local and "
                               "are not propagated.")
        if numreplicas <= 0:
            return 0
        return Block([], timeout, 0, multi_reply=0)
    lsn = c.last_write_lsn
    reached = member.replicas_at(lsn)
    if reached >= numreplicas or c.in_multi:
        return reached
    server = c.server

    def done(count: int) -> None:
        server.blocking.unblock(c, count)

    member.add_waiter(lsn, numreplicas, done)
    block = Block([], timeout, _AtTimeout(member, lsn, done), multi_reply=reached)
    return block


class _AtTimeout:
    """WAIT's reply at its timeout: how many replicas got there by then."""

    def __init__(self, member: Any, lsn: int, done: Any) -> None:
        self.member = member
        self.lsn = lsn
        self.done = done

    def __call__(self) -> int:
        self.member.remove_waiter(self.done)
        return int(self.member.replicas_at(self.lsn))
