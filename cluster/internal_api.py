"""The brokers' internal API: a small gRPC service whose payloads are msgpack, not protobuf.

Methods (all requests and responses are msgpack documents):
- `Execute` {partitionId, valueType, intent, key, value, tenantId} -> a BrokerResponse's
  fields. RESOURCE_EXHAUSTED when the partition sheds load; UNAVAILABLE when this node does
  not lead the partition or it does not take commands now (the command was not processed:
  the caller may send it elsewhere or again).
- `Topology` {} -> this node's view: {clusterSize, partitionsCount, replicationFactor,
  brokers: [this node], members: [{nodeId, host, port}]}.
- `Deliver` {partitionId, record} -> {}: a command from another partition (encoded record),
  taken or dropped (the sender sends again until acknowledged, see distribution.py).
- `JobsAvailable` {} -> a stream of job types that may have become activatable here.
"""

from __future__ import annotations

from typing import Any

import msgpack

SERVICE_NAME = "propolis.internal.Broker"
EXECUTE = "Execute"
TOPOLOGY = "Topology"
DELIVER = "Deliver"
JOBS_AVAILABLE = "JobsAvailable"

# Large enough for a deployment with big resources and a full job batch.
MESSAGE_SIZE_BYTES_MAX = 32 << 20


def path(method: str) -> str:
    return f"/{SERVICE_NAME}/{method}"


def encode(document: Any) -> bytes:
    return msgpack.packb(document, use_bin_type=True)


def decode(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MESSAGE_SIZE_BYTES_MAX),
    ("grpc.max_send_message_length", MESSAGE_SIZE_BYTES_MAX),
    # Find a dead peer within seconds, not at the next TCP timeout.
    ("grpc.keepalive_time_ms", 5_000),
    ("grpc.keepalive_timeout_ms", 3_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # Reconnect quickly after a broker restarts.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]

SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MESSAGE_SIZE_BYTES_MAX),
    ("grpc.max_send_message_length", MESSAGE_SIZE_BYTES_MAX),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 1_000),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.so_reuseport", 0),
]
