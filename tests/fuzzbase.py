"""The base of the Hypothesis state machines that run random commands on both servers."""

from __future__ import annotations

from typing import Any

from harness import RawClient
from hypothesis.stateful import RuleBasedStateMachine


class DifferentialMachine(RuleBasedStateMachine):
    """One connection to redis-server (``real``) and one to Cairn (``cairn``).

    A test sets ``real_port`` and ``cairn_port`` on its subclass before running it.
    """

    real_port = 0
    cairn_port = 0

    def __init__(self) -> None:
        super().__init__()
        self.real: RawClient | None = None
        self.cairn: RawClient | None = None

    def open_clients(self, resp: int) -> None:
        self.real = RawClient(self.real_port, resp)
        self.cairn = RawClient(self.cairn_port, resp)

    def close_clients(self) -> None:
        for client in (self.real, self.cairn):
            if client is not None:
                client.close()

    def teardown(self) -> None:
        self.close_clients()

    def same(self, *args: Any) -> bytes:
        """Run on both; the reply bytes must be identical."""
        assert self.real is not None and self.cairn is not None
        expected, actual = self.real.raw(*args), self.cairn.raw(*args)
        assert actual == expected, f"{args!r}\n  redis: {expected!r}\n  cairn: {actual!r}"
        return actual
