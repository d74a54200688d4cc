"""Reading a platform's answer: a body without the documented shape is a backend_error naming the request,
never a KeyError or TypeError escaping to the agent as "Internal error"."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ...errors import ErrorCode, TablesError


@contextmanager
def shape_check(platform: str, request: str) -> Iterator[None]:
    """Wrap the code that reads `platform`'s answer to `request` (an endpoint or action name)."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise TablesError(
            ErrorCode.BACKEND_ERROR,
            f"{platform}'s answer to {request} has an unexpected shape ({type(exc).__name__}).",
        ) from None
