"""The name the Connect port's loopback hop checks the service's certificate against."""

from __future__ import annotations

import pytest

from omnistock_platform.grpc.server import _dialled_name


@pytest.mark.parametrize(
    ("address", "name"),
    [
        ("dns:///inventory-headless:50051", "inventory-headless"),
        ("inventory:50051", "inventory"),
        ("127.0.0.1:50051", "127.0.0.1"),
        ("[::1]:50051", "::1"),
    ],
)
def test_the_name_others_dial(address: str, name: str) -> None:
    assert _dialled_name(address) == name
