"""The snapshot file: (LSN, full keyspace), checksummed, written atomically.

Layout (integers little endian)::

    header   52 bytes   magic b"CAIRNSNP", version u16 (1), flags u16 (0),
                        LSN u64, created (Unix ms) u64, databases u32, reserved u32,
                        log position just after the LSN's record: segment (its
                        first LSN) u64, byte offset u64 (for the size of the log
                        written since the snapshot; informational)
    blocks   repeated   kind u8, 7 reserved bytes, length u64, then ``length``
                        bytes of payload
    trailer  28 bytes   magic b"CAIRNEND", keys u64, blocks u64, CRC32C u32

The CRC32C (Castagnoli, the same C code as the log's records) covers every byte
of the file before it, header and trailer fields included, so any flipped bit is
caught before a single key is loaded.

Blocks (each payload starts with db u32 and count u32):

- keys (kind 1): type name (u16 length + bytes), then ``count`` key lengths
  (u32 each), ``count`` value lengths (u64 each), all the keys back to back,
  all the values back to back. One database and one type per block.
- expires (kind 2): ``count`` key lengths (u32), ``count`` expire-at times in
  Unix ms (i64), the keys back to back.
- end (kind 3): no db/count header; u32 triples (db, keys, expires) for every
  database that holds keys.
- functions (kind 4, optional, before the end block): the Lua function libraries,
  as FUNCTION DUMP encodes them (no db/count header).

Lengths-then-blobs makes both directions run in C: writing is ``array(map(len,
...))`` and ``b"".join``; loading slices the blob at the running sums of the
lengths and fills the dicts with ``dict.update(zip(...))``, no Python code per key.

Types: a value type registers a codec under its ``TYPE_NAME`` (what TYPE
answers) with ``register_codec(name, encode, decode)``: ``encode(value) ->
bytes`` and ``decode(bytes) -> value``. Strings are built in. ``pack_items`` and
``unpack_items`` turn a list of byte strings into one bytes value and back,
which is all most collection types need. A snapshot holding a type this build
has no codec for refuses to load (it never drops keys).

Writing: to a temporary name in the same directory, fsynced; ``publish`` renames
it over the final name and fsyncs the directory.
"""

from __future__ import annotations

import os
import struct
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate, islice
from typing import TYPE_CHECKING, Any, BinaryIO

import hiredis

from cairn.durability.record import _crc_extend, crc32c

if TYPE_CHECKING:
    from cairn.keyspace import Keyspace

MAGIC = b"CAIRNSNP"
END_MAGIC = b"CAIRNEND"
VERSION = 1
HEADER = struct.Struct("<8sHHQQI4xQQ")
BLOCK = struct.Struct("<B7xQ")
TRAILER = struct.Struct("<8sQQI")
KIND_KEYS = 1
KIND_EXPIRES = 2
KIND_END = 3
KIND_FUNCTIONS = 4
SUFFIX = ".snap"

# Keys per block.
BLOCK_KEYS = 8192


class SnapshotError(Exception):
    """A snapshot cannot be written or used."""


class SnapshotCorrupt(SnapshotError):
    """A snapshot file fails its checks (checksum, structure, counts)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


# -- per-type codecs -------------------------------------------------------------

Encoder = Callable[[Any], bytes]
Decoder = Callable[[bytes], Any]
CODECS: dict[str, tuple[Encoder, Decoder]] = {}
STRING = "string"


def register_codec(type_name: str, encode: Encoder, decode: Decoder) -> None:
    """Teach snapshots a value type (keyed by the TYPE_NAME the class reports)."""
    if type_name == STRING:
        raise ValueError("strings are built in")
    CODECS[type_name] = (encode, decode)


def _type_of(value: Any) -> str:
    t = value.__class__
    if t is bytes or t is bytearray:
        return STRING
    name = getattr(value, "TYPE_NAME", None)
    if not isinstance(name, str):
        raise SnapshotError(f"cannot snapshot a value of Python type {t.__name__}")
    return name


_CRLF = b"\r\n"
_BULK = [b"$%d\r\n" % n for n in range(1024)]


def _put_bulks(parts: list[bytes], items: Iterable[bytes]) -> int:
    """Append RESP bulk strings for ``items``; returns the bytes they take."""
    append = parts.append
    size = 0
    bulk = _BULK
    crlf = _CRLF
    for item in items:
        n = len(item)
        head = bulk[n] if n < 1024 else b"$%d\r\n" % n
        append(head)
        append(item)
        append(crlf)
        size += n
    return size


def pack_items(items: list[bytes]) -> bytes:
    """One bytes value holding a list of byte strings (for collection codecs)."""
    parts = [b"*%d\r\n" % len(items)]
    _put_bulks(parts, items)
    return b"".join(parts)


def unpack_items(data: bytes) -> list[bytes]:
    """The list ``pack_items`` packed."""
    reader = hiredis.Reader()
    reader.feed(data)
    items = reader.gets()
    if not isinstance(items, list) or reader.has_data():
        raise ValueError("malformed packed items")
    return items


# -- digest ----------------------------------------------------------------------

def value_bytes(value: Any) -> tuple[str, bytes]:
    """(type name, encoded bytes) of a stored value: what the snapshot holds."""
    t = value.__class__
    if t is bytes:
        return STRING, value
    if t is bytearray:
        return STRING, bytes(value)
    name = _type_of(value)
    codec = CODECS.get(name)
    if codec is None:
        raise SnapshotError(f"no snapshot codec for type {name!r}")
    return name, codec[0](value)


def database_digest(data: dict[bytes, Any], expires: dict[bytes, int]) -> tuple[int, int, int, int]:
    """(keys, expires, hash of the items, hash of the expiries) of one database.

    Order independent (a sum of per-item hashes), so a keyspace and its reload
    compare equal whatever order the dicts were filled in. Python's hash of bytes
    is salted per process: compare digests only within one process.
    """
    if set(map(type, data.values())) <= {bytes}:
        items = sum(map(hash, data.items()))  # all in C for the all-strings case
    else:
        items = 0
        for key, value in data.items():
            t = value.__class__
            if t is bytes:
                items += hash((key, value))
            elif t is bytearray:
                items += hash((key, bytes(value)))  # the same as the bytes it reloads as
            else:
                items += hash((key, value_bytes(value)))
    expiry = sum(map(hash, expires.items()))
    mask = (1 << 64) - 1
    return len(data), len(expires), items & mask, expiry & mask


def functions_digest(functions: bytes) -> list[tuple[int, int, int, int]]:
    """The digest entry of a snapshot's function libraries (none when empty)."""
    return [(-1, len(functions), crc32c(functions), 0)] if functions else []


def keyspace_digest(dbs: Iterable[tuple[dict[bytes, Any], dict[bytes, int]]]) -> list[tuple[int, int, int, int]]:
    return [database_digest(data, expires) for data, expires in dbs]


# -- writing ---------------------------------------------------------------------

@dataclass
class Written:
    path: str
    lsn: int
    keys: int
    size: int
    blocks: int


_DB_COUNT = struct.Struct("<II")
_NAME_LEN = struct.Struct("<H")
_BIG_ENDIAN = sys.byteorder == "big"


def _array(typecode: str, values: Iterable[int]) -> bytes:
    arr = array(typecode, values)
    if _BIG_ENDIAN:  # the format is little endian
        arr.byteswap()
    return arr.tobytes()


class _Writer:
    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.crc = 0
        self.size = 0
        self.blocks = 0

    def write(self, data: bytes) -> None:
        self.crc = _crc_extend(self.crc, data)
        self.handle.write(data)
        self.size += len(data)

    def block(self, kind: int, parts: list[bytes]) -> None:
        self.write(BLOCK.pack(kind, sum(map(len, parts))))
        for part in parts:
            self.write(part)
        self.blocks += 1

    def keys(self, db: int, type_name: str, keys: list[bytes], values: list[Any]) -> None:
        name = type_name.encode()
        self.block(KIND_KEYS, [
            _DB_COUNT.pack(db, len(keys)),
            _NAME_LEN.pack(len(name)),
            name,
            _array("I", map(len, keys)),
            _array("Q", map(len, values)),
            b"".join(keys),
            b"".join(values),
        ])

    def expires(self, db: int, keys: list[bytes], whens: list[int]) -> None:
        self.block(KIND_EXPIRES, [
            _DB_COUNT.pack(db, len(keys)),
            _array("I", map(len, keys)),
            _array("q", whens),
            b"".join(keys),
        ])


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while True:
        chunk = list(islice(iterator, size))
        if not chunk:
            return
        yield chunk


def _write_db(out: _Writer, index: int, data: dict[bytes, Any], expires: dict[bytes, int]) -> None:
    if set(map(type, data.values())) <= {bytes, bytearray}:
        # All strings (the common case): no Python code per key.
        for chunk in _chunks(data.items(), BLOCK_KEYS):
            keys, values = zip(*chunk)
            out.keys(index, STRING, list(keys), list(values))
    else:
        by_type: dict[str, tuple[list[bytes], list[Any]]] = {}
        for key, value in data.items():
            name, encoded = value_bytes(value)
            entry = by_type.get(name)
            if entry is None:
                entry = by_type[name] = ([], [])
            entry[0].append(key)
            entry[1].append(encoded)
            if len(entry[0]) >= BLOCK_KEYS:
                out.keys(index, name, *entry)
                del by_type[name]
        for name, (keys_, values_) in by_type.items():
            out.keys(index, name, keys_, values_)
    for chunk in _chunks(expires.items(), BLOCK_KEYS):
        keys, whens = zip(*chunk)
        out.expires(index, list(keys), list(whens))


def write_snapshot(
    path: str,
    lsn: int,
    dbs: list[tuple[dict[bytes, Any], dict[bytes, int]]],
    created_ms: int,
    fsync: bool = True,
    position: tuple[int, int] = (0, 0),
    functions: bytes = b"",
) -> Written:
    """Write the keyspace ``dbs`` (per database: data, expires) to ``path`` and fsync it.

    ``path`` should be a temporary name; ``publish`` renames it into place.
    """
    keys_total = 0
    counts: list[int] = []
    with open(path, "wb", buffering=1 << 20) as handle:
        out = _Writer(handle)
        out.write(HEADER.pack(MAGIC, VERSION, 0, lsn, created_ms, len(dbs), *position))
        for index, (data, expires) in enumerate(dbs):
            if not data:
                continue
            counts += [index, len(data), len(expires)]
            keys_total += len(data)
            _write_db(out, index, data, expires)
        if functions:
            out.block(KIND_FUNCTIONS, [functions])
        out.block(KIND_END, [_array("I", counts)])
        out.write(TRAILER.pack(END_MAGIC, keys_total, out.blocks, 0)[:-4])
        handle.write(struct.pack("<I", out.crc))
        size = out.size + 4
        handle.flush()
        if fsync:
            os.fsync(handle.fileno())
    return Written(path, lsn, keys_total, size, out.blocks)


def fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(temp_path: str, final_path: str) -> None:
    """Atomically put a written (and verified) snapshot in place."""
    os.replace(temp_path, final_path)
    fsync_directory(os.path.dirname(os.path.abspath(final_path)))


# -- reading ---------------------------------------------------------------------

@dataclass
class Snapshot:
    path: str
    lsn: int
    created_ms: int
    databases: int
    keys: int
    size: int
    position: tuple[int, int] = (0, 0)  # log (segment, offset) just after the LSN
    functions: bytes = b""  # the function libraries (FUNCTION DUMP payload), if any
    # Per database index that holds keys: (data, expires).
    dbs: dict[int, tuple[dict[bytes, Any], dict[bytes, int]]] = field(default_factory=dict)


def read_header(path: str) -> tuple[int, int, int]:
    """(LSN, created ms, databases) from the header alone (no checksum check)."""
    with open(path, "rb") as handle:
        head = handle.read(HEADER.size)
    if len(head) < HEADER.size:
        raise SnapshotCorrupt(path, "file too short for a header")
    magic, version, _flags, lsn, created, databases, _seg, _off = HEADER.unpack(head)
    if magic != MAGIC:
        raise SnapshotCorrupt(path, "not a Cairn snapshot (bad magic)")
    if version != VERSION:
        raise SnapshotCorrupt(path, f"unknown snapshot format version {version}")
    return lsn, created, databases


def verify_bytes(path: str, buf: bytes) -> tuple[int, int, int, int, int, tuple[int, int]]:
    """Check header, trailer and checksum; (lsn, created, databases, keys, blocks, position)."""
    if len(buf) < HEADER.size + TRAILER.size:
        raise SnapshotCorrupt(path, f"file too short ({len(buf)} bytes)")
    magic, version, _flags, lsn, created, databases, seg, off = HEADER.unpack_from(buf, 0)
    if magic != MAGIC:
        raise SnapshotCorrupt(path, "not a Cairn snapshot (bad magic)")
    if version != VERSION:
        raise SnapshotCorrupt(path, f"unknown snapshot format version {version}")
    end_magic, keys, blocks, crc = TRAILER.unpack_from(buf, len(buf) - TRAILER.size)
    if end_magic != END_MAGIC:
        raise SnapshotCorrupt(path, "no trailer (the file is truncated or damaged)")
    if crc32c(buf[:-4]) != crc:
        raise SnapshotCorrupt(path, "checksum mismatch")
    return lsn, created, databases, keys, blocks, (seg, off)


class _Cursor:
    """Reads the fields of one block; SnapshotCorrupt when it runs past the block."""

    def __init__(self, path: str, buf: bytes, start: int, stop: int) -> None:
        self.path = path
        self.buf = buf
        self.pos = start
        self.stop = stop

    def take(self, size: int) -> int:
        pos = self.pos
        if size < 0 or pos + size > self.stop:
            raise SnapshotCorrupt(self.path, f"block field runs past its block at byte offset {pos}")
        self.pos = pos + size
        return pos

    def unpack(self, st: struct.Struct) -> tuple[Any, ...]:
        return st.unpack_from(self.buf, self.take(st.size))

    def ints(self, typecode: str, count: int) -> array[int]:
        arr = array(typecode)
        start = self.take(arr.itemsize * count)
        arr.frombytes(self.buf[start : self.pos])
        if _BIG_ENDIAN:
            arr.byteswap()
        return arr

    def blobs(self, lengths: array[int]) -> list[bytes]:
        """The byte strings stored back to back with these lengths."""
        start = self.pos
        offsets = list(accumulate(lengths, initial=start))
        self.take(offsets[-1] - start)
        return list(map(self.buf.__getitem__, map(slice, offsets, islice(offsets, 1, None))))


class _Loader:
    """Fills per-database dicts from the blocks of a snapshot."""

    def __init__(self) -> None:
        self.dbs: dict[int, tuple[dict[bytes, Any], dict[bytes, int]]] = {}
        self.keys = 0
        self.functions = b""

    def _entry(self, db: int) -> tuple[dict[bytes, Any], dict[bytes, int]]:
        entry = self.dbs.get(db)
        if entry is None:
            entry = self.dbs[db] = ({}, {})
        return entry

    def add_keys(self, db: int, keys: Iterable[bytes], values: Iterable[Any]) -> None:
        data = self._entry(db)[0]
        before = len(data)
        data.update(zip(keys, values))
        self.keys += len(data) - before

    def add_expires(self, db: int, keys: Iterable[bytes], whens: Iterable[int]) -> None:
        self._entry(db)[1].update(zip(keys, whens))

    def counts(self, db: int) -> tuple[int, int]:
        data, expires = self.dbs.get(db, ({}, {}))
        return len(data), len(expires)

    def finish(self, path: str) -> None:
        for db, (data, expires) in self.dbs.items():
            if expires and not expires.keys() <= data.keys():
                raise SnapshotCorrupt(path, f"database {db}: an expiry for a key that is not stored")


class _Digester:
    """Computes ``database_digest`` of every database straight from the blocks."""

    def __init__(self) -> None:
        self.parts: dict[int, list[int]] = {}  # db -> [keys, expires, items hash, expiry hash]
        self.keys = 0
        self.functions = b""

    def _entry(self, db: int) -> list[int]:
        entry = self.parts.get(db)
        if entry is None:
            entry = self.parts[db] = [0, 0, 0, 0]
        return entry

    def add_keys(self, db: int, keys: list[bytes], values: list[Any]) -> None:
        entry = self._entry(db)
        if values and values[0].__class__ is not bytes:
            # Through the codec again: what the live keyspace's digest hashed.
            values = [value_bytes(v) for v in values]
        entry[0] += len(keys)
        entry[2] += sum(map(hash, zip(keys, values)))
        self.keys += len(keys)

    def add_expires(self, db: int, keys: list[bytes], whens: Iterable[int]) -> None:
        entry = self._entry(db)
        entry[1] += len(keys)
        entry[3] += sum(map(hash, zip(keys, whens)))

    def counts(self, db: int) -> tuple[int, int]:
        entry = self.parts.get(db, [0, 0])
        return entry[0], entry[1]

    @property
    def dbs(self) -> dict[int, Any]:
        return self.parts

    def finish(self, path: str) -> None:
        pass

    def digest(self, databases: int) -> list[tuple[int, int, int, int]]:
        mask = (1 << 64) - 1
        out = []
        for db in range(databases):
            keys, expires, items, expiry = self.parts.get(db, [0, 0, 0, 0])
            out.append((keys, expires, items & mask, expiry & mask))
        return out + functions_digest(self.functions)


def _parse(path: str, buf: bytes, databases: int, keys: int, blocks: int,
           sink: _Loader | _Digester) -> None:
    """Walk every block of a verified file into ``sink``; SnapshotCorrupt on any mismatch."""
    seen_blocks = 0
    end_counts: array[int] | None = None
    pos = HEADER.size
    stop = len(buf) - TRAILER.size
    while pos < stop:
        if stop - pos < BLOCK.size:
            raise SnapshotCorrupt(path, f"truncated block header at byte offset {pos}")
        kind, length = BLOCK.unpack_from(buf, pos)
        start = pos + BLOCK.size
        pos = start + length
        if pos > stop:
            raise SnapshotCorrupt(path, f"block at byte offset {start} runs past the trailer")
        seen_blocks += 1
        cur = _Cursor(path, buf, start, pos)
        if kind == KIND_END:
            end_counts = cur.ints("I", length // 4)
        elif kind == KIND_FUNCTIONS:
            sink.functions = buf[start:pos]
            cur.pos = pos
        elif kind == KIND_KEYS or kind == KIND_EXPIRES:
            db, count = cur.unpack(_DB_COUNT)
            if not 0 <= db < databases:
                raise SnapshotCorrupt(path, f"bad database index {db}")
            if kind == KIND_KEYS:
                (name_len,) = cur.unpack(_NAME_LEN)
                name = buf[cur.take(name_len) : cur.pos].decode("utf-8", "replace")
                key_lens = cur.ints("I", count)
                value_lens = cur.ints("Q", count)
                key_list = cur.blobs(key_lens)
                values: list[Any] = cur.blobs(value_lens)
                if name != STRING:
                    codec = CODECS.get(name)
                    if codec is None:
                        raise SnapshotCorrupt(
                            path, f"holds values of type {name!r}, unknown to this build"
                        )
                    try:
                        values = list(map(codec[1], values))
                    except Exception as exc:
                        raise SnapshotCorrupt(path, f"a {name} value does not decode: {exc}") from None
                sink.add_keys(db, key_list, values)
            else:
                key_lens = cur.ints("I", count)
                whens = cur.ints("q", count)
                sink.add_expires(db, cur.blobs(key_lens), whens)
        else:
            raise SnapshotCorrupt(path, f"unknown block kind {kind} at byte offset {start}")
        if cur.pos != pos:
            raise SnapshotCorrupt(path, f"block at byte offset {start} has trailing bytes")
    if seen_blocks != blocks or end_counts is None:
        raise SnapshotCorrupt(path, "block count does not match the trailer")
    if sink.keys != keys:
        raise SnapshotCorrupt(path, f"holds {sink.keys} keys but the trailer says {keys}")
    listed = set()
    for i in range(0, len(end_counts) - 2, 3):
        db, nkeys, nexp = end_counts[i : i + 3]
        listed.add(db)
        if sink.counts(db) != (nkeys, nexp):
            raise SnapshotCorrupt(path, f"database {db}: counts do not match the end block")
    if listed != set(sink.dbs):
        raise SnapshotCorrupt(path, "the end block does not list every database")
    sink.finish(path)


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise SnapshotCorrupt(path, f"cannot read: {exc.strerror or exc}") from None


def read_snapshot(path: str) -> Snapshot:
    """Load a snapshot file, checking everything; SnapshotCorrupt when anything is off."""
    buf = _read_file(path)
    lsn, created, databases, keys, blocks, position = verify_bytes(path, buf)
    snap = Snapshot(path, lsn, created, databases, keys, len(buf), position)
    loader = _Loader()
    _parse(path, buf, databases, keys, blocks, loader)
    snap.dbs = loader.dbs
    snap.functions = loader.functions
    return snap


def snapshot_digest(path: str) -> tuple[int, list[tuple[int, int, int, int]]]:
    """(LSN, ``keyspace_digest``) of a snapshot file, checking everything, without
    building the dicts: how the builder verifies what it wrote."""
    buf = _read_file(path)
    lsn, _created, databases, keys, blocks, _position = verify_bytes(path, buf)
    digester = _Digester()
    _parse(path, buf, databases, keys, blocks, digester)
    return lsn, digester.digest(databases)


def load_into(keyspace: Keyspace, snap: Snapshot) -> int:
    """Put a loaded snapshot's keys into an empty keyspace; returns the keys loaded."""
    dbs = keyspace.dbs
    for index in snap.dbs:
        if index >= len(dbs):
            raise SnapshotError(
                f"{snap.path} holds keys in database {index} but the server has only "
                f"{len(dbs)} databases (raise 'databases')"
            )
    total = 0
    for index, (data, expires) in snap.dbs.items():
        db = dbs[index]
        if db.data:
            raise SnapshotError("a snapshot is only loaded into an empty keyspace")
        db.data = data
        db.expires = expires
        db.atime = {}
        db.scan_index = None
        db._rebuild_expire_heap()  # the active-expiry heap, from ``expires``
        total += len(data)
    return total


def snapshot_name(lsn: int) -> str:
    return f"{lsn:020d}{SUFFIX}"


def list_snapshots(directory: str) -> list[tuple[int, str]]:
    """(LSN, path) of every published snapshot in a directory, oldest first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if name.endswith(SUFFIX) and len(name) == 20 + len(SUFFIX) and name[:20].isdigit():
            found.append((int(name[:20]), os.path.join(directory, name)))
    found.sort()
    return found


def temp_files(directory: str) -> list[str]:
    """Leftover temporary snapshot files (a builder that died half way)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return [os.path.join(directory, n) for n in names if SUFFIX + ".tmp-" in n]


__all__ = [
    "CODECS",
    "Snapshot",
    "SnapshotCorrupt",
    "SnapshotError",
    "Written",
    "keyspace_digest",
    "list_snapshots",
    "load_into",
    "pack_items",
    "publish",
    "read_header",
    "read_snapshot",
    "register_codec",
    "snapshot_digest",
    "snapshot_name",
    "unpack_items",
    "write_snapshot",
]
