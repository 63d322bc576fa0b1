"""Databases, expiry, WATCH signalling and the effects produced by changes."""

from cairn.keyspace.database import Database, Effect, Keyspace, now_ms, type_name

__all__ = ["Database", "Effect", "Keyspace", "now_ms", "type_name"]
