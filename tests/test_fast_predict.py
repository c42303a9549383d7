"""The compiled trees (every prediction) and the single-row fast path (a few rows' SHAP values)
answer exactly what ``Booster.predict`` answers.

Rows that exercise every branch of the trees: unknowns (NaN), zeros (LightGBM's zero and missing
handling differs by split), values exactly at each split's threshold and just either side, codes
of the categorical splits, and random rows; on boosters with numeric and categorical features and
on the project's fitted estimator (its boosters and its ``predict``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from ssi_model.contract import PILLARS
from ssi_model.model.estimator import SSIEstimator
from ssi_model.model.fast_predict import FastPredictor
from ssi_model.model.trees import CompiledTrees, LightGBMTrees, UnsupportedTrees, trees_for


def _splits(node: dict[str, Any]) -> Iterator[tuple[int, str, Any]]:
    """(feature, decision type, threshold) of every split under ``node``."""
    if "split_feature" in node:
        yield node["split_feature"], node["decision_type"], node["threshold"]
        yield from _splits(node["left_child"])
        yield from _splits(node["right_child"])


def edge_rows(booster: lgb.Booster, rng: np.random.Generator, n_random: int = 200) -> np.ndarray:
    """Rows hitting every split at, just below and just above its threshold, plus NaN/zero rows
    and random rows (with NaNs and zeros sprinkled in)."""
    k = booster.num_feature()
    base = rng.normal(size=k)
    rows = [np.full(k, np.nan), np.zeros(k), base]
    for tree in booster.dump_model()["tree_info"]:
        for feature, decision, threshold in _splits(tree["tree_structure"]):
            values: list[float]
            if decision == "==":  # categorical: "1||3||7"
                codes = [float(c) for c in str(threshold).split("||")]
                values = [*codes, max(codes) + 1.0, -1.0]
            else:
                t = float(threshold)
                values = [t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf), 0.0, np.nan]
            for value in values:
                for template in (base, rows[0], rows[1]):
                    row = template.copy()
                    row[feature] = value
                    rows.append(row)
    random = rng.normal(scale=3.0, size=(n_random, k))
    random[rng.random(random.shape) < 0.15] = np.nan
    random[rng.random(random.shape) < 0.15] = 0.0
    return np.vstack([np.array(rows), random])


def _mixed_booster(**params: Any) -> lgb.Booster:
    """Numeric and categorical features, NaNs and zeros in training, an early-stopped model."""
    rng = np.random.default_rng(3)
    n = 2_000
    x = rng.normal(size=(n, 6))
    x[:, 4] = rng.integers(0, 8, n)  # a category code
    x[rng.random(x.shape) < 0.1] = np.nan
    x[rng.random(x.shape) < 0.1] = 0.0
    y = np.nan_to_num(x[:, 0]) * 2 + (np.nan_to_num(x[:, 4]) % 3) + rng.normal(size=n)
    params = {"objective": "regression", "num_leaves": 15, "verbose": -1, "num_threads": 1,
              "min_data_in_leaf": 5, "zero_as_missing": False, **params}
    train = lgb.Dataset(x[:1500], y[:1500], categorical_feature=[4])
    valid = lgb.Dataset(x[1500:], y[1500:], categorical_feature=[4], reference=train)
    return lgb.train(params, train, num_boost_round=200, valid_sets=[valid],
                     callbacks=[lgb.early_stopping(10, verbose=False)])


@pytest.fixture(scope="module")
def mixed_booster() -> lgb.Booster:
    return _mixed_booster()


@pytest.fixture(scope="module")
def zero_missing_booster() -> lgb.Booster:
    """Zeros treated as missing (LightGBM's missing type Zero: zero and NaN go the default way)."""
    return _mixed_booster(zero_as_missing=True, objective="huber")


def test_equal_to_booster_predict_on_edge_rows(mixed_booster: lgb.Booster) -> None:
    assert 0 < mixed_booster.best_iteration < 200  # the fast path must honour early stopping
    rows = edge_rows(mixed_booster, np.random.default_rng(0))
    fast = FastPredictor(mixed_booster)
    assert_array_equal(fast.predict(rows), mixed_booster.predict(rows, num_threads=1))


def test_equal_after_a_save_and_load(mixed_booster: lgb.Booster) -> None:
    loaded = lgb.Booster(model_str=mixed_booster.model_to_string())
    rows = edge_rows(loaded, np.random.default_rng(1))
    assert_array_equal(FastPredictor(loaded).predict(rows), loaded.predict(rows, num_threads=1))


def test_refuses_a_row_of_the_wrong_shape_or_type(mixed_booster: lgb.Booster) -> None:
    fast = FastPredictor(mixed_booster)
    for bad in (np.zeros(5), np.zeros(7), np.zeros(6, dtype=np.float32), np.zeros((2, 6))[:, 0]):
        with pytest.raises(ValueError, match="contiguous float64"):
            fast.predict_row(bad)


def test_estimator_boosters_and_predict(fitted_estimator: SSIEstimator) -> None:
    rng = np.random.default_rng(2)
    for p in PILLARS:
        booster = fitted_estimator.boosters[p]
        rows = edge_rows(booster, rng, n_random=50)
        assert_array_equal(FastPredictor(booster).predict(rows), booster.predict(rows,
                                                                                 num_threads=1))
    # The estimator scores rows one at a time and as a batch exactly alike.
    width = len(fitted_estimator.feature_names)
    x = rng.normal(scale=5.0, size=(40, width))
    x[rng.random(x.shape) < 0.2] = np.nan
    x[rng.random(x.shape) < 0.2] = 0.0
    batch = fitted_estimator.predict_matrix(x)
    one_by_one = np.vstack([fitted_estimator.predict_matrix(x[i:i + 1]) for i in range(len(x))])
    assert_array_equal(one_by_one, batch)


def test_threads_sharing_one_predictor_get_their_own_answers(mixed_booster: lgb.Booster) -> None:
    # The API scores on the event loop while explanations run in the thread pool: both can hold
    # the same handle; the shared output buffer must not mix their answers.
    from concurrent.futures import ThreadPoolExecutor

    rows = edge_rows(mixed_booster, np.random.default_rng(4))
    expected = mixed_booster.predict(rows, num_threads=1)
    fast = FastPredictor(mixed_booster)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _k: fast.predict(rows), range(8)))
    for answer in answers:
        assert_array_equal(answer, expected)


def test_shap_values_equal_booster_predict_contrib(mixed_booster: lgb.Booster,
                                                   fitted_estimator: SSIEstimator) -> None:
    rows = edge_rows(mixed_booster, np.random.default_rng(5), n_random=50)
    fast = FastPredictor(mixed_booster, contributions=True)
    assert_array_equal(fast.contributions(rows),
                       mixed_booster.predict(rows, pred_contrib=True, num_threads=1))
    # The estimator's few-row SHAP path (fast, an explanation of one member) equals its batch one.
    rng = np.random.default_rng(6)
    x = rng.normal(scale=5.0, size=(30, len(fitted_estimator.feature_names)))
    x[rng.random(x.shape) < 0.2] = np.nan
    x[rng.random(x.shape) < 0.2] = 0.0
    batch = fitted_estimator.contribution_arrays(x)
    for i in range(0, len(x), 2):
        few = fitted_estimator.contribution_arrays(x[i:i + 2])
        for p in PILLARS:
            assert_array_equal(few[p], batch[p][i:i + 2])


@pytest.mark.parametrize("derived", [3, 60])
def test_sharing_a_reference_rows_pillars_equals_scoring_every_row(
        fitted_estimator: SSIEstimator, derived: int) -> None:
    """Rows made from a reference row by changing a feature or two (as lever variants are):
    copying the pillars whose block is unchanged gives exactly what predict_matrix gives."""
    rng = np.random.default_rng(7)
    width = len(fitted_estimator.feature_names)
    own = rng.normal(scale=5.0, size=(2, width))
    own[0, rng.random(width) < 0.3] = np.nan
    reference = np.concatenate([[-1, -1], rng.integers(0, 2, derived)])
    x = own[np.where(reference >= 0, reference, np.arange(len(reference)))]
    for i in range(2, len(x)):
        changed = rng.choice(width, size=rng.integers(0, 3), replace=False)
        x[i, changed] = rng.choice([0.0, np.nan, 1.0, 50.0], size=len(changed))
    shared = fitted_estimator.predict_sharing(x, reference)
    assert_array_equal(shared, fitted_estimator.predict_matrix(x))
    assert (shared[2:] == shared[reference[2:]]).any()  # some pillars were shared
    # The same rows against references scored before (plans against their lever variants).
    known = (own, fitted_estimator.predict_matrix(own))
    assert_array_equal(fitted_estimator.predict_sharing(x[2:], reference[2:], known=known),
                       shared[2:])


# -- the compiled trees -------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["mixed_booster", "zero_missing_booster"])
def test_compiled_trees_equal_booster_predict_on_edge_rows(which: str,
                                                           request: pytest.FixtureRequest) -> None:
    booster: lgb.Booster = request.getfixturevalue(which)
    assert 0 < booster.best_iteration < 200  # the compiled trees must stop where predict does
    missing = {n["missing_type"] for t in booster.dump_model()["tree_info"]
               for n in _nodes(t["tree_structure"])}
    assert "Zero" in missing if which == "zero_missing_booster" else "NaN" in missing
    rows = edge_rows(booster, np.random.default_rng(10))
    expected = booster.predict(rows, num_threads=1)
    compiled = CompiledTrees([booster])
    assert_array_equal(compiled.predict(rows)[:, 0], expected)
    assert_array_equal(compiled.predict(rows, 0), expected)
    assert_array_equal(np.concatenate([compiled.predict(rows[i:i + 1], 0)
                                       for i in range(0, len(rows), 7)]), expected[::7])
    # a column-major matrix is read as the same values
    assert_array_equal(compiled.predict(np.asfortranarray(rows), 0), expected)
    loaded = lgb.Booster(model_str=booster.model_to_string())
    assert_array_equal(CompiledTrees([loaded]).predict(rows, 0), expected)


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "split_feature" in node:
        yield node
        yield from _nodes(node["left_child"])
        yield from _nodes(node["right_child"])


def test_compiled_trees_read_each_boosters_columns_of_a_wider_row(
        mixed_booster: lgb.Booster, zero_missing_booster: lgb.Booster) -> None:
    rng = np.random.default_rng(11)
    a = edge_rows(mixed_booster, rng, n_random=20)[:300]
    b = edge_rows(zero_missing_booster, rng, n_random=20)[:300]
    wide = rng.normal(size=(300, 14))
    columns = [[13, 2, 5, 7, 0, 9], [1, 3, 4, 6, 8, 10]]
    wide[:, columns[0]] = a
    wide[:, columns[1]] = b
    compiled = CompiledTrees([mixed_booster, zero_missing_booster], columns)
    both = compiled.predict(wide)
    assert both.shape == (300, 2)
    assert_array_equal(both[:, 0], mixed_booster.predict(a, num_threads=1))
    assert_array_equal(both[:, 1], zero_missing_booster.predict(b, num_threads=1))
    assert_array_equal(compiled.predict(wide, 1), both[:, 1])
    with pytest.raises(ValueError, match="at least 14 values"):
        compiled.predict(wide[:, :13])
    with pytest.raises(ValueError, match="5 columns for a booster of 6 features"):
        CompiledTrees([mixed_booster], [[0, 1, 2, 3, 4]])


def test_a_booster_whose_prediction_is_not_the_raw_score_is_left_to_lightgbm() -> None:
    rng = np.random.default_rng(12)
    x = rng.normal(size=(300, 3))
    counts = rng.poisson(np.exp(x[:, 0].clip(-2, 2)))
    poisson = lgb.train({"objective": "poisson", "verbose": -1, "num_threads": 1},
                        lgb.Dataset(x, counts), num_boost_round=5)
    with pytest.raises(UnsupportedTrees, match=r"'poisson'.*not the raw score"):
        CompiledTrees([poisson])
    trees = trees_for([poisson])
    assert isinstance(trees, LightGBMTrees)
    wide = np.column_stack([rng.normal(size=300), x])
    shifted = trees_for([poisson], [[1, 2, 3]])
    assert_array_equal(trees.predict(x, 0), poisson.predict(x, num_threads=1))
    assert_array_equal(shifted.predict(wide)[:, 0], poisson.predict(x, num_threads=1))


def test_compiled_trees_on_many_threads_give_each_its_own_answer(
        mixed_booster: lgb.Booster) -> None:
    from concurrent.futures import ThreadPoolExecutor

    rows = edge_rows(mixed_booster, np.random.default_rng(13))
    expected = mixed_booster.predict(rows, num_threads=1)
    compiled = CompiledTrees([mixed_booster])
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda k: compiled.predict(rows[k:], 0), range(8)))
    for k, answer in enumerate(answers):
        assert_array_equal(answer, expected[k:])


def test_estimator_predictions_are_each_boosters_own_on_its_block(
        fitted_estimator: SSIEstimator) -> None:
    """The estimator's compiled trees read every pillar's block of a feature row: at every
    threshold of every booster, its predictions are ``Booster.predict`` on that block."""
    rng = np.random.default_rng(14)
    width = len(fitted_estimator.feature_names)
    index = fitted_estimator._block_index()
    for j, p in enumerate(PILLARS):
        booster = fitted_estimator.boosters[p]
        block = edge_rows(booster, rng, n_random=50)
        x = rng.normal(scale=5.0, size=(len(block), width))
        x[:, index[p]] = block
        expected = np.clip(booster.predict(block, num_threads=1), 0.0, 25.0)
        assert_array_equal(fitted_estimator.predict_matrix(x)[:, j], expected)


def test_a_large_batch_scored_in_a_pipeline_equals_one_pass(
        fitted_estimator: SSIEstimator, monkeypatch: pytest.MonkeyPatch) -> None:
    """From two chunks' worth of rows, ``predict`` walks the trees of one chunk on a worker thread
    while it reads the next: the table is the one a single pass gives, for frames (with and
    without member ids: rows are numbered as the whole frame numbers them), records and
    batches."""
    from api_helpers import sample_rows
    from ssi_model.batch import as_batch
    from ssi_model.contract import CONTRACT
    from ssi_model.model import estimator as module

    frame = sample_rows(150, seed=21).reset_index(drop=True)
    n = len(frame)
    assert n > 4 * 32
    unnamed = frame.drop(columns="member_id")

    def one_pass(rows: Any) -> pd.DataFrame:
        batch = as_batch(rows)
        pillars = fitted_estimator.predict_matrix(fitted_estimator.builder.features(batch))
        return fitted_estimator.predictions(batch, pillars).to_frame()

    expected = {"frame": one_pass(frame), "unnamed": one_pass(unnamed)}
    monkeypatch.setattr(module, "PIPELINE_ROWS", 32)
    walked: list[int] = []
    predict = module.CompiledTrees.predict

    def counted(self: Any, x: np.ndarray, booster: int | None = None) -> np.ndarray:
        walked.append(len(x))
        return predict(self, x, booster)

    monkeypatch.setattr(module.CompiledTrees, "predict", counted)
    for rows, key in ((frame, "frame"), (unnamed, "unnamed"),
                      (CONTRACT.to_records(frame), "frame"), (as_batch(frame), "frame")):
        walked.clear()
        pd.testing.assert_frame_equal(fitted_estimator.predict(rows).to_frame(), expected[key])
        assert walked == [32, 32, 32, 32, n - 128]
    assert expected["unnamed"]["member_id"].tolist() == [str(i) for i in range(n)]
