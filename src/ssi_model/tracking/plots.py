"""Diagnostic plots for a training run (PNG files; matplotlib figures, no GUI backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ssi_model.contract import PILLARS
from ssi_model.model.estimator import SSIEstimator

TARGETS = ("total", *PILLARS)


def _limits(name: str) -> float:
    return 100.0 if name == "total" else 25.0


def predicted_vs_reported(observed: pd.DataFrame, predicted: pd.DataFrame, path: Path) -> Path:
    fig = Figure(figsize=(20, 4.2))
    axes = fig.subplots(1, 5)
    for ax, name in zip(axes, TARGETS, strict=True):
        y, p = observed[f"ssi_{name}"].to_numpy(float), predicted[f"ssi_{name}"].to_numpy(float)
        ax.scatter(y, p, s=3, alpha=0.25)
        top = _limits(name)
        ax.plot([0, top], [0, top], color="black", lw=0.8)
        ax.set(title=name, xlabel="reported", ylabel="predicted", xlim=(0, top), ylim=(0, top))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def residuals(observed: pd.DataFrame, predicted: pd.DataFrame, path: Path) -> Path:
    fig = Figure(figsize=(20, 4.2))
    axes = fig.subplots(1, 5)
    for ax, name in zip(axes, TARGETS, strict=True):
        y, p = observed[f"ssi_{name}"].to_numpy(float), predicted[f"ssi_{name}"].to_numpy(float)
        lo = predicted[f"ssi_{name}_lo"].to_numpy(float)
        hi = predicted[f"ssi_{name}_hi"].to_numpy(float)
        order = np.argsort(p)
        ax.scatter(p, y - p, s=3, alpha=0.25)
        ax.plot(p[order], (lo - p)[order], color="tab:red", lw=0.8, label="90 % interval")
        ax.plot(p[order], (hi - p)[order], color="tab:red", lw=0.8)
        ax.axhline(0, color="black", lw=0.8)
        ax.set(title=name, xlabel="predicted", ylabel="reported − predicted")
    axes[0].legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def feature_importance(estimator: SSIEstimator, path: Path, top: int = 15) -> Path:
    fig = Figure(figsize=(20, 5))
    axes = fig.subplots(1, 4)
    for ax, pillar in zip(axes, PILLARS, strict=True):
        booster = estimator.boosters[pillar]
        gain = pd.Series(booster.feature_importance("gain"), index=estimator.blocks[pillar])
        gain = (gain / gain.sum()).sort_values().tail(top)
        ax.barh(gain.index, gain.to_numpy())
        ax.set(title=f"{pillar}: share of gain")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def shap_summary(estimator: SSIEstimator, rows: pd.DataFrame, path: Path, sample: int = 500,
                 seed: int = 0) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # shap draws through pyplot; never open a window
    import matplotlib.pyplot as plt
    import shap

    rows = rows.sample(min(sample, len(rows)), random_state=seed)
    features = estimator.features(rows)
    contributions = estimator.contributions(features)
    fig = plt.figure(figsize=(22, 7))
    for k, pillar in enumerate(PILLARS, start=1):
        ax = fig.add_subplot(1, 4, k)
        contrib = contributions[pillar]
        explanation = shap.Explanation(
            values=contrib.drop(columns="base").to_numpy(),
            base_values=contrib["base"].to_numpy(),
            data=features[estimator.blocks[pillar]].to_numpy(),
            feature_names=estimator.blocks[pillar],
        )
        shap.plots.beeswarm(explanation, max_display=10, show=False, ax=ax, plot_size=None,
                            color_bar=False)
        ax.set_title(pillar)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close("all")
    return path
