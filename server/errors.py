"""The error hierarchy. Every error an agent sees is one of these, with a code it
can branch on and a message that says what to do next. Nothing else reaches a client."""

from __future__ import annotations

from typing import Any


class BizctxError(Exception):
    """Root of the errors an agent may see."""

    code: str = "internal"
    retryable: bool = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "retryable": self.retryable, **self.details}


class NotFound(BizctxError):
    code = "not_found"


class Conflict(BizctxError):
    code = "conflict"


class PermissionDenied(BizctxError):
    code = "permission_denied"


class InvalidInput(BizctxError):
    code = "invalid_input"


class Unavailable(BizctxError):
    code = "unavailable"
    retryable = True


class RateLimited(BizctxError):
    code = "rate_limited"
    retryable = True


class Internal(BizctxError):
    """An unexpected failure; the detail is in the server log under the request id."""

    code = "internal"


class StartupError(Exception):
    """Start-up cannot go on (bad key, missing query, edited migration): one line for the operator."""
