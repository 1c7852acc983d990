"""Traces with OpenTelemetry: one trace per request across every service it reaches, and on
through the events it causes.

Configured by the standard variables (`OTEL_TRACES_EXPORTER`, `OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_TRACES_SAMPLER`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`, ...), and off unless an exporter
is set. Off means nothing is instrumented: no interceptor, no wrapper around asyncpg, and every
helper here returns at its first line, so a call costs what it cost without tracing.

How a trace travels:

- gRPC: the official instrumentation's interceptors (server and client) carry it in metadata.
- PostgreSQL: the official asyncpg instrumentation makes a span of every query.
- Events: `Outbox.add` stores the current context (W3C `traceparent`) with the outbox row; the
  relay publishes the row inside a producer span that continues it and puts that span's
  `traceparent` in the NATS message headers; a consumer handles the event inside a consumer span
  that continues the headers' context, and so do the watch streams when they pass a change on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextvars import ContextVar
from importlib.metadata import entry_points
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from omnistock_platform.services import ServiceName
from omnistock_platform.settings import FILE_TRACES_EXPORTER, Settings
from omnistock_platform.traces import SERVICE_ATTRIBUTE, FileSpanExporter

REQUEST_ID_ATTRIBUTE = "omnistock.request_id"
TRACEPARENT = "traceparent"

_W3C = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None
_tracer: trace.Tracer | None = None
service_var: ContextVar[str] = ContextVar("omnistock_service", default="")

# Server errors of gRPC mark a server span as failed; the caller's mistakes do not (OpenTelemetry's
# semantic conventions for RPC).
SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


def enabled() -> bool:
    return _provider is not None


class _NoOrphanClients(sampling.Sampler):
    """Queries and calls made outside any request (the relay's polling, the expiry sweeper, the
    readiness check) start no trace of their own: they would bury the traces worth reading."""

    def __init__(self, base: sampling.Sampler) -> None:
        self.base = base

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Any = None,
        links: Sequence[trace.Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> sampling.SamplingResult:
        if kind is SpanKind.CLIENT and not trace.get_current_span(parent_context).get_span_context().is_valid:
            return sampling.SamplingResult(sampling.Decision.DROP)
        return self.base.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"NoOrphanClients{{{self.base.get_description()}}}"


class _ServiceAttribute(SpanProcessor):
    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        service = service_var.get()
        if service:
            span.set_attribute(SERVICE_ATTRIBUTE, service)

    def on_end(self, span: ReadableSpan) -> None:
        pass


def new_provider(service: str = "", exporters: Sequence[SpanExporter] = (), *, batch: bool = True) -> TracerProvider:
    """A provider as the services use it: the sampler of OTEL_TRACES_SAMPLER (parent-based, always
    on by default) without orphan client spans, and the service named on every span."""
    attributes = {"service.namespace": "omnistock", **({"service.name": service} if service else {})}
    provider = TracerProvider(
        resource=Resource.create(attributes),
        sampler=_NoOrphanClients(sampling._get_from_env_or_default()),
    )
    provider.add_span_processor(_ServiceAttribute())
    for exporter in exporters:
        if batch:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        else:
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor

            provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def exporters_from_environment(settings: Settings, environ: Mapping[str, str] = os.environ) -> list[SpanExporter]:
    """The exporters OTEL_TRACES_EXPORTER names (comma-separated; empty or "none": none). Each is the
    one registered under that name (`otlp`, `console`, ...), configured by its own OTEL_* variables;
    `omnistock_file` appends JSON lines to OMNISTOCK_TRACES_FILE (default <data dir>/traces.jsonl)."""
    names = [name.strip() for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    found: list[SpanExporter] = []
    for name in names:
        if name == "none":
            continue
        if name == FILE_TRACES_EXPORTER:
            found.append(FileSpanExporter(settings.traces_path()))
            continue
        registered = {point.name: point for point in entry_points(group="opentelemetry_traces_exporter")}
        if name not in registered:
            known = ", ".join(sorted({*registered, FILE_TRACES_EXPORTER, "none"}))
            raise ValueError(f"OTEL_TRACES_EXPORTER: no trace exporter is called {name!r}; known: {known}")
        found.append(registered[name].load()())
    return found


def configure(service: ServiceName, settings: Settings, environ: Mapping[str, str] = os.environ) -> bool:
    """At a service process's start: tracing on when OTEL_TRACES_EXPORTER names an exporter."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = exporters_from_environment(settings, environ)
    if not exporters:
        return False
    provider = new_provider(service, exporters)
    trace.set_tracer_provider(provider)
    install(provider)
    return True


def install(provider: TracerProvider) -> None:
    """Trace with `provider` from now on (services started afterwards); PostgreSQL queries included."""
    global _provider, _tracer
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    uninstall()
    _provider = provider
    _tracer = provider.get_tracer("omnistock")
    AsyncPGInstrumentor().instrument(tracer_provider=provider)


def uninstall() -> None:
    global _provider, _tracer
    if _provider is None:
        return
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    AsyncPGInstrumentor().uninstrument()
    _provider = None
    _tracer = None


def shutdown() -> None:
    """Export what is still buffered, at a process's end."""
    provider = _provider
    uninstall()
    if provider is not None:
        provider.shutdown()


# -- gRPC ----------------------------------------------------------------------------------------


def _traced(details: Any) -> bool:
    method = details.method.decode() if isinstance(details.method, bytes) else str(details.method)
    return not method.startswith(("/grpc.health.", "/grpc.reflection."))


def server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    if _provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor(tracer_provider=_provider, filter_=_traced)]


def client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    if _provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return list(aio_client_interceptors(tracer_provider=_provider))


def call_started(service: str) -> None:
    """A call is being served (the access log's interceptor): name the service on its span and on
    every span made for it."""
    if _provider is None:
        return
    service_var.set(service)
    trace.get_current_span().set_attribute(SERVICE_ATTRIBUTE, service)


def call_finished(code: grpc.StatusCode, request_id: str) -> str:
    """Records the call's status and request id on its server span (the interceptor that maps errors
    aborts past the instrumentation's view); returns the trace id, "" without tracing."""
    if _provider is None:
        return ""
    span = trace.get_current_span()
    context = span.get_span_context()
    if not context.is_valid:
        return ""
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if request_id:
        span.set_attribute(REQUEST_ID_ATTRIBUTE, request_id)
    if code in SERVER_ERRORS:
        span.set_status(Status(StatusCode.ERROR, code.name))
    return f"{context.trace_id:032x}"


def trace_id() -> str:
    if _provider is None:
        return ""
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else ""


# -- events ----------------------------------------------------------------------------------------


def traceparent() -> str | None:
    """The current context as a W3C traceparent, stored with an outbox row; None without tracing."""
    if _provider is None:
        return None
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get(TRACEPARENT)


def _context_of(headers: Mapping[str, str] | None) -> Context | None:
    if not headers or TRACEPARENT not in headers:
        return None
    return _W3C.extract({TRACEPARENT: headers[TRACEPARENT]})


def start_publish(
    service: str, subject: str, event_id: str, stored: str | None, headers: MutableMapping[str, str]
) -> Span | None:
    """The relay publishes an outbox row: a producer span continuing the context stored with it,
    whose traceparent the message carries. Without tracing, the stored traceparent travels as it is,
    so a consumer that traces still continues the trace."""
    if stored is None:
        return None
    if _tracer is None:
        headers[TRACEPARENT] = stored
        return None
    token = service_var.set(service)
    try:
        span = _tracer.start_span(
            f"publish {subject}",
            context=_W3C.extract({TRACEPARENT: stored}),
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "send",
                "messaging.destination.name": subject,
                "messaging.message.id": event_id,
            },
        )
    finally:
        service_var.reset(token)
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=trace.set_span_in_context(span))
    headers[TRACEPARENT] = carrier[TRACEPARENT]
    return span


def end_spans(spans: Sequence[Span | None], error: BaseException | None = None) -> None:
    for span in spans:
        if span is None:
            continue
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, repr(error)))
        span.end()


@contextlib.contextmanager
def consuming(
    headers: Mapping[str, str] | None, subject: str, group: str, attributes: Mapping[str, Any] | None = None
) -> Iterator[Span | None]:
    """An event handled by a durable consumer: a consumer span continuing the message's context."""
    if _tracer is None:
        yield None
        return
    with _tracer.start_as_current_span(
        f"process {subject}",
        context=_context_of(headers),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "nats",
            "messaging.operation.type": "process",
            "messaging.destination.name": subject,
            "messaging.consumer.group.name": group,
            **(attributes or {}),
        },
    ) as span:
        yield span


def delivered(headers: Mapping[str, str] | None, stream: str, subject: str) -> None:
    """A watch stream passes a change on to its caller: a short consumer span in the change's trace."""
    if _tracer is None:
        return
    context = _context_of(headers)
    if context is None:
        return
    _tracer.start_span(
        f"deliver {stream}",
        context=context,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "nats",
            "messaging.operation.type": "receive",
            "messaging.destination.name": subject,
        },
    ).end()


def failed(error: BaseException) -> None:
    """Marks the current span as failed (a handler that raised; the event is retried)."""
    if _provider is None:
        return
    span = trace.get_current_span()
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, repr(error)))


def internal(name: str, attributes: Mapping[str, Any] | None = None) -> contextlib.AbstractContextManager[Any]:
    """A span of the service's own work begun outside any request (a resumed change, a sweep)."""
    if _tracer is None:
        return contextlib.nullcontext()
    return _tracer.start_as_current_span(name, kind=SpanKind.INTERNAL, attributes=dict(attributes or {}))
