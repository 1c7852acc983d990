"""`omnistock trace`: read the traces the services wrote with OTEL_TRACES_EXPORTER=omnistock_file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from omnistock_cli.context import JsonOption, fail, load_settings
from omnistock_cli.output import console, print_json
from omnistock_platform.settings import FILE_TRACES_EXPORTER
from omnistock_platform.telemetry import REQUEST_ID_ATTRIBUTE
from omnistock_platform.traces import SpanRecord, read_file, traces, tree


def _summary(spans: list[SpanRecord]) -> dict[str, object]:
    first = min(spans, key=lambda span: span.start_ns)
    return {
        "trace_id": first.trace_id,
        "started": datetime.fromtimestamp(first.start_ns / 1e9, UTC).isoformat(timespec="milliseconds"),
        "root": f"{first.service} {first.name}",
        "duration_ms": round((max(span.end_ns for span in spans) - first.start_ns) / 1e6, 1),
        "spans": len(spans),
        "services": sorted({span.service for span in spans if span.service}),
    }


def _has_request_id(span: SpanRecord, request_id: str) -> bool:
    return span.attributes.get(REQUEST_ID_ATTRIBUTE) == request_id


def trace(
    trace_id: Annotated[
        str, typer.Argument(metavar="TRACE", help="A trace id, or its first characters; none: list the latest.")
    ] = "",
    request_id: Annotated[str, typer.Option("--request-id", help="The trace of the call with this request id.")] = "",
    file: Annotated[
        Path | None, typer.Option(help="The spans file (default OMNISTOCK_TRACES_FILE, else <data dir>/traces.jsonl).")
    ] = None,
    last: Annotated[int, typer.Option(min=1, help="How many traces to list.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Show a trace as a tree of spans (service, kind, name, duration), or list the latest traces."""
    path = file or load_settings().traces_path()
    if not path.exists():
        fail(
            f"no spans file at {path}",
            hint=f"start the system with OTEL_TRACES_EXPORTER={FILE_TRACES_EXPORTER} (docs/operations.md)",
        )
    grouped = traces(read_file(path))
    if request_id:
        found = {span.trace_id for spans in grouped.values() for span in spans if _has_request_id(span, request_id)}
        if not found:
            fail(f"no span in {path} has request id {request_id!r}")
        chosen = sorted(found)
    elif trace_id:
        chosen = sorted(key for key in grouped if key.startswith(trace_id.lower()))
        if not chosen:
            fail(f"no trace in {path} starts with {trace_id!r}")
    else:
        latest = sorted(grouped.values(), key=lambda spans: min(span.start_ns for span in spans))[-last:]
        summaries = [_summary(spans) for spans in latest]
        if as_json:
            print_json(summaries)
            return
        for summary in summaries:
            console.print(
                f"{summary['trace_id']}  {summary['started']}  {summary['duration_ms']:>8} ms"
                f"  {summary['spans']:>3} spans  {summary['root']}",
                markup=False,
                soft_wrap=True,
            )
        return
    if as_json:
        print_json({key: [span.__dict__ for span in grouped[key]] for key in chosen})
        return
    for key in chosen:
        console.print(f"trace {key}", style="bold")
        console.print(tree(grouped[key]), markup=False, soft_wrap=True)


# No EXAMPLES for `omnistock up` to show: there is a spans file only when tracing is on.
def register(app: typer.Typer) -> None:
    app.command("trace")(trace)
