"""A thread-safe recorder of client operations for the linearizability checker.

    recorder = Recorder()
    with recorder.op(client, key, "write", value) as op:
        r.set(key, value)
        op.ok()

The call time is taken on entering the block, the return time when ``ok`` is
called (``time.monotonic_ns``). An exception leaving the block decides the
outcome:

- an error reply that proves the command was NOT applied (``-MOVED``, ``-ASK``,
  ``-READONLY``, ``-CLUSTERDOWN``, ``-TRYAGAIN``, ``-LOADING``, ``-MASTERDOWN``,
  ``-EXECABORT``, and redis-py's WatchError for an aborted EXEC) is a definite
  failure: the operation is dropped from the history and the exception swallowed;
- a timeout or connection error means the outcome is unknown: the operation
  stays with ``ret=None`` and the exception is swallowed (a refused connection
  counts as a definite failure with ``Recorder(refused_is_failure=True)``, for
  clients that do not retry);
- anything else (a bug in the test, an unexpected error reply) is recorded as
  unknown and re-raised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from types import TracebackType
from typing import Any, Literal

from .linearizability import Operation

__all__ = ["DEFINITE_FAILURE_PREFIXES", "OpHandle", "Recorder", "classify_exception"]

Outcome = Literal["pending", "ok", "fail", "unknown"]

# Error replies raised before the command runs: it certainly did not take effect.
DEFINITE_FAILURE_PREFIXES: frozenset[str] = frozenset(
    {"MOVED", "ASK", "READONLY", "CLUSTERDOWN", "TRYAGAIN", "LOADING", "MASTERDOWN", "EXECABORT"}
)

# redis-py turns some error replies into classes and strips the prefix from the
# message, so the class name is the only trace of it.
_REDIS_PY_CLASSES = {
    "MovedError": "MOVED",
    "AskError": "ASK",
    "ReadOnlyError": "READONLY",
    "ClusterDownError": "CLUSTERDOWN",
    "MasterDownError": "MASTERDOWN",
    "TryAgainError": "TRYAGAIN",
    "BusyLoadingError": "LOADING",
    "ExecAbortError": "EXECABORT",
    "WatchError": "EXECABORT",  # EXEC answered nil: nothing ran
}
_ERROR_REPLY_CLASSES = {"ResponseError", "ReplyError"}  # redis-py, hiredis
_UNKNOWN_CLASSES = {"TimeoutError", "ConnectionError"}  # redis-py's own and the builtins


def _reply_prefix(exc: BaseException) -> str | None:
    """The error code of an error reply (``MOVED``), or None if exc is no error reply."""
    for cls in type(exc).__mro__:
        code = _REDIS_PY_CLASSES.get(cls.__name__)
        if code is not None:
            return code
    if any(cls.__name__ in _ERROR_REPLY_CLASSES for cls in type(exc).__mro__):
        text = str(exc.args[0]) if exc.args else str(exc)
        text = text.lstrip("-")
        return text.split(" ", 1)[0] if text else ""
    return None


def _refused(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def classify_exception(
    exc: BaseException,
    definite: Iterable[str] = DEFINITE_FAILURE_PREFIXES,
    unknown_prefixes: Iterable[str] = (),
    refused_is_failure: bool = False,
) -> Literal["fail", "unknown"] | None:
    """``fail`` (certainly not applied), ``unknown`` (maybe applied) or None (unexpected).

    With ``refused_is_failure``, a refused connection (also one redis-py wraps)
    is a definite failure: right only when the client does not retry, since a
    retry that is refused may follow an attempt that was applied.
    """
    if refused_is_failure and _refused(exc):
        return "fail"
    code = _reply_prefix(exc)
    if code is not None:
        if code in definite:
            return "fail"
        if code in unknown_prefixes:
            return "unknown"
        return None
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _UNKNOWN_CLASSES or isinstance(exc, OSError | EOFError):
        return "unknown"
    return None


class OpHandle:
    """One recorded operation in progress; also its context manager."""

    __slots__ = ("_recorder", "op", "outcome")

    def __init__(self, recorder: Recorder, op: Operation) -> None:
        self._recorder = recorder
        self.op = op
        self.outcome: Outcome = "pending"

    def ok(self, output: Any = None) -> None:
        """The operation completed with this output (an error value is classified)."""
        now = self._recorder.clock()
        if self.outcome != "pending":
            raise RuntimeError(f"operation already finished ({self.outcome})")
        if isinstance(output, BaseException):
            verdict = self._recorder.classify(output)
            if verdict == "fail":
                self.fail()
                return
            if verdict is None:
                raise ValueError(f"unexpected error reply as output: {output!r}")
            self.unknown()
            return
        with self._recorder._lock:  # history() must never see ret without output
            self.op.output = output
            self.op.ret = now
            self.outcome = "ok"

    def fail(self) -> None:
        """The operation certainly did not take effect: drop it from the history."""
        if self.outcome != "pending":
            raise RuntimeError(f"operation already finished ({self.outcome})")
        self.outcome = "fail"
        self._recorder._drop(self.op)

    def unknown(self) -> None:
        """The operation may or may not have taken effect."""
        if self.outcome != "pending":
            raise RuntimeError(f"operation already finished ({self.outcome})")
        self.outcome = "unknown"

    def __enter__(self) -> OpHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None:
            if self.outcome == "pending":
                self.outcome = "unknown"
                raise RuntimeError(
                    f"operation block ended without ok()/fail()/unknown(): {self.op.describe()}"
                )
            return False
        if self.outcome != "pending":
            return False  # it had finished; the error came afterwards
        verdict = self._recorder.classify(exc)
        if verdict == "fail":
            self.fail()
        else:
            self.outcome = "unknown"
        return verdict is not None and self._recorder.swallow


class Recorder:
    """Collects operations from many threads; ``history()`` feeds ``check``."""

    def __init__(
        self,
        *,
        definite_failures: Iterable[str] = DEFINITE_FAILURE_PREFIXES,
        unknown_prefixes: Iterable[str] = (),
        swallow: bool = True,
        refused_is_failure: bool = False,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.refused_is_failure = refused_is_failure
        self.definite = frozenset(definite_failures)
        self.unknown_prefixes = frozenset(unknown_prefixes)
        self.swallow = swallow
        self.clock = clock
        self._lock = threading.Lock()
        self._ops: dict[int, Operation] = {}
        self._next_id = 0
        self.dropped = 0  # definite failures

    def op(self, client: Hashable, key: Hashable, kind: str, input: Any = None) -> OpHandle:
        with self._lock:
            ident = self._next_id
            self._next_id += 1
            op = Operation(client, kind, input, None, 0, None, key=key, id=ident)
            self._ops[ident] = op
            # The call time is read under the lock, so ids follow call order.
            op.call = self.clock()
        return OpHandle(self, op)

    def classify(self, exc: BaseException) -> Literal["fail", "unknown"] | None:
        return classify_exception(exc, self.definite, self.unknown_prefixes, self.refused_is_failure)

    def _drop(self, op: Operation) -> None:
        with self._lock:
            if self._ops.pop(op.id, None) is not None:
                self.dropped += 1

    def history(self) -> list[Operation]:
        """A copy of the operations so far, in call order. Unfinished ones count as unknown."""
        with self._lock:
            ops = list(self._ops.values())
        return [
            Operation(o.client, o.kind, o.input, o.output, o.call, o.ret, key=o.key, id=o.id)
            for o in ops
        ]

    def __len__(self) -> int:
        with self._lock:
            return len(self._ops)

    def summary(self) -> str:
        ops = self.history()
        unknown = sum(1 for o in ops if o.ret is None)
        return f"{len(ops)} operations ({unknown} unknown outcome, {self.dropped} definite failures dropped)"
