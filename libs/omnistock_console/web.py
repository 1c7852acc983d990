"""What every page of the console shares: who is signed in, forms checked against CSRF, pages
rendered with the same frame, and failures turned into words."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import structlog
from omnistock_client import OmnistockClient
from omnistock_client.clock import Zones, on_clock, time_zone
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_console.services import Refused, Services
from omnistock_console.staff import CSRF_FIELD, Staff, csrf_ok, csrf_token, current_staff, take_flash
from omnistock_platform.auth import TokenAuthority
from omnistock_platform.settings import Settings

log = structlog.get_logger("omnistock_console")

TEMPLATES = Path(__file__).parent / "templates"
# Form fields are short: codes, quantities, a reason, a token. Anything larger is not from our forms.
MAX_FORM_FIELDS = 400
MAX_FIELD_LENGTH = 4000


class SignInNeeded(Exception):
    """The page needs a signed-in staff member."""


class BadForm(Exception):
    """A POST without the session's CSRF token, or not shaped like our forms."""


def enum_names(enum: Any, prefix: str) -> SimpleNamespace:
    """A protobuf enum for templates: TASK.OPEN rather than a bare number."""
    return SimpleNamespace(**{name.removeprefix(prefix): value for name, value in enum.items()})


def clock(moment: datetime | None, zone: str = "") -> str:
    """A moment on the store's clock (its IANA zone) when one is given, else in UTC; the browser
    shows it again on the same clock (static/console.js)."""
    if not moment:
        return ""
    local, name = on_clock(moment, zone)
    return f"{local:%a %d %b %H:%M} {name}"


def zone_name(zone: str) -> str:
    """The zone `clock` shows a moment in: the store's, or UTC when it has none (never the device's)."""
    return time_zone(zone)[1]


@dataclass
class Console:
    settings: Settings
    services: Services
    authority: TokenAuthority
    templates: Jinja2Templates
    # Each location's time zone, read once for every page and person (not once per page or row).
    zones: Zones = dataclass_field(default_factory=Zones)

    @classmethod
    def build(cls, settings: Settings, services: Services) -> Console:
        templates = Jinja2Templates(directory=str(TEMPLATES))
        templates.env.filters["clock"] = clock
        templates.env.filters["zone_name"] = zone_name
        templates.env.globals.update(
            new_request_id=lambda: str(uuid.uuid4()),
            utc=UTC,
            TASK=enum_names(fpb.TaskStatus, "TASK_STATUS_"),
            RESERVATION=enum_names(rpb.ReservationStatus, "RESERVATION_STATUS_"),
        )
        return cls(settings, services, TokenAuthority(settings), templates)

    def staff(self, request: Request, location_id: str | None = None) -> Staff:
        """The signed-in staff member, at `location_id` when the page names one they work at."""
        staff = current_staff(request, self.authority)
        if staff is None:
            raise SignInNeeded()
        if location_id is None:
            return staff
        if location_id not in staff.principal.locations:
            raise Refused(
                f"You are signed in for {', '.join(staff.locations)}; {location_id} is not one of your locations.",
                403,
                grpc.StatusCode.PERMISSION_DENIED,
            )
        return Staff(staff.token, staff.principal, location_id)

    @contextlib.contextmanager
    def acting_as(self, staff: Staff) -> Iterator[OmnistockClient]:
        with self.services.acting_as(staff.token) as client:
            yield client

    async def zone(self, staff: Staff) -> str:
        """The time zone of the location the staff member works at: its times are shown on its clock."""
        with self.acting_as(staff) as client:
            return await self.zones.zone(client, staff.location_id)

    async def form(self, request: Request) -> FormData:
        """The posted form, after its CSRF token was checked against the session's."""
        try:
            form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FIELD_LENGTH)
        except Exception as error:  # the multipart parser raises its own kinds for a broken body
            raise BadForm("The form could not be read.") from error
        sent = form.get(CSRF_FIELD)
        if not csrf_ok(request, sent if isinstance(sent, str) else None):
            raise BadForm("This form is out of date or did not come from this console. Reload the page and try again.")
        return form

    def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any] | None = None,
        *,
        status: int = 200,
        staff: Staff | None = None,
    ) -> Response:
        values: dict[str, Any] = {
            "staff": staff,
            "csrf_field": CSRF_FIELD,
            "csrf_token": csrf_token(request),
            "flash": take_flash(request),
            "demo": self.settings.console_demo_sign_in,
        }
        values.update(context or {})
        response = self.templates.TemplateResponse(request, template, values, status_code=status)
        # Pages carry a person's work: never kept by a shared device's cache.
        response.headers["cache-control"] = "no-store"
        return response


def field(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name, default)
    return value.strip()[:MAX_FIELD_LENGTH] if isinstance(value, str) else default


def see_other(url: str) -> RedirectResponse:
    """After a change, the page to look at (a reload then never repeats the change)."""
    return RedirectResponse(url, status_code=303)


def request_id_of(form: FormData) -> str:
    """The request id the form was rendered with: one per intended action, so a double click or
    a resubmission reaches the services with the same id and acts once."""
    value = field(form, "request_id")
    try:
        return str(uuid.UUID(value))
    except ValueError as error:
        raise BadForm("The form has no valid request id. Reload the page and try again.") from error
