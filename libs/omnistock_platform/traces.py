"""Spans as records one can read: a JSON line per span in a local file (the `omnistock_file`
exporter of `make run`), and a trace drawn as a tree (`omnistock trace`, the tests)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

# The service a span was made in: the resource says it when a process runs one service; this
# attribute says it always (tests run every service in one process).
SERVICE_ATTRIBUTE = "omnistock.service"
STATEMENT_SHOWN = 70


@dataclass
class SpanRecord:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: str
    service: str
    start_ns: int
    end_ns: int
    status: str = "UNSET"
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    @classmethod
    def of(cls, span: ReadableSpan) -> SpanRecord:
        context = span.get_span_context()
        assert context is not None
        attributes = dict(span.attributes or {})
        service = str(attributes.get(SERVICE_ATTRIBUTE) or span.resource.attributes.get("service.name", ""))
        return cls(
            trace_id=f"{context.trace_id:032x}",
            span_id=f"{context.span_id:016x}",
            parent_id=f"{span.parent.span_id:016x}" if span.parent is not None else "",
            name=span.name,
            kind=span.kind.name,
            service=service,
            start_ns=span.start_time or 0,
            end_ns=span.end_time or 0,
            status=span.status.status_code.name,
            attributes={key: _plain(value) for key, value in attributes.items()},
        )

    def to_json(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, line: str) -> SpanRecord:
        return cls(**json.loads(line))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class FileSpanExporter(SpanExporter):
    """Appends each span as a JSON line. Every service of `make run` writes to the same file: each
    batch is one write(2) on a file opened for appending, so lines of two processes never mix."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        data = "".join(SpanRecord.of(span).to_json() + "\n" for span in spans).encode()
        with self._lock:
            if self._fd < 0:
                return SpanExportResult.FAILURE
            os.write(self._fd, data)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def read_file(path: Path) -> list[SpanRecord]:
    """Every span in a file of the `omnistock_file` exporter; a line cut short at a crash is skipped."""
    found = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                found.append(SpanRecord.from_json(line))
            except (ValueError, TypeError):
                continue
    return found


def traces(spans: Iterable[SpanRecord]) -> dict[str, list[SpanRecord]]:
    grouped: dict[str, list[SpanRecord]] = {}
    for span in spans:
        grouped.setdefault(span.trace_id, []).append(span)
    return grouped


def label(span: SpanRecord) -> str:
    """How a span reads in a tree: gRPC methods without their package, queries with their statement."""
    name = span.name
    if name.startswith("/") and "/" in name[1:]:
        service, method = name[1:].rsplit("/", 1)
        name = f"{service.rsplit('.', 1)[-1]}/{method}"
    statement = span.attributes.get("db.statement") or span.attributes.get("db.query.text")
    if statement:
        flat = " ".join(str(statement).split())
        name = flat if len(flat) <= STATEMENT_SHOWN else f"{flat[: STATEMENT_SHOWN - 3]}..."
    return name


def tree(spans: Sequence[SpanRecord]) -> str:
    """One trace as text: a line per span (service, kind, name, duration), children under their
    parent in the order they started. Spans whose parent is not among them (it is still running, or
    was not exported) start a tree of their own."""
    ids = {span.span_id for span in spans}
    children: dict[str, list[SpanRecord]] = {}
    roots = []
    for span in spans:
        if span.parent_id and span.parent_id in ids:
            children.setdefault(span.parent_id, []).append(span)
        else:
            roots.append(span)
    lines: list[str] = []

    def draw(span: SpanRecord, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        failed = "  ERROR" if span.status == "ERROR" else ""
        who = f"{span.service or '?'} {span.kind.lower()}"
        lines.append(f"{prefix}{branch}{who} {label(span)}  {span.duration_ms:.1f} ms{failed}")
        below = sorted(children.get(span.span_id, []), key=lambda child: child.start_ns)
        inner = prefix if top else prefix + ("   " if last else "│  ")
        for index, child in enumerate(below):
            draw(child, inner, index == len(below) - 1, False)

    for root in sorted(roots, key=lambda span: span.start_ns):
        draw(root, "", True, True)
    return "\n".join(lines)
