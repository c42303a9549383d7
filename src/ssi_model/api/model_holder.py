"""The served model's lifecycle: load the champion, watch the alias, swap without a pause.

At start-up the version the alias (``champion``) points to is loaded and held in memory. A
background task then asks the registry every ``SSI_RELOAD_SECONDS`` where the alias points
(``get_model_version_by_alias``); when it moved, the new version is loaded in a worker thread
while the old one keeps answering, and is put in service by one reference assignment, so a
request sees either the old model or the new one, never a mix. If the new version fails to load,
the old one stays, and ``/v1/model`` and the log say why. With no champion at all the holder holds
nothing and says what to run.

The model's name and alias are the ``Registry``'s (``SSI_MODEL_NAME``, ``SSI_MODEL_ALIAS``), and it
loads a version the one way the CLI does too: the estimator folder (native LightGBM boosters and a
JSON bundle) from the version's artifacts, read by this code's ``SSIEstimator.load``, not the
pyfunc wrapper: no code from the registry is imported into the server, and nothing is unpickled.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import numpy as np

from ssi_model.api.schemas import ModelRef
from ssi_model.contract import CONTRACT
from ssi_model.explain.schema import ModelInfo
from ssi_model.model.estimator import SSIEstimator
from ssi_model.model.provenance import Provenance, origin_fields
from ssi_model.settings import Settings
from ssi_model.tracking.registry import TRAIN_HINT, NoChampion, Registry

__all__ = ["TRAIN_HINT", "LoadFailure", "ModelHolder", "NoChampion", "RegistryView",
           "ServedModel", "check_estimator", "load_served", "run_in_daemon_thread"]

log = logging.getLogger("ssi_model.api.model")

T = TypeVar("T")


@dataclass(frozen=True)
class ServedModel:
    """One loaded registry version and what the API reports about it."""

    estimator: SSIEstimator
    name: str
    version: str
    alias: str
    run_id: str | None
    trained_at: str | None
    holdout_metrics: dict[str, float]
    loaded_at: datetime

    # Made once per loaded model, then read by every request (a frozen dataclass still has
    # the instance dict cached_property writes to).
    @functools.cached_property
    def provenance(self) -> Provenance | None:
        """What the model learnt from; None for a version saved before that was recorded."""
        return Provenance.of_meta(self.estimator.meta)

    @functools.cached_property
    def ref(self) -> ModelRef:
        """The ``model`` block of every answer: name, version, alias and what it learnt from."""
        return ModelRef(name=self.name, version=self.version, alias=self.alias,
                        **origin_fields(self.provenance))

    @functools.cached_property
    def info(self) -> ModelInfo:
        """The ``model`` block of the explanation documents this model writes."""
        return ModelInfo(name=self.name, version=self.version, run_id=self.run_id,
                         trained_at=self.trained_at, **origin_fields(self.provenance))


@dataclass(frozen=True)
class LoadFailure:
    version: str | None
    message: str
    at: datetime


@dataclass
class RegistryView:
    """What the holder last learnt from the registry."""

    alias_version: str | None = None
    checked_at: datetime | None = None
    last_error: LoadFailure | None = None
    reason: str | None = "the model has not been loaded yet"


VersionLoader = Callable[[str], ServedModel]
AliasResolver = Callable[[], str]


def _now() -> datetime:
    return datetime.now(UTC)


def _short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= limit else first[: limit - 1] + "…"


def load_served(registry: Registry, version: str) -> ServedModel:
    """Load ``version`` of the registry's model and check that it predicts."""
    estimator, info = registry.load(version)
    check_estimator(estimator)
    metrics = estimator.meta.get("holdout_metrics") or {}
    return ServedModel(
        estimator=estimator,
        name=registry.name,
        version=str(version),
        alias=registry.alias,
        run_id=info.run_id,
        trained_at=info.trained_at,
        holdout_metrics={str(k): float(v) for k, v in metrics.items()
                         if isinstance(v, int | float) and math.isfinite(v)},
        loaded_at=_now(),
    )


def check_estimator(estimator: SSIEstimator) -> None:
    """Score one all-unknown profile: a version that loads but cannot predict is refused, and the
    first real request does not pay for lazy set-up."""
    (row,) = estimator.predict([{"member_id": "warm-up"}]).to_records()
    values = np.array([v for k, v in row.items() if k != "member_id"], dtype=float)
    if not np.all(np.isfinite(values)) or not 0 <= row["ssi_total"] <= CONTRACT.total_max:
        raise ValueError("the model's predictions for a test profile are not valid")


class ModelHolder:
    """Holds the served model (``current``) and refreshes it from the registry.

    ``registry`` (default: one for ``settings``) names the model and the alias; tests may pass
    ``resolve_alias`` and ``load_version`` instead, to play a registry.
    """

    def __init__(self, settings: Settings, *, registry: Registry | None = None,
                 resolve_alias: AliasResolver | None = None,
                 load_version: VersionLoader | None = None) -> None:
        self.name = registry.name if registry else settings.ssi_model_name
        self.alias = registry.alias if registry else settings.ssi_model_alias
        self.reload_seconds = settings.ssi_reload_seconds
        if resolve_alias is None or load_version is None:
            registry = registry or Registry(settings)
            resolve_alias = resolve_alias or registry.resolve
            load_version = load_version or functools.partial(load_served, registry)
        self._resolve_alias = resolve_alias
        self._load_version = load_version
        self.current: ServedModel | None = None
        self.view = RegistryView()
        self._refreshing = threading.Lock()
        self._failed_logged: str | None = None
        self._registry_failing = False

    # -- one look at the registry (blocking: call it from a worker thread) -----------------------

    def refresh(self) -> bool:
        """Serve the alias's version if it is not already served; True if the model changed.

        Never raises: a registry that cannot be reached, or a version that fails to load, leaves
        the served model as it is and is recorded in ``view`` and the log.
        """
        if not self._refreshing.acquire(blocking=False):
            return False  # the previous look is still running (a slow registry)
        try:
            return self._refresh()
        finally:
            self._refreshing.release()

    def _refresh(self) -> bool:
        view = self.view
        try:
            version = self._resolve_alias()
        except NoChampion as exc:
            self._registry_failing = False
            view.alias_version, view.checked_at = None, _now()
            if self.current is None:
                if view.reason != str(exc):
                    log.warning("%s", exc)
                view.reason = str(exc)
            return False
        # Anything else (an unreachable registry) must not stop serving: note it, try again.
        except Exception as exc:
            view.checked_at = _now()
            if not self._registry_failing:  # once per outage, not once per poll
                log.warning("cannot read the registry for %s@%s (will keep trying): %s",
                            self.name, self.alias, _short(exc))
                self._registry_failing = True
            if self.current is None:
                view.reason = f"cannot read the model registry ({type(exc).__name__})"
            return False
        if self._registry_failing:
            log.info("the registry answers again")
            self._registry_failing = False
        view.alias_version, view.checked_at = version, _now()
        served = self.current
        if served is not None and served.version == version:
            view.last_error, self._failed_logged = None, None  # the alias came back
            return False
        try:
            loaded = self._load_version(version)
        # Whatever a broken version raises, the served model stays.
        except Exception as exc:
            failure = LoadFailure(version=version, message=_short(exc), at=_now())
            view.last_error = failure
            keeping = (f"still serving version {served.version}" if served is not None
                       else "nothing is served")
            if self._failed_logged != version:
                log.error("%s version %s (alias %s) failed to load, %s: %s", self.name, version,
                          self.alias, keeping, failure.message, exc_info=exc)
                self._failed_logged = version
            if served is None:
                view.reason = f"the champion (version {version}) failed to load: {failure.message}"
            return False
        self.current = loaded  # the swap: one reference assignment
        view.last_error, view.reason, self._failed_logged = None, None, None
        log.info("serving %s version %s (alias %s%s)", self.name, loaded.version, self.alias,
                 f"; was version {served.version}" if served is not None else "")
        return True

    # -- in the event loop ------------------------------------------------------------------------

    async def refresh_async(self) -> bool:
        return await run_in_daemon_thread(self.refresh)

    async def watch(self) -> None:
        """Check the alias every ``reload_seconds`` until cancelled (never when it is 0)."""
        if self.reload_seconds <= 0:
            return
        while True:
            await asyncio.sleep(self.reload_seconds)
            await self.refresh_async()


async def run_in_daemon_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a daemon thread and await it.

    Not the default executor: a registry call that hangs (MLflow retries for minutes) must not
    keep the process from shutting down.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = fn(), None
        except BaseException as exc:  # handed over to the awaiting coroutine
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="ssi-model-refresh", daemon=True).start()
    return await future
