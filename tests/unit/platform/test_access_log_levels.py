"""The access log at the level an operator configured: a line below it is neither written nor built,
and a server error's line (warning) is written wherever info lines are not."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator

import grpc
import pytest

from omnistock_platform.grpc import access
from omnistock_platform.grpc.access import AccessLogInterceptor
from omnistock_platform.logging import configure_logging, get_logger


class Ended:
    """A call's context as the access log reads it: only its status."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


@pytest.fixture
def output(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    # The module's logger is cached on its first use: a new one sees the configuration of the test.
    monkeypatch.setattr(access, "log", get_logger("omnistock.access"))
    yield stream
    configure_logging(os.environ.get("OMNISTOCK_LOG_LEVEL", "WARNING"), json=True)


def lines(stream: io.StringIO) -> list[tuple[str, str]]:
    found = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    return [(line["code"], line["level"]) for line in found if line.get("event") == "rpc.access"]


def test_at_warning_only_server_errors_are_written(output: io.StringIO) -> None:
    configure_logging("WARNING", json=True, stream=output)
    interceptor = AccessLogInterceptor("inventory")
    for code in (grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INTERNAL):
        interceptor._write("/omnistock.inventory.v1.InventoryService/GetStock", Ended(code), 0.0, None)  # type: ignore[arg-type]
    assert lines(output) == [("INTERNAL", "warning")]


def test_at_info_every_call_is_written(output: io.StringIO) -> None:
    configure_logging("INFO", json=True, stream=output)
    interceptor = AccessLogInterceptor("inventory")
    for code in (grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INTERNAL):
        interceptor._write("/omnistock.inventory.v1.InventoryService/GetStock", Ended(code), 0.0, None)  # type: ignore[arg-type]
    assert lines(output) == [("OK", "info"), ("NOT_FOUND", "info"), ("INTERNAL", "warning")]
