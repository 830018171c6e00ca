"""Thread counts for data loading: one thread per DataLoader worker, the main process keeps its cores.

Each DataLoader worker makes pseudo-fakes with OpenCV, albumentations and numpy. Left alone, every worker
would start as many threads as the machine has cores (torch's intra-op pool, OpenCV's pool, the BLAS pool),
so ``W`` workers plus the main process run ``(W + 1) × cores`` busy threads on ``cores`` cores; on a 2-core
machine that made training steps about 4× slower than with ``OMP_NUM_THREADS=1``. The workers are already
parallel with each other, so each gets one thread; the main process, which runs the model, keeps its own
settings (``torch.get_num_threads()``, which ``OMP_NUM_THREADS`` or ``torch.set_num_threads`` control).
"""
from __future__ import annotations

import logging
import os

__all__ = ["WORKER_THREADS", "busy_machine_hint", "describe_threads", "limit_worker_threads"]

log = logging.getLogger(__name__)

WORKER_THREADS = 1  # threads per DataLoader worker, for torch, OpenCV and the BLAS/OpenMP pools


def limit_worker_threads(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=...)``: run this worker's torch, OpenCV and BLAS/OpenMP code on one thread."""
    import cv2
    import torch

    torch.set_num_threads(WORKER_THREADS)
    cv2.setNumThreads(WORKER_THREADS)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: only numpy's BLAS (k-NN of the BI partner index) would stay multi-threaded
        return
    threadpool_limits(WORKER_THREADS)


def describe_threads(workers: int) -> str:
    """One log line saying which thread counts the run uses, e.g. for ``data.workers`` = 2."""
    import torch

    main = f"main process: {torch.get_num_threads()} torch thread(s)"
    if workers <= 0:
        return f"{main}; pseudo-fakes are made in the main process (data.workers=0)"
    return f"{main}; {workers} DataLoader worker process(es) with {WORKER_THREADS} thread each (torch, OpenCV, BLAS)"


def busy_machine_hint() -> str | None:
    """A hint when the machine is already busier than its cores and torch runs several threads, else None.

    On an oversubscribed machine every multi-threaded operation waits for its slowest thread, so a step can
    take several times longer than on one thread.
    """
    import torch

    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform
        return None
    cores = os.cpu_count() or 1
    threads = torch.get_num_threads()
    if threads <= 1 or load <= cores:
        return None
    return (f"the machine is busy (load {load:.1f} on {cores} cores) and the main process runs {threads} torch "
            "threads: if steps are slow, start the run with OMP_NUM_THREADS=1 (or fewer threads)")
