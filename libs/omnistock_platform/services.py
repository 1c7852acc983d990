"""The one table of Omnistock's services: name, ports, package and contract.

Everything that needs to know which services exist reads it: the settings (each row gives
OMNISTOCK_<SERVICE>_PORT, _ADDRESS, _METRICS_PORT and _CONNECT_PORT), the registry (where each
service's code lives), `omnistock up`, the test stack, the benchmark, the chaos suite and the
checks of deploy/. Adding a service is one row here, its package under services/, and its
Literal name in ServiceName. Rows are in start order: a service comes after those it calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

ServiceName = Literal["inventory", "reservations", "orders", "fulfilment", "insights", "webhooks"]

# Connect and gRPC-Web (HTTP/1.1: browsers, curl, TypeScript) listen this far above the gRPC port.
CONNECT_PORT_OFFSET = 1000


@dataclass(frozen=True)
class Service:
    name: ServiceName
    # Where the service serves gRPC unless OMNISTOCK_<SERVICE>_PORT says otherwise.
    port: int
    # Where it serves Prometheus metrics (GET /metrics) unless OMNISTOCK_<SERVICE>_METRICS_PORT says
    # otherwise (0: none).
    metrics_port: int
    # Its gRPC service in the contract (protos/omnistock/<name>/v1/<name>.proto).
    grpc_service: str

    @property
    def connect_port(self) -> int:
        """Where it serves Connect and gRPC-Web unless OMNISTOCK_<SERVICE>_CONNECT_PORT says otherwise (0: none)."""
        return self.port + CONNECT_PORT_OFFSET

    @property
    def package(self) -> str:
        return f"omnistock_{self.name}"

    @property
    def entrypoint(self) -> str:
        """The module `python -m` runs: `bootstrap(settings)` and `main()`."""
        return f"{self.package}.entrypoints.main"

    @property
    def stub_path(self) -> tuple[str, str]:
        """The generated module of its gRPC stub, and the stub's name in it."""
        return f"omnistock.{self.name}.v1.{self.name}_pb2_grpc", f"{self.grpc_service.rsplit('.', 1)[1]}Stub"

    @property
    def env_prefix(self) -> str:
        return f"OMNISTOCK_{self.name.upper()}_"


TABLE: tuple[Service, ...] = (
    Service("inventory", 50051, 9464, "omnistock.inventory.v1.InventoryService"),
    Service("reservations", 50052, 9465, "omnistock.reservations.v1.ReservationsService"),
    Service("orders", 50053, 9466, "omnistock.orders.v1.OrdersService"),
    Service("fulfilment", 50054, 9467, "omnistock.fulfilment.v1.FulfilmentService"),
    Service("insights", 50055, 9468, "omnistock.insights.v1.InsightsService"),
    Service("webhooks", 50056, 9469, "omnistock.webhooks.v1.WebhooksService"),
)

SERVICES: tuple[ServiceName, ...] = tuple(service.name for service in TABLE)
_BY_NAME: dict[str, Service] = {service.name: service for service in TABLE}

if set(SERVICES) != set(get_args(ServiceName)):  # pragma: no cover - a row without its name, or the reverse
    raise ImportError(f"ServiceName {get_args(ServiceName)} and the table {SERVICES} name different services")


def service(name: str) -> Service:
    """The row of one service; KeyError for a name that is not one."""
    return _BY_NAME[name]


def in_start_order(names: Iterable[str]) -> list[ServiceName]:
    """The given services in the table's order."""
    wanted = set(names)
    return [name for name in SERVICES if name in wanted]
