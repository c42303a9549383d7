"""The walkthrough notebooks run top to bottom on small data against a temporary MLflow store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest

from ssi_model.notebooks import (
    NotebookError,
    project_root,
    run_notebooks,
    write_kernel_spec,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.py"))
SMALL_N = "2000"
BUDGET_SECONDS = 180
"""Each notebook takes well under a minute on small data on a quiet 2-core machine; the bound
is loose because the machines are shared and kernel start-up plus imports vary a lot."""


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


def test_notebooks_run_top_to_bottom_on_small_data(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}", "SSI_NOTEBOOK_N": SMALL_N,
           "SSI_NOTEBOOK_MODEL": ""}
    started = time.perf_counter()
    runs = run_notebooks(NOTEBOOKS, env, out_dir=tmp_path / "executed")
    assert [r.source for r in runs] == NOTEBOOKS
    for run in runs:
        assert run.executed.is_file()
        assert run.seconds < BUDGET_SECONDS, f"{run.source.name}: {run.seconds:.0f} s"
        outputs = _outputs(run.executed)
        assert not [o for o in outputs if o.get("output_type") == "error"]
        assert any("image/png" in o.get("data", {}) for o in outputs), run.source.name
    assert time.perf_counter() - started < 3 * BUDGET_SECONDS

    # the runs went to the temporary store, not the project's
    assert (store / "mlflow.db").is_file()
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     for o in _outputs(runs[2].executed))
    assert "models:/ssi-estimator/1" in text  # 03 explains the model 02 registered
    assert "levers listed for" in text  # estimated against true gains


def test_a_failing_notebook_names_itself_and_keeps_its_output(tmp_path: Path) -> None:
    broken = tmp_path / "99-broken.py"
    broken.write_text("# %%\nx = 1\n\n# %%\nraise ValueError('on purpose')\n", encoding="utf-8")
    with pytest.raises(NotebookError, match=r"99-broken\.py failed \(ValueError: on purpose\)"):
        run_notebooks([broken], out_dir=tmp_path / "out")
    assert (tmp_path / "out" / "99-broken.ipynb").is_file()
