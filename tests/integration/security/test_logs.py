"""Secrets never reach a log line: not a caller's token, not the JWT secret, not the password in
DATABASE_URL; and running without authentication is said loudly, at start and on every call."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import grpc
import pytest
import structlog

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.inventory.v1 import inventory_pb2_grpc
from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.logging import configure_logging
from omnistock_platform.settings import Settings
from omnistock_platform.testing.processes import ServiceProcess

PASSWORD = "pw-Sup3r-s3cret-9"
JWT_SECRET = "jwt-secret-never-to-be-seen-7f3a9c1e5b"


def with_password(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{parts.username or 'postgres'}:{PASSWORD}@{host}{f':{parts.port}' if parts.port else ''}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def lines(path: Path) -> list[dict[str, object]]:
    found = []
    for line in path.read_text().splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:  # grpc's own stderr lines, if any
            continue
    return found


def test_the_log_processor_redacts_tokens_secrets_and_url_passwords() -> None:
    token = TokenAuthority(Settings(jwt_secret=JWT_SECRET)).mint(Role.ADMIN, "someone")
    url = f"postgresql://omnistock:{PASSWORD}@db.internal:5432/omnistock"
    output = io.StringIO()
    configure_logging("DEBUG", json=True, secrets=[JWT_SECRET, url], stream=output)
    try:
        log = structlog.get_logger("redaction-test")
        log.info(
            "call",
            authorization=f"Bearer {token}",
            metadata={"authorization": f"Bearer {token}", "x-request-id": "r-1"},
            jwt_secret=JWT_SECRET,
            database_url=url,
            detail=f"the caller sent {token} with {JWT_SECRET}",
            headers=[("authorization", f"bearer {token}")],
        )
        try:
            raise ConnectionError(f"could not reach {url} as Bearer {token}")
        except ConnectionError:
            log.exception("failed")
    finally:
        configure_logging(os.environ.get("OMNISTOCK_LOG_LEVEL", "WARNING"), json=True)
    text = output.getvalue()
    assert text.count("\n") == 2, text
    for secret in (token, PASSWORD, JWT_SECRET):
        assert secret not in text
    assert "db.internal:5432" in text and "[redacted]" in text and "r-1" in text


async def test_a_service_never_logs_the_database_password_the_secret_or_tokens(
    omnistock_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNISTOCK_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("OMNISTOCK_JWT_SECRET", JWT_SECRET)
    settings = omnistock_settings.model_copy(
        update={"database_url": with_password(omnistock_settings.database_url or ""), "jwt_secret": JWT_SECRET}
    )
    log_file = tmp_path / "inventory.log"
    process = await ServiceProcess(settings, "inventory", log_file=log_file).start()
    token = TokenAuthority(settings).mint(Role.STOREFRONT, "web-shop")
    try:
        async with grpc.aio.insecure_channel(process.address) as channel:
            inventory = inventory_pb2_grpc.InventoryServiceStub(channel)
            for metadata in ((("authorization", f"Bearer {token}"),), (("authorization", f"Bearer {token}x"),)):
                with pytest.raises(grpc.aio.AioRpcError):  # NOT_FOUND, then UNAUTHENTICATED: both are logged
                    await inventory.GetSku(ipb.GetSkuRequest(sku="NO-SUCH-SKU"), metadata=metadata, timeout=5)
    finally:
        process.terminate()
    text = log_file.read_text()
    events = [line.get("event") for line in lines(log_file)]
    assert "service.started" in events and events.count("rpc.refused") == 2, text
    for secret in (PASSWORD, JWT_SECRET, token):
        assert secret not in text
    started = next(line for line in lines(log_file) if line.get("event") == "service.started")
    assert "[redacted]@" in str(started["database"])


async def test_running_without_authentication_is_logged_at_start_and_on_every_call(
    omnistock_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNISTOCK_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("OMNISTOCK_AUTH_DISABLED", "true")
    log_file = tmp_path / "inventory.log"
    process = await ServiceProcess(omnistock_settings, "inventory", log_file=log_file).start()
    try:
        async with grpc.aio.insecure_channel(process.address) as channel:
            inventory = inventory_pb2_grpc.InventoryServiceStub(channel)
            for _ in range(2):  # no token at all, and still let in
                with pytest.raises(grpc.aio.AioRpcError) as missing:
                    await inventory.GetSku(ipb.GetSkuRequest(sku="NO-SUCH-SKU"), timeout=5)
                assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        process.terminate()
    found = [line for line in lines(log_file) if line.get("event") == "auth.disabled"]
    at_start = [line for line in found if line.get("level") == "warning"]
    per_call = [line for line in found if line.get("level") == "debug"]
    assert len(at_start) == 1 and "AUTHENTICATION IS OFF" in str(at_start[0]["detail"])
    assert [line["method"] for line in per_call] == ["inventory.GetSku", "inventory.GetSku"]
