"""Zeebe's gateway protocol, loaded from the descriptor that the `zeebe-grpc` package ships.

Why not `from zeebe_grpc import gateway_pb2`: that module registers `gateway_protocol.*` in
protobuf's process-wide default pool. pyzeebe bundles its own copy of the same messages under
another file name, so importing both in one process fails with "duplicate symbol". zeebe-grpc
also pins protobuf 4.x, while current grpcio and pyzeebe need protobuf 5+. So we read the
serialized FileDescriptorProto out of zeebe-grpc's generated module *without importing it*
and build the message classes in a private descriptor pool, on whatever protobuf is installed.

The served protocol version is the one zeebe-grpc ships (8.4.x); newer clients send fields we do
not know, which protobuf skips, as any Zeebe 8.4 gateway would.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SERVICE_NAME = "gateway_protocol.Gateway"
PROTOCOL_PACKAGE = "zeebe-grpc"


def _serialized_descriptor() -> bytes:
    spec = importlib.util.find_spec("zeebe_grpc")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the 'zeebe-grpc' package is not installed: run ./run (it installs it with --no-deps)"
        )
    source_path = Path(next(iter(spec.submodule_search_locations))) / "gateway_pb2.py"
    tree = ast.parse(source_path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "AddSerializedFile"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, bytes)
        ):
            return node.args[0].value
    raise RuntimeError(f"no serialized descriptor found in {source_path}")


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    request: type  # message class
    response: type  # message class
    server_streaming: bool

    @property
    def path(self) -> str:
        return f"/{SERVICE_NAME}/{self.name}"


def _load() -> tuple[SimpleNamespace, dict[str, Method]]:
    file_proto = descriptor_pb2.FileDescriptorProto.FromString(_serialized_descriptor())
    pool = descriptor_pool.DescriptorPool()
    file_descriptor = pool.Add(file_proto)
    file_descriptor = pool.FindFileByName(file_proto.name)
    classes: dict[str, Any] = {}
    for name, descriptor in file_descriptor.message_types_by_name.items():
        classes[name] = message_factory.GetMessageClass(descriptor)
    service = file_descriptor.services_by_name["Gateway"]
    methods = {
        method.name: Method(
            name=method.name,
            request=message_factory.GetMessageClass(method.input_type),
            response=message_factory.GetMessageClass(method.output_type),
            server_streaming=method.server_streaming,
        )
        for method in service.methods
    }
    return SimpleNamespace(**classes), methods


pb, METHODS = _load()
"""`pb.ActivateJobsRequest(...)` etc.; `METHODS["ActivateJobs"]` describes each RPC."""


class GatewayStub:
    """A client stub over a grpc channel: `stub.Topology(pb.TopologyRequest(), timeout=5)`."""

    def __init__(self, channel: Any) -> None:
        for method in METHODS.values():
            factory = channel.unary_stream if method.server_streaming else channel.unary_unary
            setattr(
                self,
                method.name,
                factory(
                    method.path,
                    request_serializer=method.request.SerializeToString,
                    response_deserializer=method.response.FromString,
                ),
            )
