"""MEMORY USAGE / STATS / DOCTOR / MALLOC-STATS / PURGE / HELP.

MEMORY USAGE is an *estimate* of what Redis 7.2 would need for the key, not a
measurement of Cairn's own Python objects (those cost several times more and
are not what clients comparing sizes expect). It follows Redis' accounting
(``objectComputeSize`` plus the key's sds and its dict entry) over a model of
Redis' structures for the encoding Cairn tracks for the value, with every
allocation rounded up to a jemalloc size class:

- key: its sds string (1/3/5/9-byte header + bytes + NUL) + a 24-byte dict entry;
- string: an integer is a bare 16-byte object; up to 44 bytes an "embstr"
  (object and sds in one allocation); longer a 16-byte object + an sds, with
  the room an APPEND/SETRANGE-grown value keeps (Redis doubles it);
- listpack (small hash, set, sorted set, list): 16 + the listpack's bytes
  (6-byte header, each entry's encoding / data / back-length, end byte);
- intset: 16 + 8-byte header + 2/4/8 bytes per member;
- quicklist: 16 + 40 + per node 40 + its listpack (nodes of
  ``list-max-listpack-size``);
- hashtable (set, hash): 16 + 56-byte dict + 8 bytes per bucket (a power of two
  >= the size) + per element a 24-byte entry and its sds strings;
- skiplist: the above dict + 64 bytes of zset/zskiplist headers + a 640-byte
  header node + per member its sds and a node of ~53 bytes (the average over
  Redis' random levels).

Like Redis, collections are sampled: the average of the first ``SAMPLES``
elements (default 5, 0 = all) times the element count. The result is close to
Redis for the same encoding (the tests compare with a real server).

MEMORY STATS and MEMORY DOCTOR report what Cairn can really measure: the
process' resident memory (the same figures as INFO memory: Python has no
allocator counter like Redis' zmalloc, so "allocated" means resident), key
counts and the modelled dataset size (``dataset.model.bytes``: the sum of
MEMORY USAGE, extrapolated from 10000 keys per database on big datasets).
Redis fields Cairn cannot measure (allocator fragmentation, replication
backlog, Lua caches...) are left out rather than invented. MALLOC-STATS answers as Redis does when it is not
built with jemalloc; MEMORY PURGE runs Python's garbage collector and asks the
C allocator to return free memory to the system (glibc's malloc_trim).
"""

from __future__ import annotations

import ctypes
import gc
import itertools
from typing import Any

from cairn.commands import errors
from cairn.commands.args import to_int
from cairn.commands.context import Client, Server
from cairn.commands.errors import CommandError
from cairn.commands.registry import command, container, ks
from cairn.doubles import format_score
from cairn.observability import info as info_mod
from cairn.protocol import OK, MapReply, Status, Verbatim
from cairn.types.hash import Hash, HashTable
from cairn.types.list import LP_HEADER, SIZE_SAFETY_LIMIT, List, entry_size, node_limits
from cairn.types.set import INTSET, LISTPACK, RedisSet
from cairn.types.zset import ZSet

G = "server"
DEFAULT_SAMPLES = 5

_ROBJ = 16
_DICT_ENTRY = 24
_DICT = 56
_QUICKLIST = 40
_QUICKLIST_NODE = 40
_ZSET_HEADERS = 16 + 32  # zset + zskiplist
_ZSL_HEADER_NODE = 640  # 24 + 32 levels * 16, as jemalloc rounds it
_ZSL_NODE = 53  # average size class of a node over the random levels
_EMBSTR_LIMIT = 44
_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1

# -- the model -----------------------------------------------------------------------------------


def jemalloc_size(n: int) -> int:
    """The jemalloc size class an allocation of n bytes gets."""
    if n <= 8:
        return 8
    if n <= 128:
        return (n + 15) & ~15
    delta = 1 << ((n - 1).bit_length() - 3)
    return (n + delta - 1) & ~(delta - 1)


def _sds_header(length: int) -> int:
    if length < 32:
        return 1
    if length < 256:
        return 3
    if length < 65536:
        return 5
    if length < 1 << 32:
        return 9
    return 17


def sds_size(length: int) -> int:
    """Allocated bytes of an sds string of this length."""
    return jemalloc_size(_sds_header(length) + length + 1)


def _grown_sds_size(length: int) -> int:
    """An sds grown by appends keeps spare room (sdsMakeRoomFor's greedy rule)."""
    room = length * 2 if length < 1024 * 1024 else length + 1024 * 1024
    return jemalloc_size(max(_sds_header(room), 3) + room + 1)


def _is_int(value: bytes | bytearray) -> bool:
    n = len(value)
    if not n or n > 20:
        return False
    first = value[0]
    if first == 0x30:
        return n == 1
    if first == 0x2D:
        if n == 1 or value[1] == 0x30 or not value[1:].isdigit():
            return False
    elif not value.isdigit():
        return False
    return _I64_MIN <= int(value) <= _I64_MAX


def string_size(value: bytes | bytearray) -> int:
    if type(value) is bytearray:
        return _ROBJ + _grown_sds_size(len(value))
    if _is_int(value):
        return _ROBJ
    n = len(value)
    if n <= _EMBSTR_LIMIT:
        return jemalloc_size(_ROBJ + 3 + n + 1)
    return _ROBJ + sds_size(n)


def listpack_bytes(entries: Any) -> int:
    return LP_HEADER + sum(map(entry_size, entries))


def _slots(n: int) -> int:
    size = 4
    while size < n:
        size <<= 1
    return size


def _sampled(iterable: Any, samples: int) -> list[Any]:
    return list(itertools.islice(iterable, samples))


def _scaled(total: int, count: int, n: int) -> int:
    return int(total / count * n) if count else 0


def _zset_entries(zset: ZSet) -> Any:
    for score, member in zset.order:
        yield member
        yield format_score(score)


def _quicklist_nodes(value: List, samples: int, config: Any) -> int:
    """Bytes of a quicklist's nodes: the first ``samples`` nodes (elements packed
    into listpacks of ``list-max-listpack-size``) averaged over all of them."""
    size_limit, count_limit = node_limits(config["list-max-listpack-size"])
    if size_limit > SIZE_SAFETY_LIMIT and count_limit < size_limit:
        size_limit = SIZE_SAFETY_LIMIT  # a count limit also caps a node at 8 KB
    nodes: list[tuple[int, int]] = []
    count = 0
    nbytes = LP_HEADER
    for element in value:
        size = entry_size(element)
        if count and (nbytes + size > size_limit or count >= count_limit):
            nodes.append((count, nbytes))
            if len(nodes) >= samples:
                count = 0
                break
            count = 0
            nbytes = LP_HEADER
        count += 1
        nbytes += size
    if count:
        nodes.append((count, nbytes))
    sampled = sum(n for n, _b in nodes)
    if not sampled:
        return 0
    total_nodes = -(-len(value) * len(nodes) // sampled)
    per_node = sum(_QUICKLIST_NODE + jemalloc_size(b) for _n, b in nodes)
    return _scaled(per_node, len(nodes), total_nodes)


def value_size(value: Any, samples: int, config: Any) -> int:
    """Estimated bytes Redis would use for a value (see the module doc)."""
    t = type(value)
    if t is bytes or t is bytearray:
        return string_size(value)
    if t is List:
        n = len(value)
        if value.packed:
            return _ROBJ + jemalloc_size(listpack_bytes(value))
        return _ROBJ + _QUICKLIST + _quicklist_nodes(value, samples, config)
    if t is RedisSet:
        n = len(value)
        if value.enc == INTSET:
            width = 2
            for member in value.members:
                number = int(member)
                if not -32768 <= number <= 32767:
                    width = max(width, 4 if -(2**31) <= number < 2**31 else 8)
                    if width == 8:
                        break
            return _ROBJ + jemalloc_size(8 + width * n)
        if value.enc == LISTPACK:
            return _ROBJ + jemalloc_size(listpack_bytes(value.members))
        picked = _sampled(value.members, samples)
        per = sum(_DICT_ENTRY + sds_size(len(m)) for m in picked)
        return _ROBJ + _DICT + 8 * _slots(n) + _scaled(per, len(picked), n)
    if t is Hash:
        return _ROBJ + jemalloc_size(listpack_bytes(itertools.chain.from_iterable(value.items())))
    if t is HashTable:
        n = len(value)
        picked = _sampled(value.items(), samples)
        per = sum(_DICT_ENTRY + sds_size(len(f)) + sds_size(len(v)) for f, v in picked)
        return _ROBJ + _DICT + 8 * _slots(n) + _scaled(per, len(picked), n)
    if t is ZSet:
        n = len(value)
        if not value.big:
            return _ROBJ + jemalloc_size(listpack_bytes(_zset_entries(value)))
        picked = _sampled(value.order, samples)
        per = sum(sds_size(len(m)) + _DICT_ENTRY + _ZSL_NODE for _s, m in picked)
        return (_ROBJ + _ZSET_HEADERS + _DICT + 8 * _slots(n) + _ZSL_HEADER_NODE
                + _scaled(per, len(picked), n))
    # Another type: its flat description as a single block.
    to_items = getattr(value, "to_items", None)
    if to_items is not None:
        return _ROBJ + jemalloc_size(sum(len(item) + 2 for item in to_items()))
    return _ROBJ


def key_usage(key: bytes, value: Any, samples: int, config: Any) -> int:
    """MEMORY USAGE of a key holding ``value``."""
    return value_size(value, samples, config) + sds_size(len(key)) + _DICT_ENTRY


# -- the commands ---------------------------------------------------------------------------------

container("memory", group=G, since="4.0.0", summary="A container for memory diagnostics commands.")


def _memory_fields(server: Server) -> dict[str, Any]:
    return dict(info_mod._memory(server))


_DATASET_SAMPLE = 10000


def _dataset(server: Server) -> tuple[int, int]:
    """(keys, modelled bytes of all keys): each database's first 10000 keys are
    measured (with the default SAMPLES) and the total scaled to its key count,
    so the cost stays bounded on big datasets."""
    keys = 0
    total = 0
    config = server.config
    for db in server.keyspace.dbs:
        n = len(db.data)
        if not n:
            continue
        keys += n
        measured = 0
        size = 0
        for key, value in itertools.islice(db.data.items(), _DATASET_SAMPLE):
            measured += 1
            size += key_usage(key, value, DEFAULT_SAMPLES, config)
        total += size if measured == n else _scaled(size, measured, n)
    return keys, total


def _malloc_trim() -> bool:
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(0))


_HELP = [
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
]


@command("memory|usage", -3, "readonly", group=G, since="4.0.0", keys=ks("RO", 2),
         summary="Estimates the memory, in bytes, Redis would use for a key and its value.",
         complexity="O(N) where N is the number of samples.")
def memory_usage(c: Client, argv: list[bytes]) -> Any:
    samples = DEFAULT_SAMPLES
    j = 3
    argc = len(argv)
    while j < argc:
        if argv[j].lower() == b"samples" and j + 1 < argc:
            value = to_int(argv[j + 1])
            if value is None:
                raise CommandError(errors.NOT_INTEGER)
            if value < 0:
                raise CommandError(errors.SYNTAX)
            samples = value if value else _I64_MAX
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    key = argv[2]
    value = c.db.lookup(key, touch=False)
    if value is None:
        return None
    return key_usage(key, value, samples, c.server.config)


@command("memory|help", 2, "loading stale", group=G, since="4.0.0",
         summary="Returns helpful text about the different subcommands.", complexity="O(1)")
def memory_help(c: Client, argv: list[bytes]) -> Any:
    return [Status(line) for line in _HELP]



@command("memory|malloc-stats", 2, "", group=G, since="4.0.0",
         tips="nondeterministic_output request_policy:all_shards response_policy:special",
         summary="Reports the allocator's statistics (not available: Cairn has no jemalloc).",
         complexity="Depends on how much memory is allocated, could be slow")
def memory_malloc_stats(c: Client, argv: list[bytes]) -> Any:
    return b"Stats not supported for the current allocator"


@command("memory|stats", 2, "", group=G, since="4.0.0",
         tips="nondeterministic_output request_policy:all_shards response_policy:special",
         summary="Reports the memory of the process (resident set) and of the dataset.",
         complexity="O(1)")
def memory_stats(c: Client, argv: list[bytes]) -> Any:
    fields = _memory_fields(c.server)
    used = fields["used_memory"]
    peak = fields["used_memory_peak"]
    startup = fields["used_memory_startup"]
    keys, dataset = _dataset(c.server)
    out: list[tuple[bytes, Any]] = [
        (b"peak.allocated", peak),
        (b"total.allocated", used),
        (b"startup.allocated", startup),
        (b"clients.normal", fields["mem_clients_normal"]),
        (b"overhead.total", fields["used_memory_overhead"]),
        (b"keys.count", keys),
        (b"keys.bytes-per-key", (used - startup) // keys if keys else 0),
        (b"dataset.bytes", fields["used_memory_dataset"]),
        (b"dataset.model.bytes", dataset),
        (b"peak.percentage", used * 100.0 / peak if peak else 0.0),
    ]
    return MapReply(out)


@command("memory|purge", 2, "", group=G, since="4.0.0",
         tips="request_policy:all_shards response_policy:all_succeeded",
         summary="Collects garbage and returns free memory to the operating system.",
         complexity="Depends on how much memory is allocated, could be slow")
def memory_purge(c: Client, argv: list[bytes]) -> Any:
    gc.collect()
    _malloc_trim()
    return OK


@command("memory|doctor", 2, "", group=G, since="4.0.0",
         tips="nondeterministic_output request_policy:all_shards response_policy:special",
         summary="Reports what the memory figures of the server suggest.", complexity="O(1)")
def memory_doctor(c: Client, argv: list[bytes]) -> Any:
    fields = _memory_fields(c.server)
    used = fields["used_memory"]
    peak = fields["used_memory_peak"]
    keys, dataset = _dataset(c.server)
    human = info_mod.bytes_to_human
    lines = [
        f"Cairn memory report: the process holds {human(used)} resident "
        f"(peak {human(peak)}) for {keys} keys.",
        f"Redis would need about {human(dataset)} for the same data "
        f"(the MEMORY USAGE model).",
    ]
    issues = 0
    if peak and used * 2 < peak:
        issues += 1
        lines.append(f"* Memory use is well below its peak ({human(peak)}): MEMORY PURGE may "
                     "return free memory to the system.")
    clients = fields["mem_clients_normal"]
    if used and clients * 5 > used:
        issues += 1
        lines.append(f"* Client buffers hold {human(clients)}, a large part of the memory.")
    if not issues:
        lines.append("No memory problem found in these figures.")
    return Verbatim(("\n".join(lines) + "\n").encode())
