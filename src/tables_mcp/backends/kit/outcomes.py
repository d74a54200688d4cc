"""Settling writes whose answer did not say what happened: a patch read back, a delete checked.

A patch the platform accepted is applied even when reading the record back then fails: the error says
so (`changed_then_read`). A delete request that failed, or whose answer was lost (`may_have_applied`),
is settled by looking up which of its ids are left (`settle_delete`, `existing_ids`): an agent is told exactly what was
deleted, or, when even that cannot be found out, which ids may have been.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from ...errors import ErrorCode, TablesError
from .batches import map_bounded

T = TypeVar("T")


async def existing_ids(read_one: Callable[[str], Awaitable[object]], ids: Sequence[str], concurrency: int) -> list[str]:
    """Which of `ids` name a record, each looked up with `read_one` (a not_found means gone), in input order."""

    async def exists(record_id: str) -> bool:
        try:
            await read_one(record_id)
        except TablesError as exc:
            if exc.code is ErrorCode.NOT_FOUND:
                return False
            raise
        return True

    found = await map_bounded(exists, list(ids), concurrency)
    return [record_id for record_id, there in zip(ids, found, strict=True) if there]


async def changed_then_read(read: Awaitable[T], record_id: str) -> T:
    """The record read back after a change the platform accepted; a failed read says the change was made."""
    try:
        return await read
    except TablesError as exc:
        raise replace(
            exc,
            message=f"Record {record_id} was changed, but reading it back failed: {exc.message}",
            may_have_applied=True,
            hint="The change was applied; getRecord shows the record once the platform answers again.",
        ) from None


async def settle_delete(
    cause: TablesError,
    batch: Sequence[str],
    deleted_before: Sequence[str],
    existing: Callable[[list[str]], Awaitable[list[str]]],
) -> list[str]:
    """The ids of `batch` that are gone after its delete request failed with `cause` (`existing(ids)` lists those
    of `ids` still there). A clean refusal deleted nothing and is not looked up. When the request may have
    been applied and the lookup fails too, raises an error naming the ids that may have been deleted."""
    if not cause.may_have_applied and cause.code is not ErrorCode.NOT_FOUND:
        return []
    try:
        left = set(await existing(list(batch)))
    except TablesError as exc:
        if not cause.may_have_applied:
            return []
        done = f"Deleted {len(deleted_before)} record(s) ({', '.join(deleted_before) or 'none'}) for sure; "
        raise replace(
            cause,
            message=f"{done}the request deleting {', '.join(batch)} lost its answer and checking what is left failed "
            f"({exc.message}), so those may have been deleted. First failure: {cause.message}",
        ) from None
    return [record_id for record_id in batch if record_id not in left]


def still_there(cause: TablesError) -> TablesError:
    """`cause` of a delete whose records were looked up after its answer was lost, and found: not deleted."""
    if not cause.may_have_applied:
        return cause
    return replace(
        cause, message=f"{cause.message} Checked: the records are still there.", may_have_applied=False, hint=None
    )
