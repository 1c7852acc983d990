"""Server reflection, v1 and v1alpha, that serves the contract with its comments.

grpcio-reflection speaks v1alpha only, and it answers with descriptors copied out of a pool, which
drops the source info: `grpcurl describe` would show no comment. Here the same servicer answers both
versions (their messages are the same on the wire) and every file of the contract is sent as
`make proto` compiled it, comments included (`gen/omnistock/descriptors.binpb`).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from omnistock.common.v1 import common_pb2

DESCRIPTOR_SET = "descriptors.binpb"
V1ALPHA_SERVICE_NAME: str = reflection.SERVICE_NAME
V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"


@functools.cache
def contract_files() -> tuple[descriptor_pb2.FileDescriptorProto, ...]:
    """The contract's files and their imports, with source info, in dependency order."""
    # Next to the generated modules: gen/omnistock/ (an editable install) or the installed package.
    path = Path(common_pb2.__file__).parents[2] / DESCRIPTOR_SET
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: `make proto` generates it")
    return tuple(descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes()).file)


def _v1_reflection_file() -> descriptor_pb2.FileDescriptorProto:
    """grpc/reflection/v1/reflection.proto, which grpcio-reflection does not ship: v1alpha renamed."""
    v1 = descriptor_pb2.FileDescriptorProto.FromString(reflection_pb2.DESCRIPTOR.serialized_pb)
    v1.name = "grpc/reflection/v1/reflection.proto"
    v1.package = "grpc.reflection.v1"
    v1.ClearField("options")

    def renamed(type_name: str) -> str:
        return type_name.replace(".grpc.reflection.v1alpha.", ".grpc.reflection.v1.", 1)

    for message in v1.message_type:
        for message_field in message.field:
            if message_field.HasField("type_name"):
                message_field.type_name = renamed(message_field.type_name)
    for service in v1.service:
        for method in service.method:
            method.input_type = renamed(method.input_type)
            method.output_type = renamed(method.output_type)
    return v1


@functools.cache
def _served() -> tuple[descriptor_pool.DescriptorPool, dict[str, bytes]]:
    pool = descriptor_pool.DescriptorPool()
    with_comments: dict[str, bytes] = {}
    for file in contract_files():
        pool.Add(file)
        with_comments[file.name] = file.SerializeToString()
    for module in (health_pb2, reflection_pb2):
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb))
    pool.Add(_v1_reflection_file())
    return pool, with_comments


class _ReflectionWithComments(reflection.aio.ReflectionServicer):  # type: ignore[misc]
    def __init__(self, service_names: Iterable[str]) -> None:
        pool, self._with_comments = _served()
        super().__init__(service_names, pool=pool)

    async def ServerReflectionInfo(
        self, request_iterator: AsyncIterator[reflection_pb2.ServerReflectionRequest], context: Any
    ) -> AsyncIterator[reflection_pb2.ServerReflectionResponse]:
        async for response in super().ServerReflectionInfo(request_iterator, context):
            if response.HasField("file_descriptor_response"):
                files = response.file_descriptor_response.file_descriptor_proto
                served = [self._with_comments.get(_file_name(file), file) for file in files]
                del files[:]
                files.extend(served)
            yield response


def _file_name(serialized: bytes) -> str:
    return descriptor_pb2.FileDescriptorProto.FromString(serialized).name


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Serve reflection v1 and v1alpha for these services (the reflection services are added)."""
    servicer = _ReflectionWithComments([*service_names, V1ALPHA_SERVICE_NAME, V1_SERVICE_NAME])
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1 = grpc.method_handlers_generic_handler(
        V1_SERVICE_NAME,
        {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                servicer.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((v1,))
