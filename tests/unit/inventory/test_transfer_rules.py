"""The rules of a transfer on their own: which status may do what, a draft checked as a whole, a
receipt that books every difference, and the in-transit invariant."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnistock_inventory.domain.transfers import (
    MAX_LINES,
    Arrival,
    TransferLine,
    TransferStatus,
    TransitLine,
    book_receipt,
    ensure_can,
    in_transit,
    lead_days,
    lead_time,
    transit_problems,
    validate_draft,
)
from omnistock_platform.errors import FailedPrecondition, InvalidArgument, Reason


@pytest.mark.parametrize(
    ("action", "allowed"),
    [("ship", TransferStatus.DRAFT), ("cancel", TransferStatus.DRAFT), ("receive", TransferStatus.SHIPPED)],
)
def test_each_action_starts_from_exactly_one_status(action: str, allowed: TransferStatus) -> None:
    ensure_can(action, allowed, "t-1")
    for status in TransferStatus:
        if status is allowed:
            continue
        with pytest.raises(FailedPrecondition) as refused:
            ensure_can(action, status, "t-1")
        assert refused.value.reason is Reason.INVALID_STATE
        assert refused.value.violations[0].description == f"transfer is {status.value}"


def test_a_shipped_transfer_cannot_be_cancelled() -> None:
    with pytest.raises(FailedPrecondition, match="shipped"):
        ensure_can("cancel", TransferStatus.SHIPPED, "t-1")


def test_a_draft_is_returned_in_lock_order() -> None:
    lines = validate_draft("wh-1", "st-1", [TransferLine("sku-b", 2), TransferLine("sku-a", 5)])
    assert [line.sku for line in lines] == ["sku-a", "sku-b"]


def test_a_bad_draft_names_every_field_at_once() -> None:
    with pytest.raises(InvalidArgument) as refused:
        validate_draft("st-1", "st-1", [TransferLine("sku-a", 0), TransferLine("sku-a", 1), TransferLine("", 3)])
    fields = [v.field for v in refused.value.violations]
    assert fields == ["destination_location_id", "lines[0].quantity", "lines[1].sku", "lines[2].sku"]


def test_a_draft_needs_both_ends_and_a_line() -> None:
    with pytest.raises(InvalidArgument) as refused:
        validate_draft("", "", [])
    assert [v.field for v in refused.value.violations] == ["origin_location_id", "destination_location_id", "lines"]


def test_a_draft_has_a_bounded_number_of_lines() -> None:
    too_many = [TransferLine(f"sku-{i}", 1) for i in range(MAX_LINES + 1)]
    with pytest.raises(InvalidArgument) as refused:
        validate_draft("wh-1", "st-1", too_many)
    assert [v.field for v in refused.value.violations] == ["lines"]


def test_a_receipt_with_one_damaged_unit_books_it_explicitly() -> None:
    (line,) = book_receipt({"sofa": 10}, [Arrival("sofa", received=9, damaged=1)])
    assert (line.received, line.damaged, line.short, line.over) == (9, 1, 0, 0)
    assert line.written_off == 1


def test_a_line_nobody_reported_arrived_short_in_full() -> None:
    lines = book_receipt({"sofa": 3, "lamp": 2}, [Arrival("sofa", received=3)])
    assert [(line.sku, line.received, line.short) for line in lines] == [("lamp", 0, 2), ("sofa", 3, 0)]


def test_more_than_shipped_is_over_and_on_hand() -> None:
    (line,) = book_receipt({"sofa": 2}, [Arrival("sofa", received=3)])
    assert (line.received, line.short, line.over) == (3, 0, 1)


def test_more_damaged_than_shipped_is_refused_not_booked_over() -> None:
    """Three shipped, two good and five damaged: the five cannot all be written off from a shipment
    of three, and the two extra would be booked over (on hand) while only two went on hand."""
    with pytest.raises(InvalidArgument) as refused:
        book_receipt({"sofa": 3}, [Arrival("sofa", received=2, damaged=5)])
    assert [v.field for v in refused.value.violations] == ["lines[0].damaged"]
    (line,) = book_receipt({"sofa": 3}, [Arrival("sofa", received=4, damaged=3)])
    assert (line.received, line.damaged, line.short, line.over) == (4, 3, 0, 4)


def test_a_bad_receipt_is_refused_as_a_whole() -> None:
    with pytest.raises(InvalidArgument) as refused:
        book_receipt(
            {"sofa": 2},
            [Arrival("sofa", received=-1), Arrival("sofa", received=1), Arrival("chair", received=1, damaged=-2)],
        )
    fields = [v.field for v in refused.value.violations]
    assert fields == ["lines[0].received", "lines[1].sku", "lines[2].sku", "lines[2].damaged"]


@given(
    st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers(1, 1000), min_size=1),
    st.lists(st.tuples(st.integers(0, 1200), st.integers(0, 50)), min_size=4, max_size=4),
    st.sets(st.sampled_from(["a", "b", "c", "d"])),
)
def test_every_shipped_unit_is_counted_exactly_once(
    shipped: dict[str, int], found: list[tuple[int, int]], reported: set[str]
) -> None:
    arrivals = [
        Arrival(sku, received, min(damaged, shipped[sku]))
        for sku, (received, damaged) in zip("abcd", found, strict=True)
        if sku in shipped and sku in reported
    ]
    lines = book_receipt(shipped, arrivals)
    assert sorted(line.sku for line in lines) == sorted(shipped)
    for line in lines:
        assert line.shipped + line.over == line.received + line.damaged + line.short
        assert min(line.short, line.over) == 0
        assert line.over <= line.received  # over is good units on hand
        assert line.shipped == shipped[line.sku]


def _line(status: TransferStatus, shipped: int = 4, **booked: int) -> TransitLine:
    values = {"received": 0, "damaged": 0, "short": 0, "over": 0} | booked
    return TransitLine("t-1", "st-1", "sofa", status, shipped, **values)


def test_only_a_shipped_transfer_is_in_transit() -> None:
    assert [in_transit(_line(status)) for status in TransferStatus] == [0, 4, 0, 0]


def test_the_books_agree_when_in_transit_equals_the_open_lines() -> None:
    lines = [_line(TransferStatus.SHIPPED), _line(TransferStatus.RECEIVED, received=3, damaged=1)]
    assert transit_problems(lines, {("st-1", "sofa"): 4}) == []


def test_units_in_transit_twice_or_lost_are_reported() -> None:
    assert transit_problems([_line(TransferStatus.SHIPPED)], {("st-1", "sofa"): 8}) == [
        ("st-1/sofa", "in transit 8, open transfers say 4")
    ]
    assert transit_problems([], {("st-1", "sofa"): 1}) == [("st-1/sofa", "in transit 1, open transfers say 0")]


def test_a_received_line_that_does_not_balance_is_reported() -> None:
    problems = transit_problems([_line(TransferStatus.RECEIVED, received=3)], {})
    assert problems == [("t-1/sofa", "shipped 4 + over 0 != received 3 + damaged 0 + short 0")]


def test_lead_time_is_the_pairs_own_else_the_origin_kinds() -> None:
    pairs = lead_days("WH-1>ST-1=1, ST-2>ST-1=3")
    by_kind = {"warehouse": 2, "store": 1}
    assert lead_time("WH-1", "warehouse", "ST-1", pairs, by_kind) == timedelta(days=1)
    assert lead_time("WH-1", "warehouse", "ST-9", pairs, by_kind) == timedelta(days=2)
    assert lead_time("ST-2", "store", "ST-1", pairs, by_kind) == timedelta(days=3)
    assert lead_time("ST-3", "store", "ST-1", pairs, by_kind) == timedelta(days=1)
    with pytest.raises(ValueError):
        lead_days("WH-1=2")
