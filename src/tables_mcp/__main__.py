"""`python -m tables_mcp` runs the command-line interface."""

from .cli import main

main()
