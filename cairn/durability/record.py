"""The on-disk record format of the transaction log, and a scanner for segments.

One record is a 32-byte header followed by its payload (all integers little endian)::

    offset size field
    0      4    magic  b"CRNL"
    4      4    CRC32C of bytes 8 .. end of payload (header fields below + payload)
    8      1    format version (1)
    9      1    flags (bit 0: last record of a group-commit batch)
    10     2    reserved, zero
    12     8    LSN (u64)
    20     8    leader epoch (u64)
    28     4    payload length (u32)
    32     n    payload

The CRC sits right after the magic so that one checksum call covers every other
header field *and* the payload: a flipped bit in the LSN, the epoch, the length or
the payload is caught by the same check. (CRC32C, the Castagnoli polynomial, as in
iSCSI/ext4; computed by the ``google-crc32c`` package's C code.)

The payload is the record's effects, RESP encoded as one array of alternating
items: the db index as a RESP integer, then that effect's argv as a RESP array of
bulk strings::

    *4\\r\\n :0\\r\\n *3\\r\\n$3\\r\\nSET\\r\\n$1\\r\\nk\\r\\n$1\\r\\nv\\r\\n :0\\r\\n *2\\r\\n...

so that hiredis decodes a whole record in a single ``gets()`` call (all in C), and
``zip`` turns it into ``[(db, argv), ...]``.

The batch-end flag lets recovery tell a torn final batch (a crash during the batch's
write, before its fsync returned: some of its pages may have reached the disk and
others not) from real corruption (a bad record followed by records of a *later*
batch, which was only written after the bad one's batch was acknowledged durable).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import hiredis

try:  # the C implementation (Apache-2.0); ~0.15 us for a small record
    from google_crc32c import extend as _crc_extend
    from google_crc32c import value as crc32c
except ImportError:  # pragma: no cover - only without the dependency
    _TABLE: list[int] = []
    for _i in range(256):
        _c = _i
        for _ in range(8):
            _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
        _TABLE.append(_c)

    def _crc_extend(crc: int, data: bytes) -> int:
        """Pure Python CRC32C (slow: only so the format stays the same without the C package)."""
        crc ^= 0xFFFFFFFF
        table = _TABLE
        for byte in data:
            crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        return crc ^ 0xFFFFFFFF

    def crc32c(data: bytes) -> int:
        return _crc_extend(0, data)


Argv = list[bytes]
Effect = tuple[int, Argv]

MAGIC = b"CRNL"
VERSION = 1
FLAG_BATCH_END = 0x01
HEADER_SIZE = 32
MAX_PAYLOAD = 0xFFFFFFFF

# magic, crc, version, flags, reserved, lsn, epoch, length
HEADER = struct.Struct("<4sIBBHQQI")
_BODY = struct.Struct("<BBHQQI")  # the part after magic+crc (24 bytes)
_CRC = struct.Struct("<I")
assert HEADER.size == HEADER_SIZE


class RecordError(ValueError):
    """A record that cannot be decoded (bad magic, version, length or checksum)."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"{reason} at byte offset {offset}")
        self.offset = offset
        self.reason = reason


_CRLF = b"\r\n"
_BULK = [b"$%d\r\n" % n for n in range(1024)]
_ARRAY = [b"*%d\r\n" % n for n in range(64)]
_INT = [b":%d\r\n" % n for n in range(16)]


_pack_command: Any = hiredis.pack_command  # typed narrowly upstream; takes bytes args
_ONE_EFFECT = [b"*2\r\n:%d\r\n" % i for i in range(16)]
_ONE_EFFECT_2 = [head + b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" for head in _ONE_EFFECT]
_ONE_EFFECT_3 = [head + b"*3\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" for head in _ONE_EFFECT]


def encode_effects(effects: list[Effect]) -> bytes:
    """The RESP payload of one record: an array alternating db index and argv."""
    try:
        if len(effects) == 1:
            db, argv = effects[0]
            if 0 <= db < 16:
                # The commonest shapes (SET k v, INCR k...) formatted in one go:
                # the same bytes as pack_command, for less.
                n = len(argv)
                if n == 3:
                    a, b, c = argv
                    return _ONE_EFFECT_3[db] % (len(a), a, len(b), b, len(c), c)
                if n == 2:
                    a, b = argv
                    return _ONE_EFFECT_2[db] % (len(a), a, len(b), b)
                head = _ONE_EFFECT[db]
            else:
                head = b"*2\r\n:%d\r\n" % db
            return head + _pack_command(tuple(argv))
        count = 2 * len(effects)
        parts = [_ARRAY[count] if count < 64 else b"*%d\r\n" % count]
        for db, argv in effects:
            parts.append(_INT[db] if 0 <= db < 16 else b":%d\r\n" % db)
            parts.append(_pack_command(tuple(argv)))
        return b"".join(parts)
    except TypeError:  # an argument hiredis does not pack (bytearray, memoryview)
        return _encode_effects_py(effects)


def _encode_effects_py(effects: list[Effect]) -> bytes:
    count = 2 * len(effects)
    parts = [_ARRAY[count] if count < 64 else b"*%d\r\n" % count]
    append = parts.append
    for db, argv in effects:
        append(_INT[db] if 0 <= db < 16 else b":%d\r\n" % db)
        count = len(argv)
        append(_ARRAY[count] if count < 64 else b"*%d\r\n" % count)
        for arg in argv:
            size = len(arg)
            append(_BULK[size] if size < 1024 else b"$%d\r\n" % size)
            append(arg)
            append(_CRLF)
    return b"".join(parts)


def encode_record(lsn: int, epoch: int, effects: list[Effect], flags: int = 0) -> bytes:
    """One complete record (header + payload)."""
    return record_from_payload(lsn, epoch, encode_effects(effects), flags)


def record_from_payload(lsn: int, epoch: int, payload: bytes, flags: int = 0) -> bytes:
    """One complete record around an encoded payload."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("record payload over 4 GiB")
    body = _BODY.pack(VERSION, flags, 0, lsn, epoch, len(payload))
    crc = _crc_extend(crc32c(body), payload)
    return b"".join((MAGIC, _CRC.pack(crc), body, payload))


def frame_batch(batch: list[tuple[int, bytes]], epoch: int) -> bytes:
    """The records of one group-commit batch, framed and joined: the same bytes as
    ``record_from_payload`` for each, FLAG_BATCH_END on the last."""
    parts: list[bytes] = []
    append = parts.append
    pack = _BODY.pack
    pack_crc = _CRC.pack
    last = len(batch) - 1
    for i, (lsn, payload) in enumerate(batch):
        size = len(payload)
        if size > MAX_PAYLOAD:
            raise ValueError("record payload over 4 GiB")
        body = pack(VERSION, FLAG_BATCH_END if i == last else 0, 0, lsn, epoch, size)
        append(MAGIC)
        append(pack_crc(_crc_extend(crc32c(body), payload)))
        append(body)
        append(payload)
    return b"".join(parts)


def with_flags(record: bytes, flags: int) -> bytes:
    """The same record with ``flags`` set (the checksum recomputed)."""
    body = bytearray(record[8:])
    body[1] |= flags
    data = bytes(body)
    return MAGIC + _CRC.pack(crc32c(data)) + data


def decode_payload(reader: hiredis.Reader, buf: bytes, offset: int, length: int) -> list[Effect]:
    """Effects from the payload at ``buf[offset:offset+length]`` (already checksummed)."""
    reader.feed(buf, offset, length)
    items = reader.gets()
    if items is False or not isinstance(items, list) or reader.has_data():
        raise RecordError(offset, "malformed payload")
    return list(zip(items[::2], items[1::2]))


def decode_record(buf: bytes, offset: int = 0) -> tuple[int, int, int, list[Effect], int]:
    """(lsn, epoch, flags, effects, next offset) of the record at ``offset``; RecordError if bad."""
    problem = check_record(buf, offset, len(buf))
    if problem is not None:
        raise RecordError(offset, problem)
    _magic, _crc, _version, flags, _res, lsn, epoch, length = HEADER.unpack_from(buf, offset)
    start = offset + HEADER_SIZE
    effects = decode_payload(hiredis.Reader(), buf, start, length)
    return lsn, epoch, flags, effects, start + length


def check_record(buf: bytes, offset: int, end: int) -> str | None:
    """Why the record at ``offset`` (within ``buf[:end]``) is bad, or None if it is good."""
    if end - offset < HEADER_SIZE:
        return f"incomplete header ({end - offset} of {HEADER_SIZE} bytes)"
    magic, crc, version, _flags, _res, _lsn, _epoch, length = HEADER.unpack_from(buf, offset)
    if magic != MAGIC:
        return "bad magic"
    if version != VERSION:
        return f"unknown format version {version}"
    stop = offset + HEADER_SIZE + length
    if stop > end:
        return f"incomplete record ({end - offset} of {HEADER_SIZE + length} bytes)"
    if crc32c(buf[offset + 8 : stop]) != crc:
        return "checksum mismatch"
    return None


@dataclass
class Scan:
    """What one segment holds, up to its first bad record."""

    first_lsn: int  # from the file name
    size: int
    records: int = 0
    last_lsn: int = 0  # of the last good record (first_lsn - 1 when none)
    good_end: int = 0  # byte offset just after the last good record
    last_flags: int = 0
    bad_offset: int | None = None
    bad_reason: str | None = None
    bad_crc_ok: bool = False  # the bad record is intact but out of sequence
    # Intact records found past the bad one: (offset, lsn, flags).
    after_bad: list[tuple[int, int, int]] = field(default_factory=list)


def scan_segment(buf: bytes, first_lsn: int) -> Scan:
    """Check every record of one segment: magic, version, length, CRC, LSN sequence.

    Stops at the first bad record and then looks for intact records after it (by
    searching for the magic and checking each candidate's checksum), which is what
    decides between a torn tail and corruption in the middle.
    """
    end = len(buf)
    scan = Scan(first_lsn=first_lsn, size=end, last_lsn=first_lsn - 1)
    unpack = HEADER.unpack_from
    pos = 0
    expected = first_lsn
    count = 0
    flags = 0
    while pos < end:
        problem = None
        if end - pos >= HEADER_SIZE:
            magic, crc, version, rflags, _r, lsn, _e, length = unpack(buf, pos)
            stop = pos + HEADER_SIZE + length
            if (
                magic != MAGIC
                or version != VERSION
                or stop > end
                or crc32c(buf[pos + 8 : stop]) != crc
            ):
                problem = check_record(buf, pos, end)
            elif lsn != expected:
                problem = f"unexpected LSN {lsn} (expected {expected})"
                scan.bad_crc_ok = True
        else:
            problem = check_record(buf, pos, end)
        if problem is not None:
            scan.bad_offset = pos
            scan.bad_reason = problem
            scan.after_bad = list(_intact_after(buf, pos + 1, end))
            break
        pos += HEADER_SIZE + length
        expected += 1
        count += 1
        flags = rflags
    scan.records = count
    scan.last_lsn = expected - 1
    scan.good_end = pos if scan.bad_offset is None else scan.bad_offset
    scan.last_flags = flags
    return scan


def _intact_after(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int]]:
    while True:
        pos = buf.find(MAGIC, pos, end)
        if pos < 0:
            return
        if check_record(buf, pos, end) is None:
            _m, _c, _v, flags, _r, lsn, _e, length = HEADER.unpack_from(buf, pos)
            yield pos, lsn, flags
            pos += HEADER_SIZE + length
        else:
            pos += 1


def torn_tail(scan: Scan) -> bool:
    """Whether the bad record of the *last* segment is a torn final batch (safe to cut).

    It is when it failed its checks (an intact record with the wrong LSN never is)
    and every intact record after it may belong to the same, unfinished batch: at
    most one of them ends a batch, and that one is the last. A batch-end record
    followed by more records means a later batch was written, which only happens
    after the earlier batch's fsync returned, so the bad record had been
    acknowledged: that is corruption, never cut silently.
    """
    if scan.bad_offset is None or scan.bad_crc_ok:
        return False
    after = scan.after_bad
    previous = scan.last_lsn + 1  # the LSN the bad record should have had
    for i, (_off, lsn, flags) in enumerate(after):
        if lsn <= previous:
            return False  # out of sequence: not the rest of our own batch
        if flags & FLAG_BATCH_END and i != len(after) - 1:
            return False
        previous = lsn
    return True


def iter_segment(
    buf: bytes, from_lsn: int, to_lsn: int, end: int | None = None, verify: bool = True
) -> Iterator[tuple[int, list[Effect]]]:
    """Decode records with from_lsn <= LSN <= to_lsn; RecordError on a bad one.

    The hot loop of recovery: one header unpack, one CRC call (skipped with
    ``verify=False``, for bytes that ``scan_segment`` has just checked), one
    hiredis ``gets`` per record.
    """
    if end is None:
        end = len(buf)
    reader = hiredis.Reader()
    feed = reader.feed
    gets = reader.gets
    unpack = HEADER.unpack_from
    has_data = reader.has_data
    pos = 0
    last = end - HEADER_SIZE
    while pos < end:
        if pos > last:
            raise RecordError(pos, "incomplete header")
        magic, crc, version, _flags, _res, lsn, _epoch, length = unpack(buf, pos)
        start = pos + HEADER_SIZE
        stop = start + length
        if magic != MAGIC or version != VERSION or stop > end:
            raise RecordError(pos, check_record(buf, pos, end) or "bad header")
        if lsn >= from_lsn:
            if lsn > to_lsn:
                return
            if verify and crc32c(buf[pos + 8 : stop]) != crc:
                raise RecordError(pos, "checksum mismatch")
            feed(buf, start, length)
            items = gets()
            if items.__class__ is not list or has_data():
                raise RecordError(pos, "malformed payload")
            if len(items) == 2:  # the common case: one effect
                yield lsn, [(items[0], items[1])]
            else:
                yield lsn, list(zip(items[::2], items[1::2]))
        pos = stop
