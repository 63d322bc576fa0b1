"""The Lua side of the sandbox: one bootstrap chunk run once per runtime.

It receives the Python callbacks as arguments and keeps them in local
upvalues only, so no script can reach a Python object. It then builds three
environments of readonly proxy tables, as Redis 7 shows them to scripts:

* ``eval``: what EVAL scripts see (KEYS, ARGV, the full ``redis`` table);
* ``load``: what a library sees while FUNCTION LOAD runs it (only
  ``redis.register_function``, ``redis.log`` and the constants);
* ``func``: what registered functions see when FCALL runs them.

Globals are readonly: a new global is "Attempt to modify a readonly table", a
missing one "Script attempted to access nonexistent global variable". Lua 5.1
has no readonly tables, so every protected table is an empty proxy whose
metatable forwards reads; ``pairs``, ``next``, ``rawget``, ``rawset`` and
``setmetatable`` are replaced by versions that see through the proxies (and
refuse to write to them). ``math.random`` is Redis' rand48 generator.

The bootstrap returns a table of internal entry points (run_eval, run_function,
compile_eval, load_library, ...), called only from Python.
"""

from __future__ import annotations

# Chunk name of our own Lua code: the error handler skips these frames so the
# reported line is the user's.
INTERNAL_CHUNK = "=cairn"

BOOTSTRAP = r"""
local pycall, pyhook, pylog, pysha1, pysetresp, pyacl, version, version_num = ...

local type, error, tostring, tonumber, select = type, error, tostring, tonumber, select
local rawget, rawset, rawequal, next = rawget, rawset, rawequal, next
local setmetatable, getmetatable = setmetatable, getmetatable
local pcall, xpcall, loadstring, setfenv, unpack = pcall, xpcall, loadstring, setfenv, unpack
local floor = math.floor
local getinfo, sethook = debug.getinfo, debug.sethook
local G = _G

-- Nothing dangerous stays reachable through the thread's global table either.
for _, name in ipairs({'os', 'io', 'package', 'require', 'dofile', 'loadfile',
                       'module', 'print', 'getfenv', 'setfenv', 'newproxy', 'python'}) do
  G[name] = nil
end

-- readonly proxies ---------------------------------------------------------
local real_of = setmetatable({}, {__mode = 'k'})

local function ro_newindex()
  error('Attempt to modify a readonly table', 2)
end

local function readonly(t, mt_view)
  local p = {}
  real_of[p] = t
  setmetatable(p, {__index = t, __newindex = ro_newindex, __metatable = mt_view or false})
  return p
end

local function copy(t)
  local c = {}
  for k, v in next, t do c[k] = v end
  return c
end

local function sb_next(t, k)
  return next(real_of[t] or t, k)
end

local function sb_pairs(t)
  return next, real_of[t] or t, nil
end

local function sb_rawget(t, k)
  return rawget(real_of[t] or t, k)
end

local function sb_rawset(t, k, v)
  if real_of[t] then error('Attempt to modify a readonly table', 0) end
  return rawset(t, k, v)
end

local function sb_setmetatable(t, mt)
  if real_of[t] then error('Attempt to modify a readonly table', 0) end
  return setmetatable(t, mt)
end

local decoy_meta = readonly({})

local function missing_global(t, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end

-- An environment: a proxy over `backing`, which errors on missing names.
local function environment(backing)
  setmetatable(backing, {__index = missing_global, __newindex = ro_newindex})
  local env = {}
  real_of[env] = backing
  setmetatable(env, {__index = backing, __newindex = ro_newindex, __metatable = decoy_meta})
  return env
end

-- pcall: an error table with an err field comes back as its message (Redis 7).
local revive_if_needed  -- (set once redis.call exists, below)

local function pcall_finish(ok, ...)
  if not ok then
    revive_if_needed()
    local e = ...
    if type(e) == 'table' then
      local msg = rawget(e, 'err')
      if msg ~= nil then return false, msg end
    end
  end
  return ok, ...
end

local function sb_pcall(...)
  return pcall_finish(pcall(...))
end

-- math.random: Redis' rand48, its state shared by every script of the server.
local xh, xl = 0, 0x330E  -- the 48-bit state as two 24-bit halves
local AH, AL = 0x5DE, 0xECE66D
local TWO24 = 16777216

local function rand48()
  local lo = AL * xl + 0xB
  local carry = floor(lo / TWO24)
  local hi = (AH * xl + AL * xh + carry) % TWO24
  xl = lo % TWO24
  xh = hi
  return floor((xh * TWO24 + xl) / 131072)  -- the top 31 bits
end

-- The line of the EVAL script running now when all its code is on one line
-- (see err_handler), else nil.
local running_line = nil

-- error(msg, level) for our functions standing in for Redis' C ones. After a
-- Lua tail call into them the caller's frame (and so the "user_script:N:"
-- prefix) is gone: it is restored when the script is a one-liner.
local function raise_at(msg, level)
  local info = getinfo(level + 1, 'S')
  if info and info.what == 'tail' and running_line then
    error('user_script:' .. running_line .. ': ' .. msg, 0)
  end
  error(msg, level + 1)
end

-- luaL_checknumber's words: "number expected, got <type>" ("no value" when absent).
local function number_error(i, fname, n, v)
  local got = i > n and 'no value' or type(v)
  raise_at("bad argument #" .. i .. " to '" .. fname .. "' (number expected, got " .. got .. ")", 3)
end

local function sb_random(...)
  local r = (rand48() % 2147483647) / 2147483647
  local n = select('#', ...)
  if n == 0 then
    return r
  elseif n == 1 then
    local u = tonumber((...))
    if u == nil then number_error(1, 'random', n, (...)) end
    u = floor(u)
    if u < 1 then raise_at("bad argument #1 to 'random' (interval is empty)", 2) end
    return floor(r * u) + 1
  elseif n == 2 then
    local a, b = ...
    local l, u = tonumber(a), tonumber(b)
    if l == nil then number_error(1, 'random', n, a) end
    if u == nil then number_error(2, 'random', n, b) end
    l, u = floor(l), floor(u)
    if l > u then raise_at("bad argument #2 to 'random' (interval is empty)", 2) end
    return floor(r * (u - l + 1)) + l
  end
  raise_at('wrong number of arguments', 2)
end

local function sb_randomseed(...)
  local seed = tonumber((...))
  if seed == nil then number_error(1, 'randomseed', select('#', ...), (...)) end
  seed = floor(seed) % 4294967296
  if seed >= 2147483648 then seed = seed - 4294967296 end
  -- srand48: the state is (seed << 16) | 0x330E, on 48 bits
  local s = seed % 4294967296
  xh = floor(s / 256) % TWO24
  xl = (s % 256) * 65536 + 0x330E
end

-- libraries ------------------------------------------------------------------
local math_copy = copy(math)
math_copy.random = sb_random
math_copy.randomseed = sb_randomseed

local ro_string = readonly(string)
local ro_math = readonly(math_copy)
local ro_table = readonly(table)
local ro_coroutine = readonly(coroutine)
local libs = {}
for _, name in ipairs({'cjson', 'cmsgpack', 'bit', 'struct'}) do
  local lib = rawget(G, name)
  if type(lib) == 'table' then libs[name] = readonly(lib) end
end

-- Strings index the readonly string library, and their metatable is readonly.
local string_mt = getmetatable('')
string_mt.__index = ro_string
string_mt.__metatable = readonly(copy(string_mt))

-- busy script hook ------------------------------------------------------------------
-- (Lua 5.1 keeps a hook function per thread: coroutines, redis.call's among
-- them, run without it.)
local handling = false  -- the script ended in error: the kill hook must not fire again
local HOOK_EVERY = 100000
local function hook()
  if handling then return end
  if pyhook() then
    sethook(hook, '', 1)
    error({err = 'ERR Script killed by user with SCRIPT KILL...'})
  end
end
sethook(hook, '', HOOK_EVERY)

-- the redis table ----------------------------------------------------------------
local ERR_ARGS = 'ERR wrong number or type of arguments'

-- Numbers become strings as Redis prints them (%.17g). Python converts the
-- numbers it receives itself, except an integral 0 (which may have been -0)
-- and NaN (whose sign C prints): pycall then answers (nil, true) without
-- running anything and the call is repeated with its numbers written out here.
local format = string.format
local function numbers_as_strings(n, ...)
  local args = {...}
  for i = 1, n do
    if type(args[i]) == 'number' then args[i] = format('%.17g', args[i]) end
  end
  return unpack(args, 1, n)
end

-- pycall's answers: one value (the reply, converted), (nil, message) for an
-- error reply, (nil, nil, text) for a status reply, (nil, true): see above.
local function rpcall(...)
  local v, e, s = pycall(...)
  if e == nil then
    if s == nil then return v end
    return {ok = s}
  end
  if e == true then return rpcall(numbers_as_strings(select('#', ...), ...)) end
  return {err = e}
end

local function error_reply(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then return {err = ERR_ARGS} end
  if s:sub(1, 1) == '-' then s = s:sub(2) end
  return {err = s}
end

local function status_reply(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then return {err = ERR_ARGS} end
  return {ok = s}
end

local function sha1hex(...)
  if select('#', ...) ~= 1 then error('wrong number of arguments', 0) end
  local s = ...
  local t = type(s)
  if t ~= 'string' and t ~= 'number' then s = '' end
  return pysha1(tostring(s))
end

local function log(...)
  local n = select('#', ...)
  if n < 2 then error('redis.log() requires two arguments or more.', 0) end
  local level = ...
  if type(level) ~= 'number' then error('First argument must be a number (log level).', 0) end
  if level < 0 or level > 3 then error('Invalid debug level.', 0) end
  local parts = {}
  for i = 2, n do
    local v = select(i, ...)
    local t = type(v)
    if t == 'string' or t == 'number' then parts[#parts + 1] = tostring(v) end
  end
  pylog(level, table.concat(parts, ' '))
end

local function setresp(...)
  if select('#', ...) ~= 1 then error('redis.setresp() requires one argument.', 0) end
  local v = tonumber((...))
  if v ~= 2 and v ~= 3 then error('RESP version must be 2 or 3.', 0) end
  pysetresp(v)
end

local function set_repl(...)
  if select('#', ...) ~= 1 then error('redis.set_repl() requires two arguments.', 0) end
  local v = ...
  if type(v) ~= 'number' or v < 0 or v > 3 then
    error('Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.', 0)
  end
end

local function acl_check_cmd(...)
  if select('#', ...) == 0 then
    error({err = 'ERR Please specify at least one argument for this redis lib call'})
  end
  local ok, v = pyacl(...)
  if ok then return v end
  error({err = v})
end

local function constants(t)
  t.LOG_DEBUG, t.LOG_VERBOSE, t.LOG_NOTICE, t.LOG_WARNING = 0, 1, 2, 3
  t.REDIS_VERSION, t.REDIS_VERSION_NUM = version, version_num
  return t
end

-- A C function running `fn` (a coroutine.wrap): calling it never makes a Lua
-- tail call, so an error it raises is reported on the caller's line, as
-- Redis' C functions are. An error ends the coroutine: the table entry is
-- replaced by a fresh wrapper before the error propagates.
local co_yield = coroutine.yield
local co_wrap = coroutine.wrap

local function c_function(tbl, key, fn)
  local function make()
    return co_wrap(function(...)
      local args = {n = select('#', ...), ...}
      while true do
        local res = {n = 0}
        local function collect(ok, ...)
          res = {n = select('#', ...) + 1, ok, ...}
        end
        collect(pcall(fn, unpack(args, 1, args.n)))
        if not res[1] then
          rawset(tbl, key, make())
          local e = res[2]
          -- (a string would get a position prepended by coroutine.wrap)
          if type(e) ~= 'table' then e = {err = 'ERR ' .. tostring(e)} end
          error(e, 0)
        end
        args = {n = 0}
        local function again(...)
          args = {n = select('#', ...), ...}
        end
        again(co_yield(unpack(res, 2, res.n)))
      end
    end)
  end
  rawset(tbl, key, make())
end

-- redis.call, the hot path: a coroutine.wrap as above, without a pcall nor
-- any table or closure per call. A failing call replaces the table entry with
-- a fresh coroutine before raising (which ends the running one). One that died
-- any other way (out of memory, SCRIPT KILL from the hook while it ran) is
-- replaced by the next pcall that catches an error, and when the next script
-- starts (revive_calls).
local call_threads = {}  -- redis table -> the thread of its redis.call, once called
local co_running, co_status = coroutine.running, coroutine.status
local install_call

local function revive_calls()
  for tbl, thread in next, call_threads do
    if co_status(thread) == 'dead' then install_call(tbl) end
  end
end

install_call = function(tbl)
  local step
  -- pycall's (nil, true): the same call with its numbers written out here.
  local function again(...)
    local v, e, s = pycall(numbers_as_strings(select('#', ...), ...))
    if e == nil then
      if s == nil then return v end
      return {ok = s}
    end
    install_call(tbl)
    error({err = e}, 0)
  end
  -- One Lua function per call: the reply is yielded, the next call's
  -- arguments come back from the yield.
  step = function(...)
    local v, e, s = pycall(...)
    if e == nil then
      if s == nil then return step(co_yield(v)) end
      return step(co_yield({ok = s}))
    end
    if e == true then return step(co_yield(again(...))) end
    install_call(tbl)
    error({err = e}, 0)
  end
  call_threads[tbl] = nil
  rawset(tbl, 'call', co_wrap(function(...)
    call_threads[tbl] = co_running()
    return step(...)
  end))
end

revive_if_needed = revive_calls

local function runtime_redis(for_eval)
  local r = constants({
    pcall = rpcall, error_reply = error_reply, status_reply = status_reply,
  })
  install_call(r)
  c_function(r, 'sha1hex', sha1hex)
  c_function(r, 'log', log)
  c_function(r, 'setresp', setresp)
  c_function(r, 'set_repl', set_repl)
  c_function(r, 'acl_check_cmd', acl_check_cmd)
  r.REPL_NONE, r.REPL_AOF, r.REPL_SLAVE, r.REPL_REPLICA, r.REPL_ALL = 0, 1, 2, 2, 3
  if for_eval then
    r.replicate_commands = function() return true end
    r.breakpoint = function() return false end
    r.debug = function() end
  end
  return readonly(r)
end

-- the error handler: where the error happened, in the user's code ----------------

-- The line of a running EVAL script whose code is all on one line, else nil.
-- A Lua tail call (`return f(...)`) into one of our Lua functions drops the
-- caller's frame ("(tail call)" in the traceback), where Redis' C functions
-- keep it: the error is then reported on that line when it is the only one.
local single_line_of = setmetatable({}, {__mode = 'k'})

local function single_line(body)
  local blank = body:match('^\n*')
  local rest = body:sub(#blank + 1)
  if rest:find('\r', 1, true) or not rest:find('^[^\n]*\n*$') then return nil end
  return #blank + 1
end

local function err_handler(e)
  handling = true
  local level = 2
  local info = getinfo(level, 'Sl')
  while info and (info.what == 'C' or info.what == 'tail' or info.source == '=cairn') do
    if info.what == 'tail' and running_line then
      info = {source = '@user_script', currentline = running_line}
      break
    end
    level = level + 1
    info = getinfo(level, 'Sl')
  end
  local msg
  if type(e) == 'table' then
    msg = rawget(e, 'err')
    if msg == nil then msg = 'ERR unknown error' else msg = tostring(msg) end
  else
    msg = 'ERR ' .. tostring(e)
  end
  -- (handling stays true until the next run: after a kill, the hook must not fire
  -- in the Lua code that returns the error to Python)
  if info then return {err = msg, source = info.source, line = info.currentline} end
  return {err = msg}
end

-- loadstring / load: code they compile sees the caller's environment (never
-- the thread's real globals), and precompiled bytecode is refused.
local current_env = nil

local function compile(code, name)
  if type(code) == 'string' and code:byte(1) == 27 then
    return nil, 'binary chunks are not allowed'
  end
  return loadstring(code, name)
end

local function sb_loadstring(code, name)
  local f, err = compile(code, name)
  if f then setfenv(f, current_env) end
  return f, err
end

local function sb_load(...)
  local reader, name = ...
  if type(reader) ~= 'function' then
    local got = reader == nil and select('#', ...) == 0 and 'no value' or type(reader)
    raise_at("bad argument #1 to 'load' (function expected, got " .. got .. ")", 2)
  end
  local parts = {}
  while true do
    local piece = reader()
    if piece == nil or piece == '' then break end
    if type(piece) ~= 'string' then return nil, 'reader function must return a string' end
    parts[#parts + 1] = piece
  end
  return sb_loadstring(table.concat(parts), name or '=(load)')
end

-- environments -------------------------------------------------------------------
local function base_globals()
  local b = {
    assert = assert, collectgarbage = collectgarbage, error = error, gcinfo = gcinfo,
    getmetatable = getmetatable, ipairs = ipairs, load = sb_load, loadstring = sb_loadstring,
    next = sb_next, pairs = sb_pairs, pcall = sb_pcall, rawequal = rawequal, rawget = sb_rawget,
    rawset = sb_rawset, select = select, setmetatable = sb_setmetatable, tonumber = tonumber,
    tostring = tostring, type = type, unpack = unpack, xpcall = xpcall,
    _VERSION = _VERSION, coroutine = ro_coroutine, math = ro_math, string = ro_string,
    table = ro_table,
  }
  for name, lib in next, libs do b[name] = lib end
  return b
end

local eval_backing = base_globals()
eval_backing.redis = runtime_redis(true)
eval_backing.__redis__err__handler = err_handler
eval_backing.KEYS = {}
eval_backing.ARGV = {}
local eval_env = environment(eval_backing)
rawset(eval_backing, '_G', eval_env)

current_env = eval_env

local func_backing = base_globals()
func_backing.redis = runtime_redis(false)
local func_env = environment(func_backing)
rawset(func_backing, '_G', func_env)

-- While a library loads its code sees only this; afterwards its functions see
-- func_env (the proxy's backing is switched).
local pyregister = nil
local function register_function(...)
  local ok, v = pyregister(...)
  if not ok then error({err = v}) end
end
local load_redis_table = setmetatable(constants({}), {__index = missing_global})
c_function(load_redis_table, 'register_function', register_function)
c_function(load_redis_table, 'log', log)
local load_redis = readonly(load_redis_table)
local load_backing = {redis = load_redis}
setmetatable(load_backing, {__index = missing_global, __newindex = ro_newindex})


-- entry points for Python ---------------------------------------------------------------
local api = {}

function api.compile_eval(body)
  local f, err = compile(body, '@user_script')
  if not f then return nil, err end
  setfenv(f, eval_env)
  single_line_of[f] = single_line(body)
  return f
end

-- KEYS and ARGV: the arguments after numkeys (strings, never nil). The keys
-- table may keep nils past nkeys in its array part: its length is still nkeys.
local function split_args(nkeys, ...)
  if nkeys == 0 then return {}, {...} end
  local n = select('#', ...)
  if nkeys == n then return {...}, {} end
  local keys = {...}
  for i = n, nkeys + 1, -1 do keys[i] = nil end
  return keys, {select(nkeys + 1, ...)}
end

function api.run_eval(f, nkeys, ...)
  revive_calls()
  local keys, argv = split_args(nkeys, ...)
  rawset(eval_backing, 'KEYS', keys)
  rawset(eval_backing, 'ARGV', argv)
  handling = false
  running_line = single_line_of[f]
  return xpcall(f, err_handler)
end

-- xpcall passes no arguments in Lua 5.1: the function and its arguments wait here.
local fn_f, fn_keys, fn_argv = nil, nil, nil
local function call_fn()
  return fn_f(fn_keys, fn_argv)
end

function api.run_function(f, nkeys, ...)
  revive_calls()
  fn_f = f
  fn_keys, fn_argv = split_args(nkeys, ...)
  current_env = func_env
  handling = false
  running_line = nil
  local ok, v = xpcall(call_fn, err_handler)
  current_env = eval_env
  fn_f, fn_keys, fn_argv = nil, nil, nil
  return ok, v
end

-- Compile and run a library's code; pyreg receives each register_function call.
function api.load_library(code, pyreg)
  local f, err = compile(code, '@user_function')
  if not f then return 1, err end
  local env = {}
  local mt = {__index = load_backing, __newindex = ro_newindex, __metatable = decoy_meta}
  real_of[env] = load_backing
  setmetatable(env, mt)
  setfenv(f, env)
  pyregister = pyreg
  current_env = env
  running_line = nil
  local ok, e = xpcall(f, err_handler)
  current_env = eval_env
  pyregister = nil
  -- From now on the library's functions see the runtime environment.
  real_of[env] = func_backing
  mt.__index = func_backing
  if not ok then return 2, e end
  return 0
end

function api.reset_hook()
  sethook(hook, '', HOOK_EVERY)
end

function api.is_table(v)
  return type(v) == 'table'
end

return api
"""
