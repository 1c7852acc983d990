"""An order's hold never runs out before the pickup it promises (within inventory's longest hold)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.service_layer.holding import lasting_past_promise

NOW = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
CEILING = timedelta(days=14)


def plan_promising(kind: int, after: timedelta) -> orders_pb2.RoutingPlan:
    plan = orders_pb2.RoutingPlan()
    plan.promise.kind = kind  # type: ignore[assignment]
    plan.promise.at.FromDatetime(NOW + after)
    return plan


@given(
    ttl=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=7)),
    after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    kind=st.sampled_from(
        [
            common_pb2.PROMISE_KIND_PICKUP,
            common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER,
            common_pb2.PROMISE_KIND_PICKUP_ON_RECEIPT,
        ]
    ),
)
def test_a_pickup_promise_is_outlived_by_the_hold_up_to_the_ceiling(
    ttl: timedelta, after: timedelta, kind: int
) -> None:
    after = timedelta(seconds=int(after.total_seconds()))  # the promise is kept to the microsecond anyway
    lasting = lasting_past_promise(ttl, plan_promising(kind, after), ceiling=CEILING, now=NOW)
    assert ttl <= lasting <= max(ttl, CEILING)
    if after <= ttl:
        assert lasting == ttl  # nothing changes when the hold outlives the promise already
    else:
        assert lasting == min(CEILING, after + ttl)


def test_a_delivery_or_no_promise_keeps_the_hold_time() -> None:
    far = timedelta(days=9)
    delivery = plan_promising(common_pb2.PROMISE_KIND_DELIVERY, far)
    assert lasting_past_promise(timedelta(days=3), delivery, ceiling=CEILING, now=NOW) == timedelta(days=3)
    assert lasting_past_promise(timedelta(days=3), orders_pb2.RoutingPlan(), ceiling=CEILING, now=NOW) == timedelta(
        days=3
    )
