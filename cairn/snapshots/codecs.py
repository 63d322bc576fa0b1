"""Snapshot codecs of the collection types: each value as its ``to_items()`` list.

A type in cairn/types/ describes itself with ``to_items()`` and rebuilds with
``from_items()`` (encoding included); registering it here is all snapshots need.
"""

from __future__ import annotations

from typing import Any

from cairn.snapshots.format import pack_items, register_codec, unpack_items
from cairn.types.hash import Hash
from cairn.types.list import List
from cairn.types.set import RedisSet
from cairn.types.stream import Stream
from cairn.types.zset import ZSet


def _register(cls: Any) -> None:
    register_codec(
        cls.TYPE_NAME,
        lambda value: pack_items(value.to_items()),
        lambda data: cls.from_items(unpack_items(data)),
    )


for _cls in (Hash, List, RedisSet, ZSet, Stream):
    _register(_cls)
