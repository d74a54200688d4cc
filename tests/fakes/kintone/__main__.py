"""``python -m tests.fakes.kintone [--host H] [--port N]``: serves the sample domain until Ctrl-C."""

from __future__ import annotations

from .sample import main

main()
