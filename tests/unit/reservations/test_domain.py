"""The reservation's rules, without a database: the state machine and pickup codes.

Pure tests; they live with the reservations tests so that the service's suite runs as one."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnistock.common.v1 import common_pb2
from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform.errors import InvalidArgument, Shortfall, ShortLine
from omnistock_platform.owners import order_of, reservation_of
from omnistock_platform.owners import reservation_owner as owner_of
from omnistock_reservations.domain.holds import derived_request_id, hold_request_id
from omnistock_reservations.domain.pickup_code import (
    ALPHABET,
    LENGTH,
    is_pickup_code,
    new_pickup_code,
    normalize_pickup_code,
)
from omnistock_reservations.domain.reservation import Customer, Failure, Limits, Line, Reservation
from omnistock_reservations.domain.status import (
    CLOSED,
    HOLDING,
    OPEN,
    RULES,
    Action,
    InvalidTransition,
    Status,
    allowed,
    next_status,
)
from omnistock_reservations.service_layer.creating import validate

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
statuses = st.sampled_from(list(Status))
actions = st.sampled_from(list(Action))


def reservation(status: Status = Status.PENDING) -> Reservation:
    return Reservation(
        reservation_id="R1",
        request_id="REQ1",
        channel="chat",
        customer=Customer("C1"),
        store_id="S1",
        lines=[Line("SKU-1", 1)],
        pickup_code="ABC234",
        hold_for=timedelta(days=2),
        status=status,
        created_at=NOW,
        hold_id="H1" if status in HOLDING else "",
        expires_at=NOW + timedelta(days=2),
    )


def apply(found: Reservation, action: Action) -> None:
    steps = {
        Action.ACTIVATE: lambda: found.activate("H1", NOW + timedelta(days=2)),
        Action.FAIL: lambda: found.fail(Failure("short"), NOW),
        Action.MARK_READY: lambda: found.mark_ready(NOW),
        Action.EXTEND: lambda: found.extend(NOW + timedelta(days=3)),
        Action.CANCEL: lambda: found.cancel("changed mind", NOW),
        Action.EXPIRE: lambda: found.expire(NOW),
        Action.COLLECT: lambda: found.collect(NOW),
        Action.CONVERT: lambda: found.convert("O1", NOW),
        Action.AWAIT_TRANSFER: lambda: found.await_transfer("H0", NOW + timedelta(days=4), "T1", NOW + timedelta(2)),
        Action.ARRIVE: lambda: found.arrive("H2", NOW + timedelta(days=4), {"SKU-1": 1}, NOW),
    }
    steps[action]()


def test_the_lifecycle_in_words() -> None:
    assert next_status("R", Status.PENDING, Action.ACTIVATE) is Status.ACTIVE
    assert next_status("R", Status.PENDING, Action.FAIL) is Status.FAILED
    assert next_status("R", Status.ACTIVE, Action.MARK_READY) is Status.READY_FOR_PICKUP
    assert next_status("R", Status.READY_FOR_PICKUP, Action.COLLECT) is Status.COLLECTED
    assert next_status("R", Status.ACTIVE, Action.COLLECT) is Status.COLLECTED
    assert next_status("R", Status.READY_FOR_PICKUP, Action.EXTEND) is Status.READY_FOR_PICKUP
    assert next_status("R", Status.PENDING, Action.EXPIRE) is Status.EXPIRED
    for forbidden in (
        (Status.PENDING, Action.COLLECT),
        (Status.PENDING, Action.CANCEL),
        (Status.FAILED, Action.ACTIVATE),
        (Status.EXPIRED, Action.COLLECT),
        (Status.COLLECTED, Action.CANCEL),
        (Status.CANCELLED, Action.EXTEND),
        (Status.READY_FOR_PICKUP, Action.MARK_READY),
    ):
        with pytest.raises(InvalidTransition):
            next_status("R", *forbidden)


@given(statuses, actions)
def test_a_transition_happens_exactly_when_the_rules_allow_it(status: Status, action: Action) -> None:
    found = reservation(status)
    if allowed(status, action):
        apply(found, action)
        target = RULES[action][1]
        assert found.status is (status if target is None else target)
    else:
        with pytest.raises(InvalidTransition) as refused:
            apply(found, action)
        assert status.label in refused.value.message  # the caller is told the state
        assert found.status is status


@given(statuses, actions)
def test_closed_is_final_and_only_open_reservations_move(status: Status, action: Action) -> None:
    if status in CLOSED:
        assert not allowed(status, action)
    if allowed(status, action):
        assert status in OPEN


@given(st.lists(actions, max_size=12))
def test_any_sequence_of_actions_keeps_the_invariants(sequence: list[Action]) -> None:
    found = reservation()
    for action in sequence:
        before = found.status
        try:
            apply(found, action)
        except InvalidTransition:
            assert found.status is before
            continue
        if found.status in HOLDING:
            assert found.hold_id and found.expires_at is not None
        if found.status in CLOSED:
            assert found.closed_at is not None
        if found.status is Status.FAILED:
            assert found.hold_id == "" and "created" not in found.events  # it never held stock
    # Every event names a change that happened, at most once for each closing one.
    closing = [event for event in found.events if event in {"cancelled", "expired", "collected", "converted"}]
    assert len(closing) <= 1
    assert found.events.count("created") <= 1


def test_extension_is_bounded_from_creation() -> None:
    found = reservation(Status.ACTIVE)
    assert found.extension_limit(timedelta(days=7)) == NOW + timedelta(days=7)


def test_failure_keeps_the_shortfall_for_a_retry() -> None:
    found = reservation()
    short = Shortfall([ShortLine("S1", "SKU-1", 2, 1)])
    found.fail(Failure(short.message, short), NOW)
    assert found.failure is not None and found.failure.shortfall is short


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)))
def test_hold_for_zero_means_the_default_and_bounds_apply(requested: timedelta) -> None:
    limits = Limits(10, 5, timedelta(days=2), timedelta(seconds=1), timedelta(days=7))
    chosen = limits.hold_for(requested)
    assert chosen == (requested or timedelta(days=2))
    assert limits.hold_in_bounds(chosen) == (timedelta(seconds=1) <= chosen <= timedelta(days=7))


@given(st.randoms(use_true_random=False))
def test_pickup_codes_are_short_and_unambiguous(rng: random.Random) -> None:
    code = new_pickup_code(rng.choice)
    assert len(code) == LENGTH and is_pickup_code(code)
    assert not set(code) & set("0O1IL")
    assert normalize_pickup_code(code) == code


@given(st.text(alphabet=ALPHABET, min_size=LENGTH, max_size=LENGTH), st.sampled_from(["", " ", "-"]))
def test_a_code_read_back_in_lower_case_or_groups_is_the_same_code(code: str, separator: str) -> None:
    typed = f" {code[:3]}{separator}{code[3:]} ".lower()
    assert normalize_pickup_code(typed) == code
    assert is_pickup_code(normalize_pickup_code(typed))


@given(
    st.text(alphabet=ALPHABET, min_size=LENGTH, max_size=LENGTH),
    st.integers(min_value=0, max_value=LENGTH - 1),
    st.sampled_from("0O1IL"),
)
def test_a_confusable_character_never_makes_a_code(code: str, position: int, confusable: str) -> None:
    assert is_pickup_code(code)
    assert not is_pickup_code(code[:position] + confusable + code[position + 1 :])
    assert not is_pickup_code(code[:-1]) and not is_pickup_code(code + code[0])


def test_codes_spread_over_the_alphabet() -> None:
    codes = {new_pickup_code() for _ in range(2000)}
    # 31**6 codes: 2,000 draws collide once in about 440 runs, more than a handful only when the
    # generator is broken (the store's unique index turns a real collision into a new draw).
    assert len(codes) >= 1995
    assert set("".join(codes)) == set(ALPHABET)


@given(st.uuids())
def test_hold_names_are_stable_and_point_back_to_the_reservation(reservation_uuid: object) -> None:
    reservation_id = str(reservation_uuid)
    assert reservation_of(owner_of(reservation_id)) == reservation_id
    assert reservation_of(f"order:{reservation_id}") is None and order_of(f"order:{reservation_id}") == reservation_id
    assert hold_request_id(reservation_id) == hold_request_id(reservation_id)
    assert derived_request_id(reservation_id, "commit") == derived_request_id(reservation_id, "commit")
    assert derived_request_id(reservation_id, "commit") != derived_request_id(reservation_id, "release")


def test_ship_to_store_waits_for_the_transfer_then_is_ready_with_what_arrived() -> None:
    found = reservation()
    found.lines = [Line("SKU-1", 3), Line("SKU-2", 1)]
    found.await_transfer("H-ORIGIN", NOW + timedelta(days=4), "T1", NOW + timedelta(days=2))
    assert (found.status, found.hold_id, found.transfer_id) == (Status.AWAITING_TRANSFER, "H-ORIGIN", "T1")
    assert found.status in OPEN and found.status not in HOLDING
    with pytest.raises(InvalidTransition):
        found.collect(NOW)  # nothing to collect before the units arrive
    found.arrive("H-STORE", NOW + timedelta(days=2), {"SKU-1": 2, "SKU-2": 4}, NOW)
    assert found.status is Status.READY_FOR_PICKUP and found.hold_id == "H-STORE"
    assert found.lines == [Line("SKU-1", 2), Line("SKU-2", 1)]  # more than waited for is not taken
    assert found.shorted == {"SKU-1": 1}
    assert found.events == ["created", "shorted", "ready"]


def test_ship_to_store_with_nothing_arriving_is_cancelled_and_says_so() -> None:
    found = reservation()
    found.await_transfer("H-ORIGIN", NOW + timedelta(days=4), "T1", NOW + timedelta(days=2))
    found.arrive("", NOW, {}, NOW)
    assert found.status is Status.CANCELLED and found.shorted == {"SKU-1": 1}
    assert found.events[-2:] == ["shorted", "cancelled"]


def test_a_hold_out_of_bounds_is_refused_in_durations_as_callers_write_them() -> None:
    limits = Limits(10, 5, timedelta(days=2), timedelta(seconds=1), timedelta(days=7))
    request = pb.CreateReservationRequest(
        request_id="r-1",
        channel=common_pb2.CHANNEL_CHAT,
        customer=pb.Customer(customer_id="C-1", name="Ada"),
        store_id="STORE-1",
        lines=[common_pb2.SkuQuantity(sku="SOFA", quantity=1)],
    )
    request.hold_for.FromTimedelta(timedelta(days=30))
    with pytest.raises(InvalidArgument) as refused:
        validate(request, limits)
    assert [v.description for v in refused.value.violations] == ["must be between 1s and 7d (zero: the default, 2d)"]
