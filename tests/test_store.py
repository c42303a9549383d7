"""The snapshot store, on SQLite and on a real PostgreSQL server (tests/pg.py).

A specification of the store's promises: idempotent submissions, conflicts that name the
columns, quarantine with the payload and every reason, complete erasure, coaches who see only
their own members, keys kept only as hashes, exports exactly as stored, migrations without loss,
and no lost or duplicated acknowledged snapshot under concurrency or a SIGKILL.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from ssi_model.store import ADMIN, MemberNotFound, SnapshotStore
from ssi_model.store.db import create_store_engine, current_revision, head_revision, upgrade
from ssi_model.store.models import Base
from ssi_model.store.repository import (
    NOT_YOURS,
    CoachExists,
    SnapshotNotFound,
    canonical,
    row_documents,
)

pytest_plugins = ["pg"]

HERE = Path(__file__).resolve().parent
WORKER = HERE / "store_worker.py"
TODAY = date(2026, 12, 1)


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.scale)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ssi.db'}"
    return str(request.getfixturevalue("postgres_server").create_database())


@pytest.fixture
def store(store_url: str) -> Iterator[SnapshotStore]:
    with SnapshotStore(store_url) as opened:
        yield opened


@pytest.fixture(scope="session")
def cohort_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 simulated members with labels as a CSV (a few rows break the contract)."""
    from ssi_model.io import write_table
    from ssi_model.simulator import simulate_cohort

    return write_table(simulate_cohort(300, 5),
                       tmp_path_factory.mktemp("cohort") / "cohort.csv")


@pytest.fixture(scope="session")
def cohort(cohort_csv: Path) -> pd.DataFrame:
    from ssi_model.io import read_raw

    return read_raw(cohort_csv)


def rows_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict(orient="records")


def valid_rows(cohort: pd.DataFrame, n: int) -> list[dict[str, Any]]:
    from ssi_model.validation import validate

    clean_ids = set(validate(cohort, today=TODAY).clean["member_id"])
    return rows_of(cohort[cohort["member_id"].isin(clean_ids)].head(n))


def all_member_rows(store: SnapshotStore, member_id: str) -> dict[str, int]:
    """Rows mentioning ``member_id`` in every table that has a member_id or a JSON column."""
    found = {}
    with store.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            conditions = [table.c.member_id == member_id] if "member_id" in table.c else []
            conditions += [sa.cast(c, sa.Text).contains(member_id) for c in table.c
                           if isinstance(c.type, sa.JSON)]
            if conditions:
                found[table.name] = int(conn.scalar(
                    sa.select(sa.func.count()).select_from(table).where(sa.or_(*conditions))))
    return found


# ---------------------------------------------------------------------------- submissions


def test_same_row_again_is_unchanged_and_a_different_one_a_conflict(
        store: SnapshotStore, cohort: pd.DataFrame) -> None:
    rows = valid_rows(cohort, 5)
    first = store.add_snapshots(rows, ADMIN, today=TODAY)
    assert (first.stored, first.unchanged, first.quarantined) == (5, 0, [])

    again = store.add_snapshots(rows, ADMIN, today=TODAY)
    assert (again.stored, again.unchanged, again.written) == (0, 5, True)

    changed = dict(rows[2], posts_90d=str(int(rows[2]["posts_90d"] or 0) + 3), ssi_total="")
    newcomer = dict(rows[0], member_id="brand-new-member")
    refused = store.add_snapshots([newcomer, changed], ADMIN, today=TODAY)
    assert not refused.written and refused.stored == 0
    [conflict] = refused.conflicts
    assert (conflict.index, conflict.member_id) == (1, rows[2]["member_id"])
    assert conflict.columns == ("posts_90d", "ssi_total")
    # All or nothing: the valid newcomer of the refused call was not stored either.
    with pytest.raises(MemberNotFound):
        store.member_snapshots("brand-new-member", ADMIN)

    replaced = store.add_snapshots([newcomer, changed], ADMIN, replace=True, today=TODAY)
    assert (replaced.stored, replaced.replaced, replaced.conflicts) == (2, 1, [])
    [stored] = store.member_snapshots(rows[2]["member_id"], ADMIN)
    assert stored.row["posts_90d"] == int(changed["posts_90d"])
    assert "ssi_total" not in stored.row  # unknown, not zero
    assert store.counts()["snapshots"] == 6


def test_invalid_rows_are_quarantined_with_the_payload_as_sent_and_every_reason(
        store: SnapshotStore, cohort: pd.DataFrame) -> None:
    good, bad = valid_rows(cohort, 2)
    bad = dict(bad, posts_90d="-1", has_photo="maybe")
    no_id = dict(good, member_id="", snapshot_date="2026-03-01")
    with_name = dict(good, full_name="Jane Example")  # outside the contract: never stored
    result = store.add_snapshots([with_name, bad, no_id], ADMIN, today=TODAY)

    assert result.stored == 1 and result.ignored_columns == ("full_name",)
    assert [q.index for q in result.quarantined] == [1, 2]
    assert set(result.quarantined[0].reasons) == {
        "has_photo: not true/false ('maybe')",
        "posts_90d: -1 is below the minimum 0 (valid 0–10000)"}
    assert result.quarantined[1].reasons == ("member_id: required, but empty",)

    kept = store.quarantined_submissions(ADMIN)
    assert [q.member_id for q in kept] == [bad["member_id"], None]
    assert kept[0].payload["posts_90d"] == "-1" and kept[0].payload["has_photo"] == "maybe"
    assert kept[0].payload == {k: v for k, v in bad.items()}  # every contract cell, as sent
    assert set(kept[0].reasons) == set(result.quarantined[0].reasons)
    assert all_member_rows(store, "Jane Example") == {t: 0 for t in all_member_rows(
        store, "Jane Example")}


def test_erasure_leaves_nothing_of_the_member_in_any_table(
        store: SnapshotStore, cohort: pd.DataFrame) -> None:
    rows = valid_rows(cohort, 2)
    gone, kept = rows[0]["member_id"], rows[1]["member_id"]
    later = dict(rows[0], snapshot_date="2026-11-30", reported_on="2026-11-30")
    store.add_snapshots([*rows, later], ADMIN, today=TODAY)
    store.add_snapshots([dict(rows[0], snapshot_date="2026-11-29", posts_90d="-5")], ADMIN,
                        today=TODAY)
    snapshots = store.member_snapshots(gone, ADMIN)
    for snap in snapshots:
        store.record_explanation(snap.id, {"member_id": gone, "total": 30.5},
                                 "ssi-estimator", "3", ADMIN)
    store.record_explanation(store.member_snapshots(kept, ADMIN)[0].id, {"member_id": kept},
                             "ssi-estimator", "3", ADMIN)
    assert all(n > 0 for n in all_member_rows(store, gone).values())

    erased = store.erase_member(gone, ADMIN)
    assert erased.as_dict() == {"member_id": gone, "snapshots": 2, "quarantined": 1,
                                "explanations": 2, "member": True}
    assert all_member_rows(store, gone) == {"members": 0, "snapshots": 0,
                                            "quarantined_submissions": 0,
                                            "issued_explanations": 0}
    assert len(store.issued_explanations(kept, ADMIN)) == 1
    with pytest.raises(MemberNotFound):
        store.erase_member(gone, ADMIN)


# ---------------------------------------------------------------------------- coaches


def test_a_coach_sees_and_changes_only_their_own_members(
        store: SnapshotStore, cohort: pd.DataFrame) -> None:
    a = store.coach_for_key(store.add_coach("coach-a"))
    b = store.coach_for_key(store.add_coach("coach-b"))
    assert a is not None and b is not None
    rows = valid_rows(cohort, 3)
    mine = rows[0]["member_id"]
    assert store.add_snapshots(rows[:2], a, today=TODAY).stored == 2
    assert store.add_snapshots(rows[2:], b, today=TODAY).stored == 1

    assert [e.member_id for e in store.cohort(a)] == sorted(r["member_id"] for r in rows[:2])
    assert [e.member_id for e in store.cohort(b)] == [rows[2]["member_id"]]
    assert len(store.cohort(ADMIN)) == 3
    snapshot = store.member_snapshots(mine, a)[0]

    # To coach b, coach a's member does not exist: the same error as for an unknown id.
    for call in (lambda m: store.member_snapshots(m, b), lambda m: store.erase_member(m, b),
                 lambda m: store.issued_explanations(m, b)):
        with pytest.raises(MemberNotFound) as theirs:
            call(mine)
        with pytest.raises(MemberNotFound) as unknown:
            call("no-such-member")
        assert str(theirs.value).replace(mine, "?") == str(unknown.value).replace(
            "no-such-member", "?")
    with pytest.raises(SnapshotNotFound):
        store.record_explanation(snapshot.id, {}, "ssi-estimator", "3", b)
    overwrite = store.add_snapshots([dict(rows[0], posts_90d="999")], b, replace=True,
                                    today=TODAY)
    assert overwrite.stored == 0 and overwrite.quarantined[0].reasons == (NOT_YOURS,)
    assert store.member_snapshots(mine, a)[0].row == snapshot.row
    assert store.erase_member(mine, ADMIN).snapshots == 1  # the administrator sees everything


def test_every_member_at_once_reads_what_one_member_at_a_time_reads(
        store: SnapshotStore, cohort: pd.DataFrame) -> None:
    """snapshots_by_member and issued_by_member (one query each) equal member_snapshots and
    issued_explanations per member, for a coach and the administrator; record_explanations
    writes every document or, with a snapshot the caller cannot see, none."""
    a = store.coach_for_key(store.add_coach("coach-a"))
    b = store.coach_for_key(store.add_coach("coach-b"))
    assert a is not None and b is not None
    rows = valid_rows(cohort, 3)
    later = dict(rows[0], snapshot_date="2026-11-30", reported_on="2026-11-30")
    store.add_snapshots([*rows[:2], later], a, today=TODAY)
    store.add_snapshots(rows[2:], b, today=TODAY)
    theirs = store.member_snapshots(rows[2]["member_id"], b)[0]
    mine = [s for m in sorted(r["member_id"] for r in rows[:2])
            for s in store.member_snapshots(m, a)]
    store.record_explanations([(s.id, {"n": k}) for k, s in enumerate(mine)], "ssi-estimator",
                              "3", a)
    store.record_explanation(mine[0].id, {"n": 9}, "ssi-estimator", "4", a)
    with pytest.raises(SnapshotNotFound):
        store.record_explanations([(mine[1].id, {}), (theirs.id, {})], "ssi-estimator", "5", a)
    assert store.counts()["issued_explanations"] == len(mine) + 1  # nothing of the refused call

    for coach in (a, b, ADMIN):
        members = store.members(coach)
        assert store.snapshots_by_member(coach) == {
            m: store.member_snapshots(m, coach) for m in members}
        issued = store.issued_by_member(coach)
        assert issued == {m: store.issued_explanations(m, coach) for m in members
                          if store.issued_explanations(m, coach)}
    first = mine[0].member_id  # its documents oldest first: the batch's, then the later one
    assert [i.document["n"] for i in store.issued_by_member(a)[first]] == [
        k for k, s in enumerate(mine) if s.member_id == first] + [9]


def test_keys_are_shown_once_and_stored_only_as_hashes(store: SnapshotStore) -> None:
    key = store.add_coach("coach-a")
    assert key.startswith("ssi_") and len(key) >= 40
    with store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT name, key_hash FROM coaches")).all()
    assert stored == [("coach-a", hashlib.sha256(key.encode()).hexdigest())]
    assert store.authenticate(key, admin_key="admin-secret") == store.coach_named("coach-a")
    assert store.authenticate("admin-secret", admin_key="admin-secret") == ADMIN
    assert store.authenticate(key[:-1], admin_key="admin-secret") is None
    with pytest.raises(CoachExists):
        store.add_coach("coach-a")
    store.revoke_coach("coach-a")
    assert store.coach_for_key(key) is None
    assert store.coaches()[0].revoked_at is not None


def test_cli_coach_add_prints_the_key_last_and_import_export_round_trips(
        store_url: str, cohort_csv: Path, cohort: pd.DataFrame, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ssi_model.cli import app

    runner = CliRunner()
    monkeypatch.setenv("SSI_DATABASE_URL", store_url)
    added = runner.invoke(app, ["coach", "add", "coach-a"])
    assert added.exit_code == 0, added.output
    key = added.output.strip().splitlines()[-1]
    listed = runner.invoke(app, ["coach", "list"])
    assert "coach-a" in listed.output and key not in listed.output

    imported = runner.invoke(app, ["store", "import", str(cohort_csv), "--coach", "coach-a"])
    assert imported.exit_code == 0, imported.output
    from ssi_model.validation import validate

    expected = validate(cohort)
    assert (f"read: 300, stored: {expected.n_clean}, unchanged: 0, "
            f"quarantined: {expected.n_quarantined}") in imported.output
    again = runner.invoke(app, ["store", "import", str(cohort_csv)])
    assert f"stored: 0, unchanged: {expected.n_clean}" in again.output

    out = tmp_path / "export.csv"
    exported = runner.invoke(app, ["store", "export", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    with SnapshotStore(store_url) as store:
        coach = store.coach_for_key(key)
        assert coach is not None and len(store.members(coach)) == expected.n_clean
        stored = {s.member_id: s.row for e in store.cohort(ADMIN)
                  for s in [e.latest]}
    from ssi_model.io import read_raw

    # Exactly as stored: the exported file, validated again, is the same documents.
    back = validate(read_raw(out))
    assert back.n_quarantined == 0 and len(back.clean) == len(stored)
    for doc in row_documents(back.clean):
        assert canonical(doc) == canonical(stored[doc["member_id"]])

    upgraded = runner.invoke(app, ["store", "upgrade"])
    assert f"already at revision {head_revision()}" in upgraded.output
    revoked = runner.invoke(app, ["coach", "revoke", "coach-a"])
    assert revoked.exit_code == 0
    assert runner.invoke(app, ["coach", "revoke", "nobody"]).exit_code == 2


def test_export_holds_only_labelled_rows_with_consent_to_training(
        store: SnapshotStore, cohort: pd.DataFrame) -> None:
    rows = valid_rows(cohort, 4)
    unlabelled = dict(rows[3], ssi_brand="", ssi_total="")
    store.add_snapshots(rows[:2], ADMIN, consent="training", today=TODAY)
    store.add_snapshots([rows[2]], ADMIN, consent="coaching", today=TODAY)
    store.add_snapshots([unlabelled], ADMIN, consent="training", today=TODAY)
    exported = store.export_labelled()
    assert sorted(exported["member_id"]) == sorted(r["member_id"] for r in rows[:2])
    assert len(store.export_labelled(consents=("training", "coaching"))) == 3
    assert str(exported["snapshot_date"].dtype) == "datetime64[ns]"
    assert str(exported["posts_90d"].dtype) == "Int64"


# ---------------------------------------------------------------------------- migrations


def test_a_store_made_by_the_previous_revision_upgrades_without_loss(store_url: str) -> None:
    engine = create_store_engine(store_url)
    try:
        assert upgrade(engine, "0001") == "0001"
        old = sa.MetaData()
        coaches = sa.Table("coaches", old, autoload_with=engine)
        members = sa.Table("members", old, autoload_with=engine)
        snapshots = sa.Table("snapshots", old, autoload_with=engine)
        assert "labelled" not in snapshots.c
        labelled = {"member_id": "m-1", "snapshot_date": "2026-01-05", "posts_90d": 4,
                    "ssi_brand": 10.5, "ssi_people": 4.0, "ssi_insights": 2.25,
                    "ssi_relationships": 11.0, "ssi_total": 28.0, "source": "dashboard"}
        unlabelled = {"member_id": "m-1", "snapshot_date": "2026-02-05", "posts_90d": 9}
        now = pd.Timestamp("2026-02-06", tz="UTC").to_pydatetime()
        with engine.begin() as conn:
            conn.execute(coaches.insert().values(id=1, name="coach-a", key_hash="0" * 64,
                                                 created_at=now))
            conn.execute(members.insert().values(member_id="m-1", coach_id=1, created_at=now))
            for doc in (labelled, unlabelled):
                conn.execute(snapshots.insert().values(
                    member_id="m-1", snapshot_date=date.fromisoformat(doc["snapshot_date"]),
                    row=doc, source=doc.get("source"),
                    consent="training", received_at=now, submitted_by=1))
        assert upgrade(engine, "head") == head_revision() == current_revision(engine)
    finally:
        engine.dispose()

    with SnapshotStore(store_url) as store:
        coach = store.coach_named("coach-a")
        history = store.member_snapshots("m-1", coach)
        assert [s.row for s in history] == [labelled, unlabelled]
        assert [s.labelled for s in history] == [True, False]
        assert store.record_explanation(history[0].id, {"ok": True}, "ssi-estimator", "1",
                                        coach).snapshot_id == history[0].id
        assert len(store.export_labelled()) == 1


# ---------------------------------------------------------------------------- reliability


def _check_acknowledged(store: SnapshotStore, acked: list[tuple[str, str, int]]) -> None:
    """Every acknowledged row is stored exactly once, with the acknowledged values."""
    with store.engine.connect() as conn:
        duplicates = conn.execute(sa.text(
            "SELECT member_id, snapshot_date, COUNT(*) FROM snapshots "
            "GROUP BY member_id, snapshot_date HAVING COUNT(*) > 1")).all()
    assert duplicates == []
    by_member: dict[str, dict[str, int]] = {}
    for member_id in {m for m, _, _ in acked}:
        by_member[member_id] = {s.snapshot_date.isoformat(): s.row["posts_90d"]
                                for s in store.member_snapshots(member_id, ADMIN)}
    missing = [a for a in acked if by_member[a[0]].get(a[1]) != a[2]]
    assert missing == [], f"{len(missing)} acknowledged rows lost, e.g. {missing[:3]}"


def _concurrent_threads(store_url: str, workers: int, seconds: float) -> None:
    from store_worker import run

    acked: list[tuple[str, str, int]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def ack(row: dict[str, Any]) -> None:
        with lock:
            acked.append((row["member_id"], row["snapshot_date"], row["posts_90d"]))

    with SnapshotStore(store_url, pool_size=workers) as store:
        def work(prefix: str) -> None:
            try:
                run(store, prefix, seconds, ack)
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(f"w{k}",)) for k in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        own = {(m, d) for m, d, _ in acked if not m.startswith("shared-")}
        assert len(own) > workers * 4  # every worker got real work done
        _check_acknowledged(store, acked)
        assert store.counts()["snapshots"] == len({(m, d) for m, d, _ in acked})


def test_concurrent_clients_lose_and_duplicate_nothing(store_url: str) -> None:
    _concurrent_threads(store_url, workers=8, seconds=4)


def _spawn(url: str, prefix: str, seconds: float) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]))
    return subprocess.Popen([sys.executable, str(WORKER), url, prefix, str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def _acks(lines: list[str]) -> list[tuple[str, str, int]]:
    return [(p[1], p[2], int(p[3])) for p in (line.split() for line in lines)
            if p and p[0] == "ack"]


def test_a_client_killed_mid_write_keeps_every_acknowledged_snapshot(store_url: str) -> None:
    SnapshotStore(store_url).close()  # migrated before the child starts
    child = _spawn(store_url, "killed", 120)
    assert child.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 90
    while len(_acks(lines)) < 30 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        lines.append(line)
    child.send_signal(signal.SIGKILL)
    rest, errors = child.communicate(timeout=30)
    lines += rest.splitlines()
    acked = _acks(lines)
    assert child.returncode == -signal.SIGKILL and len(acked) >= 30, errors[-2000:]
    with SnapshotStore(store_url) as store:
        _check_acknowledged(store, acked)


@pytest.mark.slow
def test_32_clients_for_30_seconds_lose_and_duplicate_nothing(store_url: str) -> None:
    # Threads sharing one store, as the HTTP server's workers do (32 processes would each load
    # pandas: several GB for the test alone).
    _concurrent_threads(store_url, workers=32, seconds=30)


def test_store_urls_are_logged_without_passwords() -> None:
    from ssi_model.store.db import safe_url

    masked = safe_url("postgresql+psycopg://coach:s3cret@db.internal:5432/ssi")
    assert "s3cret" not in masked and masked.startswith("postgresql+psycopg://coach:***@")


@pytest.mark.slow  # trains a model: ~10 s on an idle machine, more than the file's budget
def test_train_from_store_logs_the_masked_url_the_row_count_and_the_fingerprint(
        tmp_path: Path, cohort_csv: Path, mlflow_uri: str, small_config: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    from ssi_model.cli import app
    from ssi_model.tracking.runs import data_fingerprint
    from ssi_model.validation import validate

    url = f"sqlite:///{tmp_path / 'ssi.db'}"
    monkeypatch.setenv("SSI_DATABASE_URL", url)
    runner = CliRunner()
    assert runner.invoke(app, ["store", "import", str(cohort_csv)]).exit_code == 0
    config = tmp_path / "small.yaml"
    import yaml

    config.write_text(yaml.safe_dump(small_config.model_dump(mode="json")), encoding="utf-8")
    trained = runner.invoke(app, ["train", "--config", str(config), "--from-store"])
    assert trained.exit_code == 0, trained.output

    with SnapshotStore(url) as store:
        rows = store.export_labelled()
    fingerprint = data_fingerprint(validate(rows).clean)
    assert f"store {url}: {len(rows)} labelled rows, fingerprint {fingerprint}" in trained.output
    run = mlflow.MlflowClient().search_runs(
        [mlflow.get_experiment_by_name(small_config.mlflow_experiment).experiment_id],
        order_by=["attributes.start_time DESC"], max_results=1)[0]
    assert run.data.tags["data_source"] == f"store:{url}"
    # The imported demo members keep the simulator's ids: a simulated-only model, said so.
    assert run.data.tags["trained_on"] == "simulated" and "trained on: simulated" in trained.output
    assert run.data.tags["data_fingerprint"] == fingerprint
    assert run.data.params["store_rows"] == str(len(rows))
