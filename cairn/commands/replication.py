"""ROLE: what this node is in its shard (standalone nodes are always a master)."""

from __future__ import annotations

from typing import Any

from cairn.commands.context import Client
from cairn.commands.registry import command


@command("role", 1, "noscript loading stale fast sentinel", group="server", since="2.8.12",
         acl="admin dangerous", summary="Returns the replication role.", complexity="O(1)")
def role(c: Client, argv: list[bytes]) -> Any:
    member = c.server.replication
    if member is None or member.role == "primary":
        # Replicas of a multi-AZ shard read the log from etcd, not from this node:
        # the replica list stays empty (their progress is in INFO on each replica).
        return [b"master", c.server.log.committed, []]
    host, port = b"", 0
    if member.leader is not None:
        h, _, p = member.leader[2].rpartition(":")
        host, port = h.encode(), int(p) if p.isdigit() else 0
    state = b"connected" if member.leader is not None else b"connect"
    return [b"slave", host, port, state, member.applied_lsn]
