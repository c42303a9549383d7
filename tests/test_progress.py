"""Progress of long work: bars on a terminal, bounded plain lines in a log, silence elsewhere."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from benchmarks.results import FIGURES, Results
from rich.console import Console
from typer.testing import CliRunner

from ssi_model import progress
from ssi_model.cli import app
from ssi_model.explain import Explanation, explain_rows
from ssi_model.explain import explain as explain_module
from ssi_model.explain.evaluate import evaluate_levers
from ssi_model.model.estimator import SSIEstimator
from ssi_model.model.train import fit_estimator
from ssi_model.progress import PlainReporter, RichReporter, reporter_for, reporting, task, track
from ssi_model.report import write_reports
from ssi_model.simulator import simulate_cohort
from ssi_model.tracking.registry import load_estimator
from ssi_model.validation import validate

LINE = re.compile(r"^(?P<what>[\w-]+): (?P<done>\d+)(?:/(?P<total>\d+))? (?P<unit>\w+)"
                  r"(?: \((?P<pct>\d+) %\))?, \d+ s$")


class FakeClock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def plain(every_seconds: float = 10.0) -> tuple[PlainReporter, list[str], FakeClock]:
    lines: list[str] = []
    clock = FakeClock()
    return PlainReporter(lines.append, every_seconds=every_seconds, clock=clock), lines, clock


# -- the helper ----------------------------------------------------------------------------------


def test_plain_lines_come_each_tenth_with_counts_never_per_item() -> None:
    reporter, lines, _ = plain()
    with reporting(reporter), task("explain", total=1000, unit="members") as bar:
        for _ in range(1000):
            bar.advance()
    assert len(lines) == 10  # 10 %, 20 %, … 90 % while running, 100 % at the end
    assert all(LINE.match(line) for line in lines), lines
    assert "explain: 500/1000 members (50 %), 0 s" in lines
    assert lines[-1] == "explain: 1000/1000 members (100 %), 0 s"


def test_plain_lines_for_chunks_and_for_a_task_that_stops_early() -> None:
    reporter, lines, _ = plain()
    with reporting(reporter), task("explain", total=1000, unit="members") as bar:
        for _ in range(3):
            bar.advance(256)
    # Each chunk crosses another tenth; stopped short of the total, nothing more is added.
    assert lines == ["explain: 256/1000 members (25 %), 0 s",
                     "explain: 512/1000 members (51 %), 0 s",
                     "explain: 768/1000 members (76 %), 0 s"]
    reporter, lines, _ = plain()
    with reporting(reporter), task("report", total=1000, unit="pages") as bar:
        bar.advance(5)
    assert lines == ["report: 5/1000 pages (0 %), 0 s"]


def test_plain_lines_without_a_total_come_at_most_every_interval() -> None:
    reporter, lines, clock = plain(every_seconds=10.0)
    with reporting(reporter), task("scan", unit="rows") as bar:
        for _ in range(100):
            clock.now += 1.0
            bar.advance()
    assert len(lines) == 10  # 100 s of work, one line per 10 s (the last one at the end)
    assert lines[0] == "scan: 10 rows, 10 s"
    assert lines[-1] == "scan: 100 rows, 100 s"


def test_slow_steps_of_a_known_total_still_report_within_the_interval() -> None:
    reporter, lines, clock = plain(every_seconds=10.0)
    with reporting(reporter), task("train", total=100, unit="boosters") as bar:
        for _ in range(5):
            clock.now += 30.0
            bar.advance()
    assert lines == [f"train: {k}/100 boosters ({k} %), {30 * k} s" for k in range(1, 6)]


def test_track_counts_items_and_nested_tasks_report_separately() -> None:
    reporter, lines, _ = plain()
    with reporting(reporter):
        seen = list(track(range(20), "outer", unit="steps"))
        with task("outer", total=2, unit="steps") as outer:
            with task("inner", total=4, unit="members") as inner:
                inner.advance(4)
            outer.advance(2)
    assert seen == list(range(20))
    assert lines[:9] == [f"outer: {k}/20 steps ({5 * k} %), 0 s" for k in range(2, 20, 2)]
    assert lines[9:] == ["outer: 20/20 steps (100 %), 0 s",
                         "inner: 4/4 members (100 %), 0 s",
                         "outer: 2/2 steps (100 %), 0 s"]


def test_nothing_is_reported_outside_reporting_and_after_it() -> None:
    reporter, lines, _ = plain()
    with task("explain", total=10, unit="members") as bar:
        bar.advance(10)  # nobody turned progress on: a no-op
    with reporting(reporter):
        pass
    with task("explain", total=10, unit="members") as bar:
        bar.advance(10)
    assert lines == []


def test_a_terminal_gets_a_rich_bar() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    reporter = reporter_for(console)
    assert isinstance(reporter, RichReporter)
    with reporting(reporter), task("explain", total=1000, unit="members") as bar:
        for _ in range(4):
            bar.advance(250)
    shown = screen.getvalue()
    assert "explain" in shown and "1000/1000" in shown and "members" in shown
    assert "━" in shown  # the bar itself
    assert "100%" in shown


def test_a_log_gets_plain_lines_on_stderr_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    console = Console(file=io.StringIO())  # not a terminal
    reporter = reporter_for(console)
    assert isinstance(reporter, PlainReporter)
    with reporting(reporter), task("report", total=4, unit="pages") as bar:
        bar.advance(4)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "report: 4/4 pages (100 %), 0 s\n"


def test_bench_reports_each_settled_figure_once() -> None:
    settled: list[int] = []
    results = Results(settled=settled.append)
    results.put("train_seconds_20k", 12.0)
    results.put("train_seconds_20k", 11.0)  # a second value of the same figure is not progress
    results.missing(["train_seconds_20k", "predict_rows_per_s"], "failed")
    results.missing(list(FIGURES), "not measured")
    assert sum(settled) == len(FIGURES)
    assert settled[:3] == [1, 1, len(FIGURES) - 2]


# -- the long commands -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def estimator(trained) -> SSIEstimator:  # type: ignore[no-untyped-def]
    return load_estimator(f"models:/ssi-estimator/{trained.model_version}")


@pytest.fixture(scope="module")
def members() -> pd.DataFrame:
    return validate(simulate_cohort(220, 41)).clean.head(200).reset_index(drop=True)


def test_library_calls_print_nothing(estimator: SSIEstimator, members: pd.DataFrame,
                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = explain_rows(estimator, members)
    write_reports(docs[:5], tmp_path)
    assert capsys.readouterr() == ("", "")


def test_explain_and_report_count_members_and_pages(
        estimator: SSIEstimator, members: pd.DataFrame, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(explain_module, "CHUNK_MEMBERS", 64)
    reporter, lines, _ = plain()
    with reporting(reporter):
        docs = explain_rows(estimator, members)
        write_reports(docs[:30], tmp_path)
    # Chunks of 64: 64 (32 %), 128 (64 %), 192 (96 %), then the end.
    assert lines == ["explain: 64/200 members (32 %), 0 s", "explain: 128/200 members (64 %), 0 s",
                     "explain: 192/200 members (96 %), 0 s",
                     "explain: 200/200 members (100 %), 0 s",
                     *[f"report: {3 * k}/30 pages ({10 * k} %), 0 s" for k in range(1, 10)],
                     "report: 30/30 pages (100 %), 0 s"]


def test_training_counts_every_booster(small_config) -> None:  # type: ignore[no-untyped-def]
    rows = validate(simulate_cohort(400, 7)).clean
    config = small_config.model_copy(update={
        "model": small_config.model.model_copy(update={"cv_folds": 2})})
    reporter, lines, _ = plain()
    with reporting(reporter):
        fit_estimator(rows, config)
    counts = [LINE.match(line) for line in lines]
    assert all(m and m["what"] == "train" and m["unit"] == "boosters" for m in counts), lines
    assert lines[-1] == "train: 12/12 boosters (100 %), 0 s"  # 4 pillars × (2 folds + final)
    assert len(lines) <= 11


def test_lever_evaluation_counts_its_steps(estimator: SSIEstimator) -> None:
    reporter, lines, _ = plain()
    with reporting(reporter):
        evaluate_levers(estimator, members=12)
    # The explanation's own task reports inside the evaluation's steps; the last step is the end.
    assert lines == ["evaluate-levers: 1/3 steps (33 %), 0 s",
                     "explain: 12/12 members (100 %), 0 s",
                     "evaluate-levers: 2/3 steps (66 %), 0 s",
                     "evaluate-levers: 3/3 steps (100 %), 0 s"]


def test_cli_explain_prints_plain_progress_and_the_same_file(
        trained, members: pd.DataFrame, tmp_path: Path,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "members.csv"
    members.to_csv(source, index=False)
    uri = f"models:/ssi-estimator/{trained.model_version}"

    def run(out: Path) -> str:
        done = CliRunner().invoke(app, ["explain", str(source), "--out", str(out), "--model",
                                        uri, "--target", "45"])
        assert done.exit_code == 0, done.output
        return done.stderr

    monkeypatch.setattr(explain_module, "CHUNK_MEMBERS", 10**9)  # one batch, as before chunks
    whole = run(tmp_path / "whole.json")
    monkeypatch.setattr(explain_module, "CHUNK_MEMBERS", 64)
    chunked = run(tmp_path / "chunked.json")

    assert (tmp_path / "chunked.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    docs = [Explanation.model_validate(d) for d in
            json.loads((tmp_path / "chunked.json").read_text())]
    assert [d.member_id for d in docs] == members["member_id"].astype(str).tolist()
    chunked_lines = [line for line in chunked.splitlines() if line.startswith("explain:")]
    whole_lines = [line for line in whole.splitlines() if line.startswith("explain:")]
    assert all(LINE.match(line) for line in chunked_lines + whole_lines)
    # One line per chunk of 64 at most (32 %, 64 %, 96 %, the end), never one per member.
    assert [line.split(",")[0] for line in chunked_lines] == [
        "explain: 64/200 members (32 %)", "explain: 128/200 members (64 %)",
        "explain: 192/200 members (96 %)", "explain: 200/200 members (100 %)"]
    assert [line.split(",")[0] for line in whole_lines] == ["explain: 200/200 members (100 %)"]
    # Counts only: no member id reaches the progress lines.
    assert not any(m in chunked for m in members["member_id"].astype(str))
    assert progress._REPORTER.get() is None  # the command turned progress off again
