"""The linearizability checker and the history recorder.

Hand-written histories pin the classic cases; random histories generated from a
real sequential execution must pass, and fail once one output is corrupted; a
brute-force checker (every order, written independently) must agree on small
random histories; a big history must check quickly.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

import pytest

from multiaz.history import Recorder, classify_exception
from multiaz.linearizability import (
    CounterModel,
    ListModel,
    Model,
    Operation,
    RegisterModel,
    check,
)

REG, CNT, LST = RegisterModel(), CounterModel(), ListModel()


def mk(client: Hashable, call: float, ret: float | None, kind: str, input: Any = None, output: Any = None, key: Hashable = "k") -> Operation:
    return Operation(client, kind, input, output, call, ret, key=key)


def ok(history: list[Operation], model: Model) -> bool:
    result = check(history, model, time_scale=1)
    assert result.status in ("ok", "illegal"), result.explain()
    return result.ok


# ---------------------------------------------------------------------------
# Hand-written histories: register


def test_sequential_register() -> None:
    h = [
        mk(1, 0, 1, "read", output=None),
        mk(1, 2, 3, "write", "a"),
        mk(1, 4, 5, "read", output="a"),
        mk(1, 6, 7, "cas", ("a", "b"), True),
        mk(1, 8, 9, "cas", ("a", "c"), False),
        mk(1, 10, 11, "read", output="b"),
    ]
    assert ok(h, REG)


def test_stale_read_after_write_completed() -> None:
    h = [
        mk(1, 0, 1, "write", "a"),
        mk(1, 2, 3, "write", "b"),
        mk(2, 4, 5, "read", output="a"),  # the write of b had completed before this began
    ]
    assert not ok(h, REG)


def test_read_concurrent_with_write_may_see_either() -> None:
    for seen in ("a", "b"):
        h = [
            mk(1, 0, 1, "write", "a"),
            mk(1, 2, 10, "write", "b"),
            mk(2, 3, 5, "read", output=seen),
        ]
        assert ok(h, REG), seen


def test_new_then_old_read_inversion() -> None:
    # Two reads, both during a slow write: once one has seen the new value, a
    # later read must not see the old one.
    h = [
        mk(1, 0, 1, "write", "a"),
        mk(1, 2, 20, "write", "b"),
        mk(2, 3, 5, "read", output="b"),
        mk(3, 6, 8, "read", output="a"),
    ]
    assert not ok(h, REG)
    # The same reads in the other order are fine.
    h[2], h[3] = mk(2, 3, 5, "read", output="a"), mk(3, 6, 8, "read", output="b")
    assert ok(h, REG)


def test_value_never_written() -> None:
    assert not ok([mk(1, 0, 1, "write", "a"), mk(2, 0, 5, "read", output="z")], REG)


def test_two_concurrent_cas_cannot_both_win() -> None:
    h = [
        mk(1, 0, 1, "write", "a"),
        mk(2, 2, 6, "cas", ("a", "b"), True),
        mk(3, 3, 7, "cas", ("a", "c"), True),
    ]
    assert not ok(h, REG)
    h[2] = mk(3, 3, 7, "cas", ("a", "c"), False)
    assert ok(h, REG)


def test_values_compare_as_redis_strings() -> None:
    h = [mk(1, 0, 1, "write", 5), mk(1, 2, 3, "read", output=b"5"), mk(1, 4, 5, "cas", (b"5", "x"), 1)]
    assert ok(h, REG)


def test_ties_are_concurrent() -> None:
    # A read called at the very instant a write returned may still precede it.
    h = [mk(1, 0, 1, "write", "a"), mk(1, 2, 5, "write", "b"), mk(2, 5, 6, "read", output="a")]
    assert ok(h, REG)
    h[2] = mk(2, 6, 7, "read", output="a")
    assert not ok(h, REG)


# ---------------------------------------------------------------------------
# Unknown outcomes


def test_unknown_write_may_take_effect_late() -> None:
    h = [
        mk(1, 0, 1, "write", "a"),
        mk(2, 2, None, "write", "b"),  # timed out
        mk(3, 10, 11, "read", output="a"),
        mk(3, 20, 21, "read", output="b"),  # it landed in between
    ]
    assert ok(h, REG)


def test_unknown_write_may_never_take_effect() -> None:
    h = [mk(1, 0, 1, "write", "a"), mk(2, 2, None, "write", "b"), mk(3, 10, 11, "read", output="a")]
    assert ok(h, REG)


def test_unknown_write_cannot_take_effect_before_its_call() -> None:
    h = [mk(1, 0, 1, "write", "a"), mk(3, 2, 3, "read", output="b"), mk(2, 5, None, "write", "b")]
    assert not ok(h, REG)


def test_unknown_write_cannot_be_undone() -> None:
    h = [
        mk(1, 0, 1, "write", "a"),
        mk(2, 2, None, "write", "b"),
        mk(3, 10, 11, "read", output="b"),
        mk(3, 12, 13, "read", output="a"),
    ]
    assert not ok(h, REG)


def test_unknown_output_is_not_compared() -> None:
    # An incr that timed out "returned" nothing; it still moved the counter.
    h = [mk(1, 0, None, "incr", 5, output=999), mk(2, 10, 11, "get", output=5)]
    assert ok(h, CNT)
    h = [mk(1, 0, None, "get", output=123)]  # an unknown read is dropped
    assert ok(h, CNT)


def test_unknown_cas_outcome_depends_on_state() -> None:
    h = [
        mk(1, 0, 1, "write", "a"),
        mk(2, 2, None, "cas", ("a", "b")),
        mk(1, 3, 4, "write", "c"),
        mk(3, 10, 11, "read", output="b"),  # the cas ran before the write of c? then c is lost
    ]
    assert not ok(h, REG)
    h[3] = mk(3, 10, 11, "read", output="c")
    assert ok(h, REG)


# ---------------------------------------------------------------------------
# Counter and list


def test_lost_acknowledged_increment() -> None:
    h = [mk(1, 0, 1, "incr", 1, 1), mk(2, 2, 3, "incr", 1, 2), mk(3, 4, 5, "get", output=b"1")]
    assert not ok(h, CNT)
    h[2] = mk(3, 4, 5, "get", output=b"2")
    assert ok(h, CNT)


def test_concurrent_increments() -> None:
    assert ok([mk(1, 0, 5, "incr", 1, 2), mk(2, 1, 6, "incr", 1, 1)], CNT)
    assert not ok([mk(1, 0, 5, "incr", 1, 1), mk(2, 1, 6, "incr", 1, 1)], CNT)
    assert ok([mk(1, 0, 1, "get", output=None), mk(1, 2, 3, "incr", 3, 3), mk(1, 4, 5, "get", output="3")], CNT)


def test_list_lost_acknowledged_push() -> None:
    h = [mk(1, 0, 1, "rpush", "a", 1), mk(1, 2, 3, "rpush", "b", 2), mk(2, 4, 5, "lrange", output=[b"a"])]
    assert not ok(h, LST)
    h[2] = mk(2, 4, 5, "lrange", output=[b"a", b"b"])
    assert ok(h, LST)


def test_list_concurrent_pushes_either_order() -> None:
    for order in (["a", "b"], ["b", "a"]):
        lens = {v: i + 1 for i, v in enumerate(order)}
        h = [
            mk(1, 0, 5, "rpush", "a", lens["a"]),
            mk(2, 1, 6, "rpush", "b", lens["b"]),
            mk(3, 7, 8, "lrange", output=order),
            mk(3, 9, 10, "llen", output=2),
        ]
        assert ok(h, LST)
    h = [mk(1, 0, 5, "rpush", "a", 1), mk(2, 1, 6, "rpush", "b", 2), mk(3, 7, 8, "lrange", output=["b", "a"])]
    assert not ok(h, LST)  # lengths say a went first
    h = [mk(1, 0, 1, "rpush", ["a", "b"], 2), mk(1, 2, 3, "lrange", output=("a", "b"))]
    assert ok(h, LST)


def test_keys_are_independent_and_failure_names_the_key() -> None:
    h = [
        mk(1, 0, 1, "write", "a", key="x"),
        mk(1, 2, 3, "read", output="a", key="x"),
        mk(1, 4, 5, "write", "b", key="y"),
        mk(2, 6, 7, "read", output=None, key="y"),
    ]
    result = check(h, REG, time_scale=1)
    assert not result.ok
    assert [p.key for p in result.failures] == ["y"]
    text = result.explain()
    assert "key 'y'" in text and "NOT linearizable" in text
    assert "read() -> None" in text  # the read that cannot be placed
    assert "model says 'b'" in text


def test_explanation_shows_prefix_and_blocking_operation() -> None:
    h = [mk(1, i * 2, i * 2 + 1, "incr", 1, i + 1) for i in range(10)]
    h.append(mk(2, 30, 31, "get", output=3))
    result = check(h, CNT, time_scale=1)
    assert not result.ok
    (part,) = result.failures
    assert len(part.prefix) == 10 and part.prefix_state == 10
    assert part.blocking is h[-1]
    assert "Longest linearizable prefix: 10 operations (last 8 shown)" in result.explain()


def test_bad_history_is_rejected() -> None:
    with pytest.raises(ValueError, match="returns before its call"):
        check([mk(1, 5, 4, "read")], REG)
    with pytest.raises(ValueError, match="unknown operation kind"):
        check([mk(1, 0, 1, "frobnicate")], REG)


def test_time_budget_gives_up() -> None:
    # 22 concurrent increments of unknown outcome by distinct powers of two: every
    # subset is a distinct state, and the final read is impossible, so the search
    # would have to visit all 2**22 of them.
    h = [mk(i, 0, None, "incr", 1 << i) for i in range(22)]
    h.append(mk(99, 100, 101, "get", output=-1))
    start = time.monotonic()
    result = check(h, CNT, timeout=0.3)
    assert result.status == "unknown" and not result.ok
    assert time.monotonic() - start < 2
    assert "gave up" in result.explain()


# ---------------------------------------------------------------------------
# Random histories from a real execution


def _register_input(rng: random.Random, i: int, written: list[str]) -> tuple[str, Any]:
    r = rng.random()
    if r < 0.4:
        return "read", None
    if r < 0.75 or not written:
        value = f"v{i}"
        written.append(value)
        return "write", value
    value = f"v{i}"
    written.append(value)
    return "cas", (rng.choice(written[-4:]), value)


def _counter_input(rng: random.Random, i: int, written: list[str]) -> tuple[str, Any]:
    return ("get", None) if rng.random() < 0.4 else ("incr", rng.randint(1, 5))


def _list_input(rng: random.Random, i: int, written: list[str]) -> tuple[str, Any]:
    r = rng.random()
    if r < 0.3:
        return "lrange", None
    if r < 0.4:
        return "llen", None
    if r < 0.9:
        return "rpush", f"e{i}"
    return "rpush", [f"e{i}a", f"e{i}b"]


INPUTS: dict[str, tuple[Model, Callable[[random.Random, int, list[str]], tuple[str, Any]]]] = {
    "register": (REG, _register_input),
    "counter": (CNT, _counter_input),
    "list": (LST, _list_input),
}


def generate(
    rng: random.Random,
    model: Model,
    make_input: Callable[[random.Random, int, list[str]], tuple[str, Any]],
    n_ops: int,
    n_keys: int,
    clients: int,
    p_unknown: float = 0.0,
) -> list[Operation]:
    """Clients issue operations with random durations; each takes effect at a
    random instant inside its interval (an unknown one: later, or never); the
    outputs are those of running them in that order on the model."""
    clock = [rng.uniform(0, 5) for _ in range(clients)]
    written: dict[int, list[str]] = {k: [] for k in range(n_keys)}
    planned: list[tuple[float | None, Operation]] = []
    for i in range(n_ops):
        c = min(range(clients), key=lambda j: clock[j])
        key = rng.randrange(n_keys)
        kind, inp = make_input(rng, i, written[key])
        call = clock[c]
        duration = rng.expovariate(1 / 4)
        point: float | None = call + rng.uniform(0, duration)
        ret: float | None = call + duration
        if rng.random() < p_unknown:
            ret = None
            clock[c] = call + 20  # the client gave up
            point = None if rng.random() < 0.5 else call + rng.uniform(0, 60)
        else:
            assert ret is not None
            clock[c] = ret + rng.uniform(0, 2)
        planned.append((point, Operation(c, kind, inp, None, call, ret, key=f"key{key}", id=i)))
    states: dict[Hashable, Any] = {}
    for _, op in sorted((p for p in planned if p[0] is not None), key=lambda p: p[0] or 0):
        state = states.get(op.key, model.init())
        op.output, states[op.key] = model.apply(state, op.kind, op.input)
    return [op for _, op in planned]


def corrupt(rng: random.Random, model_name: str, history: list[Operation]) -> Operation:
    """Change one known output to a value no order of the history can produce."""
    known = [op for op in history if op.ret is not None]
    if model_name == "register":
        op = rng.choice([op for op in known if op.kind == "read"])
        op.output = "never-written"
    elif model_name == "counter":
        op = rng.choice(known)
        total = sum(o.input for o in history if o.kind == "incr")
        op.output = total + rng.randint(1, 3) if op.kind == "incr" else -1
    else:
        op = rng.choice([op for op in known if op.kind in ("rpush", "lrange")])
        if op.kind == "rpush":
            op.output = 1 + sum(2 if isinstance(o.input, list) else 1 for o in history if o.kind == "rpush")
        else:
            op.output = [*op.output, "never-pushed"]
    return op


@pytest.mark.parametrize("name", sorted(INPUTS))
@pytest.mark.parametrize("seed", range(12))
def test_random_histories_pass_then_fail_when_corrupted(name: str, seed: int) -> None:
    rng = random.Random(f"{name}-{seed}")
    model, make_input = INPUTS[name]
    history = generate(rng, model, make_input, 150, rng.randint(1, 3), rng.randint(2, 8), p_unknown=0.1 if seed % 2 else 0.0)
    result = check(history, model, timeout=20)
    assert result.ok, result.explain()
    bad = corrupt(rng, name, history)
    result = check(history, model, timeout=20)
    assert result.status == "illegal", f"corrupted {bad.describe()} went unnoticed"
    assert bad.key in [p.key for p in result.failures]


# ---------------------------------------------------------------------------
# Agreement with brute force on small random histories


def brute_force(history: list[Operation], model: Model) -> bool:
    """Try every order that respects real time; unknown operations are optional."""
    n = len(history)

    def search(placed: int, state: Any) -> bool:
        pending = [i for i in range(n) if not placed >> i & 1]
        if all(history[i].ret is None for i in pending):
            return True
        for i in pending:
            op = history[i]
            # op can go next unless some unplaced, completed op returned before it was called
            if any(history[j].ret is not None and history[j].ret < op.call for j in pending if j != i):  # type: ignore[operator]
                continue
            expected, new_state = model.apply(state, op.kind, op.input)
            if op.ret is not None and not model.matches(op.kind, expected, op.output):
                continue
            if search(placed | 1 << i, new_state):
                return True
        return False

    return search(0, model.init())


def _small(rng: random.Random, name: str) -> list[Operation]:
    ops = []
    for _ in range(rng.randint(1, 7)):
        call = rng.randint(0, 10)
        ret: int | None = None if rng.random() < 0.2 else call + rng.randint(0, 4)
        if name == "register":
            kind = rng.choice(["read", "write", "cas"])
            inp: Any = None if kind == "read" else rng.choice("ab") if kind == "write" else (rng.choice("ab"), rng.choice("ab"))
            out: Any = rng.choice([None, "a", "b"]) if kind == "read" else rng.random() < 0.5 if kind == "cas" else None
        elif name == "counter":
            kind = rng.choice(["incr", "get"])
            inp = rng.randint(1, 2) if kind == "incr" else None
            out = rng.randint(1, 5) if kind == "incr" else rng.choice([None, 1, 2, 3, 4])
        else:
            kind = rng.choice(["rpush", "lrange", "llen"])
            inp = rng.choice("ab") if kind == "rpush" else None
            out = (
                rng.randint(1, 3) if kind != "lrange"
                else rng.choice([[], ["a"], ["b"], ["a", "b"], ["b", "a"], ["a", "a"]])
            )
        ops.append(mk(rng.randrange(3), call, ret, kind, inp, out))
    return ops


def _perturb(rng: random.Random, history: list[Operation]) -> None:
    """Change one known output to a nearby, plausible value (maybe still legal)."""
    known = [op for op in history if op.ret is not None and op.kind != "write"]
    if not known:
        return
    op = rng.choice(known)
    if op.kind == "read":
        op.output = rng.choice([None, *(o.input for o in history if o.kind == "write")])
    elif op.kind == "cas":
        op.output = not op.output
    elif op.kind == "lrange":
        out = list(op.output)
        if len(out) >= 2 and rng.random() < 0.5:
            i = rng.randrange(len(out) - 1)
            out[i], out[i + 1] = out[i + 1], out[i]
        elif out:
            del out[rng.randrange(len(out))]
        else:
            out = ["e0"]
        op.output = out
    else:
        op.output = (op.output or 0) + rng.choice([-2, -1, 1, 2])


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_agrees_with_brute_force(name: str) -> None:
    rng = random.Random(name)
    model, make_input = INPUTS[name]
    verdicts = {True: 0, False: 0}
    for i in range(600):
        if i % 2:
            history = _small(rng, name)  # arbitrary outputs, integer times (ties)
        else:
            history = generate(rng, model, make_input, rng.randint(2, 8), 1, 3, p_unknown=0.25)
            if rng.random() < 0.6:
                _perturb(rng, history)
        expected = brute_force(history, model)
        got = check(history, model, time_scale=1)
        assert got.ok == expected, "\n".join(op.describe(0, 1) for op in history)
        verdicts[expected] += 1
    assert min(verdicts.values()) > 100, verdicts  # both verdicts well exercised


def test_performance_2000_operations() -> None:
    rng = random.Random(2000)
    history = generate(rng, REG, _register_input, 2000, 10, 10, p_unknown=0.05)
    start = time.monotonic()
    result = check(history, REG, timeout=30)
    elapsed = time.monotonic() - start
    assert result.ok, result.explain()
    assert elapsed < 2.0, f"2000 operations took {elapsed:.2f}s"
    for name in ("counter", "list"):
        model, make_input = INPUTS[name]
        history = generate(rng, model, make_input, 2000, 10, 10, p_unknown=0.05)
        start = time.monotonic()
        result = check(history, model, timeout=30)
        assert result.ok, result.explain()
        assert time.monotonic() - start < 2.0, name


# ---------------------------------------------------------------------------
# The recorder


class FakeClock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        self.now += 10
        return self.now


def test_recorder_ok_unknown_and_definite_failure() -> None:
    import redis

    rec = Recorder(clock=FakeClock())
    with rec.op("c1", "k", "write", "a") as op:
        op.ok("OK")
    with rec.op("c1", "k", "write", "b"):
        raise TimeoutError("timed out")
    with rec.op("c1", "k", "write", "c"):
        raise redis.exceptions.ConnectionError("Connection reset by peer")
    with rec.op("c1", "k", "write", "d"):
        raise redis.exceptions.ReadOnlyError("You can't write against a read only replica.")
    with rec.op("c1", "k", "write", "e"):
        raise redis.exceptions.ResponseError("MOVED 3999 127.0.0.1:6381")
    with rec.op("c1", "k", "write", "f"):
        raise ConnectionResetError()
    with rec.op("c1", "k", "read") as op:
        op.ok(b"a")
    h = rec.history()
    assert [(o.input, o.ret is None) for o in h] == [
        ("a", False), ("b", True), ("c", True), ("f", True), (None, False)
    ]
    assert h[0].call == 10 and h[0].ret == 20 and h[0].output == "OK"
    assert [o.id for o in h] == [0, 1, 2, 5, 6]
    assert rec.dropped == 2
    assert check(h, REG).ok  # b, c, f never landed; a was read


def test_recorder_propagates_unexpected_errors() -> None:
    import redis

    rec = Recorder()
    with pytest.raises(KeyError):
        with rec.op(1, "k", "write", "a"):
            raise KeyError("bug in the test")
    with pytest.raises(redis.exceptions.ResponseError):
        with rec.op(1, "k", "write", "b"):
            raise redis.exceptions.ResponseError("WRONGTYPE Operation against a key")
    with pytest.raises(RuntimeError, match="without ok"):
        with rec.op(1, "k", "write", "c"):
            pass
    assert [o.ret for o in rec.history()] == [None, None, None]  # all unknown
    # An error reply that the caller declares "outcome unknown" is swallowed.
    rec = Recorder(unknown_prefixes=["UNCERTAIN"])
    with rec.op(1, "k", "write", "a"):
        raise redis.exceptions.ResponseError("UNCERTAIN commit not confirmed")
    assert rec.history()[0].ret is None
    rec = Recorder(swallow=False)
    with pytest.raises(TimeoutError):
        with rec.op(1, "k", "write", "a"):
            raise TimeoutError
    assert len(rec) == 1


def test_recorder_error_values_and_classification() -> None:
    import hiredis
    import redis

    rec = Recorder()
    with rec.op(1, "k", "write", "a") as op:
        op.ok(hiredis.ReplyError("TRYAGAIN Multiple keys request during rehashing of slot"))
    with rec.op(1, "k", "write", "b") as op:
        op.ok(hiredis.ReplyError("CLUSTERDOWN The cluster is down"))
    with rec.op(1, "k", "write", "c") as op:
        op.ok(hiredis.ReplyError("-LOADING Redis is loading the dataset in memory"))
    assert len(rec) == 0 and rec.dropped == 3
    with rec.op(1, "k", "write", "d") as op:
        with pytest.raises(ValueError):
            op.ok(hiredis.ReplyError("ERR something else"))
        op.unknown()
    assert classify_exception(redis.exceptions.BusyLoadingError("Redis is loading")) == "fail"
    assert classify_exception(redis.exceptions.WatchError("Watched variable changed.")) == "fail"
    assert classify_exception(redis.exceptions.TimeoutError("Timeout reading from socket")) == "unknown"
    assert classify_exception(BrokenPipeError()) == "unknown"
    assert classify_exception(redis.exceptions.ResponseError("ERR syntax error")) is None
    assert classify_exception(ValueError()) is None


def test_recorder_is_thread_safe() -> None:
    rec = Recorder()
    counter = [0]
    lock = threading.Lock()

    def client(c: int) -> None:
        for _ in range(300):
            with rec.op(c, "k", "incr", 1) as op:
                with lock:
                    counter[0] += 1
                    value = counter[0]
                op.ok(value)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    h = rec.history()
    assert len(h) == 1800 and len({o.id for o in h}) == 1800
    assert all(o.ret is not None and o.call <= o.ret for o in h)
    assert [o.call for o in h] == sorted(o.call for o in h)  # ids follow call order
    assert check(h, CNT).ok
