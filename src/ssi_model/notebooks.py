"""The walkthrough notebooks: run them top to bottom, and the few helpers they share.

The notebooks live in ``notebooks/`` as jupytext percent-format ``.py`` files (reviewable text);
``run_notebooks`` converts each with jupytext and executes it with nbclient in a kernel of *this*
interpreter, writing the executed ``.ipynb`` to a git-ignored folder (``reports/notebooks/``).
The kernel spec is written to a temporary folder for the run, so a fresh machine needs no
globally installed kernel, and a ``python3`` kernel of some other Python on the machine is never
picked up by mistake.

jupytext, nbclient and ipykernel are development dependencies: imported only when notebooks run.

    python -m ssi_model.notebooks notebooks/*.py [--out reports/notebooks]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KERNEL_NAME = "python3"
DEFAULT_TIMEOUT_SECONDS = 1800
"""Per cell; a full-size notebook trains on 20,000 members in one cell."""


class NotebookError(RuntimeError):
    """A notebook failed; the message names the notebook and the failing cell's error."""


@dataclass(frozen=True)
class NotebookRun:
    source: Path
    executed: Path
    seconds: float


def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the cwd) holding ``pyproject.toml``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return here


def default_tracking_uri(root: Path) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the project's embedded store (``mlflow.db``).

    A notebook's cwd is ``notebooks/``; without this the relative default store of the CLI
    would land there instead of beside the Makefile.
    """
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"


def show(fig: Any, dpi: int = 80) -> None:
    """Display a matplotlib figure as a PNG and close it.

    Explicit, so it works whatever backend the imported modules chose (``tracking.plots`` sets
    ``Agg``), in Jupyter and under nbclient alike.
    """
    from IPython.display import Image, display

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    display(Image(data=buffer.getvalue()))


# -- running -------------------------------------------------------------------------------------


def write_kernel_spec(folder: Path) -> Path:
    """A ``python3`` kernel spec launching ipykernel with this interpreter (``sys.executable``)."""
    spec_dir = folder / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python {sys.version_info.major}.{sys.version_info.minor} (ssi-model)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return spec_dir


def _kernel_env(env: Mapping[str, str] | None) -> dict[str, str]:
    merged = {**os.environ, **(env or {})}
    merged.setdefault("MPLBACKEND", "Agg")
    merged["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # no debugger warning on frozen modules
    return merged


def _first_error(nb: Any) -> str:
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{output.get('ename')}: {output.get('evalue')}"
    return "unknown error"


def run_notebooks(
    paths: Sequence[str | Path],
    env: Mapping[str, str] | None = None,
    *,
    out_dir: str | Path | None = None,
    timeout: int = DEFAULT_TIMEOUT_SECONDS,
) -> list[NotebookRun]:
    """Execute jupytext notebooks top to bottom, in order; write each executed ``.ipynb``.

    ``env`` is added to this process's environment for the kernel (``SSI_NOTEBOOK_N``,
    ``MLFLOW_TRACKING_URI``, ...). The kernel's cwd is the notebook's folder. ``out_dir``
    defaults to ``reports/notebooks`` in the project. A failing notebook is still written (with
    its error output) and raises ``NotebookError``; later notebooks are not run.
    """
    import jupytext
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    sources = [Path(p).resolve() for p in paths]
    missing = [str(p) for p in sources if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such notebook: {', '.join(missing)}")
    target = Path(out_dir) if out_dir is not None else (
        project_root(sources[0].parent if sources else None) / "reports" / "notebooks")
    target.mkdir(parents=True, exist_ok=True)
    kernel_env = _kernel_env(env)

    runs: list[NotebookRun] = []
    with tempfile.TemporaryDirectory(prefix="ssi-kernel-") as tmp:
        write_kernel_spec(Path(tmp))
        for source in sources:
            nb = jupytext.read(source)
            nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "language": "python",
                                         "display_name": "Python 3"}
            manager = KernelManager(
                kernel_name=KERNEL_NAME,
                kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(Path(tmp) / "kernels")]),
                # Unix sockets in the temporary folder: nothing listens on a TCP port
                **({"transport": "ipc", "ip": str(Path(tmp) / "kernel")}
                   if os.name == "posix" else {}),
            )
            client = NotebookClient(
                nb, km=manager, timeout=timeout, kernel_name=KERNEL_NAME,
                resources={"metadata": {"path": str(source.parent)}},
            )
            executed = target / f"{source.stem}.ipynb"
            started = time.perf_counter()
            try:
                client.execute(env=kernel_env)
            except CellExecutionError as exc:
                nbformat.write(nb, executed)
                raise NotebookError(
                    f"{source.name} failed ({_first_error(nb)}); the executed notebook with "
                    f"the error is {executed}\n{exc}"
                ) from None
            nbformat.write(nb, executed)
            runs.append(NotebookRun(source=source, executed=executed,
                                    seconds=time.perf_counter() - started))
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ssi_model.notebooks",
        description="Execute the jupytext notebooks top to bottom into executed .ipynb files.")
    parser.add_argument("paths", nargs="+", type=Path, help="notebooks/*.py")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the executed notebooks (default reports/notebooks)")
    parser.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_SECONDS,
                        help="seconds per cell")
    args = parser.parse_args(argv)
    try:
        for run in run_notebooks(args.paths, out_dir=args.out, timeout=args.timeout):
            print(f"{run.source.name}: {run.seconds:.0f} s -> {run.executed}")
    except (NotebookError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
