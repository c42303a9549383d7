"""``make mlflow-server``: an MLflow tracking server for a team, on PostgreSQL, with proxied
artifacts.

    python -m ssi_model.tracking.team_server [--host 127.0.0.1] [--port 5000]
        [--artifacts-destination ./mlartifacts] [--pg-dir .pg] [--pg-port 5433]
        [-- more `mlflow server` options, e.g. --allowed-hosts mlflow.internal --workers 4]
    python -m ssi_model.tracking.team_server stop     # stop the local PostgreSQL cluster

The backend store is ``MLFLOW_BACKEND_STORE_URI`` when it is set (a team's PostgreSQL, e.g.
``postgresql+psycopg://mlflow:…@db.internal/mlflow``). Otherwise a local PostgreSQL 15 cluster in
``.pg/`` is created (``initdb``, once), started (``pg_ctl``, on a loopback port with its socket in
that folder) and given an ``mlflow`` database; the cluster keeps running after the server stops
(``stop`` stops it). ``initdb`` refuses to run as root, so as root the cluster belongs to the
``postgres`` user. Artifacts are proxied: clients upload and download through the server
(``mlflow-artifacts:/`` URIs) and need no storage credentials; the destination is a folder by
default (``MLFLOW_ARTIFACTS_DESTINATION``) or ``s3://bucket/path`` for a team (the server then
needs boto3 and the bucket's credentials).

Clients only set ``MLFLOW_TRACKING_URI=http://host:port``. MLflow creates its tables on the
first start; after upgrading MLflow, run ``mlflow db upgrade <uri>`` first.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

PG_BIN = Path(os.environ.get("SSI_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_OWNER = "postgres"  # who owns the cluster when this runs as root
DATABASE = "mlflow"


class ServerError(RuntimeError):
    """A step of starting the server failed (the message says which and why)."""


def _as_owner() -> list[str]:
    return ["runuser", "-u", PG_OWNER, "--"] if os.geteuid() == 0 else []


def _db_user() -> str:
    return PG_OWNER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def _run(args: Sequence[str | Path], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise ServerError(f"{' '.join(map(str, args))} failed ({done.returncode}):\n"
                          f"{done.stdout}{done.stderr}")
    return done


def local_cluster(folder: Path, port: int) -> str:
    """Create (once) and start (if stopped) a PostgreSQL cluster in ``folder`` on ``port`` with
    an ``mlflow`` database; its SQLAlchemy URL."""
    if not (PG_BIN / "initdb").is_file():
        raise ServerError(f"PostgreSQL binaries not found in {PG_BIN} (set SSI_PG_BIN, or set "
                          "MLFLOW_BACKEND_STORE_URI to a team database)")
    folder = folder.resolve()
    data = folder / "data"
    owner = _as_owner()
    folder.mkdir(parents=True, exist_ok=True)
    if owner:
        shutil.chown(folder, PG_OWNER, PG_OWNER)
    user = _db_user()
    if not (data / "PG_VERSION").is_file():
        _run([*owner, PG_BIN / "initdb", "-D", data, "-A", "trust", "-U", user, "-E", "UTF8",
              "--locale=C", "--no-instructions"])
    status = subprocess.run([*owner, str(PG_BIN / "pg_ctl"), "-D", str(data), "status"],
                            capture_output=True, text=True, check=False)
    if status.returncode != 0:  # 3: not running
        # trust authentication on the loopback interface and a socket in the folder only
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
        _run([*owner, PG_BIN / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-t",
              "60", "-o", options, "start"])
    url = f"postgresql+psycopg://{user}@127.0.0.1:{port}/{DATABASE}"
    _create_database(port, user)
    return url


def _create_database(port: int, user: str) -> None:
    import psycopg

    for attempt in range(20):  # the server may still be finishing its start-up
        try:
            with psycopg.connect(host="127.0.0.1", port=port, user=user, dbname="postgres",
                                 autocommit=True) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                      (DATABASE,)).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{DATABASE}"')
                return
        except psycopg.OperationalError:
            if attempt == 19:
                raise
            time.sleep(0.5)


def stop_cluster(folder: Path) -> None:
    data = folder.resolve() / "data"
    if (data / "postmaster.pid").exists():
        _run([*_as_owner(), PG_BIN / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"])


def server_command(backend: str, artifacts: str, host: str, port: int,
                   extra: Sequence[str] = ()) -> list[str]:
    """The ``mlflow server`` command line (proxied artifacts; MLflow's own CLI of this env)."""
    mlflow = Path(sys.executable).with_name("mlflow")
    return [str(mlflow), "server", "--backend-store-uri", backend,
            "--artifacts-destination", artifacts, "--host", host, "--port", str(port), *extra]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ssi_model.tracking.team_server",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("action", nargs="?", choices=("start", "stop"), default="start")
    parser.add_argument("--host", default=os.environ.get("MLFLOW_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("MLFLOW_PORT", "5000")))
    parser.add_argument("--artifacts-destination",
                        default=os.environ.get("MLFLOW_ARTIFACTS_DESTINATION", "./mlartifacts"))
    parser.add_argument("--pg-dir", type=Path, default=Path(os.environ.get("SSI_PG_DIR", ".pg")))
    parser.add_argument("--pg-port", type=int,
                        default=int(os.environ.get("SSI_PG_PORT", "5433")))
    argv = list(sys.argv[1:] if argv is None else argv)
    # After `--`: options for `mlflow server` itself (e.g. --workers 1, --allowed-hosts ...).
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    try:
        if args.action == "stop":
            stop_cluster(args.pg_dir)
            print(f"stopped the PostgreSQL cluster in {args.pg_dir}")
            return 0
        backend = os.environ.get("MLFLOW_BACKEND_STORE_URI") or local_cluster(
            args.pg_dir, args.pg_port)
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    artifacts = args.artifacts_destination
    if "://" not in artifacts:  # a folder: absolute, so the server's cwd does not matter
        artifacts = str(Path(artifacts).resolve())
    shown = backend.split("@")[-1]  # never print a password
    print(f"MLflow tracking server: backend …@{shown}, artifacts {artifacts}\n"
          f"clients: MLFLOW_TRACKING_URI=http://{args.host}:{args.port}", flush=True)
    # No job runner: it starts extra worker processes for GenAI jobs this project never submits.
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ}
    command = server_command(backend, artifacts, args.host, args.port, extra)
    os.execve(command[0], command, env)  # the server replaces this process: Ctrl-C stops it


if __name__ == "__main__":
    sys.exit(main())
