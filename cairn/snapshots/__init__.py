"""Snapshots: (LSN, full keyspace) files, built off the serving path.

- ``format``: the file format, per-type value codecs, reading and writing.
- ``builder``: the separate process (``python -m cairn.snapshots.builder``) that
  loads the newest valid snapshot, replays the log up to a fixed LSN, writes the
  new snapshot, verifies it by loading it back, then publishes it.
- ``manager``: the server side: SAVE/BGSAVE jobs, INFO fields, log trimming,
  retention, automatic snapshots, and ``recover`` (start-up = newest valid
  snapshot + the log after it).
"""

from cairn.snapshots.format import (
    SnapshotCorrupt,
    SnapshotError,
    pack_items,
    register_codec,
    unpack_items,
)

__all__ = ["SnapshotCorrupt", "SnapshotError", "pack_items", "register_codec", "unpack_items"]

# Register the collection types' codecs wherever snapshots are used.
from cairn.snapshots import codecs as _codecs  # noqa: F401
