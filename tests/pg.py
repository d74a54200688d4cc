"""A throw-away PostgreSQL server for the tests, started once per test session.

`pg_dsn` (session) is TABLES_MCP_TEST_PG_DSN when set; otherwise a private server: `initdb` into a
temporary directory (as a non-root user when the tests run as root, since initdb refuses root),
`pg_ctl start` on a free loopback port with fsync off, one database; stopped and deleted at the
end of the session. The database uses an ICU English collation when the server has ICU, so that
tests prove the store sorts text in byte order whatever the database's default collation.
`pg_schema_dsn` (per test) is a connection string whose search_path is a fresh, empty schema.

Without PostgreSQL (no initdb/pg_ctl under /usr/lib/postgresql/*/bin or on PATH, and no
TABLES_MCP_TEST_PG_DSN) the PostgreSQL tests are skipped with the reason, except in CI
(`CI=true`), where they fail: CI must run them.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

PG_DSN_ENV = "TABLES_MCP_TEST_PG_DSN"
DATABASE = "tables_mcp_test"
NON_ROOT_USERS = ("postgres", "nobody")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(reason: str) -> NoReturn:
    """Skip locally; fail in CI, where the PostgreSQL tests must run."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the PostgreSQL tests must run in CI)", pytrace=False)
    pytest.skip(reason)


def find_bin_dir() -> Path | None:
    """The directory holding initdb and pg_ctl: the newest /usr/lib/postgresql/*/bin, else PATH."""

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.name
        return tuple(int(part) for part in name.split(".") if part.isdigit())

    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(initdb).resolve().parent
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PgServer:
    """One private PostgreSQL server in a temporary directory."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="tables-mcp-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self.user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            self.user = self._non_root_user()
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        os.chmod(self.root, 0o700)

    @staticmethod
    def _non_root_user() -> pwd.struct_passwd:
        for name in NON_ROOT_USERS:
            try:
                return pwd.getpwnam(name)
            except KeyError:
                continue
        raise RuntimeError(f"running as root and none of the users {', '.join(NON_ROOT_USERS)} exists")

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        options: dict[str, Any] = {}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        if self.user is not None:
            options = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
            env["HOME"] = str(self.root)
        result = subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **options,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {(result.stderr or result.stdout).strip()}")
        return result

    def start(self) -> str:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        last: Exception | None = None
        for _ in range(3):  # the free port may be taken between choosing it and binding it
            self.port = free_port()
            settings = (
                f"-k {self.root} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off"
            )
            try:
                log = str(self.root / "server.log")
                self._run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "60", "-o", settings, "start")
                break
            except RuntimeError as exc:
                last = exc
        else:
            raise RuntimeError(f"the server did not start: {last}; log: {self.log_tail()}")
        return self._create_database()

    def _create_database(self) -> str:
        import psycopg

        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            try:
                conn.execute(
                    f"CREATE DATABASE {DATABASE} TEMPLATE template0 ENCODING 'UTF8' "
                    "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
                )
            except psycopg.Error:  # no ICU (or PostgreSQL < 15): the default collation
                conn.execute(f"CREATE DATABASE {DATABASE}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def log_tail(self) -> str:
        try:
            return " | ".join((self.root / "server.log").read_text().splitlines()[-5:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        try:
            if self.data.exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except RuntimeError:
            pass
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A PostgreSQL database for this test session (see the module docstring)."""
    configured = os.environ.get(PG_DSN_ENV)
    if configured:
        yield configured
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed (pip install -e '.[test]')")
    bin_dir = find_bin_dir()
    if bin_dir is None:
        unavailable(
            f"no PostgreSQL: no initdb/pg_ctl under /usr/lib/postgresql/*/bin or on PATH, and {PG_DSN_ENV} "
            "is unset (install postgresql, e.g. `apt-get install postgresql`, or point the variable at a database)"
        )
    try:
        server = PgServer(bin_dir)
        dsn = server.start()
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        unavailable(f"cannot start a PostgreSQL server from {bin_dir}: {exc}")
    try:
        yield dsn
    finally:
        server.stop()


def with_schema(dsn: str, schema: str) -> str:
    """`dsn` with its search_path set to `schema` (still a postgresql:// URL when it was one)."""
    option = f"-csearch_path={schema}"
    if dsn.lower().startswith(("postgresql://", "postgres://")):
        return f"{dsn}{'&' if '?' in dsn else '?'}options={option.replace('=', '%3D')}"
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dsn, options=option)


def create_schema(dsn: str) -> str:
    import psycopg

    schema = "tm_" + uuid.uuid4().hex[:12]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema


def drop_schema(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_schema_dsn(pg_dsn: str) -> Iterator[str]:
    """A connection string (postgresql:// URL when the base is one) into a fresh, empty schema."""
    schema = create_schema(pg_dsn)
    try:
        yield with_schema(pg_dsn, schema)
    finally:
        drop_schema(pg_dsn, schema)
