from harness import Pair


def test_ping_echo(pair: Pair) -> None:
    pair.check("PING")
    pair.check("PING", "hello")
    pair.check("PING", "a", "b")
    pair.check("ECHO", "x")


def test_unknown_command(pair: Pair) -> None:
    pair.check("NOSUCHCOMMAND", "a", "b")
    pair.check("NOSUCHCOMMAND", "x" * 300)


def test_unknown_command_cuts_at_128_bytes(pair: Pair) -> None:
    # Redis counts bytes ("%.128s"), not characters.
    pair.check("é" * 100, "x" * 200, "y")
