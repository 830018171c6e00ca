"""``laanet eval --ray``: stored crops → scores as Ray Data batches, on actors that load the model once.

:class:`RayScorer` plugs into :func:`laanet.evaluation.run.run_eval` in place of the local scorer, so every
output file (``predictions.csv``, ``metrics.json``, ``roc.png``, ``table.md``, the sweep) is written by the same
code. What changes is where the crops are scored:

- the crops to score are cut into the batches the local path would use (``--batch-size`` crops, in order);
  each batch is one Ray Data row, scored by ``map_batches`` on a pool of ``--ray-actors`` actors, each holding
  the model (loaded once per pass) and running the local :func:`laanet.evaluation.evaluate.predict` on it. The
  same crops in the same batches give the same logits as ``laanet eval`` without ``--ray``: bit for bit when
  torch runs on as many threads (an actor gets ``--ray-cpus``), else up to float32 rounding;
- every scored batch is appended at once to ``OUT/scores.jsonl`` (per crop and perturbation, under a header
  that fingerprints the weights and the options that change logits). A rerun of the same command skips the
  crops found there, so a stopped run resumes; other weights or options start the file afresh;
- a batch that cannot be scored (a crop missing or unreadable) is reported with the first few errors after the
  others finish, and nothing is written but ``scores.jsonl``: fix the data and rerun to finish.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from laanet.evaluation.evaluate import EvalItem, EvalOptions, LocalScorer, Predictions, predictions_of
from laanet.scale.ray_cluster import RayOptions, connect

logger = logging.getLogger(__name__)

__all__ = ["SCORES_NAME", "RayScorer", "ScoreCache", "ScoringFailed"]

SCORES_NAME = "scores.jsonl"
MAX_BLOCKS = 10_000  # Ray Data blocks per pass: one batch per block (progress and resume per batch) up to this


class ScoringFailed(ValueError):
    """Some crops could not be scored; the scores computed so far are kept for a rerun."""


class ScoreCache:
    """``OUT/scores.jsonl``: a header line ``{"fingerprint": ...}``, then ``{"key", "logit"}`` per scored crop."""

    def __init__(self, path: str | Path, fingerprint: dict[str, Any]) -> None:
        self.path = Path(path)
        self.fingerprint = json.loads(json.dumps(fingerprint))  # as it reads back
        self.logits: dict[str, float] = {}
        lines = self.path.read_text(encoding="utf-8").splitlines() if self.path.is_file() else []
        header = _json_or_none(lines[0]) if lines else None
        same = isinstance(header, dict) and header.get("fingerprint") == self.fingerprint
        if same:
            for line in lines[1:]:
                entry = _json_or_none(line)  # a last line cut off by a kill reads as None
                if entry is not None:
                    self.logits[entry["key"]] = float(entry["logit"])
            if self.logits:
                logger.info("resuming: %d crop scores in %s", len(self.logits), self.path)
        elif lines:
            logger.warning("%s was made with other weights or options; scoring again", self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        cut_off = same and not self.path.read_bytes().endswith(b"\n")
        self._fh = self.path.open("a" if same else "w", encoding="utf-8")
        if not same:
            self._fh.write(json.dumps({"fingerprint": self.fingerprint}) + "\n")
        elif cut_off:
            self._fh.write("\n")  # end a line cut off by a kill before appending
        self._fh.flush()

    def add(self, keys: list[str], logits: list[float]) -> None:
        self._fh.write("".join(json.dumps({"key": k, "logit": v}) + "\n" for k, v in zip(keys, logits)))
        self._fh.flush()
        self.logits.update(zip(keys, logits))

    def close(self) -> None:
        self._fh.close()


def _json_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


class _BatchScorer:
    """The Ray Data actor: loads the model once, scores one batch of crops (one row) per row it is given."""

    def __init__(self, weights: str, options: EvalOptions) -> None:
        self.options = options
        self.scorer = LocalScorer(weights, options.device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from laanet.data.index import IndexRecord

        logits, errors = [], []
        for text in batch["items"]:
            items = [EvalItem(IndexRecord.from_dict(rec), Path(root)) for root, rec in json.loads(text)]
            try:
                opts = replace(self.options, batch_size=len(items), workers=0)
                preds = self.scorer.predict(items, opts, progress=False)
                logits.append(json.dumps(preds.logit.tolist()))
                errors.append("")
            except Exception as err:  # noqa: BLE001 - reported per batch; the other batches go on
                logits.append("")
                errors.append(f"{type(err).__name__}: {err}")
        return {"chunk": batch["chunk"], "logits": np.array(logits, dtype=object), "error": np.array(errors, dtype=object)}


class RayScorer:
    """Scores crops on a Ray cluster (module docstring); a drop-in for ``LocalScorer`` in ``run_eval``.

    Args:
        weights: checkpoint on storage every node can read at the same path.
        out_dir: the eval output folder (``scores.jsonl`` goes there).
        ray_options: cluster address, actors, CPUs and GPUs per actor.
        device: ``auto`` (a GPU when the actor has one), ``cpu``, ``cuda`` (needs ``ray_options.gpus``).
    """

    def __init__(self, weights: str | Path, out_dir: str | Path, ray_options: RayOptions, device: str = "auto") -> None:
        ray_options.check_device(device)
        self.weights = os.path.abspath(weights)
        self.ray_options = ray_options
        self.device_name = device
        local = LocalScorer(self.weights, "cpu")  # checks the weights before the cluster
        self.input_size, self.family, self.preprocess = local.input_size, local.family, local.preprocess
        self.device = f"{'cuda' if ray_options.gpus > 0 else 'cpu'} ({ray_options.describe()})"
        self.cache_path = Path(out_dir) / SCORES_NAME
        connect(ray_options.address)

    def _fingerprint(self, options: EvalOptions) -> dict[str, Any]:
        stat = os.stat(self.weights)
        return {"weights": self.weights, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                "input_size": self.input_size, "flip_test": options.flip_test, "seed": options.seed,
                "margin": options.margin, "batch_size": options.batch_size}

    def predict(self, items: list[EvalItem], options: EvalOptions, *, progress: bool = True) -> Predictions:
        from tqdm.auto import tqdm

        passing = ",".join(map(str, options.perturbations)) or "none"
        keys = [f"{passing}|{os.path.abspath(it.root)}|{it.record.path}" for it in items]
        cache = ScoreCache(self.cache_path, self._fingerprint(options))
        logits = np.full(len(items), np.nan)
        size = options.batch_size
        chunks = [list(range(s, min(s + size, len(items)))) for s in range(0, len(items), size)]
        todo = []
        for k, idx in enumerate(chunks):
            cached = [cache.logits.get(keys[i]) for i in idx]
            if all(v is not None for v in cached):
                logits[idx] = cached
            else:
                todo.append(k)
        bar = tqdm(total=len(items), initial=len(items) - sum(len(chunks[k]) for k in todo), unit="crop",
                   desc=f"eval on ray ({passing})", disable=not progress, dynamic_ncols=True)
        failures: list[tuple[str, str]] = []
        try:
            for row in self._score(todo, chunks, items, options):
                idx = chunks[int(row["chunk"])]
                if row["error"]:
                    failures.append((items[idx[0]].record.video_id, row["error"]))
                else:
                    values = json.loads(row["logits"])
                    logits[idx] = values
                    cache.add([keys[i] for i in idx], values)
                bar.update(len(idx))
        finally:
            bar.close()
            cache.close()
        if failures:
            lines = [f"  {vid}: {msg}" for vid, msg in failures[:5]]
            more = f"\n  ... and {len(failures) - 5} more batches" if len(failures) > 5 else ""
            raise ScoringFailed(f"{len(failures)} of {len(chunks)} batches of crops could not be scored (first crop's "
                                f"video, error):\n" + "\n".join(lines) + more +
                                f"\nthe {int(np.isfinite(logits).sum())} scores computed are kept in {self.cache_path}; "
                                "fix the data and run the same command again to finish")
        return predictions_of(items, logits)

    def _score(self, todo: list[int], chunks: list[list[int]], items: list[EvalItem], options: EvalOptions):
        """Rows ``{"chunk", "logits", "error"}`` of the batches ``todo``, as Ray Data produces them."""
        if not todo:
            return
        import ray.data

        connect(self.ray_options.address)
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        rows = [{"chunk": k, "items": json.dumps([[os.path.abspath(items[i].root), asdict(items[i].record)]
                                                  for i in chunks[k]])} for k in todo]
        dataset = ray.data.from_items(rows, override_num_blocks=min(len(rows), MAX_BLOCKS))
        scored = dataset.map_batches(
            _BatchScorer,
            fn_constructor_kwargs={"weights": self.weights, "options": options},
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.ray_options.actors),
            num_cpus=self.ray_options.cpus,
            num_gpus=self.ray_options.gpus,
        )
        yield from scored.iter_rows()
