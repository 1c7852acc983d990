"""An order's promise after a re-route: the later date wins, unfilled units withdraw it."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.service_layer.reactions import repromise


def plan(seconds: int | None) -> orders_pb2.RoutingPlan:
    found = orders_pb2.RoutingPlan()
    if seconds is not None:
        promise = common_pb2.Promise(kind=common_pb2.PROMISE_KIND_DELIVERY, at=Timestamp(seconds=seconds))
        found.promise.CopyFrom(promise)
    return found


def test_a_later_reroute_moves_the_promise() -> None:
    history = plan(1000)
    assert repromise(history, plan(2000), unfilled=False)
    assert history.promise.at.seconds == 2000


def test_an_earlier_or_equal_reroute_keeps_it() -> None:
    for rerouted in (plan(500), plan(1000), plan(None)):
        history = plan(1000)
        assert not repromise(history, rerouted, unfilled=False)
        assert history.promise.at.seconds == 1000


def test_unfilled_units_withdraw_it_once() -> None:
    history = plan(1000)
    assert repromise(history, plan(2000), unfilled=True)
    assert not history.HasField("promise")
    assert not repromise(history, plan(2000), unfilled=True)


def test_an_order_without_a_promise_gets_the_reroutes() -> None:
    history = plan(None)
    assert repromise(history, plan(3000), unfilled=False)
    assert history.promise.at.seconds == 3000
