"""FastAPI dependencies: what an endpoint needs from the running app (all set up in the lifespan)."""
from __future__ import annotations

from fastapi import Request

from laanet.service.admission import Admission
from laanet.service.health import HealthMonitor
from laanet.service.inference import InferenceWorker
from laanet.service.jobs import JobRunner
from laanet.service.settings import ServeSettings


def get_settings(request: Request) -> ServeSettings:
    return request.app.state.settings


def get_detector(request: Request):
    """The :class:`laanet.inference.detector.Detector` in use (loaded in the lifespan; replaced when the
    health monitor reloads a broken one)."""
    return request.app.state.detector


def get_worker(request: Request) -> InferenceWorker:
    """The inference threads."""
    return request.app.state.worker


def get_admission(request: Request) -> Admission:
    """Upload places, analysis slots and their queue."""
    return request.app.state.admission


def get_monitor(request: Request) -> HealthMonitor:
    """The model's self-check and failure record."""
    return request.app.state.monitor


def get_jobs(request: Request) -> JobRunner:
    """The asynchronous jobs (queue, workers, store)."""
    return request.app.state.jobs
