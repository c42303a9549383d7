"""A real PostgreSQL server for tests, started from the Debian binaries on the machine.

Load it with ``pytest_plugins = ["pg"]`` in a test module. ``postgres_server`` (session scope)
creates a cluster in a temporary folder, starts it on a free loopback port with its unix socket in
that folder, and stops and removes it at the end; ``server.create_database()`` gives each test
a fresh database and its SQLAlchemy URL.

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` user
(``runuser -u postgres --``); as anyone else it runs as that user. Without the binaries
(``SSI_PG_BIN``, default /usr/lib/postgresql/15/bin) the fixture skips, or fails when
``CI=true``: CI must test PostgreSQL.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("SSI_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"


@dataclass
class PostgresServer:
    port: int
    folder: Path
    user: str = PG_USER
    _names: Iterator[int] = field(default_factory=itertools.count)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"ssi_test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.user,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner() -> list[str]:
    return ["runuser", "-u", PG_USER, "--"] if os.geteuid() == 0 else []


def _run(args: list[str | Path]) -> None:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({done.returncode}):\n"
                           f"{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if not (PG_BIN / "initdb").is_file():
        message = f"PostgreSQL binaries not found in {PG_BIN} (set SSI_PG_BIN)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    # Not pytest's tmp_path: its parents are private to root, and the server runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="ssi-pg-"))
    user = PG_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        shutil.chown(folder, PG_USER, PG_USER)
    data = folder / "data"
    owner = _as_owner()
    try:
        _run([*owner, PG_BIN / "initdb", "-D", data, "-A", "trust", "-U", user, "-E", "UTF8",
              "--locale=C", "--no-sync", "--no-instructions"])
        for attempt in range(3):  # the free port may be taken between choosing and binding
            port = _free_port()
            # fsync off: this server holds throw-away test data; the store's own durability
            # (a killed client keeps what was acknowledged) does not depend on it.
            options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 "
                       "-c fsync=off -c max_connections=200")
            try:
                _run([*owner, PG_BIN / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w",
                      "-t", "60", "-o", options, "start"])
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        yield PostgresServer(port=port, folder=folder, user=user)
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*owner, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate",
                            "-w", "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(folder, ignore_errors=True)
