"""The transaction log's record format: encoding, checksums, segment scanning."""

from __future__ import annotations

import importlib.util
import struct
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.durability import record
from cairn.durability.record import (
    FLAG_BATCH_END,
    HEADER_SIZE,
    MAGIC,
    RecordError,
    check_record,
    crc32c,
    decode_record,
    encode_effects,
    encode_record,
    iter_segment,
    scan_segment,
    torn_tail,
    with_flags,
)

argvs = st.lists(st.binary(max_size=40), min_size=1, max_size=6)
effects_st = st.lists(st.tuples(st.integers(0, 2**31 - 1), argvs), max_size=5)
u64 = st.integers(0, 2**64 - 1)


@settings(max_examples=300)
@given(lsn=u64, epoch=u64, effects=effects_st, flags=st.integers(0, 255))
def test_round_trip(lsn: int, epoch: int, effects: list, flags: int) -> None:
    data = encode_record(lsn, epoch, effects, flags)
    got_lsn, got_epoch, got_flags, got_effects, end = decode_record(data)
    assert (got_lsn, got_epoch, got_flags) == (lsn, epoch, flags)
    assert got_effects == [(db, argv) for db, argv in effects]
    assert end == len(data)


@settings(max_examples=100)
@given(st.lists(effects_st, min_size=1, max_size=20), st.integers(1, 2**40))
def test_segment_round_trip(batches: list, first: int) -> None:
    buf = b"".join(encode_record(first + i, 7, eff) for i, eff in enumerate(batches))
    expected = [(first + i, [(db, argv) for db, argv in eff]) for i, eff in enumerate(batches)]
    assert list(iter_segment(buf, first, first + len(batches))) == expected
    assert list(iter_segment(buf, first, first + len(batches), verify=False)) == expected
    # from/to bounds
    assert list(iter_segment(buf, first + 1, first + 1)) == expected[1:2]
    scan = scan_segment(buf, first)
    assert scan.bad_offset is None
    assert scan.records == len(batches)
    assert scan.last_lsn == first + len(batches) - 1
    assert scan.good_end == len(buf)


def test_payload_is_resp() -> None:
    # The documented layout: one RESP array alternating db integer and argv array.
    payload = encode_effects([(0, [b"SET", b"k", b"v"]), (3, [b"DEL", b"a\r\nb"])])
    assert payload == (
        b"*4\r\n:0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
        b":3\r\n*2\r\n$3\r\nDEL\r\n$4\r\na\r\nb\r\n"
    )
    data = encode_record(5, 2, [(0, [b"SET", b"k", b"v"])])
    magic, crc, version, flags, reserved, lsn, epoch, length = struct.unpack_from(
        "<4sIBBHQQI", data
    )
    assert (magic, version, flags, reserved, lsn, epoch) == (MAGIC, 1, 0, 0, 5, 2)
    assert length == len(data) - HEADER_SIZE
    assert crc == crc32c(data[8:])


def test_crc32c_known_value() -> None:
    # The standard CRC-32C check value (RFC 3720, Castagnoli).
    assert crc32c(b"123456789") == 0xE3069283


def test_pure_python_fallback_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google_crc32c", None)  # makes the import fail
    spec = importlib.util.spec_from_file_location("record_fallback", record.__file__)
    assert spec is not None and spec.loader is not None
    fallback = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "record_fallback", fallback)
    spec.loader.exec_module(fallback)
    assert fallback.crc32c.__module__ == "record_fallback"
    for data in (b"", b"123456789", bytes(range(256)) * 3):
        assert fallback.crc32c(data) == crc32c(data)
    data = encode_record(9, 1, [(2, [b"HSET", b"h", b"f", b"\x00\xff"])])
    assert fallback.encode_record(9, 1, [(2, [b"HSET", b"h", b"f", b"\x00\xff"])]) == data


def test_every_bit_flip_is_detected() -> None:
    data = encode_record(42, 3, [(1, [b"SET", b"key", b"value"])], FLAG_BATCH_END)
    assert check_record(data, 0, len(data)) is None
    for i in range(len(data)):
        for bit in range(8):
            damaged = bytearray(data)
            damaged[i] ^= 1 << bit
            assert check_record(bytes(damaged), 0, len(damaged)) is not None, (i, bit)
            with pytest.raises(RecordError):
                decode_record(bytes(damaged))


def test_with_flags_keeps_record_valid() -> None:
    data = encode_record(1, 0, [(0, [b"INCR", b"n"])])
    marked = with_flags(data, FLAG_BATCH_END)
    assert check_record(marked, 0, len(marked)) is None
    assert decode_record(marked)[2] == FLAG_BATCH_END
    assert decode_record(marked)[3] == decode_record(data)[3]


def test_iter_segment_rejects_bad_checksum() -> None:
    recs = [encode_record(i, 0, [(0, [b"SET", b"k%d" % i, b"v"])]) for i in range(1, 4)]
    buf = bytearray(b"".join(recs))
    buf[len(recs[0]) + HEADER_SIZE + 3] ^= 0x40  # inside record 2's payload
    with pytest.raises(RecordError) as info:
        list(iter_segment(bytes(buf), 1, 10))
    assert info.value.offset == len(recs[0])
    # Records before from_lsn are only skipped over, not checked.
    assert [lsn for lsn, _ in iter_segment(bytes(buf), 3, 10)] == [3]


def _segment(n: int, batch_ends: set[int] | None = None, first: int = 1) -> tuple[bytes, list[int]]:
    offsets = []
    parts = []
    pos = 0
    for i in range(n):
        lsn = first + i
        flags = FLAG_BATCH_END if batch_ends is None or lsn in batch_ends else 0
        data = encode_record(lsn, 0, [(0, [b"SET", b"key%d" % lsn, b"x" * 10])], flags)
        offsets.append(pos)
        parts.append(data)
        pos += len(data)
    return b"".join(parts), offsets


def test_scan_every_truncation_of_last_record_is_a_torn_tail() -> None:
    buf, offsets = _segment(4)
    for cut in range(offsets[-1] + 1, len(buf)):
        scan = scan_segment(buf[:cut], 1)
        assert scan.bad_offset == offsets[-1]
        assert scan.records == 3 and scan.last_lsn == 3
        assert torn_tail(scan)


def test_scan_bad_record_followed_by_later_batch_is_corruption() -> None:
    buf, offsets = _segment(5)  # every record its own batch
    damaged = bytearray(buf)
    damaged[offsets[2] + 20] ^= 1
    scan = scan_segment(bytes(damaged), 1)
    assert scan.bad_offset == offsets[2]
    assert [lsn for _off, lsn, _f in scan.after_bad] == [4, 5]
    assert not torn_tail(scan)


def test_scan_bad_record_inside_final_batch_is_torn() -> None:
    # Batches: [1, 2] and [3, 4, 5]; record 3 lost (zeros), 4 and 5 reached the disk.
    buf, offsets = _segment(5, batch_ends={2, 5})
    damaged = bytearray(buf)
    damaged[offsets[2] : offsets[3]] = bytes(offsets[3] - offsets[2])
    scan = scan_segment(bytes(damaged), 1)
    assert scan.bad_offset == offsets[2] and scan.last_lsn == 2
    assert torn_tail(scan)
    # ...but if a batch ended after the bad record and another followed, it is not.
    buf, offsets = _segment(5, batch_ends={2, 4, 5})
    damaged = bytearray(buf)
    damaged[offsets[2] : offsets[3]] = bytes(offsets[3] - offsets[2])
    assert not torn_tail(scan_segment(bytes(damaged), 1))


def test_scan_out_of_sequence_lsn_is_corruption() -> None:
    a = encode_record(1, 0, [(0, [b"SET", b"a", b"1"])], FLAG_BATCH_END)
    b = encode_record(3, 0, [(0, [b"SET", b"b", b"2"])], FLAG_BATCH_END)
    scan = scan_segment(a + b, 1)
    assert scan.bad_offset == len(a)
    assert scan.bad_crc_ok
    assert "unexpected LSN 3 (expected 2)" in (scan.bad_reason or "")
    assert not torn_tail(scan)


def test_scan_garbage_tail() -> None:
    buf, _offsets = _segment(2)
    for tail in (b"\0" * 100, b"\xff" * 7, MAGIC + b"\0" * 40, b"garbage" * 50):
        scan = scan_segment(buf + tail, 1)
        assert scan.bad_offset == len(buf)
        assert torn_tail(scan)


def test_round_trip_large_and_wide() -> None:
    big = bytes(range(256)) * 300  # past the cached bulk headers
    effects = [
        (70000, [b"RPUSH", b"l", *[b"%d" % i for i in range(100)]]),
        (15, [b"SET", b"k", big]),
    ]
    data = encode_record(2**64 - 1, 2**63, effects)
    assert decode_record(data)[:4] == (2**64 - 1, 2**63, 0, effects)
    assert list(iter_segment(data, 1, 2**64 - 1)) == [(2**64 - 1, effects)]


def test_bytes_like_arguments() -> None:
    data = encode_record(1, 0, [(0, [b"SET", bytearray(b"k"), memoryview(b"v")])])  # type: ignore[list-item]
    assert decode_record(data)[3] == [(0, [b"SET", b"k", b"v"])]
