"""Clients: the CRM context. Also the client models other domains nest (a client inside
an appointment or an invoice), so redaction follows the client's fields everywhere."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field

from bizctx.server.redact import Redact
from bizctx.server.registry import Domain

clients = Domain("clients")

Email = Annotated[str | None, Redact("clients", "email")]
Phone = Annotated[str | None, Redact("clients", "phone")]


class ClientRef(BaseModel):
    """A client as other domains show it. email and phone disappear when redacted for the
    agent; build it from a row's client_id, client_name, client_email, client_phone."""

    id: UUID
    display_name: str = Field(description="What to call the client.")
    email: Email = None
    phone: Phone = Field(default=None, description="Phone, or mobile phone when there is no phone.")

    @classmethod
    def from_row(cls, row: dict, prefix: str = "client_") -> ClientRef:
        return cls(
            id=row[f"{prefix}id"],
            display_name=row[f"{prefix}name"],
            email=row.get(f"{prefix}email"),
            phone=row.get(f"{prefix}phone"),
        )
