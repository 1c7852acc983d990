"""`omnistock insights`: channel figures as tables, as JSON, or as an HTML report a store
manager can open anywhere (see insights_view). `omnistock insights-rebuild` replays the stream
into the figures.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from omnistock_client import OmnistockClient
from omnistock_client.client import new_request_id

from omnistock.insights.v1 import insights_pb2 as pb
from omnistock_cli.acting import Call, acting
from omnistock_cli.context import fail
from omnistock_cli.insights_view import Figures, render_html, render_tables
from omnistock_cli.output import console, message_data, print_json
from omnistock_platform.auth import Role

CHANNELS = {"web": 1, "app": 2, "chat": 3, "pos": 4, "backoffice": 5, "marketplace": 6}
REBUILD_DEADLINE_SECONDS = 600.0


class GroupBy(StrEnum):
    DAY = "day"
    WEEK = "week"


async def fetch_rows(
    client: OmnistockClient, request: pb.GetChannelInsightsRequest, **changes: int
) -> list[pb.ChannelInsights]:
    """Every page of the answer to `request`, with `changes` (group_by, breakdown) made to it."""
    rows: list[pb.ChannelInsights] = []
    page = pb.GetChannelInsightsRequest()
    page.CopyFrom(request)
    for name, value in changes.items():
        setattr(page, name, value)
    while True:
        reply = await client.call(client.insights.GetChannelInsights, page)
        rows.extend(reply.rows)
        if not reply.next_page_token:
            return rows
        page.page_token = reply.next_page_token


async def fetch_figures(client: OmnistockClient, request: pb.GetChannelInsightsRequest, *, report: bool) -> Figures:
    """The rows asked for and the service's sums over them: the whole range for the tables, and
    by period, channel and location too for the report."""
    whole = {"group_by": pb.GROUP_BY_RANGE}
    asked = [
        fetch_rows(client, request),
        fetch_rows(client, request, **whole, breakdown=pb.BREAKDOWN_NONE),
    ]
    if report:
        asked += [
            fetch_rows(client, request, breakdown=pb.BREAKDOWN_NONE),
            fetch_rows(client, request, **whole, breakdown=pb.BREAKDOWN_CHANNEL),
            fetch_rows(client, request, **whole, breakdown=pb.BREAKDOWN_LOCATION),
        ]
    found = await asyncio.gather(*asked)
    figures = Figures(rows=found[0], total=found[1][0] if found[1] else None)
    if report:
        figures.periods, figures.channels, figures.locations = found[2:]
    return figures


@acting(Role.ADMIN, writes=False, works_at=False)
def insights(
    channel: Annotated[
        str | None, typer.Option("--channel", help="web, app, chat, pos, backoffice or marketplace.")
    ] = None,
    location: Annotated[
        str | None, typer.Option("--location", "-l", help="One location (pos and warehouse staff must name one).")
    ] = None,
    from_date: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")] = None,
    to_date: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (UTC). Default: today.")] = None,
    group_by: Annotated[GroupBy, typer.Option("--group-by", case_sensitive=False, help="day or week.")] = GroupBy.DAY,
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report with charts to this file.")
    ] = None,
    *,
    call: Call,
) -> None:
    """Channel figures: reservations, orders, revenue, fulfilment, refused demand and oversells."""
    if channel is not None and channel.lower() not in CHANNELS:
        fail(f"unknown channel {channel!r}", hint=f"one of {', '.join(CHANNELS)}")
    request = pb.GetChannelInsightsRequest(
        channel=CHANNELS[channel.lower()] if channel else 0,  # type: ignore[arg-type]
        location_id=location or "",
        from_date=from_date or "",
        to_date=to_date or "",
        group_by=pb.GROUP_BY_WEEK if group_by is GroupBy.WEEK else pb.GROUP_BY_DAY,
    )

    async def work(client: OmnistockClient) -> Figures:
        if call.as_json:
            return Figures(rows=await fetch_rows(client, request))
        return await fetch_figures(client, request, report=html_file is not None)

    # Staff tokens name the location they ask about.
    figures = call.working_at(location).run(work)
    rows = figures.rows
    if html_file is not None:
        described = ", ".join(
            part
            for part in (
                f"{rows[0].period_start} to {rows[-1].period_end}" if rows else "",
                f"channel {channel}" if channel else "every channel",
                f"location {location}" if location else "every location",
                f"by {group_by.value}",
            )
            if part
        )
        html_file.write_text(render_html(figures, title="Omnistock channel insights", subtitle=described), "utf-8")
        console.print(f"wrote {html_file}")
        return
    call.emit({"rows": [row_data(row) for row in rows]}, render=render_tables(figures))


def row_data(row: pb.ChannelInsights) -> dict[str, object]:
    """A row as JSON with every figure, zeros included (a script reading it finds every key), counts
    as numbers."""
    return message_data(row)


# No --request-id: every rebuild is a new one.
@acting(Role.ADMIN, writes=False, works_at=False)
def insights_rebuild(*, call: Call) -> None:
    """Empty the insights and count the whole event stream again (admin)."""

    async def work(client: OmnistockClient) -> pb.RebuildInsightsResponse:
        request = pb.RebuildInsightsRequest(request_id=new_request_id())
        return await client.call(client.insights.RebuildInsights, request, deadline=REBUILD_DEADLINE_SECONDS)

    reply = call.run(work)
    if call.as_json:
        print_json(reply)
    else:
        console.print(
            f"rebuilt from {reply.events_read} events up to sequence {reply.through_sequence}:"
            f" {reply.events_applied} counted, {reply.events_rejected} rejected"
        )


EXAMPLES = ("omnistock insights --group-by week", "omnistock insights --html insights.html")


def register(app: typer.Typer) -> None:
    app.command("insights")(insights)
    app.command("insights-rebuild")(insights_rebuild)
