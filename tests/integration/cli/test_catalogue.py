"""The demo catalogue tells the story of journey 1, and seeding it is repeatable."""

from __future__ import annotations

from collections import Counter

from omnistock_cli.catalogue import DEMO_SKU, DEMO_STORE, DEMO_WAREHOUSE, demo_catalogue, is_gtin, parse_skus
from omnistock_cli.seed import location_request, sku_request


def test_the_green_sofa_is_only_at_the_berlin_city_branch_and_the_blue_one_is_plentiful() -> None:
    catalogue = demo_catalogue()
    green = [row for row in catalogue.stock if row.sku == DEMO_SKU]
    assert [(row.location_id, row.on_hand, row.safety_stock) for row in green] == [(DEMO_STORE, 1, 0)]
    branch = catalogue.location(DEMO_STORE)
    assert branch.city == "Berlin" and branch.pickup and branch.till_sales
    blue = {row.location_id: row.on_hand for row in catalogue.stock if row.sku == "SOFA-VELVET-BLUE"}
    assert blue[DEMO_WAREHOUSE] >= 10
    assert all(catalogue.location(location).kind == "warehouse" for location in blue if blue[location] > 1)


def test_four_cities_each_with_stores_and_one_shipping_warehouse() -> None:
    catalogue = demo_catalogue()
    stores = Counter(loc.city for loc in catalogue.locations if loc.kind == "store")
    warehouses = Counter(loc.city for loc in catalogue.locations if loc.kind == "warehouse")
    assert set(stores) == {"Berlin", "Hamburg", "Munich", "Cologne"} == set(warehouses)
    assert all(2 <= count <= 3 for count in stores.values()) and set(warehouses.values()) == {1}
    assert all(loc.ships and not loc.pickup for loc in catalogue.locations if loc.kind == "warehouse")
    assert all(loc.pickup and loc.till_sales for loc in catalogue.locations if loc.kind == "store")


def test_skus_carry_the_attributes_and_stock_names_known_rows() -> None:
    catalogue = demo_catalogue()
    skus = {sku.sku: sku for sku in catalogue.skus}
    assert {"sofa", "chair", "table", "lamp", "t-shirt", "jeans"} <= {sku.category for sku in skus.values()}
    for sku in skus.values():
        assert set(sku.attributes) == {"colour", "size", "material", "category", "gtin"}
        assert all(sku.attributes.values())
        assert is_gtin(sku.attributes["gtin"])
        assert sku.price_minor > 0 and sku.currency == "EUR"
    assert len({sku.attributes["gtin"] for sku in skus.values()}) == len(skus)  # a scan finds one SKU
    locations = {loc.location_id for loc in catalogue.locations}
    assert all(row.location_id in locations and row.sku in skus for row in catalogue.stock)
    assert len({(row.location_id, row.sku) for row in catalogue.stock}) == len(catalogue.stock)
    assert all(0 <= row.safety_stock < row.on_hand for row in catalogue.stock)


def test_request_ids_follow_the_content() -> None:
    catalogue = demo_catalogue()
    first = location_request(catalogue.locations[0])
    assert first.request_id == location_request(catalogue.locations[0]).request_id
    assert first.request_id != location_request(catalogue.locations[1]).request_id
    assert sku_request(catalogue.skus[0]).request_id.startswith("seed-sku-")


def test_a_barcode_column_takes_only_gtins_with_a_valid_check_digit() -> None:
    text = "\n".join(
        [
            "sku,title,gtin,ean",
            "LAMP-A,Lamp,2001000000012,",  # EAN-13
            "LAMP-B,Lamp,,96385074",  # EAN-8
            "LAMP-C,Lamp,2001000000013,",  # the last digit misread
            "LAMP-D,Lamp,ABC,",
            "LAMP-E,Lamp,,12345",  # no GTIN length
        ]
    )
    skus, problems = parse_skus(text)
    assert [sku.sku for sku in skus] == ["LAMP-A", "LAMP-B"]
    assert skus[0].attributes == {"gtin": "2001000000012"} and skus[1].attributes == {"ean": "96385074"}
    assert [(problem.line, problem.field) for problem in problems] == [(4, "gtin"), (5, "gtin"), (6, "ean")]
