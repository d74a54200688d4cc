"""Batch writes split into requests: bounded concurrency, stop after a systemic failure, exact outcome.

An adapter cuts its encoded items into `Part`s of at most the platform's request size and hands
`run_parts` a `send(part)` that performs one request and returns one result per item (record ids,
usually). The runner sends parts a few at a time; a request already sent completes even if the call
is cancelled (its items are then known to be written and are reported), and no new request starts
after a cancellation or after a failure that would repeat for every other part (outage, auth,
throttling). `partial_failure` then turns the parts into one `TablesError` carrying exactly which
items were written and which were not, and why: `errors` renders it for agents (`partial_upsert_failure`
tells created from updated).

A part whose answer was lost after the platform may have applied it is `uncertain` (its adapter says
so, or its error carries `may_have_applied`): it is reported as "may have been written", never retried
blindly and never claimed as not written.

With `concurrency=1` the parts go one after another, in order (the limiter is first come, first served):
a platform that numbers records as it stores them then stores them in input order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import anyio

from ...errors import ErrorCode, FieldError, TablesError

T = TypeVar("T")
A = TypeVar("A")

# Failures of one request's own content; anything else would fail the remaining requests the same way.
_CONTENT_CODES = frozenset({ErrorCode.INVALID_ARGUMENT, ErrorCode.NOT_FOUND, ErrorCode.CONFLICT})


@dataclass
class Part:
    """One request's share of a batch: items `start` .. `start + len(items) - 1` of the caller's list."""

    start: int
    items: list[Any]
    results: list[Any] | None = None  # one per item once written (ids, usually)
    error: TablesError | None = None
    skipped_because: TablesError | None = None
    uncertain: bool = False  # the platform may have applied it; its answer was lost

    @property
    def indexes(self) -> range:
        return range(self.start, self.start + len(self.items))


def split(items: Sequence[Any], size: int) -> list[Part]:
    return [Part(start, list(items[start : start + size])) for start in range(0, len(items), size)]


async def run_parts(
    parts: list[Part],
    send: Callable[[Part], Awaitable[list[Any]]],
    *,
    concurrency: int,
    on_written: Callable[[Part], Awaitable[None]] | None = None,
) -> None:
    """Send every part (at most `concurrency` at once), recording on each part what happened to it."""
    limiter = anyio.CapacityLimiter(concurrency)
    systemic: list[TablesError] = []

    async def run(part: Part) -> None:
        async with limiter:  # a cancelled call starts no new request here
            if systemic:
                part.skipped_because = systemic[0]
                return
            with anyio.CancelScope(shield=True):
                await _send_one(part, send, systemic)
                if part.results is not None and on_written is not None:
                    await on_written(part)

    async with anyio.create_task_group() as group:
        for part in parts:
            group.start_soon(run, part)


async def _send_one(part: Part, send: Callable[[Part], Awaitable[list[Any]]], systemic: list[TablesError]) -> None:
    try:
        results = await send(part)
    except TablesError as exc:
        part.error = exc
        part.uncertain = part.uncertain or exc.may_have_applied
        if exc.code not in _CONTENT_CODES:
            systemic.append(exc)
        return
    if len(results) != len(part.items):
        part.error = TablesError(ErrorCode.BACKEND_ERROR, "The platform answered a different number of results.")
        part.uncertain = True
        systemic.append(part.error)
        return
    part.results = results


def failed_parts(parts: list[Part]) -> list[Part]:
    return [part for part in parts if part.results is None]


def partial_failure(
    parts: list[Part], written: list[dict[str, Any]], total: int, request_words: str, verb: str = "Wrote"
) -> TablesError:
    """One error for a batch some of whose requests failed: what was written, and why each other item was not.

    `request_words` says how the platform writes, e.g. "100 records per request, all-or-nothing per request".
    """
    field_errors: list[FieldError] = []
    failed: list[dict[str, Any]] = []
    first: TablesError | None = None
    for part in failed_parts(parts):
        cause = part.error or part.skipped_because
        assert cause is not None, "a part without results has an error or was skipped"
        first = first or cause
        rebased = [
            replace(fe, record=part.start + fe.record) if fe.record is not None else fe for fe in cause.field_errors
        ]
        if part.error is not None:
            field_errors += rebased
        failed += _failed_entries(part, cause, rebased)
    assert first is not None, "partial_failure needs a failed part"
    if len(parts) == 1 and not any(part.uncertain for part in parts):
        return replace(first, field_errors=field_errors)
    unknown = sum(1 for entry in failed if entry["error"].get("mayHaveBeenWritten"))
    outcome = f"{len(failed) - unknown} were not written" + (f", {unknown} may have been" if unknown else "")
    message = f"{verb} {len(written)} of {total} records; {outcome} ({request_words}). First failure: {first.message}"
    return replace(
        first,
        message=message,
        field_errors=field_errors,
        written=written,
        failed=failed,
        may_have_applied=bool(unknown),
        hint=_MAY_HAVE_BEEN_WRITTEN if unknown else first.hint,
    )


_MAY_HAVE_BEEN_WRITTEN = (
    "Records marked mayHaveBeenWritten may be stored although their answer was lost: check with listRecords "
    "before sending them again. The others can be sent again as their errors say."
)


def partial_upsert_failure(
    parts: list[Part], created: list[dict[str, Any]], updated: list[dict[str, Any]], total: int, request_words: str
) -> TablesError:
    """`partial_failure` for an upsert: the records written are told apart as created and updated."""
    error = partial_failure(parts, [*created, *updated], total, request_words, verb="Upserted")
    if error.written is None:  # one request, nothing written
        return error
    return replace(error, written=None, created=created, updated=updated)


def _failed_entries(part: Part, cause: TablesError, rebased: list[FieldError]) -> list[dict[str, Any]]:
    bad = sorted({fe.record for fe in rebased if fe.record is not None})
    entries = []
    for index in part.indexes:
        own = [fe for fe in rebased if fe.record == index]
        error: dict[str, Any] = {"code": cause.code.value, "message": _why(part, cause, own, bad)}
        error["retryable"] = cause.retryable and not part.uncertain
        if part.uncertain:
            error["mayHaveBeenWritten"] = True
        if own:
            error["fieldErrors"] = [fe.to_dict() for fe in own]
        entries.append({"index": index, "error": error})
    return entries


def _why(part: Part, cause: TablesError, own: list[FieldError], bad: list[int]) -> str:
    if part.skipped_because is not None:
        return f"Not sent: an earlier request failed ({cause.message})."
    if part.uncertain:
        return (
            f"Outcome unknown: the request may have been applied but its answer was lost ({cause.message}). "
            "Check with listRecords before sending it again."
        )
    if own:
        return "; ".join(fe.describe() for fe in own)
    if bad:
        listed = ", ".join(str(i) for i in bad)
        return (
            f"Not written: record(s) {listed} in the same request were rejected; this one had no problem of its "
            "own and can be sent again unchanged."
        )
    return cause.message


async def map_bounded(func: Callable[[A], Awaitable[T]], items: Sequence[A], limit: int) -> list[T]:
    """`func` over `items`, at most `limit` at a time; results in item order; the first error propagates."""
    results: list[Any] = [None] * len(items)
    limiter = anyio.CapacityLimiter(limit)

    async def run(position: int) -> None:
        async with limiter:
            results[position] = await func(items[position])

    try:
        async with anyio.create_task_group() as group:
            for position in range(len(items)):
                group.start_soon(run, position)
    except BaseExceptionGroup as group_error:
        # Surface the first error as itself, not wrapped in a group.
        raise group_error.exceptions[0] from None
    return results
