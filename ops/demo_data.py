"""The demo business's data: a home-services company with 200 clients, a catalog, six
staff with hours and time off, a month of appointments around today, invoices in every
status, tasks in every status and 120 memory documents. Deterministic (a fixed seed),
relative to the day it is seeded, and written in one transaction."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from psycopg.types.json import Jsonb

from bizctx.server.database import Tx
from bizctx.server.queries import QueryRef

Embed = Callable[[list[str]], Awaitable[tuple[list[list[float]], str]]]


def _q(name: str) -> QueryRef:
    return QueryRef("demo", name)


FIRST = (
    "Ann James Maria Robert Linda Michael Barbara William Elizabeth David Jennifer Richard Susan Joseph Jessica "
    "Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony Betty Mark Sandra Donald Ashley Steven Emily "
    "Paul Donna Andrew Michelle Joshua Carol Kenneth Amanda Kevin Melissa Brian Deborah George Stephanie Priya "
    "Wei Fatima Omar Yuki Carlos Sofia Liam Olivia Noah Ava"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
    "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis "
    "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera "
    "Campbell Mitchell Carter Roberts Patel Chen Kim Okafor Schmidt"
).split()
STREETS = "Maple Oak Pine Cedar Elm Birch Walnut Chestnut Spruce Willow Hickory Poplar Laurel Magnolia Aspen".split()
TOWNS = (
    ("Brooklyn", "11215"),
    ("Queens", "11375"),
    ("Hoboken", "07030"),
    ("Jersey City", "07302"),
    ("Yonkers", "10701"),
    ("New Rochelle", "10801"),
)
COMPANIES = (
    "Harbor Dental Group",
    "Bluebird Bakery",
    "Northside Yoga Studio",
    "Greenleaf Law LLP",
    "Summit Realty",
    "Corner Books",
    "Riverside Veterinary",
    "Atlas Architects",
    "Maple Street Cafe",
    "Brightpath Tutoring",
    "Keystone Insurance",
    "Union Square Salon",
    "Pinecrest Pediatrics",
    "Lighthouse Accounting",
    "Copper Kettle Diner",
    "Evergreen Florist",
    "Metro Print Shop",
    "Sunrise Daycare",
    "Ironworks Gym",
    "Parkview Optometry",
)

SERVICES = (
    # code, name, minutes, price, required capabilities
    ("STD", "Standard clean", 120, "120.00", ["cleaning"]),
    ("DEEP", "Deep clean", 240, "280.00", ["cleaning"]),
    ("MOVE", "Move-out clean", 300, "350.00", ["cleaning"]),
    ("WIN", "Window washing", 90, "95.00", ["windows"]),
    ("CARPET", "Carpet shampoo", 120, "150.00", ["carpet"]),
    ("GUTTER", "Gutter cleaning", 120, "140.00", ["ladder"]),
    ("OFFICE", "Office clean", 180, "220.00", ["cleaning", "commercial"]),
    ("OVEN", "Oven clean", 60, "70.00", ["cleaning"]),
)
STAFF = (
    # name, capabilities, works Saturday
    ("Maria Lopez", ["cleaning", "windows"], True),
    ("James Carter", ["cleaning", "carpet"], False),
    ("Aisha Khan", ["cleaning", "commercial"], False),
    ("Tom Becker", ["windows", "ladder"], True),
    ("Lena Novak", ["cleaning"], False),
    ("Sam Ortiz", ["carpet", "ladder", "cleaning"], False),
)
SALES_TAX = Decimal("8.875")


@dataclass
class Seeded:
    clients: int = 0
    appointments: int = 0
    invoices: int = 0
    tasks: int = 0
    mem_docs: int = 0


async def seed_data(
    tx: Tx, tenant_id: UUID, time_zone: str, agents: dict[str, UUID], embed: Embed | None = None
) -> Seeded:
    """Everything but the tenant and agents; skipped (returns None counts) when already there."""
    rng = random.Random(20261123)
    tz = ZoneInfo(time_zone)
    today = datetime.now(tz).date()
    out = Seeded()
    t = {"tenant_id": tenant_id}

    # -- clients -------------------------------------------------------------------------
    segments = {}
    for name, desc in (
        ("Weekly clean", "Cleaned every week"),
        ("Biweekly clean", "Cleaned every other week"),
        ("Commercial", "Offices and shops"),
        ("VIP", "Long-standing, high-value clients"),
    ):
        segments[name] = await tx.value(_q("insert_segment"), **t, name=name, description=desc)
    clients: list[dict[str, Any]] = []
    for i in range(1, 201):
        business = i > 180
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company = COMPANIES[i - 181] if business else None
        town, postal = rng.choice(TOWNS)
        email_local = (company or f"{first}.{last}").lower().replace(" ", "").replace(".", "", 0)
        row = {
            "client_type": "business" if business else "individual",
            "first_name": first,
            "last_name": last,
            "company_name": company,
            "email": f"{email_local}{i}@example.com",
            "phone": f"+1 555 {rng.randint(100, 999)} {i:04d}",
            "mobile_phone": f"+1 555 {rng.randint(100, 999)} {9000 - i:04d}" if rng.random() < 0.5 else None,
            "date_of_birth": None
            if business
            else date(rng.randint(1945, 2002), rng.randint(1, 12), rng.randint(1, 28)),
            "notes": rng.choice(
                [
                    None,
                    None,
                    "Has a friendly dog.",
                    "Allergic to bleach: use green products.",
                    "Prefers morning visits.",
                    "Park in the back lot.",
                    "Key under the mat.",
                ]
            ),
            "status": "archived" if i % 37 == 0 else ("inactive" if i % 23 == 0 else "active"),
            "lifecycle_stage": "lead" if i % 19 == 0 else ("churned" if i % 29 == 0 else "customer"),
            "tags": sorted(
                rng.sample(["pets", "eco", "weekly", "key-holder", "referral", "spanish"], rng.randint(0, 2))
            ),
            "external_ref": f"demo-client-{i:04d}",
        }
        cid = await tx.value(_q("insert_client"), **t, **row)
        street = f"{rng.randint(1, 999)} {rng.choice(STREETS)} St"
        await tx.execute(
            _q("insert_address"),
            **t,
            client_id=cid,
            kind="service",
            line1=street,
            city=town,
            region="NY",
            postal_code=postal,
            is_primary=True,
            access_notes=rng.choice(
                [None, f"Gate code {rng.randint(1000, 9999)}", "Ring twice", "Side door"]
            ),
        )
        if business:
            await tx.execute(_q("insert_membership"), **t, segment_id=segments["Commercial"], client_id=cid)
        elif i % 3 == 0:
            await tx.execute(_q("insert_membership"), **t, segment_id=segments["Weekly clean"], client_id=cid)
        elif i % 3 == 1:
            await tx.execute(
                _q("insert_membership"), **t, segment_id=segments["Biweekly clean"], client_id=cid
            )
        if i % 10 == 0:
            await tx.execute(_q("insert_membership"), **t, segment_id=segments["VIP"], client_id=cid)
        channels = rng.choice([["sms"], ["email"], ["sms", "email"], ["phone"]])
        await tx.execute(
            _q("insert_preference"), **t, client_id=cid, key="reminder_channels", value=Jsonb(channels)
        )
        if rng.random() < 0.3:
            await tx.execute(
                _q("insert_preference"),
                **t,
                client_id=cid,
                key="preferred_technician",
                value=Jsonb(rng.choice(STAFF)[0]),
            )
        if i % 11 == 0:
            await tx.execute(
                _q("insert_opt_out"), **t, client_id=cid, channel="sms", reason="Asked us to stop texting"
            )
        if i % 47 == 0:
            await tx.execute(_q("insert_opt_out"), **t, client_id=cid, channel="all", reason="Do not contact")
        for k in range(rng.randint(0, 3)):
            when = datetime.now(UTC) - timedelta(days=rng.randint(1, 90), hours=k)
            summary, content = rng.choice(
                [
                    ("Asked about pricing for a deep clean", "Wants a quote before the holidays."),
                    ("Complained about a missed spot", "Kitchen floor behind the fridge was skipped."),
                    ("Rescheduled by phone", "Moved to the following week, same time."),
                    ("Thanked the team", "Very happy with Maria's work."),
                    ("Disputed an invoice line", "Says the oven clean was not done."),
                ]
            )
            await tx.execute(
                _q("insert_interaction"),
                **t,
                client_id=cid,
                channel=rng.choice(["phone", "email", "sms"]),
                direction="inbound",
                summary=summary,
                content=content,
                occurred_at=when,
            )
        clients.append({"id": cid, **row, "address": street, "town": town})
    out.clients = len(clients)

    # -- catalog and staff ---------------------------------------------------------------
    services = []
    for code, name, minutes, price, caps in SERVICES:
        sid = await tx.value(
            _q("insert_service"),
            **t,
            code=code,
            name=name,
            description=f"{name} ({minutes} minutes)",
            duration_minutes=minutes,
            price=Decimal(price),
            required_capabilities=caps,
            external_ref=f"demo-service-{code.lower()}",
        )
        services.append(
            {
                "id": sid,
                "code": code,
                "name": name,
                "minutes": minutes,
                "price": Decimal(price),
                "caps": set(caps),
            }
        )
    staff = []
    for n, (name, caps, saturday) in enumerate(STAFF, 1):
        rid = await tx.value(
            _q("insert_resource"),
            **t,
            kind="staff",
            name=name,
            capabilities=caps,
            email=f"{name.split()[0].lower()}@demo-home.example",
            external_ref=f"demo-staff-{n}",
        )
        days = [1, 2, 3, 4, 5] + ([6] if saturday else [])
        for weekday in days:
            end = time(13, 0) if weekday == 6 else time(17, 0)
            await tx.execute(
                _q("insert_availability"),
                **t,
                resource_id=rid,
                weekday=weekday,
                start_time=time(8, 0),
                end_time=end,
            )
        staff.append({"id": rid, "name": name, "caps": set(caps), "days": set(days), "off": set()})
    await tx.value(
        _q("insert_resource"),
        **t,
        kind="vehicle",
        name="Van 1",
        capabilities=["transport"],
        email=None,
        external_ref="demo-van-1",
    )
    for member, offset, length, reason in ((staff[1], 3, 2, "Vacation"), (staff[4], -6, 1, "Sick day")):
        first_day = today + timedelta(days=offset)
        member["off"] |= {first_day + timedelta(days=d) for d in range(length)}
        await tx.execute(
            _q("insert_unavailability"),
            **t,
            resource_id=member["id"],
            starts_at=datetime.combine(first_day, time(0), tz),
            ends_at=datetime.combine(first_day + timedelta(days=length), time(0), tz),
            reason=reason,
        )

    # -- appointments: a month around today ---------------------------------------------
    active_clients = [c for c in clients if c["status"] == "active"]
    completed: list[dict[str, Any]] = []
    n = 0
    for offset in range(-15, 16):
        day = today + timedelta(days=offset)
        for member in staff:
            if day.isoweekday() not in member["days"] or day in member["off"]:
                continue
            end_of_day = datetime.combine(day, time(13, 0) if day.isoweekday() == 6 else time(17, 0), tz)
            start = datetime.combine(day, time(8, 0), tz)
            for _ in range(rng.randint(1, 3)):
                service = rng.choice([s for s in services if s["caps"] <= member["caps"]])
                end = start + timedelta(minutes=service["minutes"])
                if end > end_of_day:
                    break
                client = rng.choice(active_clients)
                n += 1
                aid = await tx.value(
                    _q("insert_appointment"),
                    **t,
                    client_id=client["id"],
                    service_id=service["id"],
                    starts_at=start,
                    ends_at=end,
                    location=f"{client['address']}, {client['town']}",
                    price=service["price"],
                    external_ref=f"demo-appt-{n:04d}",
                )
                await tx.execute(
                    _q("insert_appointment_resource"), **t, appointment_id=aid, resource_id=member["id"]
                )
                roll = rng.random()
                if end < datetime.now(tz):
                    path = (
                        ["cancelled"]
                        if roll < 0.08
                        else (["no_show"] if roll < 0.13 else ["confirmed", "in_progress", "completed"])
                    )
                else:
                    path = ["cancelled"] if roll < 0.07 else (["confirmed"] if roll < 0.6 else [])
                for status in path:
                    reason = "Client asked to cancel" if status == "cancelled" else None
                    await tx.execute(
                        _q("set_appointment_status"), **t, appointment_id=aid, status=status, reason=reason
                    )
                if path and path[-1] == "completed":
                    completed.append({"client": client, "service": service, "day": day})
                start = end + timedelta(minutes=30)
    out.appointments = n

    # -- invoices: one per completed visit, in every status ------------------------------
    statuses = ["paid", "paid", "paid", "open", "open", "partial", "void", "draft"]
    for k, visit in enumerate(completed, 1):
        status = statuses[k % len(statuses)] if k > len(statuses) else statuses[k - 1]
        issue = visit["day"]
        iid = await tx.value(
            _q("insert_invoice"),
            **t,
            client_id=visit["client"]["id"],
            issue_date=issue,
            due_date=issue + timedelta(days=7 if k % 2 else 30),
            notes=None,
            external_ref=f"demo-inv-{k:04d}",
        )
        await tx.execute(
            _q("insert_invoice_item"),
            **t,
            invoice_id=iid,
            position=1,
            description=visit["service"]["name"],
            quantity=Decimal(1),
            unit_price=visit["service"]["price"],
            discount_pct=Decimal(10) if "VIP" in visit["client"]["tags"] else Decimal(0),
            tax_pct=SALES_TAX,
            service_id=visit["service"]["id"],
        )
        if k % 4 == 0:
            await tx.execute(
                _q("insert_invoice_item"),
                **t,
                invoice_id=iid,
                position=2,
                description="Eco cleaning supplies",
                quantity=Decimal(2),
                unit_price=Decimal("7.49"),
                discount_pct=Decimal(0),
                tax_pct=SALES_TAX,
                service_id=None,
            )
        if status == "draft":
            out.invoices += 1
            continue
        await tx.execute(_q("set_invoice_status"), **t, invoice_id=iid, status="open", void_reason=None)
        total = await tx.value(_q("invoice_total"), **t, invoice_id=iid)
        paid_at = datetime.combine(issue + timedelta(days=3), time(12), tz)
        if status == "void":
            await tx.execute(
                _q("set_invoice_status"), **t, invoice_id=iid, status="void", void_reason="Duplicate"
            )
        elif status == "paid":
            await tx.execute(
                _q("insert_payment"),
                **t,
                invoice_id=iid,
                amount=total,
                method=rng.choice(["card", "bank_transfer"]),
                reference=f"PAY-{k:05d}",
                paid_at=paid_at,
            )
        elif status == "partial":
            await tx.execute(
                _q("insert_payment"),
                **t,
                invoice_id=iid,
                amount=(total / 2).quantize(Decimal("0.01")),
                method="cash",
                reference=None,
                paid_at=paid_at,
            )
        out.invoices += 1

    # -- tasks, in every status ----------------------------------------------------------
    ops, desk, billing = agents["operations"], agents["front-desk"], agents["billing"]
    plans = (
        # type, title, final status, requires approval, assignee
        ("send_reminder", "Send tomorrow's appointment reminders", "pending", False, None),
        ("follow_up_call", "Call back about a deep clean quote", "pending", False, desk),
        ("collect_payment", "Chase the overdue invoice", "pending", False, billing),
        ("quality_check", "Check in after the move-out clean", "pending", False, None),
        ("reschedule_request", "Client asked to move next Friday", "pending", False, desk),
        ("refund", "Refund $45 for the skipped oven clean", "awaiting_approval", True, billing),
        ("discount", "Give a 15% loyalty discount", "awaiting_approval", True, None),
        ("send_reminder", "Send this week's window reminders", "claimed", False, None),
        ("quality_check", "Review photos of the office clean", "claimed", False, ops),
        ("follow_up_call", "Thank-you call to a new client", "completed", False, None),
        ("send_reminder", "Send Monday reminders", "completed", False, None),
        ("collect_payment", "Card declined: retry the charge", "failed", False, billing),
        ("sync_calendar", "Push bookings to the staff calendar", "failed", False, None),
        ("send_sms", "Text a client who opted out (refused by the gateway)", "dead", False, None),
        ("follow_up_call", "Call about a cancelled booking", "cancelled", False, None),
    )
    for k in range(40):
        ttype, title, final, approval, assignee = plans[k % len(plans)]
        client = rng.choice(active_clients)
        task_id = await tx.value(
            _q("insert_task"),
            **t,
            type=ttype,
            title=title,
            payload=Jsonb({"client_ref": client["external_ref"]}),
            priority=rng.choice([0, 0, 5, 10]),
            requires_approval=approval,
            assignee_agent_id=assignee,
            created_by_agent_id=rng.choice([ops, desk, billing]),
            due_at=datetime.now(UTC) + timedelta(days=rng.randint(-2, 7)),
            client_id=client["id"],
            max_attempts=1 if final == "dead" else 5,
        )
        worker = assignee or ops
        if final in ("claimed", "completed", "failed", "dead"):
            await tx.execute(_q("claim_task"), **t, task_id=task_id, agent_id=worker)
        if final in ("completed", "failed", "dead", "cancelled"):
            await tx.execute(
                _q("finish_task"),
                **t,
                task_id=task_id,
                status="failed" if final == "dead" else final,
                result=Jsonb({"ok": True}) if final == "completed" else None,
                last_error={"failed": "Gateway timeout", "dead": "Recipient opted out of SMS"}.get(final),
            )
        out.tasks += 1

    # -- memory documents ----------------------------------------------------------------
    docs: list[dict[str, Any]] = []
    for k, client in enumerate(rng.sample(active_clients, 80)):
        name = client["company_name"] or f"{client['first_name']} {client['last_name']}"
        content = rng.choice(
            [
                f"{name}'s gate code is {rng.randint(1000, 9999)}; the key is in the lockbox by the side door.",
                f"{name} prefers {rng.choice(STAFF)[0]} as their technician and mornings before 11.",
                f"{name} disputed invoice charges for an oven clean that was not done; a $45 credit was promised.",
                f"{name} has two cats that must not be let outside; keep the back door closed.",
                f"{name} is allergic to bleach. Use only the eco product line in their home.",
                f"{name} pays late every month but always pays; send the reminder on the 5th.",
                f"Parking at {name}'s building is only on the street after 9am; budget 10 extra minutes.",
            ]
        )
        docs.append(
            {
                "title": f"Notes on {name}",
                "content": content,
                "client_id": client["id"],
                "doc_type": "context",
                "visibility": "shared" if k % 5 else "private",
                "owner": ops if k % 3 else desk,
            }
        )
    knowledge = (
        (
            "How to handle pets",
            "If a pet is loose, pause the clean and call the client. Never let cats outside.",
        ),
        ("Cancellation policy", "Cancellations within 24 hours are charged 50% of the service price."),
        (
            "Refund approval",
            "Refunds over $25 need approval from the operations lead before they are issued.",
        ),
        ("Supplies reorder", "Reorder eco supplies when a van has fewer than five bottles left."),
        ("Key custody", "Client keys stay in the office safe and are signed out per visit."),
        ("Overdue invoices", "After 30 days overdue, call the client before sending a second reminder."),
        ("Holiday hours", "The office closes on public holidays; no visits are booked then."),
        ("Damage reports", "Photograph any damage before touching it and log it as an interaction."),
        ("Window safety", "Ladders above the second floor need two staff on site."),
        ("Carpet drying", "Tell clients carpets need 6 hours to dry; move furniture back only when dry."),
    )
    for k, (title, content) in enumerate(knowledge * 3):
        docs.append(
            {
                "title": title if k < len(knowledge) else f"{title} ({k // len(knowledge) + 1})",
                "content": content,
                "client_id": None,
                "doc_type": "knowledge",
                "visibility": "shared",
                "owner": ops,
            }
        )
    for k, (title, content) in enumerate(
        (
            (
                "Reminder SMS",
                "Hi {first_name}, this is Demo Home Services: see you {date} at {time}. Reply C to cancel.",
            ),
            ("Overdue e-mail", "Dear {name}, invoice {invoice_number} for {amount} is {days} days overdue."),
            ("Thank-you note", "Thank you for choosing Demo Home Services, {first_name}! How did we do?"),
            (
                "Quote follow-up",
                "Hi {first_name}, following up on your quote for a {service}. Shall we book it?",
            ),
        )
        * 3
    ):
        docs.append(
            {
                "title": f"{title} v{k // 4 + 1}",
                "content": content,
                "client_id": None,
                "doc_type": "template",
                "visibility": "shared",
                "owner": ops,
            }
        )
    vectors: list[Any] = [None] * len(docs)
    model = None
    if embed is not None:
        vectors, model = await embed([f"{d['title']}\n{d['content']}" for d in docs])
    for doc, vector in zip(docs, vectors, strict=True):
        await tx.execute(
            _q("insert_mem_doc"),
            **t,
            owner_agent_id=doc["owner"],
            visibility=doc["visibility"],
            doc_type=doc["doc_type"],
            title=doc["title"],
            content=doc["content"],
            metadata=Jsonb({"source": "demo"}),
            client_id=doc["client_id"],
            embedding=vector,
            embedding_model=model if vector is not None else None,
        )
    out.mem_docs = len(docs)
    await tx.execute(_q("analyze_tables"))
    return out
