-- cmsgpack: the behaviour of lua-cmsgpack 0.4.0 as bundled with Redis.
--
-- pack: integers (any finite integral value in [-2^63, 2^63)) take the
-- smallest integer encoding; other numbers are a float when the float holds
-- them exactly, else a double; strings are str (fixstr, str8/16/32, never bin);
-- a table whose keys are exactly 1..n is an array, any other table a map;
-- tables nested deeper than 16 levels and values of other types are nil.
-- unpack: bin and ext types are "Bad data format".
local G, C = ...
local type, next, select = G.type, G.next, G.select
local rawget, error = G.rawget, G.error
local byte, sub, char = G.string.byte, G.string.sub, G.string.char
local concat = G.table.concat
local floor, huge = G.math.floor, G.math.huge
local raise, argerror = C.raise, C.argerror
local checkstring, checkinteger, optinteger, toint32, spread =
  C.checkstring, C.checkinteger, C.optinteger, C.toint32, C.spread
local f32bits, f32value, f64words, f64value = C.f32bits, C.f32value, C.f64words, C.f64value

local TWO32 = 4294967296
local TWO31 = 2147483648
local TWO63 = 9223372036854775808
local MAX_NESTING = 16
-- the C functions keep their results on the Lua stack, which holds at most
-- 8000 slots (LUAI_MAXCSTACK) beyond which lua_checkstack fails
local MAXCSTACK = 8000

---------------------------------------------------------------------------
-- pack
---------------------------------------------------------------------------

local buf, nbuf

local function put(s)
  nbuf = nbuf + 1
  buf[nbuf] = s
end

local function be16(n)
  return char(floor(n / 256), n % 256)
end

local function be32(n)
  return char(floor(n / 16777216), floor(n / 65536) % 256, floor(n / 256) % 256, n % 256)
end

-- a 64-bit integer given as (high word, low word), both unsigned
local function be64(hi, lo)
  return be32(hi) .. be32(lo)
end

local function pack_integer(n)
  if n >= 0 then
    if n <= 127 then
      put(char(n))
    elseif n <= 0xFF then
      put(char(0xCC, n))
    elseif n <= 0xFFFF then
      put("\205" .. be16(n))
    elseif n <= 0xFFFFFFFF then
      put("\206" .. be32(n))
    else
      local hi = floor(n / TWO32)
      put("\207" .. be64(hi, n - hi * TWO32))
    end
  else
    if n >= -32 then
      put(char(n + 256))
    elseif n >= -128 then
      put(char(0xD0, n + 256))
    elseif n >= -32768 then
      put("\209" .. be16(n + 65536))
    elseif n >= -2147483648 then
      put("\210" .. be32(n + TWO32))
    else
      local hi = floor(n / TWO32)
      put("\211" .. be64(hi + TWO32, n - hi * TWO32))
    end
  end
end

local function pack_number(n)
  if n == floor(n) and n >= -TWO63 and n < TWO63 then
    -- -0.0 is an integer 0 too
    return pack_integer(n + 0)
  end
  if n == n then
    local bits = f32bits(n)
    if f32value(bits) == n then
      put("\202" .. be32(bits))
      return
    end
  end
  local hi, lo = f64words(n)
  put("\203" .. be64(hi, lo))
end

local function pack_string(s)
  local len = #s
  if len < 32 then
    put(char(0xA0 + len))
  elseif len <= 0xFF then
    put(char(0xD9, len))
  elseif len <= 0xFFFF then
    put("\218" .. be16(len))
  else
    put("\219" .. be32(len))
  end
  put(s)
end

local pack_value

-- table_is_an_array: all keys are integers in [1, 2^31) and there is no hole
local function array_size(t)
  local count, max = 0, 0
  for k in next, t do
    if type(k) ~= "number" or k <= 0 or k >= TWO31 or floor(k) ~= k then return nil end
    if k > max then max = k end
    count = count + 1
  end
  if max == count then return count end
  return nil
end

local function pack_table(t, level)
  local n = array_size(t)
  if n then
    if n <= 15 then
      put(char(0x90 + n))
    elseif n <= 0xFFFF then
      put("\220" .. be16(n))
    else
      put("\221" .. be32(n))
    end
    for i = 1, n do pack_value(rawget(t, i), level + 1) end
    return
  end
  n = 0
  for _ in next, t do n = n + 1 end
  if n <= 15 then
    put(char(0x80 + n))
  elseif n <= 0xFFFF then
    put("\222" .. be16(n))
  else
    put("\223" .. be32(n))
  end
  for k, v in next, t do
    pack_value(k, level + 1)
    pack_value(v, level + 1)
  end
end

pack_value = function(v, level)
  local t = type(v)
  if t == "string" then
    pack_string(v)
  elseif t == "number" then
    pack_number(v)
  elseif t == "table" then
    if level == MAX_NESTING then
      put("\192")
    else
      pack_table(v, level)
    end
  elseif t == "boolean" then
    put(v and "\195" or "\194")
  else
    put("\192")
  end
end

---------------------------------------------------------------------------
-- unpack
---------------------------------------------------------------------------

local s, pos, len

local function need(n)
  if pos + n - 1 > len then raise("Missing bytes in input.") end
end

local function u16(i)
  local a, b = byte(s, i, i + 1)
  return a * 256 + b
end

local function u32(i)
  local a, b, c, d = byte(s, i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

local decode

local function decode_string(header, n)
  need(header + n)
  local v = sub(s, pos + header, pos + header + n - 1)
  pos = pos + header + n
  return v
end

local function decode_array(n)
  local t = {}
  for i = 1, n do t[i] = decode() end
  return t
end

local function decode_map(n)
  local t = {}
  for _ = 1, n do
    local k = decode()
    local v = decode()
    if k == nil then error("table index is nil", 0) end
    if k ~= k then error("table index is NaN", 0) end
    t[k] = v
  end
  return t
end

decode = function()
  local c = byte(s, pos)
  if c == nil or pos > len then raise("Missing bytes in input.") end
  if c < 0x80 then
    pos = pos + 1
    return c
  end
  if c >= 0xE0 then
    pos = pos + 1
    return c - 256
  end
  if c < 0x90 then
    pos = pos + 1
    return (decode_map(c - 0x80))
  end
  if c < 0xA0 then
    pos = pos + 1
    return (decode_array(c - 0x90))
  end
  if c < 0xC0 then return (decode_string(1, c - 0xA0)) end
  if c == 0xC0 then
    pos = pos + 1
    return nil
  end
  if c == 0xC2 or c == 0xC3 then
    pos = pos + 1
    return c == 0xC3
  end
  if c == 0xCA then
    need(5)
    local v = f32value(u32(pos + 1))
    pos = pos + 5
    return v
  end
  if c == 0xCB then
    need(9)
    local v = f64value(u32(pos + 1), u32(pos + 5))
    pos = pos + 9
    return v
  end
  if c == 0xCC then
    need(2)
    pos = pos + 2
    return byte(s, pos - 1)
  end
  if c == 0xCD then
    need(3)
    pos = pos + 3
    return u16(pos - 2)
  end
  if c == 0xCE then
    need(5)
    pos = pos + 5
    return u32(pos - 4)
  end
  if c == 0xCF or c == 0xD3 then
    -- both become a signed 64-bit integer (as lua_pushinteger does)
    need(9)
    local hi, lo = u32(pos + 1), u32(pos + 5)
    pos = pos + 9
    if hi >= TWO31 then hi = hi - TWO32 end
    return hi * TWO32 + lo
  end
  if c == 0xD0 then
    need(2)
    pos = pos + 2
    local v = byte(s, pos - 1)
    if v >= 128 then v = v - 256 end
    return v
  end
  if c == 0xD1 then
    need(3)
    pos = pos + 3
    local v = u16(pos - 2)
    if v >= 32768 then v = v - 65536 end
    return v
  end
  if c == 0xD2 then
    need(5)
    pos = pos + 5
    local v = u32(pos - 4)
    if v >= TWO31 then v = v - TWO32 end
    return v
  end
  if c == 0xD9 then
    need(2)
    return (decode_string(2, byte(s, pos + 1)))
  end
  if c == 0xDA then
    need(3)
    return (decode_string(3, u16(pos + 1)))
  end
  if c == 0xDB then
    need(5)
    return (decode_string(5, u32(pos + 1)))
  end
  if c == 0xDC then
    need(3)
    pos = pos + 3
    return (decode_array(u16(pos - 2)))
  end
  if c == 0xDD then
    need(5)
    pos = pos + 5
    return (decode_array(u32(pos - 4)))
  end
  if c == 0xDE then
    need(3)
    pos = pos + 3
    return (decode_map(u16(pos - 2)))
  end
  if c == 0xDF then
    need(5)
    pos = pos + 5
    return (decode_map(u32(pos - 4)))
  end
  raise("Bad data format in input.")
end

-- mp_unpack_full: limit 0 and offset 0 decode everything and return no offset;
-- `stacked` is the number of arguments the C function still has on its stack
local function unpack_full(data, limit, offset, stacked)
  local n = #data
  if offset < 0 or limit < 0 then
    raise("Invalid request to unpack with offset of " .. offset .. " and limit of " .. n .. ".")
  end
  if offset > n then
    raise("Start offset " .. offset .. " greater than input length " .. n .. ".")
  end
  local all = limit == 0 and offset == 0
  if all then limit = huge end
  s, pos, len = data, offset + 1, n
  local out, cnt = {}, 0
  if not all then cnt = 1 end -- out[1] is the next offset
  local values = 0
  while pos <= n and values < limit do
    if all then
      if stacked + values + 1 > MAXCSTACK then
        raise("stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)")
      end
    elseif stacked + values + 2 > MAXCSTACK then
      raise("stack overflow (in function mp_unpack_full)")
    end
    values = values + 1
    cnt = cnt + 1
    out[cnt] = decode()
  end
  s = nil
  if not all then
    if pos > n then out[1] = -1 else out[1] = pos - 1 end
  end
  return out, cnt
end

local cmsgpack = {}

function cmsgpack.pack(...)
  local n = select("#", ...)
  if n == 0 then argerror(0, "MessagePack pack needs input.") end
  -- lua_checkstack(L, nargs): the packed pieces of each argument are stacked
  if n + n > MAXCSTACK then argerror(0, "Too many arguments for MessagePack pack.") end
  buf, nbuf = {}, 0
  for i = 1, n do pack_value((select(i, ...)), 0) end
  local r = concat(buf, "", 1, nbuf)
  buf = nil
  return r
end

function cmsgpack.unpack(...)
  local n = select("#", ...)
  local data = checkstring(1, n, (...))
  local out, cnt = unpack_full(data, 0, 0, n)
  return spread(out, cnt)
end

function cmsgpack.unpack_one(...)
  local n = select("#", ...)
  local data, offset = ...
  offset = toint32(optinteger(2, n, offset, 0))
  data = checkstring(1, n, data)
  local out, cnt = unpack_full(data, 1, offset, 1)
  return spread(out, cnt)
end

function cmsgpack.unpack_limit(...)
  local n = select("#", ...)
  local data, limit, offset = ...
  limit = toint32(checkinteger(2, n, limit))
  offset = toint32(optinteger(3, n, offset, 0))
  data = checkstring(1, n, data)
  local out, cnt = unpack_full(data, limit, offset, 1)
  return spread(out, cnt)
end

cmsgpack._NAME = "cmsgpack"
cmsgpack._VERSION = "lua-cmsgpack 0.4.0"
cmsgpack._COPYRIGHT = "Copyright (C) 2012, Salvatore Sanfilippo"
cmsgpack._DESCRIPTION = "MessagePack C implementation for Lua"

return cmsgpack
