"""Server reflection, v1 and v1alpha, serves the contract with its comments (`grpcurl describe`)."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2

from omnistock_platform.contract import descriptor_set
from omnistock_platform.grpc.reflection import V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME
from omnistock_platform.services import TABLE
from omnistock_platform.testing.stack import Stack

VERSIONS = {"v1": V1_SERVICE_NAME, "v1alpha": V1ALPHA_SERVICE_NAME}
SERVICES = {row.name: row.grpc_service for row in TABLE}
FILE_SERVICE, SERVICE_METHOD = 6, 2


async def ask(
    channel: grpc.aio.Channel, version: str, request: reflection_pb2.ServerReflectionRequest
) -> reflection_pb2.ServerReflectionResponse:
    """One request on the reflection stream, without a token: reflection is public."""
    call = channel.stream_stream(
        f"/{VERSIONS[version]}/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    responses = [response async for response in call(iter([request]), timeout=10)]
    assert len(responses) == 1
    return responses[0]


def files_of(response: reflection_pb2.ServerReflectionResponse) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    assert response.HasField("file_descriptor_response"), response
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in response.file_descriptor_response.file_descriptor_proto
    ]
    return {file.name: file for file in files}


def rpc_comments(file: descriptor_pb2.FileDescriptorProto, service: str) -> dict[str, str]:
    """The leading comment of every RPC of `service`, by method name."""
    index = next(i for i, s in enumerate(file.service) if f"{file.package}.{s.name}" == service)
    methods = file.service[index].method
    return {
        methods[location.path[3]].name: location.leading_comments
        for location in file.source_code_info.location
        if list(location.path[:3]) == [FILE_SERVICE, index, SERVICE_METHOD] and len(location.path) == 4
    }


@pytest.fixture(scope="module")
def compiled() -> dict[str, descriptor_pb2.FileDescriptorProto]:
    return {file.name: file for file in descriptor_set().file}


@pytest.mark.parametrize("version", sorted(VERSIONS))
@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_reflection_serves_the_comment_of_every_rpc(
    stack: Stack, compiled: dict[str, descriptor_pb2.FileDescriptorProto], version: str, service: str
) -> None:
    channel = stack.channel(service, token="")  # type: ignore[arg-type]
    response = await ask(
        channel, version, reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICES[service])
    )
    files = files_of(response)
    name = f"omnistock/{service}/v1/{service}.proto"
    served = rpc_comments(files[name], SERVICES[service])
    expected = rpc_comments(compiled[name], SERVICES[service])
    method_names = {method.name for s in compiled[name].service for method in s.method}
    assert set(served) == method_names, "every RPC has its comment, as the .proto has it"
    assert served == expected
    assert all(comment.strip() for comment in served.values())
    # The imports come along (grpcurl resolves the request types from them), with comments too.
    for imported in (dependency for dependency in compiled[name].dependency if dependency.startswith("omnistock/")):
        assert files[imported].source_code_info.location and files[imported] == compiled[imported]


@pytest.mark.parametrize("version", sorted(VERSIONS))
async def test_reflection_lists_both_versions_and_describes_them(stack: Stack, version: str) -> None:
    channel = stack.channel("inventory", token="")
    listed = await ask(channel, version, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = {service.name for service in listed.list_services_response.service}
    assert {SERVICES["inventory"], V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME, "grpc.health.v1.Health"} <= names
    for name in names:  # `grpcurl describe` with no argument resolves every listed service
        described = await ask(channel, version, reflection_pb2.ServerReflectionRequest(file_containing_symbol=name))
        files = files_of(described)
        assert any(f"{file.package}.{s.name}" == name for file in files.values() for s in file.service), name
    unknown = await ask(channel, version, reflection_pb2.ServerReflectionRequest(file_containing_symbol="no.Such"))
    assert unknown.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
