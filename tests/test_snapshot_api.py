"""The snapshot store over HTTP: the API as a real uvicorn process, on SQLite and on PostgreSQL.

POST /v1/snapshots (stored, unchanged, quarantined, 409 naming the columns, ?replace=true),
GET /v1/members/{id}/snapshots, DELETE /v1/members/{id}; coaches' keys that see only their own
members (404 on every path and method otherwise), the administrator's key that sees all; and
reliability: 32 concurrent clients lose and duplicate nothing, and a server SIGKILLed under load
keeps every snapshot it acknowledged. No model is served here (estimates are null); the intake
page's test (tests/test_intake_page.py) serves a champion.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from api_helpers import Process, free_port, start_api
from ssi_model.store import ADMIN, SnapshotStore
from ssi_model.store.repository import NOT_YOURS

pytest_plugins = ["pg"]
pytestmark = pytest.mark.system  # every test talks to the API under uvicorn

ADMIN_KEY = "admin-key-for-tests"
START = date(2025, 1, 1)
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


@dataclass
class Server:
    url: str  # the store's database URL
    api: Process
    coach_a: str
    coach_b: str

    def client(self, key: str | None) -> httpx.Client:
        headers = {"X-API-Key": key} if key else {}
        return httpx.Client(base_url=self.api.url, headers=headers, timeout=TIMEOUT)


def _database(kind: str, request: pytest.FixtureRequest, folder: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'ssi.db'}"
    return str(request.getfixturevalue("postgres_server").create_database())


def _start(folder: Path, url: str) -> Process:
    api = start_api(folder, env={
        "SSI_DATABASE_URL": url,
        "SSI_API_KEY": ADMIN_KEY,
        "SSI_RELOAD_SECONDS": "0",
        "SSI_SECRET_FILE": str(folder / "secret"),
        # No registry: a closed loopback port fails at once, so the API starts without a model.
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    })
    try:
        api.wait_until("/health", timeout=240)  # a loaded CI box imports slowly
    except BaseException:
        api.stop()
        raise
    return api


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgresql", marks=pytest.mark.scale)])
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp(f"snapshot-api-{request.param}")
    url = _database(request.param, request, folder)
    with SnapshotStore(url) as store:  # migrated, with two coaches, before the API starts
        a, b = store.add_coach("coach-a"), store.add_coach("coach-b")
    running = Server(url=url, api=_start(folder, url), coach_a=a, coach_b=b)
    try:
        yield running
    finally:
        running.api.stop()  # the one running now (the kill test restarts it)


def row(member_id: str, day: int = 0, posts: int = 3, **more: Any) -> dict[str, Any]:
    """A valid contract row with the dashboard's figures (JSON numbers and booleans)."""
    return {"member_id": member_id, "snapshot_date": (START + timedelta(days=day)).isoformat(),
            "posts_90d": posts, "has_photo": True, "connections_count": 480,
            "ssi_total": 42.5, "ssi_brand": 12.5, "ssi_people": 10.0, "ssi_insights": 8.0,
            "ssi_relationships": 12.0, "industry_rank_top_pct": 20.0, "source": "dashboard",
            **more}


# ---------------------------------------------------------------------------- behaviour


def test_rows_are_stored_unchanged_quarantined_or_refused_with_the_columns(
        server: Server) -> None:
    with server.client(server.coach_a) as a:
        first = a.post("/v1/snapshots", json={"snapshots": [
            row("idem-1"), row("idem-1", day=1, posts=5),
            {"member_id": "idem-bad", "snapshot_date": "2025-02-30", "posts_90d": -1},
            {"snapshot_date": "2025-01-01"}, row("idem-2", extra_column=1), {}]})
        assert first.status_code == 200, first.text
        body = first.json()
        assert (body["stored"], body["unchanged"]) == (3, 0)
        assert [q["index"] for q in body["quarantined"]] == [2, 3, 5]  # none silently dropped
        reasons = body["quarantined"][0]["reasons"]
        assert any(r.startswith("snapshot_date:") for r in reasons)
        assert any(r.startswith("posts_90d:") for r in reasons)
        assert any(r.startswith("member_id:") for r in body["quarantined"][1]["reasons"])
        assert body["ignored_columns"] == ["extra_column"]

        again = a.post("/v1/snapshots", json={"snapshots": [row("idem-1"), row("idem-2")]})
        assert again.json() | {"quarantined": []} == {
            "stored": 0, "unchanged": 2, "replaced": 0, "quarantined": [], "ignored_columns": []}

        changed = [row("idem-3"), row("idem-1", posts=4, ssi_total=43.0, ssi_brand=13.0)]
        conflict = a.post("/v1/snapshots", json={"snapshots": changed})
        assert conflict.status_code == 409, conflict.text
        assert conflict.json() == {"detail": {"conflicts": [{
            "index": 1, "member_id": "idem-1", "snapshot_date": "2025-01-01",
            "columns": ["posts_90d", "ssi_total", "ssi_brand"]}]}}
        # Nothing of the refused call was stored: idem-3 does not exist.
        assert a.get("/v1/members/idem-3/snapshots").status_code == 404

        replaced = a.post("/v1/snapshots", params={"replace": "true"},
                          json={"snapshots": changed})
        assert replaced.status_code == 200, replaced.text
        assert (replaced.json()["stored"], replaced.json()["replaced"]) == (2, 1)

        history = a.get("/v1/members/idem-1/snapshots")
        assert history.status_code == 200, history.text
        doc = history.json()
        assert doc["member_id"] == "idem-1" and doc["model"] is None
        assert [s["snapshot_date"] for s in doc["snapshots"]] == ["2025-01-01", "2025-01-02"]
        latest_first = doc["snapshots"][0]
        assert latest_first["row"]["posts_90d"] == 4 and latest_first["row"]["has_photo"] is True
        assert latest_first["reported"]["ssi_total"] == 43.0
        assert latest_first["reported"]["network_rank_top_pct"] is None
        assert latest_first["estimate"] is None  # no model is served by this API


def test_a_request_outside_the_limits_is_refused_whole(server: Server) -> None:
    with server.client(server.coach_a) as a:
        assert a.post("/v1/snapshots", json={"snapshots": []}).status_code == 422
        too_many = [row(f"many-{i}") for i in range(1001)]
        assert a.post("/v1/snapshots", json={"snapshots": too_many}).status_code in (413, 422)
        assert a.post("/v1/snapshots", json={"snapshots": ["not an object"]}).status_code == 422
        assert a.get("/v1/members/many-0/snapshots").status_code == 404


def test_a_coach_sees_and_changes_only_their_own_members(server: Server) -> None:
    with server.client(server.coach_a) as a, server.client(server.coach_b) as b, \
            server.client(ADMIN_KEY) as admin, server.client(None) as anonymous, \
            server.client("ssi_not-a-key") as stranger:
        assert a.post("/v1/snapshots", json={"snapshots": [row("iso-a")]}).json()["stored"] == 1
        assert b.post("/v1/snapshots", json={"snapshots": [row("iso-b")]}).json()["stored"] == 1

        # Coach B: coach A's member is exactly as absent as a member that never existed.
        for member in ("iso-a", "iso-never"):
            got = b.get(f"/v1/members/{member}/snapshots")
            deleted = b.delete(f"/v1/members/{member}")
            assert (got.status_code, deleted.status_code) == (404, 404), (got.text, deleted.text)
            assert got.json() == {"detail": f"member {member!r}: not found"}
            assert deleted.json() == got.json()
        taken = b.post("/v1/snapshots", json={"snapshots": [row("iso-a", day=9)]})
        assert taken.status_code == 200
        assert taken.json()["stored"] == 0
        assert taken.json()["quarantined"] == [{"index": 0, "reasons": [NOT_YOURS]}]

        assert a.get("/v1/members/iso-a/snapshots").status_code == 200
        assert [s["snapshot_date"] for s in
                a.get("/v1/members/iso-a/snapshots").json()["snapshots"]] == ["2025-01-01"]
        for member in ("iso-a", "iso-b"):  # the administrator sees everyone
            assert admin.get(f"/v1/members/{member}/snapshots").status_code == 200

        # No key, a wrong key: 401 on every store path and method.
        for client in (anonymous, stranger):
            for method, path, body in (("GET", "/v1/members/iso-a/snapshots", None),
                                       ("DELETE", "/v1/members/iso-a", None),
                                       ("POST", "/v1/snapshots", {"snapshots": [row("x")]})):
                answer = client.request(method, path, json=body)
                assert answer.status_code == 401, (method, path, answer.text)
        # The model routes keep their guard: the administrator's key only.
        assert a.get("/v1/model").status_code == 401
        assert admin.get("/v1/model").status_code == 200

    with SnapshotStore(server.url) as store:
        key = store.add_coach("coach-revoked")
        with server.client(key) as revoked:
            assert revoked.post("/v1/snapshots",
                                json={"snapshots": [row("iso-r")]}).status_code == 200
            store.revoke_coach("coach-revoked")
            assert revoked.get("/v1/members/iso-r/snapshots").status_code == 401


def test_erasure_removes_everything_and_the_member_is_404_afterwards(server: Server) -> None:
    with server.client(server.coach_a) as a:
        a.post("/v1/snapshots", json={"snapshots": [
            row("erase-me"), row("erase-me", day=3),
            {"member_id": "erase-me", "snapshot_date": "2025-01-09", "posts_90d": "lots"}]})
        with SnapshotStore(server.url) as store:
            (snapshot, _) = store.member_snapshots("erase-me", ADMIN)
            store.record_explanation(snapshot.id, {"member_id": "erase-me"}, "m", "1", ADMIN)
        erased = a.delete("/v1/members/erase-me")
        assert erased.status_code == 200, erased.text
        assert erased.json() == {"member_id": "erase-me", "snapshots": 2, "quarantined": 1,
                                 "explanations": 1, "member": True}
        assert a.get("/v1/members/erase-me/snapshots").status_code == 404
        assert a.delete("/v1/members/erase-me").status_code == 404
    with server.client(ADMIN_KEY) as admin:
        assert admin.get("/v1/members/erase-me/snapshots").status_code == 404
    with SnapshotStore(server.url) as store, store.engine.connect() as conn:
        for table in ("snapshots", "quarantined_submissions", "issued_explanations", "members"):
            found = conn.scalar(sa.text(f"SELECT COUNT(*) FROM {table} "
                                        "WHERE member_id = 'erase-me'"))
            assert found == 0, table


# ---------------------------------------------------------------------------- reliability

Ack = tuple[str, str, int]  # member_id, snapshot_date, posts_90d of an acknowledged row


def _post_until(base: str, key: str, prefix: str, deadline: float, acked: list[Ack],
                lock: threading.Lock, stop: threading.Event | None = None) -> int:
    """One client: small calls of own rows plus rows every client of this coach posts
    identically; every row of a call answered 200 is recorded as acknowledged."""
    i = 0
    failures = 0
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=TIMEOUT) as client:
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            rows = [row(f"{prefix}{i % 20}", day=i // 20, posts=i),
                    row(f"{prefix}{(i + 1) % 20}", day=(i + 1) // 20, posts=i + 1),
                    row(f"shared-{key[-6:]}-{i % 4}", day=i % 10, posts=7)]
            try:
                answer = client.post("/v1/snapshots", json={"snapshots": rows})
            except httpx.TransportError:
                if stop is not None:  # the server was killed: this call was never answered
                    return failures
                raise
            if answer.status_code != 200 or answer.json()["quarantined"]:
                failures += 1
            else:
                with lock:
                    acked.extend((r["member_id"], r["snapshot_date"], r["posts_90d"])
                                 for r in rows)
            i += 2
    return failures


def _check_acknowledged(url: str, acked: list[Ack], *, own: str | None) -> None:
    """Every acknowledged row is stored once with its values; and with ``own`` (a member id
    prefix only this run's clients wrote), no row of those members that was not acknowledged."""
    with SnapshotStore(url) as store, store.engine.connect() as conn:
        duplicates = conn.execute(sa.text(
            "SELECT member_id, snapshot_date, COUNT(*) FROM snapshots "
            "GROUP BY member_id, snapshot_date HAVING COUNT(*) > 1")).all()
        assert duplicates == []
        stored = {(m, d.isoformat() if isinstance(d, date) else str(d)[:10]): doc
                  for m, d, doc in conn.execute(sa.text(
                      "SELECT member_id, snapshot_date, row FROM snapshots"))}
    posts = {key: (doc if isinstance(doc, dict) else json.loads(doc))["posts_90d"]
             for key, doc in stored.items()}
    missing = [a for a in acked if posts.get((a[0], a[1])) != a[2]]
    assert missing == [], f"{len(missing)} acknowledged rows lost, e.g. {missing[:3]}"
    if own is not None:
        assert {k for k in posts if k[0].startswith(own)} == \
            {(m, d) for m, d, _ in acked if m.startswith(own)}


def _load(server: Server, clients: int, seconds: float) -> None:
    acked: list[Ack] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    failures: list[int] = []
    keys = [server.coach_a, server.coach_b, ADMIN_KEY]
    prefix = f"load{seconds:g}s"
    deadline = time.monotonic() + seconds

    def work(k: int) -> None:
        try:
            failures.append(_post_until(server.api.url, keys[k % 3], f"{prefix}{k}-",
                                        deadline, acked, lock))
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    assert errors == [] and not any(t.is_alive() for t in threads), errors[:3]
    assert sum(failures) == 0
    assert len({a[0].split("-")[0] for a in acked if a[0].startswith(prefix)}) == clients
    _check_acknowledged(server.url, acked, own=prefix)
    # The figure behind the closing notes (pytest -s shows it): how much load was checked.
    print(f"\n{clients} clients for {seconds:g} s on {server.url.split(':')[0]}: "
          f"{len(acked)} rows acknowledged, each stored exactly once")


def test_concurrent_clients_lose_and_duplicate_nothing(server: Server) -> None:
    _load(server, clients=32, seconds=5)


@pytest.mark.slow
def test_32_clients_for_30_seconds_lose_and_duplicate_nothing(server: Server) -> None:
    _load(server, clients=32, seconds=30)


def test_a_server_killed_under_load_keeps_every_acknowledged_snapshot(server: Server) -> None:
    # Last in the module: it kills the module's server and leaves a restarted one behind.
    acked: list[Ack] = []
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            _post_until(server.api.url, server.coach_a, f"kill{k}-", time.monotonic() + 120,
                        acked, lock, stop)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 150 and time.monotonic() < deadline and not errors:
        time.sleep(0.05)
    server.api.popen.kill()  # SIGKILL in the middle of the traffic
    server.api.popen.wait(30)
    stop.set()
    for t in threads:
        t.join(60)
    assert errors == [], errors[:3]
    with lock:
        before_restart = list(acked)
    assert len(before_restart) >= 150
    _check_acknowledged(server.url, before_restart, own=None)
    print(f"\nSIGKILL under load ({server.url.split(':')[0]}): {len(before_restart)} rows "
          "acknowledged before the kill, every one stored exactly once")

    server.api = _start(server.api.log.parent, server.url)  # the fixture stops this one
    with server.client(server.coach_a) as client:
        for member in sorted({m for m, _, _ in before_restart})[:10]:
            answer = client.get(f"/v1/members/{member}/snapshots")
            assert answer.status_code == 200, answer.text
            served = {(s["snapshot_date"], s["row"]["posts_90d"])
                      for s in answer.json()["snapshots"]}
            assert {(d, p) for m, d, p in before_restart if m == member} <= served
