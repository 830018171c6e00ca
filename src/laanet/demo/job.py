"""``laanet demo``: detect on the bundled samples and on held-out pseudo-fakes, then write overlays and a report.

Output folder::

    OUT/report.md, OUT/report.html     short report (scores, held-out AUCs, overlay thumbnails)
    OUT/results.json                   everything in the report, machine-readable
    OUT/heldout/*.png                  the held-out test images (reals, SBI fakes, face swaps)
    OUT/overlays/samples/*.png         heatmap overlays of the bundled samples (+ video timelines)
    OUT/overlays/heldout/*.png         heatmap overlays of the held-out images
    OUT/thumbs/*.jpg                   face-centred thumbnails of the overlays (for report.html)

Runs in well under two minutes on two CPU cores with the bundled weights (see docs/model-card.md).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from laanet.demo.heldout import HELD_OUT, KINDS, TRAIN_SAMPLES, build_heldout_set
from laanet.demo.report import write_reports
from laanet.demo.scoring import score_kinds
from laanet.inference.options import InferenceOptions

__all__ = ["DemoOptions", "DemoSummary", "run_demo"]

_log = logging.getLogger(__name__)


@dataclass
class DemoOptions:
    """What ``laanet demo`` does.

    Args:
        out_dir: output folder (created; existing files of the same names are overwritten).
        inference: the inference options shared with ``detect``, ``serve`` and ``eval`` (weights None = the
            bundled demo weights); the demo samples 8 frames per bundled clip by default to stay quick.
        views: views per held-out photo (each gives one real, one SBI fake and one swap).
        seed: seed of the held-out set.
        samples: also score the bundled samples.
        kinds: which held-out images to make (``real`` is needed for the AUCs).
    """

    out_dir: Path
    inference: InferenceOptions = field(default_factory=lambda: InferenceOptions(frames=8))
    views: int = 8
    seed: int = 0
    samples: bool = True
    kinds: tuple[str, ...] = KINDS


@dataclass
class DemoSummary:
    """What the job wrote and measured (``data`` is the content of results.json)."""

    out_dir: Path
    report_md: Path
    report_html: Path
    results_json: Path
    data: dict = field(repr=False)

    @property
    def aucs(self) -> dict[str, float | None]:
        """Held-out AUC per fake kind (``sbi``, ``swap``, ``all``)."""
        return {k["kind"]: k["auc"] for k in self.data["heldout"]["aucs"]}


def _first_overlay(result, out_dir: Path) -> str | None:
    """Relative path (to ``out_dir``) of the overlay of the frame holding the file's highest-scoring face."""
    best, best_logit = None, None
    for frame in result.frames:
        for face in frame.faces:
            if frame.overlay_path and (best_logit is None or face.logit > best_logit):
                best, best_logit = frame.overlay_path, face.logit
    if best is None:
        return None
    return str(Path(best).resolve().relative_to(out_dir.resolve()))


def _thumbnail(result, overlay: str | None, out_dir: Path, size: int = 200) -> str | None:
    """Square crop of ``overlay`` around the highest-scoring face (2× its box), saved under ``OUT/thumbs/``."""
    import cv2

    faces = [(face.logit, face.box) for frame in result.frames for face in frame.faces if frame.overlay_path]
    if overlay is None or not faces:
        return None
    image = cv2.imread(str(out_dir / overlay))
    if image is None:
        return None
    x1, y1, x2, y2 = max(faces, key=lambda f: f[0])[1]
    cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1)
    h, w = image.shape[:2]
    left, top = int(max(0, cx - half)), int(max(0, cy - half))
    crop = image[top : int(min(h, cy + half)), left : int(min(w, cx + half))]
    if crop.size == 0:
        return None
    rel = Path("thumbs") / (Path(overlay).stem + ".jpg")
    (out_dir / rel).parent.mkdir(exist_ok=True)
    cv2.imwrite(str(out_dir / rel), cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return str(rel)


def run_demo(options: DemoOptions) -> DemoSummary:
    """Run the demo job (module docstring).

    Raises:
        laanet.inference.detector.DefaultWeightsMissing: no ``weights`` and no bundled demo weights.
        FileNotFoundError, ValueError: bad weights file or options.
    """
    import cv2
    import torch

    from laanet.assets import SAMPLE_CLIPS, SAMPLE_IMAGES, sample_path
    from laanet.inference.detector import Detector, default_weights

    if options.views < 1:
        raise ValueError("views must be at least 1")
    inference = options.inference
    start = time.perf_counter()
    out = Path(options.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bundled = inference.weights is None
    weights = default_weights() if bundled else Path(inference.weights)
    detector = Detector(inference.replace(weights=str(weights)))
    model = detector.model_info
    config = detector.runner.meta.get("config") or {}
    model["backbone"] = config.get("backbone") or config.get("arch")  # LAA-Net: timm backbone; FakeFormer: arch

    samples: list[dict] = []
    if options.samples:
        names = list(SAMPLE_IMAGES + SAMPLE_CLIPS)
        paths = [sample_path(n) for n in names]
        for name, result in zip(names, detector.detect_many(paths, heatmap_dir=out / "overlays" / "samples")):
            overlay = _first_overlay(result, out)
            samples.append(
                {
                    "name": name,
                    "role": "held-out" if name in HELD_OUT else "train" if name in TRAIN_SAMPLES else "sample",
                    "kind": result.kind,
                    "status": result.status,
                    "score": result.score,
                    "label": result.label,
                    "threshold": inference.threshold,
                    "overlay": overlay,
                    "thumb": _thumbnail(result, overlay, out),
                    "timeline": str(Path(result.timeline_path).resolve().relative_to(out.resolve())) if result.timeline_path else None,
                }
            )
            _log.info("sample %s: %s", name, "no face" if result.score is None else f"P(fake) {result.score:.3f}")

    items = build_heldout_set(detector.faces, views=options.views, seed=options.seed, kinds=options.kinds) if options.kinds else []
    held_dir = out / "heldout"
    held_dir.mkdir(exist_ok=True)
    paths = []
    for item in items:
        path = held_dir / f"{item.name}.png"
        cv2.imwrite(str(path), item.image[..., ::-1])
        paths.append(path)
    rows: list[dict] = []
    for item, result in zip(items, detector.detect_many(paths, heatmap_dir=out / "overlays" / "heldout")):
        overlay = _first_overlay(result, out)
        rows.append(
            {
                "name": item.name,
                "kind": item.kind,
                "label": item.label,
                "source": item.source,
                "donor": item.donor,
                "view": item.view,
                "image": str(Path("heldout") / f"{item.name}.png"),
                "score": result.score,
                "threshold": inference.threshold,
                "overlay": overlay,
                "thumb": _thumbnail(result, overlay, out),
            }
        )
    aucs = [k.to_dict() for k in score_kinds(rows, inference.threshold)] if rows else []
    data = {
        "model": model,
        "bundled_weights": bundled,
        "threads": torch.get_num_threads(),
        "seconds": time.perf_counter() - start,
        "heldout": {"photos": list(HELD_OUT), "views": options.views, "seed": options.seed, "aucs": aucs, "items": rows},
        "samples": samples,
    }
    results_json = out / "results.json"
    results_json.write_text(json.dumps(data, indent=2, default=str))
    md, page = write_reports(out, data)
    for k in aucs:
        _log.info("held-out AUC (%s): %s", k["kind"], "n/a" if k["auc"] is None else f"{k['auc']:.3f}")
    return DemoSummary(out_dir=out, report_md=md, report_html=page, results_json=results_json, data=data)
