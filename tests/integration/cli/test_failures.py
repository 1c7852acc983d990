"""A failed call reads as one clear message with its google.rpc details, never a traceback."""

from __future__ import annotations

import grpc
import pytest
import typer

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_cli.context import Caller, call_services
from omnistock_cli.failures import from_rpc_error
from omnistock_platform import errors
from omnistock_platform.auth import Role
from omnistock_platform.grpc.errors import to_status
from omnistock_platform.testing.stack import Stack, unique_id


def rpc_error(error: errors.OmnistockError) -> grpc.aio.AioRpcError:
    status = to_status(error)
    return grpc.aio.AioRpcError(
        status.code, grpc.aio.Metadata(), grpc.aio.Metadata(*status.trailing_metadata), details=status.details
    )


def test_shortfall_names_each_short_line_and_the_alternatives() -> None:
    shortfall = errors.Shortfall(
        [errors.ShortLine("STORE-HAM-ALTONA", "SOFA-VELVET-GREEN", requested=1, available=0)],
        [errors.Alternative("STORE-BER-MITTE", "Omnistock Berlin Mitte", "Berlin", 255.4, {"SOFA-VELVET-GREEN": 1})],
    )
    failure = from_rpc_error(rpc_error(shortfall))
    assert failure.code == "FAILED_PRECONDITION"
    assert failure.lines == [
        "short: SOFA-VELVET-GREEN at STORE-HAM-ALTONA: requested 1, available 0",
        "alternative: Omnistock Berlin Mitte (STORE-BER-MITTE), Berlin, 255.4 km: SOFA-VELVET-GREEN x1",
    ]
    assert failure.as_dict()["error"]["shortfall"]["lines"][0]["available"] == 0


def test_a_short_line_at_no_one_location_reads_as_any_location() -> None:
    """Routing short everywhere (an order edit, an order) names no location: not "at :"."""
    shortfall = errors.Shortfall([errors.ShortLine("", "SOFA-VELVET-GREEN", requested=2, available=0)])
    assert from_rpc_error(rpc_error(shortfall)).lines == [
        "short: SOFA-VELVET-GREEN at any location: requested 2, available 0"
    ]


def test_field_violations_are_listed() -> None:
    invalid = errors.InvalidArgument(
        [errors.FieldViolation("lines[0].quantity", "must be between 1 and 1000000"), errors.FieldViolation("a", "b")]
    )
    failure = from_rpc_error(rpc_error(invalid))
    assert failure.code == "INVALID_ARGUMENT"
    assert "field lines[0].quantity: must be between 1 and 1000000" in failure.lines
    assert "field a: b" in failure.lines
    assert failure.render().plain.startswith("INVALID_ARGUMENT: invalid request: lines[0].quantity")


async def test_calls_to_a_running_service_fail_with_code_message_and_details(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    if "inventory" not in stack.addresses:
        pytest.fail("inventory is not installed")
    settings = stack.wired_settings()

    def run_in_thread(caller: Caller, request: pb.UpsertLocationRequest) -> None:
        async def work(client: object) -> object:
            return await client.call(client.inventory.UpsertLocation, request)  # type: ignore[attr-defined]

        call_services(work, caller, settings=settings)

    import asyncio

    # call_services runs its own event loop, as a command does; here it needs its own thread.
    denied = pb.UpsertLocationRequest(request_id=unique_id("cli-"), location=pb.Location(location_id=unique_id("L")))
    with pytest.raises(typer.Exit) as exit_info:
        await asyncio.to_thread(run_in_thread, Caller(role=Role.CHAT_AGENT), denied)
    assert exit_info.value.exit_code == 1
    said = capsys.readouterr().err
    assert "PERMISSION_DENIED" in said and "Traceback" not in said

    invalid = pb.UpsertLocationRequest(request_id=unique_id("cli-"), location=pb.Location(location_id="bad id!"))
    with pytest.raises(typer.Exit):
        await asyncio.to_thread(run_in_thread, Caller(role=Role.ADMIN), invalid)
    said = capsys.readouterr().err
    assert "INVALID_ARGUMENT" in said
    assert "field location.location_id" in said and "field location.name: is required" in said
