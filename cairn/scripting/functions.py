"""Function libraries: ``#!lua name=...`` code, redis.register_function, DUMP/RESTORE.

A library is loaded by running its code once in the load environment; each
``redis.register_function`` call lands in :meth:`Libraries._register`. Nothing
changes until the whole library loaded without error (and, with REPLACE or
RESTORE, until every collision check passed).

``dump_libraries`` / ``restore_libraries`` carry the libraries in snapshots,
in FUNCTION DUMP's format (RDB function opcodes, version, CRC-64).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from lupa import lua51

from cairn.protocol import ErrorReply
from cairn.types import rdb
from cairn.types.rdbcodecs import RdbError

if TYPE_CHECKING:
    from cairn.commands.context import Server
    from cairn.scripting.engine import ScriptEngine

# Flags in the order FUNCTION LIST shows them.
FUNCTION_FLAGS = (b"no-writes", b"allow-oom", b"allow-stale", b"no-cluster", b"allow-cross-slot-keys")
_VALID_NAME = re.compile(rb"[A-Za-z0-9_]+\Z")
_NAME_ERROR = (
    "ERR Library names can only contain letters, numbers, or underscores(_) and must be at "
    "least one character long"
)
OPCODE_FUNCTION2 = 0xF5
OPCODE_FUNCTION_PRE_GA = 0xF6


class Function:
    __slots__ = ("description", "flags", "fn", "library", "name")

    def __init__(self, name: bytes, fn: Any, flags: tuple[bytes, ...], description: bytes | None) -> None:
        self.name = name
        self.fn = fn
        self.flags = flags
        self.description = description
        self.library: Library | None = None


class Library:
    __slots__ = ("code", "functions", "name")

    def __init__(self, name: bytes, code: bytes) -> None:
        self.name = name
        self.code = code
        self.functions: dict[bytes, Function] = {}


def parse_metadata(code: bytes) -> tuple[bytes, bytes]:
    """(library name, code to compile) from the ``#!lua name=...`` first line."""
    if not code.startswith(b"#!"):
        raise ErrorReply("ERR Missing library metadata")
    nl = code.find(b"\n")
    if nl < 0:
        raise ErrorReply("ERR Invalid library metadata")
    parts = [p for p in code[:nl].split(b" ") if p]
    engine = parts[0][2:]
    name: bytes | None = None
    for part in parts[1:]:
        if part[:5].lower() == b"name=":
            if name is not None:
                raise ErrorReply("ERR Invalid metadata value, name argument was given multiple times")
            name = part[5:]
        else:
            raise ErrorReply("ERR Invalid metadata value given: " + part.decode("utf-8", "surrogateescape"))
    if name is None:
        raise ErrorReply("ERR Library name was not given")
    if engine.lower() != b"lua":
        raise ErrorReply(f"ERR Engine '{engine.decode('utf-8', 'surrogateescape')}' not found")
    if not _VALID_NAME.match(name):
        raise ErrorReply(_NAME_ERROR)
    return name, b"\n" + code[nl + 1 :]


class Libraries:
    """Every loaded library and an index of their functions."""

    def __init__(self, engine: ScriptEngine) -> None:
        self.engine = engine
        self.libraries: dict[bytes, Library] = {}
        self.functions: dict[bytes, Function] = {}
        self._loading: Library | None = None

    # -- loading -----------------------------------------------------------------
    def compile(self, code: bytes) -> Library:
        """Run a library's code and collect its functions (nothing is installed)."""
        name, body = parse_metadata(code)
        library = Library(name, code)
        self._loading = library
        try:
            result = self.engine.api.load_library(body, self._register)
        finally:
            self._loading = None
        err: Any = None
        if type(result) is tuple:
            status = result[0]
            err = result[1] if len(result) > 1 else None
        else:
            status = result
        if status == 1:
            raise ErrorReply("ERR Error compiling function: " + _text(err))
        if status == 2:
            message = _text(err[b"err"]) if lua51.lua_type(err) == "table" else "ERR " + _text(err)
            raise ErrorReply("ERR Error registering functions: " + message)
        if not library.functions:
            raise ErrorReply("ERR No functions registered")
        return library

    def load(self, code: bytes, replace: bool) -> bytes:
        """FUNCTION LOAD: install a library; returns its name."""
        name, _ = parse_metadata(code)
        if name in self.libraries and not replace:
            raise ErrorReply(f"ERR Library '{name.decode('utf-8', 'surrogateescape')}' already exists")
        library = self.compile(code)
        self._check_functions([library], replacing={library.name} if replace else set())
        self._install([library])
        return library.name

    def _check_functions(self, libraries: list[Library], replacing: set[bytes]) -> None:
        for library in libraries:
            for fname in library.functions:
                existing = self.functions.get(fname)
                if existing is not None and existing.library is not None and existing.library.name not in replacing:
                    raise ErrorReply(f"ERR Function {fname.decode('utf-8', 'surrogateescape')} already exists")

    def _install(self, libraries: list[Library]) -> None:
        for library in libraries:
            old = self.libraries.pop(library.name, None)
            if old is not None:
                for fname in old.functions:
                    self.functions.pop(fname, None)
            self.libraries[library.name] = library
            for fname, function in library.functions.items():
                function.library = library
                self.functions[fname] = function

    def delete(self, name: bytes) -> None:
        library = self.libraries.pop(name, None)
        if library is None:
            raise ErrorReply("ERR Library not found")
        for fname in library.functions:
            self.functions.pop(fname, None)

    def flush(self) -> None:
        self.libraries.clear()
        self.functions.clear()
        self.engine.lua.gccollect()

    # -- redis.register_function ---------------------------------------------------------
    def _register(self, *args: Any) -> tuple[bool, Any]:
        try:
            self._do_register(args)
        except ErrorReply as exc:
            return False, exc.message.encode("utf-8", "surrogateescape")
        except Exception as exc:  # never let a Python exception reach Lua
            return False, f"ERR {type(exc).__name__} in redis.register_function".encode()
        return True, None

    def _do_register(self, args: tuple[Any, ...]) -> None:
        library = self._loading
        if library is None:
            raise ErrorReply("ERR redis.register_function can only be called on FUNCTION LOAD command")
        lua_type = lua51.lua_type
        name: Any = None
        callback: Any = None
        flags: set[bytes] = set()
        description: bytes | None = None
        if len(args) == 1:
            table = args[0]
            if lua_type(table) != "table":
                raise ErrorReply(
                    "ERR calling redis.register_function with a single argument is only applicable to "
                    "Lua table (representing named arguments)."
                )
            for key, value in table.items():
                if key == b"function_name":
                    if type(value) is not bytes:
                        raise ErrorReply("ERR function_name argument given to redis.register_function must be a string")
                    name = value
                elif key == b"description":
                    if type(value) is not bytes:
                        raise ErrorReply("ERR description argument given to redis.register_function must be a string")
                    description = value
                elif key == b"callback":
                    if lua_type(value) != "function":
                        raise ErrorReply("ERR callback argument given to redis.register_function must be a function")
                    callback = value
                elif key == b"flags":
                    if lua_type(value) != "table":
                        raise ErrorReply(
                            "ERR flags argument to redis.register_function must be a table representing function flags"
                        )
                    for flag in value.values():
                        if flag not in FUNCTION_FLAGS:
                            raise ErrorReply("ERR unknown flag given")
                        flags.add(flag)
                else:
                    raise ErrorReply("ERR unknown argument given to redis.register_function")
            if name is None:
                raise ErrorReply("ERR redis.register_function must get a function name argument")
            if callback is None:
                raise ErrorReply("ERR redis.register_function must get a callback argument")
        elif len(args) == 2:
            name, callback = args
            if type(name) is int or type(name) is float:
                name = b"%d" % name if type(name) is int else b"%.14g" % name
            if type(name) is not bytes:
                raise ErrorReply("ERR first argument to redis.register_function must be a string")
            if lua_type(callback) != "function":
                raise ErrorReply("ERR second argument to redis.register_function must be a function")
        else:
            raise ErrorReply("ERR wrong number of arguments to redis.register_function")
        if not _VALID_NAME.match(name):
            raise ErrorReply(_NAME_ERROR)
        if name in library.functions:
            raise ErrorReply("ERR Function already exists in the library")
        ordered = tuple(f for f in FUNCTION_FLAGS if f in flags)
        library.functions[name] = Function(name, callback, ordered, description)

    # -- DUMP / RESTORE ------------------------------------------------------------------
    def dump(self) -> bytes:
        out = bytearray()
        for library in self.libraries.values():
            out.append(OPCODE_FUNCTION2)
            rdb._string(out, library.code)
        body = bytes(out) + rdb.WRITE_VERSION.to_bytes(2, "little")
        return body + rdb.crc64(body).to_bytes(8, "little")

    def restore(self, payload: bytes, policy: bytes) -> None:
        if not rdb.verify(payload):
            raise ErrorReply("ERR DUMP payload version or checksum are wrong")
        reader = rdb._Reader(payload[:-10])
        codes: list[bytes] = []
        try:
            while reader.pos < len(reader.data):
                opcode = reader.byte()
                if opcode == OPCODE_FUNCTION_PRE_GA:
                    raise ErrorReply("ERR Pre-GA function format not supported")
                if opcode != OPCODE_FUNCTION2:
                    raise ErrorReply("ERR given type is not a function")
                codes.append(reader.string())
        except RdbError:
            raise ErrorReply("ERR payload is corrupted") from None
        libraries: list[Library] = []
        names: set[bytes] = set()
        for code in codes:
            library = self.compile(code)
            if library.name in names:
                raise ErrorReply(f"ERR Library {library.name.decode('utf-8', 'surrogateescape')} already exists")
            names.add(library.name)
            libraries.append(library)
        seen: set[bytes] = set()
        for library in libraries:
            for fname in library.functions:
                if fname in seen:
                    raise ErrorReply(f"ERR Function {fname.decode('utf-8', 'surrogateescape')} already exists")
                seen.add(fname)
        if policy == b"flush":
            self.flush()
        elif policy == b"append":
            for library in libraries:
                if library.name in self.libraries:
                    raise ErrorReply(
                        f"ERR Library {library.name.decode('utf-8', 'surrogateescape')} already exists"
                    )
        self._check_functions(libraries, replacing=names if policy == b"replace" else set())
        self._install(libraries)

    def stats(self) -> tuple[int, int]:
        return len(self.libraries), len(self.functions)

    def memory_used(self) -> int:
        """INFO used_memory_functions: an estimate (code, names, entries)."""
        total = 0
        for library in self.libraries.values():
            total += len(library.code) + len(library.name) + 64
            for name in library.functions:
                total += len(name) + 64
        return total


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def dump_libraries(server: Server) -> bytes:
    """Every function library, for a snapshot (FUNCTION DUMP's payload)."""
    from cairn.scripting.engine import get_engine

    return get_engine(server).libraries.dump()


def restore_libraries(server: Server, data: bytes) -> None:
    """Replace the libraries with those of a snapshot (FUNCTION RESTORE ... FLUSH)."""
    from cairn.scripting.engine import get_engine

    get_engine(server).libraries.restore(data, b"flush")
