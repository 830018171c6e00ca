"""Is the model still working? A self-check on a bundled photo, the last failure, and recovery by reloading.

The self-check runs the detector on a small bundled face photo (on an inference thread) and fails when
detection raises, reports an error, finds no face where the start-up check found one, or gives a non-finite
score. It runs

- at start-up (a failure stops start-up: the server never serves a model that cannot score one photo);
- after every request that fails unexpectedly (500): when the check fails too, the detector is reloaded once
  (a face backend left broken by one input recovers this way); if the reloaded one fails as well the service
  is ``error``: ``/health`` answers 503 with the reason and ``POST /v1/detect`` answers 503
  (``model_unavailable``) instead of a 500 per request, and a new reload is tried every
  :data:`RECOVERY_INTERVAL_S` seconds;
- in the background, from ``/health``, when the last check is older than ``health_check_interval_s``.
"""
from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import numpy as np

from laanet.service.errors import ModelUnavailable
from laanet.service.inference import InferenceWorker
from laanet.service.settings import ServeSettings

_log = logging.getLogger(__name__)
PROBE_SAMPLE = "grace_hopper.jpg"  # one frontal face; detected by every face backend
PROBE_MAX_SIDE = 320
RECOVERY_INTERVAL_S = 30.0
_PATH_DIRS = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\s'\"\\/:,;()\[\]]+)+[\\/]")  # directories of a path


class SelfCheckFailed(RuntimeError):
    """The detector could not score the bundled test photo."""


def hide_paths(message: str) -> str:
    """``message`` with the directories of any absolute path removed (file names are kept)."""
    return _PATH_DIRS.sub("", message)


def probe_image() -> np.ndarray:
    """The self-check's test photo: a bundled single-face photo, at most 320 px on a side, H×W×3 uint8 RGB."""
    import cv2

    from laanet.assets import sample_path
    from laanet.media import read_image

    image = read_image(sample_path(PROBE_SAMPLE))
    scale = PROBE_MAX_SIDE / max(image.shape[:2])
    if scale < 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def self_check(detector: Any, probe: np.ndarray, expect_face: bool) -> int:
    """Blocking: detect on ``probe``; the number of faces found.

    Raises:
        SelfCheckFailed: detection raised or reported an error, found no face although ``expect_face``, or
            gave a non-finite score.
    """
    try:
        result = detector.detect(probe.copy(), keep_overlays=False)
    except Exception as err:  # noqa: BLE001 - whatever broke, the check reports it
        raise SelfCheckFailed(f"detection on the test photo failed: {type(err).__name__}: {err}") from err
    if result.status == "error":
        raise SelfCheckFailed(f"detection on the test photo failed: {result.error}")
    faces = [face for frame in result.frames for face in frame.faces]
    if expect_face and not faces:
        raise SelfCheckFailed("the face detector no longer finds the face in the test photo")
    if any(not math.isfinite(face.logit) for face in faces):
        raise SelfCheckFailed("the model gives non-finite scores (NaN or infinity): the weights are broken")
    return len(faces)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class HealthMonitor:
    """The service's verdict on its own model; owns ``state.detector`` (replaced when a reload recovers).

    Args:
        state: the app's ``app.state``; ``state.detector`` is the detector in use.
        worker: the inference threads (checks and reloads run there, in line with analyses).
        loader: builds a fresh detector from ``settings`` (the same one the lifespan used).
        settings: the service settings.
    """

    def __init__(self, state: Any, worker: InferenceWorker, loader: Callable[[ServeSettings], Any],
                 settings: ServeSettings) -> None:
        self.state, self.worker, self.loader, self.settings = state, worker, loader, settings
        self.status = "ok"  # "ok" | "error"
        self.problem: str | None = None  # why the status is "error"
        self.failed_requests = 0  # requests answered 500
        self.last_failure: dict[str, str] | None = None  # {"at", "detail"} of the last one
        self.reloads = 0
        self.checked_at: str | None = None
        self._checked_mono = -math.inf
        self._recovery_mono = -math.inf
        self._expect_face = False
        self._probe: np.ndarray | None = None
        self._task: asyncio.Task[None] | None = None

    # -- checks --------------------------------------------------------------------------------------------

    def _check(self, detector: Any) -> int:
        if self._probe is None:
            self._probe = probe_image()
        return self_check(detector, self._probe, self._expect_face)

    async def startup_check(self) -> None:
        """Run the first self-check; remember whether it found a face (later checks then expect one)."""
        if not self.settings.self_check:
            return
        faces = await self.worker.call(self._check, self.state.detector)
        self._expect_face = faces > 0
        self._mark_checked()

    async def check(self, *, recover: bool) -> None:
        """Run a self-check (one at a time: a caller arriving during one waits for it); on failure with
        ``recover``, reload the detector and check the new one."""
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run_check(recover))
        await asyncio.shield(self._task)

    async def _run_check(self, recover: bool) -> None:
        try:
            await self.worker.call(self._check, self.state.detector)
        except SelfCheckFailed as err:
            _log.error("model self-check failed: %s", err)
            if not recover:
                self._set_error(str(err))
                return
            self._recovery_mono = time.monotonic()
            try:
                fresh = await self.worker.call(self.loader, self.settings)
                await self.worker.call(self._check, fresh)
            except Exception as reload_err:  # noqa: BLE001 - reported through /health
                self._set_error(f"{err}; reloading the model did not help: {reload_err}")
                return
            self.state.detector, self.reloads = fresh, self.reloads + 1
            _log.warning("the detector was reloaded and passes its self-check again")
        self.status, self.problem = "ok", None
        self._mark_checked()

    def _set_error(self, problem: str) -> None:
        self.status, self.problem = "error", hide_paths(problem)
        self._mark_checked()
        _log.error("the model is unavailable: %s", problem)

    def _mark_checked(self) -> None:
        self.checked_at, self._checked_mono = _now_iso(), time.monotonic()

    # -- hooks for the endpoints ---------------------------------------------------------------------------

    async def request_failed(self, err: BaseException) -> None:
        """A request failed unexpectedly: record it and check the model (reloading it if the check fails)."""
        self.failed_requests += 1
        self.last_failure = {"at": _now_iso(), "detail": hide_paths(f"{type(err).__name__}: {err}")}
        if self.settings.self_check:
            await self.check(recover=True)

    def poll(self) -> None:
        """From ``/health`` and each request: start a background check when one is due (never waits)."""
        if not self.settings.self_check or (self._task is not None and not self._task.done()):
            return
        now = time.monotonic()
        if self.status == "error":
            if now - self._recovery_mono >= RECOVERY_INTERVAL_S:
                self._task = asyncio.ensure_future(self._run_check(recover=True))
        elif self.settings.health_check_interval_s and now - self._checked_mono >= self.settings.health_check_interval_s:
            self._task = asyncio.ensure_future(self._run_check(recover=True))

    def raise_if_unavailable(self) -> None:
        """503 ``model_unavailable`` while the model is broken (rather than a 500 for every request)."""
        if self.status != "ok":
            since = time.monotonic() - self._recovery_mono if math.isfinite(self._recovery_mono) else 0.0
            wait = max(1, math.ceil(RECOVERY_INTERVAL_S - since))
            raise ModelUnavailable(f"the model is unavailable: {self.problem}", headers={"Retry-After": str(wait)})

    def report(self) -> dict[str, Any]:
        """The ``/health`` fields about the model's state."""
        return {
            "status": self.status,
            "problem": self.problem,
            "self_check": {"enabled": self.settings.self_check, "last_run": self.checked_at},
            "failed_requests": self.failed_requests,
            "last_failure": self.last_failure,
            "reloads": self.reloads,
        }

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
