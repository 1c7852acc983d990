"""The event catalogue: every event type of the bus, read from the `(omnistock.common.v1.event)`
options on the payload messages in protos/ (protos/omnistock/common/v1/events.proto), and
docs/events.md rendered from it.

Only the standard library and protobuf: `make docs` renders the page before the package is
installed. The options are read through a pool built from the descriptor set itself, so the
generated modules need not be importable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

EVENT_OPTION = "omnistock.common.v1.event"
EVENTS_DOC = "docs/events.md"
TYPE_PATTERN = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class EventEntry:
    """One event type: its payload message (full name) and what the catalogue says of it."""

    type: str
    payload: str
    published_when: str
    ordering_key: tuple[str, ...]
    # The .proto file of the payload, e.g. "omnistock/inventory/v1/inventory.proto".
    file: str = ""

    @property
    def module(self) -> str:
        """The generated Python module of the payload: it must be imported before the payload
        can be decoded from an envelope (the default descriptor pool knows only what is imported)."""
        return self.file.removesuffix(".proto").replace("/", ".") + "_pb2"

    @property
    def service(self) -> str:
        return self.type.split(".", 1)[0]

    @property
    def entity(self) -> str:
        return self.type.split(".")[1]


class CatalogueError(ValueError):
    pass


def read_catalogue(files: Iterable[descriptor_pb2.FileDescriptorProto]) -> dict[str, EventEntry]:
    """Every declared event type, by type. Refuses a malformed or twice-declared type and an
    ordering key that is not a path of singular string or integer fields of the payload."""
    files = list(files)
    pool = descriptor_pool.DescriptorPool()
    for file in files:
        pool.Add(file)
    try:
        option = pool.FindExtensionByName(EVENT_OPTION)
    except KeyError:
        return {}
    # Classes for every file, so that the option's own message type can be parsed from the pool.
    message_factory.GetMessageClassesForFiles([file.name for file in files], pool)
    options_class = message_factory.GetMessageClass(pool.FindMessageTypeByName("google.protobuf.MessageOptions"))
    found: dict[str, EventEntry] = {}
    for file in files:
        for full_name, message in _messages(file.message_type, file.package):
            if not message.HasField("options"):
                continue
            options: Any = options_class.FromString(message.options.SerializeToString())
            for spec in options.Extensions[option]:
                when = " ".join(spec.published_when.split())
                entry = EventEntry(spec.type, full_name, when, tuple(spec.ordering_key), file.name)
                _check(entry, pool.FindMessageTypeByName(full_name), found)
                found[entry.type] = entry
    return dict(sorted(found.items()))


def _check(entry: EventEntry, payload: Any, found: Mapping[str, EventEntry]) -> None:
    if not TYPE_PATTERN.fullmatch(entry.type):
        raise CatalogueError(f"{entry.payload}: event type {entry.type!r} is not <service>.<entity>.<event>")
    if entry.type in found:
        raise CatalogueError(f"event type {entry.type} is declared by {found[entry.type].payload} and {entry.payload}")
    if not entry.published_when:
        raise CatalogueError(f"{entry.type}: published_when is empty")
    for path in entry.ordering_key:
        message = payload
        parts = path.split(".")
        for index, name in enumerate(parts):
            field = message.fields_by_name.get(name)
            if field is None or field.is_repeated:
                raise CatalogueError(f"{entry.type}: ordering key {path!r} is not a path of singular fields")
            if index < len(parts) - 1:
                if field.message_type is None:
                    raise CatalogueError(f"{entry.type}: ordering key {path!r} goes through a scalar")
                message = field.message_type
            elif field.message_type is not None:
                raise CatalogueError(f"{entry.type}: ordering key {path!r} ends on a message, not a value")


def _messages(messages: Iterable[descriptor_pb2.DescriptorProto], scope: str) -> Iterable[tuple[str, Any]]:
    for message in messages:
        name = f"{scope}.{message.name}"
        yield name, message
        yield from _messages(message.nested_type, name)


def key_of(entry: EventEntry | None, payload: Any, fallback: str) -> str:
    """The ordering key of one event: "<entity>:<value>[/<value>...]" from the payload's key
    fields, or `fallback` (the event id) when its type promises no order."""
    if entry is None or not entry.ordering_key:
        return fallback
    values = []
    for path in entry.ordering_key:
        value = payload
        for name in path.split("."):
            value = getattr(value, name)
        values.append(str(value))
    return f"{entry.entity}:{'/'.join(values)}"


def matches(pattern: str, event_type: str) -> bool:
    """NATS subject matching on an event type's tokens: `*` is one token, a final `>` one or more."""
    wanted, tokens = pattern.split("."), event_type.split(".")
    for index, token in enumerate(wanted):
        if token == ">" and index == len(wanted) - 1:
            return len(tokens) > index
        if index >= len(tokens) or (token != "*" and token != tokens[index]):
            return False
    return len(tokens) == len(wanted)


# ---- docs/events.md ------------------------------------------------------------------------------


def _anchor(full_name: str) -> str:
    return full_name.lstrip(".").replace(".", "-").lower()


def render_events_doc(catalogue: Mapping[str, EventEntry]) -> str:
    out = [
        "# Omnistock event catalogue",
        "",
        "Generated by `make docs` from the `(omnistock.common.v1.event)` options on the payload messages in"
        " `protos/` (`protos/omnistock/common/v1/events.proto`): do not edit by hand. A test fails when a"
        " service publishes an event type this page lacks.",
        "",
        "## How events travel",
        "",
        "- **Subject.** `<prefix>.<type>`, for example `omnistock.inventory.stock.changed`; the prefix is"
        " `OMNISTOCK_SUBJECT_PREFIX` (default `omnistock`). Every event is on the one JetStream stream"
        " (`OMNISTOCK_STREAM_NAME`, file storage, kept 7 days).",
        "- **Envelope.** Each message is an [EventEnvelope](api.md#omnistock-common-v1-eventenvelope):"
        " `event_id` (a UUID, also the `Nats-Msg-Id`), `type`, `time` (when the change was made), `source`"
        " (the publishing service), `request_id` (of the call that caused it; empty for a service's own"
        " work) and `payload`, the message named below packed in a `google.protobuf.Any`.",
        "- **Published exactly when the change commits.** An event is written to its service's outbox in"
        " the transaction of the change and relayed to JetStream afterwards: a change that rolled back"
        " publishes nothing, a committed one is published even if the service crashes in between.",
        "- **At least once.** A relay that crashed before marking a row published sends it again with the"
        " same `Nats-Msg-Id` (JetStream drops the repeat within `OMNISTOCK_DEDUPE_WINDOW`); a consumer may"
        " still see an event twice and drops the repeat by `event_id`, as the services do with their"
        " inbox and webhook receivers should with the `webhook-id` header.",
        "- **Order.** Events of one entity (the *ordering key* below: one stock row, one hold, one"
        " reservation, one order, one task) are published in the order of its changes: the change takes"
        " the entity's row lock before it writes its event, and one relay per service publishes the"
        " outbox in order. Events of different entities, and of different services (a reservation's"
        " hold and the reservation itself), come in no promised order. `stock.changed` also carries the"
        " row's `version`, and an order's and a reservation's events its `updated_at`, so a consumer"
        " can drop a stale one. Handling may still come out of order: a consumer retries an event it"
        " failed to handle after a delay while the events behind it go ahead, and copies of a service"
        " share one consumer. Fulfilment reads a late order or reservation event as of the newest it"
        " has handled: it makes and changes the tasks as that one says, and a task made from a late"
        " `orders.order.allocated` is due at the newest event's promise (an `orders.order.repromised`"
        " handled before it wins). Webhooks keep this order per subscription ([webhooks](webhooks.md)).",
        "- **Dead letters.** A service's consumer that cannot handle an event after bounded retries copies"
        " it to `<prefix>.deadletter.<consumer>`; those copies are not events of their own.",
        "",
        "## Event types",
        "",
        "| type | payload | ordering key |",
        "| --- | --- | --- |",
    ]
    for entry in catalogue.values():
        key = ", ".join(f"`{path}`" for path in entry.ordering_key) or "none"
        out.append(f"| [`{entry.type}`](#{_anchor(entry.type)}) | {_payload_link(entry)} | {key} |")
    out.append("")
    service = ""
    for entry in catalogue.values():
        if entry.service != service:
            service = entry.service
            out.extend([f"## {service}", ""])
        out.extend(
            [
                f'<a name="{_anchor(entry.type)}"></a>',
                f"### {entry.type}",
                "",
                f"Subject `omnistock.{entry.type}`; payload {_payload_link(entry)}.",
                "",
                entry.published_when,
                "",
                _order(entry),
                "",
            ]
        )
    return "\n".join(out).rstrip("\n") + "\n"


def _payload_link(entry: EventEntry) -> str:
    return f"[{entry.payload}](api.md#{_anchor(entry.payload)})"


def _order(entry: EventEntry) -> str:
    if not entry.ordering_key:
        return "Order: none promised; each event stands alone."
    fields = " and ".join(f"`{path}`" for path in entry.ordering_key)
    return f"Order: in the order of the changes, per {fields}."
