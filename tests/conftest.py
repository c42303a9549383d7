"""Shared fixtures, and the three layers of the suite.

Every test gets exactly one layer marker, from the fixtures it uses (so test files need no edits
to be classified, and a new test lands in the right layer by what it asks for):

- ``system``: real processes: the API and MLflow servers, a browser, notebook kernels, the
  benchmark. It uses a fixture in ``SYSTEM_FIXTURES`` or carries ``@pytest.mark.system``.
- ``model``: a trained model in a real MLflow store (``trained`` / ``mlflow_uri``).
- ``unit``: everything else: in memory, no MLflow store, no child processes. A unit test that
  needs a fitted model takes ``fitted_estimator``.

``make test-unit`` / ``make test-system`` select a layer; ``make test`` runs all but ``slow``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ssi_model.model.config import ExperimentConfig, load_config
from ssi_model.model.estimator import SSIEstimator

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("unit", "model", "system")
SYSTEM_FIXTURES = frozenset({
    "registry_env", "stack", "champion",  # test_api: MLflow server + API under uvicorn
    "browser", "chromium",                # test_report: headless Chromium
    "quick_results",                      # test_bench: the benchmark's smoke run
    "notebook_runs",                      # test_notebooks: the walkthroughs in a kernel
})
MODEL_FIXTURES = frozenset({
    "mlflow_uri", "trained",
    "team",  # test_registry: a model trained and promoted in an MLflow store of its own
})
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def pytest_configure(config: pytest.Config) -> None:
    # MLflow's usage telemetry would try the network and its session bookkeeping races under
    # threads (KeyError on _MLFLOW_TELEMETRY_SESSION_ID); the project never sends telemetry.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")


def layer_of(item: pytest.Item) -> str:
    """The layer of one collected test: an explicit marker wins, then the fixtures it uses."""
    explicit = [name for name in LAYERS if item.get_closest_marker(name) is not None]
    if explicit:
        return explicit[-1]  # the heaviest one named
    names = set(getattr(item, "fixturenames", ()))
    if names & SYSTEM_FIXTURES:
        return "system"
    if names & MODEL_FIXTURES:
        return "model"
    return "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    heaviest: dict[Path, str] = {}  # test file -> its heaviest layer
    for item in items:
        layer = layer_of(item)
        if item.get_closest_marker(layer) is None:
            item.add_marker(getattr(pytest.mark, layer))
        heaviest[item.path] = max(heaviest.get(item.path, "unit"), layer, key=LAYERS.index)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # `make test` runs `--dist loadfile --no-loadscope-reorder`: a file runs on one worker (its
        # module fixtures are built once) and files are dealt out in this order, the long ones
        # (system, then model) first, so the two workers finish close together.
        first: dict[Path, int] = {}
        for index, item in enumerate(items):
            first.setdefault(item.path, index)
        items.sort(key=lambda it: (-LAYERS.index(heaviest[it.path]), first[it.path]))


# -- the unit layer: a fitted estimator in memory ------------------------------------------------


@pytest.fixture(scope="session")
def fitted_estimator() -> SSIEstimator:
    """A small estimator fitted in memory (no MLflow): 800 simulated members, at most 60 rounds.

    Big enough that lever gains, plans and targets behave like the real model's (every pillar
    learns something), small enough to fit in about two seconds.
    """
    from ssi_model.model.train import fit_estimator
    from ssi_model.simulator import simulate_cohort
    from ssi_model.validation import validate

    config = load_config(ROOT / "experiments" / "default.yaml")
    config = config.model_copy(update={"model": config.model.model_copy(
        update={"cv_folds": 2, "num_boost_round": 60, "early_stopping_rounds": 10})})
    return fit_estimator(validate(simulate_cohort(800, 5)).clean, config).estimator


# -- the model layer: a real MLflow store and one trained, registered model ----------------------


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh SQLite tracking store for the whole session (MLFLOW_TRACKING_URI points at it)."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    before = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    yield uri
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


@pytest.fixture(scope="session")
def small_config() -> ExperimentConfig:
    """The default experiment on a small simulated cohort, so the suite stays fast."""
    config = load_config(ROOT / "experiments" / "default.yaml")
    return config.model_copy(update={
        "data": config.data.model_copy(update={
            "simulate": config.data.simulate.model_copy(update={"n": 3000, "seed": 11})}),
        "model": config.model.model_copy(update={"cv_folds": 3}),
    })


@pytest.fixture(scope="session")
def trained(mlflow_uri: str, small_config: ExperimentConfig):  # type: ignore[no-untyped-def]
    """One registered model version trained on the small cohort (shared by the model tests)."""
    from ssi_model.tracking.runs import train_run

    return train_run(small_config)


# -- the system layer: a real browser ------------------------------------------------------------


def in_ci() -> bool:
    """CI sets CI=true (GitHub, GitLab and .ci/run do)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require_chromium(binaries: tuple[Path, Path], *, ci: bool) -> tuple[Path, Path]:
    """The browser and its driver; if either is missing, skip (here) or fail (in CI)."""
    missing = [str(p) for p in binaries if not p.exists()]
    if missing:
        message = (f"{', '.join(missing)} missing: run `make system-deps` (apt-get install "
                   f"chromium chromium-driver, needs root)")
        if ci:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return binaries


@pytest.fixture(scope="session")
def chromium() -> tuple[Path, Path]:
    """Debian's Chromium and its driver (``make system-deps`` installs them; no test does).

    Missing on a developer's machine: the browser tests skip and say what to run. Missing in
    CI: they fail, because there the browser is a prerequisite, not an option.
    """
    return require_chromium((CHROMIUM, CHROMEDRIVER), ci=in_ci())


@pytest.fixture(scope="module")
def browser(chromium: tuple[Path, Path]) -> Iterator[Any]:
    """Headless Chromium through selenium, as the probe of this machine runs it (no sandbox as
    root, no background networking: the network is closed), with the console log kept."""
    binary, driver_binary = chromium
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    profile = tempfile.mkdtemp(prefix="ssi-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.binary_location = str(binary)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(driver_binary)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $SSI_REPORT_SCREENSHOTS if set, else a temporary folder."""
    folder = os.environ.get("SSI_REPORT_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
