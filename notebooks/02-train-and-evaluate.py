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
# # 02 · Train a model and read the run back from MLflow
#
# Training goes through `train_run`, the function `ssi train` and `make train` call: it
# validates the data (the quarantine is logged, never trained on), holds out 20 % of members by
# a hash of their id, fits the four monotone pillar boosters (`fit_estimator`: rounds by 5-fold
# CV with early stopping, cross-conformal (CV+ style) 90 % intervals from the out-of-fold
# residuals), scores the model and two baselines on the holdout, and logs config, data
# fingerprint, metrics, plots and the model, registered as a new version of `ssi-estimator`.
#
# Then everything is read back **from MLflow**, as a colleague would: metrics, plots, the
# registered model. MLflow is wherever `MLFLOW_TRACKING_URI` points (default: the project's
# `mlflow.db`); browse the same run with `make mlflow-ui`.

# %% tags=["parameters"]
import os

N = int(os.environ.get("SSI_NOTEBOOK_N", "20000"))  # training members (before the holdout)
SEED = int(os.environ.get("SSI_NOTEBOOK_SEED", "0"))
EXPERIMENT = os.environ.get("SSI_NOTEBOOK_EXPERIMENT", "experiments/default.yaml")

# %%
# ruff: noqa: E402
# (a notebook: imports follow the parameter cell; a bare last expression is displayed)
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm, no widgets
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from IPython.display import Image, Markdown, display

from ssi_model.contract import PILLARS
from ssi_model.model import load_config
from ssi_model.model.holdout import holdout_metrics, observed_frame, split_holdout
from ssi_model.model.train import fit_estimator
from ssi_model.notebooks import default_tracking_uri, project_root, show
from ssi_model.settings import get_settings
from ssi_model.tracking.data import load_training_data
from ssi_model.tracking.evaluate import evaluate_run
from ssi_model.tracking.registry import Registry
from ssi_model.tracking.runs import train_run

ROOT = project_root()
os.environ["MLFLOW_TRACKING_URI"] = default_tracking_uri(ROOT)
print("MLflow store:", os.environ["MLFLOW_TRACKING_URI"])
registry = Registry(get_settings())  # the model's name: SSI_MODEL_NAME (default ssi-estimator)

# %% [markdown]
# ## The experiment config
#
# Experiments are data: `experiments/*.yaml`, parsed into a validated `ExperimentConfig`
# (unknown keys are refused). Here only the cohort size comes from this notebook; every
# other setting is the file's, and the run logs the merged config it used.

# %%
base = load_config(ROOT / EXPERIMENT)
config = base.model_copy(update={"data": base.data.model_copy(update={
    "simulate": base.data.simulate.model_copy(update={"n": N, "seed": SEED})})})
print(config.model_dump_json(indent=1)[:1500])

# %% [markdown]
# ## Train, exactly as `ssi train` does

# %%
result = train_run(config, registry=registry, progress=lambda message: print(" ", message))
MODEL_URI = registry.version_uri(result.model_version)
print(f"run {result.run_id}: {result.n_train} training rows, {result.n_holdout} holdout, "
      f"{result.n_quarantined} quarantined; {result.seconds:.0f} s; registered as {MODEL_URI}")

# %% [markdown]
# ## The run, from MLflow
#
# Metrics are on the **holdout** (members never trained on). `coverage` is the share of
# reported values inside the 90 % interval (it should be near 0.90); the linear and
# rule-of-thumb baselines are scored on the same rows; `cv_*` is the out-of-fold MAE.

# %%
client = mlflow.MlflowClient()
run = client.get_run(result.run_id)
metrics = run.data.metrics
targets = ["total", *PILLARS]
table = pd.DataFrame({
    t: {
        "MAE": metrics[f"{t}_mae"],
        "RMSE": metrics[f"{t}_rmse"],
        "R²": metrics[f"{t}_r2"],
        "90 % coverage": metrics[f"{t}_coverage"],
        "interval width": metrics[f"{t}_interval_width"],
        "linear baseline MAE": metrics[f"baseline_linear_{t}_mae"],
        "rule-of-thumb MAE": metrics[f"baseline_rule_{t}_mae"],
        "CV MAE": metrics.get(f"cv_{t}_mae"),
    } for t in targets
}).T
table.round(3)

# %%
display(Markdown("**Tags and a few parameters of the run**"))
pd.Series({
    **{k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
    **{k: run.data.params.get(k) for k in ("n_read", "n_quarantined", "n_train", "n_holdout",
                                        "model.params.learning_rate", "features.monotone")},
}).to_frame("value")

# %%
display(Markdown("**MAE of the total per segment** (is any group served badly?)"))
segments = pd.Series({k.removeprefix("total_mae_"): v for k, v in metrics.items()
                      if k.startswith("total_mae_")}).sort_values()
segments.round(2).to_frame("MAE")

# %% [markdown]
# ### The quarantine the run logged

# %%
artifacts = [a.path for a in client.list_artifacts(result.run_id)]
print("artifacts:", artifacts)
if result.n_quarantined:
    reasons = mlflow.artifacts.load_dict(
        f"runs:/{result.run_id}/data/quarantine_reasons.json")
    display(pd.Series(reasons, name="rows").sort_values(ascending=False).to_frame())

# %% [markdown]
# ### The logged plots
#
# Predicted against reported per target, residuals with the 90 % interval band, the share of
# gain per feature, and the SHAP summary per pillar.

# %%
plots_dir = Path(tempfile.mkdtemp(prefix="ssi-plots-"))
for artifact in client.list_artifacts(result.run_id, "plots"):
    local = mlflow.artifacts.download_artifacts(run_id=result.run_id,
                                                artifact_path=artifact.path,
                                                dst_path=str(plots_dir))
    display(Markdown(f"**{artifact.path}**"))
    display(Image(filename=local, width=1100))

# %% [markdown]
# ## How far from the best any model could do?
#
# On simulated data the holdout carries the simulator's best possible prediction per member,
# so `evaluate_run` (what `ssi evaluate` runs) reports the **noise floor**: the MAE no model
# can beat on average. The learning curve is left out here (it retrains six times; `make
# evaluate` draws it).

# %%
evaluation = evaluate_run(result.run_id, Path(tempfile.mkdtemp(prefix="ssi-eval-")),
                          with_learning_curve=False)
if evaluation.noise_floor:
    display(pd.DataFrame({
        "model MAE": {t: metrics[f"{t}_mae"] for t in targets},
        "noise floor MAE": evaluation.noise_floor,
        "MAE / floor": {t: metrics[f"{t}_mae"] / evaluation.noise_floor[t] for t in targets},
    }).round(3))
else:
    print("no noise floor: the data has no simulator truth columns")

# %% [markdown]
# ## The registered model
#
# Loading by URI is what the API and `ssi predict` do (`models:/ssi-estimator@champion` in
# production; promotion is `make promote`, a gate against the current champion). The
# prediction table has the estimate, its 90 % interval and the member's "Top X %" within
# their industry.

# %%
estimator, info = registry.load(result.model_version)
print(info)
holdout = pd.read_parquet(mlflow.artifacts.download_artifacts(
    run_id=result.run_id, artifact_path="holdout/holdout.parquet"))
predicted = estimator.predict(holdout.head(8)).to_frame()
predicted.insert(1, "reported_total", holdout["ssi_total"].head(8).to_numpy())
predicted[["member_id", "reported_total", "ssi_total", "ssi_total_lo", "ssi_total_hi",
           *[f"ssi_{p}" for p in PILLARS], "industry_top_pct"]]

# %% [markdown]
# ## An experiment without MLflow: what do the monotone constraints cost?
#
# `fit_estimator` is the pure training step inside `train_run`; with the same data loading and
# holdout split (`load_training_data`, `split_holdout`) it compares variants quickly.
# `experiments/no-monotone.yaml` extends the default and drops the constraints. Monotone
# constraints buy levers that never lower a pillar when a member does more of a good thing;
# this shows what they cost in accuracy (usually little or nothing). The monotone model is the
# one just registered: same data, same split, same config.

# %%
validated, source = load_training_data(config, None)
train, holdout = split_holdout(validated.clean, config.data.holdout_share)
free = load_config(ROOT / "experiments" / "no-monotone.yaml")
free = free.model_copy(update={"data": config.data})
comparison = {}
for name, fitted in (("monotone (registered)", estimator),
                     ("no monotone", fit_estimator(train, free).estimator)):
    scores, _ = holdout_metrics(fitted, holdout)
    comparison[name] = {f"{t} MAE": scores[f"{t}_mae"] for t in targets}
pd.DataFrame(comparison).round(3)

# %%
observed = observed_frame(holdout)
fitted_pred = estimator.predict(holdout)
fig, ax = plt.subplots(figsize=(5, 5))
ax.scatter(observed["ssi_total"], fitted_pred["ssi_total"], s=3, alpha=0.3)
ax.plot([0, 100], [0, 100], color="black", lw=0.8)
ax.set(xlabel="reported total", ylabel="predicted total", xlim=(0, 100), ylim=(0, 100),
       title=f"registered model on {len(holdout)} holdout members")
show(fig)

# %% [markdown]
# ## Next
#
# `03-drivers-and-levers` explains a few members with this model: drivers against their
# peers, levers with the model's estimated gain, and the **true** gain from the simulator.
