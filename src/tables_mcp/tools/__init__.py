"""The tool catalogue: names, descriptions, annotations, argument checks and handlers.

`Catalogue` turns the backend's tables into tool specs (generic and per-table), keeps them fresh,
and runs calls: structural check of the arguments, table-specific check against the schemas built
from the columns, then the backend. It knows nothing of MCP types (the server module does) and
nothing of which backend is behind it beyond its declared capabilities.

Its jobs live in the modules of this package: `specs` (what each tool is), `directory` (the
tables), `arguments` (validated arguments as typed values), `handlers` (what each tool does),
`calls` (running a call: outcome, cancellation, audit), `resources` (table schemas as resources)
and `catalogue` (the wiring).
"""

from .calls import DATA_NOTICE, ToolOutcome
from .catalogue import Catalogue
from .resources import SchemaResource
from .specs import GENERIC_TOOLS, MAX_IDS_PER_CALL, Answer, CallHooks, Hints, ToolMode, ToolOptions, ToolSpec

__all__ = [
    "Answer",
    "DATA_NOTICE",
    "GENERIC_TOOLS",
    "MAX_IDS_PER_CALL",
    "CallHooks",
    "Catalogue",
    "Hints",
    "SchemaResource",
    "ToolMode",
    "ToolOptions",
    "ToolOutcome",
    "ToolSpec",
]
