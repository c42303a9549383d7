"""results.md: the figures as a Markdown table, with the date and the machine they were
measured on."""

from __future__ import annotations

from typing import Any

from benchmarks.results import FIGURES


def _fmt(value: float | int | None, unit: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or unit == "requests":
        return f"{int(value):,}"
    if unit in ("rows/s", "members/s", "requests/s"):
        return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def markdown(payload: dict[str, Any]) -> str:
    figures, ratios = payload["figures"], payload["ratios"]
    rows = [
        ("training (fit_estimator)", "train_seconds_20k", "raw_train_seconds_20k",
         "train_vs_raw_final_boosters"),
        ("… against every lightgbm.train call of the fit", "train_seconds_20k",
         "raw_train_all_seconds_20k", "train_vs_raw_all_boosters"),
        ("batch predict (registered pyfunc)", "predict_rows_per_s", "raw_predict_rows_per_s",
         "predict_vs_raw"),
        ("batch predict on Spark local[2] (spark_udf) against the pyfunc in process",
         "spark_predict_rows_per_s", "predict_rows_per_s", "spark_predict_vs_pyfunc"),
        ("explain: drivers, levers, plan", "explain_members_per_s", "raw_explain_members_per_s",
         "explain_vs_raw"),
        ("coach reports (HTML)", "report_members_per_s", None, None),
        ("API /v1/predict, one profile, p50", "api_predict_p50_ms", "raw_single_predict_p50_ms",
         "api_predict_vs_raw_single"),
        ("API /v1/predict, p99", "api_predict_p99_ms", None, None),
        ("… against the loopback HTTP floor (uvicorn answering a fixed body), p50",
         "api_predict_p50_ms", "http_floor_p50_ms", "api_predict_vs_http_floor"),
        ("API /v1/explain, one profile, p50", "api_explain_p50_ms", "raw_single_explain_p50_ms",
         "api_explain_vs_raw_single"),
        ("API /v1/explain, p99", "api_explain_p99_ms", None, None),
        ("explain_rows on one member, in-process, p50", "explain_single_p50_ms",
         "raw_single_explain_p50_ms", "explain_single_vs_raw_single"),
        ("mlflow models serve /invocations, p50", "mlflow_serve_predict_p50_ms",
         "raw_single_predict_p50_ms", "mlflow_serve_vs_raw_single"),
        ("mlflow models serve, p99", "mlflow_serve_predict_p99_ms", None, None),
        ("API under load: failed requests", "api_load_errors", None, None),
        ("API under load: requests served", "api_load_requests", None, None),
        ("API under load: throughput", "api_load_rps", None, None),
        ("API under load: p50 / p99", "api_load_p50_ms", None, None),
    ]
    sizes = payload["sizes"]
    machine = payload["machine"]
    lines = [
        "# ssi-model benchmarks",
        "",
        f"- **Date**: {payload['finished_at']}",
        f"- **Machine**: {machine['cores']} cores, {machine['cpu_model']}, "
        f"{machine.get('platform', '?')}, Python {machine['python']}",
        f"- **Mode**: {payload['mode']}, {payload['seconds']:.0f} s in all; load average at "
        f"start / end {machine['load_average_1_5_15']} / {payload['load_average_at_end']} "
        "(a shared machine: read the ratios, measured in the same run, before the absolute "
        "figures).",
        "",
        f"Sizes: {sizes['train_rows']:,} training rows, {sizes['predict_rows']:,} prediction rows, "
        f"{sizes['explain_members']:,} explained and {sizes['report_members']:,} reported "
        f"members, {sizes['requests']:,} requests per endpoint, {sizes['load_clients']} clients "
        f"for {sizes['load_seconds']:g} s. Figures are medians of {sizes['repeats']} repeats "
        f"({sizes['train_repeats']} for training, {sizes['train_all_repeats']} for the replay "
        "of every lightgbm.train call of a fit).",
        "",
        "| figure | ours | raw LightGBM, same work | × slower than raw |",
        "|---|---:|---:|---:|",
    ]
    for label, ours, raw, ratio in rows:
        unit = FIGURES[ours]
        value = _fmt(figures.get(ours), unit)
        if ours == "api_load_p50_ms":
            value = (f"{_fmt(figures.get(ours), 'ms')} / "
                     f"{_fmt(figures.get('api_load_p99_ms'), 'ms')}")
        raw_text = f"{_fmt(figures.get(raw), FIGURES[raw])} {FIGURES[raw]}" if raw else ""
        ratio_value = ratios.get(ratio) if ratio else None
        lines.append(f"| {label} | {value} {unit} | {raw_text} | "
                     f"{'' if ratio_value is None else f'{ratio_value:g}×'} |")
    extra = ratios.get("mlflow_serve_vs_api_predict")
    if extra is not None:
        lines += ["", f"`mlflow models serve` answers a single profile {extra:g}× slower than "
                      "the API (p50)."]
    extra = ratios.get("api_explain_vs_in_process")
    if extra is not None:
        lines += ["", f"An explanation through the API takes {extra:g}× the time of "
                      "`explain_rows` on the same single member in-process (p50)."]
    if payload["notes"]:
        lines += ["", "## How each figure was measured", ""]
        lines += [f"- **{k}**: {v}" for k, v in payload["notes"].items()]
    if payload["unavailable"]:
        lines += ["", "## Not measured", ""]
        lines += [f"- `{k}`: {v}" for k, v in payload["unavailable"].items()]
    lines += cost_curves(payload.get("cost_curves", {}))
    lines += ["", "## Versions", "",
              ", ".join(f"{k} {v}" for k, v in payload["versions"].items() if v), ""]
    return "\n".join(lines)


def cost_curves(curves: dict[str, Any]) -> list[str]:
    """The cost-curves section (``python -m benchmarks.cost_curves``): a table and a plot each."""
    if not curves:
        return []
    lines = ["", "## Cost curves (simulated cohort)", "",
             "Measured by `make bench-curves` (`benchmarks/cost_curves.py`): each point in its own "
             "child process, so its peak memory (peak resident set, reading the rows included) "
             "is its own. Time is the work alone (model load and file read excluded); CPU seconds "
             "beside it, as the machine is shared (the wall clock includes waiting for a core)."]
    for name, data in curves.items():
        rate = data["rate"]
        lines += ["", f"### {data['title']}", "",
                  f"{data['mode']} run, finished {data['measured_at']}; load average at start / "
                  f"end {data['load_average_at_start']} / {data['load_average_at_end']}.", "",
                  f"| {data['unit']} | seconds (CPU seconds) | "
                  f"{rate + ' (per CPU second) | ' if rate else ''}peak memory |",
                  f"|---:|---:|{'---:|' if rate else ''}---:|"]
        for p in data["points"]:
            per_s = (f" {_fmt(p['per_s'], rate)} ({_fmt(p['per_cpu_s'], rate)}) |"
                     if rate else "")
            lines.append(f"| {p['n']:,} | {p['seconds']:,.2f} ({p['cpu_seconds']:,.2f}) |{per_s} "
                         f"{p['peak_rss_mb']:,.0f} MB |")
        lines += ["", f"![{data['title']}](cost_{name}.png)"]
    return lines


def with_cost_curves(page: str, curves: dict[str, Any]) -> str:
    """``page`` (a results.md) with its cost-curves section replaced, or added before the
    versions."""
    start = page.find("\n## Cost curves")
    if start >= 0:
        end = page.find("\n## ", start + 1)
        page = page[:start] + (page[end:] if end >= 0 else "\n")
    section = "\n".join(cost_curves(curves)) + "\n"
    at = page.find("\n## Versions")
    return page[:at] + section + page[at:] if at >= 0 else page.rstrip("\n") + section
