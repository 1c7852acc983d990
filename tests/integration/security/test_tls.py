"""TLS for gRPC: a service serves with the certificate and key from its settings, optionally
requiring client certificates; clients trust the CA from theirs and present their certificate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.inventory.v1 import inventory_pb2_grpc
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.grpc.client import open_channel
from omnistock_platform.registry import bootstrap_of
from omnistock_platform.settings import Settings
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.security.keys import Authority, Issued

TIMEOUT = 5.0


@dataclass
class Pki:
    ca: Authority
    server: Issued
    client: Issued
    stranger: Issued


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = Authority(tmp_path / "ca")
    elsewhere = Authority(tmp_path / "elsewhere", name="Someone Else CA")
    return Pki(
        ca=ca,
        server=ca.issue("inventory", server=True),
        client=ca.issue("reservations", server=False),
        stranger=elsewhere.issue("mallory", server=False),
    )


@asynccontextmanager
async def inventory_with(settings: Settings) -> AsyncIterator[str]:
    """Inventory in-process with these settings on a free port; yields its address."""
    app = bootstrap_of("inventory")(settings)
    port = await app.start(port=0)
    try:
        yield f"{settings.host}:{port}"
    finally:
        await app.stop(grace=1.0)


def stub(settings: Settings, address: str, **client: Any) -> tuple[grpc.aio.Channel, Any]:
    """A client of the platform (open_channel) with the given TLS settings and an admin token."""
    client_settings = settings.model_copy(
        update={"tls_cert_file": None, "tls_key_file": None, "tls_client_ca_file": None, **client}
    )
    token = TokenAuthority(settings).mint(Role.ADMIN, "tls-test")
    channel = open_channel(client_settings, "inventory", lambda: token, address=address)
    return channel, inventory_pb2_grpc.InventoryServiceStub(channel)


async def answer(inventory: Any) -> grpc.StatusCode:
    """NOT_FOUND means the call got through TLS, authentication and into the service."""
    try:
        await inventory.GetSku(ipb.GetSkuRequest(sku="NO-SUCH-SKU"), timeout=TIMEOUT)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def plaintext_answer(address: str) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def test_tls_clients_are_served_and_plaintext_is_refused(omnistock_settings: Settings, pki: Pki) -> None:
    settings = omnistock_settings.model_copy(update={"tls_cert_file": pki.server.cert, "tls_key_file": pki.server.key})
    async with inventory_with(settings) as address:
        channel, inventory = stub(settings, address, tls_ca_file=pki.ca.cert_file)
        async with channel:
            assert await answer(inventory) == grpc.StatusCode.NOT_FOUND
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
        assert await plaintext_answer(address) == grpc.StatusCode.UNAVAILABLE
        # A client that does not trust the server's CA does not talk to it either.
        untrusting, inventory = stub(settings, address, tls_ca_file=pki.stranger.cert)
        async with untrusting:
            assert await answer(inventory) == grpc.StatusCode.UNAVAILABLE


async def test_with_client_auth_only_clients_with_a_certificate_of_the_ca_get_in(
    omnistock_settings: Settings, pki: Pki
) -> None:
    settings = omnistock_settings.model_copy(
        update={
            "tls_cert_file": pki.server.cert,
            "tls_key_file": pki.server.key,
            "tls_client_ca_file": pki.ca.cert_file,
        }
    )
    async with inventory_with(settings) as address:
        with_cert, inventory = stub(
            settings,
            address,
            tls_ca_file=pki.ca.cert_file,
            tls_client_cert_file=pki.client.cert,
            tls_client_key_file=pki.client.key,
        )
        async with with_cert:
            assert await answer(inventory) == grpc.StatusCode.NOT_FOUND
        without_cert, inventory = stub(settings, address, tls_ca_file=pki.ca.cert_file)
        async with without_cert:
            assert await answer(inventory) == grpc.StatusCode.UNAVAILABLE
        strangers, inventory = stub(
            settings,
            address,
            tls_ca_file=pki.ca.cert_file,
            tls_client_cert_file=pki.stranger.cert,
            tls_client_key_file=pki.stranger.key,
        )
        async with strangers:
            assert await answer(inventory) == grpc.StatusCode.UNAVAILABLE
        assert await plaintext_answer(address) == grpc.StatusCode.UNAVAILABLE


async def test_services_call_each_other_under_mutual_tls(omnistock_settings: Settings, pki: Pki) -> None:
    """Reservations asks inventory for a hold over mutual TLS, presenting its own certificate."""
    service = pki.ca.issue("service", server=True, client=True)
    settings = omnistock_settings.model_copy(
        update={
            "tls_cert_file": service.cert,
            "tls_key_file": service.key,
            "tls_client_ca_file": pki.ca.cert_file,
            "tls_ca_file": pki.ca.cert_file,
        }
    )
    stack = Stack(settings)
    await stack.start("inventory", "reservations")
    try:
        inventory = stack.stub("inventory")
        store, sku = unique_id("LOC-TLS-"), unique_id("SKU-TLS-")
        await inventory.UpsertLocation(
            ipb.UpsertLocationRequest(
                request_id=unique_id(),
                location=ipb.Location(
                    location_id=store,
                    name="TLS store",
                    kind=ipb.LOCATION_KIND_STORE,
                    city="Hamburg",
                    point=common_pb2.GeoPoint(latitude=53.5, longitude=10.0),
                    pickup=True,
                    active=True,
                ),
            )
        )
        await inventory.UpsertSku(ipb.UpsertSkuRequest(request_id=unique_id(), sku=ipb.Sku(sku=sku, title="Lamp")))
        await inventory.ReceiveStock(
            ipb.ReceiveStockRequest(request_id=unique_id(), location_id=store, sku=sku, quantity=1)
        )
        reserved = await stack.stub("reservations").CreateReservation(
            rpb.CreateReservationRequest(
                request_id=unique_id(),
                channel=common_pb2.CHANNEL_WEB,
                customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Ada"),
                store_id=store,
                lines=[common_pb2.SkuQuantity(sku=sku, quantity=1)],
            ),
            timeout=TIMEOUT,
        )
        assert reserved.reservation.hold_id
        (level,) = (await inventory.GetStock(ipb.GetStockRequest(sku=sku))).levels
        assert (level.on_hand, level.held) == (1, 1)
    finally:
        await stack.close()


def test_half_configured_tls_is_refused(pki: Pki) -> None:
    with pytest.raises(ValueError, match="tls_client_key_file"):
        open_channel(
            Settings(tls_ca_file=pki.ca.cert_file, tls_client_cert_file=pki.client.cert),
            "inventory",
            lambda: "",
            address="127.0.0.1:1",
        )


@pytest.mark.parametrize("mutual", [False, True], ids=["tls", "mutual-tls"])
async def test_connect_reaches_a_grpc_server_that_requires_tls(
    omnistock_settings: Settings, pki: Pki, mutual: bool
) -> None:
    """The Connect port passes calls to the service's own gRPC server over loopback: with TLS (and
    client certificates) required there, that hop uses the service's TLS settings and gets in (its
    certificate serves as client too, as services' certificates do where others require them)."""
    own = pki.ca.issue("inventory-both", server=True, client=True)
    settings = omnistock_settings.model_copy(
        update={
            "tls_cert_file": own.cert,
            "tls_key_file": own.key,
            "tls_ca_file": pki.ca.cert_file,
            "tls_client_ca_file": pki.ca.cert_file if mutual else None,
        }
    )
    app = bootstrap_of("inventory")(settings)
    await app.start(port=0, connect_port=0)
    try:
        token = TokenAuthority(settings).mint(Role.ADMIN, "tls-test")
        async with httpx.AsyncClient(base_url=f"http://{settings.host}:{app.connect_port}", timeout=TIMEOUT) as http:
            answer = await http.post(
                "/omnistock.inventory.v1.InventoryService/GetSku",
                json={"sku": "NO-SUCH-SKU"},
                headers={"authorization": f"Bearer {token}"},
            )
        assert answer.status_code == 404, answer.text
        assert answer.json()["code"] == "not_found"
    finally:
        await app.stop(grace=1.0)
