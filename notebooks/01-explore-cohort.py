# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · The cohort: data, quirks, quarantine and calibration
#
# What a data scientist joining the team should see first: what one row is, which cells are
# unknown and how often, which rows the validator quarantines and why, and how the simulated
# labels compare with the figures LinkedIn and real dashboards show (the `linkedin`
# calibration's targets).
#
# Everything here calls the project's own code (`ssi_model.simulator`, `ssi_model.validation`);
# nothing is re-implemented. Run it with `make notebooks`, or open it in Jupyter (jupytext pairs
# the `.py` with a notebook). `SSI_NOTEBOOK_N` sets the cohort size (the tests use a small one).

# %% tags=["parameters"]
import os

N = int(os.environ.get("SSI_NOTEBOOK_N", "20000"))  # members to simulate
SEED = int(os.environ.get("SSI_NOTEBOOK_SEED", "0"))
CALIBRATION = os.environ.get("SSI_NOTEBOOK_CALIBRATION", "linkedin")

# %%
# ruff: noqa: E402, B018
# (a notebook: imports follow the parameter cell; a bare last expression is displayed)
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm, no widgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from ssi_model.contract import CONTRACT, PILLAR_LABELS, PILLARS, TOTAL_LABEL
from ssi_model.notebooks import show
from ssi_model.simulator import FAULT_COLUMN, calibration_summary, simulate_cohort
from ssi_model.validation import validate

pd.set_option("display.max_columns", 30, "display.width", 140)

# %% [markdown]
# ## One row is one member at one moment
#
# The columns, their types and ranges are declared once, in `src/ssi_model/contract.yaml`:
# context (industry, role, seniority, region, subscription), profile completeness, 90-day
# activity counts up to `snapshot_date`, and the **labels** the member read off their SSI
# dashboard (`ssi_total` and the four pillars, each 0–25). The simulator writes the same rows,
# plus its noiseless truth (`true_*`, `best_ssi_*`, `typing_fault`) when asked.

# %%
cohort = simulate_cohort(N, SEED, calibration=CALIBRATION, with_truth=True)
columns = pd.DataFrame(
    [{"column": c.name, "kind": c.kind,
      "role": "label" if c.is_label else "context" if c.is_context else "input",
      "min": c.numeric_bound("min"), "max": c.numeric_bound("max"),
      "description": (c.description or "")[:70]}
     for c in CONTRACT.columns]
)
print(f"{len(cohort)} simulated members, {cohort.shape[1]} columns "
      f"({len(CONTRACT.input_columns)} model inputs)")
columns

# %%
cohort.head(3).T.head(25)

# %% [markdown]
# ## Quirk 1: an empty cell means *unknown*, never zero
#
# A questionnaire leaves fields blank, a LinkedIn data export cannot supply some counts at all
# (`ssi ingest-export` says which). The model sees unknown as missing (LightGBM routes it), so
# the share of unknowns per column matters: it decides how much a model can learn from a column.

# %%
inputs = [c for c in CONTRACT.input_columns if c not in ("member_id", "snapshot_date")]
unknown = cohort[inputs].isna().mean().sort_values(ascending=False).rename("share_unknown")
display(unknown.head(15).to_frame().style.format("{:.1%}"))
print(f"columns with any unknown: {(unknown > 0).sum()} of {len(inputs)}; "
      f"rows with at least one unknown: {cohort[inputs].isna().any(axis=1).mean():.1%}")

# %%
fig, ax = plt.subplots(figsize=(9, 7))
shown = unknown[unknown > 0].sort_values()
ax.barh(shown.index, shown.to_numpy() * 100)
ax.set(xlabel="% of members with the cell unknown", title="Unknown cells per input column")
show(fig)

# %% [markdown]
# ## Quirk 2: labels are what members *typed in*
#
# The dashboard shows pillars with two decimals and the total rounded to a whole number, so
# the pillars add up to the total only within a tolerance; readings are taken up to 30 days
# after the snapshot (stale); and 1–2 % of rows carry a typing fault. Validation keeps every
# row that passes the contract and quarantines the others **with every rule they broke**:
# nothing is dropped, clipped or coerced, and the counts reconcile.

# %%
result = validate(cohort)
print(result.summary())
assert result.n_read == len(cohort) == result.n_clean + result.n_quarantined

# on the clean rows: a typing fault can put a reading decades away
clean = result.clean
gap = (clean[list(PILLAR_LABELS.values())].astype(float).sum(axis=1)
       - clean[TOTAL_LABEL].astype(float))
lag = (clean["reported_on"] - clean["snapshot_date"]).dt.days
pd.DataFrame({
    "pillars − total (points)": gap.describe(percentiles=[0.01, 0.5, 0.99]),
    "days from snapshot to reading": lag.describe(percentiles=[0.01, 0.5, 0.99]),
}).round(2)

# %% [markdown]
# ### The quarantine and its reasons
#
# `rule_counts()` counts quarantined rows per broken column rule (a row may break several).
# The simulator records which rows it injected a fault into, so we can check that validation
# catches exactly those.

# %%
reasons = pd.Series(result.rule_counts(), name="rows").sort_values(ascending=False)
display(reasons.to_frame())
display(result.quarantine[["row", "member_id", "reason"]].head(8))

# %%
caught = pd.crosstab(
    cohort[FAULT_COLUMN].rename("typing fault injected"),
    pd.Series(~cohort["member_id"].isin(result.clean["member_id"]), name="quarantined"),
)
caught

# %% [markdown]
# ## The label distribution against the calibration targets
#
# The `linkedin` calibration is held to the figures LinkedIn and real dashboards show (sources
# in the shared `reference/ssi-domain.md` §2 and §6): a mean total near 28–35, about 1–2 % at
# 70+, pillar means brand 11–13, people 4–6, insights 1.5–3, relationships 11–16, and the
# percentile points below (±5). `calibration_summary` is the same function `ssi calibration`
# prints; rows with faulty labels are left out. (The tests check these ranges on 20,000
# members; a small cohort can miss a range by sampling noise.)

# %%
summary = calibration_summary(cohort)
targets = {
    "mean_total": (28, 35),
    "share_total_ge_70": (0.005, 0.03),
    "pillar_means.brand": (11, 13),
    "pillar_means.people": (4, 6),
    "pillar_means.insights": (1.5, 3),
    "pillar_means.relationships": (11, 16),
    **{f"percentiles.P{q}": (v - 5, v + 5) for q, v in
       {15: 16, 25: 20, 63: 33, 90: 50, 99: 70}.items()},
}


def figure(key: str) -> float:
    value: object = summary
    for part in key.split("."):
        value = value[part]  # type: ignore[index]
    return float(value)  # type: ignore[arg-type]


check = pd.DataFrame(
    [{"figure": k, "value": figure(k), "target low": lo, "target high": hi,
      "within": lo <= figure(k) <= hi} for k, (lo, hi) in targets.items()]
).set_index("figure")
print(f"calibration {CALIBRATION!r}, {summary['members']} members with valid labels")
check.round(3)

# %%
total = clean[TOTAL_LABEL].astype(float)
fig, axes = plt.subplots(1, 5, figsize=(20, 3.6))
axes[0].hist(total, bins=50, color="tab:blue", alpha=0.8)
for q, v in {15: 16, 25: 20, 63: 33, 90: 50, 99: 70}.items():
    axes[0].axvline(v, color="tab:red", lw=0.8, ls="--")
    axes[0].axvline(np.percentile(total, q), color="black", lw=0.8)
axes[0].set(title="total (red: target percentiles, black: cohort's)", xlabel="reported SSI",
            xlim=(0, 100))
for ax, pillar in zip(axes[1:], PILLARS, strict=True):
    ax.hist(clean[PILLAR_LABELS[pillar]].astype(float), bins=40, color="tab:green", alpha=0.8)
    ax.set(title=pillar, xlabel="reported pillar", xlim=(0, 25))
show(fig)

# %% [markdown]
# ### Who scores what
#
# Context shapes the score: role family, region and subscription (Sales Navigator users
# score higher). The `coaching-guide` calibration reproduces the benchmarks coaching guides
# quote, which LinkedIn's own figures do not support; compare the role means.

# %%
by_role = pd.DataFrame({
    CALIBRATION: summary["role_family_means"],
    "coaching-guide": calibration_summary(
        simulate_cohort(min(N, 5000), SEED, calibration="coaching-guide"))["role_family_means"],
}).round(1).sort_values(CALIBRATION)
by_role

# %%
display(Markdown("**Mean reported total by region and subscription**"))
clean.groupby(["region", "subscription"], observed=True)[TOTAL_LABEL].mean().astype(float)\
    .unstack().round(1)

# %% [markdown]
# ## Next
#
# `02-train-and-evaluate` trains the four pillar boosters on a cohort like this one (through
# `train_run`, exactly what `ssi train` does) and reads the run back from MLflow.
