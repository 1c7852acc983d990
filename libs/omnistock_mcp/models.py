"""What every tool answers, as typed models: the MCP server publishes their JSON schemas as the
tools' output schemas, so an agent host knows each field before it calls. Every answer has a
`summary`: one or two sentences a model can pass on to the customer as they are."""

from __future__ import annotations

from pydantic import BaseModel, Field

from omnistock_platform.validation import MAX_QUANTITY


class Item(BaseModel):
    sku: str = Field(description="The SKU code.")
    # Bounded as the services bound units: a number beyond what a request can carry is the
    # caller's mistake to be told, not a failure of the tool ("try again in a moment").
    quantity: int = Field(ge=0, le=MAX_QUANTITY, description="Units.")


class BundlePart(BaseModel):
    sku: str = Field(description="A component's SKU code.")
    quantity: int = Field(description="Units of it in one set.")


class Sku(BaseModel):
    sku: str = Field(description="The SKU code to use with the other tools.")
    title: str
    attributes: dict[str, str] = Field(description="colour, size, category, material, ...")
    price: str = Field(description="The price as people read it, e.g. '1299.00 EUR'; empty when unknown.")
    price_minor: int = Field(description="The price in minor units (cents).")
    currency: str = Field(description="ISO 4217 code; empty when the SKU has no price.")
    bundle_of: list[BundlePart] = Field(
        default_factory=list,
        description="For a set (a bundle, e.g. a sofa with two cushions): what one set is made of. Reserve,"
        " quote and order the set by its own SKU code: its parts are held and sold together. Empty for a"
        " single product.",
    )
    split_allowed: bool = Field(
        default=False,
        description="For a set: whether an order may take its parts from different locations (otherwise one).",
    )


class PartStock(BaseModel):
    sku: str
    per_set: int = Field(description="Units of this part in one set.")
    available: int = Field(description="Units of this part available there now.")


class SkuSearch(BaseModel):
    count: int
    skus: list[Sku]
    note: str = Field(description="Advice when nothing matched; empty otherwise.")


class Place(BaseModel):
    """Where a search was made from, as Omnistock understood the place it was given."""

    query: str = Field(description="The place as it was given.")
    matched: str = Field(
        description="How it was found: 'coordinates', 'city' (the middle of Omnistock's locations in that city), "
        "'location' (a store or warehouse, by id or name)."
    )
    label: str = Field(description="The place in words, e.g. 'Berlin' or 'Omnistock Berlin Mitte'.")
    location_id: str = Field(default="", description="The store or warehouse it is, when it matched one.")
    latitude: float
    longitude: float


class Location(BaseModel):
    location_id: str = Field(description="Use as store_id with the other tools (stores only).")
    name: str
    kind: str = Field(description="'store' or 'warehouse'.")
    city: str
    latitude: float
    longitude: float
    distance_km: float | None = Field(description="From the place searched near; null without one.")
    pickup: bool = Field(description="Customers may collect reservations and pickup orders here.")
    ships: bool = Field(description="Ships orders to customers' homes.")


class LocationSearch(BaseModel):
    near: Place | None
    locations: list[Location]
    summary: str


class StoreStock(BaseModel):
    store_id: str
    name: str
    city: str
    distance_km: float
    available: int = Field(description="Units that can be reserved there now, through the caller's channel.")
    pool: str = Field(
        default="",
        description="The location group whose pool the caller's channel sells these units from; empty when the"
        " channel sells from every location.",
    )
    promise: str = Field(
        default="",
        description="When the customer can have it, in words to say as they are (for example 'ready for pickup at "
        "Mitte today from 16:00' or 'delivered Friday 11 Dec'); empty when no date can be promised.",
    )
    parts: list[PartStock] = Field(
        default_factory=list,
        description="For a set: each part's units there; `available` counts whole sets. Empty otherwise.",
    )


class StockNearby(BaseModel):
    sku: str
    quantity: int
    near: Place
    radius_km: float
    stores: list[StoreStock] = Field(
        description="Stores within the radius that can hand over the quantity, nearest first."
    )
    nearest_farther_away: list[StoreStock] = Field(
        default_factory=list, description="When none is within the radius: the nearest ones farther away."
    )
    via_transfer: list[StoreStock] = Field(
        default_factory=list,
        description="Stores within the radius that lack it now but can have it brought by a transfer, nearest "
        "first, each with the day in `promise`; reserve_for_pickup with ship_to_store=true commits that promise.",
    )
    summary: str


class Customer(BaseModel):
    name: str
    customer_id: str


class Reservation(BaseModel):
    reservation_id: str
    status: str = Field(
        description="pending, active, awaiting_transfer (on its way to the store), ready_for_pickup, collected, "
        "cancelled, expired, converted (to an order) or failed."
    )
    pickup_code: str = Field(description="What the customer shows at the store.")
    store_id: str
    store_name: str
    items: list[Item]
    customer: Customer
    expires_at: str = Field(description="ISO 8601, UTC: until when the store keeps the items.")
    collect_before_local: str = Field(
        default="",
        description="Until when the store keeps the items, on the store's clock and naming its time zone, in words "
        "to say as they are (for example 'Thursday 10 December at 18:00 Europe/Berlin time').",
    )
    order_id: str = Field(description="The order it became, when converted.")
    promised_at: str = Field(
        default="", description="ISO 8601, UTC: when the items are expected at the store (ship to store)."
    )
    expected_local: str = Field(
        default="",
        description="When the items are expected at the store (ship to store), on the store's clock and naming its "
        "time zone, in words to say as they are; empty when none are on their way.",
    )
    coming_from: str = Field(default="", description="Where the items come from on a transfer (ship to store).")
    promise: str = Field(
        default="",
        description="When the customer can have it, in words to say as they are (for example 'ready for pickup at "
        "Mitte today from 16:00'); empty when no date can be promised, and once the reservation is closed.",
    )
    summary: str


class CustomerReservations(BaseModel):
    customer_id: str
    reservations: list[Reservation] = Field(description="Newest first.")
    summary: str


class PlannedAllocation(BaseModel):
    location_id: str
    location_name: str
    kind: str = Field(description="'store' or 'warehouse'.")
    items: list[Item]
    distance_km: float


class PassedOver(BaseModel):
    location_id: str
    reason: str = Field(description="Why the location was not chosen, e.g. not_enough_stock, too_far, farther.")
    detail: str


class Quote(BaseModel):
    method: str = Field(description="'ship' (to the customer's address) or 'pickup' (at a store).")
    complete: bool = Field(description="True when every unit can be had: the order can be placed as it is.")
    items: list[Item]
    allocations: list[PlannedAllocation] = Field(description="Where each part would come from.")
    unfilled: list[Item] = Field(description="What no location can supply now.")
    passed_over: list[PassedOver] = Field(description="The other locations, and why each was not chosen.")
    total: str = Field(description="The price of the items, e.g. '1299.00 EUR'.")
    total_minor: int
    currency: str
    promise: str = Field(
        default="",
        description="When the customer can have it, in words to say as they are (for example 'ready for pickup at "
        "Mitte today from 16:00' or 'delivered Friday 11 Dec'); empty when no date can be promised.",
    )
    summary: str


class OrderLine(BaseModel):
    sku: str
    quantity: int
    fulfilled: int = Field(description="Units shipped or handed over.")
    backordered: int
    cancelled: int
    part_of: str = Field(
        default="",
        description="The set this line is a part of (a set the retailer lets come from several locations, ordered as"
        " its parts); empty for a line of its own.",
    )


class OrderAllocation(BaseModel):
    location_id: str
    items: list[Item]
    status: str = Field(description="held, picked, shipped, handed_over, released, ...")


class OrderHold(BaseModel):
    reason: str = Field(description="payment_pending, fraud_review or address_check.")
    status: str = Field(description="active, released or expired.")
    allocation_id: str = Field(description="The one allocation held; empty: the whole order.")
    expires_at: str = Field(description="When an active hold cancels the order unless released (ISO 8601, UTC).")
    expires_local: str = Field(
        default="",
        description="The same moment in words to say as they are, naming its time zone: the pickup store's, else UTC.",
    )


class Order(BaseModel):
    order_id: str
    status: str = Field(
        description="pending, allocated, partially_shipped, completed, cancelled or backordered (waiting for stock)."
    )
    method: str = Field(description="ship, pickup or carry_out.")
    store_id: str = Field(description="The pickup store (pickup orders).")
    reservation_id: str = Field(description="The reservation the order was made from, if any.")
    lines: list[OrderLine]
    allocations: list[OrderAllocation] = Field(description="Where each part is fulfilled from.")
    on_hold: bool = Field(description="Waiting on a fulfilment hold: nothing is shipped until it is released.")
    holds: list[OrderHold]
    total: str
    created_at: str = Field(description="ISO 8601, UTC.")
    promise: str = Field(
        default="",
        description="When the customer can have it, in words to say as they are (for example 'ready for pickup at "
        "Mitte today from 16:00' or 'delivered Friday 11 Dec'); empty when no date can be promised.",
    )
    summary: str


class ReturnLine(BaseModel):
    sku: str
    quantity: int = Field(description="Units coming back (the parts of a set returned whole among them).")
    restocked: int = Field(description="Units back on sale after inspection.")
    damaged: int = Field(description="Units found damaged.")
    written_off: int = Field(description="Units not worth keeping.")


class Return(BaseModel):
    return_id: str = Field(description="Give it to the customer: the store or warehouse asks for it.")
    order_id: str
    status: str = Field(description="authorised (waiting for the units), received (inspected) or cancelled.")
    location_id: str = Field(description="Where the units come back.")
    location: str = Field(description="Its name.")
    by_post: bool = Field(description="Sent by post (to a warehouse) rather than brought to a store.")
    lines: list[ReturnLine]
    summary: str
