"""Reply values and their RESP2/RESP3 encoding (sans-IO).

Commands return plain Python values; this module decides how each is written:

=====================  =====================  ==========================
value                  RESP2                  RESP3
=====================  =====================  ==========================
bytes / bytearray      bulk string            bulk string
int                    integer                integer
None                   null bulk ($-1)        null (_)
Status("OK")           +OK                    +OK
ErrorReply             -ERR ...               -ERR ...
list / tuple           array                  array
NullArray              *-1                    _
SetReply               array                  set (~)
dict / MapReply        flat array             map (%)
float / Double         bulk string            double (,)
bool                   integer 0/1            boolean (#)
Verbatim               bulk string            verbatim (=txt: or its format)
BigNumber              bulk string            big number (()
Push                   array                  push (>)
=====================  =====================  ==========================
"""

from __future__ import annotations

from typing import Any

from hiredis import pack_command as _pack

from cairn.doubles import format_score


class Status(str):
    """A simple string reply (+OK)."""

    __slots__ = ()


class ErrorReply(Exception):
    """An error reply; ``message`` starts with its code (ERR, WRONGTYPE, ...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SetReply(list):  # type: ignore[type-arg]
    """An array that RESP3 sends as a set."""


class MapReply(list):  # type: ignore[type-arg]
    """Pairs ``[(k, v), ...]`` sent as a RESP3 map or a flat RESP2 array."""


class Verbatim(bytes):
    """Text that RESP3 sends as a verbatim string (INFO, CLIENT LIST...).

    ``Verbatim(text)`` is "txt"; ``Verbatim(text, b"mkd")`` another format
    (three bytes, as Redis writes it: cut or padded with spaces)."""

    format = b"txt"

    def __new__(cls, text: bytes, fmt: bytes = b"txt") -> Verbatim:
        value = super().__new__(cls, text)
        if fmt != b"txt":
            value.format = (fmt.split(b"\0", 1)[0][:3]).ljust(3, b" ")
        return value


class BigNumber(bytes):
    """A RESP3 big number ('(12345'); a bulk string in RESP2."""


class BulkArray(tuple):  # type: ignore[type-arg]
    """An array whose every element is a byte string (LRANGE, SMEMBERS...): the same
    bytes in RESP2 and RESP3, encoded in one C call (hiredis' pack_command writes
    exactly ``*<n>`` followed by bulk strings). Only for elements of type bytes."""


class Push(list):  # type: ignore[type-arg]
    """An out-of-band push message (pub/sub, MONITOR in RESP3, invalidation)."""


class Double(float):
    """A double sent as RESP3 ',' and as a RESP2 bulk string."""


class DoubleText(bytes):
    """A double already written out (GEOPOS coordinates): RESP3 ',' + the text,
    RESP2 a bulk string."""


class _NullArray:
    __slots__ = ()


NULL_ARRAY: Any = _NullArray()
OK = Status("OK")
QUEUED = Status("QUEUED")
PONG = Status("PONG")

_CRLF = b"\r\n"
# Encoded integer replies -1 .. 1023: SMALL_INTS[value + 1].
SMALL_INTS = [b":%d\r\n" % i for i in range(-1, 1024)]


def format_double(value: float) -> bytes:
    """A double as Redis 7.2 writes it (RESP3 ',' and RESP2 bulk alike)."""
    return format_score(value)


def encode_error(message: str) -> bytes:
    # Redis replaces newlines in error messages so a reply stays one line.
    return b"-" + message.replace("\r", " ").replace("\n", " ").encode("utf-8", "surrogateescape") + _CRLF


def encode(value: Any, resp3: bool = False) -> bytes:
    """Encode one reply value."""
    t = type(value)
    if t is bytes:
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if value is OK:
        return b"+OK\r\n"
    if t is BulkArray:
        return _pack(value)
    parts: list[bytes] = []
    _encode_into(value, resp3, parts)
    return b"".join(parts)


def _encode_into(value: Any, resp3: bool, out: list[bytes]) -> None:
    t = type(value)
    if t is bytes or t is bytearray:
        out.append(b"$%d\r\n" % len(value))
        out.append(value)
        out.append(_CRLF)
    elif t is int:
        if -1 <= value <= 1023:
            out.append(SMALL_INTS[value + 1])
        else:
            out.append(b":%d\r\n" % value)
    elif value is None:
        out.append(b"_\r\n" if resp3 else b"$-1\r\n")
    elif t is Status:
        out.append(b"+" + value.encode() + _CRLF)
    elif t is BulkArray:
        out.append(_pack(value))
    elif t is list or t is tuple:
        out.append(b"*%d\r\n" % len(value))
        append = out.append
        for item in value:
            if type(item) is bytes:  # the common element, without a recursive call
                append(b"$%d\r\n%s\r\n" % (len(item), item))
            else:
                _encode_into(item, resp3, out)
    elif isinstance(value, ErrorReply):
        out.append(encode_error(value.message))
    elif t is MapReply or t is dict:
        items = value.items() if t is dict else value
        if resp3:
            out.append(b"%%%d\r\n" % len(value))
        else:
            out.append(b"*%d\r\n" % (2 * len(value)))
        for k, v in items:
            _encode_into(k, resp3, out)
            _encode_into(v, resp3, out)
    elif t is SetReply:
        out.append(b"~%d\r\n" % len(value) if resp3 else b"*%d\r\n" % len(value))
        for item in value:
            _encode_into(item, resp3, out)
    elif t is float or t is Double:
        text = format_double(value)
        if resp3:
            out.append(b"," + text + _CRLF)
        else:
            out.append(b"$%d\r\n%s\r\n" % (len(text), text))
    elif t is bool:
        if resp3:
            out.append(b"#t\r\n" if value else b"#f\r\n")
        else:
            out.append(b":1\r\n" if value else b":0\r\n")
    elif t is DoubleText:
        if resp3:
            out.append(b"," + value + _CRLF)
        else:
            out.append(b"$%d\r\n" % len(value))
            out.append(value)
            out.append(_CRLF)
    elif t is Verbatim:
        if resp3:
            out.append(b"=%d\r\n%s:" % (len(value) + 4, value.format))
            out.append(value)
            out.append(_CRLF)
        else:
            out.append(b"$%d\r\n" % len(value))
            out.append(value)
            out.append(_CRLF)
    elif t is BigNumber:
        if resp3:
            out.append(b"(" + value + _CRLF)
        else:
            out.append(b"$%d\r\n" % len(value))
            out.append(value)
            out.append(_CRLF)
    elif t is Push:
        out.append(b">%d\r\n" % len(value) if resp3 else b"*%d\r\n" % len(value))
        for item in value:
            _encode_into(item, resp3, out)
    elif value is NULL_ARRAY:
        out.append(b"_\r\n" if resp3 else b"*-1\r\n")
    elif isinstance(value, str):
        out.append(b"+" + value.encode() + _CRLF)
    else:
        raise TypeError(f"cannot encode reply of type {t.__name__}")
