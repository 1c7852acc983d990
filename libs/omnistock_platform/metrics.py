"""The Prometheus endpoint of a service process. Metrics are defined in the modules that own
what they measure (the interceptor: calls; the relay: the outbox; the consumer: lag, retries and
dead letters; the database: its pool; each service: its own business)."""

from __future__ import annotations

from prometheus_client import start_http_server

from omnistock_platform.logging import get_logger
from omnistock_platform.services import ServiceName
from omnistock_platform.settings import Settings

log = get_logger(__name__)


def serve(settings: Settings, service: ServiceName) -> int:
    """GET /metrics on the service's metrics port, on the service's host; returns the port, 0 when
    metrics are off for it or the port could not be had. A taken port is logged, not fatal: the
    service's calls matter more than its figures, and Prometheus reports the target down."""
    port = settings.metrics_port(service)
    if not port:
        log.info("metrics.off", service=service, setting=f"OMNISTOCK_{service.upper()}_METRICS_PORT")
        return 0
    try:
        start_http_server(port, addr=settings.host)
    except OSError as error:
        log.error(
            "metrics.unavailable",
            service=service,
            port=port,
            error=str(error),
            detail=f"another process has the port; set OMNISTOCK_{service.upper()}_METRICS_PORT (0: no metrics)",
        )
        return 0
    log.info("metrics.serving", service=service, url=f"http://{settings.host}:{port}/metrics")
    return port
