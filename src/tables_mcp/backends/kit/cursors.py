"""Paging cursors: one envelope for every adapter, each backend's own positions inside.

A cursor is valid only for the table, filter, sort and fields it was made for, on the store that
made it. The envelope is versioned, signed and opaque:

    base64url( tag (16 bytes) + JSON {"v": version, "s": scope, "p": payload} )

- `scope` digests the table id and the query: filter, sort and fields, each column by its name only,
  so that editing a column's description (or anything else about it) does not break paging half-way;
- `payload` holds the backend's positions (an offset, the last id seen ...); the backend checks each
  field again, as untrusted input;
- `tag` is HMAC-SHA256 of the JSON under the store's key: an edited, truncated or foreign cursor is
  refused instead of silently skipping or repeating records.

The key comes from what names the store (`store_key`), so the same store gives the same key in every
process: cursors survive a restart and move between `--stateless` replicas behind a balancer. It is
not a secret (no setting holds one shared by replicas), so the tag catches mistakes and foreign
cursors, not a determined forger; that is why payloads are checked field by field.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ...errors import ErrorCode, FieldError, TablesError, invalid_argument
from ...model import BoolGroup, FilterNode, ListQuery, Record

CURSOR_VERSION = 1
TAG_BYTES = 16
MAX_CURSOR_CHARS = 4096  # ours are far shorter; longer text is not one of them
BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
RULE = "A cursor is valid only for the table, filter, sort and fields of the listRecords call that returned it."
RESTART = "call listRecords again without a cursor, or pass nextCursor with the same table, filter, sort and fields"


def store_key(*identity: str) -> bytes:
    """The signing key of one store, from what names it (its kind and location): the same in every process."""
    return hashlib.sha256("\x00".join(("tables-mcp cursor", *identity)).encode()).digest()


def query_scope(table_id: str, query: ListQuery) -> str:
    """What a cursor is bound to: the table and the query's filter, sort and fields, by column name."""
    sort = [[key.column.name, key.descending] for key in query.sort]
    fields = None if query.fields is None else list(query.fields)
    shape = [table_id, _filter_shape(query.filter), sort, fields]
    text = json.dumps(shape, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _filter_shape(node: FilterNode | None) -> Any:
    if node is None:
        return None
    if isinstance(node, BoolGroup):
        return [node.kind, [_filter_shape(item) for item in node.items]]
    return [node.column.name, node.op, node.value]


def invalid_cursor(why: str) -> TablesError:
    """The error for a cursor that cannot be used: why, the rule, and how to go on."""
    return invalid_argument(f"{why} {RULE}", [FieldError("cursor", RESTART)])


def not_ours() -> TablesError:
    return invalid_cursor("The cursor is not one this server issued (or it was changed).")


class CursorCodec:
    """Issues and reads the cursors of one store (see the module docstring)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def encode(self, scope: str, payload: Mapping[str, Any]) -> str:
        body = json.dumps({"v": CURSOR_VERSION, "s": scope, "p": dict(payload)}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(self._tag(body) + body).decode().rstrip("=")

    def decode(self, cursor: str, scope: str) -> dict[str, Any]:
        """The payload of a cursor issued here for `scope`; invalid_argument (field "cursor") otherwise."""
        tag, body, envelope = self._open(cursor)
        if envelope.get("v") != CURSOR_VERSION:
            raise invalid_cursor("The cursor comes from another version of tables-mcp.")
        if envelope.get("s") != scope:
            raise invalid_cursor("The cursor belongs to another table, or to another filter, sort or fields.")
        if not hmac.compare_digest(tag, self._tag(body)):
            raise invalid_cursor("The cursor was changed, or comes from another store.")
        payload = envelope.get("p")
        if not isinstance(payload, dict):
            raise not_ours()
        return payload

    def _open(self, cursor: str) -> tuple[bytes, bytes, dict[str, Any]]:
        if len(cursor) > MAX_CURSOR_CHARS or not BASE64URL.fullmatch(cursor):
            raise not_ours()
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            envelope = json.loads(raw[TAG_BYTES:])
        except (binascii.Error, ValueError, RecursionError) as exc:
            raise not_ours() from exc
        if not isinstance(envelope, dict):
            raise not_ours()
        return raw[:TAG_BYTES], raw[TAG_BYTES:], envelope

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:TAG_BYTES]


@contextmanager
def position_refused(platform: str, position: str | None) -> Iterator[None]:
    """The platform refusing a position a cursor holds (its page token expired, say): a cursor the agent
    must restart without, not an argument of its own to fix."""
    try:
        yield
    except TablesError as exc:
        if position is not None and exc.code is ErrorCode.INVALID_ARGUMENT:
            raise invalid_cursor(
                f"{platform} no longer accepts the position this cursor holds ({exc.message})."
            ) from None
        raise


def resume_after(ordered: Sequence[Record], state: Mapping[str, Any]) -> int:
    """Where a listing sorted by tables-mcp goes on: after the last record returned (state "a", at offset "o",
    mode "m" = "s"), found again if records moved since."""
    offset, last = state.get("o"), state.get("a")
    if state.get("m") != "s" or type(offset) is not int or offset < 1 or not isinstance(last, str):
        raise not_ours()
    if offset <= len(ordered) and ordered[offset - 1]["id"] == last:
        return offset
    for position, record in enumerate(ordered):
        if record["id"] == last:
            return position + 1
    return min(offset, len(ordered))  # the last record returned is gone: its offset is the best position left
