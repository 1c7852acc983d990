"""A pick reported on a task withdrawn meanwhile: what it says is missing from the shelf."""

from __future__ import annotations

from datetime import UTC, datetime

from omnistock_fulfilment.domain.task import (
    Action,
    Task,
    TaskKind,
    TaskLine,
    TaskStatus,
    confirm_pick,
    missing_after_withdrawal,
)

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def pick_task(status: TaskStatus = TaskStatus.PICKING) -> Task:
    lines = (TaskLine("SKU-A", 2), TaskLine("SKU-B", 1))
    return Task(task_id="T-1", kind=TaskKind.PICK, location_id="LOC-1", status=status, lines=lines, promise_at=NOW)


def withdrawn(task: Task, reason: str = "order cancelled") -> Task:
    return task.apply(Action.WITHDRAW, withdrawn_reason=reason)


def test_a_task_withdrawn_while_it_was_picked_reports_what_the_pick_found_missing() -> None:
    assert missing_after_withdrawal(withdrawn(pick_task()), {"SKU-A": 1}) == {"SKU-A": 1}
    assert missing_after_withdrawal(withdrawn(pick_task(TaskStatus.OPEN)), {"SKU-B": 0}) == {"SKU-B": 1}
    assert missing_after_withdrawal(withdrawn(pick_task()), {}) == {}  # everything found


def test_a_task_still_to_pick_or_whose_pick_was_confirmed_reports_nothing() -> None:
    assert missing_after_withdrawal(pick_task(), {"SKU-A": 1}) == {}  # the pick itself writes it off
    picked, _ = confirm_pick(pick_task(), {"SKU-A": 1})
    assert missing_after_withdrawal(withdrawn(picked), {"SKU-A": 0}) == {}
    nothing, _ = confirm_pick(pick_task(), {"SKU-A": 0, "SKU-B": 0})
    assert nothing.status is TaskStatus.WITHDRAWN
    assert missing_after_withdrawal(nothing, {"SKU-A": 0}) == {}
    preparation = Task(
        task_id="T-2",
        kind=TaskKind.PICKUP_PREPARATION,
        location_id="LOC-1",
        status=TaskStatus.WITHDRAWN,
        lines=(TaskLine("SKU-A", 2),),
        promise_at=NOW,
    )
    assert missing_after_withdrawal(preparation, {"SKU-A": 0}) == {}
