"""The prediction API (FastAPI): the MLflow champion behind predict, explain, report and export
endpoints. ``create_app(settings)`` builds the app; ``serve(host, port)`` runs it."""

from ssi_model.api.app import create_app, serve

__all__ = ["create_app", "serve"]
