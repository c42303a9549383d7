"""The suite's own rules (tests/conftest.py): every test gets one layer, and in CI a missing
browser fails the browser tests instead of skipping them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import LAYERS, layer_of, require_chromium


@dataclass
class FakeItem:
    """What layer_of reads from a collected test: its fixtures and its markers."""

    fixturenames: list[str]
    markers: set[str] = field(default_factory=set)

    def get_closest_marker(self, name: str) -> object | None:
        return name if name in self.markers else None


@pytest.mark.parametrize(("fixtures", "markers", "layer"), [
    (["tmp_path"], set(), "unit"),
    (["fitted_estimator", "tmp_path"], set(), "unit"),
    (["trained", "tmp_path"], set(), "model"),
    (["mlflow_uri"], set(), "model"),
    (["stack", "champion", "small_config"], set(), "system"),
    (["browser", "chromium"], set(), "system"),
    (["trained", "notebook_runs"], set(), "system"),
    (["tmp_path"], {"system"}, "system"),
    (["tmp_path", "monkeypatch"], {"model"}, "model"),
])
def test_the_layer_follows_the_fixtures_and_explicit_markers(
        fixtures: list[str], markers: set[str], layer: str) -> None:
    assert layer_of(FakeItem(fixtures, markers)) == layer  # type: ignore[arg-type]


def test_every_collected_test_has_exactly_one_layer(request: pytest.FixtureRequest) -> None:
    for item in request.session.items:
        assert [name for name in LAYERS if item.get_closest_marker(name)] == [layer_of(item)], \
            item.nodeid


def test_a_missing_browser_skips_here_and_fails_in_ci(tmp_path: Path) -> None:
    absent = (tmp_path / "chromium", tmp_path / "chromedriver")
    with pytest.raises(pytest.skip.Exception, match="make system-deps"):
        require_chromium(absent, ci=False)
    with pytest.raises(pytest.fail.Exception, match="make system-deps"):
        require_chromium(absent, ci=True)
    for binary in absent:
        binary.touch()
    assert require_chromium(absent, ci=True) == absent
