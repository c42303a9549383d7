"""Settings from the environment (pydantic-settings); read when asked, never at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
MiB = 1024 * 1024


class Settings(BaseSettings):
    """Where MLflow lives and which registered model the CLI and the API use.

    ``MLFLOW_TRACKING_URI`` overrides the embedded SQLite store everywhere (CLI, API, notebooks,
    tests). ``SSI_MODEL_NAME`` is the one name of the registered model: training registers under
    it and promote, predict, explain, report and the API load it (experiment configs carry no
    name); ``SSI_MODEL_ALIAS`` is the alias they serve (``tracking.registry.Registry``). The API
    also reads ``SSI_API_KEY`` (when set, ``/v1`` needs it in ``X-API-Key``),
    ``SSI_RELOAD_SECONDS`` (how often it checks whether the alias moved; 0: never),
    ``SSI_MAX_BODY_BYTES`` (JSON bodies) and ``SSI_MAX_UPLOAD_BYTES`` (export uploads).
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    mlflow_tracking_uri: str = Field(DEFAULT_TRACKING_URI, alias="MLFLOW_TRACKING_URI")
    ssi_model_name: str = Field("ssi-estimator", alias="SSI_MODEL_NAME")
    ssi_model_alias: str = Field("champion", alias="SSI_MODEL_ALIAS")
    ssi_api_key: str | None = Field(None, alias="SSI_API_KEY")
    ssi_reload_seconds: float = Field(30.0, alias="SSI_RELOAD_SECONDS", ge=0)
    ssi_max_body_bytes: int = Field(4 * MiB, alias="SSI_MAX_BODY_BYTES", ge=1024)
    ssi_max_upload_bytes: int = Field(32 * MiB, alias="SSI_MAX_UPLOAD_BYTES", ge=1024)
    # the key behind pseudonymous member ids from exports; generated on first use, never in git
    ssi_secret_file: Path = Field(Path(".ssi-secret"), alias="SSI_SECRET_FILE")

    def resolved_tracking_uri(self) -> str:
        """A relative SQLite path is made absolute, so the store does not move with the cwd."""
        uri = self.mlflow_tracking_uri
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
            return prefix + str(Path(uri[len(prefix):]).resolve())
        return uri


def get_settings() -> Settings:
    return Settings()
