"""The error hierarchies, in one place.

`BizctxError`: every error an agent sees is one of these, with a code it can branch on and
a message that says what to do next. Nothing else reaches a client.

`OperatorError`: what refuses an operator (a command, start-up): one line for the person
at the terminal, printed by the CLI, which then exits 2.
"""

from __future__ import annotations

from typing import Any


class BizctxError(Exception):
    """Root of the errors an agent may see."""

    code: str = "internal"
    retryable: bool = False
    # Whether the message describes a record (then withheld from write-only callers).
    about_the_record: bool = True

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "retryable": self.retryable, **self.details}

    def withheld(self, domain: str) -> BizctxError:
        """This error as told to a caller who may change `domain` but not read it: a conflict
        or a business rule's refusal describes the record as it stands (a balance, a status, a
        client's words), so it keeps only its code and what the caller needs to act (which
        rule, when to retry, which approval task), never the record's data."""
        if self.code not in _WITHHELD_MESSAGES or not self.about_the_record:
            return self
        shown = type(self)(
            _WITHHELD_MESSAGES[self.code].format(domain=domain),
            **{k: v for k, v in self.details.items() if k in _ACTIONABLE_DETAILS},
        )
        shown.retryable = self.retryable
        return shown


_WITHHELD_MESSAGES = {
    "conflict": "The change conflicts with the record's current state. The details are withheld: you "
    "may change {domain} but not read it; an agent that may read {domain} can look.",
    "policy_blocked": "A business rule (see rule) refuses this now; next_allowed_at, when present, says "
    "when it may be allowed. The reason is withheld: you may change {domain} but not read it.",
    "approval_required": "Nothing was done yet: this call waits for an approver (see task_id). Why is "
    "withheld: you may change {domain} but not read it.",
}
# Details that say how to act on a refusal and nothing about the record.
_ACTIONABLE_DETAILS = frozenset(
    {"rule", "next_allowed_at", "retry_after_s", "limit", "task_id", "request_id"}
)


class NotFound(BizctxError):
    code = "not_found"


class Conflict(BizctxError):
    code = "conflict"


class KeyReused(Conflict):
    """An idempotency key's misuse: about the caller's own calls, never a record."""

    about_the_record = False


class PermissionDenied(BizctxError):
    code = "permission_denied"


class InvalidInput(BizctxError):
    code = "invalid_input"


class Unavailable(BizctxError):
    code = "unavailable"
    retryable = True


class RateLimited(BizctxError):
    """A per-agent limit on calls or on an amount per window; details: limit, retry_after_s."""

    code = "rate_limited"
    retryable = True


class PolicyBlocked(BizctxError):
    """A business rule refuses the action (a deny policy, a tenant-wide limit, an opt-out...);
    details: rule, reason, and next_allowed_at when waiting would help."""

    code = "policy_blocked"


class ApprovalRequired(BizctxError):
    """The call matched an approval policy and nothing was done yet; details: task_id (the
    approval task holding the call) and policy."""

    code = "approval_required"


class Internal(BizctxError):
    """An unexpected failure; the detail is in the server log under the request id."""

    code = "internal"


# Every error an agent can see, by its code (a stored error is raised again as itself).
ERRORS_BY_CODE: dict[str, type[BizctxError]] = {
    cls.code: cls
    for cls in (
        NotFound,
        Conflict,
        PermissionDenied,
        InvalidInput,
        Unavailable,
        RateLimited,
        PolicyBlocked,
        ApprovalRequired,
        Internal,
    )
}


class OperatorError(Exception):
    """Root of what an operator is refused; the message is for the person at the terminal."""


class StartupError(OperatorError):
    """Start-up cannot go on (bad key, missing query, edited migration)."""


class AgentRefused(OperatorError):
    """A key that names no usable agent; the message is safe to show the caller."""


class ImportRefused(OperatorError):
    """A file that cannot be imported as a whole (its kind, format or encoding)."""
