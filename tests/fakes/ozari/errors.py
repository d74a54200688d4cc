"""The fake Ozari API's error: an HTTP status and the ``{"success": false, "error": ...}`` envelope it answers."""

from __future__ import annotations

from typing import Any


class OzariError(Exception):
    """A refusal; ``extra`` adds keys to the envelope (``matched`` on single-update errors)."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"success": False, "error": self.message, **self.extra}


def bad_request(message: str) -> OzariError:
    return OzariError(400, message)
