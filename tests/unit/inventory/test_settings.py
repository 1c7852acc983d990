"""Inventory keeps its settings in its own package; the one Settings object a process builds
carries them to the service, and the environment's names are the ones they always were."""

from __future__ import annotations

from datetime import timedelta

import pytest

from omnistock_inventory.settings import InventorySettings
from omnistock_platform.registry import settings_class_of
from omnistock_platform.settings import Settings

MOVED = {
    "hold_default_ttl",
    "sweep_interval",
    "hold_transactions",
    "transfer_lead_days_from_warehouse",
    "transfer_lead_days_from_store",
    "transfer_lead_days",
    "stock_view",
    "stock_view_check_interval",
    "stock_view_max_staleness",
    "stock_view_token_wait",
    "count_variance_threshold",
}


def test_the_inventory_settings_are_the_services_own() -> None:
    assert set(InventorySettings.model_fields) - set(Settings.model_fields) == MOVED
    assert settings_class_of("inventory") is InventorySettings
    # Orders bounds its holds by inventory's longest, so that one stays the platform's.
    assert "hold_max_ttl" in Settings.model_fields


def test_what_code_gives_the_platform_settings_reaches_the_service() -> None:
    given = Settings(host="10.0.0.5", hold_default_ttl="90s", stock_view=False, transfer_lead_days="a>b=3")
    settings = InventorySettings.of(given)
    assert (settings.host, settings.hold_default_ttl) == ("10.0.0.5", timedelta(seconds=90))
    assert (settings.stock_view, settings.transfer_lead_days) == (False, "a>b=3")
    assert settings.hold_transactions == InventorySettings.model_fields["hold_transactions"].default
    assert InventorySettings.of(settings) is settings
    assert InventorySettings.of(given.model_copy(update={"sweep_interval": "2s"})).sweep_interval == timedelta(
        seconds=2
    )


def test_the_environment_reaches_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNISTOCK_HOLD_DEFAULT_TTL", "900")
    monkeypatch.setenv("OMNISTOCK_STOCK_VIEW_MAX_STALENESS", "5s")
    monkeypatch.setenv("OMNISTOCK_COUNT_VARIANCE_THRESHOLD", "9")
    settings = InventorySettings.of(Settings())
    assert settings.hold_default_ttl == timedelta(minutes=15)
    assert settings.stock_view_max_staleness == timedelta(seconds=5)
    assert settings.count_variance_threshold == 9
    monkeypatch.setenv("OMNISTOCK_HOLD_TRANSACTIONS", "0")
    with pytest.raises(ValueError, match="hold_transactions"):
        InventorySettings.of(Settings())
