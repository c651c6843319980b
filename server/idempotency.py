"""Idempotency keys, for writes with no record of their own to find a retry by.

DESIGN: "Writes accept an optional idempotency_key; a retried call returns the first result
and writes nothing new." Writes that create something keep the key on what they create
(clients, appointments, invoices, payments, tasks, mem_docs). The others wrap their work in
`once`: the key is claimed in the call's transaction, the result stored before its COMMIT,
and a retry with the same key (same agent, same tool) gets the stored result back without
running again. The same key with different arguments is a conflict. A call that fails
rolls its claim back with everything else, so its retry runs afresh.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field

from .errors import Conflict
from .guard import Call
from .queries import QueryRef

IdempotencyKey = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=200,
        description="Any unique string; a retry with the same key returns the first result, writing nothing.",
    ),
]

CLAIM = QueryRef("governance", "claim_idempotency_key")
GET = QueryRef("governance", "get_idempotent_result")
STORE = QueryRef("governance", "store_idempotent_result")

Out = TypeVar("Out", bound=BaseModel)


async def once(
    call: Call, tool: str, args: BaseModel, output_model: type[Out], run: Callable[[], Awaitable[Out]]
) -> Out:
    """`run()` once per idempotency key (the `idempotency_key` field of `args`); without a
    key, simply `run()`."""
    key = getattr(args, "idempotency_key", None)
    if key is None:
        return await run()
    fingerprint = _fingerprint(args)
    ids = {"tool": tool, "idempotency_key": key}
    if await call.tx.one(CLAIM, fingerprint=fingerprint, **ids) is None:
        first = await call.tx.one(GET, **ids)
        if first is None or first["fingerprint"] != fingerprint or first["result"] is None:
            raise Conflict(
                f"This idempotency_key was already used for a different {tool} call; use a new key.",
                idempotency_key=key,
            )
        return output_model.model_validate(first["result"])
    result = await run()
    call.tx.defer(STORE, result=Jsonb(result.model_dump(mode="json")), **ids)
    return result


def _fingerprint(args: BaseModel) -> str:
    # The arguments as given (an omitted field differs from an explicit null), key aside.
    given = args.model_dump(mode="json", exclude={"idempotency_key"}, exclude_unset=True)
    return hashlib.sha256(json.dumps(given, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
