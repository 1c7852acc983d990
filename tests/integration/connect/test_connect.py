"""Connect and gRPC-Web beside gRPC: the same RPCs, the same rules, over HTTP/1.1 from curl,
browsers and TypeScript programs."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import struct
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio
from google.protobuf import descriptor_pool, json_format
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_platform.grpc.connect import BODY_SLACK_BYTES
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.grpc.server import MAX_MESSAGE_BYTES
from omnistock_platform.settings import Settings
from omnistock_platform.testing.stack import Stack, unique_id

STOREFRONT = "https://shop.example.com"
FOREIGN = "https://elsewhere.example.net"
STOCK = "/omnistock.inventory.v1.InventoryService/GetStock"
RECEIVE = "/omnistock.inventory.v1.InventoryService/ReceiveStock"
WATCH = "/omnistock.inventory.v1.InventoryService/WatchStock"


@pytest_asyncio.fixture(scope="module")
async def web(omnistock_settings: Settings) -> AsyncIterator[Stack]:
    """Inventory and reservations with Connect served, a storefront origin allowed."""
    running = Stack(omnistock_settings.model_copy(update={"connect_allowed_origins": (STOREFRONT,)}))
    await running.start("inventory", "reservations")
    yield running
    await running.close()


@pytest_asyncio.fixture(scope="module")
async def shelf(web: Stack) -> tuple[str, str]:
    """A store with three units of a SKU."""
    admin = web.stub("inventory")
    store, sku = unique_id("LOC-"), unique_id("SKU-")
    await admin.UpsertLocation(
        pb.UpsertLocationRequest(
            request_id=unique_id(),
            location=pb.Location(
                location_id=store,
                name="Mitte",
                kind=pb.LOCATION_KIND_STORE,
                city="Berlin",
                point=common_pb2.GeoPoint(latitude=52.52, longitude=13.405),
                pickup=True,
                ships=True,
                till_sales=True,
                active=True,
            ),
        )
    )
    await admin.UpsertSku(
        pb.UpsertSkuRequest(request_id=unique_id(), sku=pb.Sku(sku=sku, title="Green velvet sofa", currency="EUR"))
    )
    await admin.ReceiveStock(pb.ReceiveStockRequest(request_id=unique_id(), location_id=store, sku=sku, quantity=3))
    return store, sku


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def details(body: dict[str, Any], kind: type[Any]) -> list[Any]:
    """google.rpc details of a Connect error body: {"type": full name, "value": base64 of the message}."""
    found = []
    for detail in body.get("details", []):
        if detail["type"] == kind.DESCRIPTOR.full_name:
            value = detail["value"]
            found.append(kind.FromString(base64.b64decode(value + "=" * (-len(value) % 4))))
    return found


def grpc_web_frames(body: bytes) -> tuple[list[bytes], dict[str, str]]:
    """The messages and the trailers of a gRPC-Web response body."""
    messages, trailers, at = [], {}, 0
    while at < len(body):
        flags, size = struct.unpack(">BI", body[at : at + 5])
        chunk = body[at + 5 : at + 5 + size]
        at += 5 + size
        if flags & 0x80:
            for line in chunk.decode().strip().split("\r\n"):
                name, _, value = line.partition(":")
                trailers[name.strip().lower()] = value.strip()
        else:
            messages.append(chunk)
    return messages, trailers


async def test_a_json_post_with_a_bearer_token_returns_stock(web: Stack, shelf: tuple[str, str]) -> None:
    store, sku = shelf
    async with httpx.AsyncClient(base_url=web.connect_urls["inventory"]) as http:
        answer = await http.post(STOCK, json={"sku": sku}, headers=bearer(web.token("storefront")))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    (level,) = answer.json()["levels"]
    assert (level["locationId"], level["sku"], level["onHand"]) == (store, sku, "3")


async def test_binary_connect_answers_the_protobuf_message(web: Stack, shelf: tuple[str, str]) -> None:
    store, sku = shelf
    async with httpx.AsyncClient(base_url=web.connect_urls["inventory"]) as http:
        answer = await http.post(
            STOCK,
            content=pb.GetStockRequest(sku=sku, location_id=store).SerializeToString(),
            headers={**bearer(web.token("chat_agent")), "content-type": "application/proto"},
        )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/proto"
    levels = pb.GetStockResponse.FromString(answer.content).levels
    assert [(level.location_id, level.on_hand) for level in levels] == [(store, 3)]


async def test_grpc_web_answers_the_message_and_its_status_in_the_body(web: Stack, shelf: tuple[str, str]) -> None:
    store, sku = shelf
    message = pb.GetStockRequest(sku=sku).SerializeToString()
    async with httpx.AsyncClient(base_url=web.connect_urls["inventory"]) as http:
        answer = await http.post(
            STOCK,
            content=struct.pack(">BI", 0, len(message)) + message,
            headers={
                **bearer(web.token("storefront")),
                "content-type": "application/grpc-web+proto",
                "x-grpc-web": "1",
            },
        )
    assert answer.status_code == 200
    messages, trailers = grpc_web_frames(answer.content)
    assert trailers["grpc-status"] == "0"
    (response,) = [pb.GetStockResponse.FromString(m) for m in messages]
    assert [(level.location_id, level.on_hand) for level in response.levels] == [(store, 3)]


async def test_no_token_is_unauthenticated_with_the_reason_grpc_gives(web: Stack, shelf: tuple[str, str]) -> None:
    _, sku = shelf
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await web.stub("inventory", token="").GetStock(pb.GetStockRequest(sku=sku))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    (grpc_info,) = details_of(refused.value, error_details_pb2.ErrorInfo)

    async with httpx.AsyncClient(base_url=web.connect_urls["inventory"]) as http:
        answer = await http.post(STOCK, json={"sku": sku})
    assert answer.status_code == 401
    body = answer.json()
    assert body["code"] == "unauthenticated"
    assert body["message"] == refused.value.details()
    (info,) = details(body, error_details_pb2.ErrorInfo)
    assert info.reason == grpc_info.reason
    assert info.domain == grpc_info.domain


async def test_an_invalid_argument_names_the_field(web: Stack) -> None:
    async with httpx.AsyncClient(base_url=web.connect_urls["inventory"]) as http:
        answer = await http.post(STOCK, json={"sku": ""}, headers=bearer(web.token("storefront")))
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "invalid_argument"
    (bad,) = details(body, error_details_pb2.BadRequest)
    assert "sku" in [violation.field for violation in bad.field_violations]
    (info,) = details(body, error_details_pb2.ErrorInfo)
    assert info.reason


async def test_a_replay_through_connect_answers_what_grpc_answered(web: Stack, shelf: tuple[str, str]) -> None:
    store, sku = shelf
    token = web.token("admin", subject="replayer")
    request = pb.ReceiveStockRequest(request_id=unique_id(), location_id=store, sku=sku, quantity=2)
    first = await web.stub("inventory", token=token).ReceiveStock(request)
    async with httpx.AsyncClient(base_url=web.connect_urls["inventory"]) as http:
        replay = await http.post(RECEIVE, json=json_format.MessageToDict(request), headers=bearer(token))
        changed = await http.post(
            RECEIVE,
            json=json_format.MessageToDict(request) | {"quantity": 5},
            headers=bearer(token),
        )
        levels = await http.post(STOCK, json={"sku": sku}, headers=bearer(token))
    assert replay.status_code == 200
    assert json_format.ParseDict(replay.json(), pb.ReceiveStockResponse()) == first
    # The same id with other parameters is refused as over gRPC, and nothing was received twice.
    changed_request = pb.ReceiveStockRequest()
    changed_request.CopyFrom(request)
    changed_request.quantity = 5
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await web.stub("inventory", token=token).ReceiveStock(changed_request)
    (grpc_info,) = details_of(refused.value, error_details_pb2.ErrorInfo)
    assert changed.json()["code"] == refused.value.code().name.lower()
    assert details(changed.json(), error_details_pb2.ErrorInfo)[0].reason == grpc_info.reason
    (level,) = levels.json()["levels"]
    assert int(level["onHand"]) == first.level.on_hand


async def test_a_storefront_origin_passes_the_preflight_and_a_foreign_one_does_not(web: Stack) -> None:
    asking = {"access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type"}
    async with httpx.AsyncClient(base_url=web.connect_urls["inventory"]) as http:
        allowed = await http.options(STOCK, headers={"origin": STOREFRONT, **asking})
        foreign = await http.options(STOCK, headers={"origin": FOREIGN, **asking})
        call = await http.post(
            STOCK, json={"sku": "ANY"}, headers={"origin": FOREIGN, **bearer(web.token("storefront"))}
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == STOREFRONT
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert foreign.status_code == 400
    assert "access-control-allow-origin" not in foreign.headers
    # A simple call from elsewhere gets no CORS header: the foreign page's browser withholds the answer.
    assert "access-control-allow-origin" not in call.headers


async def test_every_rpc_of_the_contract_has_a_connect_route(web: Stack) -> None:
    """Each RPC of every service answers over Connect with the gRPC server's own refusal of a caller
    without a token: the route exists and forwards. A new RPC is covered without a line here."""
    pool = descriptor_pool.Default()
    checked = 0
    async with httpx.AsyncClient() as http:
        for name, app in web.apps.items():
            for servicer in app.servicers:
                for method in pool.FindServiceByName(servicer.full_name).methods:
                    path = f"{web.connect_urls[name]}/{servicer.full_name}/{method.name}"
                    if method.server_streaming:
                        answer = await http.post(
                            path,
                            content=b"\x00\x00\x00\x00\x02{}",
                            headers={"content-type": "application/connect+json"},
                        )
                        assert answer.status_code == 200, path
                        assert b'"unauthenticated"' in answer.content, path
                    else:
                        answer = await http.post(path, json={})
                        assert answer.status_code == 401, (path, answer.text)
                        assert answer.json()["code"] == "unauthenticated", path
                    checked += 1
    assert checked > 20


async def test_watch_stock_streams_over_connect(web: Stack, shelf: tuple[str, str]) -> None:
    store, sku = shelf
    message = json.dumps({"skus": [sku], "locationIds": [store]}).encode()
    async with (
        httpx.AsyncClient(base_url=web.connect_urls["inventory"], timeout=10) as http,
        http.stream(
            "POST",
            WATCH,
            content=struct.pack(">BI", 0, len(message)) + message,
            headers={**bearer(web.token("storefront")), "content-type": "application/connect+json"},
        ) as answer,
    ):
        assert answer.status_code == 200
        buffer = b""
        async for chunk in answer.aiter_bytes():
            buffer += chunk
            if len(buffer) >= 5 and len(buffer) >= 5 + struct.unpack(">I", buffer[1:5])[0]:
                break
        flags, size = struct.unpack(">BI", buffer[:5])
        assert flags == 0
        first = json.loads(buffer[5 : 5 + size])
    assert first["snapshot"] is True
    assert [(level["locationId"], level["sku"]) for level in first["levels"]] == [(store, sku)]


async def test_the_callers_deadline_ends_the_call(web: Stack, shelf: tuple[str, str]) -> None:
    """connect-timeout-ms becomes the gRPC deadline: a watch that would stream for ever ends with
    deadline_exceeded once it has passed."""
    store, sku = shelf
    message = json.dumps({"skus": [sku], "locationIds": [store]}).encode()
    async with httpx.AsyncClient(base_url=web.connect_urls["inventory"], timeout=30) as http:
        answer = await http.post(
            WATCH,
            content=struct.pack(">BI", 0, len(message)) + message,
            headers={
                **bearer(web.token("storefront")),
                "content-type": "application/connect+json",
                "connect-timeout-ms": "500",
            },
        )
    frames, at = [], 0
    while at < len(answer.content):
        flags, size = struct.unpack(">BI", answer.content[at : at + 5])
        frames.append((flags, json.loads(answer.content[at + 5 : at + 5 + size])))
        at += 5 + size
    assert frames[0][1]["snapshot"] is True
    flags, end = frames[-1]
    assert flags & 0x02
    assert end["error"]["code"] == "deadline_exceeded"


async def test_a_message_over_the_limit_is_refused_unread(web: Stack) -> None:
    too_big = {"sku": "X" * (5 * 1024 * 1024)}
    async with httpx.AsyncClient(base_url=web.connect_urls["inventory"], timeout=30) as http:
        answer = await http.post(STOCK, json=too_big, headers=bearer(web.token("storefront")))
    assert answer.json()["code"] == "resource_exhausted"


@pytest.mark.parametrize(
    ("content_type", "body", "says"),
    [
        ("application/json", b"not json", "Failed to load JSON"),
        ("application/json", b'{"sku": "A", "sku": "B"}', "duplicate key sku"),
        ("application/json", b'{"sku": 5}', "sku"),
        ("application/json", b'{"skuu": "A"}', "skuu"),
        ("application/proto", b"\xff\xff\xff", "not a valid GetStock request"),
    ],
)
async def test_a_body_that_is_not_the_request_message_is_invalid_argument(
    web: Stack, content_type: str, body: bytes, says: str
) -> None:
    """A storefront's typo in the JSON (or bytes that are no protobuf) is the caller's to fix: code
    invalid_argument (HTTP 400) with REQUEST_MALFORMED, as gRPC answers undecodable bytes, and the
    message says what is wrong; never unknown (HTTP 500), which reads as the service's fault."""
    async with httpx.AsyncClient(base_url=web.connect_urls["inventory"]) as http:
        answer = await http.post(
            STOCK, content=body, headers={**bearer(web.token("storefront")), "content-type": content_type}
        )
    assert answer.status_code == 400, answer.text
    found = answer.json()
    assert found["code"] == "invalid_argument"
    assert says in found["message"]
    assert "JSON: Failed" not in found["message"] and not found["message"].endswith(".")
    (info,) = details(found, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("REQUEST_MALFORMED", "omnistock.inventory")
    (bad,) = details(found, error_details_pb2.BadRequest)
    assert [violation.description for violation in bad.field_violations] == [found["message"]]


async def test_a_watch_whose_message_is_not_its_request_ends_invalid_argument(web: Stack) -> None:
    message = b'{"skus": "A"}'
    async with httpx.AsyncClient(base_url=web.connect_urls["inventory"], timeout=10) as http:
        answer = await http.post(
            WATCH,
            content=struct.pack(">BI", 0, len(message)) + message,
            headers={**bearer(web.token("storefront")), "content-type": "application/connect+json"},
        )
    flags, size = struct.unpack(">BI", answer.content[:5])
    assert flags & 0x02
    end = json.loads(answer.content[5 : 5 + size])
    assert end["error"]["code"] == "invalid_argument"
    assert "skus" in end["error"]["message"]


# How long a raw answer is waited for: a wait, never a measure of speed.
ANSWERED_WITHIN = 30.0


async def raw_answer(url: str, head: str, body: bytes = b"") -> tuple[str, bytes]:
    """The status line and body of an HTTP/1.1 request written on a socket as given: the body may be
    less than the head announces, and the answer is read without sending the rest."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head.encode() + body)
        await writer.drain()

        async def line() -> bytes:
            return (await asyncio.wait_for(reader.readline(), ANSWERED_WITHIN)).strip()

        status, headers = (await line()).decode(), {}
        while header := await line():
            name, _, value = header.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            return status, await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), ANSWERED_WITHIN)
        body = b""
        while size := int(await line(), 16):  # chunked
            body += (await asyncio.wait_for(reader.readexactly(size + 2), ANSWERED_WITHIN))[:size]
        return status, body
    finally:
        writer.close()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_larger_than_a_message_is_refused_before_it_is_all_sent(web: Stack, framing: str) -> None:
    """A body over the limit is refused once the limit is passed (a Content-Length over it: at once),
    not gathered in memory whole and measured after: a caller sending gigabytes, with or without a
    token, held them all in the service."""
    token = web.token("storefront")
    over = MAX_MESSAGE_BYTES + BODY_SLACK_BYTES + 1
    head = f"POST {STOCK} HTTP/1.1\r\nhost: shop\r\ncontent-type: application/json\r\nauthorization: Bearer {token}\r\n"
    if framing == "content-length":
        # A gigabyte announced, a few bytes sent: the answer comes without the rest.
        status, body = await raw_answer(
            web.connect_urls["inventory"], head + "content-length: 1000000000\r\n\r\n", b"{"
        )
    else:
        chunk = b"x" * over
        status, body = await raw_answer(
            web.connect_urls["inventory"],
            head + "transfer-encoding: chunked\r\n\r\n",
            f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n",  # and never the last chunk
        )
    assert status.split()[1] == "429", (status, body)
    found = json.loads(body)
    assert found["code"] == "resource_exhausted"
    (info,) = details(found, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("LIMIT_REACHED", "omnistock.inventory")


async def test_gzip_that_inflates_past_the_limit_is_refused_before_it_is_inflated(web: Stack) -> None:
    """Some 64 kilobytes of gzip that inflate to 64 megabytes: refused at the limit (4 MB),
    never inflated whole (measured by what the process allocated while answering it)."""
    bomb = gzip.compress(b"{" + b" " * (64 * 1024 * 1024) + b"}", compresslevel=9)
    assert len(bomb) < MAX_MESSAGE_BYTES
    async with httpx.AsyncClient(base_url=web.connect_urls["inventory"], timeout=60) as http:
        tracemalloc.start()
        try:
            answer = await http.post(
                STOCK,
                content=bomb,
                headers={
                    **bearer(web.token("storefront")),
                    "content-type": "application/json",
                    "content-encoding": "gzip",
                },
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert answer.status_code == 429, answer.text
    assert answer.json()["code"] == "resource_exhausted"
    (info,) = details(answer.json(), error_details_pb2.ErrorInfo)
    assert info.reason == "LIMIT_REACHED"
    assert peak < 8 * MAX_MESSAGE_BYTES, f"{peak} bytes allocated to answer {len(bomb)} bytes"


async def test_gzip_requests_are_answered_and_bytes_that_are_no_gzip_are_invalid_argument(
    web: Stack, shelf: tuple[str, str]
) -> None:
    """A gzip request is read as its JSON; a body that says gzip and is not is the caller's to fix
    (invalid_argument, REQUEST_MALFORMED), never unknown (HTTP 500, the service's fault)."""
    store, sku = shelf
    headers = {**bearer(web.token("storefront")), "content-type": "application/json", "content-encoding": "gzip"}
    async with httpx.AsyncClient(base_url=web.connect_urls["inventory"]) as http:
        # Two gzip members one after the other are one body, as gzip reads them.
        message = json.dumps({"sku": sku}).encode()
        answer = await http.post(
            STOCK, content=gzip.compress(message[:5]) + gzip.compress(message[5:]), headers=headers
        )
        assert answer.status_code == 200, answer.text
        assert [level["locationId"] for level in answer.json()["levels"]] == [store]

        for not_gzip in (b"not gzip at all", gzip.compress(message)[:-12]):
            refused = await http.post(STOCK, content=not_gzip, headers=headers)
            assert refused.status_code == 400, refused.text
            found = refused.json()
            assert found["code"] == "invalid_argument"
            assert "gzip" in found["message"]
            (info,) = details(found, error_details_pb2.ErrorInfo)
            assert (info.reason, info.domain) == ("REQUEST_MALFORMED", "omnistock.inventory")


@pytest.mark.parametrize("timeout", ["soon", "5x", "123456789S", "S"])
async def test_a_grpc_web_timeout_that_is_not_one_is_invalid_argument(web: Stack, timeout: str) -> None:
    """A grpc-timeout header gRPC-Web cannot read is the caller's to fix (invalid_argument, HTTP 400),
    named in the message; never unknown (HTTP 500), the service's fault."""
    message = pb.GetStockRequest(sku="SOFA").SerializeToString()
    async with httpx.AsyncClient(base_url=web.connect_urls["inventory"]) as http:
        answer = await http.post(
            STOCK,
            content=struct.pack(">BI", 0, len(message)) + message,
            headers={
                **bearer(web.token("storefront")),
                "content-type": "application/grpc-web+proto",
                "x-grpc-web": "1",
                "grpc-timeout": timeout,
            },
        )
    assert answer.status_code == 400, answer.text
    found = answer.json()
    assert found["code"] == "invalid_argument"
    assert "grpc-timeout" in found["message"]
    (info,) = details(found, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("REQUEST_MALFORMED", "omnistock.inventory")


@pytest.mark.parametrize("content_type", ["application/grpc", "application/grpc+proto"])
async def test_grpc_sent_to_the_connect_port_is_told_where_grpc_is_served(web: Stack, content_type: str) -> None:
    message = pb.GetStockRequest(sku="SOFA").SerializeToString()
    async with httpx.AsyncClient(base_url=web.connect_urls["inventory"]) as http:
        answer = await http.post(
            STOCK,
            content=struct.pack(">BI", 0, len(message)) + message,
            headers={**bearer(web.token("storefront")), "content-type": content_type},
        )
    assert answer.status_code == 501, answer.text
    found = answer.json()
    assert found["code"] == "unimplemented"
    assert "gRPC port" in found["message"]
