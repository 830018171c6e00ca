"""FastAPI dependencies: what an endpoint needs from the running app.

Tests replace the model with ``app.dependency_overrides[get_detector] = lambda: fake``.
"""
from __future__ import annotations

from fastapi import Request

from laanet.service.inference import InferenceWorker
from laanet.service.settings import ServeSettings


def get_settings(request: Request) -> ServeSettings:
    return request.app.state.settings


def get_detector(request: Request):
    """The one :class:`laanet.inference.detector.Detector` loaded in the lifespan."""
    return request.app.state.detector


def get_worker(request: Request) -> InferenceWorker:
    """The inference thread and admission limit."""
    return request.app.state.worker
