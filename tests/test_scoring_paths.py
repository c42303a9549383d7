"""One scoring path: the same CSV scored through every entry point gives the same numbers.

In process (``SSIEstimator.predict``), the CLI (``ssi predict``: validation, then the registered
pyfunc in chunks), the pyfunc loaded with ``mlflow.pyfunc.load_model`` straight from the CSV, and
the HTTP API (``POST /v1/predict`` on a real uvicorn process). The model is the session's small
registered model (tests/conftest.py), promoted to an alias of its own here so the champion other
tests reason about is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from api_helpers import Process, profiles_from_rows, sample_rows, start_api
from ssi_model.cli import app
from ssi_model.contract import CONTRACT
from ssi_model.model.estimator import PREDICTION_COLUMNS
from ssi_model.settings import get_settings
from ssi_model.tracking.registry import Registry, load_estimator
from ssi_model.validation import validate_file

NAME = "ssi-estimator"
ALIAS = "scoring-paths"
URI = f"models:/{NAME}@{ALIAS}"
NUMBERS = PREDICTION_COLUMNS[1:]


@pytest.fixture(scope="module")
def promoted(trained) -> str:  # type: ignore[no-untyped-def]
    registry = Registry(get_settings().model_copy(update={"ssi_model_alias": ALIAS}))
    assert registry.name == NAME
    decision = registry.promote(trained.model_version)
    assert decision.promoted, decision.reasons
    return str(trained.model_version)


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Clean rows written as a CSV: integer columns, blank (unknown) cells, every category."""
    rows = sample_rows(48, seed=17).reset_index(drop=True)
    for name in CONTRACT.context_categories:  # every value of every category column appears
        values = list(CONTRACT[name].values)
        rows[name] = pd.Series([values[i % len(values)] for i in range(len(rows))],
                               dtype=rows[name].dtype)
    rows.loc[::5, ["posts_90d", "has_photo", "connections_count"]] = pd.NA
    rows.loc[3::7, ["industry", "region"]] = pd.NA
    path = tmp_path_factory.mktemp("scoring") / "rows.csv"
    rows.to_csv(path, index=False)
    text = path.read_text(encoding="utf-8")
    assert ",," in text  # unknown cells are blank in the file
    return path


@pytest.fixture(scope="module")
def api(promoted: str, mlflow_uri: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    folder = tmp_path_factory.mktemp("scoring-api")
    server = start_api(folder, env={"MLFLOW_TRACKING_URI": mlflow_uri, "SSI_MODEL_ALIAS": ALIAS,
                                    "SSI_RELOAD_SECONDS": "0"})
    try:
        server.wait_until("/ready", timeout=240, ok=lambda r: r.status_code == 200)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def in_process(promoted: str, csv_path: Path) -> pd.DataFrame:
    return load_estimator(URI).predict(pd.read_csv(csv_path)).to_frame()


def _cli(csv_path: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> pd.DataFrame:
    monkeypatch.setenv("SSI_MODEL_ALIAS", ALIAS)  # the CLI scores the alias it is configured for
    done = CliRunner().invoke(app, ["predict", str(csv_path), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert f"with {NAME} version " in done.output  # the version the alias resolves to
    return pd.read_csv(out, dtype={"member_id": str})


def _pyfunc(csv_path: Path) -> pd.DataFrame:
    return pd.DataFrame(mlflow.pyfunc.load_model(URI).predict(pd.read_csv(csv_path)))


def _http(api: Process, csv_path: Path) -> pd.DataFrame:
    profiles = profiles_from_rows(validate_file(csv_path).clean)
    response = httpx.post(api.url + "/v1/predict", json={"profiles": profiles}, timeout=60)
    assert response.status_code == 200, response.text
    return pd.DataFrame(response.json()["predictions"])


def _assert_equal(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == PREDICTION_COLUMNS
    assert got["member_id"].astype(str).tolist() == expected["member_id"].astype(str).tolist()
    # exact: every path rounds the same float64 numbers the same way
    np.testing.assert_array_equal(got[NUMBERS].to_numpy(float), expected[NUMBERS].to_numpy(float))


def test_the_file_holds_what_the_paths_must_agree_on(in_process: pd.DataFrame,
                                                     csv_path: Path) -> None:
    raw = pd.read_csv(csv_path)
    assert raw["posts_90d"].isna().any() and raw["industry"].isna().any()
    for name in CONTRACT.context_categories:
        assert set(CONTRACT[name].values) <= set(raw[name].dropna()), name
    assert len(in_process) == len(raw) == validate_file(csv_path).n_clean
    assert np.isfinite(in_process[NUMBERS].to_numpy(float)).all()


ENTRY_POINTS: dict[str, Callable[..., pd.DataFrame]] = {
    "cli": lambda csv_path, tmp_path, monkeypatch, api: _cli(
        csv_path, tmp_path / "predictions.csv", monkeypatch),
    "pyfunc": lambda csv_path, tmp_path, monkeypatch, api: _pyfunc(csv_path),
    "http": lambda csv_path, tmp_path, monkeypatch, api: _http(api, csv_path),
}


@pytest.mark.parametrize("entry_point", [
    "cli",
    "pyfunc",
    "http",
])
def test_every_entry_point_gives_the_in_process_numbers(
        entry_point: str, in_process: pd.DataFrame, csv_path: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    api = request.getfixturevalue("api") if entry_point == "http" else None
    got = ENTRY_POINTS[entry_point](csv_path, tmp_path, monkeypatch, api)
    _assert_equal(got, in_process)
