"""Webhooks keep their settings in their own package; the one Settings object a process builds
carries them to the service."""

from __future__ import annotations

from datetime import timedelta

import pytest

from omnistock_platform.registry import settings_class_of
from omnistock_platform.settings import Settings
from omnistock_webhooks.settings import WebhooksSettings


def test_the_webhook_settings_are_the_services_own() -> None:
    own = set(WebhooksSettings.model_fields) - set(Settings.model_fields)
    assert own and all(name.startswith("webhook_") for name in own)
    assert not any(name.startswith("webhook_") for name in Settings.model_fields)
    assert settings_class_of("webhooks") is WebhooksSettings
    assert settings_class_of("fulfilment") is Settings


def test_what_code_gives_the_platform_settings_reaches_the_service() -> None:
    given = Settings(host="10.0.0.5", webhook_timeout="3s", webhook_allowed_networks=["loopback"])
    settings = WebhooksSettings.of(given)
    assert (settings.host, settings.webhook_timeout) == ("10.0.0.5", timedelta(seconds=3))
    assert settings.webhook_allowed_networks == ("loopback",)
    assert settings.webhook_max_attempts == WebhooksSettings.model_fields["webhook_max_attempts"].default
    assert WebhooksSettings.of(settings) is settings
    assert WebhooksSettings.of(given.model_copy(update={"webhook_retry_max": "2m"})).webhook_retry_max == timedelta(
        minutes=2
    )


def test_the_environment_reaches_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNISTOCK_WEBHOOK_CONCURRENCY", "7")
    monkeypatch.setenv("OMNISTOCK_WEBHOOK_REQUIRE_HTTPS", "false")
    settings = WebhooksSettings.of(Settings())
    assert (settings.webhook_concurrency, settings.webhook_require_https) == (7, False)
    monkeypatch.setenv("OMNISTOCK_WEBHOOK_CONCURRENCY", "0")
    with pytest.raises(ValueError, match="webhook_concurrency"):
        WebhooksSettings.of(Settings())
