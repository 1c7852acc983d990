"""A location's calendar and lead times from a terminal: what its promise dates are computed from
(docs/promises.md). Written in the back office (role admin); read by anyone.

    omnistock locations promise STORE-BER-MITTE --time-zone Europe/Berlin --hours mon-sat=10:00-20:00 \
        --preparation 120 --cutoff 18:00
    omnistock locations promise WH-BER --lead DE-BE=1 --lead DE=2 --default-lead 3 --carrier-days mon-sat
    omnistock locations promise WH-BER --lead 'DE-BY=2;days=mon-fri;closed=2026-08-15,2026-11-01'
    omnistock locations promise STORE-BER-MITTE --closed 2026-12-24,2026-12-25 --hours-on 2026-12-31=10:00-14:00
    omnistock locations show STORE-BER-MITTE
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from omnistock_client import OmnistockClient

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_cli.acting import Call, acting
from omnistock_cli.commands import INT32_MAX, data
from omnistock_cli.context import fail
from omnistock_cli.groups import add_group
from omnistock_cli.output import table
from omnistock_platform.auth import Role
from omnistock_platform.validation import whole_number

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SETTINGS_COLUMNS = ["setting", "value"]


NONE = "none"


def _weekdays(spec: str, whole: str, option: str = "--hours") -> list[int]:
    """mon, mon-fri, or a comma list of those -> ISO weekdays."""
    found: list[int] = []
    for part in spec.lower().split(","):
        first, _, last = part.strip().partition("-")
        if first not in DAYS or (last and last not in DAYS):
            fail(f"{option} {whole!r}: {part!r} is not a weekday or range", hint="for example mon-fri or sat,sun")
        start, end = DAYS.index(first) + 1, DAYS.index(last or first) + 1
        if end < start:
            fail(f"{option} {whole!r}: {part!r} runs backwards", hint="for example mon-fri")
        found.extend(range(start, end + 1))
    return found


def hours_spec(spec: str) -> list[pb.OpeningHours]:
    """DAYS=HH:MM-HH:MM[,HH:MM-HH:MM], e.g. mon-fri=10:00-13:00,14:00-20:00; DAYS=closed for none."""
    days, sep, spans = spec.partition("=")
    if not sep:
        fail(f"--hours {spec!r} is not DAYS=HH:MM-HH:MM", hint="for example --hours mon-sat=10:00-20:00")
    weekdays = _weekdays(days, spec)
    if spans.strip().lower() == "closed":
        return []
    found: list[pb.OpeningHours] = []
    for span in spans.split(","):
        opens, dash, closes = span.strip().partition("-")
        if not dash:
            fail(f"--hours {spec!r}: {span!r} is not HH:MM-HH:MM", hint="for example 10:00-20:00")
        found.extend(pb.OpeningHours(weekday=day, opens=opens, closes=closes) for day in weekdays)
    return found


def dates_spec(specs: list[str]) -> list[str]:
    """Dates given one per option or comma-separated; "none" alone clears them (checked by the server)."""
    found = [part.strip() for spec in specs for part in spec.split(",") if part.strip()]
    return [] if [day.lower() for day in found] == [NONE] else found


def date_hours_spec(spec: str) -> list[pb.DateHours]:
    """DATE=HH:MM-HH:MM[,HH:MM-HH:MM], e.g. 2026-12-31=10:00-14:00."""
    day, sep, spans = spec.partition("=")
    if not sep:
        fail(f"--hours-on {spec!r} is not DATE=HH:MM-HH:MM", hint="for example --hours-on 2026-12-31=10:00-14:00")
    found: list[pb.DateHours] = []
    for span in spans.split(","):
        opens, dash, closes = span.strip().partition("-")
        if not dash:
            fail(f"--hours-on {spec!r}: {span!r} is not HH:MM-HH:MM", hint="for example 10:00-14:00")
        found.append(pb.DateHours(date=day.strip(), opens=opens, closes=closes))
    return found


def lead_spec(spec: str) -> pb.CarrierLeadTime:
    """REGION=DAYS[;days=WEEKDAYS][;closed=DATE,DATE], e.g. DE-BE=1 or
    DE-BY=2;days=mon-sat;closed=2026-08-15: the region's own carrier days, else the location's."""
    head, *parts = spec.split(";")
    region, sep, days = head.partition("=")
    business_days = whole_number(days.strip(), 2**31 - 1)  # an int32 of the contract
    if not sep or business_days is None:
        fail(f"--lead {spec!r} is not REGION=DAYS", hint="for example --lead DE-BE=1")
    lead = pb.CarrierLeadTime(region=region.strip(), business_days=business_days)
    for part in parts:
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if sep and name == "days":
            lead.delivery_weekdays.extend(sorted(set(_weekdays(value, spec, "--lead"))))
        elif sep and name == "closed":
            lead.closed_dates.extend(dates_spec([value]))
        else:
            fail(
                f"--lead {spec!r}: {part!r} is not days=WEEKDAYS or closed=DATES",
                hint="for example --lead 'DE-BY=2;days=mon-sat;closed=2026-08-15,2026-11-01'",
            )
    return lead


def _lead_words(lead: pb.CarrierLeadTime) -> str:
    words = f"{lead.region}: {lead.business_days}"
    extra = []
    if lead.delivery_weekdays:
        extra.append(", ".join(DAYS[day - 1] for day in sorted(lead.delivery_weekdays) if 1 <= day <= 7))
    if lead.closed_dates:
        extra.append("closed " + ", ".join(sorted(lead.closed_dates)))
    return f"{words} ({'; '.join(extra)})" if extra else words


def settings_rows(settings: pb.PromiseSettings) -> list[list[Any]]:
    hours: dict[int, list[str]] = {}
    for interval in settings.opening_hours:
        hours.setdefault(interval.weekday, []).append(f"{interval.opens}-{interval.closes}")
    opening = (
        "; ".join(f"{DAYS[day - 1]} {', '.join(spans)}" for day, spans in sorted(hours.items()))
        if hours
        else "every day, around the clock"
    )
    leads = ", ".join(_lead_words(lead) for lead in settings.carrier_lead_times) or "-"
    default = settings.default_carrier_lead_days if settings.HasField("default_carrier_lead_days") else 2
    special: dict[str, list[str]] = {}
    for day_hours in settings.special_hours:
        special.setdefault(day_hours.date, []).append(f"{day_hours.opens}-{day_hours.closes}")
    carrier_days = sorted(settings.carrier_delivery_weekdays) or list(range(1, 6))
    return [
        ["time zone", settings.time_zone or "UTC"],
        ["opening hours", opening],
        ["closed dates", ", ".join(sorted(settings.closed_dates)) or "none"],
        ["special hours", "; ".join(f"{day} {', '.join(spans)}" for day, spans in sorted(special.items())) or "none"],
        ["pickup preparation", f"{settings.pickup_preparation_minutes} min"],
        ["order cut-off", settings.order_cutoff or "none"],
        ["carrier lead (business days)", leads],
        ["other regions", f"{default} business days"],
        ["carrier delivers", ", ".join(DAYS[day - 1] for day in carrier_days)],
        ["carrier closed dates", ", ".join(sorted(settings.carrier_closed_dates)) or "none"],
    ]


@acting(Role.ADMIN, works_at=False)
def set_promise(
    location_id: Annotated[str, typer.Argument(metavar="LOCATION", help="The location, e.g. STORE-BER-MITTE.")],
    time_zone: Annotated[
        str | None, typer.Option("--time-zone", help="IANA time zone, e.g. Europe/Berlin (default UTC).")
    ] = None,
    hours: Annotated[
        list[str] | None,
        typer.Option(
            "--hours",
            help="DAYS=HH:MM-HH:MM[,HH:MM-HH:MM] or DAYS=closed, e.g. mon-sat=10:00-20:00; repeat. "
            "Days not named are closed; none given: the current hours stay.",
        ),
    ] = None,
    always_open: Annotated[
        bool, typer.Option("--always-open", help="Open every day around the clock (no opening hours).")
    ] = False,
    preparation: Annotated[
        int | None, typer.Option("--preparation", max=INT32_MAX, help="Minutes of opening time to prepare a pickup.")
    ] = None,
    cutoff: Annotated[
        str | None, typer.Option("--cutoff", help="HH:MM: later orders are handled the next opening day; '' for none.")
    ] = None,
    lead: Annotated[
        list[str] | None,
        typer.Option(
            "--lead",
            help="REGION=DAYS carrier lead time in business days, e.g. DE-BE=1; repeat. Replaces them all. "
            "';days=WEEKDAYS' and ';closed=DATE,DATE' give the region its own carrier days "
            "(else --carrier-days / --carrier-closed), e.g. 'DE-BY=2;days=mon-sat;closed=2026-08-15'.",
        ),
    ] = None,
    default_lead: Annotated[
        int | None, typer.Option("--default-lead", max=INT32_MAX, help="Business days to regions without a --lead.")
    ] = None,
    closed: Annotated[
        list[str] | None,
        typer.Option(
            "--closed",
            help="YYYY-MM-DD the location is closed (holidays), comma-separated or repeated; replaces them all; "
            "'none' for none.",
        ),
    ] = None,
    hours_on: Annotated[
        list[str] | None,
        typer.Option(
            "--hours-on",
            help="DATE=HH:MM-HH:MM[,HH:MM-HH:MM]: that date's own hours, e.g. 2026-12-31=10:00-14:00; repeat. "
            "Replaces them all; 'none' for none.",
        ),
    ] = None,
    carrier_days: Annotated[
        str | None,
        typer.Option("--carrier-days", help="Weekdays the carrier delivers, e.g. mon-sat (default mon-fri)."),
    ] = None,
    carrier_closed: Annotated[
        list[str] | None,
        typer.Option(
            "--carrier-closed",
            help="YYYY-MM-DD the carrier does not deliver (public holidays), comma-separated or repeated; "
            "replaces them all; 'none' for none.",
        ),
    ] = None,
    *,
    call: Call,
) -> None:
    """Set what a location's promise dates are computed from; what is not given stays as it is."""
    if hours and always_open:
        fail("--hours and --always-open contradict each other")

    async def work(client: OmnistockClient) -> pb.Location:
        current = await client.call(client.inventory.GetLocation, pb.GetLocationRequest(location_id=location_id))
        location = pb.Location()
        location.CopyFrom(current.location)
        settings = location.promise_settings
        if time_zone is not None:
            settings.time_zone = time_zone
        if hours or always_open:
            del settings.opening_hours[:]
            for spec in hours or []:
                settings.opening_hours.extend(hours_spec(spec))
        if preparation is not None:
            settings.pickup_preparation_minutes = preparation
        if cutoff is not None:
            settings.order_cutoff = cutoff
        if lead is not None:
            del settings.carrier_lead_times[:]
            settings.carrier_lead_times.extend(lead_spec(spec) for spec in lead)
        if default_lead is not None:
            settings.default_carrier_lead_days = default_lead
        if closed is not None:
            del settings.closed_dates[:]
            settings.closed_dates.extend(dates_spec(closed))
        if hours_on is not None:
            del settings.special_hours[:]
            if [spec.strip().lower() for spec in hours_on] != [NONE]:
                for spec in hours_on:
                    settings.special_hours.extend(date_hours_spec(spec))
        if carrier_days is not None:
            del settings.carrier_delivery_weekdays[:]
            settings.carrier_delivery_weekdays.extend(
                sorted(set(_weekdays(carrier_days, carrier_days, "--carrier-days")))
            )
        if carrier_closed is not None:
            del settings.carrier_closed_dates[:]
            settings.carrier_closed_dates.extend(dates_spec(carrier_closed))
        request = pb.UpsertLocationRequest(request_id=call.request_id, location=location)
        return (await client.call(client.inventory.UpsertLocation, request)).location

    location = call.run(work)
    call.emit(
        data(location),
        render=table(
            f"Promise settings of {location.location_id} saved",
            SETTINGS_COLUMNS,
            settings_rows(location.promise_settings),
        ),
    )


@acting(Role.ADMIN, writes=False, works_at=False)
def show_location(
    location_id: Annotated[str, typer.Argument(metavar="LOCATION", help="The location, e.g. STORE-BER-MITTE.")],
    *,
    call: Call,
) -> None:
    """A location with its promise settings."""
    request = pb.GetLocationRequest(location_id=location_id)
    location = call.ask(lambda client: client.inventory.GetLocation, request).location
    rows = [
        ["name", location.name],
        ["city", location.city],
        ["serves", ", ".join(n for n, on in (("ship", location.ships), ("pickup", location.pickup)) if on) or "-"],
        *settings_rows(location.promise_settings),
    ]
    call.emit(data(location), render=table(f"Location {location.location_id}", SETTINGS_COLUMNS, rows))


EXAMPLES = ("omnistock locations promise STORE-BER-MITTE --hours mon-sat=10:00-20:00 --preparation 120",)


def register(app: typer.Typer) -> None:
    add_group(
        app,
        "locations",
        "Locations: their calendar and lead times for promise dates (promise, show).",
        {"promise": set_promise, "show": show_location},
    )
