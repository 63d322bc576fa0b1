from harness import Pair


def test_ping_echo(pair: Pair) -> None:
    pair.check("PING")
    pair.check("PING", "hello")
    pair.check("PING", "a", "b")
    pair.check("ECHO", "x")


def test_unknown_command(pair: Pair) -> None:
    pair.check("NOSUCHCOMMAND", "a", "b")
    pair.check("NOSUCHCOMMAND", "x" * 300)
