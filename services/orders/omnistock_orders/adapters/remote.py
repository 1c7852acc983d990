"""Calls to other services, with their failures turned back into Omnistock errors."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import grpc

from omnistock_platform.errors import Unavailable
from omnistock_platform.grpc.errors import error_from_rpc

T = TypeVar("T")


async def call(service: str, pending: Awaitable[T]) -> T:
    try:
        return await pending
    except grpc.aio.AioRpcError as error:
        known = error_from_rpc(error)
        if known is not None:
            raise known from error
        # Timeouts, a service away, its internal errors: the caller may retry with the same request id.
        raise Unavailable(f"{service} did not answer: {error.code().name} {error.details() or ''}".strip()) from error
