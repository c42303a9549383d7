"""A client of the snapshot store for the concurrency and crash tests.

``python tests/store_worker.py URL PREFIX SECONDS`` adds snapshots, one small call at a time, for
SECONDS, and prints ``ack MEMBER_ID SNAPSHOT_DATE POSTS`` for every row of a call *after* the
call returned, so a line on stdout means the store acknowledged that row. Each call mixes rows
only this worker writes with rows every worker writes identically (the same keys and values), so
concurrent idempotent writes are exercised too.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from ssi_model.store.repository import ADMIN, SnapshotStore

SHARED_KEYS = 20
START = date(2025, 1, 1)


def own_row(prefix: str, i: int) -> dict[str, Any]:
    return {"member_id": f"{prefix}-{i % 25}", "snapshot_date": (START + timedelta(
        days=i // 25)).isoformat(), "posts_90d": i, "source": "questionnaire"}


def shared_row(i: int) -> dict[str, Any]:
    return {"member_id": f"shared-{i % 5}", "snapshot_date": (START + timedelta(
        days=i % SHARED_KEYS)).isoformat(), "posts_90d": 7, "source": "questionnaire"}


def run(store: SnapshotStore, prefix: str, seconds: float,
        ack: Callable[[dict[str, Any]], None]) -> int:
    """Add snapshots until the time is up; ``ack`` each row of every acknowledged call."""
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        rows = [own_row(prefix, i), own_row(prefix, i + 1), shared_row(i)]
        result = store.add_snapshots(rows, ADMIN)
        if result.quarantined or result.conflicts:
            raise AssertionError(f"unexpected refusal: {result}")
        for row in rows:
            ack(row)
        i += 2
    return i


def main() -> None:
    url, prefix, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with SnapshotStore(url) as store:
        print("ready", flush=True)
        run(store, prefix, seconds, lambda row: print(
            "ack", row["member_id"], row["snapshot_date"], row["posts_90d"], flush=True))


if __name__ == "__main__":
    main()
