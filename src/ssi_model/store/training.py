"""Train from the store: ``ssi train --from-store`` and ``make train SOURCE=store``.

The labelled snapshots (consent: training) are exported exactly as stored and go through the
usual training run; the run records where they came from (the store URL with any password
masked) and how many rows there were, beside the data fingerprint every run logs. Which rows
count as reported scores follows ``tracking.data``'s rule: demo snapshots imported into the store
keep the simulator's ``sim-`` ids, so a store of demo members trains a simulated-only model.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from ssi_model.model.config import ExperimentConfig
from ssi_model.tracking.registry import Registry
from ssi_model.tracking.runs import Progress, RunResult


@dataclass(frozen=True)
class StoreRun:
    run: RunResult
    store_url: str  # password masked
    rows: int
    fingerprint: str


def train_from_store(config: ExperimentConfig, *, registry: Registry | None = None,
                     url: str | None = None, progress: Progress | None = None) -> StoreRun:
    from ssi_model.io import write_table
    from ssi_model.settings import get_settings
    from ssi_model.store.repository import SnapshotStore
    from ssi_model.tracking.runs import train_run

    say = progress or (lambda _msg: None)
    with SnapshotStore(url) as store:
        rows = store.export_labelled()
        store_url = store.url
    say(f"{len(rows)} labelled rows from {store_url}")
    with tempfile.TemporaryDirectory() as tmp:
        path = write_table(rows, Path(tmp) / "store.parquet")
        registry = registry or Registry(get_settings())
        run = train_run(config, registry=registry, data=path, progress=progress,
                        source=f"store:{store_url}")
    client = registry.client
    client.set_tag(run.run_id, "store_url", store_url)
    client.log_param(run.run_id, "store_rows", len(rows))
    fingerprint = client.get_run(run.run_id).data.tags["data_fingerprint"]
    return StoreRun(run=run, store_url=store_url, rows=len(rows), fingerprint=fingerprint)
