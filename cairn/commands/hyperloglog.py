"""HyperLogLog commands: PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST.

An HLL is a string value holding Redis' own byte format (cairn.types.hll), so
GET, DUMP or a replica see exactly what redis-server would store.

Effects: PFADD and PFMERGE are deterministic and log their argv. PFCOUNT is
flagged readonly yet writes the cardinality it computed into the string's
header cache, as Redis does; when it does, it logs ``PFCOUNT key`` (what Redis
propagates too), which recomputes and stores the same bytes on replay.
"""

from __future__ import annotations

import random
from typing import Any

from cairn.commands import errors
from cairn.commands.context import Client
from cairn.commands.errors import CommandError
from cairn.commands.registry import CUSTOM, VERBATIM, command, ks
from cairn.keyspace.notify import STRING, notify
from cairn.protocol import OK, Status
from cairn.types import hll

G = "hyperloglog"
_A = "hyperloglog"

NOT_HLL = "WRONGTYPE Key is not a valid HyperLogLog string value."
CORRUPT = "INVALIDOBJ Corrupted HLL object detected"


def _checked(value: Any) -> Any:
    """The value if it is a valid HLL string; the matching error otherwise."""
    t = type(value)
    if t is not bytes and t is not bytearray:
        raise CommandError(errors.WRONGTYPE)
    try:
        hll.encoding(value)
    except hll.NotHLL:
        raise CommandError(NOT_HLL) from None
    return value


def _signed(n: int) -> int:
    return n - (1 << 64) if n >= 1 << 63 else n


@command("pfadd", -2, "write denyoom fast", group=G, since="2.8.9", keys=ks("RW INSERT"),
         acl=_A, effects=CUSTOM,
         summary="Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.",
         complexity="O(1) to add every element.")
def pfadd(c: Client, argv: list[bytes]) -> Any:
    db = c.db
    key = argv[1]
    current = db.lookup(key)
    if current is None:
        value = hll.new_sparse()
        created = True
    else:
        _checked(current)
        value = current if type(current) is bytearray else bytearray(current)
        created = False
    new, updated, corrupt = hll.add(value, argv[2:], c.server.config["hll-sparse-max-bytes"])
    if corrupt:
        # Redis keeps the registers it raised before meeting the damage, and
        # says nothing to its replicas; we log the resulting bytes instead.
        if updated:
            db.set(key, new, keep_ttl=True)
            db.propagate([b"SET", key, bytes(new), b"KEEPTTL"])
        raise CommandError(CORRUPT)
    if not (updated or created):
        return 0
    hll.invalidate(new)
    if new is current:
        db.signal_modified(key)
    else:
        db.set(key, new, keep_ttl=True)
    db.propagate(argv)
    if db.events:
        notify(db, STRING, b"pfadd", key)
    return 1


def _merged_registers(c: Client, keys: list[bytes]) -> tuple[bytes | bytearray | None, bool]:
    """Register-wise maximum of the HLLs at keys (missing keys are empty), and
    whether any of them is dense."""
    lookup = c.db.lookup_read
    regs: bytes | bytearray | None = None
    any_dense = False
    for key in keys:
        value = lookup(key)
        if value is None:
            continue
        _checked(value)
        if value[4] == hll.DENSE:
            any_dense = True
        try:
            these = hll.registers(value)
        except hll.CorruptHLL:
            raise CommandError(CORRUPT) from None
        regs = these if regs is None else hll.max_registers(regs, these)
    return regs, any_dense


@command("pfcount", -2, "readonly may_replicate", group=G, since="2.8.9",
         keys=ks("RW ACCESS", 1, ("range", -1, 1, 0),
                 notes="RW because it may change the internal representation of the key, "
                       "and propagate to replicas"),
         acl=_A,
         summary="Returns the approximated cardinality of the set(s) observed by the "
                 "HyperLogLog key(s).",
         complexity="O(1) with a very small average constant time when called with a single "
                    "key. O(N) with N being the number of keys, and much bigger constant times, "
                    "when called with multiple keys.")
def pfcount(c: Client, argv: list[bytes]) -> Any:
    if len(argv) > 2:
        regs, _ = _merged_registers(c, argv[1:])
        if regs is None:
            return 0
        return _signed(hll.estimate(hll.histogram(regs)))
    db = c.db
    key = argv[1]
    value = db.lookup_read(key)
    if value is None:
        return 0
    _checked(value)
    cached = hll.cached_count(value)
    if cached is not None:
        return _signed(cached)
    try:
        card = hll.count(value)
    except hll.CorruptHLL:
        raise CommandError(CORRUPT) from None
    if c.server.keyspace.writes_refused():
        return _signed(card)  # the log refuses writes: answer without caching
    if type(value) is bytearray:
        hll.store_count(value, card)
        db.signal_modified(key)
    else:
        value = bytearray(value)
        hll.store_count(value, card)
        db.set(key, value, keep_ttl=True)
    db.propagate([b"PFCOUNT", key])
    return _signed(card)


@command("pfmerge", -2, "write denyoom", group=G, since="2.8.9",
         keys=(ks("RW ACCESS INSERT"), ks("RO ACCESS", 2, ("range", -1, 1, 0))), acl=_A,
         effects=VERBATIM,
         summary="Merges one or more HyperLogLog values into a single key.",
         complexity="O(N) to merge N HyperLogLogs, but with high constant times.")
def pfmerge(c: Client, argv: list[bytes]) -> Any:
    regs, any_dense = _merged_registers(c, argv[1:])  # the destination counts too
    db = c.db
    key = argv[1]
    current = db.lookup(key)
    value = hll.new_sparse() if current is None else bytearray(current)
    if any_dense and value[4] == hll.SPARSE:
        value = hll.sparse_to_dense(value)  # decodes: the merge above read it
    if regs is None:
        hll.invalidate(value)
    else:
        value = hll.write_registers(value, regs, c.server.config["hll-sparse-max-bytes"])
    db.set(key, value, keep_ttl=True)
    if db.events:
        notify(db, STRING, b"pfadd", key)  # Redis' name for PFMERGE's event too
    return OK


@command("pfdebug", 3, "write denyoom admin", group=G, since="2.8.9",
         keys=ks("RW ACCESS", 2), acl=_A, effects=VERBATIM, doc_flags=("syscmd",),
         summary="Internal commands for debugging HyperLogLog values.", complexity="N/A")
def pfdebug(c: Client, argv: list[bytes]) -> Any:
    sub = argv[1].lower()
    key = argv[2]
    db = c.db
    value = db.lookup(key)
    if value is None:
        raise CommandError("ERR The specified key does not exist")
    _checked(value)
    sparse = value[4] == hll.SPARSE
    if sub == b"getreg" or sub == b"todense":
        if sparse:
            try:
                value = hll.sparse_to_dense(value)
            except hll.CorruptHLL:
                raise CommandError(CORRUPT) from None
            db.set(key, value, keep_ttl=True)
        if sub == b"todense":
            return 1 if sparse else 0
        return list(hll.dense_registers(value))
    if sub == b"decode":
        if not sparse:
            raise CommandError("ERR HLL encoding is not sparse")
        return hll.decode_text(value)
    if sub == b"encoding":
        return Status("sparse" if sparse else "dense")
    name = argv[1].decode("utf-8", "surrogateescape")
    raise CommandError(f"ERR Unknown PFDEBUG subcommand '{name}'")


@command("pfselftest", 1, "admin", group=G, since="2.8.9", acl=_A, doc_flags=("syscmd",),
         summary="An internal command for testing HyperLogLog values.", complexity="N/A")
def pfselftest(c: Client, argv: list[bytes]) -> Any:
    failure = self_test()
    if failure:
        raise CommandError(f"TESTFAILED {failure}")
    return OK


def self_test(seed: int | None = None) -> str:
    """Check the register packing, the sparse and dense encodings against each
    other, and the estimator's error; returns what failed ("" when all pass)."""
    rnd = random.Random(seed)
    # 1. Dense registers: set every register at random, read them back both ways.
    dense = hll.sparse_to_dense(hll.new_sparse())
    expected = bytearray(hll.REGISTERS)
    for _ in range(3):
        for i in range(hll.REGISTERS):
            v = rnd.randrange(64)
            expected[i] = v
            hll.dense_set(dense, i, v)
        for i in range(hll.REGISTERS):
            if hll.dense_get(dense, i) != expected[i]:
                return f"Register error: register {i} reads {hll.dense_get(dense, i)}, set {expected[i]}"
        if hll.dense_registers(dense) != expected:
            return "Register error: unpacked registers differ"
        if hll.pack_registers(expected) != bytes(dense[hll.HEADER:]):
            return "Register error: packed registers differ"
    # 2. The same elements into a sparse and a dense HLL: same registers, same count.
    sparse = hll.new_sparse()
    dense = hll.sparse_to_dense(hll.new_sparse())
    added = 0
    for step in (1, 10, 100, 1000, 5000):
        batch = [b"%d:%d" % (rnd.getrandbits(40), added + i) for i in range(step)]
        added += step
        sparse, _, bad = hll.add(sparse, batch, 1 << 30)
        dense, _, _ = hll.add(dense, batch, 1 << 30)
        if bad:
            return "Sparse error: the sparse encoding broke"
        if hll.registers(sparse) != hll.registers(dense):
            return f"Sparse error: sparse and dense registers differ after {added} elements"
        if hll.count(sparse) != hll.count(dense):
            return f"Sparse error: sparse and dense counts differ after {added} elements"
    # 3. Estimation error within five standard errors (1.04/sqrt(m)).
    dense = hll.sparse_to_dense(hll.new_sparse())
    tolerance = 5 * 1.04 / hll.REGISTERS**0.5
    base = rnd.getrandbits(32)
    total = 0
    for target in (10, 100, 1000, 10000, 30000):
        batch = [b"e%d:%d" % (base, i) for i in range(total, target)]
        hll.dense_add(dense, batch)
        total = target
        got = hll.count(dense)
        if abs(got - total) > max(1.0, total * tolerance):
            return f"Estimation error: {got} for {total} elements"
    return ""
