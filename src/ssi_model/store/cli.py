"""``ssi coach`` and ``ssi store``: coaches' keys and the snapshot store from the command line.

Every command reads ``SSI_DATABASE_URL`` (default: ``ssi.db`` in the working folder) and opens
the store at the head revision. Heavy imports stay inside the commands so ``ssi --help`` is instant.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ssi_model.store.repository import SnapshotStore, SubmitResult

coach_app = typer.Typer(help="Coaches and their API keys.", no_args_is_help=True)
store_app = typer.Typer(help="The snapshot store: import, export, upgrade.", no_args_is_help=True)

ConsentOption = Annotated[
    str, typer.Option(help="What the members agreed to: training (also train models on their "
                           "rows) or coaching (their coach's reports only)")]


def register(app: typer.Typer) -> None:
    """Add ``coach`` and ``store`` to the ``ssi`` command."""
    app.add_typer(coach_app, name="coach")
    app.add_typer(store_app, name="store")


def _open() -> SnapshotStore:
    from ssi_model.store.repository import SnapshotStore

    return SnapshotStore()


def _guard() -> type[BaseException] | tuple[type[BaseException], ...]:
    from ssi_model.errors import USER_ERRORS

    return USER_ERRORS


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


# ---------------------------------------------------------------------------- coaches


@coach_app.command("add")
def coach_add(name: Annotated[str, typer.Argument(help="The coach's name (unique)")]) -> None:
    """Create a coach; prints its new API key alone on the last line (shown once only)."""
    try:
        with _open() as store:
            key = store.add_coach(name)
            typer.echo(f"coach {name.strip()!r} added to {store.url}")
    except _guard() as exc:
        raise _fail(str(exc)) from None
    typer.echo("API key (shown once; only its hash is stored):")
    typer.echo(key)


@coach_app.command("revoke")
def coach_revoke(name: Annotated[str, typer.Argument(help="The coach's name")]) -> None:
    """Revoke a coach's key at once (their members and snapshots stay)."""
    try:
        with _open() as store:
            store.revoke_coach(name)
    except _guard() as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"coach {name!r}: key revoked")


@coach_app.command("list")
def coach_list() -> None:
    """Every coach, when added, whether revoked, and how many members they own."""
    with _open() as store:
        coaches = store.coaches()
    for c in coaches:
        state = f"revoked {c.revoked_at:%Y-%m-%d}" if c.revoked_at else "active"
        typer.echo(f"{c.name}\t{state}\tadded {c.created_at:%Y-%m-%d}\t{c.members} members")
    if not coaches:
        typer.echo("no coaches (add one: ssi coach add NAME)")


# ---------------------------------------------------------------------------- store


def _report(result: SubmitResult) -> None:
    typer.echo(result.summary())
    if result.ignored_columns:
        typer.echo("columns outside the contract, not stored: "
                   + ", ".join(result.ignored_columns))
    reasons: Counter[str] = Counter(
        reason.split(":", 1)[0] for r in result.quarantined for reason in r.reasons)
    for rule, count in reasons.most_common(10):
        typer.echo(f"  {count:>6}  {rule}")
    for conflict in result.conflicts[:10]:
        typer.echo(f"  conflict: row {conflict.index + 1} ({conflict.member_id}, "
                   f"{conflict.snapshot_date}) differs in {', '.join(conflict.columns)}")
    if len(result.conflicts) > 10:
        typer.echo(f"  … and {len(result.conflicts) - 10} more conflicts")


@store_app.command("import")
def store_import(
    rows: Annotated[Path, typer.Argument(help="Contract rows: .csv or .parquet")],
    consent: ConsentOption = "training",
    coach: Annotated[
        str | None, typer.Option(help="Import on behalf of this coach (default: administrator)")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace stored rows that differ")
    ] = False,
) -> None:
    """Bulk-import rows through validation: valid rows stored, invalid ones quarantined."""
    from ssi_model.io import read_raw
    from ssi_model.store.repository import ADMIN

    try:
        raw = read_raw(rows)
        with _open() as store:
            owner = store.coach_named(coach) if coach else ADMIN
            result = store.add_snapshots(raw, owner, replace=replace,
                                         consent=consent)  # type: ignore[arg-type]
            url = store.url
    except _guard() as exc:
        raise _fail(str(exc)) from None
    _report(result)
    typer.echo(f"store: {url}")
    if result.conflicts:
        typer.echo("nothing was written: rows differ from stored ones for the same member and "
                   "snapshot_date (use --replace to overwrite them)")
        raise typer.Exit(1)


@store_app.command("export")
def store_export(
    out: Annotated[Path, typer.Option(help="Where the rows go (.csv or .parquet)")],
    all_consents: Annotated[
        bool, typer.Option("--all-consents",
                           help="Also rows whose members consented to coaching only")
    ] = False,
) -> None:
    """Every labelled snapshot (consent: training) in the contract's columns, as stored."""
    from ssi_model.io import write_table

    consents = ("training", "coaching") if all_consents else ("training",)
    try:
        with _open() as store:
            frame = store.export_labelled(consents=consents)
            url = store.url
        write_table(frame, out)
    except _guard() as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"exported {len(frame)} labelled snapshots from {url} -> {out}")


@store_app.command("export-plans")
def store_export_plans(
    out: Annotated[Path, typer.Option(help="Where the plans go (.json: a list)")],
    coach: Annotated[str | None, typer.Option(help="Only this coach's members")] = None,
) -> None:
    """Every issued explanation (the explanation schema) with its snapshot date and model."""
    import json

    from ssi_model.store import ADMIN
    from ssi_model.store.advice import export_plans

    try:
        with _open() as store:
            plans = export_plans(store, store.coach_named(coach) if coach else ADMIN)
            url = store.url
    except _guard() as exc:
        raise _fail(str(exc)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(plans, indent=1, ensure_ascii=False), encoding="utf-8")
    typer.echo(f"exported {len(plans)} issued plans from {url} -> {out}")


@store_app.command("upgrade")
def store_upgrade() -> None:
    """Bring the store's schema to the current revision (also done on first open)."""
    from ssi_model.store.db import (
        create_store_engine,
        current_revision,
        head_revision,
        safe_url,
        upgrade,
    )

    engine = create_store_engine()
    try:
        before = current_revision(engine)
        after = upgrade(engine) if before != head_revision() else before
    finally:
        engine.dispose()
    if before == after:
        typer.echo(f"{safe_url(engine.url)}: already at revision {after}")
    else:
        typer.echo(f"{safe_url(engine.url)}: upgraded from revision {before or '(empty)'} "
                   f"to {after}")
