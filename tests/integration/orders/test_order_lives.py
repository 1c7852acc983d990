"""Orders whose sets share components at one location: refused with the shortfall when together they
ask more than the location has, never left pending."""

from __future__ import annotations

import grpc
import pytest

from omnistock.common.v1 import common_pb2
from omnistock_platform.db import Database
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.catalogue import define_set
from tests.integration.orders.support import BERLIN, Shop, store_request


async def test_two_sets_sharing_a_component_that_together_ask_too_much_are_refused_leaving_nothing_pending(
    shop: Shop, db: Database
) -> None:
    """Found by random order lives: a pickup order of a set and another set with the same sofa, at a
    store with one sofa, was ABORTED at every try (inventory found each set short of nothing on its own)
    and stayed pending for good, its resumer aborted as well."""
    sofa, cushion, lamp = await shop.sku("Green sofa"), await shop.sku("Cushion"), await shop.sku("Lamp")
    with_cushions = await define_set(shop.inventory, {sofa: 1, cushion: 2}, price_minor=139900, currency="EUR")
    with_lamp = await define_set(shop.inventory, {sofa: 1, lamp: 1}, price_minor=109900, currency="EUR")
    store = await shop.location(BERLIN)
    for sku, units in ((sofa, 1), (cushion, 2), (lamp, 1)):
        await shop.receive(store, sku, units)  # either set, not both: one sofa
    request = store_request([(with_cushions, 1), (with_lamp, 1)], store)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders_as("storefront").CreateOrder(request)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION, refused.value.details()
    (shortfall,) = details_of(refused.value, common_pb2.Shortfall)
    # One of the two sets is short (the other has the sofa), in whole sets.
    ((sku, requested, available),) = [(line.sku, line.requested, line.available) for line in shortfall.lines]
    assert sku in (with_cushions, with_lamp) and (requested, available) == (1, 0)
    assert await db.fetch("SELECT order_id FROM orders.orders WHERE request_id = $1", request.request_id) == []
    assert await shop.held((store, sofa), (store, cushion), (store, lamp)) == [0, 0, 0]
