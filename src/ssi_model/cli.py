"""The ``ssi`` command: one thin sub-command per stage of the flow.

Each command parses arguments, calls the stage's library function and prints a short summary.
Heavy libraries are imported inside the commands so ``ssi --help`` stays instant.
Anything a user can get wrong (bad file, bad flag) ends with one clear message and exit code 2.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ssi_model.contract_spec import context_categories, languages
from ssi_model.store.cli import register as register_store_commands

if TYPE_CHECKING:
    from ssi_model.explain.schema import ModelInfo
    from ssi_model.tracking.registry import Registry

app = typer.Typer(
    name="ssi",
    help="Estimate LinkedIn's Social Selling Index, explain it, and rank the levers that raise it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

register_store_commands(app)  # ssi coach …, ssi store … (src/ssi_model/store/cli.py)

F = TypeVar("F", bound=Callable[..., Any])

USAGE_EXIT = 2

# Options several commands share, declared once.
ModelUri = Annotated[
    str | None, typer.Option(
        help="Model: a version (3), an alias (challenger) or a URI (models:/name/3); default: "
             "the SSI_MODEL_ALIAS (champion) of SSI_MODEL_NAME (ssi-estimator)")
]
BudgetMinutes = Annotated[
    float | None, typer.Option(min=0, help="Weekly time budget for the plan, in minutes")
]
TargetTotal = Annotated[
    float | None, typer.Option(min=0, max=100, help="Target total for a target plan")
]
Language = Annotated[str, typer.Option(help=f"Language of texts: {', '.join(languages())}")]
Engine = Annotated[str, typer.Option(
    help="Where to run: process (here, in pandas) or spark (ROWS and OUT may then be folders "
         "of parts or s3a://, abfss://, dbfs:/ paths)")]
Master = Annotated[str | None, typer.Option(
    help="Spark master for --engine spark ('local[4]', 'yarn', 'spark://host:7077'); default: "
         "the session spark-submit or Databricks started, else local[2]")]


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(USAGE_EXIT)


def user_errors(func: F) -> F:
    """Turn the errors a user can cause into one clear line and exit code 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ssi_model.errors import USER_ERRORS

        try:
            return func(*args, **kwargs)
        except USER_ERRORS as exc:
            raise _fail(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def shows_progress(func: F) -> F:
    """Show the progress of the command's long work: bars on a terminal, else plain lines on
    stderr (``ssi_model.progress``); library calls made outside a command stay silent."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ssi_model.progress import reporting

        with reporting():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _echo(message: str) -> None:
    typer.echo(message, err=False)


# ---------------------------------------------------------------------------- data in


@app.command()
@user_errors
def validate(
    input: Annotated[Path, typer.Argument(help="Contract rows: .csv or .parquet")],
    out: Annotated[Path, typer.Option(help="Where the clean rows go (.csv or .parquet)")],
    quarantine: Annotated[
        Path, typer.Option(help="Where invalid rows go, each with its row number and reason")
    ],
    today: Annotated[
        str | None, typer.Option(help="Treat this ISO date as today (dates after it are future)")
    ] = None,
) -> None:
    """Split INPUT into clean rows and quarantined rows with the rule each broke."""
    from ssi_model.io import write_table
    from ssi_model.validation import validate_file

    result = validate_file(input, today=date.fromisoformat(today) if today else None)
    write_table(result.clean, out)
    write_table(result.quarantine, quarantine)
    _echo(result.summary())
    for rule, count in result.rule_counts().most_common(10):
        _echo(f"  {count:>6}  {rule}")
    _echo(f"clean: {out}\nquarantine: {quarantine}")


@app.command()
@user_errors
def simulate(
    n: Annotated[int, typer.Option("--n", min=1, help="Number of members")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same file)")] = 0,
    calibration: Annotated[
        str, typer.Option(help="Calibration file: linkedin (default) or coaching-guide")
    ] = "linkedin",
    out: Annotated[Path, typer.Option(help="Output file (.csv or .parquet)")] = Path(
        "data/raw/cohort.csv"
    ),
    with_truth: Annotated[
        bool, typer.Option("--with-truth", help="Add noiseless pillars and best-possible labels")
    ] = False,
    waves: Annotated[
        int, typer.Option(min=1, help="Snapshots per member, 6 weeks apart (a demo history; "
                                      "not with --with-truth unless --weeks-between is given)")
    ] = 1,
    weeks_between: Annotated[
        int | None, typer.Option(min=1, help="Follow members over --waves snapshots this many "
                                             "weeks apart, each given a plan by --model that "
                                             "some adopt (for `ssi evaluate-advice`)")
    ] = None,
    model: ModelUri = None,
) -> None:
    """Simulate a cohort of members with user-reported SSI labels."""
    from ssi_model.io import write_table
    from ssi_model.simulator import simulate_cohort

    if weeks_between is not None:
        from ssi_model.explain.advice import advisor
        from ssi_model.simulator.waves import followup_waves

        if waves < 2:
            raise _fail("--weeks-between needs --waves 2 or more")
        estimator, info = _registry().load(model)
        rows = followup_waves(n, seed, advisor(estimator), waves=waves,
                              weeks_between=weeks_between, calibration=calibration,
                              with_truth=with_truth)
        write_table(rows, out)
        _echo(f"simulated {n} members over {waves} snapshots {weeks_between} weeks apart, "
              f"plans by {_model_label(info)} ({len(rows)} rows, seed {seed}) -> {out}")
        return
    if waves > 1:
        from ssi_model.simulator.waves import history_waves

        if with_truth:
            raise _fail("--with-truth is for one wave only")
        rows = history_waves(n, seed, waves=waves, calibration=calibration)
        write_table(rows, out)
        _echo(f"simulated {n} members at {waves} snapshot dates ({len(rows)} rows, "
              f"{calibration}, seed {seed}) -> {out}")
        return
    cohort = simulate_cohort(n, seed, calibration=calibration, with_truth=with_truth)
    write_table(cohort, out)
    _echo(f"simulated {len(cohort)} members ({calibration}, seed {seed}) -> {out}")


@app.command()
@user_errors
def calibration(
    input: Annotated[
        Path | None, typer.Argument(help="Contract rows with labels; default: simulate")
    ] = None,
    calibration: Annotated[str, typer.Option(help="Calibration to simulate")] = "linkedin",
    n: Annotated[int, typer.Option("--n", min=100)] = 20_000,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Print the calibration figures (mean, share at 70+, pillar means, percentiles, roles)."""
    import json

    from ssi_model.simulator import calibration_summary, simulate_cohort
    from ssi_model.validation import validate_file

    if input is None:
        cohort = simulate_cohort(n, seed, calibration=calibration)
    else:
        cohort = validate_file(input).clean
    from ssi_model.validation import validate as validate_rows

    clean = validate_rows(cohort).clean  # typing faults are not part of the distribution
    _echo(json.dumps(calibration_summary(clean), indent=2))


def _with_context_options(func: F) -> F:
    """Add one option per context category of the contract (``--industry``, ``--subscription``…)
    to a command taking ``**context``: the same choices the API's export upload offers."""
    # eval_str: typer reads the Annotated options off __signature__, which it does not evaluate
    params = [p for p in inspect.signature(func, eval_str=True).parameters.values()
              if p.kind is not inspect.Parameter.VAR_KEYWORD]
    for name, values in context_categories().items():
        flags = [f"--{name.replace('_', '-')}", *(["--role"] if name == "role_family" else [])]
        params.append(inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=None,
            annotation=Annotated[str | None, typer.Option(
                *flags, help=f"{name}, overrides the export: {', '.join(values)}")]))
    func.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return func


@app.command("ingest-export")
@_with_context_options
@user_errors
def ingest_export(
    archive: Annotated[Path, typer.Argument(help="LinkedIn 'Get a copy of your data' ZIP")],
    out: Annotated[Path, typer.Option(help="The contract row (.csv or .parquet)")],
    as_of: Annotated[str | None, typer.Option(help="End of the 90-day window (ISO date)")] = None,
    member_id: Annotated[str | None, typer.Option(help="Pseudonymous id to use")] = None,
    **context: str | None,
) -> None:
    """Turn a LinkedIn data-export ZIP into one contract row (counts only, no personal data)."""
    from ssi_model.io import write_table
    from ssi_model.linkedin_export import read_export

    overrides = {k: v for k, v in context.items() if v is not None}
    result = read_export(
        archive,
        as_of=date.fromisoformat(as_of) if as_of else None,
        overrides=overrides,
        member_id=member_id,
    )
    write_table(result.row, out)
    _echo(
        f"{result.archive_kind} export of {result.export_date:%Y-%m-%d}; window "
        f"{result.window_start:%Y-%m-%d} to {result.window_end:%Y-%m-%d}"
    )
    _print_provenance(result.provenance_records())
    for warning in result.warnings:
        _echo(f"warning: {warning}")
    _echo(f"row: {out}")


_STATUS_STYLE = {"from_archive": "green", "derived": "cyan", "overridden": "magenta",
                 "empty_by_export_kind": "blue", "unknown_file_absent": "yellow",
                 "unknown_file_unreadable": "red", "unknown": "bright_black"}


def _print_provenance(records: list[dict[str, Any]]) -> None:
    """Per contract column: from the archive, derived, overridden, empty by the export's kind, or
    unknown because a file is absent or unreadable (and why). Unreadable files are also warned
    about, after the table."""
    import io
    from collections import Counter

    from rich.console import Console
    from rich.table import Table

    counts = Counter(r["status"] for r in records)
    _echo("columns: " + ", ".join(f"{status} {n}" for status, n in counts.items()))
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for heading in ("column", "status", "files", "how / why"):
        table.add_column(heading, overflow="fold")
    for r in records:
        style = _STATUS_STYLE.get(r["status"], "")
        table.add_row(r["column"], f"[{style}]{r['status']}[/]" if style else r["status"],
                      ", ".join(r["files"]), r["reason"] or "")
    if sys.stdout.isatty():
        Console(highlight=False).print(table)  # colours; long reasons wrap
        return
    # Into a file or a pipe: one line per column (greppable), without rich's trailing padding.
    buffer = io.StringIO()
    Console(file=buffer, width=1000, highlight=False, color_system=None).print(table)
    for line in buffer.getvalue().splitlines():
        _echo(line.rstrip())


# ---------------------------------------------------------------------------- model


def _registry() -> Registry:
    """The registry of the environment's settings: the one model name (SSI_MODEL_NAME) that
    train, promote, predict, explain, report and serve act on."""
    from ssi_model.settings import get_settings
    from ssi_model.tracking.registry import Registry
    from ssi_model.tracking.store import quiet_mlflow

    quiet_mlflow()  # the entry point: no download progress bars, no telemetry
    return Registry(get_settings())


def _model_label(info: ModelInfo) -> str:
    """``team-ssi version 3``, or the URI of a model loaded from outside the registry; a model
    trained on simulated members only says so (its figures are illustrative)."""
    label = f"{info.name} version {info.version}" if info.version else str(info.name)
    if info.illustrative:
        return f"{label} (trained on simulated members only: illustrative)"
    return label


def _progress() -> Callable[[str], None]:
    def say(message: str) -> None:
        # file=sys.stderr, not err=True: click would write to stderr's own buffer, under a
        # progress bar's redirect that lands mid-bar; sys.stderr then prints above the bar.
        typer.secho(f"  · {message}", fg=typer.colors.BRIGHT_BLACK, file=sys.stderr)

    return say


@app.command()
@user_errors
@shows_progress
def train(
    config: Annotated[Path, typer.Option(help="Experiment config (YAML)")] = Path(
        "experiments/default.yaml"
    ),
    data: Annotated[
        Path | None,
        typer.Option(help="Labelled contract rows (.csv/.parquet); default: simulated cohort"),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Override the config's seed")] = None,
    from_store: Annotated[
        bool, typer.Option("--from-store", help="Train on the snapshot store's labelled rows "
                                                "(SSI_DATABASE_URL)")
    ] = False,
    origin: Annotated[
        str | None,
        typer.Option(help="Are the reported scores real: auto, simulated or reported? Overrides "
                          "the config's data.origin (auto: members whose id starts with sim- "
                          "are simulated)"),
    ] = None,
) -> None:
    """Train the four pillar boosters, log the run to MLflow and register the model."""
    from ssi_model.model.config import ORIGINS, load_config
    from ssi_model.tracking.runs import train_run

    cfg = load_config(config)
    if seed is not None:
        cfg = cfg.with_seed(seed)
    if origin is not None:
        if origin not in ORIGINS:
            raise _fail(f"--origin {origin}: expected one of {', '.join(ORIGINS)}")
        cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"origin": origin})})
    registry = _registry()
    if from_store:
        if data is not None:
            raise _fail("--data and --from-store exclude each other")
        from ssi_model.store.training import train_from_store

        store_run = train_from_store(cfg, registry=registry, progress=_progress())
        _echo(f"store {store_run.store_url}: {store_run.rows} labelled rows, "
              f"fingerprint {store_run.fingerprint}")
        result = store_run.run
    else:
        result = train_run(cfg, registry=registry, data=data, progress=_progress())
    m = result.metrics
    _echo(
        f"run {result.run_id}: {result.n_train} train / {result.n_holdout} holdout rows, "
        f"{result.n_quarantined} quarantined, {result.seconds:.0f} s"
    )
    _echo("holdout MAE  " + "  ".join(
        f"{t} {m[f'{t}_mae']:.2f}" for t in ("total", "brand", "people", "insights",
                                              "relationships")))
    _echo("90% coverage " + "  ".join(
        f"{t} {m[f'{t}_coverage']:.1%}" for t in ("total", "brand", "people", "insights",
                                                   "relationships")))
    _echo(f"baselines: linear total MAE {m['baseline_linear_total_mae']:.2f}, "
          f"rule-of-thumb {m['baseline_rule_total_mae']:.2f}")
    _echo(f"registered {registry.name} version {result.model_version}")
    if result.provenance is not None:
        p = result.provenance
        _echo(f"trained on: {p.trained_on} ({p.n_reported} reported scores, {p.n_simulated} "
              "simulated members)")
        if p.illustrative:
            typer.secho("warning: trained on simulated members only: its figures are "
                        "illustrative until real reported scores are collected (--data)",
                        fg=typer.colors.YELLOW, err=True)


@app.command()
@user_errors
@shows_progress
def evaluate(
    run: Annotated[str | None, typer.Option(help="Run id (default: the latest run)")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the report")] = Path(
        "reports/evaluation"),
    learning_curve: Annotated[
        bool, typer.Option(help="Retrain on 500, 1k, 2k, 5k and all rows for the learning curve "
                           "(with the prior and from scratch when the experiment has a prior)")
    ] = True,
) -> None:
    """Write a readable evaluation report for a run (and log it to the run)."""
    from ssi_model.tracking.evaluate import evaluate_run

    result = evaluate_run(run, out, with_learning_curve=learning_curve, progress=_progress())
    m = result.metrics
    _echo(f"run {result.run_id}")
    for t in ("total", "brand", "people", "insights", "relationships"):
        line = f"  {t:<14} MAE {m[f'{t}_mae']:.3f}  coverage {m[f'{t}_coverage']:.1%}"
        if result.noise_floor:
            floor = result.noise_floor[t]
            line += f"  noise floor {floor:.3f}  ratio {m[f'{t}_mae'] / floor:.3f}"
        _echo(line)
    if result.learning_curve is not None:
        _echo("learning curve (holdout MAE of the total): " + ", ".join(
            f"{int(r['rows'])} {r['variant']}: {r['total_mae']:.2f}" for _, r in
            result.learning_curve.iterrows()))
    _echo(f"report: {result.report}")


@app.command()
@user_errors
def promote(
    version: Annotated[
        str | None, typer.Option(help="Version to promote (default: the latest)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Skip the gate (recorded)")] = False,
) -> None:
    """Move the `champion` alias (SSI_MODEL_ALIAS) of SSI_MODEL_NAME to a version if it beats the
    champion on the same holdout."""
    registry = _registry()
    model_name, alias = registry.name, registry.alias
    decision = registry.promote(version, force=force)
    if decision.champion_mae:
        _echo("holdout MAE      candidate  champion")
        for target, cand in decision.candidate_mae.items():
            _echo(f"  {target:<14} {cand:9.3f} {decision.champion_mae[target]:9.3f}")
    for reason in decision.reasons:
        _echo(f"  - {reason}")
    if decision.promoted and decision.previous == decision.version:
        _echo(f"{model_name} version {decision.version} already holds "
              f"@{alias}; nothing to do")
    elif decision.promoted:
        forced = " (forced past the gate)" if decision.forced and decision.reasons else ""
        _echo(f"promoted {model_name} version {decision.version} to "
              f"@{alias}{forced}; previous: {decision.previous or 'none'}")
        _rescore_issued_plans(registry, str(decision.version))
    else:
        _echo(f"refused: {model_name} version {decision.version} stays a candidate; "
              f"@{alias} is still version {decision.previous or 'unset'}")
        raise typer.Exit(1)


def _rescore_issued_plans(registry: Registry, version: str) -> None:
    """After a promotion: the plans issued under older versions re-scored with the new
    champion; the share whose gain changed sign or lost more than half is logged to its run."""
    from ssi_model.store import ADMIN, SnapshotStore
    from ssi_model.store.advice import plans_after_retraining
    from ssi_model.store.db import database_url

    url = database_url()
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return  # no store, no plans issued: a promotion must not create one
    with SnapshotStore() as store:
        if not store.counts().get("issued_explanations"):
            return
        estimator, _ = registry.load(version)
        result = plans_after_retraining(store, estimator, version, ADMIN)
    if not result["plans"]:
        return
    _echo(f"issued plans re-scored with version {version}: {result['plans']} plans, "
          f"{result['sign_changed']} changed sign, {result['lost_half']} lost more than half "
          f"their gain ({result['invalidated_share']:.0%} invalidated)")
    run_id = estimator.meta.get("run_id")
    if run_id:
        for key in ("plans", "sign_changed_share", "lost_half_share", "invalidated_share"):
            registry.client.log_metric(run_id, f"advice_rescored_{key}", float(result[key]))


@app.command()
@user_errors
@shows_progress
def predict(
    # Text, not Path: a Path folds the URI s3a://bucket/key into s3a:/bucket/key (Spark reads it)
    input: Annotated[str, typer.Argument(help="Contract rows: .csv or .parquet")],
    out: Annotated[str, typer.Option(help="Predictions (.csv or .parquet)")],
    model: ModelUri = None,
    chunk_size: Annotated[int, typer.Option(min=1)] = 50_000,
    engine: Engine = "process",
    master: Master = None,
) -> None:
    """Score contract rows with the champion; invalid rows are reported, not scored."""
    if _engine(engine) == "spark":
        _spark_job("predict", input, out, master, model=model)
        return
    from ssi_model.io import write_table
    from ssi_model.progress import task
    from ssi_model.tracking.batch import predict_frame
    from ssi_model.validation import validate_file

    result = validate_file(input)
    estimator, info = _registry().load(model)
    with task("predict", total=result.n_clean, unit="rows") as bar:
        predictions = predict_frame(estimator, result.clean, chunk_size, bar.advance)
    write_table(predictions, out)
    _echo(f"{result.summary()}; scored {len(predictions)} with {_model_label(info)} -> {out}")
    if result.n_quarantined:
        qpath = Path(out).with_name(Path(out).name.split(".")[0] + ".quarantine.csv")
        write_table(result.quarantine, qpath)
        _echo(f"not scored ({result.n_quarantined} invalid rows, with reasons): {qpath}")


# ---------------------------------------------------------------------------- explain


@app.command()
@user_errors
@shows_progress
def explain(
    # Text, not Path: a Path folds the URI s3a://bucket/key into s3a:/bucket/key (Spark reads it)
    input: Annotated[
        str | None, typer.Argument(help="Contract rows: .csv or .parquet (not with "
                                        "--from-store)")] = None,
    out: Annotated[str, typer.Option(help="Explanations (.json: a list, one per member)")] = (
        "reports/explanations.json"),
    model: ModelUri = None,
    budget_minutes: BudgetMinutes = None,
    target: TargetTotal = None,
    lang: Language = "en",
    engine: Engine = "process",
    master: Master = None,
    from_store: Annotated[
        bool, typer.Option("--from-store", help="Explain each stored member's latest snapshot "
                                                "and record the documents as issued plans")
    ] = False,
    as_of: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="With --from-store: the "
                                      "latest snapshot on or before this date")
    ] = None,
    coach: Annotated[
        str | None, typer.Option(help="With --from-store: only this coach's members")
    ] = None,
) -> None:
    """Drivers, levers (gains from the model) and a plan of at most three actions per member.

    With --engine spark, OUT is a folder of JSON Lines parts (one document a line)."""
    import json

    from ssi_model.explain import explain_rows
    from ssi_model.validation import validate_file

    if lang not in languages():
        raise _fail(f"--lang must be one of {', '.join(languages())}, not {lang!r}")
    if from_store:
        from ssi_model.store import ADMIN, SnapshotStore
        from ssi_model.store.advice import issue_plans

        if input is not None:
            raise _fail("give contract rows or --from-store, not both")
        estimator, info = _registry().load(model)
        with SnapshotStore() as store:
            caller = store.coach_named(coach) if coach else ADMIN
            docs = issue_plans(store, estimator, info, caller,
                               as_of=as_of.date() if as_of else None,
                               budget_minutes=budget_minutes, target=target, lang=lang)
            url = store.url
        target_file = Path(out)
        target_file.parent.mkdir(parents=True, exist_ok=True)
        target_file.write_text(json.dumps([d.model_dump(mode="json") for d in docs], indent=1,
                                          ensure_ascii=False), encoding="utf-8")
        _echo(f"explained {len(docs)} stored members from {url} with {_model_label(info)}; "
              f"recorded as issued plans -> {out}")
        return
    if input is None or as_of is not None or coach is not None:
        raise _fail("give contract rows, or --from-store (with --as-of / --coach)")
    if _engine(engine) == "spark":
        _spark_job("explain", input, out, master, model=model, budget_minutes=budget_minutes,
                   target=target, lang=lang)
        return
    result = validate_file(input)
    estimator, info = _registry().load(model)
    docs = explain_rows(estimator, result.clean, budget_minutes=budget_minutes, target=target,
                        lang=lang, model_info=info)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps([d.model_dump(mode="json") for d in docs], indent=1,
                                    ensure_ascii=False), encoding="utf-8")
    _echo(f"{result.summary()}; explained {len(docs)} members with {_model_label(info)} -> "
          f"{out}")
    if result.n_quarantined:
        _echo(f"not explained: {result.n_quarantined} invalid rows (run `ssi validate` for "
              "the reasons)")


@app.command()
@user_errors
@shows_progress
def report(
    input: Annotated[
        Path | None,
        typer.Argument(help="Contract rows (.csv/.parquet) or explanations (.json); "
                            "not with --from-store")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the pages (index.html + one per member)")
                   ] = Path("reports/members"),
    lang: Language = "en",
    model: ModelUri = None,
    budget_minutes: BudgetMinutes = None,
    target: TargetTotal = None,
    from_store: Annotated[
        bool, typer.Option("--from-store", help="Every member in the snapshot store "
                                                "(SSI_DATABASE_URL), with history and trends")
    ] = False,
    coach: Annotated[
        str | None, typer.Option(help="With --from-store: this coach's members only "
                                      "(default: all, as the administrator)")
    ] = None,
) -> None:
    """Coach reports: a self-contained HTML page per member and a cohort index page."""
    import json

    from ssi_model.contract import CONTRACT
    from ssi_model.explain import Explanation, explain_rows, load_catalogue, translate
    from ssi_model.report import write_reports
    from ssi_model.report.whatif import WhatIf, for_member

    whatifs: list[WhatIf | None] | None = None  # explanations alone carry no row to re-score
    if lang not in languages():
        raise _fail(f"--lang must be one of {', '.join(languages())}, not {lang!r}")
    if from_store:
        if input is not None:
            raise _fail("give either rows/explanations or --from-store, not both")
        _report_from_store(out, lang, model, budget_minutes, target, coach)
        return
    if input is None:
        raise _fail("give contract rows or explanations, or --from-store")
    if coach is not None:
        raise _fail("--coach needs --from-store")
    if input.suffix.lower() == ".json":
        try:
            raw = json.loads(input.read_text(encoding="utf-8"))
            docs = [Explanation.model_validate(d) for d in raw]
        except (OSError, ValueError) as exc:
            raise _fail(f"{input}: not a list of explanation documents ({exc})") from None
        catalogue = load_catalogue()
        docs = [translate(d, lang, catalogue) for d in docs]
    else:
        from ssi_model.validation import validate_file

        result = validate_file(input)
        if result.n_quarantined:
            _echo(f"{result.summary()}: invalid rows get no page (run `ssi validate`)")
        estimator, info = _registry().load(model)
        docs = explain_rows(estimator, result.clean, budget_minutes=budget_minutes,
                            target=target, lang=lang, model_info=info)
        # Rows in hand: every page carries the model and re-scores the member's what-if itself.
        whatifs = [for_member(estimator, row) for row in CONTRACT.to_records(result.clean)]
    pages = write_reports(docs, out, whatifs=whatifs)
    _echo(f"wrote {len(pages)} pages ({lang}) -> {out / 'index.html'}")


def _report_from_store(out: Path, lang: str, model: str | None, budget_minutes: float | None,
                       target: float | None, coach: str | None) -> None:
    """``ssi report --from-store``: each member's latest snapshot explained, with history and
    the plan issued before it."""
    from ssi_model.report import member_history, write_reports
    from ssi_model.report.whatif import for_member
    from ssi_model.store import ADMIN, SnapshotStore
    from ssi_model.store.explained import explain_latest, last_plan

    with SnapshotStore() as store:
        caller = store.coach_named(coach) if coach else ADMIN
        if not store.members(caller):
            raise _fail(f"no members in the store {store.url}"
                        + (f" for coach {coach!r}" if coach else ""))
        estimator, info = _registry().load(model)
        explained = explain_latest(store, caller, estimator, info,
                                   budget_minutes=budget_minutes, target=target, lang=lang)
        histories = {e.latest.member_id: member_history(
            estimator, e.snapshots, plan=last_plan(store, caller, e.snapshots))
            for e in explained}
        url = store.url
    whatifs = [for_member(estimator, e.latest.row) for e in explained]
    pages = write_reports([e.document for e in explained], out, whatifs=whatifs,
                          histories=histories)
    n_snapshots = sum(len(e.snapshots) for e in explained)
    n_plans = sum(h.plan is not None for h in histories.values())
    _echo(f"{len(explained)} members, {n_snapshots} snapshots from {url}; wrote {len(pages)} "
          f"pages with history ({lang}), {n_plans} with their last plan -> {out / 'index.html'}")


def _engine(engine: str) -> str:
    from ssi_model.tracking.spark import ENGINES

    if engine not in ENGINES:
        raise _fail(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    return engine


def _spark_job(kind: str, rows: str, out: str, master: str | None, **options: Any) -> None:
    """``ssi predict|explain --engine spark``: the same command on a Spark session."""
    from ssi_model.tracking.spark import explain_on_spark, predict_on_spark
    from ssi_model.tracking.spark import spark_session as make_session

    registry = _registry()
    spark = make_session(master)
    if kind == "predict":
        result = predict_on_spark(spark, registry, rows, out, **options)
    else:
        result = explain_on_spark(spark, registry, rows, out, **options)
    done = "scored" if kind == "predict" else "explained"
    _echo(f"{result.summary()}; {done} {result.n_done} with {_model_label(result.model)} on "
          f"Spark ({spark.sparkContext.master}) -> {out}")
    if result.quarantine:
        _echo(f"not {done} ({result.n_quarantined} invalid rows, with reasons): "
              f"{result.quarantine}")


@app.command("evaluate-levers")
@user_errors
@shows_progress
def evaluate_levers_command(
    model: ModelUri = None,
    members: Annotated[int, typer.Option(min=10, help="Simulated test members")] = 500,
    stability: Annotated[
        bool, typer.Option(help="Train two bootstrap models to measure stability (slower)")
    ] = True,
    config: Annotated[Path, typer.Option(help="Experiment for the bootstrap models")] = Path(
        "experiments/default.yaml"),
) -> None:
    """Lever quality against the simulator's truth: validity, faithfulness, recall@3, regret,
    stability; every applicable catalogue lever is scored, not only the listed ones."""
    import json

    from ssi_model.explain.evaluate import SIMULATOR_CAVEAT, bootstrap_estimators, evaluate_levers
    from ssi_model.model.config import load_config
    from ssi_model.model.holdout import split_holdout
    from ssi_model.tracking.data import load_training_data
    from ssi_model.tracking.evaluate import log_lever_quality

    registry = _registry()
    estimator, _ = registry.load(model)
    pair = None
    if stability:
        cfg = load_config(config)
        validated, _ = load_training_data(cfg, None)
        train, _ = split_holdout(validated.clean, cfg.data.holdout_share)
        _progress()("training two bootstrap models for the stability figure")
        pair = bootstrap_estimators(train, cfg)
    quality = evaluate_levers(estimator, members=members, bootstrap_pair=pair)
    _echo(json.dumps(quality.as_dict(), indent=2))
    _echo(f"Lever quality {SIMULATOR_CAVEAT}.")
    run_id = estimator.meta.get("run_id")
    if run_id:
        log_lever_quality(registry.client, run_id, quality)
        _echo(f"logged as levers_* metrics to run {run_id} (shown by `ssi evaluate`)")


@app.command("evaluate-advice")
@user_errors
@shows_progress
def evaluate_advice_command(
    out: Annotated[Path, typer.Option(help="The follow-up figures (.json)")] = Path(
        "reports/advice.json"),
    input: Annotated[
        Path | None, typer.Option(help="A follow-up file from `ssi simulate --weeks-between` "
                                       "(plans and later snapshots, truth if simulated); "
                                       "default: the store's issued plans")
    ] = None,
    model: ModelUri = None,
    n_boot: Annotated[int, typer.Option(min=20, help="Bootstrap replicates")] = 300,
    seed: Annotated[int, typer.Option(help="Bootstrap seed")] = 0,
    log: Annotated[bool, typer.Option(help="Log advice_* metrics to the model's MLflow run")] = (
        True),
    coach: Annotated[
        str | None, typer.Option(help="From the store: only this coach's members")
    ] = None,
) -> None:
    """Did the advice work? Adoption per lever, realised against predicted gain, and the effect
    of following the plan (adopters against comparable non-adopters)."""
    import json

    import pandas as pd

    from ssi_model.explain.advice import advice_metrics, evaluate_advice, followups_from_waves

    retraining: dict[str, Any] | None = None
    if input is None:
        from ssi_model.store import ADMIN, SnapshotStore
        from ssi_model.store.advice import followups_from_store

        with SnapshotStore() as store:
            caller = store.coach_named(coach) if coach else ADMIN
            followups = followups_from_store(store, caller)
            if log or model:
                from ssi_model.store.advice import plans_after_retraining

                estimator, info = _registry().load(model)
                retraining = plans_after_retraining(store, estimator, str(info.version),
                                                    caller)
    else:
        if not input.exists():
            raise _fail(f"{input}: no such file")
        frame = pd.read_parquet(input) if input.suffix == ".parquet" else pd.read_csv(input)
        followups = followups_from_waves(frame)
    doc = evaluate_advice(followups, n_boot=n_boot, seed=seed)
    if retraining is not None:
        doc["plans_after_retraining"] = retraining
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    _echo(_advice_summary(doc))
    if log:
        registry = _registry()
        estimator, _ = registry.load(model)
        run_id = estimator.meta.get("run_id")
    if log and run_id:
        for key, value in advice_metrics(doc).items():
            registry.client.log_metric(run_id, key, value)
        _echo(f"logged as advice_* metrics to run {run_id}")
    _echo(f"-> {out}")


def _advice_summary(doc: dict[str, Any]) -> str:
    lines = [f"{doc['followups']} plans followed up ({doc['members']} members): "
             f"{doc['adopters']} adopters, {doc['partial_adopters']} partial, "
             f"{doc['non_adopters']} non-adopters"]
    if "plan_effect_total" in doc:
        lo, hi = doc["plan_effect_total_ci"]
        lines.append(f"predicted gain {doc['predicted_gain_total']:+.2f}; effect of following "
                     f"the plan {doc['plan_effect_total']:+.2f} (90% {lo:+.2f} to {hi:+.2f}); "
                     f"adopters' raw change {doc['naive_change_total']:+.2f}")
    again = doc.get("plans_after_retraining")
    if again and again["plans"]:
        lines.append(f"plans issued under version(s) {', '.join(again['issued_under'])} "
                     f"re-scored with version {again['rescored_with']}: "
                     f"{again['invalidated_share']:.0%} changed sign or lost more than half")
    truth = (doc.get("truth") or {}).get("total")
    if truth:
        lines.append(f"simulator's true effect {truth['true_effect']:+.2f} (covered: "
                     f"{'yes' if truth['plan_effect_ci_covers_truth'] else 'no'})")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- serving


@app.command()
@user_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
) -> None:
    """Serve the champion over HTTP (FastAPI under uvicorn; OpenAPI docs at /docs)."""
    from ssi_model.api import serve as run_server

    run_server(host=host, port=port)  # its app builds the Registry from the same settings


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
