"""``laanet detect FOLDER --ray``: files scored by Ray Data actors that each hold a :class:`laanet.Detector`.

:class:`RayDetector` wraps a local detector (built by ``laanet detect`` as usual, which checks the weights and
options) and offers the same ``detect_many(paths, heatmap_dir=...)``, so the command writes its output folder
(``results.jsonl`` as results come, ``results.json``, ``results.csv``, ``heatmaps/``, resume) with the same
code as without ``--ray``. Underneath, the files are Ray Data rows; ``map_batches`` hands ``batch_size`` files
at a time to a pool of ``--ray-actors`` actors. Each actor builds a :class:`laanet.Detector` from the same
:class:`~laanet.inference.options.InferenceOptions` once (model and face analyser loaded once per actor) and runs
its ``detect_many`` over the files it is handed: decode → faces → crops → batched scores → heatmap overlays,
the local per-file pipeline unchanged. Results come back to the driver in input order.

Scores match the local path up to float rounding: the local detector fills each forward pass with faces of
consecutive files across the whole input list, an actor only across the files of its call, and a different
batch changes a logit in its ~8th decimal at most (results.json rounds scores to 6 decimals).

Actors work in the driver's working directory, so relative input paths and heatmap names come out as they would
locally; inputs, weights and ``OUT`` must be on storage every node mounts at the same path (docs/scale.md).
A file the detector raises on is recorded as an ``error`` result with the message, and the others go on.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from laanet.scale.ray_cluster import RayOptions, connect

logger = logging.getLogger(__name__)

__all__ = ["RayDetector"]


class _Result:
    """A finished file's result as the driver receives it (``to_dict()`` like :class:`FileResult`)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.path = data["path"]

    def to_dict(self) -> dict[str, Any]:
        return self.data


class _FileDetector:
    """The Ray Data actor: one :class:`laanet.Detector`, loaded once; scores the files of each batch."""

    def __init__(self, options: Any, cwd: str, heatmap_dir: str | None) -> None:
        from laanet.inference.detector import Detector

        if os.path.isdir(cwd):
            os.chdir(cwd)  # the driver's: relative paths (inputs, weights, OUT) mean the same here
        self.detector = Detector(options)
        self.heatmap_dir = heatmap_dir

    def _detect(self, paths: list[str]) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.detector.detect_many(paths, heatmap_dir=self.heatmap_dir)]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        paths = [str(p) for p in batch["path"]]
        try:
            results = self._detect(paths)
        except Exception:  # noqa: BLE001 - find the file that fails alone; the others are scored
            results = []
            for path in paths:
                try:
                    results += self._detect([path])
                except Exception as err:  # noqa: BLE001
                    from laanet.inference.folder_run import _error_result

                    logger.warning("detection failed on %s: %s: %s", path, type(err).__name__, err)
                    results.append(_error_result(Path(path), f"internal error: {type(err).__name__}: {err}"))
        if len(results) != len(paths):
            raise RuntimeError(f"the detector returned {len(results)} results for {len(paths)} files")
        return {"i": batch["i"], "result": np.array([json.dumps(r) for r in results], dtype=object)}


class RayDetector:
    """A :class:`laanet.Detector` whose ``detect_many`` runs on a Ray cluster (module docstring).

    Args:
        detector: the local detector; its options (weights, backend, frames, flip test, threshold, face
            backend, batch size, device) are what every actor uses, and its ``model_info`` is reported.
        ray_options: cluster address, actors, CPUs and GPUs per actor. ``device="auto"`` uses an actor's GPU
            when ``ray_options.gpus`` gives it one.
    """

    def __init__(self, detector: Any, ray_options: RayOptions) -> None:
        ray_options.check_device(detector.options.device)
        self.local = detector
        self.options = detector.options
        self.model_info = detector.model_info
        self.batch_size = detector.options.batch_size
        self.ray_options = ray_options
        connect(ray_options.address)

    def provenance(self, options: Any = None) -> Any:
        """The local detector's provenance (the actors load the same weights with the same options)."""
        return self.local.provenance(options)

    def detect_many(
        self,
        paths: Iterable[str | os.PathLike],
        *,
        heatmap_dir: str | os.PathLike | None = None,
        on_frames: Callable[[int], None] | None = None,
    ) -> Iterator[_Result]:
        """One result per input file, in order (folders are expanded as the local detector does).

        ``on_frames(n)`` is called with a file's frame count when its result arrives.
        """
        import ray.data

        from laanet.inference.detector import collect_inputs

        files = [str(p) for p in collect_inputs(paths)]
        if not files:
            return
        connect(self.ray_options.address)
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        per_call = self.batch_size
        dataset = ray.data.from_items([{"i": i, "path": p} for i, p in enumerate(files)],
                                      override_num_blocks=max(1, -(-len(files) // per_call)))
        scored = dataset.map_batches(
            _FileDetector,
            fn_constructor_kwargs={"options": self.options, "cwd": os.getcwd(),
                                   "heatmap_dir": None if heatmap_dir is None else str(heatmap_dir)},
            batch_size=per_call,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.ray_options.actors),
            num_cpus=self.ray_options.cpus,
            num_gpus=self.ray_options.gpus,
        )
        waiting: dict[int, dict[str, Any]] = {}
        next_index = 0
        for row in scored.iter_rows():
            waiting[int(row["i"])] = json.loads(row["result"])
            while next_index in waiting:  # in input order, as the local detector yields them
                result = waiting.pop(next_index)
                next_index += 1
                if on_frames is not None:
                    on_frames(len(result.get("frames", [])))
                yield _Result(result)
