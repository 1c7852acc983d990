"""Alembic, run per service: each schema has its own version table."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from omnistock_platform.db import sqlalchemy_url
from omnistock_platform.registry import migrations_dir
from omnistock_platform.services import ServiceName
from omnistock_platform.settings import Settings

_HERE = Path(__file__).parent


def alembic_config(settings: Settings, service: ServiceName) -> Config:
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.set_main_option("version_locations", str(migrations_dir(service) / "versions"))
    config.set_main_option("path_separator", "os")
    config.attributes["schema"] = service
    config.attributes["url"] = sqlalchemy_url(settings.database_url)
    return config


def upgrade(settings: Settings, services: list[ServiceName], revision: str = "head") -> None:
    for service in services:
        command.upgrade(alembic_config(settings, service), revision)


async def upgrade_async(settings: Settings, services: list[ServiceName]) -> None:
    """Alembic runs its own event loop, so from async code it runs in a thread."""
    await asyncio.to_thread(upgrade, settings, services)


def autogenerate(settings: Settings, service: ServiceName, message: str) -> None:
    command.revision(alembic_config(settings, service), message=message, autogenerate=True)
