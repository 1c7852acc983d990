"""The rules of a return, without a database: what may still come back, inspection covering every
unit exactly once, and a return that only moves forward."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnistock_orders.domain import returns as rules
from omnistock_orders.domain.returns import Condition, Inspected, Return, ReturnLine, ReturnSet, ReturnStatus
from omnistock_platform.errors import FailedPrecondition, InvalidArgument

AT = datetime(2026, 1, 1, tzinfo=UTC)


def a_return(status: ReturnStatus = ReturnStatus.AUTHORISED, **quantities: int) -> Return:
    lines = tuple(ReturnLine(sku, quantity) for sku, quantity in quantities.items())
    return Return("r-1", "o-1", "CHANNEL_WEB", "c-1", "ST-1", False, "", status, lines)


def test_cancelled_returns_give_their_units_back_to_what_may_be_returned() -> None:
    earlier = [a_return(A=2), a_return(ReturnStatus.CANCELLED, A=1), a_return(ReturnStatus.RECEIVED, B=1)]
    assert rules.returnable({"A": 3, "B": 1}, earlier) == {"A": 1, "B": 0}
    rules.check_returnable([ReturnLine("A", 1)], (), {"A": 1}, {}, "o-1")
    with pytest.raises(FailedPrecondition) as refused:
        rules.check_returnable([ReturnLine("A", 2), ReturnLine("C", 1)], (), {"A": 1}, {}, "o-1")
    assert [(v.type, v.subject) for v in refused.value.violations] == [
        ("RETURN_QUANTITY", "A"),
        ("RETURN_QUANTITY", "C"),
    ]


@given(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5))
def test_inspection_must_cover_every_unit_exactly(restock: int, damaged: int, off: int) -> None:
    found = a_return(A=4)
    inspected = [
        Inspected("A", condition, units)
        for condition, units in ((Condition.RESTOCK, restock), (Condition.DAMAGED, damaged), (Condition.WRITE_OFF, off))
        if units
    ]
    if restock + damaged + off == 4:
        (line,), _ = rules.inspect(found, inspected, "lines")
        assert (line.restocked, line.damaged, line.written_off) == (restock, damaged, off)
    else:
        with pytest.raises(InvalidArgument):
            rules.inspect(found, inspected, "lines")


def test_a_return_moves_only_forward() -> None:
    found = a_return(A=1)
    lines = rules.inspect(found, [Inspected("A", Condition.RESTOCK, 1)], "lines")
    received = rules.receive(found, lines, "till", AT)
    assert received.status is ReturnStatus.RECEIVED
    assert rules.receive(received, lines, "till", AT) is received  # again with the same conditions: nothing
    other = rules.inspect(found, [Inspected("A", Condition.DAMAGED, 1)], "lines")
    with pytest.raises(FailedPrecondition):
        rules.receive(received, other, "till", AT)
    with pytest.raises(FailedPrecondition):
        rules.cancel(received, "too late")
    cancelled = rules.cancel(found, "kept")
    assert rules.cancel(cancelled, "again") is cancelled
    with pytest.raises(FailedPrecondition):
        rules.receive(cancelled, lines, "till", AT)
    with pytest.raises(InvalidArgument):
        rules.inspect(found, [Inspected("A", Condition.RESTOCK, 1), Inspected("B", Condition.RESTOCK, 1)], "lines")


@given(st.integers(0, 4), st.integers(0, 4), st.integers(1, 3))
def test_a_delivered_set_may_come_back_part_by_part(sets: int, alone: int, cushions_per_set: int) -> None:
    definitions = {"SET": {"SOFA": 1, "CUSHION": cushions_per_set}}
    units = rules.as_components({"SET": sets, "CUSHION": alone}, definitions)
    # Each part as many as the sets brought, plus what was sold alone; the set SKU itself has no stock.
    assert units == {"SOFA": sets, "CUSHION": sets * cushions_per_set + alone}
    # A plain order is unchanged.
    assert rules.as_components({"CUSHION": alone}, definitions) == {"CUSHION": alone}


SOFA_SET = {"SET": {"SOFA": 1, "CUSHION": 2}}


def test_a_whole_set_stands_for_its_parts_beside_parts_named_alone() -> None:
    lines, sets = rules.asked({"SET": 2, "CUSHION": 1}, SOFA_SET)
    assert lines == (ReturnLine("SOFA", 2), ReturnLine("CUSHION", 5))
    assert sets == (ReturnSet("SET", 2, (("SOFA", 1), ("CUSHION", 2))),)
    # Without a definition a SKU is a plain line.
    assert rules.asked({"CUSHION": 1}, SOFA_SET) == ((ReturnLine("CUSHION", 1),), ())


def test_a_whole_set_only_while_every_part_of_it_may_still_come_back() -> None:
    delivered = rules.as_components({"SET": 1}, SOFA_SET)
    one_cushion_back = Return(
        "r-0", "o-1", "CHANNEL_WEB", "c-1", "ST-1", False, "", ReturnStatus.AUTHORISED, (ReturnLine("CUSHION", 1),)
    )
    lines, sets = rules.asked({"SET": 1}, SOFA_SET)
    rules.check_returnable(lines, sets, delivered, {"SET": 1}, "o-1")
    with pytest.raises(FailedPrecondition) as refused:
        rules.check_returnable(lines, sets, rules.returnable(delivered, [one_cushion_back]), {"SET": 1}, "o-1")
    assert [(v.type, v.subject) for v in refused.value.violations] == [
        ("RETURN_QUANTITY", "SET"),
        ("RETURN_QUANTITY", "CUSHION"),
    ]
    # A set returned whole counts against the sets delivered: a second is refused by its SKU.
    whole = Return("r-1", "o-1", "CHANNEL_WEB", "c-1", "ST-1", False, "", ReturnStatus.RECEIVED, lines, sets=sets)
    assert rules.sets_returnable({"SET": 1}, [whole]) == {"SET": 0}
    # A set and a cushion together ask three cushions of the two delivered.
    mixed = rules.asked({"SET": 1, "CUSHION": 1}, SOFA_SET)
    with pytest.raises(FailedPrecondition) as too_many:
        rules.check_returnable(*mixed, delivered, {"SET": 1}, "o-1")
    assert [v.subject for v in too_many.value.violations] == ["CUSHION"]


def test_a_set_inspected_by_its_sku_gives_every_part_its_condition() -> None:
    lines, sets = rules.asked({"SET": 2, "CUSHION": 1}, SOFA_SET)
    found = Return("r-1", "o-1", "CHANNEL_WEB", "c-1", "ST-1", False, "", ReturnStatus.AUTHORISED, lines, sets=sets)
    inspected_lines, inspected_sets = rules.inspect(
        found,
        [
            Inspected("SET", Condition.RESTOCK, 1),
            Inspected("SET", Condition.DAMAGED, 1),
            Inspected("CUSHION", Condition.WRITE_OFF, 1),
        ],
        "lines",
    )
    assert [(line.sku, line.restocked, line.damaged, line.written_off) for line in inspected_lines] == [
        ("SOFA", 1, 1, 0),
        ("CUSHION", 2, 2, 1),
    ]
    assert [(item.restocked, item.damaged, item.written_off) for item in inspected_sets] == [(1, 1, 0)]
    # The parts of a set not inspected by its SKU are inspected one by one; more sets than returned is refused.
    by_parts = rules.inspect(
        found, [Inspected("SOFA", Condition.RESTOCK, 2), Inspected("CUSHION", Condition.DAMAGED, 5)], "lines"
    )
    assert [(line.restocked, line.damaged) for line in by_parts[0]] == [(2, 0), (0, 5)]
    with pytest.raises(InvalidArgument):
        rules.inspect(found, [Inspected("SET", Condition.RESTOCK, 3)], "lines")
