"""EVAL / EVALSHA / EVAL_RO / SCRIPT against redis-server, byte for byte.

Redis 7.2 vs the 7.0 oracle: redis.REDIS_VERSION reports our 7.2.x version
(checked separately, not differentially).
"""

from __future__ import annotations

import threading
import time

import pytest
from harness import Pair, RawClient
from inprocess import EffectsCapture

SCRIPTS = [
    "return 1", "return 1.9", "return -3.7", "return true", "return false", "return nil",
    "return {1,2,nil,3}", "return {err='bad'}", "return {ok='fine'}", "return {1,'a',{2,3},2.5}",
    "return {'a', {err='x'}, {ok='y'}}", "return {err=5}", "return {err='a',ok='b'}",
    "return {1, x=2}", "return 'str'", "return {}",
    "return {double=1.5}", "return {map={a=1}}", "return {set={a=true}}", "return {double=3}",
    "return {double='abc'}", "return {big_number=123}", "return {verbatim_string=5}",
    "return redis.error_reply('My Error')", "return redis.error_reply('-My Error')",
    "return redis.status_reply('FINE')", "return redis.error_reply(5)", "return redis.status_reply()",
    "return redis.sha1hex('')", "return redis.sha1hex(5)", "return redis.sha1hex()",
    "return redis.REDIS_VERSION_NUM > 0",
    "return {redis.LOG_DEBUG,redis.LOG_VERBOSE,redis.LOG_NOTICE,redis.LOG_WARNING,redis.REPL_NONE,"
    "redis.REPL_AOF,redis.REPL_SLAVE,redis.REPL_REPLICA,redis.REPL_ALL}",
    "return redis.setresp(3)", "redis.setresp(4)", "return redis.setresp()",
    "return redis.replicate_commands()", "return redis.set_repl(redis.REPL_ALL)", "return redis.set_repl()",
    "return redis.set_repl(99)", "return redis.breakpoint()", "return redis.debug('x')",
    "return redis.log(redis.LOG_WARNING, 'hello from a test')", "return redis.log()",
    "return redis.log(99, 'x')", "return redis.log('a','b')",
    "return redis.acl_check_cmd('get','a')", "return redis.acl_check_cmd('nosuch')",
    "return redis.acl_check_cmd()",
    "return redis.call('nosuch')", "return redis.call('get')", "return redis.call('get','a','b')",
    "return redis.pcall('nosuch')", "return redis.call('multi')", "return redis.pcall('multi')",
    "return redis.call()", "redis.call(1)", "redis.call({})", "redis.call('set','a',{})",
    "return redis.call('set','f',true)", "return redis.pcall()", "return redis.pcall('hgetall')",
    "return redis.call('config','nosuch')", "return redis.call('config','get')",
    "return redis.call('eval','return 1','0')", "return redis.call('subscribe','x')",
    "return redis.call('watch','x')", "return redis.call('ping')", "return redis.call('echo','x')",
    "\n\nredis.call('nosuch')", "\n\nerror('x')", "error('x', 0)", "error()", "error(5)",
    "error({err='boom'})", "error('ERR custom message')", "error(redis.error_reply('MYERR x'))",
    "return x", "x = 1", "KEYS = 1", "redis = nil", "redis.x = 1", "string.x = 1",
    "rawset(_G,'x',1)", "setmetatable(_G, nil)", "getmetatable('').__index = {}",
    "return type(getmetatable(_G))", "return rawget(_G,'redis') ~= nil",
    "return type(rawget(_G,'nonexist'))", "return _G.nonexist",
    "local function f() return y end return f()",
    "return pcall(function() return x end)",
    "local ok, e = pcall(function() return x end) return e",
    "local ok, e = pcall(redis.call, 'nosuch') return e",
    "local ok, e = pcall(redis.call, 'nosuch') return type(e)",
    "local ok, e = pcall(error, {err='x'}) return {type(e), tostring(e)}",
    "local ok, e = pcall(error, {foo=1}) return type(e)",
    "local ok, e = xpcall(function() redis.call('nosuch') end, function(e) return type(e) end) return e",
    "local t = {} for k,v in pairs(_G) do t[#t+1]=k end table.sort(t) return t",
    "local t = {} for k,v in pairs(redis) do t[#t+1]=k end table.sort(t) return t",
    "local t = {} for k,v in pairs(string) do t[#t+1]=k end table.sort(t) return t",
    "local t = {} for k,v in pairs(math) do t[#t+1]=k end table.sort(t) return t",
    "local t = {} for k,v in pairs(table) do t[#t+1]=k end table.sort(t) return t",
    "return _VERSION", "return ('abc'):upper()", "return tostring(3.0)",
    "return {1e20, -1e20, 0/0, 1/0}", "return syntax error here", "return loadstring('return 1')()",
    "return loadstring('return os')()",
]
SANDBOX_MISSING = ["os", "io", "debug", "package", "require", "dofile", "loadfile", "module",
                   "newproxy", "getfenv", "setfenv", "print", "python"]


@pytest.fixture(autouse=True)
def _flush_scripts(pair: Pair) -> None:
    pair.real.raw("SCRIPT", "FLUSH")
    pair.cairn.raw("SCRIPT", "FLUSH")


@pytest.mark.parametrize("script", SCRIPTS)
def test_eval_conversions_and_errors(pair: Pair, script: str) -> None:
    pair.check("EVAL", script, "0")


@pytest.mark.parametrize("name", SANDBOX_MISSING)
def test_sandbox_hides_dangerous_globals(pair: Pair, name: str) -> None:
    pair.check("EVAL", f"return type({name})", "0")
    pair.check("EVAL", f"return {name} == nil", "0")


def test_keys_argv_and_numkeys(pair: Pair) -> None:
    pair.check("EVAL", "return {KEYS[1], ARGV[1], ARGV[2], #KEYS, #ARGV}", "1", "a", "b", "c")
    pair.check("EVAL", "KEYS[1]='x' return KEYS[1]", "0")
    pair.check("EVAL", "return #KEYS", "0")
    pair.check("EVAL", "return 1", "-1")
    pair.check("EVAL", "return 1", "2", "a")
    pair.check("EVAL", "return 1", "abc")
    pair.check("EVAL", "return 1")


def test_calls_and_command_errors(pair: Pair) -> None:
    pair.check("SET", "s", "str")
    pair.check("EVAL", "return redis.call('incr','s')", "0")
    pair.check("EVAL", "return redis.pcall('incr','s')", "0")
    pair.check("EVAL", "local t = redis.pcall('incr','s'); return t.err", "0")
    pair.check("EVAL", "return redis.call('lpush','s','x')", "0")
    pair.check("EVAL", "return redis.pcall('lpush','s','x')", "0")
    pair.check("EVAL", "return redis.call('set', KEYS[1], ARGV[1])", "1", "k", "v")
    pair.check("EVAL", "return redis.call('get', KEYS[1])", "1", "k")
    pair.check("EVAL", "return redis.call('get', 5)", "0")
    for value in ("1e20", "0.1", "-0.0", "1/3", "1.5", "42"):
        pair.check("EVAL", f"redis.call('set', 'f', {value}) return redis.call('get', 'f')", "0")
    pair.check("EVAL", "return redis.call('incrbyfloat', 'fl', '1.5')", "0")
    pair.check("EVAL", "return type(redis.call('get','nokey'))", "0")
    pair.check("EVAL", "return redis.call('get','nokey')", "0")
    pair.check("EVAL", "return redis.call('select','1')", "0")
    pair.check("GET", "k")  # the caller's database is untouched by SELECT in a script
    pair.check("EVAL", "return redis.call('select', '99')", "0")
    pair.check("EVAL", "return redis.call('ping','a','b')", "0")


def test_resp3_conversions(pair: Pair) -> None:
    pair.check("HSET", "h", "a", "1")
    pair.check("SADD", "st", "m")
    pair.check("ZADD", "z", "1.5", "m")
    for script in (
        "redis.setresp(3) return redis.call('hgetall','h')",
        "redis.setresp(3) return redis.call('hgetall','nokey')",
        "redis.setresp(3) local r = redis.call('hgetall','h') return type(r.map)",
        "redis.setresp(3) return redis.call('smembers','st')",
        "redis.setresp(3) return redis.call('zscore','z','m')",
        "redis.setresp(3) return type(redis.call('zscore','z','m').double)",
        "redis.setresp(3) return redis.call('get','nokey')",
        "redis.setresp(3) return type(redis.call('get','nokey'))",
        "redis.setresp(3) return true",
        "redis.setresp(3) return false",
        "redis.setresp(3) return {true, false}",
        "return redis.call('hgetall','h')",
        "return redis.call('zscore','z','m')",
        "return {map={a={1,2}}, x=1}",
        "return {set={[1]=true,b=false}}",
        "return {double=1/0}",
        "return {double=-1/0}",
        "return {verbatim_string={format='txt',string='hi'}}",
    ):
        pair.check("EVAL", script, "0")


def test_read_only_scripts(pair: Pair) -> None:
    pair.check("EVAL_RO", "return redis.call('set','a','b')", "0")
    pair.check("EVAL_RO", "return redis.call('publish','c','m')", "0")
    pair.check("EVAL_RO", "return redis.call('pfcount','hll')", "0")
    pair.check("EVAL_RO", "return redis.call('get','a')", "0")
    pair.check("EVAL", "#!lua flags=no-writes\nreturn redis.call('set','a','b')", "0")
    pair.check("EVAL", "#!lua flags=no-writes\nreturn redis.call('get','a')", "0")
    pair.check("EVAL", "#!lua flags=bad\nreturn 1", "0")
    pair.check("EVAL", "#!lua name=x\nreturn 1", "0")
    pair.check("EVAL", "#!lu\nreturn 1", "0")
    pair.check("EVAL", "#!lua flags=no-writes,allow-oom\nreturn 1", "0")
    pair.check("EVAL", "#!lua flags=\nreturn 1", "0")
    pair.check("EVAL", "#!lua", "0")
    pair.check("EVAL", "#!lua\n\nerror('x')", "0")
    pair.check("EVAL_RO", "#!lua\nreturn 1", "0")
    pair.check("EVAL_RO", "#!lua flags=no-writes\nreturn 1", "0")


def test_script_cache(pair: Pair) -> None:
    sha = pair.check("SCRIPT", "LOAD", "return 1")
    digest = sha.split(b"\r\n")[1].decode()
    pair.check("EVALSHA", digest, "0")
    pair.check("EVALSHA", digest.upper(), "0")
    pair.check("EVALSHA_RO", digest, "0")
    pair.check("SCRIPT", "EXISTS", digest, "ffffffffffffffffffffffffffffffffffffffff", "abc")
    pair.check("EVAL", "return 2", "0")
    pair.check("SCRIPT", "EXISTS", "7f923f79fe76194c868d7e1d0820de36700eb649")
    pair.check("EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0")
    pair.check("EVALSHA", "fff", "0")
    pair.check("SCRIPT", "LOAD", "syntax error")
    pair.check("SCRIPT", "FLUSH", "x")
    pair.check("SCRIPT", "FLUSH", "SYNC", "x")
    pair.check("SCRIPT", "FLUSH", "ASYNC")
    pair.check("SCRIPT", "EXISTS", digest)
    pair.check("SCRIPT", "EXISTS")
    pair.check("SCRIPT", "KILL")
    pair.check("SCRIPT", "HELP")
    pair.check("SCRIPT", "DEBUG", "NO")
    pair.check("SCRIPT", "NOSUCH")


def test_math_random_is_redis_rand48(pair: Pair) -> None:
    # Redis 7 keeps one generator for all scripts (no reseeding per call):
    # seeding it makes both servers agree.
    pair.check("EVAL", "math.randomseed(5) return {tostring(math.random()), math.random(100), math.random(3, 9)}", "0")
    pair.check("EVAL", "return tostring(math.random())", "0")
    pair.check("EVAL", "math.randomseed(-12345) return {tostring(math.random()), math.random(1000000)}", "0")


def test_redis_version_is_ours(pair: Pair) -> None:
    # Redis 7.2: the version is the server's (the 7.0 oracle says 7.0.15).
    info = pair.cairn.raw("INFO", "server")
    version = info.split(b"redis_version:")[1].split(b"\r\n")[0]
    reply = pair.cairn.raw("EVAL", "return redis.REDIS_VERSION", "0")
    assert reply.endswith(version + b"\r\n")
    major, minor, patch = (int(p) for p in version.split(b"."))
    assert pair.cairn.raw("EVAL", "return redis.REDIS_VERSION_NUM", "0") == b":%d\r\n" % (
        (major << 16) | (minor << 8) | patch
    )


def test_script_effects_are_one_record_of_commands() -> None:
    cap = EffectsCapture()
    cap.run("SET", "counter", "1")
    effects = cap.effects_of(
        "EVAL", "redis.call('incr', KEYS[1]) redis.call('set', 'x', ARGV[1]) "
        "redis.call('expire', 'x', 100) return redis.call('get', 'x')", "1", "counter", "val",
    )
    assert effects[0] == [b"incr", b"counter"]
    assert effects[1] == [b"set", b"x", b"val"]
    assert effects[2][0].lower() == b"pexpireat"
    assert len(cap.records) == 2  # the SET, then the whole script as one record
    assert not any(b"EVAL" in argv[0].upper() for record in cap.records for _db, argv in record)
    assert cap.effects_of("EVAL", "return redis.call('get', 'x')", "0") == []


def test_time_is_frozen_inside_a_script() -> None:
    # Redis 7.2: keys do not expire while a script runs (time is sampled once).
    cap = EffectsCapture()
    reply = cap.run("EVAL", "redis.call('set', 't', 'v', 'PX', '5') local i = 0 "
                    "while i < 3000000 do i = i + 1 end return redis.call('exists', 't')", "0")
    assert reply == 1


def test_sandbox_reaches_no_python() -> None:
    cap = EffectsCapture()
    for probe in ("return type(python)", "return type(redis.call)", "return type(redis.pcall)"):
        reply = cap.run("EVAL", probe, "0")
        assert reply in (b"function", b"nil") or getattr(reply, "message", "").find("nonexistent") >= 0
    # Bytecode is refused (a classic Lua 5.1 sandbox escape).
    reply = cap.run("EVAL", "return loadstring(string.dump(function() return 1 end))", "0")
    assert reply is None


def _busy_servers(port: int, script: str, call: tuple[str, ...]) -> tuple[list[bytes], bytes]:
    a, b = RawClient(port), RawClient(port)
    b.raw("CONFIG", "SET", "busy-reply-threshold", "100")
    out: dict[str, bytes] = {}
    t = threading.Thread(target=lambda: out.__setitem__("a", a.raw(*call)))
    t.start()
    time.sleep(0.6)
    replies = [b.raw("GET", "x"), b.raw("FUNCTION", "KILL"), b.raw("SCRIPT", "KILL")]
    t.join(10)
    b.raw("CONFIG", "SET", "busy-reply-threshold", "5000")
    a.close()
    b.close()
    return replies, out.get("a", b"")


def test_busy_and_script_kill_on_redis_shape(pair2: Pair) -> None:
    """The oracle's answers; Cairn's need the network layer's busy_poll (below)."""
    replies, killed = _busy_servers(pair2.real.port, "", ("EVAL", "local i=0 while true do i=i+1 end", "0"))
    assert replies[0].startswith(b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL")
    assert replies[2] == b"+OK\r\n"
    assert killed.startswith(b"-ERR Script killed by user with SCRIPT KILL... script: ")


def test_busy_and_script_kill_on_cairn(pair2: Pair) -> None:
    # A bounded loop (a few seconds: it must outlast the 0.6 s before SCRIPT KILL
    # on a fast, idle machine), so that without the wiring the shared Cairn
    # server is only stalled, not stuck forever.
    call = ("EVAL", "local i=0 while i < 400000000 do i=i+1 end return i", "0")
    replies, killed = _busy_servers(pair2.cairn.port, "", call)
    assert replies[0].startswith(b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL")
    assert replies[2] == b"+OK\r\n"
    assert killed.startswith(b"-ERR Script killed by user with SCRIPT KILL... script: ")


# Tail calls (`return f(...)`) into functions that Redis implements in C and
# Cairn in Lua: the error keeps the caller's position (one-line scripts).
TAIL_CALL_ERRORS = [
    "return setmetatable(_G, nil)", "return rawset(_G,'x',1)", "return math.random(1,2,3)",
    "return math.randomseed()", "return load(5)", "return math.random(1, {})", "return math.random(0)",
    "return math.random(3, 1)", "math.random('x')", "math.randomseed()", "load()",
    "local function f() return setmetatable(_G, nil) end return f()",
    "\nreturn setmetatable(_G, nil)", "#!lua\nreturn math.random(1,2,3)",
    "return pcall(math.random, 'x')", "return pcall(math.random, 1, 2, 3)",
    "return pcall(function() return math.random(1,2,3) end)",
    "local ok, e = pcall(function() math.random(1,2,3) end) return e",
    "return redis.call('nosuch')", "local function f() return redis.call('nosuch') end return f()",
    "return redis.call('get', 'a', 'b')", "\n\nreturn redis.call('incr', KEYS[1])",
]


@pytest.mark.parametrize("script", TAIL_CALL_ERRORS)
def test_tail_call_error_positions(pair: Pair, script: str) -> None:
    pair.check("SET", "s", "str")
    pair.check("EVAL", script, "1", "s")


def test_redis_call_after_errors(pair: Pair) -> None:
    # A failed redis.call ends its coroutine: the next call (also through a
    # pcall, and in the next script) must find a fresh one.
    pair.check("EVAL", "local ok, e = pcall(redis.call, 'nosuch') "
               "return {tostring(ok), redis.call('set', 'a', '1'), redis.call('get', 'a')}", "0")
    pair.check("EVAL", "local r = {} for i = 1, 3 do local ok, e = pcall(redis.call, 'incr', 'a', 'x') "
               "r[#r + 1] = e r[#r + 1] = redis.call('incr', 'a') end return r", "0")
    pair.check("EVAL", "return redis.call('get', 'a')", "0")
    pair.check("EVAL", "redis.call('nosuch')", "0")
    pair.check("EVAL", "return redis.call('incr', 'a')", "0")
    pair.check("EVAL", "return redis.pcall('incr', 'a', 'b')", "0")
    pair.check("EVAL", "return {redis.pcall('nosuch'), redis.pcall('set', 'a', 'b'), redis.call('get', 'a')}", "0")
    # From inside the script's own coroutines.
    pair.check("EVAL", "return coroutine.wrap(function() return redis.call('ping') end)()", "0")
    pair.check("EVAL", "coroutine.wrap(function() redis.call('nosuch') end)()", "0")
    pair.check("EVAL", "return {coroutine.resume(coroutine.create(function() return redis.call('nosuch') end))}", "0")
    pair.check("EVAL", "local co = coroutine.create(function() redis.call('nosuch') end) "
               "local ok, e = coroutine.resume(co) return {tostring(ok), type(e), redis.call('ping')}", "0")
    pair.check("EVAL", "local c = redis.call return c('ping')", "0")
    pair.check("EVAL", "local ok, e = pcall(redis.call) return e", "0")


def test_redis_call_arguments_and_replies(pair: Pair) -> None:
    pair.check("RPUSH", "l", "a", "b", "c")
    # Numbers, 0 and -0 among them, are written as Redis writes them (%.17g).
    pair.check("EVAL", "return redis.call('lrange', 'l', 0, -1)", "0")
    pair.check("EVAL", "return redis.call('lrange', 'l', -0.0, 1)", "0")
    pair.check("EVAL", "redis.call('set', 'n', 0) return redis.call('get', 'n')", "0")
    pair.check("EVAL", "redis.call('set', 'n', -0) return redis.call('get', 'n')", "0")
    pair.check("EVAL", "redis.call('set', 'n', 0/0) return redis.call('get', 'n')", "0")
    pair.check("EVAL", "redis.call('set', 'n', 2^63) return redis.call('get', 'n')", "0")
    pair.check("EVAL", "redis.call('set', 'n', 123456789012345678) return redis.call('get', 'n')", "0")
    pair.check("EVAL", "return redis.call('set', 'n', 1, 'nx')", "0")
    pair.check("EVAL", "return redis.call('set', 'n', 1, 'get')", "0")
    pair.check("EVAL", "return redis.call('ping')", "0")
    pair.check("EVAL", "return type(redis.call('ping'))", "0")
    pair.check("EVAL", "local r = redis.call('set', 'x', 'y') r.ok = 'changed' return redis.call('set', 'x', 'y')", "0")
    pair.check("EVAL", "return redis.call('SeT', KEYS[1], ARGV[1])", "1", "k", "v")
    pair.check("EVAL", "return redis.call('GET', KEYS[1])", "1", "k")
    pair.check("EVAL", "return {redis.call('mget', 'k', 'nokey', 'l')}", "0")
    pair.check("EVAL", "return redis.call('exists', 'k', 'l', 'nokey')", "0")
    pair.check("EVAL", "return redis.call('config', 'get', 'maxmemory-policy')", "0")
    pair.check("EVAL", "return redis.call('object', 'encoding', 'k')", "0")
    pair.check("EVAL", "return redis.pcall('object', 'nosuch')", "0")
    pair.check("EVAL", "return redis.call('get', 'k', 'x')", "0")
    pair.check("EVAL", "return redis.call('lpush', 'k', 'x')", "0")
    pair.check("EVAL", "return redis.pcall('lpush', 'k', 'x')", "0")
    pair.check("EVAL", "return #KEYS + #ARGV * 10", "2", "a", "b", "c")
    pair.check("EVAL", "return {KEYS, ARGV}", "2", "a", "b", "c", "d")
    pair.check("EVAL", "return {#KEYS, #ARGV, KEYS[3], ARGV[1]}", "2", "a", "b")
    pair.check("EVAL", "table.insert(KEYS, 'z') return KEYS", "1", "a", "b")
    pair.check("EVAL_RO", "return redis.call('get', 'k')", "0")
    pair.check("EVAL_RO", "return redis.pcall('set', 'k', 'v')", "0")
    pair.check("EVAL_RO", "return redis.pcall('publish', 'c', 'm')", "0")


def _memory_fields(client: RawClient) -> list[tuple[str, str]]:
    raw = client.raw("INFO", "memory")
    body = raw.split(b"\r\n", 1)[1].decode()
    return [tuple(line.split(":", 1)) for line in body.splitlines() if ":" in line]  # type: ignore[misc]


def test_info_memory_scripting_fields(pair2: Pair) -> None:
    for client in (pair2.real, pair2.cairn):
        client.raw("FUNCTION", "FLUSH")
        for body in ("return 1", "return 2", "return redis.call('ping')"):
            client.raw("SCRIPT", "LOAD", body)
        client.raw("FUNCTION", "LOAD", "#!lua name=infolib\nredis.register_function('f1', function() return 1 end)\n"
                   "redis.register_function('f2', function() return 2 end)")
    views = []
    for client in (pair2.real, pair2.cairn):
        fields = _memory_fields(client)
        names = [name for name, _ in fields]
        start, end = names.index("used_memory_lua"), names.index("used_memory_scripts_human")
        # Where Redis 7 puts them: after total_system_memory_human, before maxmemory.
        assert names[start - 1] == "total_system_memory_human"
        assert names[end + 1] == "maxmemory"
        values = dict(fields)
        assert int(values["used_memory_scripts_eval"]) > 0 and int(values["used_memory_functions"]) > 0
        assert int(values["used_memory_vm_total"]) > 0
        assert int(values["used_memory_scripts"]) == (
            int(values["used_memory_scripts_eval"]) + int(values["used_memory_functions"])
        )
        counts = [values[n] for n in ("number_of_cached_scripts", "number_of_functions", "number_of_libraries")]
        views.append((names[start:end + 1], counts))
        client.raw("FUNCTION", "FLUSH")
    assert views[0] == views[1]
    assert views[1][1] == ["3", "2", "1"]


def test_script_kill_inside_redis_call_loop(pair2: Pair) -> None:
    # Killed while calling redis.call in a loop (the kill may land inside the
    # call's coroutine): the next scripts still call commands normally.
    call = ("EVAL", "local i = 0 while i < 100000000 do redis.call('ping') i = i + 1 end return i", "0")
    replies, killed = _busy_servers(pair2.cairn.port, "", call)
    assert replies[0].startswith(b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL")
    assert replies[2] == b"+OK\r\n"
    assert killed.startswith(b"-ERR Script killed by user with SCRIPT KILL... script: ")
    for _ in range(3):
        assert pair2.cairn.raw("EVAL", "return redis.call('ping')", "0") == b"+PONG\r\n"
        assert pair2.cairn.raw("EVAL", "return redis.pcall('nosuch')", "0").startswith(b"-ERR Unknown Redis command")


def test_redis_call_survives_a_kill_inside_it() -> None:
    # In process: busy_poll kills the script from the hook, which fires in the
    # main thread or inside redis.call's coroutine (then dead): the next
    # scripts must still have a working redis.call / redis.pcall.
    from cairn.protocol import Status
    from cairn.scripting.engine import get_engine

    cap = EffectsCapture()
    cap.run("CONFIG", "SET", "busy-reply-threshold", "1")
    engine = get_engine(cap.server)
    polls: list[int] = []

    def poll() -> None:
        polls.append(1)
        if engine.run is not None:
            engine.run.killed = True

    cap.server.busy_poll = poll  # type: ignore[attr-defined]
    for _ in range(8):
        reply = cap.run("EVAL", "while true do redis.call('ping') end", "0")
        assert str(reply).startswith("ERR Script killed by user with SCRIPT KILL...")
        assert cap.run("EVAL", "return redis.call('ping')", "0") == Status("PONG")
        assert cap.run("EVAL", "return redis.pcall('ping')", "0") == Status("PONG")
        assert cap.run("EVAL", "return {pcall(redis.call, 'nosuch')}", "0")[0] is None
        assert cap.run("EVAL", "return redis.call('echo', 'x')", "0") == b"x"
    assert polls


def test_scripts_near_the_lua_memory_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    # In process, with an 8 MB ceiling: a script that runs out of memory (or
    # leaves its garbage near the ceiling) must not take the next scripts, nor
    # the process, down (Lua 5.1 has no emergency collection).
    import cairn.scripting.engine as engine_module
    from cairn.protocol import Status

    monkeypatch.setattr(engine_module, "LUA_MAX_MEMORY", 8 << 20)
    cap = EffectsCapture()
    fill_and_fail = "local t = {} while true do t[#t+1] = {} end"
    fill_and_return = ("local t = {} while true do local ok = pcall(function() t[#t+1] = {} end) "
                       "if not ok then break end end return #t > 0")
    for script in (fill_and_fail, fill_and_return, fill_and_fail):
        reply = cap.run("EVAL", script, "0")
        # (where the allocation fails decides whether the error handler could run)
        assert reply == 1 or getattr(reply, "message", None) in (
            "ERR not enough memory", "ERR Error running script: not enough memory"
        )
        assert cap.run("EVAL", "return redis.call('ping')", "0") == Status("PONG")
        assert cap.run("EVAL", "return redis.pcall('echo', 'x')", "0") == b"x"
        assert engine_module.get_engine(cap.server).memory_used() < 4 << 20
