"""tables-mcp: an MCP server giving AI agents safe, typed access to no-code database tables."""

__version__ = "0.1.0"
