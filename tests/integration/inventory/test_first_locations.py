"""BatchGetStock's first_locations: only the first locations, in the caller's order, that stock any of
the SKUs are answered, the same from memory and from the database; bad input names the field."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.service_layer.stock import StockLevels
from omnistock_inventory.service_layer.stock_view import StockView
from omnistock_inventory.settings import InventorySettings
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.testing.stack import unique_id


def answered(response: pb.BatchGetStockResponse) -> list[tuple[str, str, int]]:
    return [(level.sku, level.location_id, level.on_hand) for level in response.levels]


async def test_only_the_first_stocked_locations_in_the_given_order_are_answered(stack, catalogue, db) -> None:
    empty, lamps, sofas, both, far = [await catalogue.location() for _ in range(5)]
    sofa, lamp = await catalogue.sku(), await catalogue.sku("Lamp")
    await catalogue.receive(lamps, lamp, 1)
    await catalogue.receive(sofas, sofa, 2)
    await catalogue.receive(both, sofa, 3)
    await catalogue.receive(far, lamp, 5)
    written = await catalogue.admin.ReceiveStock(
        pb.ReceiveStockRequest(request_id=unique_id(), location_id=both, sku=lamp, quantity=4)
    )
    ranked = [empty, both, far, lamps, sofas]  # the caller's order, not the ids'
    request = pb.BatchGetStockRequest(
        skus=[sofa, lamp], location_ids=ranked, first_locations=2, min_consistency_token=written.consistency_token
    )

    memory = await catalogue.admin.BatchGetStock(request)

    assert memory.consistency_token  # answered from memory
    # `empty` stocks neither SKU, so the first two are `both` and `far`; by SKU, then location.
    expected = sorted([(sofa, both, 3), (lamp, both, 4), (lamp, far, 5)])
    assert answered(memory) == expected
    settings = InventorySettings.of(stack.settings)
    off = StockView(db, settings.model_copy(update={"stock_view": False}))
    database = StockLevels(db, Outbox(settings, "inventory"), IdempotencyStore("inventory"), off)
    direct = await database.batch_get(request)
    assert direct.consistency_token == ""
    assert answered(direct) == expected
    # Every location asked for is listed: none stocks them unlisted.
    assert list(memory.unlisted_location_ids) == list(direct.unlisted_location_ids) == []
    # A caller whose list lacks locations that stock them learns which.
    partial = pb.BatchGetStockRequest(
        skus=[sofa, lamp], location_ids=[empty, far], first_locations=1, min_consistency_token=written.consistency_token
    )
    for answer in (await catalogue.admin.BatchGetStock(partial), await database.batch_get(partial)):
        assert answered(answer) == [(lamp, far, 5)]
        assert list(answer.unlisted_location_ids) == sorted([lamps, sofas, both])
    # Without first_locations every location asked for answers.
    every = await catalogue.admin.BatchGetStock(
        pb.BatchGetStockRequest(skus=[sofa, lamp], location_ids=ranked, min_consistency_token=written.consistency_token)
    )
    assert {location_id for _, location_id, _ in answered(every)} == {both, far, lamps, sofas}
    # None of the locations stocks them: nothing, not every location.
    none = await catalogue.admin.BatchGetStock(
        pb.BatchGetStockRequest(skus=[sofa], location_ids=[empty, far], first_locations=3)
    )
    assert list(none.levels) == []
    assert (
        list(
            (
                await database.batch_get(pb.BatchGetStockRequest(skus=[sofa], location_ids=[empty], first_locations=1))
            ).levels
        )
        == []
    )


@pytest.mark.parametrize(
    ("location_ids", "first_locations"),
    [([], 3), (["LOC-A"], -1), (["LOC-A"], 1001)],
)
async def test_bad_first_locations_are_refused_naming_the_field(catalogue, location_ids, first_locations) -> None:
    sku = await catalogue.sku()
    request = pb.BatchGetStockRequest(skus=[sku], location_ids=location_ids, first_locations=first_locations)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalogue.admin.BatchGetStock(request)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = [
        v.field for detail in details_of(refused.value, error_details_pb2.BadRequest) for v in detail.field_violations
    ]
    assert fields == ["first_locations"]
