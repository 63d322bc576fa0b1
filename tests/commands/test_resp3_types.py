"""RESP3 big numbers and verbatim strings with a format, as scripts return them.

Differential (RESP2 and RESP3 against the oracle, which writes both: `(` big
numbers and `=` verbatim strings with the script's format, cut or padded to
three bytes), plus the encoder's own bytes for the reply types.
"""

from __future__ import annotations

import pytest
from harness import Pair

from cairn.protocol.replies import BigNumber, Verbatim, encode

SCRIPTS = [
    "return {big_number='12345'}",
    "return {big_number='-98765432109876543210987654321'}",
    "return {big_number='abc'}",
    "return {big_number=''}",
    "return {big_number=123}",  # not a string: an (empty) array, as Redis does
    "return {verbatim_string={format='txt', string='hello'}}",
    "return {verbatim_string={format='mkd', string='# title'}}",
    "return {verbatim_string={format='markdown', string='cut to three'}}",
    "return {verbatim_string={format='x', string='padded'}}",
    "return {verbatim_string={format='', string='empty format'}}",
    "return {verbatim_string={format='a\\0bc', string='nul in the format'}}",
    "return {verbatim_string={format='txt', string=''}}",
    "return {verbatim_string={format='txt', string='line\\r\\nbreaks'}}",
    "return {verbatim_string={format=5, string='hi'}}",
    "return {verbatim_string={format='mkd', string=5}}",
    "return {verbatim_string={format='mkd'}}",
    "return {{big_number='1'}, {verbatim_string={format='mkd', string='x'}}, 3}",
    "return {map={a={big_number='7'}, b={verbatim_string={format='mkd', string='y'}}}}",
    "redis.setresp(3) return {big_number='99'}",
    "redis.setresp(3) return {verbatim_string={format='abc', string='z'}}",
    # A verbatim command reply seen from Lua (RESP3) and returned as it is.
    "redis.setresp(3) return redis.call('info', 'nosuchsection')",
    "redis.setresp(3) local r = redis.call('info', 'nosuchsection') "
    "return {r.verbatim_string.format, r.verbatim_string.string}",
    "redis.setresp(3) local r = redis.call('info', 'nosuchsection') return type(r)",
    "local r = redis.call('info', 'nosuchsection') return type(r)",
]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_resp3_types(pair: Pair, script: str) -> None:
    pair.check("EVAL", script, "0")


def test_encoder_big_number() -> None:
    assert encode(BigNumber(b"12345"), True) == b"(12345\r\n"
    assert encode(BigNumber(b"12345"), False) == b"$5\r\n12345\r\n"
    assert encode([BigNumber(b"-1"), b"x"], True) == b"*2\r\n(-1\r\n$1\r\nx\r\n"
    assert encode([BigNumber(b"-1")], False) == b"*1\r\n$2\r\n-1\r\n"


def test_encoder_verbatim_formats() -> None:
    assert encode(Verbatim(b"hi"), True) == b"=6\r\ntxt:hi\r\n"
    assert encode(Verbatim(b"hi"), False) == b"$2\r\nhi\r\n"
    assert encode(Verbatim(b"hi", b"mkd"), True) == b"=6\r\nmkd:hi\r\n"
    assert encode(Verbatim(b"hi", b"markdown"), True) == b"=6\r\nmar:hi\r\n"
    assert encode(Verbatim(b"hi", b"x"), True) == b"=6\r\nx  :hi\r\n"
    assert encode(Verbatim(b"hi", b"a\0bc"), True) == b"=6\r\na  :hi\r\n"
    assert encode(Verbatim(b"hi", b"mkd"), False) == b"$2\r\nhi\r\n"
    # Still bytes with the same value: existing users (INFO, CLIENT LIST...) keep working.
    assert Verbatim(b"abc") == b"abc" and Verbatim(b"abc").format == b"txt"
    assert Verbatim(b"abc", b"mkd").format == b"mkd" and Verbatim(b"abc").format == b"txt"
