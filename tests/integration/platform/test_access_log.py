"""The access log and tracing of a service process as an operator configures them: by environment.
A line per call with method, status, duration, role, request id and trace id; successes sampled,
everything else always written; spans in the file `omnistock trace` reads, under the same trace id."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.inventory.v1 import inventory_pb2_grpc
from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.settings import Settings
from omnistock_platform.testing.processes import ServiceProcess
from omnistock_platform.traces import read_file


async def omnistock(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "omnistock_cli", *args]
    return await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60)


def access_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "rpc.access":
            lines.append(entry)
    return lines


async def calls(settings: Settings, address: str) -> dict[str, str]:
    """Three successful calls, a refused one and an unauthenticated one; returns their request ids."""
    authority = TokenAuthority(settings)
    admin = (("authorization", f"Bearer {authority.mint(Role.ADMIN, 'test')}"),)
    agent = (("authorization", f"Bearer {authority.mint(Role.CHAT_AGENT, 'test', channel='chat')}"),)
    ids = {"ok": [str(uuid.uuid4()) for _ in range(3)], "refused": str(uuid.uuid4()), "anonymous": str(uuid.uuid4())}
    async with grpc.aio.insecure_channel(address) as channel:
        inventory = inventory_pb2_grpc.InventoryServiceStub(channel)
        sku = f"SKU-{uuid.uuid4().hex[:8]}".upper()
        for request_id in ids["ok"]:
            await inventory.UpsertSku(
                ipb.UpsertSkuRequest(request_id=request_id, sku=ipb.Sku(sku=sku, title="Velvet sofa")), metadata=admin
            )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await inventory.GetSku(
                ipb.GetSkuRequest(sku="NO-SUCH-SKU"), metadata=(*agent, ("x-request-id", ids["refused"]))
            )
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await inventory.GetSku(ipb.GetSkuRequest(sku=sku), metadata=(("x-request-id", ids["anonymous"]),))
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    return {"ok": ",".join(ids["ok"]), "refused": ids["refused"], "anonymous": ids["anonymous"]}


async def test_every_call_has_its_line_when_sampling_keeps_all(omnistock_settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "inventory.log"
    process = ServiceProcess(omnistock_settings, "inventory", log_file=log, extra_env={"OMNISTOCK_LOG_LEVEL": "INFO"})
    await process.start()
    try:
        ids = await calls(omnistock_settings, process.address)
    finally:
        assert process.terminate() == 0
    lines = {line["request_id"]: line for line in access_lines(log)}
    for request_id in ids["ok"].split(","):
        line = lines[request_id]
        assert line["method"] == "/omnistock.inventory.v1.InventoryService/UpsertSku"
        assert (line["code"], line["role"], line["level"], line["trace_id"]) == ("OK", "admin", "info", "")
        assert line["duration_ms"] > 0 and line["service"] == "inventory"
    assert (lines[ids["refused"]]["code"], lines[ids["refused"]]["role"]) == ("NOT_FOUND", "chat_agent")
    assert (lines[ids["anonymous"]]["code"], lines[ids["anonymous"]]["role"]) == ("UNAUTHENTICATED", "")
    # Health checks (the test's own wait for SERVING) are not logged.
    assert not any("Health" in line["method"] for line in lines.values())


async def test_sampled_out_successes_leave_errors_logged_with_the_trace_of_the_call(
    omnistock_settings: Settings, tmp_path: Path
) -> None:
    log, spans = tmp_path / "inventory.log", tmp_path / "traces.jsonl"
    process = ServiceProcess(
        omnistock_settings,
        "inventory",
        log_file=log,
        extra_env={
            "OMNISTOCK_LOG_LEVEL": "INFO",
            "OMNISTOCK_ACCESS_LOG_SAMPLE": "0",
            "OTEL_TRACES_EXPORTER": "omnistock_file",
            "OMNISTOCK_TRACES_FILE": str(spans),
        },
    )
    await process.start()
    try:
        ids = await calls(omnistock_settings, process.address)
    finally:
        assert process.terminate() == 0  # exports what is still buffered
    lines = {line["request_id"]: line for line in access_lines(log)}
    assert not set(ids["ok"].split(",")) & set(lines), "successes are sampled out at 0"
    refused = lines[ids["refused"]]
    assert (refused["code"], refused["role"], refused["level"]) == ("NOT_FOUND", "chat_agent", "info")
    assert len(refused["trace_id"]) == 32 and lines[ids["anonymous"]]["code"] == "UNAUTHENTICATED"

    # The refused call's spans are in the file under the trace id its line gives, its server span
    # named by service, with the request id and the status code.
    recorded = read_file(spans)
    server = [s for s in recorded if s.trace_id == refused["trace_id"] and s.kind == "SERVER"]
    assert [(s.service, s.name) for s in server] == [("inventory", "/omnistock.inventory.v1.InventoryService/GetSku")]
    assert server[0].attributes["omnistock.request_id"] == ids["refused"]
    assert server[0].attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    # Successful calls were traced although not logged.
    assert {s.attributes.get("omnistock.request_id") for s in recorded} >= set(ids["ok"].split(","))

    # `omnistock trace` finds it by request id and draws it.
    shown = await omnistock("trace", "--request-id", ids["refused"], "--file", str(spans))
    assert shown.returncode == 0, shown.stderr
    assert f"trace {refused['trace_id']}" in shown.stdout
    assert "inventory server InventoryService/GetSku" in shown.stdout
    listed = await omnistock("trace", "--file", str(spans), "--json")
    assert listed.returncode == 0, listed.stderr
    assert refused["trace_id"] in {summary["trace_id"] for summary in json.loads(listed.stdout)}
