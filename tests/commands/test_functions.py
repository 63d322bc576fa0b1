"""FUNCTION LOAD/DELETE/LIST/DUMP/RESTORE/FLUSH/STATS/KILL/HELP and FCALL, against redis-server."""

from __future__ import annotations

from typing import Any

import pytest
from harness import Pair
from inprocess import EffectsCapture

from cairn.commands.context import Server
from cairn.commands.replay import Replayer
from cairn.scripting.functions import dump_libraries, restore_libraries

LIB = "#!lua name=mylib\nredis.register_function('f1', function(keys, args) return redis.call('get', keys[1]) end)"


@pytest.fixture(autouse=True)
def _flush_functions(pair: Pair) -> None:
    pair.real.raw("FUNCTION", "FLUSH")
    pair.cairn.raw("FUNCTION", "FLUSH")


LOAD_ERRORS = [
    "#!python name=x\nredis.register_function('a', function() end)",
    "#!lua foo=bar\nredis.register_function('a', function() end)",
    "#!lua\nredis.register_function('a', function() end)",
    "#!lua name=a-b\nredis.register_function('a', function() end)",
    "#!lua name=\nredis.register_function('a', function() end)",
    "#!lua name=x name=y\nredis.register_function('a', function() end)",
    "#!lua name=x\n",
    "#!lua name=x\nlocal a = 1",
    "#! lua name=x\nredis.register_function('a', function() end)",
    "#!lua name=lib7", "#!lua", "return 1",
    "#!lua name=l1\nsyntax error",
    "#!lua name=l1\nerror('x')",
    "#!lua name=l1\nreturn x",
    "#!lua name=l1\nx=1",
    "#!lua name=l1\nredis.call('ping')",
    "#!lua name=l1\nlocal x = redis.setresp\nredis.register_function('a', function() return 1 end)",
    "#!lua name=l1\nlocal x = math.random\nredis.register_function('a', function() return 1 end)",
    "#!lua name=l5\nredis.register_function('', function() return 1 end)",
    "#!lua name=l5\nredis.register_function('bad name', function() end)",
    "#!lua name=l5\nredis.register_function{callback=function() return 1 end}",
    "#!lua name=l5\nredis.register_function{function_name='x'}",
    "#!lua name=l5\nredis.register_function('x', 1)",
    "#!lua name=l5\nredis.register_function('x')",
    "#!lua name=l5\nredis.register_function{function_name='x', callback=function() end, flags={'bad'}}",
    "#!lua name=l5\nredis.register_function{function_name='x', callback=function() end, foo=1}",
    "#!lua name=l5\nredis.register_function{function_name='x', callback=function() end, flags='no-writes'}",
]


@pytest.mark.parametrize("code", LOAD_ERRORS)
def test_load_errors(pair: Pair, code: str) -> None:
    pair.check("FUNCTION", "LOAD", code)
    pair.check("FUNCTION", "LIST")


def test_load_list_call(pair: Pair) -> None:
    pair.check("FUNCTION", "LOAD", LIB)
    pair.check("FUNCTION", "LOAD", LIB)
    pair.check("FUNCTION", "LOAD", "#!lua name=other\nredis.register_function('f1', function() return 1 end)")
    pair.check("FUNCTION", "LOAD", "REPLACE", LIB.replace("get", "strlen"))
    pair.check("FUNCTION", "LOAD", "REPLACE")
    pair.check("FUNCTION", "LOAD", "foo", "bar")
    pair.check("FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function{function_name='f2', "
               "callback=function(keys, args) return args[1] end, flags={'no-writes'}, description='desc2'}")
    pair.check("FUNCTION", "LOAD", "#!lua name=lib3\nredis.register_function{function_name='f3', "
               "callback=function() return 1 end, flags={'allow-cross-slot-keys','no-writes','allow-oom',"
               "'allow-stale','no-cluster'}}")
    pair.check("FUNCTION", "LIST", "LIBRARYNAME", "mylib", "WITHCODE")
    pair.check("FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "lib2")
    pair.check("FUNCTION", "LIST", "LIBRARYNAME", "lib3")
    pair.check("FUNCTION", "LIST", "LIBRARYNAME", "nomatch*")
    pair.check("FUNCTION", "LIST", "LIBRARYNAME")
    pair.check("FUNCTION", "LIST", "foo")
    pair.check("FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "l4", "WITHCODE")
    pair.check("FUNCTION", "LIST", "LIBRARYNAME", "x", "LIBRARYNAME", "y")
    pair.check("SET", "k", "hello")
    pair.check("FCALL", "f1", "1", "k")
    pair.check("FCALL", "f2", "0", "hello")
    pair.check("FCALL", "nof", "0")
    pair.check("FCALL", "nof", "abc")
    pair.check("FCALL", "f1", "abc")
    pair.check("FCALL", "f1", "-1")
    pair.check("FCALL", "f1", "2", "a")
    pair.check("FCALL_RO", "f1", "1", "k")
    pair.check("FCALL_RO", "f2", "0", "x")
    pair.check("FUNCTION", "STATS")
    pair.check("FUNCTION", "DELETE", "lib3")
    pair.check("FUNCTION", "DELETE", "nosuch")
    pair.check("FUNCTION", "STATS")
    pair.check("FUNCTION", "KILL")
    pair.check("FUNCTION", "HELP")
    pair.check("FUNCTION", "FLUSH", "bad")
    pair.check("FUNCTION", "FLUSH", "ASYNC")
    pair.check("FUNCTION", "LIST")


RUNTIME = [
    "return redis.call('set','a','b')",
    "error('boom')",
    "return x",
    "x = 5",
    "return KEYS",
    "return redis.register_function('z', function() end)",
    "return redis.call('nosuch')",
    "local t = {} for k,v in pairs(redis) do t[#t+1]=k end table.sort(t) return t",
    "local t = {} for k,v in pairs(_G) do t[#t+1]=k end table.sort(t) return t",
    "return {#keys, #args, keys[1], args[1]}",
]


@pytest.mark.parametrize("body", RUNTIME)
@pytest.mark.parametrize("flags", ["", "'no-writes'"])
def test_function_runtime(pair: Pair, body: str, flags: str) -> None:
    code = (f"#!lua name=rt\nredis.register_function{{function_name='rt', callback=function(keys, args) "
            f"{body} end, flags={{{flags}}}}}")
    pair.check("FUNCTION", "LOAD", code)
    pair.check("FCALL", "rt", "1", "k", "a")
    pair.check("FCALL_RO", "rt", "1", "k", "a")


def test_library_state_is_kept(pair: Pair) -> None:
    pair.check("FUNCTION", "LOAD", "#!lua name=p13\nlocal cnt = 0\n"
               "redis.register_function('a13', function() cnt = cnt + 1 return cnt end)")
    pair.check("FCALL", "a13", "0")
    pair.check("FCALL", "a13", "0")


def test_dump_restore(pair: Pair) -> None:
    pair.check("FUNCTION", "DUMP")
    pair.check("FUNCTION", "LOAD", LIB)
    payload = pair.check("FUNCTION", "DUMP")
    body = payload.split(b"\r\n", 1)[1][:-2]
    pair.check("FUNCTION", "RESTORE", body)
    pair.check("FUNCTION", "RESTORE", body, "REPLACE")
    pair.check("FUNCTION", "RESTORE", body, "BAD")
    pair.check("FUNCTION", "RESTORE", "bad")
    pair.check("FUNCTION", "FLUSH")
    pair.check("FUNCTION", "RESTORE", body, "APPEND")
    pair.check("FUNCTION", "LIST", "WITHCODE")
    pair.check("FUNCTION", "RESTORE", body, "FLUSH")
    pair.check("FUNCTION", "LIST", "WITHCODE")
    # A payload written by redis-server restores on Cairn and back.
    pair.check("FUNCTION", "LOAD", "#!lua name=big\n" + "-- padding padding padding\n" * 20
               + "redis.register_function('big', function() return 'big' end)")
    real_dump = pair.real.call("FUNCTION", "DUMP")
    pair.check("FUNCTION", "FLUSH")
    pair.check("FUNCTION", "RESTORE", real_dump)
    pair.check("FCALL", "big", "0")


def _run(cap: EffectsCapture, *args: Any) -> Any:
    return cap.run(*args)


def test_function_changes_are_logged_and_replayed() -> None:
    cap = EffectsCapture()
    cap.run("FUNCTION", "LOAD", LIB)
    cap.run("FUNCTION", "LOAD", "#!lua name=w\nredis.register_function('w', function(keys, args) "
            "redis.call('set', keys[1], args[1]) return redis.call('incr', 'n') end)")
    cap.run("FCALL", "w", "1", "k", "v")
    cap.run("FUNCTION", "LOAD", "bad")  # an error: nothing logged
    cap.run("FUNCTION", "DELETE", "mylib")
    cap.run("FUNCTION", "LOAD", "REPLACE", "#!lua name=w\nredis.register_function('w2', function() return 2 end)")
    logged = [argv for record in cap.records for _db, argv in record]
    assert [a[:2] for a in logged] == [
        [b"FUNCTION", b"LOAD"], [b"FUNCTION", b"LOAD"], [b"set", b"k"], [b"incr", b"n"],
        [b"FUNCTION", b"DELETE"], [b"FUNCTION", b"LOAD"],
    ]
    fresh = Server()
    replayer = Replayer(fresh)
    for lsn, record in enumerate(cap.records, 1):
        replayer.apply_record(lsn, record)
    replica = EffectsCapture()
    replica.server = fresh
    replica.client.server = fresh
    replica.client.db = fresh.keyspace.dbs[0]
    for command in (("FUNCTION", "LIST", "WITHCODE"), ("GET", "k"), ("GET", "n"), ("FCALL", "w2", "0")):
        assert replica.run(*command) == cap.run(*command)


def test_snapshot_hooks_round_trip() -> None:
    cap = EffectsCapture()
    cap.run("FUNCTION", "LOAD", LIB)
    data = dump_libraries(cap.server)
    other = EffectsCapture()
    other.run("FUNCTION", "LOAD", "#!lua name=gone\nredis.register_function('gone', function() return 1 end)")
    restore_libraries(other.server, data)
    assert other.run("FUNCTION", "LIST", "WITHCODE") == cap.run("FUNCTION", "LIST", "WITHCODE")
