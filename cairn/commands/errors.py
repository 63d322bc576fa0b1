"""Redis' error replies, word for word."""

from __future__ import annotations

from cairn.protocol import ErrorReply

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"
NO_SUCH_KEY = "ERR no such key"
DB_INDEX = "ERR DB index is out of range"
OVERFLOW = "ERR increment or decrement would overflow"
NOAUTH = "NOAUTH Authentication required."
EXECABORT = "EXECABORT Transaction discarded because of previous errors."
STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"


class CommandError(ErrorReply):
    """Raised by a handler: the command fails with this exact error reply."""


def err(message: str) -> CommandError:
    return CommandError(message)


def wrong_arity(name: str) -> CommandError:
    return CommandError(f"ERR wrong number of arguments for '{name}' command")


def _c_string(value: bytes) -> bytes:
    """What C's %s prints of a Redis string: everything before the first NUL."""
    nul = value.find(b"\0")
    return value if nul < 0 else value[:nul]


def unknown_command(argv: list[bytes]) -> CommandError:
    # Redis formats with "%.128s" and "'%.*s' " (byte counts, C strings).
    args = b""
    for arg in argv[1:]:
        if len(args) >= 128:
            break
        args += b"'" + _c_string(arg)[: 128 - len(args)] + b"' "
    name = _c_string(argv[0])[:128]
    text = b"ERR unknown command '" + name + b"', with args beginning with: " + args
    return CommandError(text.decode("utf-8", "surrogateescape"))


def unknown_subcommand(container: str, sub: bytes) -> CommandError:
    text = sub.decode("utf-8", "surrogateescape")[:128]
    return CommandError(f"ERR unknown subcommand '{text}'. Try {container.upper()} HELP.")
