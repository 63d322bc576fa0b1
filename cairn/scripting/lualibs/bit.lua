-- bit: LuaBitOp 1.0 semantics on Lua 5.1 doubles (32-bit wraparound).
--
-- Every argument is normalised like LuaBitOp's C code does it: x + 2^52 + 2^51
-- is computed in double precision and the low 32 bits of the result's mantissa
-- are the operand (so 0.5 -> 0, 1.5 -> 2, 2^32 + 1 -> 1, inf/nan -> 0).
local G, C = ...
local type, select = G.type, G.select
local floor, frexp, huge = G.math.floor, G.math.frexp, G.math.huge
local format = G.string.format
local checknumber = C.checknumber

local TWO32 = 4294967296
local TWO31 = 2147483648

-- number -> signed 32-bit value
local function tobit(x)
  local y = x + 6755399441055744
  local m
  if y >= 4503599627370496 and y < 9007199254740992 then
    m = y
  else
    if y ~= y or y == huge or y == -huge or y == 0 then return 0 end
    local f = frexp(y)
    if f < 0 then f = -f end
    m = f * 9007199254740992
  end
  m = m % TWO32
  if m >= TWO31 then return m - TWO32 end
  return m
end

-- number -> unsigned 32-bit value
local function tou(x)
  return tobit(x) % TWO32
end

local function signed(u)
  if u >= TWO31 then return u - TWO32 end
  return u
end

-- 4-bit lookup tables for and / or / xor
local AND, OR, XOR = {}, {}, {}
for a = 0, 15 do
  for b = 0, 15 do
    local r_and, r_or, r_xor, p = 0, 0, 0, 1
    local x, y = a, b
    for _ = 1, 4 do
      local bx, by = x % 2, y % 2
      if bx == 1 and by == 1 then r_and = r_and + p end
      if bx == 1 or by == 1 then r_or = r_or + p end
      if bx ~= by then r_xor = r_xor + p end
      x, y, p = (x - bx) / 2, (y - by) / 2, p * 2
    end
    AND[a * 16 + b], OR[a * 16 + b], XOR[a * 16 + b] = r_and, r_or, r_xor
  end
end

local function op2(tab, a, b)
  local r, p = 0, 1
  for _ = 1, 8 do
    local x, y = a % 16, b % 16
    r = r + tab[x * 16 + y] * p
    a, b, p = (a - x) / 16, (b - y) / 16, p * 16
  end
  return r
end

-- the fold of band/bor/bxor: argument 1 first, then from the last one down
local function fold(tab, ...)
  local n = select("#", ...)
  local a, b = ...
  if type(a) ~= "number" then a = checknumber(1, n, a) end
  if n == 2 then
    if type(b) ~= "number" then b = checknumber(2, n, b) end
    return signed(op2(tab, tou(a), tou(b)))
  end
  local r = tou(a)
  for i = n, 2, -1 do
    local v = select(i, ...)
    if type(v) ~= "number" then v = checknumber(i, n, v) end
    r = op2(tab, r, tou(v))
  end
  return signed(r)
end

local function arg1(...)
  local x = ...
  if type(x) ~= "number" then x = checknumber(1, select("#", ...), x) end
  return x
end

-- (value, shift count & 31) of a shift call
local function shiftargs(...)
  local x, n = ...
  if type(x) ~= "number" then x = checknumber(1, select("#", ...), x) end
  if type(n) ~= "number" then n = checknumber(2, select("#", ...), n) end
  return x, tobit(n) % 32
end

local HEX_LOWER, HEX_UPPER = {}, {}
for i = 1, 8 do
  HEX_LOWER[i] = "%0" .. i .. "x"
  HEX_UPPER[i] = "%0" .. i .. "X"
end

-- presized and filled in the order of the C module (it shows in pairs())
local bit = {
  tobit = 0, bnot = 0, band = 0, bor = 0, bxor = 0, lshift = 0, rshift = 0, arshift = 0,
  rol = 0, ror = 0, bswap = 0, tohex = 0,
}

function bit.tobit(...)
  local r = tobit(arg1(...))
  return r
end

function bit.bnot(...)
  local r = -1 - tobit(arg1(...))
  return r
end

function bit.band(...)
  local r = fold(AND, ...)
  return r
end

function bit.bor(...)
  local r = fold(OR, ...)
  return r
end

function bit.bxor(...)
  local r = fold(XOR, ...)
  return r
end

function bit.lshift(...)
  local x, n = shiftargs(...)
  local r = signed(tou(x) * 2 ^ n % TWO32)
  return r
end

function bit.rshift(...)
  local x, n = shiftargs(...)
  local r = signed(floor(tou(x) / 2 ^ n))
  return r
end

function bit.arshift(...)
  local x, n = shiftargs(...)
  local r = floor(tobit(x) / 2 ^ n)
  return r
end

function bit.rol(...)
  local x, n = shiftargs(...)
  local u = tou(x)
  local r = signed(u * 2 ^ n % TWO32 + floor(u / 2 ^ (32 - n)))
  return r
end

function bit.ror(...)
  local x, n = shiftargs(...)
  n = (32 - n) % 32
  local u = tou(x)
  local r = signed(u * 2 ^ n % TWO32 + floor(u / 2 ^ (32 - n)))
  return r
end

function bit.bswap(...)
  local u = tou(arg1(...))
  local b0 = u % 256
  local b1 = floor(u / 256) % 256
  local b2 = floor(u / 65536) % 256
  local b3 = floor(u / 16777216)
  local r = signed(((b0 * 256 + b1) * 256 + b2) * 256 + b3)
  return r
end

function bit.tohex(...)
  local cnt = select("#", ...)
  local x, w = ...
  if type(x) ~= "number" then x = checknumber(1, cnt, x) end
  local n = 8
  if cnt >= 2 then
    if type(w) ~= "number" then w = checknumber(2, cnt, w) end
    n = tobit(w)
  end
  local fmt = HEX_LOWER
  if n < 0 then
    n = -n
    fmt = HEX_UPPER
  end
  if n > 8 then n = 8 end
  if n <= 0 then return "" end
  local r = format(fmt[n], tou(x) % 16 ^ n)
  return r
end

return bit
