"""Drivers: why each pillar is where it is, against the member's peers.

SHAP contributions (LightGBM's exact tree SHAP) of the member minus those of a peer profile — the
member's own context with the peer group's median behaviour — rolled up from features to the
contract columns they are computed from.
"""

from __future__ import annotations

import weakref

import numpy as np

from ssi_model.batch import ProfileBatch
from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.explain.schema import Driver, PillarDrivers
from ssi_model.model.estimator import SSIEstimator

MIN_DRIVER = 0.05  # points; smaller contributions are noise, not a driver


def peer_table(estimator: SSIEstimator, table: ProfileBatch, keys: list[str]) -> ProfileBatch:
    """The member's context with the peer group's median behaviour."""
    peer = table.with_values({c: table[c].copy() for c in CONTRACT.behaviour_columns})
    for i, key in enumerate(keys):
        medians = estimator.peers.groups[key].medians
        for column in CONTRACT.behaviour_columns:
            value = medians.get(column, np.nan)
            if CONTRACT[column].kind == "bool" and not np.isnan(value):
                value = float(value >= 0.5)
            peer[column][i] = value
    return peer


def roll_up_matrix(features: list[str], sources: dict[str, list[str]],
                   columns: list[str]) -> np.ndarray:
    """(features × columns) weights: a feature's contribution shared evenly among its sources."""
    position = {c: k for k, c in enumerate(columns)}
    matrix = np.zeros((len(features), len(columns)))
    for i, feature in enumerate(features):
        cols = [c for c in sources[feature] if c in position]
        for c in cols:
            matrix[i, position[c]] = 1.0 / len(sources[feature])
    return matrix


_WEIGHTS: weakref.WeakKeyDictionary[object, dict[tuple[str, ...], np.ndarray]] = (
    weakref.WeakKeyDictionary())


def _block_weights(estimator: SSIEstimator, pillar: str) -> np.ndarray:
    """The roll-up matrix of a pillar's block: fixed by the fitted feature builder and the
    block, so built once per builder and block, not per explanation."""
    known = _WEIGHTS.setdefault(estimator.builder, {})
    block = tuple(estimator.blocks[pillar])
    if block not in known:
        known[block] = roll_up_matrix(list(block), estimator.builder.sources_,
                                      list(CONTRACT.behaviour_columns))
    return known[block]


def pillar_drivers(estimator: SSIEstimator, table: ProfileBatch, peer: ProfileBatch,
                   contributions: dict[str, np.ndarray], base: np.ndarray,
                   peer_pred: np.ndarray, top: int) -> list[dict[str, PillarDrivers]]:
    """Per member and pillar, the ``top`` columns pushing it up and down against the peers.

    ``contributions``: per pillar, SHAP values of the members' rows then their peers' rows.
    """
    n = len(base)
    names = list(CONTRACT.behaviour_columns)
    # A column on which the member equals the peer profile is not a driver, even if tree
    # interactions hand it a share of the gap.
    mine = np.array([table[c] for c in names]).T
    theirs = np.array([peer[c] for c in names]).T
    same = (mine == theirs) | (np.isnan(mine) & np.isnan(theirs))
    result: list[dict[str, PillarDrivers]] = [{} for _ in range(n)]
    for j, pillar in enumerate(PILLARS):
        block = estimator.blocks[pillar]
        weights = _block_weights(estimator, pillar)
        shap = contributions[pillar][:, :len(block)]  # the last column is the base value
        values = np.where(same, 0.0, (shap[:n] - shap[n:]) @ weights)
        for i in range(n):
            order = np.argsort(-values[i])
            up = [k for k in order[:top] if values[i, k] > MIN_DRIVER]
            down = [k for k in order[::-1][:top] if values[i, k] < -MIN_DRIVER]
            result[i][pillar] = PillarDrivers(
                estimate=round(float(base[i, j]), 2),
                peer_estimate=round(float(peer_pred[i, j]), 2),
                up=[_driver(names[k], values[i, k], table, peer, i) for k in up],
                down=[_driver(names[k], values[i, k], table, peer, i) for k in down],
            )
    return result


def _plain(column: str, value: float) -> float | bool | None:
    if np.isnan(value):
        return None
    if CONTRACT[column].kind == "bool":
        return bool(value)
    return round(float(value), 2)


def _driver(column: str, contribution: float, table: ProfileBatch, peer: ProfileBatch,
            i: int) -> Driver:
    peer_value = _plain(column, peer[column][i])
    return Driver(
        column=column,
        contribution=round(float(contribution), 2),
        value=_plain(column, table[column][i]),
        peer_median=float(peer_value) if peer_value is not None else None,
    )
