"""Bitmap commands: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO.

Bitmaps are string values. A command that changes one in place works on a
``bytearray`` (turning a ``bytes`` value into one first, as APPEND does) and
then calls ``signal_modified``; readers never hand the stored object out.

Argument checks follow Redis 7.2: BITCOUNT and BITPOS validate their range
arguments before looking at the key, so a missing key with a bad argument is an
error, not 0 (Redis 7.0 answered 0).

Effects: every write here is deterministic and logs its argv. A BITFIELD whose
writes all fail under OVERFLOW FAIL still logs its argv when it had to create or
grow the string (Redis grows it too, without telling its replicas); a BITFIELD
of GETs only changes nothing and logs nothing.
"""

from __future__ import annotations

from typing import Any

from cairn.commands import errors
from cairn.commands.args import to_int
from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.registry import VERBATIM, command, ks
from cairn.keyspace.notify import GENERIC, STRING, notify
from cairn.types import bitfield as bf

G = "bitmap"
_A = "bitmap"

BAD_OFFSET = "ERR bit offset is not an integer or out of range"
BAD_BIT = "ERR bit is not an integer or out of range"
BAD_TYPE = ("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not "
            "supported but i64 is.")


def _string(value: Any) -> Any:
    t = type(value)
    if value is not None and t is not bytes and t is not bytearray:
        raise CommandError(errors.WRONGTYPE)
    return value


def _bit_offset(c: Client, arg: bytes, bits: int = 0) -> int:
    """A bit offset; ``#n`` means n * bits when bits is given (BITFIELD)."""
    if bits and arg[:1] == b"#":
        n = to_int(arg[1:])
        if n is not None:
            n = bf.wrap64(n * bits)
    else:
        n = to_int(arg)
    if n is None or n < 0:
        raise CommandError(BAD_OFFSET)
    if n >> 3 >= c.server.config["proto-max-bulk-len"] and not c.server.keyspace.replaying:
        raise CommandError(BAD_OFFSET)
    return n


def _writable(c: Client, key: bytes, size: int) -> tuple[bytearray, bool, bool | None]:
    """(buffer, created or grown, stored) for a write to the key's string.

    The buffer holds at least ``size`` bytes (zero padded). A new key is
    created at once (stored is None: nothing left to signal); a ``bytes``
    value is copied into a bytearray that is not stored yet (``_commit``
    stores it if something changed); a ``bytearray`` value is the stored
    object itself. WRONGTYPE for another type."""
    db = c.db
    value = db.lookup(key)
    if value is None:
        buf = bytearray(size)
        db.set(key, buf)
        return buf, True, None
    t = type(value)
    if t is bytearray:
        buf, stored = value, True
    elif t is bytes:
        buf, stored = bytearray(value), False
    else:
        raise CommandError(errors.WRONGTYPE)
    if len(buf) < size:
        buf += bytes(size - len(buf))
        return buf, True, stored
    return buf, False, stored


def _commit(c: Client, key: bytes, buf: bytearray, stored: bool | None,
            announce: bool = True) -> None:
    db = c.db
    if stored:
        db.signal_modified(key)
    elif stored is not None:
        db.set(key, buf, keep_ttl=True)
    if announce and db.events:
        notify(db, STRING, b"setbit", key)


# -- SETBIT / GETBIT --------------------------------------------------------------------


@command("setbit", 4, "write denyoom", group=G, since="2.2.0", keys=ks("RW ACCESS UPDATE"),
         acl=_A, effects=VERBATIM,
         summary="Sets or clears the bit at offset of the string value. Creates the key if it "
                 "doesn't exist.",
         complexity="O(1)")
def setbit(c: Client, argv: list[bytes]) -> Any:
    offset = _bit_offset(c, argv[2])
    on = to_int(argv[3])
    if on is None or on & ~1:
        raise CommandError(BAD_BIT)
    key = argv[1]
    db = c.db
    byte = offset >> 3
    shift = 7 - (offset & 7)
    value = _string(db.lookup(key))
    if value is not None and byte < len(value):
        old = (value[byte] >> shift) & 1
        if old == on:
            return old
    else:
        old = 0
    buf, _, stored = _writable(c, key, byte + 1)
    if on:
        buf[byte] |= 1 << shift
    else:
        buf[byte] &= ~(1 << shift) & 0xFF
    _commit(c, key, buf, stored)
    return old


@command("getbit", 3, "readonly fast", group=G, since="2.2.0", keys=ks("RO ACCESS"), acl=_A,
         summary="Returns a bit value by offset.", complexity="O(1)")
def getbit(c: Client, argv: list[bytes]) -> Any:
    offset = _bit_offset(c, argv[2])
    value = _string(c.db.lookup_read(argv[1]))
    if value is None:
        return 0
    byte = offset >> 3
    if byte >= len(value):
        return 0
    return (value[byte] >> (7 - (offset & 7))) & 1


# -- BITCOUNT / BITPOS --------------------------------------------------------------------


def _unit(arg: bytes) -> bool:
    """True for BIT, False for BYTE."""
    unit = arg.lower()
    if unit == b"bit":
        return True
    if unit == b"byte":
        return False
    raise CommandError(errors.SYNTAX)


def _long(arg: bytes) -> int:
    n = to_int(arg)
    if n is None:
        raise CommandError(errors.NOT_INTEGER)
    return n


def _clamp(start: int, end: int, total: int) -> tuple[int, int]:
    if start < 0:
        start = max(total + start, 0)
    if end < 0:
        end = max(total + end, 0)
    if end >= total:
        end = total - 1
    return start, end


@command("bitcount", -2, "readonly", group=G, since="2.6.0", keys=ks("RO ACCESS"), acl=_A,
         history=(("7.0.0", "Added the `BYTE|BIT` option."),),
         summary="Counts the number of set bits (population counting) in a string.",
         complexity="O(N)")
def bitcount(c: Client, argv: list[bytes]) -> Any:
    argc = len(argv)
    if argc == 2:
        value = _string(c.db.lookup_read(argv[1]))
        if not value:
            return 0
        return bf.popcount(value, 0, len(value) - 1)
    if argc not in (4, 5):
        raise CommandError(errors.SYNTAX)
    start = _long(argv[2])
    end = _long(argv[3])
    isbit = _unit(argv[4]) if argc == 5 else False
    value = _string(c.db.lookup_read(argv[1]))
    if value is None or (start < 0 and end < 0 and start > end):
        return 0
    total = len(value) * 8 if isbit else len(value)
    start, end = _clamp(start, end, total)
    if start > end:
        return 0
    if isbit:
        return bf.count_bits(value, start, end)
    return bf.popcount(value, start, end)


@command("bitpos", -3, "readonly", group=G, since="2.8.7", keys=ks("RO ACCESS"), acl=_A,
         history=(("7.0.0", "Added the `BYTE|BIT` option."),),
         summary="Finds the first set (1) or clear (0) bit in a string.", complexity="O(N)")
def bitpos(c: Client, argv: list[bytes]) -> Any:
    bit = to_int(argv[2])
    if bit is None:
        raise CommandError(errors.NOT_INTEGER)
    if bit != 0 and bit != 1:
        raise CommandError("ERR The bit argument must be 1 or 0.")
    argc = len(argv)
    if argc > 6:
        raise CommandError(errors.SYNTAX)
    start = 0
    end = -1
    isbit = False
    end_given = argc >= 5
    if argc >= 4:
        start = _long(argv[3])
        if argc == 6:
            isbit = _unit(argv[5])
        if end_given:
            end = _long(argv[4])
    value = _string(c.db.lookup_read(argv[1]))
    if value is None:
        return -1 if bit else 0
    total = len(value) * 8 if isbit else len(value)
    start, end = _clamp(start, end, total)
    if start > end:
        return -1
    if isbit:
        pos = bf.find_bit(value, start, end, bit)
    else:
        pos = bf.find_bit(value, start * 8, end * 8 + 7, bit)
    if pos >= 0 or bit or end_given:
        return pos
    return (end + 1) * 8  # no clear bit: the first one past the end (zero padding)


# -- BITOP ----------------------------------------------------------------------------------


@command("bitop", -4, "write denyoom", group=G, since="2.6.0",
         keys=(ks("OW UPDATE", 2), ks("RO ACCESS", 3, ("range", -1, 1, 0))), acl=_A,
         effects=VERBATIM,
         summary="Performs bitwise operations on multiple strings, and stores the result.",
         complexity="O(N)")
def bitop(c: Client, argv: list[bytes]) -> Any:
    op = argv[1].lower()
    if op not in (b"and", b"or", b"xor", b"not"):
        raise CommandError(errors.SYNTAX)
    if op == b"not" and len(argv) != 4:
        raise CommandError("ERR BITOP NOT must be called with a single source key.")
    lookup = c.db.lookup_read
    sources = [_string(lookup(key)) for key in argv[3:]]
    maxlen = max(len(s) if s is not None else 0 for s in sources)
    db = c.db
    dest = argv[2]
    if not maxlen:
        if db.delete(dest) and db.events:
            notify(db, GENERIC, b"del", dest)
        return 0
    ints = [int.from_bytes(s, "little") if s is not None else 0 for s in sources]
    if op == b"not":
        result = ints[0] ^ ((1 << (8 * maxlen)) - 1)
    else:
        result = ints[0]
        if op == b"and":
            for x in ints[1:]:
                result &= x
        elif op == b"or":
            for x in ints[1:]:
                result |= x
        else:
            for x in ints[1:]:
                result ^= x
    db.set(dest, bytearray(result.to_bytes(maxlen, "little")))
    if db.events:
        notify(db, STRING, b"set", dest)
    return maxlen


# -- BITFIELD ------------------------------------------------------------------------------

_GET, _SET, _INCRBY = 0, 1, 2
_OVERFLOW = {b"wrap": bf.WRAP, b"sat": bf.SAT, b"fail": bf.FAIL}


def _field_type(arg: bytes) -> tuple[bool, int]:
    """(signed, bits) of a type like i16 or u8."""
    kind = arg[:1]
    if kind != b"i" and kind != b"u":
        raise CommandError(BAD_TYPE)
    signed = kind == b"i"
    bits = to_int(arg[1:])
    if bits is None or bits < 1 or bits > (64 if signed else 63):
        raise CommandError(BAD_TYPE)
    return signed, bits


def _parse_bitfield(c: Client, argv: list[bytes]) -> list[tuple[int, bool, int, int, int, int]]:
    """(op, signed, bits, offset, argument, overflow mode) for each operation."""
    ops: list[tuple[int, bool, int, int, int, int]] = []
    mode = bf.WRAP
    argc = len(argv)
    j = 2
    while j < argc:
        rest = argc - j - 1
        name = argv[j].lower()
        if name == b"get" and rest >= 2:
            op = _GET
        elif name == b"set" and rest >= 3:
            op = _SET
        elif name == b"incrby" and rest >= 3:
            op = _INCRBY
        elif name == b"overflow" and rest >= 1:
            found = _OVERFLOW.get(argv[j + 1].lower())
            if found is None:
                raise CommandError("ERR Invalid OVERFLOW type specified")
            mode = found
            j += 2
            continue
        else:
            raise CommandError(errors.SYNTAX)
        signed, bits = _field_type(argv[j + 1])
        offset = _bit_offset(c, argv[j + 2], bits)
        arg = 0
        if op != _GET:
            arg = _long(argv[j + 3])
        ops.append((op, signed, bits, offset, arg, mode))
        j += 3 if op == _GET else 4
    return ops


def _bitfield(c: Client, argv: list[bytes], readonly_command: bool) -> Any:
    ops = _parse_bitfield(c, argv)
    key = argv[1]
    writes = [op for op in ops if op[0] != _GET]
    if not writes:
        value = _string(c.db.lookup_read(key))
        src = value if value is not None else b""
        return [bf.get_field(src, offset, bits, signed) for _, signed, bits, offset, _, _ in ops]
    if readonly_command:
        raise CommandError("ERR BITFIELD_RO only supports the GET subcommand")
    highest = max(offset + bits - 1 for _, _, bits, offset, _, _ in writes)
    buf, grown, stored = _writable(c, key, (highest >> 3) + 1)
    changes = 0
    out: list[Any] = []
    for op, signed, bits, offset, arg, mode in ops:
        if op == _GET:
            out.append(bf.get_field(buf, offset, bits, signed))
            continue
        old = bf.get_field(buf, offset, bits, signed)
        if signed:
            if op == _INCRBY:
                over, new = bf.signed_overflow(old, arg, bits, mode)
                reply = new
            else:
                over, new = bf.signed_overflow(arg, 0, bits, mode)
                reply = old
        else:
            if op == _INCRBY:
                over, new = bf.unsigned_overflow(old, arg, bits, mode)
                reply = new
            else:
                over, new = bf.unsigned_overflow(arg & bf.M64, 0, bits, mode)
                reply = old
        if over and mode == bf.FAIL:
            out.append(None)
            continue
        out.append(reply)
        bf.set_field(buf, offset, bits, new)
        if grown or new != old:
            changes += 1
    if changes or grown:
        # Redis announces "setbit" only when some field was written.
        _commit(c, key, buf, stored, changes > 0)
    return out


@command("bitfield", -2, "write denyoom", group=G, since="3.2.0",
         keys=ks("RW UPDATE ACCESS VARIABLE_FLAGS",
                 notes="This command allows both access and modification of the key"),
         acl=_A, effects=VERBATIM,
         summary="Performs arbitrary bitfield integer operations on strings.",
         complexity="O(1) for each subcommand specified")
def bitfield(c: Client, argv: list[bytes]) -> Any:
    return _bitfield(c, argv, False)


@command("bitfield_ro", -2, "readonly fast", group=G, since="6.0.0", keys=ks("RO ACCESS"),
         acl=_A,
         summary="Performs arbitrary read-only bitfield integer operations on strings.",
         complexity="O(1) for each subcommand specified")
def bitfield_ro(c: Client, argv: list[bytes]) -> Any:
    return _bitfield(c, argv, True)
