"""Drivers, levers and plans: why each pillar is where it is, and what would raise it."""

from ssi_model.explain.catalogue import Catalogue, load_catalogue
from ssi_model.explain.document import translate
from ssi_model.explain.explain import explain_rows
from ssi_model.explain.schema import Explanation, ModelInfo

__all__ = ["Catalogue", "Explanation", "ModelInfo", "explain_rows", "load_catalogue", "translate"]
