"""Policies: what an operator decided agents may not do, may do only so often, or may do
only with a second person's approval. One per row of `policies` (sql/migrations/0060).

A policy names a tool and, optionally, a condition on the call: `{"amount": {"gt": "500.00"}}`
compares an argument (or the tool's declared effective amount or currency) with a value;
every comparison must hold. Money compares exactly (Decimal). A call whose operand is
missing matches (fail closed). Effects, in precedence order: `deny` > `limit` >
`require_approval`. A limit counts calls (`max_calls`) or an amount (`max_amount`) in a
rolling window, per agent or per tenant, in the database under a row lock per counter.

The guard evaluates policies after permission, validation and the idempotency replay, before
the handler, inside the call's transaction. Policies are cached per tenant with the tenant's
policy version, which every call checks in its opening statement: a change reaches the next
call on every server.
"""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from pydantic import BaseModel, TypeAdapter, ValidationError

from .canonical import normal
from .database import Database, Tx
from .errors import InvalidInput, PermissionDenied
from .money import plain
from .queries import QueryRef

LIST_POLICIES = QueryRef("governance", "list_policies")
POLICY_VERSION = QueryRef("governance", "policy_version")
TAKE_LIMIT = QueryRef("governance", "take_limit")

EFFECTS = ("deny", "limit", "require_approval")  # precedence order
ORDERING = ("gt", "gte", "lt", "lte")
OPERATORS = (*ORDERING, "eq", "ne", "in")
# Pseudo-fields a tool may declare (Domain.tool(amount=...)): the call's effective amount and
# currency, e.g. the balance a void writes off.
AMOUNT, CURRENCY = "amount", "currency"

# How a tool tells what its call moves: (amount, currency), looked up in the call's transaction.
Money = tuple[Decimal | None, str | None]
AmountOf = Callable[[Any, Any], Awaitable[Money]]


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str
    value: Any

    def holds(self, operand: Any) -> bool:
        if operand is None:
            return True  # a missing operand matches: fail closed
        if self.op in ORDERING:
            left, right = Decimal(str(operand)), Decimal(str(self.value))
            return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[
                self.op
            ]
        if self.op == "in":
            return _same_any(operand, self.value)
        same = _same_any(operand, [self.value])
        return same if self.op == "eq" else not same


def _same_any(operand: Any, values: list[Any]) -> bool:
    """Whether the operand equals one of the values, each read as the operand's own type (a
    UUID in any case, an instant in any offset, 5 = "5.00"), never as text."""
    return any(_typed_as(operand, v) == normal(operand) for v in values)


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(kind: type) -> TypeAdapter[Any]:
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)
    return _ADAPTERS[kind]


def _typed_as(operand: Any, value: Any) -> Any:
    try:
        return normal(_adapter(type(operand)).validate_python(value))
    except (ValidationError, TypeError, ValueError):
        return _NO_MATCH


_NO_MATCH = object()


@dataclass(frozen=True)
class Policy:
    id: UUID
    tool: str
    effect: str
    comparisons: tuple[Comparison, ...]
    condition: dict[str, Any] | None
    max_calls: int | None
    max_amount: Decimal | None
    window_seconds: int | None
    scope: str | None
    agent_id: UUID | None
    reason: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Policy:
        condition = row["condition"]
        return cls(
            id=UUID(str(row["id"])),
            tool=row["tool"],
            effect=row["effect"],
            comparisons=tuple(comparisons(condition)),
            condition=condition,
            max_calls=row["max_calls"],
            max_amount=Decimal(str(row["max_amount"])) if row["max_amount"] is not None else None,
            window_seconds=row["window_seconds"],
            scope=row["scope"],
            agent_id=UUID(str(row["agent_id"])) if row["agent_id"] else None,
            reason=row["reason"],
        )

    @property
    def needs_amount(self) -> bool:
        return self.max_amount is not None or any(c.field in (AMOUNT, CURRENCY) for c in self.comparisons)

    def matches(self, agent_id: UUID, args: BaseModel | None, money: Money) -> bool:
        if self.agent_id is not None and self.agent_id != agent_id:
            return False
        return all(c.holds(_operand(c.field, args, money)) for c in self.comparisons)

    def describe(self) -> dict[str, Any]:
        """The policy as agents and operators read it."""
        out: dict[str, Any] = {"policy_id": str(self.id), "tool": self.tool, "effect": self.effect}
        if self.condition:
            out["when"] = self.condition
        if self.effect == "limit":
            out.update(
                max_calls=self.max_calls,
                max_amount=plain(self.max_amount) if self.max_amount is not None else None,
                window_seconds=self.window_seconds,
                per=self.scope,
            )
        if self.agent_id is not None:
            out["agent_id"] = str(self.agent_id)
        if self.reason:
            out["reason"] = self.reason
        return out


def _operand(field: str, args: BaseModel | None, money: Money) -> Any:
    if args is not None and field in type(args).model_fields:
        given = getattr(args, field)
        if given is not None or field not in (AMOUNT, CURRENCY):
            return given
        # Not given: the tool's declared amount or currency (a payment in the invoice's).
    if field == AMOUNT:
        return money[0]
    if field == CURRENCY:
        return money[1]
    return None


def comparisons(condition: dict[str, Any] | None) -> list[Comparison]:
    return [
        Comparison(field, op, value)
        for field, tests in (condition or {}).items()
        for op, value in (tests or {}).items()
    ]


def check_condition(condition: Any, input_model: type[BaseModel], has_amount: bool) -> dict[str, Any]:
    """A condition as it may be stored, or InvalidInput saying what is wrong with it: unknown
    fields and operators, and values that cannot be compared, are refused when the policy is
    added, never at call time."""
    if not isinstance(condition, dict) or not condition:
        raise InvalidInput('the condition must be a JSON object like {"amount": {"gt": "500.00"}}')
    fields = dict(input_model.model_fields)
    pseudo = (AMOUNT, CURRENCY) if has_amount else ()
    for field, tests in condition.items():
        if field not in fields and field not in pseudo:
            known = sorted({*fields, *pseudo} - {"idempotency_key"})
            raise InvalidInput(f"the tool has no field {field!r}; fields: {', '.join(known)}")
        if not isinstance(tests, dict) or not tests:
            raise InvalidInput(f'{field}: give comparisons, like {{"gt": "500.00"}}')
        for op, value in tests.items():
            if op not in OPERATORS:
                raise InvalidInput(f"{field}: unknown operator {op!r}; operators: {', '.join(OPERATORS)}")
            if op in ORDERING:
                if field != AMOUNT and not _numeric(fields.get(field)):
                    raise InvalidInput(f"{field} is not a number, so {op} cannot compare it")
                _decimal(field, value)
            elif op == "in" and (not isinstance(value, list) or not value):
                raise InvalidInput(f"{field}: in takes a non-empty list of values")
            elif isinstance(value, (dict, list)) and op != "in":
                raise InvalidInput(f"{field}: {op} compares with one value")
            elif field in fields:
                for one in value if op == "in" else [value]:
                    _check_value(field, fields[field].annotation, one)
    return condition


def _check_value(field: str, annotation: Any, value: Any) -> None:
    """A value a condition compares a field with must be one the field can hold."""
    try:
        TypeAdapter(annotation).validate_python(value)
    except ValidationError as exc:
        problem = exc.errors(include_url=False, include_input=False)[0]["msg"]
        raise InvalidInput(f"{field}: {value!r} is not a value it can have ({problem})") from None


def _decimal(field: str, value: Any) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(f"{field}: {value!r} is not a number") from None
    if isinstance(value, bool) or not number.is_finite():
        raise InvalidInput(f"{field}: {value!r} is not a number")
    return number


def _numeric(info: Any) -> bool:
    if info is None:
        return False
    annotation = info.annotation
    kinds = typing.get_args(annotation) or (annotation,)
    return any(k in (Decimal, int, float) for k in kinds)


@dataclass(frozen=True)
class TenantPolicies:
    version: int
    by_tool: dict[str, tuple[Policy, ...]]


class PolicyBook:
    """Each tenant's policies, cached with the tenant's policy version."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: dict[UUID, TenantPolicies] = {}

    def cached(self, tenant_id: UUID) -> TenantPolicies | None:
        return self._cache.get(tenant_id)

    async def load(self, tenant_id: UUID) -> TenantPolicies:
        async with self._db.operator_tx() as tx:
            row = await tx.one(LIST_POLICIES, tenant_id=tenant_id)
        if row is None:
            raise PermissionDenied("This agent's business no longer exists; ask an operator.")
        by_tool: dict[str, list[Policy]] = {}
        for p in row["policies"]:
            by_tool.setdefault(p["tool"], []).append(Policy.from_row(p))
        loaded = TenantPolicies(int(row["version"]), {k: tuple(v) for k, v in by_tool.items()})
        self._cache[tenant_id] = loaded
        return loaded

    async def current(self, tenant_id: UUID) -> TenantPolicies:
        return self._cache.get(tenant_id) or await self.load(tenant_id)

    async def checked(self, tx: Tx, tenant_id: UUID) -> TenantPolicies:
        """The tenant's policies as of `tx` (an approval decided by a person in a fresh process,
        or by an agent on a server whose copy is stale): reloaded unless the cached version is
        the tenant's current one."""
        version = await tx.value(POLICY_VERSION)
        cached = self._cache.get(tenant_id)
        if cached is not None and cached.version == version:
            return cached
        return await self.load(tenant_id)


@dataclass(frozen=True)
class Refusal:
    """Why a limit refused a call: the policy and how long until it frees up."""

    policy: Policy
    retry_after_s: int

    @property
    def next_allowed_at(self) -> datetime:
        return datetime.now().astimezone() + timedelta(seconds=self.retry_after_s)
