"""A linearizability checker for client histories (Wing & Gong search, Lowe's cache).

A history is a list of ``Operation``: who ran it, when it was called and when it
returned (``ret=None`` when the outcome is unknown: a timeout or a dropped
connection), what it asked for (``kind`` and ``input``) and what it got back.
``check(history, model)`` says whether some total order of the operations
respects real time (an operation that returned before another was called comes
first) and the model's sequential specification.

An operation with an unknown outcome may have taken effect at any instant after
its call, or never; its output is not compared. A read with an unknown outcome
constrains nothing and is dropped up front.

The search is the classic one: walk the call/return events in time order, try
each pending call as the next linearized operation, backtrack when a return is
reached whose operation could not be placed. Visited (set of linearized
operations, model state) pairs are cached, which turns the worst case from
factorial into "number of distinct reachable configurations". Histories are
split by key first (a history is linearizable iff each key's is), so many keys
cost little more than one.

Unknown-outcome operations are what make the search expensive. Three sound
reductions keep them cheap in practice: completed operations are tried before
unknown ones; an unknown operation is dropped from a branch as soon as leaving
it out would give the same state with the same outputs (its "shadow"); and
identical unknown operations are tried in one order only. The problem stays
NP-complete: one key with thousands of operations and dozens of unknown list
pushes or mixed-size increments can still exhaust ``timeout`` (status
"unknown"). Spread operations over keys; budget with ``timeout``.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CounterModel",
    "ListModel",
    "Model",
    "Operation",
    "PartitionResult",
    "RegisterModel",
    "Result",
    "check",
]


@dataclass(slots=True)
class Operation:
    """One client operation. Times are integers or floats on one monotonic clock."""

    client: Hashable
    kind: str
    input: Any
    output: Any
    call: float
    ret: float | None  # None: outcome unknown (may or may not have taken effect)
    key: Hashable = None
    id: int = -1  # the recorder's sequence number; only used in explanations

    @property
    def unknown(self) -> bool:
        return self.ret is None

    def describe(self, t0: float = 0, scale: float = 1e-6) -> str:
        """``[client c] kind(input) -> output @call..ret`` with times relative to t0."""
        args = "" if self.input is None else repr(self.input)
        out = "?" if self.ret is None else repr(self.output)
        ret = "inf" if self.ret is None else f"{(self.ret - t0) * scale:.3f}"
        ident = f"#{self.id} " if self.id >= 0 else ""
        return f"{ident}[client {self.client}] {self.kind}({args}) -> {out} @{(self.call - t0) * scale:.3f}..{ret}"


# ---------------------------------------------------------------------------
# Models: deterministic sequential specifications.


def _canon(value: Any) -> Any:
    """Redis stores strings: compare b"1", "1" and 1 as the same value."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "surrogateescape")
    if isinstance(value, bool):
        return str(int(value))
    return str(value)


class Model:
    """A sequential specification. States must be hashable (they are cached).

    Subclasses implement ``init`` and ``apply``; ``matches`` compares the model's
    output with the recorded one, ``is_read`` names the kinds that never change
    the state (their unknown-outcome instances are dropped).
    """

    name = "model"
    read_kinds: frozenset[str] = frozenset()

    def init(self) -> Hashable:
        raise NotImplementedError

    def apply(self, state: Any, kind: str, input: Any) -> tuple[Any, Hashable]:
        """Run one operation sequentially: (output, new state)."""
        raise NotImplementedError

    def matches(self, kind: str, expected: Any, actual: Any) -> bool:
        return bool(expected == actual)

    def is_read(self, kind: str) -> bool:
        return kind in self.read_kinds

    def partition_key(self, op: Operation) -> Hashable:
        return op.key

    def step(self, state: Any, op: Operation) -> tuple[bool, Hashable]:
        expected, new_state = self.apply(state, op.kind, op.input)
        if op.ret is None:
            return True, new_state
        return self.matches(op.kind, expected, op.output), new_state

    def describe_state(self, state: Any) -> str:
        return repr(state)


class RegisterModel(Model):
    """A string key: ``read`` -> value or None; ``write`` v; ``cas`` (old, new) -> bool.

    ``write``'s output is not compared (it can only be an acknowledgement).
    """

    name = "register"
    read_kinds = frozenset({"read"})

    def init(self) -> Hashable:
        return None

    def apply(self, state: Any, kind: str, input: Any) -> tuple[Any, Hashable]:
        if kind == "read":
            return state, state
        if kind == "write":
            return None, _canon(input)
        if kind == "cas":
            old, new = input
            if state == _canon(old):
                return True, _canon(new)
            return False, state
        raise ValueError(f"register model: unknown operation kind {kind!r}")

    def matches(self, kind: str, expected: Any, actual: Any) -> bool:
        if kind == "write":
            return True
        if kind == "cas":
            return bool(expected) == bool(actual)
        return bool(expected == _canon(actual))


def _as_int(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, str)):
        try:
            return int(value)
        except ValueError:
            return value
    return value


class CounterModel(Model):
    """An integer key: ``incr`` n -> new value (INCRBY); ``get`` -> value or None."""

    name = "counter"
    read_kinds = frozenset({"get"})

    def init(self) -> Hashable:
        return None

    def apply(self, state: Any, kind: str, input: Any) -> tuple[Any, Hashable]:
        if kind == "incr":
            value = (state or 0) + (1 if input is None else int(input))
            return value, value
        if kind == "get":
            return state, state
        raise ValueError(f"counter model: unknown operation kind {kind!r}")

    def matches(self, kind: str, expected: Any, actual: Any) -> bool:
        return bool(expected == _as_int(actual))


class ListModel(Model):
    """A list key: ``rpush`` values -> new length; ``lrange`` -> whole list; ``llen``.

    ``rpush``'s input is one value or a list/tuple of values.
    """

    name = "list"
    read_kinds = frozenset({"lrange", "llen"})

    def init(self) -> Hashable:
        return ()

    def apply(self, state: Any, kind: str, input: Any) -> tuple[Any, Hashable]:
        if kind == "rpush":
            values = input if isinstance(input, (list, tuple)) else (input,)
            new = state + tuple(_canon(v) for v in values)
            return len(new), new
        if kind == "lrange":
            return state, state
        if kind == "llen":
            return len(state), state
        raise ValueError(f"list model: unknown operation kind {kind!r}")

    def matches(self, kind: str, expected: Any, actual: Any) -> bool:
        if kind == "lrange":
            if not isinstance(actual, (list, tuple)):
                return False
            return bool(expected == tuple(_canon(v) for v in actual))
        return bool(expected == _as_int(actual))


# ---------------------------------------------------------------------------
# Results


Status = Literal["ok", "illegal", "unknown"]


@dataclass
class PartitionResult:
    key: Hashable
    status: Status
    operations: int
    # The longest linearizable prefix found, in order, and the state after it.
    prefix: list[Operation] = field(default_factory=list)
    prefix_state: Any = None
    # Known operations not in that prefix, whose calls came before the earliest
    # return among them: what could have gone next, none of which fits.
    candidates: list[tuple[Operation, Any]] = field(default_factory=list)
    # The not-yet-placed operation that returned first: it had to be placed
    # before anything called after it returned.
    blocking: Operation | None = None
    t0: float = 0
    scale: float = 1e-6  # explanation times: recorded unit -> ms

    def explain(self, model: Model, tail: int = 8) -> str:
        if self.status == "ok":
            return f"key {self.key!r}: linearizable ({self.operations} operations)"
        if self.status == "unknown":
            return f"key {self.key!r}: gave up (time budget exhausted) on {self.operations} operations"
        lines = [
            f"key {self.key!r}: NOT linearizable ({model.name} model, {self.operations} operations).",
            f"  Longest linearizable prefix: {len(self.prefix)} operations"
            + (f" (last {tail} shown):" if len(self.prefix) > tail else ":"),
        ]
        lines += [f"    {op.describe(self.t0, self.scale)}" for op in self.prefix[-tail:]]
        lines.append(f"  State after it: {model.describe_state(self.prefix_state)}")
        if self.blocking is not None:
            lines.append(
                "  This operation returned before any other unplaced one and cannot be placed:"
            )
            lines.append(f"    {self.blocking.describe(self.t0, self.scale)}")
        if self.candidates:
            lines.append("  Operations that could go next, and what the model would answer there:")
            for op, expected in self.candidates:
                want = "(applied, output unknown)" if op.ret is None else f"model says {expected!r}"
                lines.append(f"    {op.describe(self.t0, self.scale)}   {want}")
        lines.append("  (times in ms from the first call)")
        return "\n".join(lines)


@dataclass
class Result:
    status: Status
    model: Model
    partitions: list[PartitionResult]
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def failures(self) -> list[PartitionResult]:
        return [p for p in self.partitions if p.status != "ok"]

    def explain(self, limit: int = 3) -> str:
        """A message for an assertion: what failed and why."""
        if self.ok:
            n = sum(p.operations for p in self.partitions)
            return f"linearizable: {n} operations over {len(self.partitions)} keys ({self.elapsed:.3f}s)"
        bad = self.failures
        parts = [
            f"{len(bad)} of {len(self.partitions)} keys failed the check ({self.status})",
            *(p.explain(self.model) for p in bad[:limit]),
        ]
        if len(bad) > limit:
            parts.append(f"... and {len(bad) - limit} more keys")
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.explain()


# ---------------------------------------------------------------------------
# The search


class _Entry:
    __slots__ = ("call", "index", "match", "next", "prev", "time")

    def __init__(self, index: int, call: bool, time: float) -> None:
        self.index = index
        self.call = call
        self.time = time
        self.match: _Entry | None = None  # a call's return entry
        self.prev: _Entry | None = None
        self.next: _Entry | None = None


def _build_list(known: Sequence[Operation]) -> _Entry:
    """The call and return events of completed operations, in time order."""
    events: list[tuple[float, int, int, _Entry]] = []
    for i, op in enumerate(known):
        assert op.ret is not None
        if op.ret < op.call:
            raise ValueError(f"operation returns before its call: {op.describe()}")
        c = _Entry(i, True, op.call)
        r = _Entry(i, False, op.ret)
        c.match = r
        # At equal times calls sort before returns: the two operations are
        # treated as concurrent, which only ever allows more orders.
        events.append((op.call, 0, i, c))
        events.append((op.ret, 1, i, r))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    head = _Entry(-1, False, 0)
    prev = head
    for *_, entry in events:
        prev.next = entry
        entry.prev = prev
        prev = entry
    return head


def _lift(entry: _Entry) -> None:
    # Unlink a call and its return; their own pointers stay for _unlift.
    for e in (entry, entry.match):
        assert e is not None and e.prev is not None
        e.prev.next = e.next
        if e.next is not None:
            e.next.prev = e.prev


def _unlift(entry: _Entry) -> None:
    for e in (entry.match, entry):
        assert e is not None and e.prev is not None
        e.prev.next = e
        if e.next is not None:
            e.next.prev = e


class _Seen:
    """Configurations already explored: (completed ops placed, state) -> sets of
    unknown-outcome ops placed. A configuration is redundant when one with the
    same completed ops and state but a subset of its unknown ops was seen: that
    one can do everything it can, by leaving the extra ones out."""

    __slots__ = ("table",)

    def __init__(self) -> None:
        self.table: dict[tuple[int, Any], list[int]] = {}

    def add(self, known: int, state: Any, unknown: int) -> bool:
        """Record the configuration; False if it (or a better one) was seen."""
        probe = (known, state)
        seen = self.table.get(probe)
        if seen is None:
            self.table[probe] = [unknown]
            return True
        for other in seen:
            if other & ~unknown == 0:
                return False
        seen[:] = [other for other in seen if unknown & ~other != 0]
        seen.append(unknown)
        return True


_Shadows = tuple[tuple[int, Any], ...]
_Candidate = tuple[int, Any, _Shadows]


def _advance(step: Any, shadows: _Shadows, op: Operation, new_state: Any) -> _Shadows | None:
    """Carry the shadow states over one more placed op.

    A shadow is the state the search would be in had one placed unknown op been
    left out. When a shadow still accepts every later op and reaches the real
    state, that unknown op was pointless: the configuration without it has the
    same state and more freedom, so this one needs no search (None).
    """
    if not shadows:
        return shadows
    out = []
    for u, shadow in shadows:
        ok, after = step(shadow, op)
        if not ok:
            continue  # the unknown op is needed for this op's output
        if after == new_state:
            return None
        out.append((u, after))
    return tuple(out)


def _check_partition(
    key: Hashable, ops: list[Operation], model: Model, deadline: float | None, t0: float
) -> PartitionResult:
    ops = [op for op in ops if not (op.ret is None and model.is_read(op.kind))]
    n = len(ops)
    known = [op for op in ops if op.ret is not None]
    # Unknown-outcome operations have no return event: they never force
    # anything, may be placed anywhere after their call, or nowhere.
    unknown = sorted((op for op in ops if op.ret is None), key=lambda op: op.call)
    if not known:
        return PartitionResult(key, "ok", n, t0=t0)
    # Identical unknown ops are interchangeable: only the earliest-called one
    # not yet placed is ever tried.
    twin = [-1] * len(unknown)
    last: dict[tuple[str, str], int] = {}
    for u, op in enumerate(unknown):
        ident = (op.kind, repr(op.input))
        twin[u] = last.get(ident, -1)
        last[ident] = u
    head = _build_list(known)
    step = model.step
    seen = _Seen()
    state: Any = model.init()
    shadows: _Shadows = ()
    kbits = ubits = 0  # placed completed / unknown operations
    known_left = len(known)
    # Frames: (entry of a completed op, or None; position in the phase-2
    # candidates; state and shadows before; those candidates; the op).
    no_cands: list[_Candidate] = []
    stack: list[tuple[_Entry | None, int, Any, _Shadows, list[_Candidate], Operation]] = []
    best: list[Operation] = []
    entry = head.next
    cpos = -1  # -1: trying completed ops (phase 1); else next phase-2 candidate
    cands = no_cands
    steps = 0
    while known_left:
        steps += 1
        if deadline is not None and not steps & 0x3FF and time.monotonic() > deadline:
            return PartitionResult(key, "unknown", n, t0=t0)
        if cpos < 0:
            # Phase 1: the completed ops called before the first pending return.
            assert entry is not None  # a pending completed op leaves its return
            if entry.call:
                op = known[entry.index]
                ok, new_state = step(state, op)
                if ok:
                    new_shadows = _advance(step, shadows, op, new_state)
                    if new_shadows is not None and seen.add(
                        kbits | 1 << entry.index, new_state, ubits
                    ):
                        stack.append((entry, -1, state, shadows, no_cands, op))
                        state = new_state
                        shadows = new_shadows
                        kbits |= 1 << entry.index
                        _lift(entry)
                        known_left -= 1
                        if len(stack) > len(best):
                            best = [frame[5] for frame in stack]
                        entry = head.next
                        continue
                entry = entry.next
                continue
            # Phase 2: unknown ops called by the time of that return. They are
            # tried after the completed ones (the usual orders come first), and
            # those that let a stuck completed op go next before the others.
            blocked = []
            e = head.next
            while e is not None and e.call:
                if not step(state, known[e.index])[0]:
                    blocked.append(known[e.index])
                e = e.next
            useful: list[_Candidate] = []
            others: list[_Candidate] = []
            for u, op in enumerate(unknown):
                if op.call > entry.time:
                    break
                if ubits >> u & 1 or (twin[u] >= 0 and not ubits >> twin[u] & 1):
                    continue
                _, new_state = step(state, op)
                if new_state == state:
                    continue  # no effect here: leaving it out is as good
                new_shadows = _advance(step, shadows, op, new_state)
                if new_shadows is None:
                    continue
                cand = (u, new_state, (*new_shadows, (u, state)))
                if any(step(new_state, k)[0] for k in blocked):
                    useful.append(cand)
                else:
                    others.append(cand)
            cands = useful + others
            cpos = 0
        placed = False
        while cpos < len(cands):
            u, new_state, new_shadows = cands[cpos]
            if seen.add(kbits, new_state, ubits | 1 << u):
                stack.append((None, cpos, state, shadows, cands, unknown[u]))
                state = new_state
                shadows = new_shadows
                ubits |= 1 << u
                if len(stack) > len(best):
                    best = [frame[5] for frame in stack]
                entry = head.next
                cpos = -1
                placed = True
                break
            cpos += 1
        if placed:
            continue
        # Nothing fits before that return: backtrack.
        if not stack:
            return _explain_failure(key, ops, model, best, t0)
        top, cpos, state, shadows, cands, _ = stack.pop()
        if top is not None:
            kbits &= ~(1 << top.index)
            _unlift(top)
            known_left += 1
            entry = top.next
        else:
            ubits &= ~(1 << cands[cpos][0])
            cpos += 1
    return PartitionResult(key, "ok", n, t0=t0)


def _explain_failure(
    key: Hashable, ops: list[Operation], model: Model, best: list[Operation], t0: float
) -> PartitionResult:
    state: Any = model.init()
    for op in best:
        _, state = model.apply(state, op.kind, op.input)
    placed = {id(op) for op in best}
    rest = [op for op in ops if id(op) not in placed]
    known = [op for op in rest if op.ret is not None]
    blocking = min(known, key=lambda op: (op.ret, op.call)) if known else None
    limit = blocking.ret if blocking is not None and blocking.ret is not None else float("inf")
    candidates = []
    for op in sorted(rest, key=lambda op: op.call):
        if op.call <= limit:
            expected, _ = model.apply(state, op.kind, op.input)
            candidates.append((op, expected))
    return PartitionResult(
        key,
        "illegal",
        len(ops),
        prefix=best,
        prefix_state=state,
        candidates=candidates[:12],
        blocking=blocking,
        t0=t0,
    )


def check(
    history: Iterable[Operation],
    model: Model,
    *,
    timeout: float | None = None,
    stop_at_first: bool = False,
    time_scale: float = 1e-6,
) -> Result:
    """Is the history linearizable with respect to ``model``?

    The history is split with ``model.partition_key`` (the operation's key by
    default) and each part is checked alone. ``timeout`` (seconds, for the whole
    history) turns a search that runs too long into status ``"unknown"``.
    ``time_scale`` converts the recorded times to milliseconds in explanations
    (the default suits ``time.monotonic_ns``).
    """
    start = time.monotonic()
    deadline = None if timeout is None else start + timeout
    ops = list(history)
    t0 = min((op.call for op in ops), default=0)
    groups: dict[Hashable, list[Operation]] = {}
    for op in ops:
        groups.setdefault(model.partition_key(op), []).append(op)
    results: list[PartitionResult] = []
    for key, group in groups.items():
        result = _check_partition(key, group, model, deadline, t0)
        result.scale = time_scale
        results.append(result)
        if result.status != "ok" and stop_at_first:
            break
    statuses = {r.status for r in results}
    status: Status = "illegal" if "illegal" in statuses else "unknown" if "unknown" in statuses else "ok"
    return Result(status, model, results, time.monotonic() - start)
