"""The catalog: the services the business offers and the resources (staff, equipment, rooms,
vehicles) that deliver them, with their weekly hours."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import Field

from bizctx.server.errors import InvalidInput, NotFound
from bizctx.server.guard import Call
from bizctx.server.paging import PageIn, PageOut, keyset_page, read_cursor

from .models import LIST_SERVICES, Resource, ResourceKind, Service, appointments

GET_SERVICE = appointments.query("get_service")
LIST_RESOURCES = appointments.query("list_resources")


async def get_service(call: Call, service_id: UUID) -> dict[str, Any]:
    row = await call.tx.one(GET_SERVICE, service_id=service_id)
    if row is None:
        raise NotFound(f"No service {service_id}; list the services with list_services.")
    return row


def check_resource(row: dict[str, Any] | None, resource_id: UUID, service: dict[str, Any]) -> None:
    """A resource the agent named must exist, be active and have what the service requires."""
    if row is None or not row["active"]:
        raise NotFound(f"No active resource {resource_id}; list them with list_resources.")
    if row["missing_capabilities"]:
        raise InvalidInput(
            f"{row['name']} cannot deliver {service['name']!r}: it lacks {row['missing_capabilities']}. "
            f"Pick one from list_resources with service_id={service['id']}, or omit resource_id."
        )


# -- list_services ----------------------------------------------------------------------------


class ListServicesIn(PageIn):
    include_inactive: bool = Field(default=False, description="Also retired ones.")


class ListServicesOut(PageOut):
    services: list[Service]


@appointments.tool(action="read", title="List services", one_read=True)
async def list_services(call: Call, args: ListServicesIn) -> ListServicesOut:
    """The service catalog by name: length, price, needed capabilities. Returns a page and a
    next_cursor."""
    after = read_cursor(args, kind="list_services", n=str, i=UUID) or {}
    rows = await call.tx.all(
        LIST_SERVICES,
        include_inactive=args.include_inactive,
        after_name=after.get("n"),
        after_id=after.get("i"),
        limit=args.limit + 1,
    )
    page, next_cursor = keyset_page(
        rows, args, kind="list_services", key=lambda r: {"n": r["name"], "i": r["id"]}
    )
    return ListServicesOut(services=[Service(**r) for r in page], next_cursor=next_cursor)


# -- list_resources ---------------------------------------------------------------------------


class ListResourcesIn(PageIn):
    kind: ResourceKind | None = None
    service_id: UUID | None = Field(default=None, description="Able to deliver it.")
    capability: str | None = Field(default=None, min_length=1, max_length=100)
    include_inactive: bool = Field(default=False, description="Also retired ones.")


class ListResourcesOut(PageOut):
    resources: list[Resource]


@appointments.tool(action="read", title="List resources")
async def list_resources(call: Call, args: ListResourcesIn) -> ListResourcesOut:
    """Staff, equipment, rooms and vehicles by name: capabilities, weekly hours (their zone's
    wall times), time off. Returns a page and a next_cursor."""
    required = None
    if args.service_id is not None:
        required = (await get_service(call, args.service_id))["required_capabilities"]
    after = read_cursor(args, kind="list_resources", n=str, i=UUID) or {}
    rows = await call.tx.all(
        LIST_RESOURCES,
        include_inactive=args.include_inactive,
        kind=args.kind,
        capability=args.capability,
        required_capabilities=required,
        after_name=after.get("n"),
        after_id=after.get("i"),
        limit=args.limit + 1,
    )
    page, next_cursor = keyset_page(
        rows, args, kind="list_resources", key=lambda r: {"n": r["name"], "i": r["id"]}
    )
    return ListResourcesOut(resources=[Resource.from_row(r) for r in page], next_cursor=next_cursor)
