"""What only belongs on a laptop is said loudly, and refused in production; and every service reports
how late its event loop runs (omnistock_event_loop_lag_seconds), whenever metrics are served."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from omnistock_platform.embedded import free_port
from omnistock_platform.registry import installed_services
from omnistock_platform.settings import DEVELOPMENT_JWT_SECRET, Settings
from omnistock_platform.testing.processes import ServiceProcess, environment
from omnistock_platform.testing.stack import Stack

# A bound only a blocked loop crosses: the probe fires every 0.25 s.
BLOCK_SECONDS = 0.6


def events(path: Path) -> list[dict[str, object]]:
    found = []
    for line in path.read_text().splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


async def test_the_development_secret_is_announced_loudly(
    omnistock_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMNISTOCK_JWT_SECRET", raising=False)
    monkeypatch.delenv("OMNISTOCK_ENV", raising=False)
    log_file = tmp_path / "inventory.log"
    process = await ServiceProcess(omnistock_settings, "inventory", log_file=log_file).start()
    process.terminate()
    warned = [line for line in events(log_file) if line.get("event") == "auth.development_secret"]
    assert len(warned) == 1 and warned[0]["level"] == "warning", log_file.read_text()
    assert "DEVELOPMENT JWT SECRET IS IN USE" in str(warned[0]["detail"])
    assert DEVELOPMENT_JWT_SECRET not in log_file.read_text()


async def test_an_own_secret_is_not_warned_about(
    omnistock_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNISTOCK_JWT_SECRET", "a-secret-of-this-deployment-only-0123456789")
    monkeypatch.setenv("OMNISTOCK_ENV", "production")
    monkeypatch.setenv("OMNISTOCK_LOG_LEVEL", "INFO")
    log_file = tmp_path / "inventory.log"
    process = await ServiceProcess(omnistock_settings, "inventory", log_file=log_file).start()
    process.terminate()
    found = [line.get("event") for line in events(log_file)]
    assert "service.started" in found and "auth.development_secret" not in found


@pytest.mark.parametrize(
    "unsafe",
    [{}, {"OMNISTOCK_AUTH_DISABLED": "true", "OMNISTOCK_JWT_SECRET": "a-secret-of-this-deployment-only-0123456789"}],
    ids=["development-secret", "auth-disabled"],
)
def test_production_refuses_to_start_with_what_belongs_on_a_laptop(
    omnistock_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unsafe: dict[str, str]
) -> None:
    monkeypatch.delenv("OMNISTOCK_JWT_SECRET", raising=False)
    monkeypatch.delenv("OMNISTOCK_AUTH_DISABLED", raising=False)
    env = environment(omnistock_settings, "inventory", free_port(), {})
    env.update({"OMNISTOCK_ENV": "production", "OMNISTOCK_LOG_LEVEL": "INFO", **unsafe})
    done = subprocess.run(
        [sys.executable, "-m", "omnistock_inventory.entrypoints.main"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    refused = [json.loads(line) for line in done.stderr.splitlines() if "service.refused_to_start" in line]
    assert refused and "OMNISTOCK_ENV=production" in refused[0]["reason"], done.stderr
    assert "service.started" not in done.stderr


async def test_every_service_reports_its_event_loop_lag(stack: Stack) -> None:
    for service in installed_services():
        assert REGISTRY.get_sample_value("omnistock_event_loop_lag_seconds", {"service": service}) is not None


async def test_a_blocked_loop_shows_in_the_lag(stack: Stack) -> None:
    """The gauge measures what it says: a loop held for 0.6 s reports a lag of at least 0.3 s."""
    await asyncio.sleep(0.3)  # every probe is waiting on its timer now
    time.sleep(BLOCK_SECONDS)  # noqa: ASYNC251 - blocking the loop is the point
    seen = 0.0
    for _ in range(100):
        await asyncio.sleep(0.01)
        seen = max(seen, REGISTRY.get_sample_value("omnistock_event_loop_lag_seconds", {"service": "inventory"}) or 0)
        if seen >= BLOCK_SECONDS / 2:
            break
    assert seen >= BLOCK_SECONDS / 2


async def test_the_lag_is_served_with_the_metrics(omnistock_settings: Settings, tmp_path: Path) -> None:
    process = await ServiceProcess(omnistock_settings, "inventory", log_file=tmp_path / "inventory.log").start()
    url = f"http://127.0.0.1:{process.metrics_port}/metrics"
    try:
        text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    finally:
        process.terminate()
    assert 'omnistock_event_loop_lag_seconds{service="inventory"}' in text
