-- cjson: the behaviour of lua-cjson 2.1.0 as bundled with Redis.
--
-- Each instance (the global one and those made by cjson.new()) has its own
-- configuration. Encoding appends to a buffer table joined once at the end;
-- decoding is a recursive descent over the string with string.find / byte.
local G, C = ...
local type, next, select, tostring, tonumber = G.type, G.next, G.select, G.tostring, G.tonumber
local rawget = G.rawget
local byte, sub, find, gsub, format, char, lower =
  G.string.byte, G.string.sub, G.string.find, G.string.gsub, G.string.format,
  G.string.char, G.string.lower
local concat = G.table.concat
local floor, huge = G.math.floor, G.math.huge
local raise, argerror, typeerror = C.raise, C.argerror, C.typeerror
local checkinteger = C.checkinteger

local INT_MAX = 2147483647
local INT_MIN = -2147483648

-- cjson.null: a unique userdata (a NULL lightuserdata in C)
local null = G.newproxy(true)
do
  local mt = G.getmetatable(null)
  mt.__tostring = function() return "userdata: (nil)" end
  mt.__metatable = false
end

---------------------------------------------------------------------------
-- encoding
---------------------------------------------------------------------------

local ESCAPES = {}
for i = 0, 31 do ESCAPES[char(i)] = format("\\u%04x", i) end
ESCAPES["\b"] = "\\b"
ESCAPES["\t"] = "\\t"
ESCAPES["\n"] = "\\n"
ESCAPES["\f"] = "\\f"
ESCAPES["\r"] = "\\r"
ESCAPES['"'] = '\\"'
ESCAPES["\\"] = "\\\\"
ESCAPES["/"] = "\\/"
ESCAPES["\127"] = "\\u007f"
local ESCAPE_CLASS = '[%z\1-\31"\\/\127]'

local function quote(s)
  if find(s, ESCAPE_CLASS) then s = gsub(s, ESCAPE_CLASS, ESCAPES) end
  return '"' .. s .. '"'
end

-- the encoder's state, set by encode (nothing re-enters it)
local buf, nbuf, cfg

local function number_text(x)
  if x ~= x or x == huge or x == -huge then
    local mode = cfg.encode_invalid_numbers
    if mode == 0 then raise("Cannot serialise number: must not be NaN or Inf") end
    if mode == 2 then return "null" end
    if x ~= x then return "nan" end
    if x > 0 then return "inf" end
    return "-inf"
  end
  return format(cfg.number_fmt, x)
end

-- lua_array_length: > 0 for an array, <= 0 for an object
local function array_length(t)
  local max, items = 0, 0
  for k in next, t do
    if type(k) == "number" and k >= 1 and floor(k) == k then
      if k > max then
        if k <= INT_MAX then max = k else max = INT_MIN end
      end
      items = items + 1
    else
      return -1
    end
  end
  local ratio = cfg.sparse_ratio
  if ratio > 0 and max > items * ratio and max > cfg.sparse_safe then
    if not cfg.sparse_convert then
      raise("Cannot serialise table: excessively sparse array")
    end
    return -1
  end
  return max
end

local encode_value

local function encode_table(t, depth)
  depth = depth + 1
  if depth > cfg.encode_max_depth then
    raise("Cannot serialise, excessive nesting (" .. depth .. ")")
  end
  local len = array_length(t)
  if len > 0 then
    nbuf = nbuf + 1
    buf[nbuf] = "["
    for i = 1, len do
      if i > 1 then
        nbuf = nbuf + 1
        buf[nbuf] = ","
      end
      encode_value(rawget(t, i), depth)
    end
    nbuf = nbuf + 1
    buf[nbuf] = "]"
    return
  end
  nbuf = nbuf + 1
  buf[nbuf] = "{"
  local first = true
  for k, v in next, t do
    if first then
      first = false
    else
      nbuf = nbuf + 1
      buf[nbuf] = ","
    end
    local kt = type(k)
    nbuf = nbuf + 1
    if kt == "string" then
      buf[nbuf] = quote(k) .. ":"
    elseif kt == "number" then
      buf[nbuf] = '"' .. number_text(k) .. '":'
    else
      raise("Cannot serialise " .. kt .. ": table key must be a number or string")
    end
    encode_value(v, depth)
  end
  nbuf = nbuf + 1
  buf[nbuf] = "}"
end

encode_value = function(v, depth)
  local t = type(v)
  nbuf = nbuf + 1
  if t == "string" then
    buf[nbuf] = quote(v)
  elseif t == "number" then
    buf[nbuf] = number_text(v)
  elseif t == "table" then
    nbuf = nbuf - 1
    encode_table(v, depth)
  elseif t == "boolean" then
    buf[nbuf] = v and "true" or "false"
  elseif t == "nil" or v == null then
    buf[nbuf] = "null"
  else
    raise("Cannot serialise " .. t .. ": type not supported")
  end
end

---------------------------------------------------------------------------
-- decoding
---------------------------------------------------------------------------

local T_OBJ_BEGIN, T_OBJ_END, T_ARR_BEGIN, T_ARR_END = "T_OBJ_BEGIN", "T_OBJ_END", "T_ARR_BEGIN", "T_ARR_END"
local T_STRING, T_NUMBER, T_BOOLEAN, T_NULL = "T_STRING", "T_NUMBER", "T_BOOLEAN", "T_NULL"
local T_COLON, T_COMMA, T_END, T_ERROR = "T_COLON", "T_COMMA", "T_END", "T_ERROR"

local SINGLE = {
  [123] = T_OBJ_BEGIN, [125] = T_OBJ_END, [91] = T_ARR_BEGIN, [93] = T_ARR_END,
  [58] = T_COLON, [44] = T_COMMA,
}
local UNESCAPE = {
  [34] = '"', [92] = "\\", [47] = "/", [98] = "\b", [102] = "\f", [110] = "\n",
  [114] = "\r", [116] = "\t",
}

-- the decoder's state: the text (cut at its first NUL, which ends it as in C)
-- and the position of the next character
local s, pos

-- strtod: the index of the last character of the longest number at i, or nil
local function strtod_end(i)
  local j = i
  local c = byte(s, j)
  if c == 43 or c == 45 then
    j = j + 1
    c = byte(s, j)
  end
  if c == nil then return nil end
  if c == 105 or c == 73 then -- i I
    if lower(sub(s, j, j + 7)) == "infinity" then return j + 7 end
    if lower(sub(s, j, j + 2)) == "inf" then return j + 2 end
    return nil
  end
  if c == 110 or c == 78 then -- n N
    if lower(sub(s, j, j + 2)) ~= "nan" then return nil end
    local e = j + 2
    if byte(s, e + 1) == 40 then
      local _, b = find(s, "^[0-9A-Za-z_]*%)", e + 2)
      if b then e = b end
    end
    return e
  end
  if c == 48 then
    local x = byte(s, j + 1)
    if x == 120 or x == 88 then -- 0x: hexadecimal
      local _, b = find(s, "^[0-9A-Fa-f]*", j + 2)
      local digits = b - j - 1
      local e = b
      if byte(s, b + 1) == 46 then
        local _, b2 = find(s, "^[0-9A-Fa-f]*", b + 2)
        digits = digits + (b2 - b - 1)
        if digits > 0 then e = b2 end
      end
      if digits == 0 then return j end -- just the "0"
      local _, pe = find(s, "^[pP][+-]?[0-9]+", e + 1)
      return pe or e
    end
  end
  local _, b = find(s, "^[0-9]*", j)
  local digits = b - j + 1
  local e = b
  if byte(s, b + 1) == 46 then
    local _, b2 = find(s, "^[0-9]*", b + 2)
    digits = digits + (b2 - b - 1)
    e = b2
  end
  if digits == 0 then return nil end
  local _, pe = find(s, "^[eE][+-]?[0-9]+", e + 1)
  return pe or e
end

-- json_is_invalid_number: hex, leading zeros, a leading +, inf and nan
local function invalid_number(i)
  local c = byte(s, i)
  if c == 43 then return true end
  if c == 45 then
    i = i + 1
    c = byte(s, i)
  end
  if c == 48 then
    local c2 = byte(s, i + 1)
    return c2 ~= nil and (c2 == 120 or c2 == 88 or (c2 >= 48 and c2 <= 57))
  end
  if c == nil or c <= 57 or c >= 128 then return false end
  local w = lower(sub(s, i, i + 2))
  return w == "inf" or w == "nan"
end

local function number_token(i)
  local e = strtod_end(i)
  if e == nil then return T_ERROR, "invalid number", i end
  pos = e + 1
  return T_NUMBER, tonumber(sub(s, i, e)), i
end

local function hex4(i)
  local h = sub(s, i, i + 3)
  if find(h, "^[0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f]$") then return tonumber(h, 16) end
  return nil
end

local function utf8(cp)
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then
    return char(0xC0 + floor(cp / 64), 0x80 + cp % 64)
  end
  if cp < 0x10000 then
    return char(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return char(0xF0 + floor(cp / 262144), 0x80 + floor(cp / 4096) % 64,
              0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
end

local function string_token(start)
  local parts, np = nil, 0
  local i = start + 1
  while true do
    local j = find(s, '["\\]', i)
    if j == nil then return T_ERROR, "unexpected end of string", #s + 1 end
    if byte(s, j) == 34 then
      pos = j + 1
      if parts == nil then return T_STRING, sub(s, i, j - 1), start end
      parts[np + 1] = sub(s, i, j - 1)
      return T_STRING, concat(parts), start
    end
    parts = parts or {}
    np = np + 1
    parts[np] = sub(s, i, j - 1)
    local e = byte(s, j + 1)
    local u = UNESCAPE[e]
    if u then
      np = np + 1
      parts[np] = u
      i = j + 2
    elseif e == 117 then
      local cp = hex4(j + 2)
      if cp == nil or (cp >= 0xDC00 and cp <= 0xDFFF) then
        return T_ERROR, "invalid unicode escape code", j
      end
      i = j + 6
      if cp >= 0xD800 and cp <= 0xDBFF then
        local lo = sub(s, i, i + 1) == "\\u" and hex4(i + 2)
        if not lo or lo < 0xDC00 or lo > 0xDFFF then
          return T_ERROR, "invalid unicode escape code", j
        end
        cp = 0x10000 + (cp - 0xD800) * 1024 + (lo - 0xDC00)
        i = i + 6
      end
      np = np + 1
      parts[np] = utf8(cp)
    else
      return T_ERROR, "invalid escape code", j
    end
  end
end

-- the next token: type, value, position (1-based, as printed in errors)
local function next_token()
  local i = pos
  local c = byte(s, i)
  if c == 32 or c == 9 or c == 10 or c == 13 then
    local _, e = find(s, "^[ \t\n\r]*", i)
    i = e + 1
    c = byte(s, i)
  end
  if c == nil then
    pos = i
    return T_END, nil, i
  end
  local single = SINGLE[c]
  if single then
    pos = i + 1
    return single, nil, i
  end
  if c == 34 then return string_token(i) end
  if c == 45 or (c >= 48 and c <= 57) then
    if cfg.decode_invalid_numbers == 0 and invalid_number(i) then
      return T_ERROR, "invalid number", i
    end
    return number_token(i)
  end
  if c == 116 and sub(s, i, i + 3) == "true" then
    pos = i + 4
    return T_BOOLEAN, true, i
  end
  if c == 102 and sub(s, i, i + 4) == "false" then
    pos = i + 5
    return T_BOOLEAN, false, i
  end
  if c == 110 and sub(s, i, i + 3) == "null" then
    pos = i + 4
    return T_NULL, null, i
  end
  if cfg.decode_invalid_numbers == 1 and invalid_number(i) then
    return number_token(i)
  end
  return T_ERROR, "invalid token", i
end

local function parse_error(expected, tt, tv, tp)
  local found = tt
  if tt == T_ERROR then found = tv end
  raise("Expected " .. expected .. " but found " .. found .. " at character " .. tp)
end

local parse_value

local function descend(depth, tp)
  depth = depth + 1
  if depth > cfg.decode_max_depth then
    raise("Found too many nested data structures (" .. depth .. ") at character " .. tp)
  end
  return depth
end

local function parse_object(depth, tp)
  depth = descend(depth, tp)
  local t = {}
  local tt, tv
  tt, tv, tp = next_token()
  if tt == T_OBJ_END then return t end
  while true do
    if tt ~= T_STRING then parse_error("object key string", tt, tv, tp) end
    local key = tv
    tt, tv, tp = next_token()
    if tt ~= T_COLON then parse_error("colon", tt, tv, tp) end
    tt, tv, tp = next_token()
    t[key] = parse_value(tt, tv, tp, depth)
    tt, tv, tp = next_token()
    if tt == T_OBJ_END then return t end
    if tt ~= T_COMMA then parse_error("comma or object end", tt, tv, tp) end
    tt, tv, tp = next_token()
  end
end

local function parse_array(depth, tp)
  depth = descend(depth, tp)
  local t, n = {}, 0
  local tt, tv
  tt, tv, tp = next_token()
  if tt == T_ARR_END then return t end
  while true do
    n = n + 1
    t[n] = parse_value(tt, tv, tp, depth)
    tt, tv, tp = next_token()
    if tt == T_ARR_END then return t end
    if tt ~= T_COMMA then parse_error("comma or array end", tt, tv, tp) end
    tt, tv, tp = next_token()
  end
end

parse_value = function(tt, tv, tp, depth)
  if tt == T_STRING or tt == T_NUMBER or tt == T_BOOLEAN or tt == T_NULL then return tv end
  if tt == T_OBJ_BEGIN then return (parse_object(depth, tp)) end
  if tt == T_ARR_BEGIN then return (parse_array(depth, tp)) end
  parse_error("value", tt, tv, tp)
end

---------------------------------------------------------------------------
-- configuration functions and instances
---------------------------------------------------------------------------

-- json_arg_init: at most `max` arguments
local function check_nargs(n, max)
  if n > max then argerror(max + 1, "found too many arguments") end
end

-- json_enum_option: options[1] is "off" (false), options[2] "on" (true)
local BOOL_OPTIONS = {"off", "on"}
local INVALID_NUMBER_OPTIONS = {"off", "on", "null"}

local function enum_option(narg, n, v, current, options)
  if v ~= nil then
    if type(v) == "boolean" then
      current = v and 1 or 0
    else
      local t = type(v)
      if t ~= "string" and t ~= "number" then typeerror(narg, n, v, "string") end
      local name = tostring(v)
      current = nil
      for i = 1, #options do
        if options[i] == name then current = i - 1 end
      end
      if current == nil then argerror(narg, "invalid option '" .. name .. "'") end
    end
  end
  return current
end

local function enum_result(setting, options)
  if setting <= 1 then return setting == 1 end
  return options[setting + 1]
end

-- json_integer_option (the range check always names argument 1, as in C)
local function integer_option(narg, n, v, current, min, max)
  if v ~= nil then
    local x = checkinteger(narg, n, v)
    if x < min or x > max then
      argerror(1, "expected integer between " .. min .. " and " .. max)
    end
    current = x
  end
  return current
end

local new_instance

new_instance = function()
  local conf = {
    encode_max_depth = 1000,
    decode_max_depth = 1000,
    sparse_convert = false,
    sparse_ratio = 2,
    sparse_safe = 10,
    precision = 14,
    number_fmt = "%.14g",
    encode_invalid_numbers = 0,
    decode_invalid_numbers = 1,
    keep_buffer = 1,
  }
  -- fields in the order the C module sets them (it shows in pairs())
  local cjson = {}

  function cjson.encode(...)
    local n = select("#", ...)
    if n ~= 1 then argerror(1, "expected 1 argument") end
    local v = ...
    local t = type(v)
    if t == "string" then
      local r = quote(v)
      return r
    end
    cfg = conf
    buf, nbuf = {}, 0
    encode_value(v, 0)
    local r = concat(buf, "", 1, nbuf)
    buf = nil
    return r
  end

  function cjson.decode(...)
    local n = select("#", ...)
    if n ~= 1 then argerror(1, "expected 1 argument") end
    local text = ...
    local t = type(text)
    if t == "number" then
      text = tostring(text)
    elseif t ~= "string" then
      typeerror(1, n, text, "string")
    end
    if #text >= 2 and (byte(text, 1) == 0 or byte(text, 2) == 0) then
      raise("JSON parser does not support UTF-16 or UTF-32")
    end
    local z = find(text, "%z")
    if z then text = sub(text, 1, z - 1) end
    cfg, s, pos = conf, text, 1
    local tt, tv, tp = next_token()
    local value = parse_value(tt, tv, tp, 0)
    tt, tv, tp = next_token()
    if tt ~= T_END then parse_error("the end", tt, tv, tp) end
    s = nil
    return value
  end

  function cjson.encode_sparse_array(...)
    local n = select("#", ...)
    check_nargs(n, 3)
    local convert, ratio, safe = ...
    conf.sparse_convert = enum_option(1, n, convert, conf.sparse_convert and 1 or 0, BOOL_OPTIONS) == 1
    conf.sparse_ratio = integer_option(2, n, ratio, conf.sparse_ratio, 0, INT_MAX)
    conf.sparse_safe = integer_option(3, n, safe, conf.sparse_safe, 0, INT_MAX)
    return conf.sparse_convert, conf.sparse_ratio, conf.sparse_safe
  end

  function cjson.encode_max_depth(...)
    local n = select("#", ...)
    check_nargs(n, 1)
    conf.encode_max_depth = integer_option(1, n, (...), conf.encode_max_depth, 1, INT_MAX)
    local r = conf.encode_max_depth
    return r
  end

  function cjson.decode_max_depth(...)
    local n = select("#", ...)
    check_nargs(n, 1)
    conf.decode_max_depth = integer_option(1, n, (...), conf.decode_max_depth, 1, INT_MAX)
    local r = conf.decode_max_depth
    return r
  end

  function cjson.encode_number_precision(...)
    local n = select("#", ...)
    check_nargs(n, 1)
    conf.precision = integer_option(1, n, (...), conf.precision, 1, 14)
    conf.number_fmt = "%." .. conf.precision .. "g"
    local r = conf.precision
    return r
  end

  function cjson.encode_keep_buffer(...)
    local n = select("#", ...)
    check_nargs(n, 1)
    conf.keep_buffer = enum_option(1, n, (...), conf.keep_buffer, BOOL_OPTIONS)
    local r = enum_result(conf.keep_buffer, BOOL_OPTIONS)
    return r
  end

  function cjson.encode_invalid_numbers(...)
    local n = select("#", ...)
    check_nargs(n, 1)
    conf.encode_invalid_numbers =
      enum_option(1, n, (...), conf.encode_invalid_numbers, INVALID_NUMBER_OPTIONS)
    local r = enum_result(conf.encode_invalid_numbers, INVALID_NUMBER_OPTIONS)
    return r
  end

  function cjson.decode_invalid_numbers(...)
    local n = select("#", ...)
    check_nargs(n, 1)
    conf.decode_invalid_numbers =
      enum_option(1, n, (...), conf.decode_invalid_numbers, BOOL_OPTIONS)
    local r = enum_result(conf.decode_invalid_numbers, BOOL_OPTIONS)
    return r
  end

  function cjson.new()
    local r = new_instance()
    return r
  end

  cjson.null = null
  cjson._NAME = "cjson"
  cjson._VERSION = "2.1.0"

  return cjson
end

return new_instance()
