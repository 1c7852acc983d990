"""The client's wait between attempts: its own jittered backoff, never sooner than the service asked."""

from __future__ import annotations

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2
from hypothesis import given
from hypothesis import strategies as st
from omnistock_client.client import MAX_SERVER_DELAY, RetryPolicy


def refused(code: grpc.StatusCode, retry_after: float | None) -> grpc.aio.AioRpcError:
    """A failed call as the client sees it, with the service's RetryInfo when given."""
    trailing = grpc.aio.Metadata()
    if retry_after is not None:
        status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message="busy")
        info = error_details_pb2.RetryInfo(retry_delay=Duration(nanos=int(retry_after % 1 * 1e9)))
        info.retry_delay.seconds = int(retry_after)
        status.details.add().Pack(info)
        trailing.add("grpc-status-details-bin", status.SerializeToString())
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, details="busy")


@given(attempt=st.integers(0, 10), asked=st.floats(0.0, 120.0))
def test_never_sooner_than_the_service_asked_nor_longer_than_the_cap(attempt: int, asked: float) -> None:
    policy = RetryPolicy(first_backoff=0.1, max_backoff=2.0)
    waited = policy.wait(attempt, refused(grpc.StatusCode.RESOURCE_EXHAUSTED, asked))
    assert waited >= min(asked, MAX_SERVER_DELAY) - 1e-6
    assert waited <= max(min(asked, MAX_SERVER_DELAY), policy.max_backoff) + 1e-6


@given(attempt=st.integers(0, 10))
def test_without_retry_info_the_backoff_alone_decides(attempt: int) -> None:
    policy = RetryPolicy(first_backoff=0.1, max_backoff=2.0)
    waited = policy.wait(attempt, refused(grpc.StatusCode.UNAVAILABLE, None))
    assert 0.0 <= waited <= min(policy.max_backoff, policy.first_backoff * 2**attempt)
