"""Where each service's code lives, by convention:

- `<module>.adapters.tables`: its SQLModel tables (imported for Alembic);
- `<module>/adapters/migrations/`: its Alembic revisions;
- `<module>.entrypoints.main`: `bootstrap(settings) -> ServiceApp` and `main()`;
- `<module>.adapters.checks` (optional): `read(conn)`, the service's reader for the system's
  invariant checks (see omnistock_platform.invariants).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnistock_platform.settings import SERVICES, ServiceName, Settings

if TYPE_CHECKING:
    from omnistock_platform.grpc.server import ServiceApp


def module_name(service: ServiceName) -> str:
    return f"omnistock_{service}"


def migrations_dir(service: ServiceName) -> Path:
    package = importlib.import_module(module_name(service))
    return Path(package.__file__ or "").parent / "adapters" / "migrations"


def bootstrap_of(service: ServiceName) -> Callable[[Settings], ServiceApp]:
    main = importlib.import_module(f"{module_name(service)}.entrypoints.main")
    return main.bootstrap  # type: ignore[no-any-return]


def checks_reader_of(service: ServiceName) -> Callable[[Any], Any] | None:
    """The service's reader for the invariant checks, if it keeps one in `adapters/checks.py`."""
    try:
        checks = importlib.import_module(f"{module_name(service)}.adapters.checks")
    except ModuleNotFoundError as missing:
        module = module_name(service)
        if missing.name in (module, f"{module}.adapters", f"{module}.adapters.checks"):
            return None
        raise
    return checks.read  # type: ignore[no-any-return]


def installed_services() -> list[ServiceName]:
    """The services whose package is present (every one in a complete install)."""
    found: list[ServiceName] = []
    for service in SERVICES:
        try:
            importlib.import_module(f"{module_name(service)}.entrypoints.main")
        except ModuleNotFoundError:
            continue
        found.append(service)
    return found
