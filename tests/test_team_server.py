"""A team tracking server (``make mlflow-server``): MLflow on PostgreSQL with proxied artifacts,
and every ``ssi`` command unchanged with ``MLFLOW_TRACKING_URI=http://host:port``.

Real processes throughout: a PostgreSQL 15 cluster (tests/pg.py), the server script of
``make mlflow-server`` (``python -m ssi_model.tracking.team_server``) running ``mlflow server``,
``ssi train``/``promote``/``predict`` against it, and ``ssi serve`` picking up an alias move.

Tier ``scale`` (``make test-scale``); not part of ``make test``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from api_helpers import BIN, LOOPBACK, Process, free_port, profiles_from_rows, start
from pg import PostgresServer
from ssi_model.cli import app
from ssi_model.io import write_table
from ssi_model.model.estimator import PREDICTION_COLUMNS
from ssi_model.simulator import simulate_cohort
from ssi_model.validation import validate

pytest_plugins = ["pg"]
pytestmark = [pytest.mark.scale, pytest.mark.system]

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = [c for c in PREDICTION_COLUMNS if c != "member_id"]
SERVER_START_SECONDS = 180


def start_team_server(folder: Path, *, env: dict[str, str],
                      args: tuple[str, ...] = ()) -> Process:
    """What `make mlflow-server` runs, on a free port, with one uvicorn worker."""
    port = free_port()
    command = [sys.executable, "-m", "ssi_model.tracking.team_server", "--host", LOOPBACK,
               "--port", str(port), "--artifacts-destination", str(folder / "artifacts"),
               *args, "--", "--workers", "1"]
    return start("team server", command, env=env, port=port, log=folder / "team-server.log")


@dataclass(frozen=True)
class Team:
    folder: Path
    url: str
    database: str
    server: Process
    config: Path


@pytest.fixture(scope="module")
def team(postgres_server: PostgresServer,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    folder = tmp_path_factory.mktemp("team-server")
    database = postgres_server.create_database()
    server = start_team_server(folder, env={"MLFLOW_BACKEND_STORE_URI": database})
    config = folder / "tiny.yaml"  # the default experiment on a small cohort, so it is quick
    config.write_text(
        f"extends: {ROOT / 'experiments' / 'default.yaml'}\nname: tiny\n"
        "data: {simulate: {n: 2500, seed: 11}}\nmodel: {cv_folds: 2}\n", encoding="utf-8")
    try:
        server.wait_until("/health", timeout=SERVER_START_SECONDS,
                          ok=lambda r: r.status_code == 200)
        yield Team(folder=folder, url=server.url, database=database, server=server,
                   config=config)
    finally:
        server.stop()


def _ssi(*args: str) -> str:
    done = CliRunner().invoke(app, list(args))
    assert done.exit_code == 0, done.output
    return done.output


def _registered(database: str) -> dict[str, str]:
    """What PostgreSQL itself holds: registered model -> the version its champion alias names."""
    import psycopg

    dsn = database.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT name, version FROM registered_model_aliases "
                            "WHERE alias = 'champion'").fetchall()
    return {str(name): str(version) for name, version in rows}


def test_train_promote_serve_predict_and_an_alias_move_through_the_team_server(
        team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", team.url)
    monkeypatch.delenv("SSI_MODEL_NAME", raising=False)
    assert "registered ssi-estimator version 1" in _ssi("train", "--config", str(team.config))
    assert "promoted ssi-estimator version 1 to @champion" in _ssi("promote")
    # The registry is in PostgreSQL, the model files behind the server (proxied artifacts).
    assert _registered(team.database) == {"ssi-estimator": "1"}
    assert list((team.folder / "artifacts").rglob("bundle.json"))

    rows = validate(simulate_cohort(40, 3)).clean
    path = write_table(rows, tmp_path / "rows.csv")
    predicted = _ssi("predict", str(path), "--out", str(tmp_path / "p.csv"))
    assert "with ssi-estimator version 1" in predicted
    expected = pd.read_csv(tmp_path / "p.csv")

    port = free_port()
    api = start("ssi serve", [str(BIN / "ssi"), "serve", "--host", LOOPBACK, "--port", str(port)],
                env={"MLFLOW_TRACKING_URI": team.url, "SSI_RELOAD_SECONDS": "1"}, port=port,
                log=tmp_path / "serve.log")
    try:
        api.wait_until("/ready", timeout=SERVER_START_SECONDS, ok=lambda r: r.status_code == 200)
        response = httpx.post(api.url + "/v1/predict", timeout=30,
                              json={"profiles": profiles_from_rows(rows)})
        assert response.status_code == 200, response.text
        got = pd.DataFrame(response.json()["predictions"])
        assert got["member_id"].tolist() == expected["member_id"].astype(str).tolist()
        np.testing.assert_allclose(got[NUMBERS].to_numpy(float),
                                   expected[NUMBERS].to_numpy(float), atol=1e-9)

        # A second version, the alias moved by hand: the running API follows.
        assert "registered ssi-estimator version 2" in _ssi(
            "train", "--config", str(team.config), "--seed", "12")
        assert "promoted ssi-estimator version 2" in _ssi("promote", "--version", "2",
                                                          "--force")
        assert _registered(team.database) == {"ssi-estimator": "2"}
        model = api.wait_until("/v1/model", timeout=60,
                               ok=lambda r: r.status_code == 200 and r.json()["version"] == "2")
        assert model.json()["name"] == "ssi-estimator"
        again = httpx.post(api.url + "/v1/predict", timeout=30,
                           json={"profiles": profiles_from_rows(rows.head(3))})
        assert again.status_code == 200 and again.json()["model"]["version"] == "2"
    finally:
        api.stop()


def test_without_a_backend_uri_the_server_runs_on_a_local_cluster(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`make mlflow-server` on a fresh clone: initdb in .pg/, start it, create the `mlflow`
    database, serve from it; `stop` stops the cluster."""
    import psycopg

    monkeypatch.delenv("MLFLOW_BACKEND_STORE_URI", raising=False)
    # Not pytest's tmp_path: its parents are private to root, and the cluster may run as postgres.
    folder = Path(tempfile.mkdtemp(prefix="ssi-team-"))
    os.chmod(folder, 0o755)
    pg_dir, pg_port = folder / ".pg", free_port()
    server = start_team_server(folder, env={}, args=("--pg-dir", str(pg_dir), "--pg-port",
                                                     str(pg_port)))
    try:
        server.wait_until("/health", timeout=SERVER_START_SECONDS,
                          ok=lambda r: r.status_code == 200)
        assert (pg_dir / "data" / "PG_VERSION").is_file()
        created = httpx.post(server.url + "/api/2.0/mlflow/experiments/create",
                             json={"name": "on-the-local-cluster"}, timeout=30)
        assert created.status_code == 200, created.text
        user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        with psycopg.connect(host="127.0.0.1", port=pg_port, user=user, dbname="mlflow") as conn:
            names = {r[0] for r in conn.execute("SELECT name FROM experiments").fetchall()}
        assert "on-the-local-cluster" in names  # the server's store is that cluster
    finally:
        server.stop()
        stopped = subprocess.run(
            [sys.executable, "-m", "ssi_model.tracking.team_server", "stop", "--pg-dir",
             str(pg_dir)], capture_output=True, text=True, timeout=120, check=False)
    try:
        assert stopped.returncode == 0, stopped.stderr
        assert not (pg_dir / "data" / "postmaster.pid").exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
