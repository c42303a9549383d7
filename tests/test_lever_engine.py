"""The lever engine: a different lever per row in one pass gives what each lever gives alone.

Explanations apply every lever to every member (``lever_variants``) and bundles position by
position (``plans.score_bundles``) in single engine calls; ``apply_lever`` applies one lever to
one table. Both must give, row for row, the values and the verdict of the lever applied to the
member's row on its own.
"""

from __future__ import annotations

import numpy as np
import pytest

from ssi_model.batch import NUMERIC_COLUMNS, ProfileBatch
from ssi_model.contract import CONTRACT
from ssi_model.explain.catalogue import _cap, apply_lever, load_catalogue
from ssi_model.explain.variants import lever_variants
from ssi_model.simulator import simulate_cohort
from ssi_model.validation import validate


@pytest.fixture(scope="module")
def table() -> ProfileBatch:
    """A validated simulated cohort (it has unknown cells, every subscription), with members
    pushed to the ceiling of some lever, made unknown in its column, or (a few, unvalidated)
    outside a range in columns no lever writes but that rules on written ones read."""
    batch = ProfileBatch.from_frame(validate(simulate_cohort(80, 17)).clean)
    rng = np.random.default_rng(3)
    levers = load_catalogue().levers
    columns = {c: batch[c].copy() for c in NUMERIC_COLUMNS}
    for i in range(len(batch)):
        change = levers[rng.integers(len(levers))].changes[0]
        pick = rng.random()
        if pick < 0.3 and change.op == "add":
            columns[change.column][i] = _cap(change.column, change.ceiling)
        elif pick < 0.4:
            columns[change.column][i] = np.nan
        elif pick < 0.5:  # no lever writes these; a rule on a column one writes reads them
            for column in ("positions_count", "messages_received_90d"):
                columns[column][i] = (CONTRACT[column].numeric_bound("max") or 0.0) + 1
    assert not set(columns) - set(batch)
    return batch.with_values(columns)


def _same_row(batch: ProfileBatch, i: int, alone: ProfileBatch) -> None:
    for c in NUMERIC_COLUMNS:
        np.testing.assert_array_equal(batch[c][i:i + 1], alone[c], err_msg=c)


def test_every_variant_is_the_lever_applied_to_the_member_alone(table: ProfileBatch) -> None:
    catalogue = load_catalogue()
    variants = lever_variants(table, catalogue)
    found = {(int(m), int(j)): k for k, (m, j) in enumerate(zip(variants.member, variants.lever,
                                                               strict=True))}
    assert 0 < len(found) < len(table) * len(catalogue.levers)  # some apply, some do not
    for i in range(len(table)):
        for j, lever in enumerate(catalogue.levers):
            alone = table.take([i])
            applied = bool(apply_lever(lever, alone)[0])
            assert applied == ((i, j) in found), (i, lever.id)
            if applied:
                _same_row(variants.rows, found[i, j], alone)
                assert variants.changes[found[i, j]] == {
                    c: pytest.approx(alone[c][0]) for c in lever.columns}


def test_levers_in_sequence_per_row_equal_each_applied_alone(table: ProfileBatch) -> None:
    """As bundles are scored: per position one engine call, each row its own lever or none."""
    catalogue = load_catalogue()
    rng = np.random.default_rng(11)
    member = rng.integers(0, len(table), 300)
    lever = rng.integers(-1, len(catalogue.levers), size=(3, len(member)))
    work = table.take(member)
    applied = np.array([catalogue.engine.apply_in_place(work, at) for at in lever])
    assert applied.any() and not applied.all()
    for r, i in enumerate(member):
        alone = table.take([i])
        for k in range(3):
            expected = lever[k, r] >= 0 and apply_lever(catalogue.levers[lever[k, r]], alone)[0]
            assert applied[k, r] == expected, (r, k)
        _same_row(work, r, alone)


def test_no_members_no_variants(table: ProfileBatch) -> None:
    variants = lever_variants(table.take([]), load_catalogue())
    assert len(variants.rows) == 0 and not variants.changes
