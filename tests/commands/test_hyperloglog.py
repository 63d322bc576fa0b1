"""HyperLogLog commands against the real redis-server (RESP2 and RESP3).

The stored strings must be byte-identical to redis-server's for the same
history (sparse and dense encodings, the cached cardinality in the header),
so most tests GET the key after each step and compare the bytes. In-process
tests cover the effects (what the transaction log records) and replay.
"""

from __future__ import annotations

import random

import pytest
from harness import Pair
from inprocess import EffectsCapture

import cairn.commands  # noqa: F401  (registers every command)
from cairn.commands.context import Server
from cairn.commands.hyperloglog import self_test
from cairn.commands.replay import Replayer
from cairn.protocol import ErrorReply
from cairn.types import hll


def _elements(rnd: random.Random, n: int, tag: str = "") -> list[str]:
    return [f"{tag}{rnd.getrandbits(48)}" for _ in range(n)]


# -- PFADD / PFCOUNT ------------------------------------------------------------------------


def test_pfadd_basics(pair: Pair) -> None:
    pair.check("PFADD", "h")  # creates an empty HLL, cache marked stale
    pair.check("GET", "h")
    pair.check("PFADD", "h")
    pair.check("PFCOUNT", "h")
    pair.check("GET", "h")  # the count is cached now
    pair.check("PFADD", "h", "a", "b", "c")
    pair.check("GET", "h")
    pair.check("PFADD", "h", "a", "b", "c")
    pair.check("PFCOUNT", "h")
    pair.check("GET", "h")
    pair.check("PFADD", "h", "d")
    pair.check("GET", "h")  # stale again, the old count still in the low bytes
    pair.check("PFCOUNT", "h")
    pair.check("PFCOUNT", "nokey")
    pair.check("PFADD", "e", "")
    pair.check("PFCOUNT", "e")
    pair.check("PFADD", "b", b"\x00\xff binary \r\n", "x" * 100, "12345678", "1234567")
    pair.check("GET", "b")
    pair.check("OBJECT", "ENCODING", "b")
    pair.check("TYPE", "b")


def test_pfadd_keeps_the_ttl(pair: Pair) -> None:
    pair.check("PFADD", "h", "a")
    pair.check("EXPIRE", "h", "1000")
    pair.check("PFADD", "h", "b")
    pair.check("TTL", "h")
    pair.check("PFCOUNT", "h")
    pair.check("TTL", "h")


@pytest.mark.parametrize("seed", range(6))
def test_random_pfadd_sequences_are_byte_identical(pair2: Pair, seed: int) -> None:
    rnd = random.Random(seed)
    pair = pair2
    target = [50, 400, 1500, 3000, 8000, 30000][seed]
    added = 0
    while added < target:
        n = rnd.choice([1, 1, 2, 5, 20, 100, 500])
        pair.check("PFADD", "h", *_elements(rnd, n))
        added += n
        if rnd.random() < 0.3:
            pair.check("PFCOUNT", "h")
        if rnd.random() < 0.3 or added >= target:
            pair.check("GET", "h")
    pair.check("PFDEBUG", "ENCODING", "h")
    pair.check("PFCOUNT", "h")
    pair.check("GET", "h")


_M = 0xC6A4A7935BD1E995
_MASK = (1 << 64) - 1


def _element_with_hash(target: int) -> bytes:
    """An 8-byte element whose MurmurHash64A (Redis' seed) is ``target``: every
    step of the hash is invertible for a single 8-byte block."""
    inv = pow(_M, -1, 1 << 64)

    def unshift(x: int) -> int:  # x ^ (x >> 47) is its own inverse
        return x ^ (x >> 47)

    h = unshift(target)
    h = (h * inv) & _MASK
    h = unshift(h)
    h = (h * inv) & _MASK
    k = h ^ ((hll.SEED ^ (8 * _M)) & _MASK)
    k = (k * inv) & _MASK
    k = unshift(k)
    k = (k * inv) & _MASK
    element = k.to_bytes(8, "little")
    assert hll.murmurhash64a(element) == target
    return element


def _element_for(index: int, count: int) -> bytes:
    """An element landing in register ``index`` with ``count`` (1..51)."""
    rest = 1 << (count - 1) if count <= 50 else 0
    return _element_with_hash((rest << 14) | index)


def test_element_forging() -> None:
    for index, count in ((0, 1), (5, 32), (16383, 33), (77, 50), (9, 51)):
        assert hll.pattern(_element_for(index, count)) == (index, count)


def test_large_counts(pair: Pair) -> None:
    """Counts above 32 do not fit a sparse VAL: the HLL turns dense."""
    pair.check("PFADD", "h", _element_for(10, 5), _element_for(11, 32), _element_for(12, 32))
    pair.check("GET", "h")  # 32 still sparse
    pair.check("PFADD", "h", _element_for(13, 2), _element_for(12, 33), _element_for(14, 7))
    pair.check("PFDEBUG", "ENCODING", "h")
    pair.check("GET", "h")
    pair.check("PFADD", "h", _element_for(16383, 51), _element_for(0, 50))
    pair.check("GET", "h")
    pair.check("PFCOUNT", "h")
    pair.check("PFADD", "s", _element_for(100, 3))
    pair.check("PFMERGE", "s", "h")
    pair.check("GET", "s")
    pair.check("PFADD", "t", *[_element_for(i * 7, 1 + i % 51) for i in range(2000)])
    pair.check("GET", "t")
    pair.check("PFCOUNT", "t")
    pair.check("PFCOUNT", "t", "s")
    # Runs of equal values next to each other: the VAL merging rules.
    for key, order in (("u", range(0, 40)), ("v", range(39, -1, -1)), ("w", [5, 7, 6, 4, 8, 3])):
        for i in order:
            pair.check("PFADD", key, _element_for(1000 + i, 3))
            pair.check("GET", key)
        pair.check("PFDEBUG", "DECODE", key)
        pair.check("PFADD", key, _element_for(1002, 4), _element_for(1001, 4))
        pair.check("PFDEBUG", "DECODE", key)
        pair.check("GET", key)


def _sparse_from_registers(regs: bytes | bytearray) -> bytes:
    """A canonical sparse encoding of the registers (runs as long as allowed)."""
    out = bytearray(b"HYLL\x01\x00\x00\x00" + b"\x00" * 7 + b"\x80")
    i = 0
    while i < len(regs):
        v = regs[i]
        j = i
        while j < len(regs) and regs[j] == v and (v == 0 or j - i < 4):
            j += 1
        run = j - i
        if v == 0:
            while run:
                part = min(run, 16384)
                if part > 64:
                    out += bytes((0x40 | ((part - 1) >> 8), (part - 1) & 0xFF))
                else:
                    out.append(part - 1)
                run -= part
        else:
            out.append(0x80 | ((v - 1) << 2) | (run - 1))
        i = j
    return bytes(out)


def test_forged_sparse_values(pair2: Pair) -> None:
    """Sparse strings of any shape (here: canonical runs of random registers)
    take further PFADDs and merges exactly as in Redis."""
    pair = pair2
    rnd = random.Random(11)
    for round_ in range(8):
        regs = bytearray(hll.REGISTERS)
        lo = rnd.randrange(hll.REGISTERS - 300)
        for _ in range(rnd.randint(1, 120)):
            i = rnd.randrange(lo, lo + 300)
            regs[i : i + rnd.randint(1, 6)] = bytes((rnd.randint(1, 6),)) * 6
        del regs[hll.REGISTERS :]
        pair.check("SET", "f", _sparse_from_registers(regs))
        pair.check("PFCOUNT", "f")
        for _ in range(30):
            elements = [_element_for(rnd.randrange(lo, lo + 300), rnd.randint(1, 8))
                        for _ in range(rnd.randint(1, 3))]
            pair.check("PFADD", "f", *elements)
            pair.check("GET", "f")
        pair.check("PFMERGE", f"m{round_ % 2}", "f")
        pair.check("GET", f"m{round_ % 2}")


def test_dense_runs_of_sparse_edits(pair2: Pair) -> None:
    """Elements aimed at a narrow band of registers with small counts: VAL runs
    get split, raised and merged again in every way."""
    pair = pair2
    rnd = random.Random(12)
    for _ in range(6):
        pair.check("DEL", "h")
        base = rnd.randrange(hll.REGISTERS - 100)
        for _ in range(60):
            elements = [_element_for(base + rnd.randrange(40), rnd.randint(1, 6))
                        for _ in range(rnd.randint(1, 4))]
            pair.check("PFADD", "h", *elements)
            pair.check("GET", "h")
        pair.check("PFDEBUG", "DECODE", "h")


def test_hll_sparse_max_bytes(pair2: Pair) -> None:
    pair = pair2
    rnd = random.Random(2)
    try:
        for limit in ("0", "30", "200", "1000", "20000"):
            pair.check("CONFIG", "SET", "hll-sparse-max-bytes", limit)
            pair.check("DEL", "h")
            for _ in range(40):
                pair.check("PFADD", "h", *_elements(rnd, rnd.choice([1, 3, 30])))
                pair.check("PFDEBUG", "ENCODING", "h")
            pair.check("GET", "h")
            pair.check("PFCOUNT", "h")
    finally:
        pair.check("CONFIG", "SET", "hll-sparse-max-bytes", "3000")


def test_pfcount_of_several_keys(pair: Pair) -> None:
    rnd = random.Random(3)
    pair.check("PFADD", "a", *_elements(rnd, 100))
    pair.check("PFADD", "b", *_elements(rnd, 5000))
    pair.check("PFADD", "c", *_elements(rnd, 20))
    pair.check("PFCOUNT", "a", "b")
    pair.check("PFCOUNT", "a", "c", "nokey")
    pair.check("PFCOUNT", "nokey", "nokey2")
    pair.check("PFCOUNT", "a", "a")
    pair.check("GET", "a")  # several keys: no cache written
    pair.check("SET", "s", "not an hll")
    pair.check("PFCOUNT", "a", "s")
    pair.check("RPUSH", "l", "x")
    pair.check("PFCOUNT", "a", "l")
    pair.check("PFCOUNT", "l")
    pair.check("PFCOUNT", "s")


def test_pfcount_returns_a_valid_cache_as_is(pair: Pair) -> None:
    pair.check("PFADD", "h", "a", "b")
    value = bytearray(pair.check("GET", "h").split(b"\r\n", 1)[1][:-2])
    value[8:16] = (123456).to_bytes(8, "little")
    pair.check("SET", "h", bytes(value))
    pair.check("PFCOUNT", "h")
    value[15] = 0x80
    pair.check("SET", "h", bytes(value))
    pair.check("PFCOUNT", "h")
    pair.check("GET", "h")


def test_pfcount_of_forged_dense_registers(pair: Pair) -> None:
    # Every register at 63: the estimator divides by zero; Redis answers INT64_MIN.
    forged = b"HYLL\x00\x00\x00\x00" + b"\x00" * 7 + b"\x80" + b"\xff" * hll.DENSE_BYTES
    pair.check("SET", "d", forged)
    pair.check("PFCOUNT", "d")
    pair.check("GET", "d")
    pair.check("PFCOUNT", "d", "nokey")
    rnd = random.Random(4)
    forged = b"HYLL\x00\x00\x00\x00" + b"\x00" * 7 + b"\x80" + rnd.randbytes(hll.DENSE_BYTES)
    pair.check("SET", "r", forged)
    pair.check("PFCOUNT", "r")
    pair.check("PFADD", "r", *_elements(rnd, 50))
    pair.check("GET", "r")
    pair.check("PFMERGE", "m", "r")
    pair.check("GET", "m")


# -- PFMERGE ------------------------------------------------------------------------------------


def test_pfmerge(pair: Pair) -> None:
    rnd = random.Random(5)
    pair.check("PFMERGE", "m")  # nothing: an empty HLL
    pair.check("GET", "m")
    pair.check("PFMERGE", "m2", "nokey")
    pair.check("GET", "m2")
    pair.check("PFADD", "s1", *_elements(rnd, 10))
    pair.check("PFADD", "s2", *_elements(rnd, 50))
    pair.check("PFADD", "d1", *_elements(rnd, 4000))
    pair.check("PFMERGE", "m", "s1", "s2")  # sparse sources: the destination stays sparse
    pair.check("GET", "m")
    pair.check("PFMERGE", "m", "s1", "s2")
    pair.check("GET", "m")
    pair.check("PFCOUNT", "m")
    pair.check("PFMERGE", "m", "d1")  # a dense source: the destination turns dense
    pair.check("GET", "m")
    pair.check("PFMERGE", "new", "s1", "d1", "s2")
    pair.check("GET", "new")
    pair.check("PFMERGE", "s1", "s2")  # the destination is also a source
    pair.check("GET", "s1")
    pair.check("PFCOUNT", "s1", "s2", "d1")
    pair.check("EXPIRE", "s1", "1000")
    pair.check("PFMERGE", "s1", "s2")
    pair.check("TTL", "s1")


def test_pfmerge_errors(pair: Pair) -> None:
    pair.check("PFADD", "h", "a")
    pair.check("RPUSH", "l", "x")
    pair.check("SET", "s", "plain string value, long enough")
    pair.check("PFMERGE", "l", "h")
    pair.check("PFMERGE", "h", "l")
    pair.check("PFMERGE", "h", "s")
    pair.check("PFMERGE", "s", "h")
    pair.check("GET", "h")
    pair.check("PFMERGE")


@pytest.mark.parametrize("seed", range(4))
def test_random_pfmerge_is_byte_identical(pair2: Pair, seed: int) -> None:
    rnd = random.Random(100 + seed)
    pair = pair2
    keys = ["a", "b", "c", "d"]
    for _ in range(25):
        key = rnd.choice(keys)
        pair.check("PFADD", key, *_elements(rnd, rnd.choice([1, 5, 40, 300, 1500]), key))
        if rnd.random() < 0.5:
            dest = rnd.choice([*keys, "m"])
            pair.check("PFMERGE", dest, *rnd.sample(keys, rnd.randint(1, 3)))
            pair.check("GET", dest)
        if rnd.random() < 0.3:
            pair.check("PFCOUNT", *rnd.sample(keys, rnd.randint(1, 4)))
    for key in keys:
        pair.check("GET", key)


# -- invalid and corrupted values -------------------------------------------------------------


def _hll_bytes(pair: Pair, key: str) -> bytes:
    raw = pair.check("GET", key)
    return raw.split(b"\r\n", 1)[1][:-2]


@pytest.mark.parametrize("value", [
    b"", b"HYLL", b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",  # 15 bytes
    b"HYLX\x01" + b"\x00" * 11 + b"\x7f\xff", b"HYLL\x02" + b"\x00" * 11 + b"\x7f\xff",
    b"HYLL\x00" + b"\x00" * 11 + b"\x7f\xff",  # dense with the wrong length
    b"HYLL\x00" + b"\x00" * 11 + b"\x00" * 12289, b"12345",
])
def test_not_an_hll(pair: Pair, value: bytes) -> None:
    pair.check("SET", "x", value)
    for argv in (["PFADD", "x", "a"], ["PFCOUNT", "x"], ["PFCOUNT", "x", "nokey"],
                 ["PFMERGE", "x"], ["PFMERGE", "d", "x"], ["PFDEBUG", "GETREG", "x"],
                 ["PFDEBUG", "ENCODING", "x"], ["PFDEBUG", "NOPE", "x"]):
        pair.check(*argv)
    pair.check("GET", "x")
    pair.check("EXISTS", "d")


def _corruptions(valid: bytes, rnd: random.Random) -> list[bytes]:
    body = valid[16:]
    head = valid[:16]
    out = [
        valid + b"\x00", valid + b"\x80", valid + b"\x40\x00", valid + b"\x40",
        valid[:-1], head + body[:-2] + b"\x42", head + b"\x7f\xff\x00",
        head + b"\x7f\xfe", head + b"\x7f\xfe\x80", head + b"\x7f\xfe\x81",
        head + b"\x80" + b"\x7f\xfe", head + b"\x7f\xff\x7f\xff", head,
        head + b"\x3f" * 300, head + b"\xfc" * 5000,
    ]
    for _ in range(30):
        data = bytearray(body)
        for _ in range(rnd.randint(1, 3)):
            pos = rnd.randrange(len(data))
            data[pos] = rnd.getrandbits(8)
        out.append(head + bytes(data))
    return out


def test_corrupted_sparse_values(pair2: Pair) -> None:
    """Malformed sparse strings: every command reacts as Redis does (errors, and
    for PFADD the registers it still manages to raise)."""
    pair = pair2
    rnd = random.Random(6)
    pair.check("PFADD", "src", *_elements(rnd, 60))
    valid = _hll_bytes(pair, "src")
    for corrupt in _corruptions(valid, rnd):
        for argv in (["PFCOUNT", "x"], ["PFCOUNT", "x", "src"], ["PFMERGE", "m", "x"],
                     ["PFMERGE", "x", "src"], ["PFDEBUG", "GETREG", "x"],
                     ["PFDEBUG", "TODENSE", "x"], ["PFDEBUG", "DECODE", "x"],
                     ["PFADD", "x", *_elements(rnd, 3)], ["PFADD", "x", *_elements(rnd, 40)]):
            pair.check("SET", "x", corrupt)
            pair.check(*argv)
            pair.check("GET", "x")
            pair.check("GET", "m")


# -- PFDEBUG / PFSELFTEST --------------------------------------------------------------------------


def test_pfdebug(pair: Pair) -> None:
    rnd = random.Random(7)
    pair.check("PFDEBUG", "GETREG", "nokey")
    pair.check("PFDEBUG", "ENCODING", "nokey")
    pair.check("PFADD", "h", *_elements(rnd, 30))
    pair.check("PFDEBUG", "ENCODING", "h")
    pair.check("PFDEBUG", "DECODE", "h")
    pair.check("PFDEBUG", "decode", "h")
    pair.check("PFDEBUG", "NOPE", "h")
    pair.check("PFDEBUG", "todense", "h")
    pair.check("GET", "h")
    pair.check("PFDEBUG", "TODENSE", "h")
    pair.check("PFDEBUG", "DECODE", "h")
    pair.check("PFDEBUG", "ENCODING", "h")
    pair.check("PFADD", "g", *_elements(rnd, 30))
    pair.check("PFDEBUG", "GETREG", "g")  # turns it dense too
    pair.check("GET", "g")
    pair.check("PFDEBUG", "GETREG", "g")
    pair.check("RPUSH", "l", "x")
    pair.check("PFDEBUG", "GETREG", "l")
    pair.check("PFDEBUG", "GETREG", "h", "extra")
    pair.check("PFDEBUG", "GETREG")


def test_pfselftest(pair: Pair) -> None:
    pair.check("PFSELFTEST")
    pair.check("PFSELFTEST", "x")
    assert self_test(seed=1) == ""


def test_arity(pair: Pair) -> None:
    pair.check("PFADD")
    pair.check("PFCOUNT")
    pair.check("PFMERGE")


# -- the format, in process -----------------------------------------------------------------------


def test_murmurhash64a_known_values() -> None:
    # MurmurHash64A reference values (seed 0) and Redis' seed on a few lengths.
    assert hll.murmurhash64a(b"", 0) == 0
    values = {hll.murmurhash64a(b"x" * n) for n in range(20)}
    assert len(values) == 20


def test_dense_register_packing_round_trips() -> None:
    rnd = random.Random(8)
    regs = bytes(rnd.randrange(64) for _ in range(hll.REGISTERS))
    packed = hll.pack_registers(regs)
    value = bytearray(b"HYLL\x00" + b"\x00" * 11) + packed
    assert hll.dense_registers(value) == regs
    for i in rnd.sample(range(hll.REGISTERS), 500):
        assert hll.dense_get(value, i) == regs[i]
        hll.dense_set(value, i, 63 - regs[i])
        assert hll.dense_get(value, i) == 63 - regs[i]
    a = bytes(rnd.randrange(64) for _ in range(hll.REGISTERS))
    assert hll.max_registers(a, regs) == bytes(max(x, y) for x, y in zip(a, regs))


def test_sparse_editors_agree() -> None:
    """The opcode-list editor (well-formed values) and the byte editor
    (malformed ones) produce the same bytes for the same updates."""
    rnd = random.Random(9)
    for limit in (3000, 300, 50000):
        value = hll.new_sparse()
        for _ in range(400):
            index, count = rnd.randrange(hll.REGISTERS), rnd.randint(1, 40)
            editor = hll._SparseCodes(hll._codes(value) or [], len(value))
            r1 = editor.set(index, count, limit)
            raw = bytearray(value)
            r2 = hll._bytes_set(raw, index, count, limit)
            assert r1 == r2
            if r1 == hll._PROMOTE:
                break
            assert bytes(value[:16]) + editor.payload() == bytes(raw)
            value = raw


# -- effects and replay -----------------------------------------------------------------------------


class _Local(EffectsCapture):
    """Commands run in process, with what they log."""


@pytest.fixture
def local() -> _Local:
    return _Local()


def _b(*args: str) -> list[bytes]:
    return [a.encode() for a in args]


def test_effects(local: _Local) -> None:
    assert local.effects_of("PFADD", "h", "a") == [_b("PFADD", "h", "a")]
    assert local.effects_of("PFADD", "h", "a") == []
    assert local.effects_of("PFCOUNT", "h") == [_b("PFCOUNT", "h")]  # the cache was written
    assert local.effects_of("PFCOUNT", "h") == []  # read from the cache
    assert local.effects_of("PFCOUNT", "h", "nokey") == []
    assert local.effects_of("PFMERGE", "m", "h") == [_b("PFMERGE", "m", "h")]
    assert local.effects_of("PFDEBUG", "ENCODING", "m") == []
    assert local.effects_of("PFDEBUG", "TODENSE", "m") == [_b("PFDEBUG", "TODENSE", "m")]
    assert local.effects_of("PFDEBUG", "TODENSE", "m") == []
    assert local.effects_of("PFDEBUG", "GETREG", "m") == []
    local.run("PFADD", "g", "x")
    assert local.effects_of("PFDEBUG", "GETREG", "g") == [_b("PFDEBUG", "GETREG", "g")]


def test_effects_of_a_pfadd_stopped_by_corruption(local: _Local) -> None:
    # Runs covering only part of the registers: the elements whose register is
    # covered are added before the walk fails; what stays is logged as a SET.
    short = b"HYLL\x01" + b"\x00" * 11 + b"\x7f\xfe"  # XZERO 16383: the last register missing
    local.run("SET", "x", short)
    last = next(f"z{i}" for i in range(10**6) if hll.pattern(b"z%d" % i)[0] == hll.REGISTERS - 1)
    elements = [f"e{i}" for i in range(50)] + [last, "after"]
    reply = local.run("PFADD", "x", *elements)
    assert isinstance(reply, ErrorReply) and reply.message.startswith("INVALIDOBJ")
    stored = bytes(local.server.keyspace.dbs[0].data[b"x"])
    (effect,) = local.records[-1]
    assert effect[1] == [b"SET", b"x", stored, b"KEEPTTL"] and stored != short


def _dump(server: Server) -> list[dict[bytes, tuple[bytes, int | None]]]:
    return [{k: (bytes(v), db.expires.get(k)) for k, v in db.data.items()}
            for db in server.keyspace.dbs]


def test_replay_of_effects_rebuilds_the_keyspace(local: _Local) -> None:
    rnd = random.Random(10)
    keys = ["a", "b", "c"]
    fresh = Server()
    replayer = Replayer(fresh)
    applied = 0
    for step in range(1, 601):
        k = rnd.choice(keys)
        argv = rnd.choice([
            ["PFADD", k, *_elements(rnd, rnd.choice([1, 3, 50, 400]))],
            ["PFCOUNT", k], ["PFCOUNT", *rnd.sample(keys, 2)],
            ["PFMERGE", k, *rnd.sample(keys, rnd.randint(0, 3))],
            ["PFDEBUG", "TODENSE", k], ["DEL", k], ["EXPIRE", k, "1000"],
        ])
        reply = local.run(*argv)
        assert not isinstance(reply, ErrorReply) or "does not exist" in reply.message, (argv, reply)
        if step % 60 == 0:
            for record in local.records[applied:]:
                applied += 1
                replayer.apply_record(applied, record)
            assert _dump(fresh) == _dump(local.server), step
