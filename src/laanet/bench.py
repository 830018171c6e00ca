"""Throughput of the full LAA-Net on random input, per inference backend.

Each backend runs in its own subprocess so that its peak RSS (``ru_maxrss``) is its own. Backends:

- ``torch``: eager float32, NCHW (the reference);
- ``torch-cl``: eager float32, channels_last memory format;
- ``torch-bf16``: eager with CPU bf16 autocast;
- ``onnx``: ONNX Runtime CPU (graph exported on the fly, all optimisations on).

Timing: ``warmup`` untimed calls, then the median of ``runs`` timed calls on one batch.
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

BACKENDS = ("torch", "torch-cl", "torch-bf16", "onnx")


@dataclass
class BenchResult:
    backend: str
    batch: int
    input_size: int
    median_s: float
    min_s: float
    faces_per_s: float
    peak_rss_mb: float
    threads: int
    device: str = "cpu"


def _build_model(weights: str | None, config: str):
    from laanet.config import load_config
    from laanet.models.checkpoint import load_model
    from laanet.models.laanet import LAANet

    if weights:
        return load_model(weights)
    cfg = load_config(config).model
    cfg.pretrained = False
    return LAANet(cfg).eval()


def run_backend(backend: str, *, weights: str | None, config: str, batch: int, warmup: int, runs: int) -> BenchResult:
    """Time one backend in this process."""
    import torch

    model = _build_model(weights, config)
    size = model.cfg.input_size
    x = torch.rand(batch, 3, size, size) * 2 - 1
    if backend == "onnx":
        from laanet.export.onnx import OnnxLAANet, export_onnx

        with tempfile.TemporaryDirectory() as tmp:
            path = export_onnx(model, os.path.join(tmp, "model.onnx"))
            del model
            runner = OnnxLAANet(path)
        call = lambda: runner(x)  # noqa: E731
    elif backend in ("torch", "torch-cl", "torch-bf16"):
        if backend == "torch-cl":
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)

        def call():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=backend == "torch-bf16"):
                return model(x)
    else:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return BenchResult(
        backend=backend,
        batch=batch,
        input_size=size,
        median_s=round(median, 4),
        min_s=round(min(times), 4),
        faces_per_s=round(batch / median, 2),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        threads=torch.get_num_threads(),
    )


def run_isolated(backend: str, **kwargs) -> BenchResult:
    """Run :func:`run_backend` in a fresh interpreter and return its result."""
    cmd = [sys.executable, "-m", "laanet.bench", backend, json.dumps(kwargs)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark of {backend} failed:\n{proc.stderr[-2000:]}")
    return BenchResult(**json.loads(proc.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":  # worker entry point used by run_isolated
    import dataclasses
    import warnings

    warnings.filterwarnings("ignore")
    result = run_backend(sys.argv[1], **json.loads(sys.argv[2]))
    print(json.dumps(dataclasses.asdict(result)))
