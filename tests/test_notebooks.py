"""The walkthrough notebooks run top to bottom on small data against a temporary MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from ssi_model.notebooks import (
    NotebookError,
    NotebookRun,
    project_root,
    run_notebooks,
    write_kernel_spec,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.py"))
SMALL_N = "1000"
# The default experiment with fewer folds: the notebooks' code paths, not the model's quality.
SMALL_EXPERIMENT = f"extends: {ROOT / 'experiments' / 'default.yaml'}\nmodel: {{cv_folds: 2}}\n"


def _outputs(path: Path) -> list[dict[str, object]]:
    nb = nbformat.read(path, as_version=4)
    return [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]


def test_the_three_walkthroughs_exist_as_jupytext_text() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert names == ["01-explore-cohort.py", "02-train-and-evaluate.py",
                     "03-drivers-and-levers.py"]
    for path in NOTEBOOKS:
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# ---\n# jupyter:\n#   jupytext:"), path.name
        assert 'os.environ.get("SSI_NOTEBOOK_N"' in text, path.name
        assert '# %% tags=["parameters"]' in text, path.name


def test_kernel_spec_launches_this_interpreter(tmp_path: Path) -> None:
    import sys

    spec = json.loads((write_kernel_spec(tmp_path) / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    assert spec["argv"][1:3] == ["-m", "ipykernel_launcher"]


def test_project_root_is_found_from_the_notebooks_folder() -> None:
    assert project_root(ROOT / "notebooks") == ROOT


@pytest.fixture(scope="module")
def notebook_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[NotebookRun]]:
    """The three walkthroughs, executed once in order against a temporary MLflow store."""
    folder = tmp_path_factory.mktemp("notebooks")
    store = folder / "store"
    store.mkdir()
    experiment = folder / "small.yaml"
    experiment.write_text(SMALL_EXPERIMENT, encoding="utf-8")
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}", "SSI_NOTEBOOK_N": SMALL_N,
           "SSI_NOTEBOOK_EXPERIMENT": str(experiment), "SSI_NOTEBOOK_MODEL": ""}
    return store, run_notebooks(NOTEBOOKS, env, out_dir=folder / "executed")


def test_notebooks_run_top_to_bottom_on_small_data(
        notebook_runs: tuple[Path, list[NotebookRun]]) -> None:
    store, runs = notebook_runs
    assert [r.source for r in runs] == NOTEBOOKS
    for run in runs:
        assert run.executed.is_file()
        outputs = _outputs(run.executed)
        assert not [o for o in outputs if o.get("output_type") == "error"]
        assert any("image/png" in o.get("data", {}) for o in outputs), run.source.name

    # the runs went to the temporary store, not the project's
    assert (store / "mlflow.db").is_file()
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     for o in _outputs(runs[2].executed))
    assert "models:/ssi-estimator/1" in text  # 03 explains the model 02 registered
    assert "levers listed for" in text  # estimated against true gains


@pytest.mark.system  # starts a kernel
def test_a_failing_notebook_names_itself_and_keeps_its_output(tmp_path: Path) -> None:
    broken = tmp_path / "99-broken.py"
    broken.write_text("# %%\nx = 1\n\n# %%\nraise ValueError('on purpose')\n", encoding="utf-8")
    with pytest.raises(NotebookError, match=r"99-broken\.py failed \(ValueError: on purpose\)"):
        run_notebooks([broken], out_dir=tmp_path / "out")
    assert (tmp_path / "out" / "99-broken.ipynb").is_file()
