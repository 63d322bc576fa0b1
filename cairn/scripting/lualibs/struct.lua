-- struct: Roberto Ierusalimschy's struct library as bundled with Redis.
--
-- Formats: ">" big endian, "<" little endian, "!n" alignment (default 8),
-- " " ignored; "x" a zero byte; "b"/"B" char, "h"/"H" short, "l"/"L" long,
-- "T" size_t, "in"/"In" n-byte integer (default 4, at most 32), "f" float,
-- "d" double, "s" zero-terminated string, "cn" n chars ("c0": all of the
-- string when packing, the previous result as the size when unpacking).
-- Sizes are those of x86-64 Linux, integers convert like the C casts there.
local G, C = ...
local type, select, tonumber, unpack = G.type, G.select, G.tonumber, G.unpack
local byte, sub, find, char, rep, reverse = G.string.byte, G.string.sub, G.string.find,
  G.string.char, G.string.rep, G.string.reverse
local concat = G.table.concat
local floor, huge = G.math.floor, G.math.huge
local raise, argerror = C.raise, C.argerror
local checknumber, checkstring, optinteger, spread =
  C.checknumber, C.checkstring, C.optinteger, C.spread
local f32bits, f32value, f64words, f64value = C.f32bits, C.f32value, C.f64words, C.f64value

local MAXINTSIZE = 32
local MAXALIGN = 8
local TWO32 = 4294967296
local TWO31 = 2147483648
local TWO63 = 9223372036854775808
local TWO64 = 18446744073709551616

-- getnum: a decimal number at fmt[i], or `default`; returns it and the next index
local function getnum(fmt, i, default)
  local c = byte(fmt, i)
  if c == nil or c < 48 or c > 57 then return default, i end
  local a = 0
  repeat
    local d = c - 48
    if a > 214748364 or a * 10 > 2147483647 - d then raise("integral size overflow") end
    a = a * 10 + d
    i = i + 1
    c = byte(fmt, i)
  until c == nil or c < 48 or c > 57
  return a, i
end

local FIXED = {
  [66] = 1, [98] = 1, -- B b
  [72] = 2, [104] = 2, -- H h
  [76] = 8, [108] = 8, -- L l
  [84] = 8, -- T
  [102] = 4, -- f
  [100] = 8, -- d
  [120] = 1, -- x
}

-- optsize: the size of option `opt`; returns it and the next index
local function optsize(opt, fmt, i)
  local size = FIXED[opt]
  if size then return size, i end
  if opt == 99 then -- c
    local n, j = getnum(fmt, i, 1)
    return n, j
  end
  if opt == 105 or opt == 73 then -- i I
    size, i = getnum(fmt, i, 4)
    if size > MAXINTSIZE then
      raise("integral size " .. size .. " is larger than limit of " .. MAXINTSIZE)
    end
    return size, i
  end
  return 0, i
end

-- a & m for a >= 0 and a small mask m
local function band_small(a, m)
  local r, p = 0, 1
  a = a % 64
  while m > 0 do
    local ab, mb = a % 2, m % 2
    if ab == 1 and mb == 1 then r = r + p end
    a, m, p = (a - ab) / 2, (m - mb) / 2, p * 2
  end
  return r
end

-- gettoalign: the padding before an option of `size` bytes at offset `len`
local function gettoalign(len, align, opt, size)
  if size == 0 or opt == 99 then return 0 end
  if size > align then size = align end
  return band_small(size - band_small(len, size - 1), size - 1)
end

-- controloptions: " ", ">", "<", "!n"; anything else is an invalid option.
-- h = {little, align}; returns the next index
local function controloptions(opt, fmt, i, h)
  if opt == 32 then return i end
  if opt == 62 then
    h[1] = false
    return i
  end
  if opt == 60 then
    h[1] = true
    return i
  end
  if opt == 33 then
    local a
    a, i = getnum(fmt, i, MAXALIGN)
    local x = a
    while x > 1 and x % 2 == 0 do x = x / 2 end
    if x ~= 1 then raise("alignment " .. a .. " is not a power of 2") end
    h[2] = a
    return i
  end
  argerror(1, "invalid format option '" .. char(opt) .. "'")
end

local function cut(fmt)
  local z = find(fmt, "\0", 1, true)
  if z then return sub(fmt, 1, z - 1) end
  return fmt
end

-- the 64-bit pattern (high word, low word) the C cast of a lua_Number to an
-- integer type gives: (Uinttype)(Inttype)n when n < 0, (Uinttype)n otherwise
local function bits64(n)
  if n < 0 then
    if n < -TWO63 then return TWO31, 0 end
    local t = -floor(-n)
    local hi = floor(t / TWO32)
    local lo = t - hi * TWO32
    return (hi + TWO32) % TWO32, lo
  end
  if n ~= n then return TWO31, 0 end
  if n >= TWO64 then return 0, 0 end
  local t = floor(n)
  local hi = floor(t / TWO32)
  return hi, t - hi * TWO32
end

local ZEROS = rep("\0", MAXINTSIZE)

local function putinteger(n, little, size)
  local hi, lo = bits64(n)
  local bytes = {}
  for k = 1, size do
    local b = 0
    if k <= 4 then
      b = lo % 256
      lo = floor(lo / 256)
    elseif k <= 8 then
      b = hi % 256
      hi = floor(hi / 256)
    end
    bytes[k] = b
  end
  if size > 8 then
    -- bytes beyond the 8th are zero
    if little then return char(unpack(bytes, 1, 8)) .. sub(ZEROS, 1, size - 8) end
    local out = {}
    for k = 1, 8 do out[k] = bytes[9 - k] end
    return sub(ZEROS, 1, size - 8) .. char(unpack(out, 1, 8))
  end
  if little then return char(unpack(bytes, 1, size)) end
  local out = {}
  for k = 1, size do out[k] = bytes[size + 1 - k] end
  return char(unpack(out, 1, size))
end

-- getinteger: reads `size` bytes at data[i]; only the low 64 bits survive
local function getinteger(data, i, little, signed, size)
  local lo, hi = 0, 0
  local p_lo, p_hi = 1, 1
  for k = 0, size - 1 do
    if k >= 8 then break end
    local b
    if little then b = byte(data, i + k) else b = byte(data, i + size - 1 - k) end
    if k < 4 then
      lo = lo + b * p_lo
      p_lo = p_lo * 256
    else
      hi = hi + b * p_hi
      p_hi = p_hi * 256
    end
  end
  if not signed then return hi * TWO32 + lo end
  -- sign extension from bit (size*8 - 1) mod 64 (the C shift on x86-64)
  local sh = (size * 8 - 1) % 64
  if sh >= 32 then
    local m = 2 ^ (sh - 32)
    if hi >= m then hi = hi % m + (TWO32 - m) end
  else
    local m = 2 ^ sh
    if hi > 0 or lo >= m then
      hi = TWO32 - 1
      lo = lo % m + (TWO32 - m)
    end
  end
  if hi >= TWO31 then hi = hi - TWO32 end
  return hi * TWO32 + lo
end

local function f32bytes(x, little)
  local b = f32bits(x)
  local b0, b1, b2, b3 = b % 256, floor(b / 256) % 256, floor(b / 65536) % 256, floor(b / 16777216)
  if little then return char(b0, b1, b2, b3) end
  return char(b3, b2, b1, b0)
end

local function f64bytes(x, little)
  local hi, lo = f64words(x)
  local lo_le = char(lo % 256, floor(lo / 256) % 256, floor(lo / 65536) % 256, floor(lo / 16777216))
  local hi_le = char(hi % 256, floor(hi / 256) % 256, floor(hi / 65536) % 256, floor(hi / 16777216))
  if little then return lo_le .. hi_le end
  return reverse(hi_le) .. reverse(lo_le)
end

local function word(data, i, little)
  local a, b, c, d = byte(data, i, i + 3)
  if little then return ((d * 256 + c) * 256 + b) * 256 + a end
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- (size_t) of a lua_Number, when it is a size that can matter
local function tosize(x)
  if x ~= x or x <= -1 or x >= TWO63 then return huge end
  if x < 0 then return 0 end
  return floor(x)
end

local SIGNED = {[98] = true, [104] = true, [108] = true, [105] = true}
local INTEGER = {
  [98] = true, [66] = true, [104] = true, [72] = true, [108] = true, [76] = true,
  [84] = true, [105] = true, [73] = true,
}

-- presized and filled in the order of the C module (it shows in pairs())
local struct = {pack = 0, unpack = 0, size = 0}

function struct.pack(...)
  local nargs = select("#", ...)
  local fmt = cut(checkstring(1, nargs, (...)))
  -- C pushes a nil after the arguments: a missing one is "got nil"
  local n = huge
  local h = {true, 1}
  local out, nout, total = {}, 0, 0
  local arg = 2
  local i, flen = 1, #fmt
  while i <= flen do
    local opt = byte(fmt, i)
    local size
    size, i = optsize(opt, fmt, i + 1)
    local pad = gettoalign(total, h[2], opt, size)
    if pad > 0 then
      nout = nout + 1
      out[nout] = sub(ZEROS, 1, pad)
      total = total + pad
    end
    if INTEGER[opt] then
      local v = checknumber(arg, n, (select(arg, ...)))
      arg = arg + 1
      nout = nout + 1
      out[nout] = putinteger(v, h[1], size)
    elseif opt == 120 then -- x
      nout = nout + 1
      out[nout] = "\0"
    elseif opt == 102 then -- f
      local v = checknumber(arg, n, (select(arg, ...)))
      arg = arg + 1
      nout = nout + 1
      out[nout] = f32bytes(v, h[1])
    elseif opt == 100 then -- d
      local v = checknumber(arg, n, (select(arg, ...)))
      arg = arg + 1
      nout = nout + 1
      out[nout] = f64bytes(v, h[1])
    elseif opt == 99 or opt == 115 then -- c s
      local v = checkstring(arg, n, (select(arg, ...)))
      arg = arg + 1
      local l = #v
      if size == 0 then size = l end
      if l < size then argerror(arg, "string too short") end
      nout = nout + 1
      out[nout] = sub(v, 1, size)
      if opt == 115 then
        nout = nout + 1
        out[nout] = "\0"
        size = size + 1
      end
    else
      i = controloptions(opt, fmt, i, h)
    end
    total = total + size
  end
  local r = concat(out, "", 1, nout)
  return r
end

function struct.unpack(...)
  local nargs = select("#", ...)
  local fmt, data, init = ...
  fmt = cut(checkstring(1, nargs, fmt))
  data = checkstring(2, nargs, data)
  local ld = #data
  local pos = optinteger(3, nargs, init, 1)
  if pos == 0 then argerror(3, "offset must be 1 or greater") end
  pos = pos - 1
  local h = {true, 1}
  local res, nres = {}, 0
  local i, flen = 1, #fmt
  while i <= flen do
    -- luaL_checkstack(L, 2): the arguments and results share the C stack
    if nargs + nres + 2 > 8000 then raise("stack overflow (too many results)") end
    local opt = byte(fmt, i)
    local size
    size, i = optsize(opt, fmt, i + 1)
    pos = pos + gettoalign(pos, h[2], opt, size)
    if pos < 0 or pos + size > ld then argerror(2, "data string too short") end
    if INTEGER[opt] then
      nres = nres + 1
      res[nres] = getinteger(data, pos + 1, h[1], SIGNED[opt] or false, size)
    elseif opt == 120 then -- x
      -- nothing to read
    elseif opt == 102 then
      nres = nres + 1
      res[nres] = f32value(word(data, pos + 1, h[1]))
    elseif opt == 100 then
      local a, b = word(data, pos + 1, h[1]), word(data, pos + 5, h[1])
      nres = nres + 1
      if h[1] then res[nres] = f64value(b, a) else res[nres] = f64value(a, b) end
    elseif opt == 99 then -- c
      if size == 0 then
        local prev = nres > 0 and tonumber(res[nres])
        if not prev then raise("format 'c0' needs a previous size") end
        size = tosize(prev)
        nres = nres - 1
        if not (size <= ld and pos <= ld - size) then argerror(2, "data string too short") end
      end
      nres = nres + 1
      res[nres] = sub(data, pos + 1, pos + size)
    elseif opt == 115 then -- s
      local e = find(data, "\0", pos + 1, true)
      if e == nil then raise("unfinished string in data") end
      nres = nres + 1
      res[nres] = sub(data, pos + 1, e - 1)
      size = e - pos
    else
      i = controloptions(opt, fmt, i, h)
    end
    pos = pos + size
  end
  nres = nres + 1
  res[nres] = pos + 1
  return spread(res, nres)
end

local function isalnum(c)
  return (c >= 48 and c <= 57) or (c >= 65 and c <= 90) or (c >= 97 and c <= 122)
end

function struct.size(...)
  local fmt = cut(checkstring(1, select("#", ...), (...)))
  local h = {true, 1}
  local pos = 0
  local i, flen = 1, #fmt
  while i <= flen do
    local opt = byte(fmt, i)
    local size
    size, i = optsize(opt, fmt, i + 1)
    pos = pos + gettoalign(pos, h[2], opt, size)
    if opt == 115 then
      argerror(1, "option 's' has no fixed size")
    elseif opt == 99 and size == 0 then
      argerror(1, "option 'c0' has no fixed size")
    end
    if not isalnum(opt) then i = controloptions(opt, fmt, i, h) end
    pos = pos + size
  end
  local r = pos
  return r
end

return struct
