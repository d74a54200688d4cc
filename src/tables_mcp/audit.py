"""The audit log: one JSON line per write call, with who, what and the outcome, never field values.

Lines go to stderr or to a file (appended, flushed per line) so that a crash loses nothing written
before it. Tokens never reach it: only tool names, table ids, record ids and error codes do.
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO


class AuditLog:
    def __init__(self, target: str | None = None) -> None:
        """`target` is a file path, or None / "-" for stderr."""
        self._path = None if target in (None, "-") else Path(target).expanduser()
        self._lock = threading.Lock()
        self._file: TextIO | None = None

    def record(self, *, tool: str, table: str | None, record_ids: list[str], outcome: str, client: str | None) -> None:
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "event": "write",
            "tool": tool,
            "table": table,
            "recordIds": record_ids,
            "outcome": outcome,
            "client": client,
        }
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            stream = self._stream()
            stream.write(line)
            stream.flush()

    def _stream(self) -> TextIO:
        if self._path is None:
            return sys.stderr
        if self._file is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._path.open("a", encoding="utf-8")
        return self._file

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
