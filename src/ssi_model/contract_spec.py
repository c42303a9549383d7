"""The contract's declaration as read from ``contract.yaml``, and the report languages, without
pandas: for code that must start fast (the ``ssi`` command builds its options from them).

:mod:`ssi_model.contract` builds the :class:`~ssi_model.contract.Contract` from :func:`spec`;
everything else should use that.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

SOURCE_LANG = "en"


@cache
def spec() -> dict[str, Any]:
    """``contract.yaml``, parsed (read once; do not change the returned dict)."""
    text = resources.files("ssi_model").joinpath("contract.yaml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def context_categories() -> dict[str, tuple[str, ...]]:
    """The context columns a member or coach states (industry, role family, …): their values."""
    return {c["name"]: tuple(c["values"]) for c in spec()["columns"]
            if c["group"] == "context" and c["kind"] == "category"}


@cache
def languages() -> tuple[str, ...]:
    """The languages with a report catalogue (``report/locales/<lang>/``), English first.

    Read from the package's files, so adding a catalogue folder adds a language everywhere;
    ``ssi_model.report`` is not imported.
    """
    folder = resources.files("ssi_model").joinpath("report", "locales")
    found = sorted(p.name for p in folder.iterdir()
                   if p.is_dir() and p.joinpath("LC_MESSAGES").is_dir())
    return tuple(sorted(found, key=lambda lang: lang != SOURCE_LANG))
