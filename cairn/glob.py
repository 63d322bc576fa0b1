"""Redis' glob patterns (KEYS, SCAN MATCH, CONFIG GET, PSUBSCRIBE) as compiled regexes.

The semantics are those of Redis' ``stringmatchlen``, including its corners:

- ``*``, ``?``, ``[...]`` classes with ``^`` negation, ``a-z`` ranges (either
  order; bounds compared as *signed* chars, so bytes >= 0x80 sort below ASCII)
  and ``\\x`` escapes; ``\\`` escapes inside a class are case-sensitive even
  with ``nocase``.
- A class is parsed left to right: ``[a-]xyz]`` is the range ``a``..``]``
  followed by ``x``, ``y``, ``z``; ``[]`` matches nothing, ``[^]`` any byte; an
  unterminated class runs to the end of the pattern.
- The empty subject is matched only by the empty pattern (callers treat a lone
  ``*`` as "everything" before matching, as Redis' KEYS and SCAN do).

Segments between stars have a fixed length, so the regex commits to the first
place each middle segment fits (atomic groups): no exponential backtracking on
patterns such as ``*a*a*a*a*b``.
"""

from __future__ import annotations

import re
from functools import lru_cache


def _signed(byte: int) -> int:
    return byte - 256 if byte >= 128 else byte


def _lower(value: int) -> int:
    return value + 32 if 65 <= value <= 90 else value


def _atom(members: set[int]) -> bytes:
    if not members:
        return b"(?!)"
    if len(members) == 256:
        return b"."
    parts = bytearray(b"[")
    ordered = sorted(members)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts += b"\\x%02x" % ordered[i]
        if j > i:
            parts += b"-\\x%02x" % ordered[j]
        i = j + 1
    parts += b"]"
    return bytes(parts)


def _literal(byte: int, nocase: bool) -> set[int]:
    if nocase:
        return {b for b in range(256) if _lower(b) == _lower(byte)}
    return {byte}


def _tokens(pattern: bytes, nocase: bool) -> list[bytes | None]:
    """Regex atoms matching one byte each, and None for a run of stars."""
    out: list[bytes | None] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == 0x2A:  # *
            if not out or out[-1] is not None:
                out.append(None)
        elif ch == 0x3F:  # ?
            out.append(b".")
        elif ch == 0x5B:  # [
            i += 1
            negate = i < n and pattern[i] == 0x5E
            if negate:
                i += 1
            members: set[int] = set()
            while True:
                if i < n and pattern[i] == 0x5C and n - i >= 2:  # \x: exact byte
                    i += 1
                    members.add(pattern[i])
                elif i < n and pattern[i] == 0x5D:  # ]
                    break
                elif i >= n:  # unterminated: the class ends with the pattern
                    i -= 1
                    break
                elif n - i >= 3 and pattern[i + 1] == 0x2D:  # a-z
                    start, end = _signed(pattern[i]), _signed(pattern[i + 2])
                    if start > end:
                        start, end = end, start
                    if nocase:
                        start, end = _lower(start), _lower(end)
                        members.update(b for b in range(256) if start <= _lower(_signed(b)) <= end)
                    else:
                        members.update(b for b in range(256) if start <= _signed(b) <= end)
                    i += 2
                else:
                    members |= _literal(pattern[i], nocase)
                i += 1
            if negate:
                members = set(range(256)) - members
            out.append(_atom(members))
        else:
            if ch == 0x5C and n - i >= 2:  # \x
                i += 1
                ch = pattern[i]
            out.append(_atom(_literal(ch, nocase)))
        i += 1
    return out


@lru_cache(maxsize=1024)
def compile_glob(pattern: bytes, nocase: bool = False) -> re.Pattern[bytes]:
    """A regex whose ``match()`` tells whether a whole subject matches the pattern."""
    if not pattern:
        return re.compile(b"\\Z")
    segments: list[list[bytes]] = [[]]
    for token in _tokens(pattern, nocase):
        if token is None:
            segments.append([])
        else:
            segments[-1].append(token)
    out = bytearray(b"(?=.)")  # only the empty pattern matches the empty subject
    out += b"".join(segments[0])
    if len(segments) > 1:
        for middle in segments[1:-1]:
            out += b"(?>.*?" + b"".join(middle) + b")"
        out += b".*" + b"".join(segments[-1])
    out += b"\\Z"
    return re.compile(bytes(out), re.DOTALL)


def glob_match(pattern: bytes, subject: bytes, nocase: bool = False) -> bool:
    if pattern == b"*":
        return bool(subject)
    return compile_glob(pattern, nocase).match(subject) is not None
