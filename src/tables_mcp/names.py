"""Safe, stable tool names for tables whatever they are called (Japanese, Hebrew, spaces...).

Tool names must match `^[A-Za-z0-9_-]{1,64}$`, and per-table names stay within 40 characters so
that a client's prefix (`mcp__tables__`, Cursor's 60-character limit) still fits.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict

from .model import Table

TOOL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TOOL_NAME = 40
LONGEST_PREFIX = len("createRecords_")
MAX_SLUG = MAX_TOOL_NAME - LONGEST_PREFIX


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:6]


def _ascii_slug(name: str) -> tuple[str, bool]:
    """The ASCII letters and digits of a name, and whether anything meaningful was lost."""
    folded = unicodedata.normalize("NFKD", name)
    ascii_only = folded.encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9]+", "_", ascii_only).strip("_")
    lost = any(ch.isalnum() and not ch.isascii() and not unicodedata.combining(ch) for ch in folded)
    return slug, lost


def table_slugs(tables: list[Table]) -> dict[str, str]:
    """Map table id -> slug for per-table tool names: readable, unique, stable for a given table."""
    wanted: dict[str, str] = {}
    for table in tables:
        slug, lost = _ascii_slug(table.name)
        if lost or not slug:
            # A lossy name could collide with another table's, so it always carries its id's hash.
            slug = f"{slug[: MAX_SLUG - 7]}_{_short_hash(table.id)}" if slug else f"t_{_short_hash(table.id)}"
        wanted[table.id] = slug[:MAX_SLUG].rstrip("_") or f"t_{_short_hash(table.id)}"
    by_slug: dict[str, list[str]] = defaultdict(list)
    for table_id, slug in wanted.items():
        by_slug[slug.lower()].append(table_id)
    for ids in by_slug.values():
        if len(ids) > 1:
            for table_id in ids:
                wanted[table_id] = f"{wanted[table_id][: MAX_SLUG - 7]}_{_short_hash(table_id)}"
    return wanted
