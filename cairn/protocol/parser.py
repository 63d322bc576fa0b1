"""Sans-IO request parser: bytes in, argv lists out.

The fast path hands whole chunks to ``hiredis.Reader``. Whenever a chunk does
not end on a command boundary, or holds anything hiredis accepts but Redis does
not (inline commands, non-bulk elements, bad lengths), the chunk is parsed again
by the exact Python parser below, which mirrors redis-server's rules and errors.
"""

from __future__ import annotations

import re

import hiredis

INLINE_MAX_SIZE = 64 * 1024
INT_MAX = 2**31 - 1
UNAUTH_MAX_MULTIBULK = 10
UNAUTH_MAX_BULK = 16384

Argv = list[bytes]

# hiredis allocates a list of the declared size as soon as it reads "*N", and
# freeing it walks every slot: "*2147483647" alone would stall the loop for
# seconds. Chunks declaring a million elements or more take the Python path.
_BIG_COUNT = re.compile(rb"\*[0-9]{7}")
# Encoded sizes of a "*N\r\n" header and of a whole "$L\r\n<L bytes>\r\n" bulk.
_TABLE = 4096
_HEADER = [len(b"*%d\r\n" % n) for n in range(_TABLE)]
_BULK = [n + len(b"$%d\r\n\r\n" % n) for n in range(_TABLE)]


class ProtocolError(Exception):
    """A malformed request: reply ``-ERR Protocol error: <msg>`` and close."""


class QueryBufferOverflow(Exception):
    """The client's query buffer passed client-query-buffer-limit: close silently."""


def _strict_int(text: bytes) -> int | None:
    """Redis' string2ll: optional '-', no '+', no leading zeros, no spaces."""
    if not text or len(text) > 20:
        return None
    first = text[0]
    if first == 0x30:  # "0"
        return 0 if len(text) == 1 else None
    body = text[1:] if first == 0x2D else text
    if not body or not body.isdigit() or body[0] == 0x30:
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    if not -(2**63) <= value < 2**63:
        return None
    return value


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = b"0123456789abcdefABCDEF"
_SPACE = b" \n\r\t\v\f"  # isspace(): skipped between arguments, and after a quote
_TOKEN_END = b" \n\r\t"  # what ends an unquoted argument (not \v or \f)


def split_args(line: bytes) -> Argv | None:
    """Redis' sdssplitargs: None on unbalanced quotes.

    It works on a C string, so the line ends at its first NUL byte.
    """
    nul = line.find(b"\0")
    if nul >= 0:
        line = line[:nul]
    args: Argv = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return args
        cur = bytearray()
        in_dq = in_sq = False
        while True:
            if in_dq:
                if i >= n:
                    return None
                ch = line[i]
                if (
                    ch == 0x5C
                    and i + 3 < n
                    and line[i + 1] == 0x78
                    and line[i + 2] in _HEX
                    and line[i + 3] in _HEX
                ):
                    cur.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif ch == 0x5C and i + 1 < n:
                    i += 1
                    cur.append(_ESCAPES.get(line[i], line[i]))
                elif ch == 0x22:
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    in_dq = False
                    i += 1
                    break
                else:
                    cur.append(ch)
            elif in_sq:
                if i >= n:
                    return None
                ch = line[i]
                if ch == 0x5C and i + 1 < n and line[i + 1] == 0x27:
                    i += 1
                    cur.append(0x27)
                elif ch == 0x27:
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    in_sq = False
                    i += 1
                    break
                else:
                    cur.append(ch)
            else:
                if i >= n:
                    break
                ch = line[i]
                if ch in _TOKEN_END:
                    break
                if ch == 0x22:
                    in_dq = True
                elif ch == 0x27:
                    in_sq = True
                else:
                    cur.append(ch)
            i += 1
        args.append(bytes(cur))


class RequestParser:
    """Turns a client's byte stream into argv lists, with Redis' limits.

    ``feed(data)`` returns ``(commands, error)``: the complete commands found,
    and a ProtocolError to report after running them (the connection is then
    closed), or None.
    """

    __slots__ = (
        "_args",
        "_buf",
        "_left",
        "_reader",
        "authenticated",
        "max_bulk_len",
        "more",
        "query_buffer_limit",
    )

    def __init__(
        self,
        max_bulk_len: int = 512 * 1024 * 1024,
        query_buffer_limit: int = 1024 * 1024 * 1024,
    ) -> None:
        self._buf = bytearray()
        self._reader = hiredis.Reader()
        self._args: Argv = []  # arguments of a multibulk command still arriving
        self._left = 0  # how many of its arguments are still missing
        self.max_bulk_len = max_bulk_len
        self.query_buffer_limit = query_buffer_limit
        self.authenticated = True
        # Set when an unauthenticated client's requests were left in the buffer:
        # they are parsed one at a time, since AUTH lifts the limits for the
        # ones after it. The caller feeds b"" after running the command.
        self.more = False

    @property
    def buffered(self) -> int:
        """Bytes received but not yet parsed into a command."""
        return len(self._buf)

    def feed(self, data: bytes) -> tuple[list[Argv], ProtocolError | None]:
        # hiredis does not know proto-max-bulk-len: a chunk no longer than it
        # cannot hold a complete bulk that breaks it.
        if (
            not self._buf
            and not self._left
            and data[:1] == b"*"
            and self.authenticated
            and len(data) <= self.max_bulk_len
            and _BIG_COUNT.search(data) is None
        ):
            fast = self._parse_hiredis(data)
            if fast is not None:
                return fast, None
        self._buf += data
        return self._parse_python()

    def _parse_hiredis(self, data: bytes) -> list[Argv] | None:
        """Whole commands of a chunk, or None when the chunk is not exactly a run
        of canonical ``*N`` / ``$L`` commands (the Python parser then decides).

        hiredis also accepts RESP3 types, simple strings and nesting, and tells
        a command boundary from a half-read header no better than has_data():
        walking the canonical encoding's offsets checks every type byte and
        that the chunk ends on a boundary. Its numbers are as strict as Redis'.
        """
        reader = self._reader
        reader.feed(data)
        out: list[Argv] = []
        pos = 0
        header, bulk = _HEADER, _BULK
        try:
            while True:
                cmd = reader.gets()
                if cmd is False:
                    break
                # A '*' (or '$') where the canonical encoding puts it means hiredis
                # read an array (or a bulk): a list (bytes), or None, which len()
                # rejects with TypeError.
                if data[pos] != 0x2A:
                    raise ValueError
                n = len(cmd)
                pos += header[n] if n < _TABLE else len(b"*%d\r\n" % n)
                for arg in cmd:
                    if data[pos] != 0x24:
                        raise ValueError
                    size = len(arg)
                    pos += bulk[size] if size < _TABLE else size + len(b"$%d\r\n\r\n" % size)
                if n:
                    out.append(cmd)
            if pos == len(data):
                return out
        except (ValueError, TypeError, IndexError, hiredis.ProtocolError):
            pass
        # Not a clean chunk: start over with the exact parser.
        self._reader = hiredis.Reader()
        return None

    def _parse_python(self) -> tuple[list[Argv], ProtocolError | None]:
        buf = self._buf
        pos = 0
        out: list[Argv] = []
        error: ProtocolError | None = None
        self.more = False
        try:
            while pos < len(buf) or self._left:
                if out and not self.authenticated:
                    self.more = True
                    break
                if self._left:
                    pos = self._bulks(buf, pos)
                    if self._left:
                        break
                    out.append(self._args)
                    self._args = []
                    continue
                if buf[pos] == 0x2A:  # '*'
                    pos = self._multibulk_header(buf, pos)
                    if pos < 0:
                        pos = -pos - 1
                        break
                else:
                    cmd, pos = self._inline(buf, pos)
                    if cmd is None:
                        break
                    if cmd:
                        out.append(cmd)
        except ProtocolError as exc:
            error = exc
            pos = len(buf)
            self._left = 0
            self._args = []
        del buf[:pos]
        if len(buf) > self.query_buffer_limit:
            raise QueryBufferOverflow()
        return out, error

    def _inline(self, buf: bytearray, pos: int) -> tuple[Argv | None, int]:
        end = buf.find(b"\n", pos)
        if end >= 0 and buf.find(b"\0", pos, end) >= 0:
            end = -1  # Redis looks for the newline with strchr(), which stops at a NUL
        if end < 0:
            if len(buf) - pos > INLINE_MAX_SIZE:
                raise ProtocolError("too big inline request")
            return None, pos
        line_end = end - 1 if end > pos and buf[end - 1] == 0x0D else end
        args = split_args(bytes(buf[pos:line_end]))
        if args is None:
            raise ProtocolError("unbalanced quotes in request")
        return args, end + 1

    def _multibulk_header(self, buf: bytearray, pos: int) -> int:
        """Parse ``*N``; returns the new position, or ``-pos - 1`` if incomplete."""
        end = buf.find(b"\r", pos)
        if end >= 0 and buf.find(b"\0", pos, end) >= 0:
            end = -1  # strchr() semantics, as in _inline
        if end < 0 or end + 1 >= len(buf):
            if len(buf) - pos > INLINE_MAX_SIZE:
                raise ProtocolError("too big mbulk count string")
            return -pos - 1
        count = _strict_int(bytes(buf[pos + 1 : end]))
        if count is None or count > INT_MAX:
            raise ProtocolError("invalid multibulk length")
        if count > UNAUTH_MAX_MULTIBULK and not self.authenticated:
            raise ProtocolError("unauthenticated multibulk length")
        if count > 0:
            self._left = count
            self._args = []
        return end + 2

    def _bulks(self, buf: bytearray, pos: int) -> int:
        """Parse as many missing arguments as the buffer holds."""
        args = self._args
        max_bulk = self.max_bulk_len
        size = len(buf)
        while self._left:
            if pos >= size:
                return pos
            end = buf.find(b"\r", pos)
            if end >= 0 and buf.find(b"\0", pos, end) >= 0:
                end = -1  # strchr() semantics, as in _inline
            if end < 0 or end + 1 >= size:
                if size - pos > INLINE_MAX_SIZE:
                    raise ProtocolError("too big bulk count string")
                return pos
            if buf[pos] != 0x24:  # '$'
                raise ProtocolError(f"expected '$', got '{chr(buf[pos])}'")
            length = _strict_int(bytes(buf[pos + 1 : end]))
            if length is None or length < 0 or length > max_bulk:
                raise ProtocolError("invalid bulk length")
            if length > UNAUTH_MAX_BULK and not self.authenticated:
                raise ProtocolError("unauthenticated bulk length")
            start = end + 2
            if start + length + 2 > size:
                return pos
            args.append(bytes(buf[start : start + length]))
            pos = start + length + 2  # like Redis, the trailing CRLF is not checked
            self._left -= 1
        return pos
