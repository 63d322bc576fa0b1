-- Shared helpers of the bundled script libraries (cjson, cmsgpack, bit, struct).
--
-- The C originals raise errors with luaL_error / luaL_argerror, so a message
-- carries the position of the *caller* of the library function ("user_script:1: ")
-- when that caller is Lua code, and nothing when it is a C function (pcall).
-- Our functions are Lua functions, so `raise` walks the stack past our own
-- frames (chunk name "=cairn") to find that caller and builds the same prefix.
-- The walk only happens on the error path. Our code must never tail-call a
-- function that can raise (write `return (f(x))`): a tail call leaves a
-- "(tail call)" frame that would end the walk early.
local G = ...
local getinfo = G.debug.getinfo
local error, type, tostring, tonumber, select = G.error, G.type, G.tostring, G.tonumber, G.select
local floor = G.math.floor

local OWN = "=cairn"

local M = {}

-- Stack levels, as seen by a function called by raise/argerror (like locate and
-- where), of our outermost frame (the library function the script called) and
-- of its caller.
local function locate()
  local level = 3
  local api = nil
  while true do
    local info = getinfo(level, "S")
    if info == nil or info.source ~= OWN then break end
    api = level
    level = level + 1
  end
  return api, level
end

local function where(level)
  local info = getinfo(level, "Sl")
  if info and info.currentline > 0 then
    return info.short_src .. ":" .. info.currentline .. ": "
  end
  return ""
end

-- luaL_error(L, msg)
function M.raise(msg)
  local _, caller = locate()
  error(where(caller) .. msg, 0)
end

-- luaL_argerror(L, narg, extramsg)
function M.argerror(narg, extramsg)
  local api, caller = locate()
  local name, namewhat
  if api then
    local info = getinfo(api - 1, "n")  -- one level less deep than locate
    if info then name, namewhat = info.name, info.namewhat end
  end
  local prefix = where(caller)
  if namewhat == "method" then
    narg = narg - 1
    if narg == 0 then
      error(prefix .. "calling '" .. tostring(name) .. "' on bad self (" .. extramsg .. ")", 0)
    end
  end
  if name == nil then name = "?" end
  error(prefix .. "bad argument #" .. narg .. " to '" .. name .. "' (" .. extramsg .. ")", 0)
end

local argerror = M.argerror

-- luaL_typerror: `n` is the number of arguments actually passed
function M.typeerror(narg, n, v, expected)
  local got
  if narg > n then got = "no value" else got = type(v) end
  argerror(narg, expected .. " expected, got " .. got)
end

local typeerror = M.typeerror

-- luaL_checknumber
function M.checknumber(narg, n, v)
  if type(v) == "number" then return v end
  local x = tonumber(v)
  if x == nil or narg > n then typeerror(narg, n, v, "number") end
  return x
end

-- lua_Number -> lua_Integer (ptrdiff_t) as the C cast does it on x86-64
local function tointeger(x)
  if x ~= x or x >= 9223372036854775808 or x < -9223372036854775808 then
    return -9223372036854775808
  end
  if x >= 0 then return floor(x) end
  return -floor(-x)
end
M.tointeger = tointeger

-- luaL_checkinteger
function M.checkinteger(narg, n, v)
  return tointeger(M.checknumber(narg, n, v))
end

-- luaL_optinteger
function M.optinteger(narg, n, v, default)
  if narg > n or v == nil then return default end
  return tointeger(M.checknumber(narg, n, v))
end

-- lua_Integer -> int (keeps the low 32 bits)
function M.toint32(x)
  x = x % 4294967296
  if x >= 2147483648 then x = x - 4294967296 end
  return x
end

-- luaL_checklstring: numbers are converted like lua_tolstring does
function M.checkstring(narg, n, v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" and narg <= n then return tostring(v) end
  typeerror(narg, n, v, "string")
end


-- unpack(t, 1, n) for up to 8000 values (the C functions can return that
-- many, unpack itself stops at 7997)
local unpack = G.unpack
function M.spread(t, n)
  if n <= 7990 then return unpack(t, 1, n) end
  return t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], unpack(t, 11, n)
end

-- IEEE 754 helpers (struct, cmsgpack) -----------------------------------------

local frexp, ldexp, huge = G.math.frexp, G.math.ldexp, G.math.huge
local TWO32 = 4294967296

-- NaN with the sign bit set and clear (0/0 is the former on x86)
local NAN_A = 0 / 0
local NAN_B = -NAN_A
local NAN_NEG, NAN_POS
if tostring(NAN_A):sub(1, 1) == "-" then NAN_NEG, NAN_POS = NAN_A, NAN_B
else NAN_NEG, NAN_POS = NAN_B, NAN_A end

local function nan_negative(x)
  return tostring(x):sub(1, 1) == "-"
end

local function round_even(v)
  local f = floor(v)
  local d = v - f
  if d > 0.5 or (d == 0.5 and f % 2 == 1) then return f + 1 end
  return f
end

-- double -> the bits of the nearest float (round to nearest even), as a number
function M.f32bits(x)
  if x ~= x then
    if nan_negative(x) then return 0xFFC00000 end
    return 0x7FC00000
  end
  local sign = 0
  if x < 0 or (x == 0 and 1 / x < 0) then sign = 0x80000000; x = -x end
  if x == 0 then return sign end
  if x == huge then return sign + 0x7F800000 end
  local m, e = frexp(x)  -- x = m * 2^e, 0.5 <= m < 1
  local biased = e + 126
  if biased >= 1 then
    local r = round_even(m * 16777216)
    if r == 16777216 then r = 8388608; biased = biased + 1 end
    if biased >= 255 then return sign + 0x7F800000 end
    return sign + biased * 8388608 + (r - 8388608)
  end
  -- subnormal (rounding up to 2^23 gives the smallest normal, same bits)
  return sign + round_even(x * 2 ^ 149)
end

-- float bits -> double
function M.f32value(b)
  local sign = 1
  if b >= 0x80000000 then sign = -1; b = b - 0x80000000 end
  local biased = floor(b / 8388608)
  local mant = b % 8388608
  if biased == 255 then
    if mant == 0 then return sign * huge end
    if sign < 0 then return NAN_NEG end
    return NAN_POS
  end
  if biased == 0 then return sign * ldexp(mant, -149) end
  return sign * ldexp(mant + 8388608, biased - 150)
end

-- double -> (high word, low word) of its bits
function M.f64words(x)
  if x ~= x then
    if nan_negative(x) then return 0xFFF80000, 0 end
    return 0x7FF80000, 0
  end
  local sign = 0
  if x < 0 or (x == 0 and 1 / x < 0) then sign = 0x80000000; x = -x end
  if x == 0 then return sign, 0 end
  if x == huge then return sign + 0x7FF00000, 0 end
  local m, e = frexp(x)
  local biased, mant
  if e >= -1021 then
    biased = e + 1022
    mant = m * 9007199254740992 - 4503599627370496
  else
    biased = 0
    mant = ldexp(x, 1074)
  end
  local mhi = floor(mant / TWO32)
  return sign + biased * 1048576 + mhi, mant - mhi * TWO32
end

-- (high word, low word) -> double
function M.f64value(hi, lo)
  local sign = 1
  if hi >= 0x80000000 then sign = -1; hi = hi - 0x80000000 end
  local biased = floor(hi / 1048576)
  local mant = (hi % 1048576) * TWO32 + lo
  if biased == 2047 then
    if mant == 0 then return sign * huge end
    if sign < 0 then return NAN_NEG end
    return NAN_POS
  end
  if biased == 0 then return sign * ldexp(mant, -1074) end
  return sign * ldexp(mant + 4503599627370496, biased - 1075)
end

return M
