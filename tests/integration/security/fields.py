"""Places in a request, found from the proto descriptors: every field of a kind (a Timestamp, an enum,
an integer, a repeated field), however deep, named as the services name it in a field violation
("lines[0].quantity", "hold.ttl"), and a copy of a request with one value put there."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor
from google.protobuf.message import Message

FD = descriptor.FieldDescriptor
WELL_KNOWN = frozenset({"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"})
MAX_DEPTH = 4


@dataclass(frozen=True)
class Place:
    """A field reached from the request through `steps` (each a field; repeated ones at their first item)."""

    steps: tuple[descriptor.FieldDescriptor, ...]

    @property
    def field(self) -> descriptor.FieldDescriptor:
        return self.steps[-1]

    @property
    def name(self) -> str:
        """The field's path as a field violation names it; a repeated field itself, without an index."""
        parts = [f"{step.name}[0]" if step.is_repeated else step.name for step in self.steps[:-1]]
        return ".".join([*parts, self.field.name])

    @property
    def item(self) -> str:
        """The path of the value put there: a repeated field's first item."""
        return f"{self.name}[0]" if self.field.is_repeated else self.name

    def __str__(self) -> str:
        return self.item


def is_map(field: descriptor.FieldDescriptor) -> bool:
    return field.type == FD.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def places(
    message: descriptor.Descriptor, wanted: Callable[[descriptor.FieldDescriptor], bool], prefix: tuple[Any, ...] = ()
) -> Iterator[Place]:
    """Every place under `message` whose field is `wanted` (maps are left out; well-known types are leaves)."""
    if len(prefix) > MAX_DEPTH:
        return
    for field in message.fields:
        if is_map(field):
            continue
        if wanted(field):
            yield Place((*prefix, field))
        if field.type == FD.TYPE_MESSAGE and field.message_type.full_name not in WELL_KNOWN:
            yield from places(field.message_type, wanted, (*prefix, field))


def with_value(request: Message, place: Place, value: Any) -> Message:
    """A copy of `request` with `value` at `place` (messages on the way created; a repeated field's
    first item replaced or added). `value` is a message for a message field, else a scalar."""
    copy = type(request)()
    copy.CopyFrom(request)
    target: Any = copy
    for step in place.steps[:-1]:
        if step.is_repeated:
            items = getattr(target, step.name)
            target = items[0] if len(items) else items.add()
        else:
            target = getattr(target, step.name)
    field = place.field
    if field.type == FD.TYPE_MESSAGE:
        if field.is_repeated:
            items = getattr(target, field.name)
            (items[0] if len(items) else items.add()).CopyFrom(value)
        else:
            getattr(target, field.name).CopyFrom(value)
    elif field.is_repeated:
        items = getattr(target, field.name)
        if len(items):
            items[0] = value
        else:
            items.append(value)
    else:
        setattr(target, field.name, value)
    return copy


def with_items(request: Message, place: Place, items: list[Any]) -> Message:
    """A copy of `request` whose repeated field at `place` holds `items` (messages or scalars)."""
    assert place.field.is_repeated
    copy = type(request)()
    copy.CopyFrom(request)
    target: Any = copy
    for step in place.steps[:-1]:
        if step.is_repeated:
            found = getattr(target, step.name)
            target = found[0] if len(found) else found.add()
        else:
            target = getattr(target, step.name)
    found = getattr(target, place.field.name)
    del found[:]
    if place.field.type == FD.TYPE_MESSAGE:
        for item in items:
            found.add().CopyFrom(item)
    else:
        found.extend(items)
    return copy


def value_at(request: Message, place: Place) -> list[Any]:
    """The items of the repeated field at `place` in `request` ([] when a message on the way is unset)."""
    target: Any = request
    for step in place.steps[:-1]:
        if step.is_repeated:
            found = getattr(target, step.name)
            if not len(found):
                return []
            target = found[0]
        else:
            if not target.HasField(step.name):
                return []
            target = getattr(target, step.name)
    return list(getattr(target, place.field.name))
