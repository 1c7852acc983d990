"""Where each service's code lives (its row in omnistock_platform.services names the package):

- `<module>.adapters.tables`: its SQLModel tables (imported for Alembic);
- `<module>/adapters/migrations/`: its Alembic revisions;
- `<module>.entrypoints.main`: `bootstrap(settings) -> ServiceApp` and `main()`;
- `<module>.settings` (optional): `SETTINGS`, the service's own settings class, a subclass of
  Settings (its bootstrap takes `SETTINGS.of(settings)`);
- `<module>.adapters.checks` (optional): `read(conn)`, the service's reader for the system's
  invariant checks (see omnistock_platform.invariants), and `violations(conn)`, its own
  invariants alone (for `omnistock verify`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnistock_platform.services import SERVICES, ServiceName, service
from omnistock_platform.settings import Settings

if TYPE_CHECKING:
    from omnistock_platform.grpc.server import ServiceApp


def module_name(name: ServiceName) -> str:
    return service(name).package


def migrations_dir(name: ServiceName) -> Path:
    package = importlib.import_module(module_name(name))
    return Path(package.__file__ or "").parent / "adapters" / "migrations"


def bootstrap_of(name: ServiceName) -> Callable[[Settings], ServiceApp]:
    main = importlib.import_module(service(name).entrypoint)
    return main.bootstrap  # type: ignore[no-any-return]


def checks_reader_of(name: ServiceName) -> Callable[[Any], Any] | None:
    """The service's reader for the invariant checks, if it keeps one in `adapters/checks.py`."""
    checks = _checks_module(name)
    return None if checks is None else checks.read  # type: ignore[no-any-return]


def own_checks_of(name: ServiceName) -> Callable[[Any], Any] | None:
    """`violations(conn)`: the service's own invariants, if its `adapters/checks.py` has them."""
    checks = _checks_module(name)
    return getattr(checks, "violations", None)


def _checks_module(name: ServiceName) -> Any:
    try:
        checks = importlib.import_module(f"{module_name(name)}.adapters.checks")
    except ModuleNotFoundError as missing:
        module = module_name(name)
        if missing.name in (module, f"{module}.adapters", f"{module}.adapters.checks"):
            return None
        raise
    return checks


def settings_class_of(name: ServiceName) -> type[Settings]:
    """The service's own settings class, or the platform's for a service that keeps none."""
    try:
        module = importlib.import_module(f"{module_name(name)}.settings")
    except ModuleNotFoundError as missing:
        if missing.name in (module_name(name), f"{module_name(name)}.settings"):
            return Settings
        raise
    return module.SETTINGS  # type: ignore[no-any-return]


def installed_services() -> list[ServiceName]:
    """The services whose package is present (every one in a complete install)."""
    found: list[ServiceName] = []
    for name in SERVICES:
        try:
            importlib.import_module(service(name).entrypoint)
        except ModuleNotFoundError:
            continue
        found.append(name)
    return found
