"""Table schemas as resources: one `tables://<table id>/schema` per exposed table, whose content is describeTable's.

This module names the resources and parses their URIs. The catalogue decides which tables are exposed,
and the describeTable handler writes the content. Nothing here touches MCP types: the server turns
these into them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from ..model import Table

SCHEME = "tables://"
SUFFIX = "/schema"
MIME_TYPE = "application/json"
MAX_ABOUT_CHARS = 100  # the table's own description, as far as a resource list shows it


@dataclass(frozen=True)
class SchemaResource:
    uri: str
    name: str
    description: str
    table_id: str
    mime_type: str = MIME_TYPE


def schema_uri(table_id: str) -> str:
    # Quoted whole: an id is one URI authority, whatever characters the platform puts in it.
    return f"{SCHEME}{quote(table_id, safe='')}{SUFFIX}"


def table_id_of(uri: str) -> str | None:
    """The table id a schema resource URI names, or None when it is not one of ours."""
    if not (uri.startswith(SCHEME) and uri.endswith(SUFFIX)):
        return None
    quoted = uri[len(SCHEME) : -len(SUFFIX)]
    if not quoted or "/" in quoted:
        return None
    return unquote(quoted)


def schema_resource(table: Table) -> SchemaResource:
    about = (table.description or "").strip()
    if len(about) > MAX_ABOUT_CHARS:
        about = about[:MAX_ABOUT_CHARS].rstrip() + "..."
    description = f"Columns of table '{table.name}' ({len(table.columns)}) and the JSON Schemas its records fit"
    description += f" (what describeTable returns). {about}" if about else " (what describeTable returns)."
    return SchemaResource(schema_uri(table.id), table.name, description.strip(), table.id)
