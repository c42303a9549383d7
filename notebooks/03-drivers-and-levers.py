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
# # 03 · Drivers and levers, checked against the simulator's truth
#
# For each member, `explain_rows` (what `ssi explain` and the API's `/v1/explain` call) says:
#
# - **drivers**: why each pillar is where it is: SHAP contributions of the member minus those
#   of a *peer profile* (the member's own context with their peer group's median behaviour),
#   rolled up to contract columns;
# - **levers**: catalogue actions (`src/ssi_model/explain/levers.yaml`) applied to the member's
#   row, with the gain the **model** predicts (prediction after minus before; never a SHAP
#   value), and the effort per week;
# - **the plan**: up to three levers re-scored jointly, the most gain within a weekly budget.
#
# A model can be confidently wrong about a lever. Simulated members have a known structural
# truth, so `explain.evaluate.true_gains` re-scores every listed lever's concrete `changes`
# with the simulator's formula: the **true** gain. That is how we know whether the advice is
# any good.

# %% tags=["parameters"]
import os

N = int(os.environ.get("SSI_NOTEBOOK_N", "20000"))  # training members, if a model is trained
MODEL = os.environ.get("SSI_NOTEBOOK_MODEL", "")  # a model URI; empty: champion, else latest
MEMBERS = 3  # members shown in detail
EVALUATION_MEMBERS = max(50, min(500, N // 40))  # members in the lever-quality figures
SEED = 2024  # members the model was not trained on (training uses seed 0)

# %%
# ruff: noqa: E402
# (a notebook: imports follow the parameter cell; a bare last expression is displayed)
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm, no widgets
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from ssi_model.contract import PILLAR_LABELS, PILLARS, TOTAL_LABEL
from ssi_model.errors import UserError
from ssi_model.explain import explain_rows, load_catalogue
from ssi_model.explain.evaluate import evaluate_levers, true_gains
from ssi_model.model import load_config
from ssi_model.notebooks import default_tracking_uri, project_root, show
from ssi_model.settings import get_settings
from ssi_model.simulator import TRUE_COLUMNS, simulate_cohort
from ssi_model.tracking.registry import Registry
from ssi_model.tracking.runs import train_run
from ssi_model.validation import validate

ROOT = project_root()
os.environ["MLFLOW_TRACKING_URI"] = default_tracking_uri(ROOT)
pd.set_option("display.max_colwidth", 90, "display.width", 160)

# %% [markdown]
# ## The model
#
# `SSI_NOTEBOOK_MODEL` if given; otherwise the `champion`, otherwise the latest registered
# version (e.g. the one notebook 02 just trained); and if the registry is empty, a model is
# trained here with `train_run`, as `ssi train` would.

# %%
config = load_config(ROOT / "experiments" / "default.yaml")
registry = Registry(get_settings())  # the model's name: SSI_MODEL_NAME (default ssi-estimator)
if not MODEL:
    if registry.alias_version() is not None:
        MODEL = registry.champion_uri
    else:
        try:
            MODEL = registry.version_uri(registry.latest_version())
        except UserError:  # an empty registry: train one
            small = config.model_copy(update={"data": config.data.model_copy(update={
                "simulate": config.data.simulate.model_copy(update={"n": N})})})
            MODEL = registry.version_uri(train_run(small, registry=registry).model_version)
estimator, info = registry.load(MODEL)
print(f"{MODEL}: {info}")

# %% [markdown]
# ## Members the model has never seen
#
# A fresh simulated cohort (another seed), validated like any input, with the simulator's
# noiseless pillars (`true_*`) kept beside the reported labels. We explain all of them in one
# batch (explanations are batched: one SHAP call per pillar, one prediction call for every
# member's levers) and show three members across the range: low, middle and high.

# %%
rows = validate(simulate_cohort(int(EVALUATION_MEMBERS * 1.1) + 10, SEED, with_truth=True))
rows = rows.clean.head(EVALUATION_MEMBERS).reset_index(drop=True)
docs = explain_rows(estimator, rows, model_info=info)
totals = np.array([d.prediction.ssi_total for d in docs])
chosen = [int(np.argsort(totals)[int(q * (len(totals) - 1))]) for q in
          np.linspace(0.1, 0.9, MEMBERS)]
print(f"explained {len(docs)} members; shown in detail: {[docs[i].member_id for i in chosen]}")

# %% [markdown]
# ## Estimates against reported and true pillars
#
# The model learned from *reported* labels (rounded, stale, noisy); the simulator also knows
# the noiseless truth. The interval is the 90 % conformal interval.

# %%
table = []
for i in chosen:
    p = docs[i].prediction
    for target in ("total", *PILLARS):
        label = TOTAL_LABEL if target == "total" else PILLAR_LABELS[target]
        truth = (rows.loc[i, TRUE_COLUMNS].sum() if target == "total"
                 else rows.loc[i, f"true_{target}"])
        table.append({
            "member": docs[i].member_id, "target": target,
            "estimate": getattr(p, f"ssi_{target}"),
            "interval": f"{getattr(p, f'ssi_{target}_lo'):.1f}–"
                        f"{getattr(p, f'ssi_{target}_hi'):.1f}",
            "reported": float(rows.loc[i, label]),
            "true": float(truth),
        })
pd.DataFrame(table).set_index(["member", "target"]).round(2)

# %% [markdown]
# ## Drivers: why each pillar is where it is
#
# Per pillar, the member's estimate, the peer profile's, and the contract columns that explain
# most of the gap (`up`: lift the member above the peer profile; `down`: hold it below). A
# contribution is in points of the pillar, against the peers; it is **not** a gain.

# %%
for i in chosen:
    doc = docs[i]
    peers = doc.peers
    display(Markdown(
        f"**{doc.member_id}**: {doc.context['role_family']}, {doc.context['seniority']}, "
        f"{doc.context['industry']}, {doc.context['region']}, {doc.context['subscription']}. "
        f"Peers: {peers.level} ({peers.n} members, mean total {peers.total_mean:.1f}). "
        f"Unknown: {', '.join(doc.unknown) or 'nothing'}."))
    flat = [
        {"pillar": pillar, "estimate": block.estimate, "peer estimate": block.peer_estimate,
         "direction": direction, "column": driver.column,
         "contribution": driver.contribution, "member's value": driver.value,
         "peer median": driver.peer_median}
        for pillar, block in doc.drivers.items()
        for direction, drivers in (("up", block.up), ("down", block.down))
        for driver in drivers
    ]
    display(pd.DataFrame(flat).round(2))

# %% [markdown]
# ## Levers: estimated gain against the TRUE gain
#
# Each lever's `changes` are concrete contract values (anyone can re-score the changed
# profile). `true_gains` applies them to the member's row and asks the simulator's structural
# formula what really changes; `est_*` is the model's estimate, `true_*` the truth, per pillar.

# %%
gains, violations = true_gains(rows, docs)
gains["est_total"] = gains[[f"est_{p}" for p in PILLARS]].sum(axis=1)
gains["true_total"] = gains[[f"true_{p}" for p in PILLARS]].sum(axis=1)
print(f"{len(gains)} levers listed for {len(docs)} members; constraint violations: "
      f"{violations}")
for i in chosen:
    doc = docs[i]
    mine = gains[gains["member"] == i].set_index("lever")
    shown = pd.DataFrame([{
        "lever": lever.id, "pillar": lever.pillar,
        "changes": json.dumps(lever.changes), "effort min/week": lever.effort_minutes_per_week,
        "estimated gain (total)": mine.loc[lever.id, "est_total"],
        "TRUE gain (total)": mine.loc[lever.id, "true_total"],
        "estimated (own pillar)": mine.loc[lever.id, f"est_{lever.pillar}"],
        "TRUE (own pillar)": mine.loc[lever.id, f"true_{lever.pillar}"],
    } for lever in doc.levers[:8]])
    display(Markdown(f"**{doc.member_id}**: the top levers of {len(doc.levers)} "
                     f"(predicted total {doc.prediction.ssi_total:.1f})"))
    display(shown.round(2))

# %% [markdown]
# ## The plan
#
# The bundle of at most three levers with the most gain within the weekly budget (the
# catalogue's default), re-scored jointly: a bundle's gain is not the sum of its parts.

# %%
catalogue = load_catalogue()
print(f"default weekly budget: {catalogue.default_budget_minutes} minutes")
for i in chosen:
    doc = docs[i]
    if doc.plan is None:
        print(f"{doc.member_id}: no plan (no lever gains enough within the budget)")
        continue
    plan = doc.plan
    print(f"{doc.member_id}: {', '.join(plan.levers)}: total {doc.prediction.ssi_total:.1f} → "
          f"{plan.total_after:.1f} ({plan.effort_minutes_per_week:g} min/week); changes "
          f"{json.dumps(plan.changes)}")

# %% [markdown]
# ## Over all explained members: is the model right about its levers?
#
# Each lever's estimated gain on the pillar it targets against the true gain. Points near the
# diagonal are faithful; points below zero on the true axis would be advice that hurts (the
# monotone constraints are there to prevent that).

# %%
fig, axes = plt.subplots(1, 4, figsize=(18, 4))
for ax, pillar in zip(axes, PILLARS, strict=True):
    own = gains[gains["pillar"] == pillar]
    ax.scatter(own[f"est_{pillar}"], own[f"true_{pillar}"], s=6, alpha=0.4)
    top = float(max(own[[f"est_{pillar}", f"true_{pillar}"]].abs().max().max(), 0.5)) \
        if len(own) else 1.0
    ax.plot([0, top], [0, top], color="black", lw=0.8)
    ax.axhline(0, color="tab:red", lw=0.6)
    ax.set(title=f"{pillar} levers ({len(own)})", xlabel="estimated gain",
           ylabel="true gain")
show(fig)

# %%
by_lever = gains.assign(
    own_est=[r[f"est_{r['pillar']}"] for _, r in gains.iterrows()],
    own_true=[r[f"true_{r['pillar']}"] for _, r in gains.iterrows()],
).groupby("lever").agg(
    listed=("member", "size"), pillar=("pillar", "first"),
    estimated_median=("own_est", "median"), true_median=("own_true", "median"),
    truly_helps=("own_true", lambda s: float((s > 0).mean())),
).sort_values("listed", ascending=False)
by_lever.round(2).head(15)

# %% [markdown]
# ### The lever-quality figures
#
# `evaluate_levers` (what `ssi evaluate-levers` prints) on a fresh set of members: validity
# (share of listed levers that truly raise their pillar), faithfulness (Spearman correlation
# of estimated and true gains per member and pillar), regret (the true gain of the top-ranked
# lever as a share of the best listed lever's), and constraint violations.

# %%
quality = evaluate_levers(estimator, members=EVALUATION_MEMBERS, seed=SEED + 1)
pd.Series(quality.as_dict(), name="value").to_frame()

# %% [markdown]
# ## The explanation document
#
# The same JSON comes out of `ssi explain` and `/v1/explain`; reports render it.

# %%
print(docs[chosen[0]].model_dump_json(indent=1)[:2500], "…")
