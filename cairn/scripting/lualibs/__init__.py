"""The Lua libraries Redis bundles for scripts: cjson, cmsgpack, bit, struct.

They are written in Lua 5.1 (the ``*.lua`` files next to this module) and run
inside the script runtime itself, so no Python object is ever reachable from a
script. ``install`` compiles them and sets the four globals; it must run before
the sandbox removes ``debug`` and ``newproxy`` from the globals (the libraries
keep their own references) and before the sandbox wraps the globals in
readonly proxies (the tables installed here are plain tables).

Our chunks are compiled with the chunk name ``=cairn``, like the sandbox's own
code, so error handlers that skip internal frames skip these too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHUNK_NAME = b"=cairn"

_HERE = Path(__file__).resolve().parent
_MODULES = ("bit", "cjson", "cmsgpack", "struct")
_SOURCES: dict[str, bytes] = {
    name: (_HERE / f"{name}.lua").read_bytes() for name in ("common", *_MODULES)
}

_BOOT = b"""
local sources, chunkname = ...
local G = _G
local snapshot = {
  type = type, next = next, select = select, tostring = tostring, tonumber = tonumber,
  error = error, pcall = pcall, rawget = rawget, rawset = rawset, unpack = unpack,
  setmetatable = setmetatable, getmetatable = getmetatable, newproxy = newproxy,
  string = {}, math = {}, table = {}, debug = {getinfo = debug.getinfo},
}
for _, lib in ipairs({'string', 'math', 'table'}) do
  for k, v in pairs(G[lib]) do snapshot[lib][k] = v end
end
local strict = setmetatable({}, {
  __index = function(_, k) error('cairn lualibs: undefined global ' .. tostring(k), 2) end,
  __newindex = function(_, k) error('cairn lualibs: global assignment ' .. tostring(k), 2) end,
})
local function load(name)
  local f, err = loadstring(sources[name], chunkname)
  if not f then error(err, 0) end
  setfenv(f, strict)
  return f
end
local common = load('common')(snapshot)
for _, name in ipairs({'bit', 'cjson', 'cmsgpack', 'struct'}) do
  rawset(G, name, load(name)(snapshot, common))
end
"""


def install(lua: Any) -> None:
    """Define the globals cjson, cmsgpack, bit and struct in a lupa LuaRuntime."""
    sources = lua.table_from({name.encode(): src for name, src in _SOURCES.items()})
    boot = lua.eval("loadstring")(_BOOT, b"=cairn_lualibs_boot")
    if isinstance(boot, tuple):  # (nil, message): cannot happen unless the source is broken
        raise RuntimeError(f"lualibs bootstrap does not compile: {boot!r}")
    boot(sources, CHUNK_NAME)
