"""Onnie error replies: the documented codes and messages, and the two candidate body layouts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

ErrorLayout = Literal["nested", "flat"]

VALIDATION_MESSAGE = "Validation failed; see details.fields"


class OnnieError(Exception):
    """An error reply: HTTP status, Onnie error code, message, ``details`` object and extra headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"[{status}] {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})

    def body(self, layout: ErrorLayout) -> dict[str, Any]:
        """``{"error": {...}}`` when ``layout`` is "nested", the bare object when "flat"."""
        error = {"code": self.code, "message": self.message, "details": self.details}
        return {"error": error} if layout == "nested" else error


def unauthorized() -> OnnieError:
    # The message never echoes the key that was sent.
    return OnnieError(401, "unauthorized", "Missing or invalid API key.")


def forbidden(scope: str) -> OnnieError:
    return OnnieError(403, "forbidden", f"API key lacks required scope: {scope}", {"required_scope": scope})


def not_found(what: str = "Resource") -> OnnieError:
    return OnnieError(404, "not_found", f"{what} not found.")


def rate_limited(headers: Mapping[str, str] | None = None) -> OnnieError:
    return OnnieError(429, "rate_limited", "Token bucket exhausted.", headers=headers)


def bad_request(message: str, **details: Any) -> OnnieError:
    """A 400 that is not about record fields (parameters, body shape, batch size)."""
    return OnnieError(400, "bad_request", message, details)


def validation_failed(fields: Mapping[str, str], **details: Any) -> OnnieError:
    """The documented 400: ``details.fields`` maps each offending column name to a message."""
    return OnnieError(400, "bad_request", VALIDATION_MESSAGE, {"fields": dict(fields), **details})


def server_error(status: int) -> OnnieError:
    return OnnieError(status, "internal_error", "Internal server error.")
