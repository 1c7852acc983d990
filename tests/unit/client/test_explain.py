"""A NOT_FOUND answer as a sentence: what kind of thing is missing, named, however the service
spells the kind in its google.rpc.ResourceInfo, and never longer than a sentence should be."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2
from hypothesis import given
from hypothesis import strategies as st
from omnistock_client.explain import MAX_NAME, explain, not_found_of


def not_found(resource_type: str | None, name: str, message: str = "not found") -> grpc.aio.AioRpcError:
    trailing = grpc.aio.Metadata()
    if resource_type is not None:
        status = status_pb2.Status(code=code_pb2.NOT_FOUND, message=message)
        status.details.add().Pack(error_details_pb2.ResourceInfo(resource_type=resource_type, resource_name=name))
        trailing.add("grpc-status-details-bin", status.SerializeToString())
    return grpc.aio.AioRpcError(grpc.StatusCode.NOT_FOUND, grpc.aio.Metadata(), trailing, details=message)


@pytest.mark.parametrize(
    ("resource_type", "noun"),
    [
        ("sku", "product with the SKU code"),
        ("SKU", "product with the SKU code"),
        ("omnistock.inventory.v1.Sku", "product with the SKU code"),
        ("type.googleapis.com/omnistock.inventory.v1.Location", "store or warehouse"),
        ("location", "store or warehouse"),
        ("reservation", "reservation"),
        ("order", "order"),
        ("pickup_code", "pickup code"),
    ],
)
def test_the_missing_thing_is_named_in_plain_words(resource_type: str, noun: str) -> None:
    error = not_found(resource_type, "SOFA-VELVET-PINK")
    assert explain(error) == f"Omnistock has no {noun} SOFA-VELVET-PINK."
    assert not_found_of(error) is not None


def test_without_resource_info_the_message_is_passed_on() -> None:
    assert explain(not_found(None, "", "reservation 'r-1' not found")) == "Not found: reservation 'r-1' not found."


def test_other_answers_are_not_not_found() -> None:
    refused = grpc.aio.AioRpcError(grpc.StatusCode.FAILED_PRECONDITION, grpc.aio.Metadata(), grpc.aio.Metadata())
    assert not_found_of(refused) is None


@given(name=st.text(min_size=1, max_size=5000))
def test_a_name_is_repeated_at_most_max_name_characters(name: str) -> None:
    sentence = explain(not_found("sku", name))
    assert sentence.startswith("Omnistock has no product with the SKU code ")
    assert len(sentence) <= len("Omnistock has no product with the SKU code .") + MAX_NAME + 1
