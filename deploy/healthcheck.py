"""Container health check: the gRPC health protocol against the local service.

    python healthcheck.py [SERVICE]

SERVICE is inventory, reservations, orders, fulfilment or insights; without it, it is read from
PID 1's command line (the entrypoint execs `python -m omnistock_<service>.entrypoints.main`,
and with `--init` the init process keeps `<service>` in its arguments). The port comes from
the same settings the service reads (OMNISTOCK_<SERVICE>_PORT or its default), and TLS is
used when the service serves TLS. Exit 0 when the server answers SERVING, 1 otherwise:
the server reports SERVING only while PostgreSQL answers and NATS is connected.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omnistock_platform.services import SERVICES, TABLE, ServiceName
from omnistock_platform.settings import Settings

TIMEOUT_SECONDS = 3.0


def service_from_command_line(arguments: list[str]) -> ServiceName | None:
    for argument in arguments:
        for row in TABLE:
            if argument in (row.name, row.entrypoint):
                return row.name
    return None


def pid1_arguments() -> list[str]:
    try:
        raw = Path("/proc/1/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def channel(settings: Settings, service: ServiceName) -> grpc.Channel:
    target = f"127.0.0.1:{settings.port(service)}"
    if not (settings.tls_cert_file and settings.tls_key_file):
        return grpc.insecure_channel(target)
    root = (settings.tls_ca_file or settings.tls_cert_file).read_bytes()
    # A server that requires client certificates gets its own certificate back.
    credentials = grpc.ssl_channel_credentials(
        root_certificates=root,
        private_key=settings.tls_key_file.read_bytes() if settings.tls_client_ca_file else None,
        certificate_chain=settings.tls_cert_file.read_bytes() if settings.tls_client_ca_file else None,
    )
    # The certificate names the service as the others reach it (OMNISTOCK_<SERVICE>_ADDRESS).
    host = address_host(settings.address(service))
    return grpc.secure_channel(target, credentials, options=[("grpc.ssl_target_name_override", host)])


def address_host(address: str) -> str:
    """The host of a gRPC target: `inventory:50051`, or `dns:///inventory-headless:50051` as the
    Kubernetes manifests give it."""
    return address.rsplit("/", 1)[-1].rsplit(":", 1)[0]


def check(service: ServiceName, settings: Settings | None = None) -> bool:
    settings = settings or Settings()
    with channel(settings, service) as open_channel:
        try:
            reply = health_pb2_grpc.HealthStub(open_channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT_SECONDS
            )
        except grpc.RpcError as error:
            print(f"{service}: {error.code().name} {error.details()}", file=sys.stderr)
            return False
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{service}: {status}")
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def main(arguments: list[str]) -> int:
    service = service_from_command_line(arguments) if arguments else service_from_command_line(pid1_arguments())
    if service is None:
        print(f"which service? pass one of {', '.join(SERVICES)}", file=sys.stderr)
        return 1
    return 0 if check(service) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
