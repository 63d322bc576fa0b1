"""RESP2/RESP3 without I/O: request parsing and reply encoding."""

from cairn.protocol.parser import ProtocolError, QueryBufferOverflow, RequestParser, split_args
from cairn.protocol.replies import (
    NULL_ARRAY,
    OK,
    PONG,
    QUEUED,
    BulkArray,
    Double,
    ErrorReply,
    MapReply,
    Push,
    SetReply,
    Status,
    Verbatim,
    encode,
    encode_error,
    format_double,
)

__all__ = [
    "NULL_ARRAY",
    "OK",
    "PONG",
    "QUEUED",
    "BulkArray",
    "Double",
    "ErrorReply",
    "MapReply",
    "ProtocolError",
    "Push",
    "QueryBufferOverflow",
    "RequestParser",
    "SetReply",
    "Status",
    "Verbatim",
    "encode",
    "encode_error",
    "format_double",
    "split_args",
]
