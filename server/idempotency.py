"""Idempotency keys: one contract for every write tool, kept by the guard (handlers never
see a key).

The same key from the same agent for the same tool with the same arguments returns the
first call's result and writes nothing; with other arguments it is a `conflict` naming the
first call's time. "The same arguments" means the validated input with defaults applied and
values normalised (canonical.py): `5` and `"5.00"` are one amount, one instant in any offset is
one time.
The key is claimed in the call's own transaction, with its first read (a concurrent call with
it waits for the first to commit), and the result stored with its COMMIT, so a call that fails keeps no key
and its retry runs afresh. Keys live KEEP_DAYS days (sql/migrations/0035_guard_idempotency.sql).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import schemas
from .canonical import digest
from .database import Taken, Tx
from .errors import InvalidInput, KeyReused, PermissionDenied
from .queries import QueryRef

KEEP_DAYS = 30
FIELD = "idempotency_key"

CLAIM = QueryRef("governance", "claim_idempotency_key")
GET = QueryRef("governance", "get_idempotency_key")
STORE = QueryRef("governance", "store_idempotent_result")

# No description: every write tool lists it, and "idempotency key" already says what it does
# to a model (a repeat with the key returns the first result); the README has the contract.
IdempotencyKey = Annotated[str | None, Field(min_length=1, max_length=200)]


class _KeyIn(BaseModel):
    """The key as every write tool takes it (the registry adds it to their input schemas)."""

    model_config = ConfigDict(extra="ignore")
    idempotency_key: IdempotencyKey = None


def key_schema() -> dict[str, Any]:
    """The JSON schema of the `idempotency_key` argument."""
    return schemas.input_schema(_KeyIn)["properties"][FIELD]


def split_key(raw: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The arguments without the key, and the key (validated)."""
    if FIELD not in raw:
        return raw, None
    rest = {k: v for k, v in raw.items() if k != FIELD}
    try:
        key = _KeyIn.model_validate({FIELD: raw[FIELD]}).idempotency_key
    except ValidationError as exc:
        problem = exc.errors(include_url=False, include_input=False)[0]["msg"]
        raise InvalidInput(f"Invalid arguments. idempotency_key: {problem}. Fix it and call again.") from None
    return rest, key


def fingerprint(args: BaseModel | None) -> str:
    """A digest of the validated arguments, normalised (see canonical.py)."""
    return digest(args)


@dataclass(frozen=True)
class FirstCall:
    """The call that used a key first."""

    fingerprint: str | None
    result: Any
    task_id: UUID | None
    scopes: dict[str, str] | None
    entity_type: str | None
    entity_id: str | None
    created_at: datetime


async def claim(tx: Tx, tool: str, key: str, digest: str, scopes: dict[str, str]) -> None:
    """Claim `key` for this call (made under `scopes`). The claim rides with the call's first
    read (Tx.ahead): when the key was used before, that read raises Taken with the first call
    (None when it committed while the claim waited for it: `first_call` reads it), and the
    caller rolls back and replays or refuses in a transaction of its own."""

    def check(rows: list[dict[str, Any]]) -> None:
        if rows and rows[0]["claimed"]:
            return
        found = {k: v for k, v in rows[0].items() if k != "claimed"} if rows else None
        raise Taken(FirstCall(**found) if found is not None else None)

    params = {"tool": tool, "idempotency_key": key, "fingerprint": digest, "scopes": Jsonb(scopes)}
    await tx.ahead(CLAIM, check, **params, keep_days=KEEP_DAYS)


async def first_call(tx: Tx, tool: str, key: str, found: FirstCall | None) -> FirstCall:
    """The first call made with a taken key: as the claim found it, else read now."""
    if found is not None:
        return found
    row = await tx.one(GET, tool=tool, idempotency_key=key)
    if row is None:  # its holder rolled back after all: the key is free again
        raise KeyReused("This idempotency_key is being used by another call right now; retry in a moment.")
    return FirstCall(**row)


# Scopes from narrowest to widest: a replay to a narrower scope than the first call's is refused.
_SCOPE_ORDER = {"tasks": ("assigned", "all"), "mem_docs": ("own", "own_and_shared", "all")}


def narrowed(first: FirstCall, scopes: dict[str, str]) -> bool:
    """Whether the agent's scopes are narrower now than when the key's first call ran: its
    result may then hold tasks or documents the agent can no longer see."""
    then = first.scopes or {}
    return any(
        order.index(scopes.get(domain, order[0])) < order.index(then.get(domain, order[0]))
        for domain, order in _SCOPE_ORDER.items()
    )


def narrowed_refusal(first: FirstCall, tool: str, key: str) -> PermissionDenied:
    return PermissionDenied(
        f"Your access has narrowed since this idempotency_key's {tool} call ran at "
        f"{first.created_at.isoformat()}, so its result is not shown again. Check what happened "
        "with the read tools, and use a new key for a new call.",
        idempotency_key=key,
        first_call_at=first.created_at.isoformat(),
    )


def replayable(first: FirstCall, digest: str) -> bool:
    """Whether a retry with these arguments gets the first call's answer (else it is refused)."""
    return first.fingerprint == digest and (first.result is not None or first.task_id is not None)


def refusal(first: FirstCall, tool: str, key: str) -> KeyReused:
    """The conflict for a key whose first call had other arguments (or unknown ones)."""
    when = first.created_at.isoformat()
    if first.fingerprint is None:
        return KeyReused(
            f"This idempotency_key was used at {when} (before bizctx's upgrade) for a {tool} call; "
            "that call took effect and nothing was written now. Check its outcome with the read "
            "tools, and use a new key for a new call.",
            idempotency_key=key,
            first_call_at=when,
        )
    return KeyReused(
        f"This idempotency_key was already used at {when} for a {tool} call with other arguments; "
        "use a new key for a new call (or repeat the first call's arguments exactly to get its result).",
        idempotency_key=key,
        first_call_at=when,
    )


def store(
    tx: Tx,
    tool: str,
    key: str,
    result: Any,
    entity: tuple[str | None, str | None],
    *,
    task_id: UUID | None = None,
) -> None:
    """Keep the call's result (or, for a call held for approval, its approval task) under its
    key; sent with the COMMIT."""
    tx.defer(
        STORE,
        tool=tool,
        idempotency_key=key,
        result=None if result is None else Jsonb(result),
        task_id=task_id,
        entity_type=entity[0],
        entity_id=entity[1],
    )
