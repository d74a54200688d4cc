"""``python -m tests.fakes.onnie [--host H] [--port N]``: serves the sample workspace until Ctrl-C.

Prints ``export ONNIE_BASE_URL=... ONNIE_API_KEY=... FAKE_ONNIE_READ_ONLY_API_KEY=...`` lines on stdout
(``--port 0`` picks a free port, and the lines name it) and a short description on stderr.
"""

from __future__ import annotations

import argparse
import sys

from .api import BASE_PATH
from .sample import export_lines, sample_workspace
from .server import bound_socket, uvicorn_server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake Onnie Tables REST API with sample tables.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    args = parser.parse_args(argv)
    workspace = sample_workspace()
    sock = bound_socket(args.host, args.port)
    base_url = f"http://{args.host}:{sock.getsockname()[1]}{BASE_PATH}"
    print("\n".join(export_lines(workspace, base_url)), flush=True)
    print(
        f"fake Onnie serving on {base_url}: tables Projects ({workspace.projects_table}) and "
        f"Tasks ({workspace.tasks_table}); Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    uvicorn_server(workspace.state).run(sockets=[sock])


if __name__ == "__main__":
    main()
