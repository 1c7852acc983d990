"""The event catalogue (docs/events.md) is current and complete: every event type the services'
code can put in an outbox is declared on its payload message in protos/, with a sound ordering key.
(At run time the `tap` fixture fails any test in which a service published an undeclared event.)"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from omnistock_platform.contract import API_DOC, ROOT, descriptor_set, render_api_doc
from omnistock_platform.events.catalogue import (
    EVENTS_DOC,
    CatalogueError,
    key_of,
    read_catalogue,
    render_events_doc,
)
from omnistock_platform.services import SERVICES

SERVICES_DIR = ROOT / "services"
# Outbox calls whose event type is computed, with the entity it is built on. A new one must be
# added here (and its values are checked at run time, by the tests that publish them).
DYNAMIC = {
    ("inventory", "service_layer/holds.py", "_finish"): "hold",
    ("reservations", "service_layer/unit.py", "record"): "reservation",
    ("orders", "service_layer/reactions.py", "shipped"): "order",
    ("orders", "service_layer/announcing.py", "announce"): "order",
    ("fulfilment", "service_layer/changes.py", "_announce"): "task",
    ("inventory", "service_layer/counts.py", "_announce"): "count",
    ("inventory", "service_layer/transfers.py", "_announce"): "transfer",
}


@dataclass(frozen=True)
class Site:
    service: str
    path: str
    function: str
    line: int
    literal: str | None


def outbox_calls(root: Path = SERVICES_DIR) -> list[Site]:
    """Every `<...>outbox.add(conn, TYPE, ...)` and `<...>outbox.prepare(TYPE, ...)` in the services."""
    found: list[Site] = []
    for service in SERVICES:
        package = root / service / f"omnistock_{service}"
        for path in sorted(package.rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(), str(path))
            for function in ast.walk(tree):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(function):
                    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                        continue
                    method, receiver = node.func.attr, ast.unparse(node.func.value)
                    if method not in ("add", "prepare") or not receiver.split(".")[-1].endswith("outbox"):
                        continue
                    argument = node.args[1] if method == "add" else node.args[0]
                    literal = argument.value if isinstance(argument, ast.Constant) else None
                    relative = str(path.relative_to(package))
                    found.append(Site(service, relative, function.name, node.lineno, literal))
    return found


def test_events_doc_is_current() -> None:
    rendered = render_events_doc(read_catalogue(descriptor_set().file))
    assert (ROOT / EVENTS_DOC).read_text() == rendered, "docs/events.md is not current: run `make docs`"


def test_every_event_type_in_the_code_is_in_the_catalogue() -> None:
    catalogue = read_catalogue(descriptor_set().file)
    sites = outbox_calls()
    assert len(sites) >= 15, "the scan found too few outbox calls: has the Outbox API changed?"
    literal = {f"{s.service}.{s.literal}": s for s in sites if s.literal is not None}
    missing = {event: f"{s.path}:{s.line}" for event, s in literal.items() if event not in catalogue}
    assert not missing, f"published but not in the catalogue: {missing}"
    computed = {(s.service, s.path, s.function) for s in sites if s.literal is None}
    assert computed == set(DYNAMIC), f"outbox calls with a computed type changed: {computed ^ set(DYNAMIC)}"
    for (service, path, _), entity in DYNAMIC.items():
        assert any(t.startswith(f"{service}.{entity}.") for t in catalogue), (service, entity)
        # The full types the service spells out for such a call ("task.picked") are declared too.
        for spelled in spelled_types(service, entity):
            assert f"{service}.{spelled}" in catalogue, f"{service} spells {spelled!r} ({path}) but never declares it"


def spelled_types(service: str, entity: str) -> set[str]:
    """String constants "<entity>.<event>" in a service's code, log event names left out."""
    pattern = re.compile(rf"{entity}\.[a-z_]+")
    found: set[str] = set()
    for path in (SERVICES_DIR / service / f"omnistock_{service}").rglob("*.py"):
        tree = ast.parse(path.read_text())
        logged = {
            id(node.args[0])
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "log"
            and node.args
        }
        # A background loop's failure is logged under the name given as `failed=` (omnistock_platform.loops).
        logged |= {
            id(keyword.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            for keyword in node.keywords
            if keyword.arg == "failed"
        }
        for node in ast.walk(tree):
            literal = isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in logged
            if literal and pattern.fullmatch(node.value):  # type: ignore[attr-defined]
                found.add(node.value)  # type: ignore[attr-defined]
    return found


def test_every_declared_type_belongs_to_a_service_and_links_to_its_payload() -> None:
    catalogue = read_catalogue(descriptor_set().file)
    api = render_api_doc(descriptor_set())
    assert (ROOT / API_DOC).read_text() == api
    for entry in catalogue.values():
        assert entry.service in SERVICES, entry
        anchor = entry.payload.replace(".", "-").lower()
        assert f'<a name="{anchor}"></a>' in api, f"{entry.type}: {entry.payload} is not in docs/api.md"


def test_a_duplicate_or_unsound_declaration_is_refused() -> None:
    files = descriptor_set()
    stock = _message(files, "omnistock.inventory.v1", "StockChanged")
    text = stock.options.SerializeToString()
    assert text  # the declarations travel in the message options

    def declare_again(message_name: str, package: str) -> None:
        target = _message(files, package, message_name)
        target.options.MergeFromString(text)

    declare_again("HoldChanged", "omnistock.inventory.v1")
    with pytest.raises(CatalogueError, match="declared by"):
        read_catalogue(files.file)


def _message(files: object, package: str, name: str) -> object:
    for file in files.file:  # type: ignore[attr-defined]
        if file.package == package:
            for message in file.message_type:
                if message.name == name:
                    return message
    raise AssertionError(f"{package}.{name} not found")


def test_ordering_keys_name_the_entity() -> None:
    from omnistock.inventory.v1 import inventory_pb2 as inv
    from omnistock.orders.v1 import orders_pb2 as opb

    catalogue = read_catalogue(descriptor_set().file)
    level = inv.StockChanged(level=inv.StockLevel(location_id="STORE-1", sku="SOFA"))
    assert key_of(catalogue["inventory.stock.changed"], level, "e1") == "stock:STORE-1/SOFA"
    order = opb.OrderChanged(order=opb.Order(order_id="O-1"))
    assert key_of(catalogue["orders.order.created"], order, "e2") == "order:O-1"
    assert key_of(catalogue["orders.demand.refused"], order, "e3") == "e3"
    assert key_of(None, order, "e4") == "e4"


def test_the_event_doc_says_how_events_travel() -> None:
    doc = (ROOT / EVENTS_DOC).read_text()
    for promise in ("At least once", "Order.", "Published exactly when the change commits"):
        assert promise in doc
    for event_type in read_catalogue(descriptor_set().file):
        assert f"### {event_type}\n" in doc


def test_the_scan_sees_a_new_event_and_what_the_services_spell(tmp_path: Path) -> None:
    package = tmp_path / "inventory" / "omnistock_inventory" / "service_layer"
    package.mkdir(parents=True)
    (package / "vanishing.py").write_text(
        "async def vanish(self, conn, payload):\n    await self.deps.outbox.add(conn, 'stock.vanished', payload)\n"
    )
    (site,) = outbox_calls(tmp_path)
    assert (site.service, site.path, site.function, site.literal) == (
        "inventory",
        "service_layer/vanishing.py",
        "vanish",
        "stock.vanished",
    )
    assert "inventory.stock.vanished" not in read_catalogue(descriptor_set().file)
    assert {"task.picked", "task.short_picked", "task.withdrawn"} <= spelled_types("fulfilment", "task")
    assert {"order.completed", "order.partially_shipped"} <= spelled_types("orders", "order")
    assert "order.recovery_postponed" not in spelled_types("orders", "order")  # a log event's name
    assert "order.hold_sweep_failed" not in spelled_types("orders", "order")  # a background loop's failure
