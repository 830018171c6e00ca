"""``laanet serve``: the detector behind an HTTP API and a one-page web UI (FastAPI + uvicorn).

>>> from laanet.inference.options import InferenceOptions
>>> from laanet.service import ServeSettings, create_app
>>> app = create_app(ServeSettings(InferenceOptions(weights="model.pt")))   # the model loads once, in the lifespan
>>> # uvicorn.run(app, host="127.0.0.1", port=8000)

Layout: :mod:`~laanet.service.app` builds the app (lifespan, error handlers, static files),
:mod:`~laanet.service.routes` holds the endpoints, :mod:`~laanet.service.deps` the dependencies
(``get_detector``: the loaded detector, which tests may swap with ``create_app(..., loader=...)``), :mod:`~laanet.service.uploads` streams a multipart upload to a
temporary folder with the size limit checked as bytes arrive, :mod:`~laanet.service.inference` runs
detection on the inference threads, and :mod:`~laanet.service.jobs` (with :mod:`~laanet.service.job_store`,
SQLite + files) runs the asynchronous jobs of ``POST /v1/jobs``, which survive restarts. See ``docs/serve.md``.
"""
from __future__ import annotations

from laanet.service.app import create_app, load_detector
from laanet.service.settings import ServeSettings

__all__ = ["ServeSettings", "create_app", "load_detector"]
