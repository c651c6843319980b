"""access_patterns: what data an agent may touch, per domain. A strict model: an unknown
domain, key or redactable field is a validation error, never a silent grant; a domain
that is missing is closed."""

from __future__ import annotations

import json
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

DOMAINS = ("clients", "appointments", "invoices", "tasks", "mem_docs", "contacts", "goals")

# The fields an operator may redact, per domain. Fixed: redaction keys name data
# categories, and each output model maps its own fields onto them.
REDACTABLE: dict[str, frozenset[str]] = {
    "clients": frozenset({"email", "phone", "address", "date_of_birth", "notes"}),
    "appointments": frozenset(),
    "invoices": frozenset(),
    "tasks": frozenset(),
    "mem_docs": frozenset(),
    "contacts": frozenset(),
    "goals": frozenset(),
}


class _DomainAccess(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    read: bool = Field(default=False, strict=True, description="May read this domain's data.")
    write: bool = Field(default=False, strict=True, description="May change this domain's data.")
    redact: tuple[str, ...] = Field(default=(), description="Fields removed from every output.")

    domain_name: ClassVar[str] = ""

    @field_validator("redact")
    @classmethod
    def _known_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        allowed = REDACTABLE[cls.domain_name]
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise ValueError(
                f"cannot redact {unknown}: redactable fields here are {sorted(allowed) or 'none'}"
            )
        return tuple(sorted(set(value)))


class ClientsAccess(_DomainAccess):
    domain_name = "clients"


class AppointmentsAccess(_DomainAccess):
    domain_name = "appointments"


class InvoicesAccess(_DomainAccess):
    domain_name = "invoices"


class TasksAccess(_DomainAccess):
    domain_name = "tasks"
    scope: Literal["all", "assigned"] = Field(
        default="all", description="'assigned': only tasks assigned to or created by the agent."
    )


class MemDocsAccess(_DomainAccess):
    domain_name = "mem_docs"
    scope: Literal["own", "own_and_shared", "all"] = Field(
        default="own_and_shared",
        description="'own': the agent's docs; 'own_and_shared': plus the tenant's shared docs; "
        "'all': every doc in the tenant.",
    )


class ContactsAccess(_DomainAccess):
    """Message templates and the reminder outbox (what a contact says, and when it goes)."""

    domain_name = "contacts"


class GoalsAccess(_DomainAccess):
    """The business's goals, and the KPIs (each also needs read on the domain it is computed from)."""

    domain_name = "goals"


class AccessPatterns(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    clients: ClientsAccess | None = None
    appointments: AppointmentsAccess | None = None
    invoices: InvoicesAccess | None = None
    tasks: TasksAccess | None = None
    mem_docs: MemDocsAccess | None = None
    contacts: ContactsAccess | None = None
    goals: GoalsAccess | None = None

    def domain(self, name: str) -> _DomainAccess | None:
        return getattr(self, name, None) if name in DOMAINS else None

    def allows(self, domain: str, action: str) -> bool:
        section = self.domain(domain)
        return section is not None and bool(getattr(section, action, False))

    def redacted(self, domain: str) -> frozenset[str]:
        section = self.domain(domain)
        return frozenset(section.redact) if section is not None else frozenset()

    def scopes(self) -> dict[str, str]:
        """The row scopes every call of the agent runs with (set in its transaction and
        enforced by row-level policies); a closed domain gets the narrowest."""
        return {
            "tasks": self.tasks.scope if self.tasks is not None else "assigned",
            "mem_docs": self.mem_docs.scope if self.mem_docs is not None else "own",
        }

    def to_json(self) -> dict:
        return self.model_dump(mode="json", exclude_none=True)


def parse_access_patterns(raw: str | dict) -> AccessPatterns:
    """Parse JSON text or a dict; raises ValueError with a readable message."""
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise ValueError(f"access_patterns is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("access_patterns must be a JSON object keyed by domain")
    try:
        return AccessPatterns.model_validate(data)
    except ValidationError as exc:
        raise ValueError("invalid access_patterns: " + "; ".join(_describe(e) for e in exc.errors())) from exc


def _describe(err: ErrorDetails) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "(root)"
    if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
        return f"{where}: unknown domain (domains are {', '.join(DOMAINS)})"
    if err["type"] == "extra_forbidden":
        section = AccessPatterns.model_fields[str(err["loc"][0])].annotation.__args__[0]  # type: ignore[union-attr]
        return f"{where}: unknown key (keys here are {', '.join(section.model_fields)})"
    return f"{where}: {err['msg']}"
