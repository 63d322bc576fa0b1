"""The etcd v3 API messages Cairn uses, declared here instead of generated.

Only the messages and fields we send or read are declared; protobuf ignores the
rest of what etcd sends. Field numbers and enum values are those of etcd's
``api/etcdserverpb/rpc.proto`` and ``api/mvccpb/kv.proto`` (v3 API, stable since
3.0, so 3.4, 3.5 and 3.6 servers all speak it). The package names are etcd's
too, because they are part of the gRPC method paths.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_TYPES = {
    "bytes": _F.TYPE_BYTES,
    "string": _F.TYPE_STRING,
    "int64": _F.TYPE_INT64,
    "uint64": _F.TYPE_UINT64,
    "bool": _F.TYPE_BOOL,
}

# message -> [(field, number, type, repeated, oneof)]; a type that is not a scalar
# names a message (".pkg.Name") or an enum ("enum:.pkg.Name").
_MVCC = {
    "KeyValue": [
        ("key", 1, "bytes"), ("create_revision", 2, "int64"), ("mod_revision", 3, "int64"),
        ("version", 4, "int64"), ("value", 5, "bytes"), ("lease", 6, "int64"),
    ],
    "Event": [
        ("type", 1, "enum:.mvccpb.Event.EventType"), ("kv", 2, ".mvccpb.KeyValue"),
        ("prev_kv", 3, ".mvccpb.KeyValue"),
    ],
}
_MVCC_ENUMS = {"Event.EventType": [("PUT", 0), ("DELETE", 1)]}

_H = ("header", 1, ".etcdserverpb.ResponseHeader")
_RPC: dict[str, list[tuple[Any, ...]]] = {
    "ResponseHeader": [
        ("cluster_id", 1, "uint64"), ("member_id", 2, "uint64"), ("revision", 3, "int64"),
        ("raft_term", 4, "uint64"),
    ],
    "RangeRequest": [
        ("key", 1, "bytes"), ("range_end", 2, "bytes"), ("limit", 3, "int64"),
        ("revision", 4, "int64"), ("serializable", 7, "bool"), ("keys_only", 8, "bool"),
        ("count_only", 9, "bool"),
    ],
    "RangeResponse": [_H, ("kvs", 2, ".mvccpb.KeyValue", True), ("more", 3, "bool"),
                      ("count", 4, "int64")],
    "PutRequest": [("key", 1, "bytes"), ("value", 2, "bytes"), ("lease", 3, "int64"),
                   ("prev_kv", 4, "bool")],
    "PutResponse": [_H, ("prev_kv", 2, ".mvccpb.KeyValue")],
    "DeleteRangeRequest": [("key", 1, "bytes"), ("range_end", 2, "bytes"), ("prev_kv", 3, "bool")],
    "DeleteRangeResponse": [_H, ("deleted", 2, "int64")],
    "RequestOp": [
        ("request_range", 1, ".etcdserverpb.RangeRequest", False, "request"),
        ("request_put", 2, ".etcdserverpb.PutRequest", False, "request"),
        ("request_delete_range", 3, ".etcdserverpb.DeleteRangeRequest", False, "request"),
    ],
    "ResponseOp": [
        ("response_range", 1, ".etcdserverpb.RangeResponse", False, "response"),
        ("response_put", 2, ".etcdserverpb.PutResponse", False, "response"),
        ("response_delete_range", 3, ".etcdserverpb.DeleteRangeResponse", False, "response"),
    ],
    "Compare": [
        ("result", 1, "enum:.etcdserverpb.Compare.CompareResult"),
        ("target", 2, "enum:.etcdserverpb.Compare.CompareTarget"),
        ("key", 3, "bytes"),
        ("version", 4, "int64", False, "target_union"),
        ("create_revision", 5, "int64", False, "target_union"),
        ("mod_revision", 6, "int64", False, "target_union"),
        ("value", 7, "bytes", False, "target_union"),
        ("lease", 8, "int64", False, "target_union"),
    ],
    "TxnRequest": [
        ("compare", 1, ".etcdserverpb.Compare", True),
        ("success", 2, ".etcdserverpb.RequestOp", True),
        ("failure", 3, ".etcdserverpb.RequestOp", True),
    ],
    "TxnResponse": [_H, ("succeeded", 2, "bool"), ("responses", 3, ".etcdserverpb.ResponseOp", True)],
    "CompactionRequest": [("revision", 1, "int64"), ("physical", 2, "bool")],
    "CompactionResponse": [_H],
    "LeaseGrantRequest": [("TTL", 1, "int64"), ("ID", 2, "int64")],
    "LeaseGrantResponse": [_H, ("ID", 2, "int64"), ("TTL", 3, "int64"), ("error", 4, "string")],
    "LeaseRevokeRequest": [("ID", 1, "int64")],
    "LeaseRevokeResponse": [_H],
    "LeaseKeepAliveRequest": [("ID", 1, "int64")],
    "LeaseKeepAliveResponse": [_H, ("ID", 2, "int64"), ("TTL", 3, "int64")],
    "WatchRequest": [
        ("create_request", 1, ".etcdserverpb.WatchCreateRequest", False, "request_union"),
        ("cancel_request", 2, ".etcdserverpb.WatchCancelRequest", False, "request_union"),
        ("progress_request", 3, ".etcdserverpb.WatchProgressRequest", False, "request_union"),
    ],
    "WatchCreateRequest": [
        ("key", 1, "bytes"), ("range_end", 2, "bytes"), ("start_revision", 3, "int64"),
        ("progress_notify", 4, "bool"), ("prev_kv", 6, "bool"), ("watch_id", 7, "int64"),
    ],
    "WatchCancelRequest": [("watch_id", 1, "int64")],
    "WatchProgressRequest": [],
    "WatchResponse": [
        _H, ("watch_id", 2, "int64"), ("created", 3, "bool"), ("canceled", 4, "bool"),
        ("compact_revision", 5, "int64"), ("cancel_reason", 6, "string"),
        ("events", 11, ".mvccpb.Event", True),
    ],
    "StatusRequest": [],
    "StatusResponse": [
        _H, ("version", 2, "string"), ("dbSize", 3, "int64"), ("leader", 4, "uint64"),
        ("raftIndex", 5, "uint64"), ("raftTerm", 6, "uint64"), ("errors", 8, "string", True),
        ("dbSizeInUse", 9, "int64"),
    ],
    "DefragmentRequest": [],
    "DefragmentResponse": [_H],
    "AlarmRequest": [
        ("action", 1, "enum:.etcdserverpb.AlarmRequest.AlarmAction"), ("memberID", 2, "uint64"),
        ("alarm", 3, "enum:.etcdserverpb.AlarmType"),
    ],
    "AlarmMember": [("memberID", 1, "uint64"), ("alarm", 2, "enum:.etcdserverpb.AlarmType")],
    "AlarmResponse": [_H, ("alarms", 2, ".etcdserverpb.AlarmMember", True)],
}
_RPC_ENUMS = {
    "Compare.CompareResult": [("EQUAL", 0), ("GREATER", 1), ("LESS", 2), ("NOT_EQUAL", 3)],
    "Compare.CompareTarget": [("VERSION", 0), ("CREATE", 1), ("MOD", 2), ("VALUE", 3), ("LEASE", 4)],
    "AlarmRequest.AlarmAction": [("GET", 0), ("ACTIVATE", 1), ("DEACTIVATE", 2)],
    "AlarmType": [("NONE", 0), ("NOSPACE", 1), ("CORRUPT", 2)],
}


def _file(name: str, package: str, messages: dict[str, list[tuple[Any, ...]]],
          enums: dict[str, list[tuple[str, int]]], deps: list[str]) -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(name=name, package=package, syntax="proto3")
    fdp.dependency.extend(deps)
    by_name: dict[str, descriptor_pb2.DescriptorProto] = {}
    for msg_name, fields in messages.items():
        msg = fdp.message_type.add(name=msg_name)
        by_name[msg_name] = msg
        oneofs: dict[str, int] = {}
        for spec in fields:
            fname, number, ftype = spec[0], spec[1], spec[2]
            repeated = len(spec) > 3 and spec[3]
            field = msg.field.add(name=fname, number=number, json_name=fname)
            field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
            if ftype in _TYPES:
                field.type = _TYPES[ftype]
            elif ftype.startswith("enum:"):
                field.type = _F.TYPE_ENUM
                field.type_name = ftype[5:]
            else:
                field.type = _F.TYPE_MESSAGE
                field.type_name = ftype
            if len(spec) > 4:
                oneof = spec[4]
                if oneof not in oneofs:
                    oneofs[oneof] = len(msg.oneof_decl)
                    msg.oneof_decl.add(name=oneof)
                field.oneof_index = oneofs[oneof]
    for enum_path, values in enums.items():
        *outer, enum_name = enum_path.split(".")
        target = by_name[outer[0]].enum_type if outer else fdp.enum_type
        enum = target.add(name=enum_name)
        for value_name, value in values:
            enum.value.add(name=value_name, number=value)
    return fdp


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file("cairn/mvccpb.proto", "mvccpb", _MVCC, _MVCC_ENUMS, []))
_POOL.Add(_file("cairn/etcdserverpb.proto", "etcdserverpb", _RPC, _RPC_ENUMS, ["cairn/mvccpb.proto"]))


def _cls(full_name: str) -> Any:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(full_name))


KeyValue: Any = _cls("mvccpb.KeyValue")
Event: Any = _cls("mvccpb.Event")
EVENT_PUT, EVENT_DELETE = 0, 1
ResponseHeader: Any = _cls("etcdserverpb.ResponseHeader")
RangeRequest: Any = _cls("etcdserverpb.RangeRequest")
RangeResponse: Any = _cls("etcdserverpb.RangeResponse")
PutRequest: Any = _cls("etcdserverpb.PutRequest")
PutResponse: Any = _cls("etcdserverpb.PutResponse")
DeleteRangeRequest: Any = _cls("etcdserverpb.DeleteRangeRequest")
DeleteRangeResponse: Any = _cls("etcdserverpb.DeleteRangeResponse")
RequestOp: Any = _cls("etcdserverpb.RequestOp")
ResponseOp: Any = _cls("etcdserverpb.ResponseOp")
Compare: Any = _cls("etcdserverpb.Compare")
TxnRequest: Any = _cls("etcdserverpb.TxnRequest")
TxnResponse: Any = _cls("etcdserverpb.TxnResponse")
CompactionRequest: Any = _cls("etcdserverpb.CompactionRequest")
CompactionResponse: Any = _cls("etcdserverpb.CompactionResponse")
LeaseGrantRequest: Any = _cls("etcdserverpb.LeaseGrantRequest")
LeaseGrantResponse: Any = _cls("etcdserverpb.LeaseGrantResponse")
LeaseRevokeRequest: Any = _cls("etcdserverpb.LeaseRevokeRequest")
LeaseRevokeResponse: Any = _cls("etcdserverpb.LeaseRevokeResponse")
LeaseKeepAliveRequest: Any = _cls("etcdserverpb.LeaseKeepAliveRequest")
LeaseKeepAliveResponse: Any = _cls("etcdserverpb.LeaseKeepAliveResponse")
WatchRequest: Any = _cls("etcdserverpb.WatchRequest")
WatchCreateRequest: Any = _cls("etcdserverpb.WatchCreateRequest")
WatchCancelRequest: Any = _cls("etcdserverpb.WatchCancelRequest")
WatchProgressRequest: Any = _cls("etcdserverpb.WatchProgressRequest")
WatchResponse: Any = _cls("etcdserverpb.WatchResponse")
StatusRequest: Any = _cls("etcdserverpb.StatusRequest")
StatusResponse: Any = _cls("etcdserverpb.StatusResponse")
DefragmentRequest: Any = _cls("etcdserverpb.DefragmentRequest")
DefragmentResponse: Any = _cls("etcdserverpb.DefragmentResponse")
AlarmRequest: Any = _cls("etcdserverpb.AlarmRequest")
AlarmMember: Any = _cls("etcdserverpb.AlarmMember")
AlarmResponse: Any = _cls("etcdserverpb.AlarmResponse")
assert len(_RPC) == 32  # every declared message has its class above

# Compare results and targets.
EQUAL, GREATER, LESS, NOT_EQUAL = 0, 1, 2, 3
VERSION, CREATE, MOD, VALUE, LEASE = 0, 1, 2, 3, 4
ALARM_GET, ALARM_ACTIVATE, ALARM_DEACTIVATE = 0, 1, 2
ALARM_NOSPACE = 1

# (service, method) -> (request class name, response class name, streaming)
METHODS = {
    ("KV", "Range"): ("RangeRequest", "RangeResponse"),
    ("KV", "Put"): ("PutRequest", "PutResponse"),
    ("KV", "DeleteRange"): ("DeleteRangeRequest", "DeleteRangeResponse"),
    ("KV", "Txn"): ("TxnRequest", "TxnResponse"),
    ("KV", "Compact"): ("CompactionRequest", "CompactionResponse"),
    ("Lease", "LeaseGrant"): ("LeaseGrantRequest", "LeaseGrantResponse"),
    ("Lease", "LeaseRevoke"): ("LeaseRevokeRequest", "LeaseRevokeResponse"),
    ("Lease", "LeaseKeepAlive"): ("LeaseKeepAliveRequest", "LeaseKeepAliveResponse"),
    ("Watch", "Watch"): ("WatchRequest", "WatchResponse"),
    ("Maintenance", "Status"): ("StatusRequest", "StatusResponse"),
    ("Maintenance", "Defragment"): ("DefragmentRequest", "DefragmentResponse"),
    ("Maintenance", "Alarm"): ("AlarmRequest", "AlarmResponse"),
}


def message(name: str) -> Any:
    """The message class called ``name`` (e.g. ``"TxnRequest"``)."""
    return globals()[name]
