"""The task state machine and the pick arithmetic, as pure rules (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnistock_fulfilment.domain.promises import order_promise, preparation_promise
from omnistock_fulfilment.domain.task import (
    FINISHED,
    Action,
    InvalidPick,
    Method,
    Task,
    TaskKind,
    TaskLine,
    TaskStatus,
    TransitionNotAllowed,
    confirm_pick,
    merge_lines,
    next_status,
    record_pick,
)

S = TaskStatus
A = Action

# The rules written out once more, independently of the implementation's table.
EXPECTED: dict[tuple[TaskKind, TaskStatus, Action], TaskStatus] = {
    (TaskKind.PICK, S.OPEN, A.START_PICKING): S.PICKING,
    (TaskKind.PICK, S.OPEN, A.CONFIRM_PICK): S.PICKED,
    (TaskKind.PICK, S.PICKING, A.CONFIRM_PICK): S.PICKED,
    (TaskKind.PICK, S.PICKED, A.PACK): S.PACKED,
    (TaskKind.PICK, S.PACKED, A.SHIP): S.SHIPPED,
    **{(TaskKind.PICK, s, A.WITHDRAW): S.WITHDRAWN for s in (S.OPEN, S.PICKING, S.PICKED, S.PACKED)},
    (TaskKind.PICKUP_PREPARATION, S.OPEN, A.START_PICKING): S.PICKING,
    (TaskKind.PICKUP_PREPARATION, S.OPEN, A.MARK_READY): S.READY_FOR_PICKUP,
    (TaskKind.PICKUP_PREPARATION, S.PICKING, A.MARK_READY): S.READY_FOR_PICKUP,
    **{(TaskKind.PICKUP_PREPARATION, s, A.HAND_OVER): S.HANDED_OVER for s in (S.OPEN, S.PICKING, S.READY_FOR_PICKUP)},
    **{(TaskKind.PICKUP_PREPARATION, s, A.WITHDRAW): S.WITHDRAWN for s in (S.OPEN, S.PICKING, S.READY_FOR_PICKUP)},
}

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def task(kind: TaskKind, status: TaskStatus = S.OPEN, lines: tuple[TaskLine, ...] = (TaskLine("SKU-A", 2),)) -> Task:
    return Task(task_id="T-1", kind=kind, location_id="LOC-1", status=status, lines=lines, promise_at=NOW)


@given(st.sampled_from(TaskKind), st.sampled_from(TaskStatus), st.sampled_from(Action))
def test_every_transition_is_exactly_the_allowed_one(kind: TaskKind, status: TaskStatus, action: Action) -> None:
    expected = EXPECTED.get((kind, status, action))
    if expected is None:
        with pytest.raises(TransitionNotAllowed):
            next_status(kind, status, action)
    else:
        assert next_status(kind, status, action) is expected


def test_an_action_a_kind_never_takes_says_so_not_that_its_status_is_wrong() -> None:
    """`omnistock ready` on an order's pick task read "a pick task that is open can not mark ready",
    as if it would once picked; it never is, and a preparation is never packed or shipped."""
    with pytest.raises(TransitionNotAllowed) as ready:
        next_status(TaskKind.PICK, S.PICKED, A.MARK_READY)
    assert str(ready.value) == (
        "a pick task is never marked ready for pickup: only a pickup preparation is; an order's task is"
        " picked, packed and shipped (a pickup order's is shipped as it is handed over)"
    )
    assert [v.type for v in ready.value.violations] == ["TASK_KIND"]
    with pytest.raises(TransitionNotAllowed) as shipped:
        next_status(TaskKind.PICKUP_PREPARATION, S.OPEN, A.SHIP)
    assert str(shipped.value) == (
        "a pickup preparation is never shipped: only a pick task is; a reservation's is marked ready,"
        " then handed over with the customer's code"
    )
    with pytest.raises(TransitionNotAllowed) as packed:
        next_status(TaskKind.PICK, S.OPEN, A.PACK)
    assert [v.type for v in packed.value.violations] == ["TASK_STATUS"]


@given(st.sampled_from(TaskKind), st.lists(st.sampled_from(Action), max_size=12))
def test_any_sequence_of_actions_only_moves_forward_and_never_leaves_a_finished_task(
    kind: TaskKind, actions: list[Action]
) -> None:
    current = task(kind)
    visited = [current.status]
    for action in actions:
        if current.finished:
            with pytest.raises(TransitionNotAllowed):
                current.apply(action)
            continue
        try:
            current = current.apply(action)
        except TransitionNotAllowed:
            continue
        visited.append(current.status)
    # No status is ever entered twice: the machine has no cycles.
    assert len(visited) == len(set(visited))
    assert all(status not in FINISHED for status in visited[:-1])


@given(st.sampled_from(sorted(FINISHED, key=lambda s: s.value)), st.sampled_from(Action), st.sampled_from(TaskKind))
def test_finished_work_is_never_withdrawn_or_redone(status: TaskStatus, action: Action, kind: TaskKind) -> None:
    with pytest.raises(TransitionNotAllowed):
        next_status(kind, status, action)


def test_a_pick_task_never_hands_over_and_a_preparation_never_ships() -> None:
    for status in TaskStatus:
        with pytest.raises(TransitionNotAllowed):
            next_status(TaskKind.PICK, status, A.HAND_OVER)
        with pytest.raises(TransitionNotAllowed):
            next_status(TaskKind.PICKUP_PREPARATION, status, A.SHIP)


quantities = st.dictionaries(st.sampled_from(["A", "B", "C", "D"]), st.integers(1, 50), min_size=1)


@given(quantities, st.data())
def test_a_pick_accounts_for_every_unit(wanted: dict[str, int], data: st.DataObject) -> None:
    lines = tuple(TaskLine(sku, quantity) for sku, quantity in wanted.items())
    mentioned = data.draw(st.lists(st.sampled_from(sorted(wanted)), unique=True))
    found = {sku: data.draw(st.integers(0, wanted[sku])) for sku in mentioned}
    result = record_pick(lines, found)
    for line in result.lines:
        assert line.picked == found.get(line.sku, line.quantity)
        assert line.picked + result.short.get(line.sku, 0) == line.quantity
    assert all(units > 0 for units in result.short.values())
    assert result.nothing_found == all(line.picked == 0 for line in result.lines)


@given(quantities, st.integers(1, 10))
def test_more_than_asked_or_an_unknown_sku_is_refused(wanted: dict[str, int], extra: int) -> None:
    lines = tuple(TaskLine(sku, quantity) for sku, quantity in wanted.items())
    sku = sorted(wanted)[0]
    with pytest.raises(InvalidPick):
        record_pick(lines, {sku: wanted[sku] + extra})
    with pytest.raises(InvalidPick):
        record_pick(lines, {sku: -extra})
    with pytest.raises(InvalidPick):
        record_pick(lines, {"NOT-ON-TASK": 0})


def test_a_pick_that_found_nothing_withdraws_the_task_and_reports_everything_short() -> None:
    picked, result = confirm_pick(task(TaskKind.PICK, S.PICKING), {"SKU-A": 0})
    assert picked.status is S.WITHDRAWN
    assert result.short == {"SKU-A": 2}
    assert picked.withdrawn_reason


def test_a_partial_pick_keeps_the_task_and_ships_only_what_was_found() -> None:
    lines = (TaskLine("SKU-A", 2), TaskLine("SKU-B", 1))
    picked, result = confirm_pick(task(TaskKind.PICK, S.PICKING, lines), {"SKU-A": 1})
    assert picked.status is S.PICKED
    assert result.short == {"SKU-A": 1}
    assert picked.picked_lines() == {"SKU-A": 1, "SKU-B": 1}


@given(st.lists(st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(0, 5))))
def test_merged_lines_keep_every_unit_once_per_sku(raw: list[tuple[str, int]]) -> None:
    merged = merge_lines(raw)
    assert len({line.sku for line in merged}) == len(merged)
    for line in merged:
        assert line.quantity == sum(quantity for sku, quantity in raw if sku == line.sku) > 0


@given(st.sampled_from(Method), st.datetimes(max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_an_order_is_promised_after_it_was_placed(method: Method, placed: datetime) -> None:
    assert order_promise(placed, method) > placed


def test_a_preparation_is_due_before_the_reservation_runs_out() -> None:
    assert preparation_promise(NOW, NOW + timedelta(days=2)) == NOW + timedelta(hours=4)
    assert preparation_promise(NOW, NOW + timedelta(hours=1)) == NOW + timedelta(hours=1)
    assert preparation_promise(NOW, None) == NOW + timedelta(hours=4)


def test_work_is_due_when_the_customer_was_promised_it() -> None:
    promised = NOW + timedelta(days=2)
    assert order_promise(NOW, Method.PICKUP, promised) == promised
    assert order_promise(NOW, Method.PICKUP, NOW + timedelta(minutes=30)) == NOW + timedelta(minutes=30)
    # A parcel leaves before its delivery day: due the fixed time after the order, unless that day
    # comes first.
    assert order_promise(NOW, Method.SHIP, promised) == NOW + timedelta(hours=24)
    assert order_promise(NOW, Method.SHIP, NOW + timedelta(hours=20)) == NOW + timedelta(hours=20)
    assert preparation_promise(NOW, NOW + timedelta(days=3), promised) == promised
    assert preparation_promise(NOW, NOW + timedelta(days=1), promised) == NOW + timedelta(days=1)
