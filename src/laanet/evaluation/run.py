"""One ``laanet eval`` run: load the model, score the prepared crops, write every output to ``OUT/``.

Outputs: ``predictions.csv`` (per crop), ``metrics.json`` (frame/video metrics overall, per dataset and per
manipulation method, plus the protocol used), ``roc.png``, ``table.md`` (paper Table-1 layout, with any runs
given to ``compare``), ``calibration.md`` (TPR at FPR 1 % / 5 %, EER, ECE over 15 equal-width bins, Brier, frame
and video level) with ``reliability.png`` (the reliability diagrams), and with ``sweep``: ``sweep.csv``, ``sweep.json``, ``sweep.md`` and ``sweep.png``
(AUC against perturbation level).
"""
from __future__ import annotations

import csv
import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from laanet.evaluation.evaluate import EvalOptions, LocalScorer, compute_metrics, load_items
from laanet.evaluation.metrics import frame_and_video_metrics
from laanet.evaluation.perturb import DF1_PERTURBATIONS, Perturbation
from laanet.evaluation.report import (
    calibration_table, paper_table, plot_reliability, plot_roc, plot_sweep, sweep_table, write_metrics, write_predictions,
)

logger = logging.getLogger(__name__)

__all__ = ["read_run", "run_eval"]

METRIC_KEYS = ("auc", "ap", "ar", "mf1", "f1", "eer", "acc", "n")


def read_run(out_dir: str | Path) -> tuple[str, dict[str, Any]]:
    """(row name, metrics) of an earlier eval folder, for ``compare``."""
    path = Path(out_dir) / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics.json in {out_dir} (not an eval output folder?)")
    metrics = json.loads(path.read_text())
    return metrics.get("protocol", {}).get("name") or Path(out_dir).name, metrics


def run_eval(
    weights: str | Path,
    data_dirs: Sequence[str | Path],
    out_dir: str | Path,
    options: EvalOptions | None = None,
    *,
    name: str | None = None,
    compare: Sequence[str | Path] = (),
    sweep: bool = False,
    sweep_types: Sequence[str] = DF1_PERTURBATIONS,
    sweep_levels: Sequence[int] = (1, 2, 3, 4, 5),
    progress: bool = True,
    scorer: Any = None,
    calibration: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate ``weights`` on the prepared folders ``data_dirs``; returns the metrics written to ``metrics.json``.

    ``scorer``: what scores the crops (default: a :class:`~laanet.evaluation.evaluate.LocalScorer` of
    ``weights`` on ``options.device``; ``laanet eval --ray`` passes a ``laanet.scale.ray_eval.RayScorer``).
    ``calibration``: a ``laanet calibrate`` file for ``weights`` (else ``CalibrationError``): the ECE and Brier
    score of its calibrated P(fake) go to ``metrics["calibrated"]``, with ``reliability_calibrated.png``.
    """
    options = options or EvalOptions()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    compared = [read_run(c) for c in compare]  # fail early on a bad --compare
    cal = None
    if calibration is not None:  # fail early on a calibration made for other weights
        from laanet.calibration import Calibration
        from laanet.inference.provenance import file_sha256

        cal = Calibration.load(calibration)
        cal.check_weights(file_sha256(weights), Path(weights).name)
    sweep_perts = [Perturbation(t, lv) for t in sweep_types for lv in sweep_levels] if sweep else []

    items = load_items(data_dirs, split=options.split, frames=options.frames)
    scorer = scorer if scorer is not None else LocalScorer(weights, options.device)
    logger.info("scoring %d crops of %d videos at %d px on %s", len(items), len({i.record.video_id for i in items}),
                scorer.input_size, scorer.device)
    start = time.perf_counter()
    preds = scorer.predict(items, options, progress=progress)
    seconds = time.perf_counter() - start

    metrics = compute_metrics(preds)
    metrics["protocol"] = {
        "name": name or Path(weights).stem,
        "weights": str(weights),
        "data": [str(d) for d in data_dirs],
        "split": options.split,
        "frames_per_video": options.frames,
        "flip_test": options.flip_test,
        "perturbations": [str(p) for p in options.perturbations],
        "input_size": int(scorer.input_size),
        "crop_margin_px": options.margin if options.margin is not None else _default_margin(scorer),
        **({"family": scorer.family} if getattr(scorer, "family", None) else {}),
        "frame_score": "cls logit" + (" (mean with horizontal flip)" if options.flip_test else ""),
        "video_score": "sigmoid(mean of frame logits) per unique video_id",
        "threshold": 0.5,
        "seconds": round(seconds, 3),
        "device": scorer.device,
    }
    if cal is not None:
        from laanet.evaluation.metrics import brier_score, expected_calibration_error, video_level

        _, vlab, vlog = video_level(preds.video_id, preds.label, preds.logit)
        metrics["calibrated"] = {"file": Path(calibration).name, "method": cal.method}
        for level, labels, logits in (("frame", preds.label, preds.logit), ("video", vlab, vlog)):
            probs = cal.probability(logits)
            metrics["calibrated"][level] = {"ece": expected_calibration_error(labels, probs), "brier": brier_score(labels, probs)}
        plot_reliability(out / "reliability_calibrated.png", preds, title=f"{Path(calibration).name} ({cal.method})",
                         probability=cal.probability)
    write_predictions(out / "predictions.csv", preds)
    write_metrics(out / "metrics.json", metrics)
    plot_roc(out / "roc.png", preds, title=metrics["protocol"]["name"])
    (out / "table.md").write_text(paper_table([(metrics["protocol"]["name"], metrics)] + compared))
    (out / "calibration.md").write_text(calibration_table(metrics))
    plot_reliability(out / "reliability.png", preds, title=metrics["protocol"]["name"])
    v = metrics["video"]
    logger.info("video level: AUC %s AP %s (n=%d); frame level: AUC %s", v["auc"], v["ap"], v["n"], metrics["frame"]["auc"])

    if sweep_perts:
        results = [{"perturbation": "none", "level": 0, "metrics": _metrics_by_dataset(preds)}]
        for pert in sweep_perts:
            logger.info("sweep: %s", pert)
            opts = replace(options, perturbations=tuple(options.perturbations) + (pert,))
            results.append({"perturbation": pert.name, "level": pert.level,
                            "metrics": _metrics_by_dataset(scorer.predict(items, opts, progress=progress))})
        _write_sweep(out, results)
    return metrics


def _metrics_by_dataset(preds) -> dict[str, Any]:
    """Pooled frame/video metrics plus ``datasets`` (per dataset), for the sweep."""
    import numpy as np

    pooled = frame_and_video_metrics(preds.video_id, preds.label, preds.logit)
    names = np.array(preds.dataset)
    pooled["datasets"] = {}
    for ds in dict.fromkeys(preds.dataset):
        sub = preds.subset(names == ds)
        pooled["datasets"][ds] = frame_and_video_metrics(sub.video_id, sub.label, sub.logit)
    return pooled


def _write_sweep(out: Path, results: list[dict[str, Any]]) -> None:
    write_metrics(out / "sweep.json", {"results": results})
    with (out / "sweep.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["perturbation", "level", "dataset", "scope"] + list(METRIC_KEYS))
        for r in results:
            scopes = [("all", r["metrics"])] + list(r["metrics"]["datasets"].items())
            for ds, m in scopes:
                for scope in ("frame", "video"):
                    w.writerow([r["perturbation"], r["level"], ds, scope] + [m[scope].get(k) for k in METRIC_KEYS])
    (out / "sweep.md").write_text(sweep_table(results))
    plot_sweep(out / "sweep.png", results)


def _default_margin(scorer) -> str:
    pre = getattr(scorer, "preprocess", None)
    return f"the model's default ({pre.margin} at {pre.crop_size})" if pre is not None else "laanet detect default (5 at 256)"
