"""Cairn: a Redis-compatible in-memory database that never loses an acknowledged write."""

__version__ = "0.1.0"
REDIS_VERSION = "7.2.4"
