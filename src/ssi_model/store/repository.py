"""The snapshot store's API: what the CLI, the HTTP routes, the intake page and reports call.

    from ssi_model.store import ADMIN, SnapshotStore

    store = SnapshotStore()                      # SSI_DATABASE_URL, upgraded to the head revision
    key = store.add_coach("coach-a")             # shown once; only its SHA-256 is kept
    coach = store.authenticate(key, admin_key=settings.ssi_api_key)  # Coach, ADMIN or None
    result = store.add_snapshots(rows, coach, consent="training")    # SubmitResult
    store.member_snapshots("m-001", coach)       # [StoredSnapshot], by snapshot_date
    store.cohort(coach)                          # [CohortEntry]: latest and previous snapshot
    store.record_explanation(snapshot.id, doc, "ssi-estimator", "3", coach)
    store.erase_member("m-001", coach)           # Erasure: what was deleted, per table
    store.export_labelled()                      # typed contract frame for training

Rules the callers can rely on:

* **Visibility.** A member belongs to the coach whose key first stored a valid snapshot for it
  (``ADMIN``, the administrator's ``SSI_API_KEY``, owns the members it creates and sees all).
  Every read, erasure and explanation call for a member the caller cannot see raises
  :class:`MemberNotFound`, exactly as for an id that does not exist: map it to 404.
* **Submissions** (:meth:`SnapshotStore.add_snapshots`) go through the contract's validation
  (``ssi_model.validation.validate``). Valid rows are stored; invalid rows are kept in quarantine
  with the contract cells as sent and every reason. A row for another coach's member is refused
  like an invalid row, with the reason ``member_id: not available to this coach`` (its existence
  cannot be hidden completely while ids are global, so member ids should be random pseudonyms).
  Columns outside the contract are never stored; the result names them (``ignored_columns``).
* **Idempotency** per (``member_id``, ``snapshot_date``), guaranteed by a unique constraint: the
  same row again is ``unchanged`` (compared on the canonical JSON of the validated row); a
  different row is a :class:`Conflict` naming the columns that differ, unless ``replace=True``.
* **Atomic per call.** A call either writes everything it reports or nothing: with any conflict
  (and ``replace=False``) nothing is written (``SubmitResult.written`` is false; answer 409).
  Safe under concurrent callers and processes; a retried call after a crash is harmless.
* **Consent.** Each snapshot records the scope the member agreed to: ``coaching`` (kept for
  their coach's reports) or ``training`` (also used to train models). ``export_labelled``
  exports only ``training`` rows unless told otherwise.
* **Erasure** (:meth:`SnapshotStore.erase_member`) deletes every snapshot, quarantined
  submission and issued explanation with that ``member_id``, and the member itself.

Payloads are never logged.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ssi_model.contract import CONTRACT, PILLAR_LABELS
from ssi_model.errors import UserError
from ssi_model.store.db import WRITE, open_engine, safe_url
from ssi_model.store.keys import hash_key, new_key, same_key
from ssi_model.store.models import (
    MEMBER_ID_LENGTH,
    CoachRow,
    ExplanationRow,
    MemberRow,
    QuarantinedRow,
    SnapshotRow,
)

Consent = Literal["coaching", "training"]
NOT_YOURS = "member_id: not available to this coach"
_ATTEMPTS = 8  # retries of a whole call after a concurrent writer took one of its keys
_IN_CHUNK = 500  # ids per IN (...) query, well under every driver's parameter limit
_INPUTS = frozenset(CONTRACT.input_columns)
T = TypeVar("T")


# ---------------------------------------------------------------------------- errors


class StoreError(UserError):
    """A request the store refuses; the message says why."""


class MemberNotFound(StoreError):
    """No such member, or not one of the caller's (deliberately indistinguishable)."""

    def __init__(self, member_id: str) -> None:
        super().__init__(f"member {member_id!r}: not found")
        self.member_id = member_id


class SnapshotNotFound(StoreError):
    def __init__(self, snapshot_id: int) -> None:
        super().__init__(f"snapshot {snapshot_id}: not found")
        self.snapshot_id = snapshot_id


class _Refused(Exception):
    """Internal: unwinds a refused call's transaction; never leaves the store."""

    def __init__(self, result: SubmitResult) -> None:
        self.result = result


class CoachExists(StoreError):
    pass


class CoachNotFound(StoreError):
    pass


# ---------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Coach:
    """Who is calling: a coach, or the administrator (``id`` is None), who sees everything."""

    id: int | None
    name: str

    @property
    def is_admin(self) -> bool:
        return self.id is None


ADMIN = Coach(id=None, name="administrator")


@dataclass(frozen=True)
class CoachInfo:
    name: str
    created_at: datetime
    revoked_at: datetime | None
    members: int


@dataclass(frozen=True)
class RowRefusal:
    """A quarantined row: its 0-based position in the call and every rule it broke."""

    index: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Conflict:
    """A row whose key is stored with different values (``columns``: the ones that differ)."""

    index: int
    member_id: str
    snapshot_date: date
    columns: tuple[str, ...]


@dataclass(frozen=True)
class SubmitResult:
    read: int
    stored: int  # new rows plus replaced ones
    unchanged: int
    replaced: int = 0
    quarantined: list[RowRefusal] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    ignored_columns: tuple[str, ...] = ()

    @property
    def written(self) -> bool:
        """False when conflicts refused the whole call (nothing was stored or quarantined)."""
        return not self.conflicts

    def summary(self) -> str:
        text = (f"read: {self.read}, stored: {self.stored}, unchanged: {self.unchanged}, "
                f"quarantined: {len(self.quarantined)}")
        if self.replaced:
            text += f" (replaced: {self.replaced})"
        if self.conflicts:
            text += f", conflicts: {len(self.conflicts)} (nothing written)"
        return text


@dataclass(frozen=True)
class StoredSnapshot:
    id: int
    member_id: str
    snapshot_date: date
    row: dict[str, Any]  # the contract row as stored: plain JSON values, unknown cells absent
    source: str | None
    labelled: bool
    consent: str
    received_at: datetime

    @property
    def inputs(self) -> dict[str, Any]:
        """The row's contract inputs: what a model reads, without the reported figures."""
        return {k: v for k, v in self.row.items() if k in _INPUTS}


@dataclass(frozen=True)
class CohortEntry:
    member_id: str
    snapshots: int
    latest: StoredSnapshot
    previous: StoredSnapshot | None


@dataclass(frozen=True)
class QuarantinedSubmission:
    id: int
    member_id: str | None
    payload: dict[str, Any]
    reasons: tuple[str, ...]
    received_at: datetime


@dataclass(frozen=True)
class IssuedExplanation:
    id: int
    member_id: str
    snapshot_id: int
    document: dict[str, Any]
    model_name: str
    model_version: str
    issued_at: datetime


@dataclass(frozen=True)
class Erasure:
    """What an erasure deleted."""

    member_id: str
    snapshots: int
    quarantined: int
    explanations: int
    member: bool

    def as_dict(self) -> dict[str, Any]:
        return {"member_id": self.member_id, "snapshots": self.snapshots,
                "quarantined": self.quarantined, "explanations": self.explanations,
                "member": self.member}


# ---------------------------------------------------------------------------- row documents


def _plain(value: Any) -> Any:
    """A cell as a plain JSON value; None for NA/NaN (unknown)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        midnight = value.time() == time() and value.tzinfo is None
        return value.date().isoformat() if midnight else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def row_documents(clean: pd.DataFrame) -> list[dict[str, Any]]:
    """Validated rows as stored: every known contract cell as int, float, bool or str (dates ISO).

    Unknown cells are left out, so a column added to the contract later reads as unknown in
    older rows without a migration.
    """
    columns = [c for c in CONTRACT.names if c in clean.columns]
    docs: list[dict[str, Any]] = [{} for _ in range(len(clean))]
    for name in columns:
        kind = CONTRACT[name].kind
        series = clean[name]
        known = series.notna().to_numpy()
        cells = series.astype(object).to_numpy()
        for i in np.flatnonzero(known):
            v = cells[i]
            if kind == "date":
                docs[i][name] = pd.Timestamp(v).date().isoformat()
            elif kind == "int":
                docs[i][name] = int(v)
            elif kind == "float":
                docs[i][name] = float(v)
            elif kind == "bool":
                docs[i][name] = bool(v)
            else:
                docs[i][name] = str(v)
    return docs


def canonical(doc: Mapping[str, Any]) -> str:
    """The row's canonical JSON: what idempotency compares."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def differing_columns(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[str, ...]:
    """Contract columns whose values differ (an absent cell is unknown), in contract order."""
    return tuple(c for c in CONTRACT.names if a.get(c) != b.get(c))


def is_labelled(doc: Mapping[str, Any]) -> bool:
    """Trainable: all four reported pillars are known."""
    return all(doc.get(name) is not None for name in PILLAR_LABELS.values())


def snapshots_frame(snapshots: Sequence[StoredSnapshot]) -> pd.DataFrame:
    """Stored rows as a frame with the contract's columns and dtypes (what training reads)."""
    records = [s.row for s in snapshots]
    raw = pd.DataFrame.from_records(records, columns=CONTRACT.names) if records else \
        pd.DataFrame({c: pd.Series(dtype=object) for c in CONTRACT.names})
    raw = raw.astype(object).where(raw.notna(), None)
    return CONTRACT.to_typed(raw)


def _payload(raw: pd.DataFrame, index: int, sent: Sequence[str]) -> dict[str, Any]:
    return {c: _plain(raw.at[index, c]) for c in sent}


def _member_key(value: Any) -> str | None:
    """The member id of a quarantined payload, if it could be one (for erasure)."""
    plain = _plain(value)
    if plain is None:
        return None
    text = str(plain).strip()
    return text if 0 < len(text) <= MEMBER_ID_LENGTH else None


def _aware(moment: datetime) -> datetime:
    # SQLite keeps no time zone; every time the store writes is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _chunks(items: Sequence[T], size: int = _IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _issued(row: ExplanationRow) -> IssuedExplanation:
    return IssuedExplanation(id=row.id, member_id=row.member_id, snapshot_id=row.snapshot_id,
                             document=dict(row.document), model_name=row.model_name,
                             model_version=row.model_version, issued_at=_aware(row.issued_at))


def _stored(row: SnapshotRow) -> StoredSnapshot:
    return StoredSnapshot(id=row.id, member_id=row.member_id, snapshot_date=row.snapshot_date,
                          row=dict(row.row), source=row.source, labelled=row.labelled,
                          consent=row.consent, received_at=_aware(row.received_at))


# ---------------------------------------------------------------------------- the store


@dataclass
class _Prepared:
    """A call's rows after validation, before any database work."""

    read: int
    raw: pd.DataFrame
    sent: list[str]
    ignored: tuple[str, ...]
    clean_index: list[int]
    docs: list[dict[str, Any]]
    invalid: dict[int, list[str]]


class SnapshotStore:
    """Typed access to the snapshot store (see the module docstring for the rules)."""

    def __init__(self, url: str | None = None, *, engine: Engine | None = None,
                 migrate: bool = True, **engine_options: Any) -> None:
        """Open ``url`` (default ``SSI_DATABASE_URL``), upgrading its schema unless told not to.

        ``engine_options`` go to ``create_engine`` (e.g. ``pool_size`` for many threads).
        """
        self.engine = engine if engine is not None else open_engine(url, migrate=migrate,
                                                                    **engine_options)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(**{WRITE: True}),
                                   expire_on_commit=False)

    @property
    def url(self) -> str:
        """The store's URL with any password masked (safe to print or log)."""
        return safe_url(self.engine.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> SnapshotStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._write() as session, session.begin():
            yield session

    # ------------------------------------------------------------------ coaches and keys

    def add_coach(self, name: str) -> str:
        """Create a coach; returns its new API key (the only time it exists in clear)."""
        name = name.strip()
        if not name or len(name) > 100:
            raise StoreError("a coach's name must be 1–100 characters")
        key = new_key()
        try:
            with self._writing() as s:
                s.add(CoachRow(name=name, key_hash=hash_key(key), created_at=_now()))
        except IntegrityError:
            raise CoachExists(f"coach {name!r} already exists") from None
        return key

    def revoke_coach(self, name: str) -> None:
        """Revoke a coach's key at once; their members and snapshots stay."""
        with self._writing() as s:
            row = s.scalar(select(CoachRow).where(CoachRow.name == name))
            if row is None:
                raise CoachNotFound(f"no coach named {name!r}")
            if row.revoked_at is None:
                row.revoked_at = _now()

    def coaches(self) -> list[CoachInfo]:
        with self._read() as s:
            members = (select(MemberRow.coach_id, func.count().label("n"))
                       .group_by(MemberRow.coach_id).subquery())
            rows = s.execute(select(CoachRow, members.c.n)
                             .outerjoin(members, members.c.coach_id == CoachRow.id)
                             .order_by(CoachRow.name)).all()
            return [CoachInfo(name=c.name, created_at=_aware(c.created_at),
                              revoked_at=_aware(c.revoked_at) if c.revoked_at else None,
                              members=int(n or 0)) for c, n in rows]

    def coach_named(self, name: str) -> Coach:
        """A coach by name (revoked or not), for administrative commands."""
        with self._read() as s:
            row = s.scalar(select(CoachRow).where(CoachRow.name == name))
            if row is None:
                raise CoachNotFound(f"no coach named {name!r}")
            return Coach(id=row.id, name=row.name)

    def coach_for_key(self, key: str | None) -> Coach | None:
        """The coach whose unrevoked key this is, else None."""
        if not key:
            return None
        with self._read() as s:
            row = s.scalar(select(CoachRow).where(CoachRow.key_hash == hash_key(key),
                                                  CoachRow.revoked_at.is_(None)))
            return Coach(id=row.id, name=row.name) if row else None

    def authenticate(self, key: str | None, admin_key: str | None) -> Coach | None:
        """``ADMIN`` for the administrator's key, a coach for a coach's key, else None."""
        if same_key(key, admin_key):
            return ADMIN
        return self.coach_for_key(key)

    # ------------------------------------------------------------------ submissions

    def add_snapshots(
        self,
        rows: pd.DataFrame | Sequence[Mapping[str, Any]],
        coach: Coach,
        *,
        replace: bool = False,
        consent: Consent = "coaching",
        today: date | None = None,
    ) -> SubmitResult:
        """Validate and store contract rows for ``coach`` (atomic; see the module docstring)."""
        if consent not in ("coaching", "training"):
            raise StoreError(f"consent must be 'coaching' or 'training', not {consent!r}")
        prepared = self._prepare(rows, today)
        for attempt in range(_ATTEMPTS):
            try:
                with self._writing() as s:
                    result = self._submit(s, prepared, coach, replace, consent)
                    if not result.written:
                        raise _Refused(result)  # roll back: the call writes all or nothing
                return result
            except _Refused as refused:
                return refused.result
            except IntegrityError:
                # A concurrent call stored one of our keys (or members) first: read again.
                if attempt == _ATTEMPTS - 1:
                    raise
            except OperationalError as exc:
                # PostgreSQL may abort one of two crossing transactions; retry like above.
                if "deadlock" not in str(exc).lower() or attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _prepare(self, rows: pd.DataFrame | Sequence[Mapping[str, Any]],
                 today: date | None) -> _Prepared:
        from ssi_model.validation import validate

        frame = rows.reset_index(drop=True) if isinstance(rows, pd.DataFrame) else \
            pd.DataFrame.from_records(list(rows))
        ignored = tuple(str(c) for c in frame.columns if c not in CONTRACT)
        sent = [str(c) for c in frame.columns if c in CONTRACT]
        raw = frame[sent].copy()
        for name in CONTRACT.required:  # a missing key becomes a reason per row, not an error
            if name not in raw.columns:
                raw[name] = None
        result = validate(raw, today=today)
        invalid: dict[int, list[str]] = {
            int(r) - 1: str(reason).split("; ")
            for r, reason in zip(result.quarantine["row"], result.quarantine["reason"],
                                 strict=True)
        }
        docs = row_documents(result.clean)
        clean_index = [i for i in range(len(raw)) if i not in invalid]
        for position, doc in zip(clean_index, docs, strict=True):
            if len(doc["member_id"]) > MEMBER_ID_LENGTH:
                invalid[position] = [f"member_id: longer than {MEMBER_ID_LENGTH} characters"]
        keep = [k for k, i in enumerate(clean_index) if i not in invalid]
        return _Prepared(read=len(raw), raw=raw, sent=sent, ignored=ignored,
                         clean_index=[clean_index[k] for k in keep],
                         docs=[docs[k] for k in keep], invalid=invalid)

    def _submit(self, s: Session, p: _Prepared, coach: Coach, replace: bool,
                consent: Consent) -> SubmitResult:
        now = _now()
        invalid = {i: list(r) for i, r in p.invalid.items()}
        member_ids = sorted({d["member_id"] for d in p.docs})
        owners: dict[str, int | None] = {}
        for chunk in _chunks(member_ids):
            owners.update(s.execute(select(MemberRow.member_id, MemberRow.coach_id)
                                    .where(MemberRow.member_id.in_(chunk))).all())
        accepted: list[tuple[int, dict[str, Any]]] = []
        for index, doc in zip(p.clean_index, p.docs, strict=True):
            mid = doc["member_id"]
            if mid in owners and not coach.is_admin and owners[mid] != coach.id:
                invalid[index] = [NOT_YOURS]
            else:
                accepted.append((index, doc))
        new_members = sorted({d["member_id"] for _, d in accepted} - owners.keys())
        if new_members:
            s.execute(insert(MemberRow), [{"member_id": m, "coach_id": coach.id,
                                           "created_at": now} for m in new_members])

        existing: dict[tuple[str, date], SnapshotRow] = {}
        wanted = sorted({d["member_id"] for _, d in accepted})
        for chunk in _chunks(wanted):
            for row in s.scalars(select(SnapshotRow).where(SnapshotRow.member_id.in_(chunk))):
                existing[(row.member_id, row.snapshot_date)] = row
        inserts: list[dict[str, Any]] = []
        updates: list[tuple[SnapshotRow, dict[str, Any]]] = []
        conflicts: list[Conflict] = []
        unchanged = 0
        for index, doc in accepted:
            key = (doc["member_id"], date.fromisoformat(doc["snapshot_date"]))
            stored = existing.get(key)
            if stored is None:
                inserts.append({"member_id": key[0], "snapshot_date": key[1], "row": doc,
                                "source": doc.get("source"), "labelled": is_labelled(doc),
                                "consent": consent, "received_at": now,
                                "submitted_by": coach.id})
            elif canonical(stored.row) == canonical(doc):
                unchanged += 1
            elif replace:
                updates.append((stored, doc))
            else:
                conflicts.append(Conflict(index=index, member_id=key[0], snapshot_date=key[1],
                                          columns=differing_columns(stored.row, doc)))
        refusals = [RowRefusal(index=i, reasons=tuple(r)) for i, r in sorted(invalid.items())]
        if conflicts:
            return SubmitResult(read=p.read, stored=0, unchanged=unchanged,
                                quarantined=refusals, conflicts=conflicts,
                                ignored_columns=p.ignored)
        if inserts:
            s.execute(insert(SnapshotRow), inserts)
        for stored, doc in updates:
            s.execute(update(SnapshotRow).where(SnapshotRow.id == stored.id).values(
                row=doc, source=doc.get("source"), labelled=is_labelled(doc), consent=consent,
                received_at=now, submitted_by=coach.id))
        if refusals:
            s.execute(insert(QuarantinedRow), [{
                "member_id": _member_key(p.raw.at[r.index, "member_id"]),
                "coach_id": coach.id,
                "payload": _payload(p.raw, r.index, p.sent),
                "reasons": list(r.reasons),
                "received_at": now,
            } for r in refusals])
        return SubmitResult(read=p.read, stored=len(inserts) + len(updates),
                            unchanged=unchanged, replaced=len(updates), quarantined=refusals,
                            ignored_columns=p.ignored)

    # ------------------------------------------------------------------ reading

    def _visible(self, s: Session, member_id: str, coach: Coach) -> MemberRow:
        member = s.get(MemberRow, member_id)
        if member is None or not (coach.is_admin or member.coach_id == coach.id):
            raise MemberNotFound(member_id)
        return member

    def member_snapshots(self, member_id: str, coach: Coach) -> list[StoredSnapshot]:
        """Every snapshot of one member, ordered by ``snapshot_date``."""
        with self._read() as s:
            self._visible(s, member_id, coach)
            rows = s.scalars(select(SnapshotRow).where(SnapshotRow.member_id == member_id)
                             .order_by(SnapshotRow.snapshot_date))
            return [_stored(r) for r in rows]

    def snapshots_by_member(self, coach: Coach) -> dict[str, list[StoredSnapshot]]:
        """Every snapshot of every member the caller sees, by member id (sorted), each member's
        ordered by ``snapshot_date``. One query: ``member_snapshots`` for each member opens a
        session and checks visibility each time (seconds for a thousand members)."""
        query = self._seen(select(SnapshotRow), SnapshotRow.member_id, coach).order_by(
            SnapshotRow.member_id, SnapshotRow.snapshot_date)
        out: dict[str, list[StoredSnapshot]] = {}
        with self._read() as s:
            for row in s.scalars(query):
                out.setdefault(row.member_id, []).append(_stored(row))
        return out

    @staticmethod
    def _seen(query: Any, member_id: Any, coach: Coach) -> Any:
        """``query`` joined to the members, kept to those the caller sees."""
        query = query.join(MemberRow, MemberRow.member_id == member_id)
        return query if coach.is_admin else query.where(MemberRow.coach_id == coach.id)

    def members(self, coach: Coach) -> list[str]:
        """The member ids the caller sees, sorted."""
        query = select(MemberRow.member_id).order_by(MemberRow.member_id)
        if not coach.is_admin:
            query = query.where(MemberRow.coach_id == coach.id)
        with self._read() as s:
            return list(s.scalars(query))

    def cohort(self, coach: Coach) -> list[CohortEntry]:
        """The caller's members, each with its latest and previous snapshot (for the trend)."""
        ranked = select(
            SnapshotRow.id,
            func.row_number().over(partition_by=SnapshotRow.member_id,
                                   order_by=SnapshotRow.snapshot_date.desc()).label("rank"),
            func.count().over(partition_by=SnapshotRow.member_id).label("n"),
        )
        sub = self._seen(ranked, SnapshotRow.member_id, coach).subquery()
        query = (select(SnapshotRow, sub.c.rank, sub.c.n).join(sub, sub.c.id == SnapshotRow.id)
                 .where(sub.c.rank <= 2)
                 .order_by(SnapshotRow.member_id, sub.c.rank))
        entries: dict[str, dict[str, Any]] = {}
        with self._read() as s:
            for row, rank, n in s.execute(query):
                entry = entries.setdefault(row.member_id, {"n": int(n), "previous": None})
                entry["latest" if rank == 1 else "previous"] = _stored(row)
        return [CohortEntry(member_id=m, snapshots=e["n"], latest=e["latest"],
                            previous=e["previous"]) for m, e in entries.items()]

    def quarantined_submissions(self, coach: Coach,
                                member_id: str | None = None) -> list[QuarantinedSubmission]:
        """Quarantined rows the caller sent (the administrator: all), oldest first."""
        query = select(QuarantinedRow).order_by(QuarantinedRow.id)
        if not coach.is_admin:
            query = query.where(QuarantinedRow.coach_id == coach.id)
        if member_id is not None:
            query = query.where(QuarantinedRow.member_id == member_id)
        with self._read() as s:
            return [QuarantinedSubmission(id=q.id, member_id=q.member_id, payload=dict(q.payload),
                                          reasons=tuple(q.reasons),
                                          received_at=_aware(q.received_at))
                    for q in s.scalars(query)]

    # ------------------------------------------------------------------ explanations

    def record_explanation(self, snapshot_id: int, document: Mapping[str, Any],
                           model_name: str, model_version: str,
                           coach: Coach) -> IssuedExplanation:
        """Keep an explanation document issued for a snapshot (JSON-serialisable mapping)."""
        (issued,) = self.record_explanations([(snapshot_id, document)], model_name,
                                             model_version, coach)
        return issued

    def record_explanations(self, documents: Sequence[tuple[int, Mapping[str, Any]]],
                            model_name: str, model_version: str,
                            coach: Coach) -> list[IssuedExplanation]:
        """Keep documents issued by one model, each for its snapshot, in one transaction (one
        commit, not one a member): all of them, or none when a snapshot is unknown or not the
        caller's (``SnapshotNotFound``)."""
        # plain JSON now, or fail before writing
        plain = [(snapshot_id, json.loads(json.dumps(doc))) for snapshot_id, doc in documents]
        with self._writing() as s:
            rows = []
            for snapshot_id, doc in plain:
                snapshot = s.get(SnapshotRow, snapshot_id)
                if snapshot is None:
                    raise SnapshotNotFound(snapshot_id)
                try:
                    self._visible(s, snapshot.member_id, coach)
                except MemberNotFound:
                    raise SnapshotNotFound(snapshot_id) from None
                rows.append(ExplanationRow(member_id=snapshot.member_id, snapshot_id=snapshot_id,
                                           document=doc, model_name=model_name,
                                           model_version=str(model_version), issued_at=_now()))
            s.add_all(rows)
            s.flush()
            return [_issued(row) for row in rows]

    def issued_explanations(self, member_id: str, coach: Coach) -> list[IssuedExplanation]:
        """Every explanation issued for a member, oldest first."""
        with self._read() as s:
            self._visible(s, member_id, coach)
            rows = s.scalars(select(ExplanationRow).where(ExplanationRow.member_id == member_id)
                             .order_by(ExplanationRow.issued_at, ExplanationRow.id))
            return [_issued(r) for r in rows]

    def issued_by_member(self, coach: Coach) -> dict[str, list[IssuedExplanation]]:
        """Every explanation issued for the members the caller sees, by member id (sorted),
        each member's oldest first: ``issued_explanations`` for all of them in one query."""
        query = self._seen(select(ExplanationRow), ExplanationRow.member_id, coach).order_by(
            ExplanationRow.member_id, ExplanationRow.issued_at, ExplanationRow.id)
        out: dict[str, list[IssuedExplanation]] = {}
        with self._read() as s:
            for row in s.scalars(query):
                out.setdefault(row.member_id, []).append(_issued(row))
        return out

    # ------------------------------------------------------------------ erasure

    def erase_member(self, member_id: str, coach: Coach) -> Erasure:
        """Delete everything about a member: explanations, snapshots, quarantine, the member.

        A member with only quarantined rows (never a valid one) has no owner: the caller's own
        quarantined rows with that id are erased (the administrator's: all of them).
        """
        with self._writing() as s:
            member = s.get(MemberRow, member_id)
            if member is not None:
                self._visible(s, member_id, coach)
                quarantine_filter = QuarantinedRow.member_id == member_id
            else:
                quarantine_filter = QuarantinedRow.member_id == member_id
                if not coach.is_admin:
                    quarantine_filter &= QuarantinedRow.coach_id == coach.id
            counts = {}
            for table, condition in (
                (ExplanationRow, ExplanationRow.member_id == member_id),
                (SnapshotRow, SnapshotRow.member_id == member_id),
                (QuarantinedRow, quarantine_filter),
                (MemberRow, MemberRow.member_id == member_id),
            ):
                counts[table] = s.execute(delete(table).where(condition)).rowcount  # type: ignore[attr-defined]
            if member is None and counts[QuarantinedRow] == 0:
                raise MemberNotFound(member_id)
        return Erasure(member_id=member_id, snapshots=counts[SnapshotRow],
                       quarantined=counts[QuarantinedRow], explanations=counts[ExplanationRow],
                       member=bool(counts[MemberRow]))

    # ------------------------------------------------------------------ training data

    def export_labelled(self, consents: Sequence[str] = ("training",)) -> pd.DataFrame:
        """Every labelled snapshot whose consent is in ``consents``, as a typed contract frame.

        Ordered by ``member_id`` then ``snapshot_date``; values exactly as stored.
        """
        query = (select(SnapshotRow).where(SnapshotRow.labelled.is_(True),
                                           SnapshotRow.consent.in_(list(consents)))
                 .order_by(SnapshotRow.member_id, SnapshotRow.snapshot_date))
        with self._read() as s:
            snapshots = [_stored(r) for r in s.scalars(query)]
        return snapshots_frame(snapshots)

    def counts(self) -> dict[str, int]:
        """Rows per table (for ``ssi store`` summaries and tests)."""
        with self._read() as s:
            return {model.__tablename__: int(s.scalar(select(func.count()).select_from(model))
                                             or 0)
                    for model in (CoachRow, MemberRow, SnapshotRow, QuarantinedRow,
                                  ExplanationRow)}
