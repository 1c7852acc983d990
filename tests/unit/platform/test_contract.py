"""The contract follows buf's style guide: checked on the generated descriptors of every .proto."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FileDescriptor

PROTOS = Path(__file__).resolve().parents[3] / "protos"
PROTO_FILES = sorted(path.relative_to(PROTOS).as_posix() for path in PROTOS.rglob("*.proto"))
READ_ONLY_PREFIXES = ("Get", "List", "Watch", "BatchGet", "Find", "Quote")
LOWER_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
PASCAL = re.compile(r"^[A-Z][A-Za-z0-9]*$")


def upper_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def descriptor_of(proto: str) -> FileDescriptor:
    module = importlib.import_module(proto.removesuffix(".proto").replace("/", ".") + "_pb2")
    return module.DESCRIPTOR  # type: ignore[no-any-return]


def all_messages(file: FileDescriptor) -> Iterator[Descriptor]:
    def walk(message: Descriptor) -> Iterator[Descriptor]:
        yield message
        for nested in message.nested_types:
            yield from walk(nested)

    for message in file.message_types_by_name.values():
        yield from walk(message)


def all_enums(file: FileDescriptor) -> Iterator[EnumDescriptor]:
    yield from file.enum_types_by_name.values()
    for message in all_messages(file):
        yield from message.enum_types


def test_every_service_has_a_proto() -> None:
    services = {path.name for path in (PROTOS / "omnistock").iterdir() if path.is_dir()}
    assert {"inventory", "reservations", "orders", "fulfilment", "common"} <= services
    assert len(PROTO_FILES) >= 5


def test_the_checks_below_have_something_to_check() -> None:
    files = [descriptor_of(proto) for proto in PROTO_FILES]
    methods = [m.name for f in files for s in f.services_by_name.values() for m in s.methods]
    assert len(methods) > 40
    assert any(name.startswith("List") for name in methods)
    assert any(not name.startswith(READ_ONLY_PREFIXES) for name in methods)
    assert len([e for f in files for e in all_enums(f)]) >= 10
    assert len([m for f in files for m in all_messages(f)]) > 50


def test_upper_snake() -> None:
    assert upper_snake("HoldState") == "HOLD_STATE"
    assert upper_snake("PassOverReason") == "PASS_OVER_REASON"
    assert upper_snake("Channel") == "CHANNEL"


@pytest.mark.parametrize("proto", PROTO_FILES)
def test_package_matches_the_directory(proto: str) -> None:
    directory = proto.rsplit("/", 1)[0]
    match = re.fullmatch(r"omnistock/([a-z]+)/(v[0-9]+)", directory)
    assert match, f"{proto} is not under omnistock/<service>/v<N>/"
    file = descriptor_of(proto)
    assert file.name == proto
    assert file.package == directory.replace("/", ".")


@pytest.mark.parametrize("proto", PROTO_FILES)
def test_services_and_methods_are_named_by_convention(proto: str) -> None:
    problems = []
    for service in descriptor_of(proto).services_by_name.values():
        if not service.name.endswith("Service"):
            problems.append(f"service {service.name} does not end in Service")
        for method in service.methods:
            if not PASCAL.match(method.name):
                problems.append(f"{method.name} is not PascalCase")
            if method.input_type.name != f"{method.name}Request":
                problems.append(f"{method.name} takes {method.input_type.name}")
            if method.output_type.name != f"{method.name}Response":
                problems.append(f"{method.name} returns {method.output_type.name}")
            if method.input_type.file is not method.containing_service.file:
                problems.append(f"{method.name}'s request is defined in another file")
    assert problems == []


@pytest.mark.parametrize("proto", PROTO_FILES)
def test_every_change_takes_a_request_id_first(proto: str) -> None:
    problems = []
    for service in descriptor_of(proto).services_by_name.values():
        for method in service.methods:
            if method.name.startswith(READ_ONLY_PREFIXES):
                continue
            field = method.input_type.fields_by_name.get("request_id")
            if field is None:
                problems.append(f"{method.input_type.name} has no request_id")
            elif field.number != 1 or field.type != field.TYPE_STRING or field.is_repeated:
                problems.append(f"{method.input_type.name}.request_id is not `string request_id = 1`")
    assert problems == []


@pytest.mark.parametrize("proto", PROTO_FILES)
def test_lists_are_paginated(proto: str) -> None:
    problems = []
    for service in descriptor_of(proto).services_by_name.values():
        for method in service.methods:
            if not method.name.startswith("List"):
                continue
            request, response = method.input_type.fields_by_name, method.output_type.fields_by_name
            for name, kind in (("page_size", "TYPE_INT32"), ("page_token", "TYPE_STRING")):
                if name not in request or request[name].type != getattr(request[name], kind):
                    problems.append(f"{method.input_type.name} lacks {kind.lower()[5:]} {name}")
            token = response.get("next_page_token")
            if token is None or token.type != token.TYPE_STRING:
                problems.append(f"{method.output_type.name} lacks string next_page_token")
    assert problems == []


@pytest.mark.parametrize("proto", PROTO_FILES)
def test_enums_have_an_unspecified_zero_and_prefixed_values(proto: str) -> None:
    problems = []
    for enum in all_enums(descriptor_of(proto)):
        prefix = upper_snake(enum.name)
        zero = enum.values_by_number.get(0)
        if zero is None or zero.name != f"{prefix}_UNSPECIFIED":
            problems.append(f"{enum.full_name}: zero value is not {prefix}_UNSPECIFIED")
        problems.extend(
            f"{enum.full_name}.{value.name} is not prefixed {prefix}_"
            for value in enum.values
            if not value.name.startswith(f"{prefix}_")
        )
    assert problems == []


@pytest.mark.parametrize("proto", PROTO_FILES)
def test_names_are_cased_by_convention(proto: str) -> None:
    problems = []
    for message in all_messages(descriptor_of(proto)):
        if not PASCAL.match(message.name):
            problems.append(f"message {message.full_name} is not PascalCase")
        problems.extend(
            f"{message.full_name}.{field.name} is not lower_snake_case"
            for field in message.fields
            if not LOWER_SNAKE.match(field.name)
        )
    assert problems == []
