"""What ``laanet serve`` is configured with: one frozen dataclass, validated on construction."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from laanet.inference.options import InferenceOptions


@dataclass(frozen=True)
class ServeSettings:
    """Settings of the detection service.

    Attributes:
        inference: how files are scored (weights, backend, device, threshold, face backend, batch size), the
            same :class:`~laanet.inference.options.InferenceOptions` as ``laanet detect`` and the Python API;
            its ``frames`` and ``flip_test`` are the defaults of the requests' form fields.
        max_upload_mb: largest accepted upload (MiB of file content); larger uploads get 413 as soon as the
            limit is passed while streaming.
        max_concurrency: analysis slots: analyses in flight at once (running on an inference thread or next in
            line for one). A request takes one only once its upload is complete.
        inference_threads: threads running analyses on the one shared detector. 1 suits a CPU (parallel
            requests would only split the same cores); on a GPU, 2-4 overlap one request's face detection and
            decoding with another's forward pass. At most ``max_concurrency``.
        queue_size: requests with a complete upload that may wait for an analysis slot; one more gets 503
            with ``Retry-After``.
        queue_timeout_s: the longest a request waits in that queue before it gets 503 with ``Retry-After``.
        max_uploads: uploads received at once (they hold no analysis slot); one more gets 503 before its body
            is read. Bounds the temporary disk use to ``max_uploads`` x ``max_upload_mb``.
        upload_timeout_s: the whole request body must arrive within this many seconds, else 408 (a client
            trickling its upload is cut off; it never holds an analysis slot meanwhile).
        health_check_interval_s: ``/health`` re-runs the model self-check (one small bundled photo, on the
            inference threads, in the background) when the last one is older than this; 0 = only at start-up
            and after a failed request.
        self_check: run the self-check at start-up (a model that fails it stops start-up) and after every
            request that fails unexpectedly (a model or face detector that keeps failing is reloaded once;
            ``/health`` answers 503 while it is broken).
        max_frames: the largest ``frames`` a request may ask for.
        max_pixels: images and video frames declaring more pixels (width x height) are refused with 413 before
            anything is decoded (decompression bombs); None = ``LAANET_MAX_PIXELS``, else 120 MP (see
            :mod:`laanet.media.limits`); 0 = no limit.
        overlay_max_side: heatmap overlays are returned as JPEG data URLs at most this many pixels on a side.
        upload_dir: parent folder of the per-request temporary folders (None = the system temp folder).
        jobs_dir: where asynchronous jobs (``POST /v1/jobs``) live: a SQLite database, each job's upload until
            it finishes, and each finished result (see :mod:`laanet.service.job_store`). Jobs and results in it
            survive a restart or a crash. None = a temporary folder removed when the server stops (``laanet
            serve`` defaults to a folder in the user's data directory instead).
        max_jobs: jobs queued or running at once; one more gets 503 with ``Retry-After``. Bounds the jobs'
            disk use to ``max_jobs`` x ``max_upload_mb`` of uploads, plus the results kept.
        job_workers: jobs analysed at once (each takes one of the ``max_concurrency`` analysis slots, queued
            with the ``/v1/detect`` requests); at most ``max_concurrency``.
        job_retention_s: finished jobs (and their result files) are deleted this many seconds after they
            finished; None = never by age.
        job_keep: at most this many finished jobs are kept (the oldest are deleted first); None = no count limit.
    """

    inference: InferenceOptions = field(default_factory=InferenceOptions)
    max_upload_mb: float = 50.0
    max_concurrency: int = 4
    inference_threads: int = 1
    queue_size: int = 16
    queue_timeout_s: float = 300.0
    max_uploads: int = 32
    upload_timeout_s: float = 120.0
    health_check_interval_s: float = 300.0
    self_check: bool = True
    max_frames: int = 128
    max_pixels: int | None = None
    overlay_max_side: int = 960
    upload_dir: Path | None = None
    jobs_dir: Path | None = None
    max_jobs: int = 64
    job_workers: int = 1
    job_retention_s: float | None = 7 * 24 * 3600.0
    job_keep: int | None = 1000

    def __post_init__(self) -> None:
        if not isinstance(self.inference, InferenceOptions):
            raise TypeError(f"inference must be InferenceOptions, got {type(self.inference).__name__}")
        if self.max_upload_mb <= 0:
            raise ValueError(f"max_upload_mb must be positive, got {self.max_upload_mb}")
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {self.max_concurrency}")
        if not 1 <= self.inference_threads <= self.max_concurrency:
            raise ValueError(
                f"inference_threads must be between 1 and max_concurrency={self.max_concurrency}, got {self.inference_threads}"
            )
        if self.queue_size < 0:
            raise ValueError(f"queue_size must be at least 0, got {self.queue_size}")
        if self.max_uploads < 1:
            raise ValueError(f"max_uploads must be at least 1, got {self.max_uploads}")
        for name in ("queue_timeout_s", "upload_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.health_check_interval_s < 0:
            raise ValueError(f"health_check_interval_s must be at least 0, got {self.health_check_interval_s}")
        if self.inference.frames > self.max_frames:
            raise ValueError(f"frames must be at most max_frames={self.max_frames}, got {self.inference.frames}")
        if self.max_pixels is not None and self.max_pixels < 0:
            raise ValueError(f"max_pixels must be at least 0 (0: no limit), got {self.max_pixels}")
        if self.max_jobs < 1:
            raise ValueError(f"max_jobs must be at least 1, got {self.max_jobs}")
        if not 1 <= self.job_workers <= self.max_concurrency:
            raise ValueError(
                f"job_workers must be between 1 and max_concurrency={self.max_concurrency}, got {self.job_workers}"
            )
        if self.job_retention_s is not None and not self.job_retention_s > 0:
            raise ValueError(f"job_retention_s must be positive (None: keep by age forever), got {self.job_retention_s}")
        if self.job_keep is not None and self.job_keep < 0:
            raise ValueError(f"job_keep must be at least 0 (None: no count limit), got {self.job_keep}")
        if self.overlay_max_side < 64:
            raise ValueError(f"overlay_max_side must be at least 64, got {self.overlay_max_side}")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
