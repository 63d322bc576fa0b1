"""Redis' conversion rules between Lua values and replies, both ways.

Command replies reach Lua as a RESP2 or RESP3 client would see them
(``redis.setresp``); a script's return value becomes a reply following the
script's RESP version, and is then written in the calling client's protocol.
"""

from __future__ import annotations

import math
from typing import Any

from lupa import lua51

from cairn.protocol import (
    NULL_ARRAY,
    ErrorReply,
    MapReply,
    SetReply,
    Status,
    Verbatim,
    format_double,
)
from cairn.protocol.replies import BigNumber, BulkArray, Double, DoubleText, Push

# lupa does not export its table class: take it from a throwaway runtime.
_LuaTable = type(lua51.LuaRuntime().eval("{}"))
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1


class _Retry:
    __slots__ = ()


# lua_args' answer when an argument is an integral 0, which Lua may hold as -0
# (lupa gives both as int 0), or a NaN: the caller has Lua write the numbers
# out itself.
RETRY: Any = _Retry()


def lua_args(args: tuple[Any, ...], zero_retry: bool = False) -> Any:
    """redis.call arguments as argv (a list of bytes): strings as they are,
    numbers as Redis prints them (%.17g); None when an argument has another
    type; RETRY for a 0 or a NaN when ``zero_retry``."""
    argv: list[bytes] = []
    append = argv.append
    for arg in args:
        t = type(arg)
        if t is bytes:
            append(arg)
        elif t is int:
            if -100_000_000_000_000_000 < arg < 100_000_000_000_000_000:
                if arg == 0 and zero_retry:
                    return RETRY
                append(b"%d" % arg)
            else:
                append(b"%.17g" % float(arg))
        elif t is float:
            if arg != arg and zero_retry:  # NaN: C prints its sign ("-nan"), Python does not
                return RETRY
            append(b"%.17g" % arg)
        else:
            return None
    return argv


class ToLua:
    """Builds Lua values for command replies (one per runtime)."""

    __slots__ = ("table_from",)

    def __init__(self, runtime: Any) -> None:
        self.table_from = runtime.table_from

    def __call__(self, reply: Any, resp3: bool) -> Any:
        t = type(reply)
        if t is bytes or t is int:
            return reply
        if reply is None or reply is NULL_ARRAY:
            return None if resp3 else False
        if t is Status or (t is str):
            return self.table_from({b"ok": reply.encode()})
        if t is list or t is tuple or t is Push or t is BulkArray:
            conv = self.__call__
            return self.table_from([conv(item, resp3) for item in reply])
        if isinstance(reply, ErrorReply):
            return self.table_from({b"err": reply.message.encode("utf-8", "surrogateescape")})
        if t is bool:
            if resp3:
                return reply
            return 1 if reply else 0
        if t is bytearray:
            return bytes(reply)
        if t is MapReply or t is dict:
            items = reply.items() if t is dict else reply
            conv = self.__call__
            if resp3:
                inner = self.table_from({conv(k, True): conv(v, True) for k, v in items})
                return self.table_from({b"map": inner})
            flat: list[Any] = []
            for k, v in items:
                flat.append(conv(k, False))
                flat.append(conv(v, False))
            return self.table_from(flat)
        if t is SetReply:
            conv = self.__call__
            if resp3:
                return self.table_from({b"set": self.table_from({conv(m, True): True for m in reply})})
            return self.table_from([conv(m, False) for m in reply])
        if t is float or t is Double:
            if resp3:
                return self.table_from({b"double": float(reply)})
            return format_double(reply)
        if t is DoubleText:
            if resp3:
                return self.table_from({b"double": float(reply)})
            return bytes(reply)
        if t is Verbatim:
            if resp3:
                inner = self.table_from({b"format": reply.format, b"string": bytes(reply)})
                return self.table_from({b"verbatim_string": inner})
            return bytes(reply)
        if t is BigNumber:
            if resp3:
                return self.table_from({b"big_number": bytes(reply)})
            return bytes(reply)
        if isinstance(reply, bytes):
            return bytes(reply)
        return None


def _to_int(value: Any) -> int:
    """A Lua number as Redis' (long long) cast leaves it (x86: out of range -> min)."""
    if type(value) is int:
        return value if _I64_MIN <= value <= _I64_MAX else _I64_MIN
    if math.isnan(value) or not (_I64_MIN <= value < 2.0**63):
        return _I64_MIN
    return int(value)


def from_lua(value: Any, resp3: bool) -> Any:
    """A script's return value (or an element of it) as a reply.

    ``resp3`` is the script's protocol (redis.setresp): it decides booleans
    and nil; RESP3 types (map, set, double...) are kept either way and the
    encoder writes them in the calling client's protocol."""
    t = type(value)
    if t is bytes:
        return value
    if t is int or t is float:
        return _to_int(value)
    if value is None:
        return None
    if t is bool:
        if resp3:
            return value
        return 1 if value else None
    if t is _LuaTable:
        return _table_reply(value, resp3)
    return None  # functions, userdata, threads


def _table_reply(table: Any, resp3: bool) -> Any:
    err = table[b"err"]
    if type(err) is bytes:
        message = err.decode("utf-8", "surrogateescape")
        return ErrorReply(message or "ERR ")
    ok = table[b"ok"]
    if type(ok) is bytes:
        return Status(ok.decode("utf-8", "surrogateescape"))
    double = table[b"double"]
    if type(double) is int or type(double) is float:
        return Double(float(double))
    big = table[b"big_number"]
    if type(big) is bytes:
        return BigNumber(big)
    mapping = table[b"map"]
    if type(mapping) is _LuaTable:
        return MapReply([(from_lua(k, resp3), from_lua(v, resp3)) for k, v in mapping.items()])
    members = table[b"set"]
    if type(members) is _LuaTable:
        return SetReply([from_lua(k, resp3) for k in members.keys()])
    verbatim = table[b"verbatim_string"]
    if type(verbatim) is _LuaTable:
        fmt = verbatim[b"format"]
        text = verbatim[b"string"]
        if type(fmt) is bytes and type(text) is bytes:
            return Verbatim(text, fmt)
    out = []
    i = 1
    while True:
        item = table[i]
        if item is None:
            break
        out.append(from_lua(item, resp3))
        i += 1
    return out
