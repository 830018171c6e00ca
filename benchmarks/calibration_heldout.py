"""Calibration error before and after ``laanet calibrate``, on held-out pseudo-fakes of the bundled demo model.

The data are the demo model's held-out images (:func:`laanet.demo.heldout.build_heldout_set`: mild random views
of two photos the demo model never saw, each with an SBI pseudo-fake and a face swap, JPEG 75-95 per view):

- a **fit** set (seed 1: its own views, SBI draws and qualities) of reals and SBI fakes, written as ``real/`` and
  ``fake/`` PNGs and scored as ``laanet calibrate`` scores a folder (:func:`laanet.calibration.data.score_folder`);
- a disjoint **test** set (seed 2) of reals, SBI fakes and face swaps, scored the same way.

Two splits: ``views`` (fit and test show the same two people, through disjoint views) and ``person`` (fit on
Grace Hopper's views only, test on Joe Biden's only). For every calibration method the fitted map and operating
points are applied to the test set: ECE (15 equal-width bins) and Brier before/after, and the empirical FPR/TPR
there of the thresholds fitted at FPR 5 % and at the EER.

    python benchmarks/calibration_heldout.py --views 40 --out /tmp/calib-heldout
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import cv2
import numpy as np


def _write(items, root: Path) -> None:
    for sub in ("real", "fake"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for it in items:
        sub = "real" if it.label == 0 else "fake"
        cv2.imwrite(str(root / sub / f"{it.name}.png"), np.ascontiguousarray(it.image[..., ::-1]))


def _score(detector, items, root: Path):
    from laanet.calibration.data import score_folder

    _write(items, root)
    scores = score_folder(detector, root)
    # names are real/NAME.png or fake/NAME.png; map back to the held-out items (source photo, kind)
    by_name = {it.name: it for it in items}
    meta = [by_name[Path(n).stem] for n in scores.names]
    return scores, meta


def _quality(y, p):
    from laanet.evaluation.metrics import brier_score, expected_calibration_error, roc_auc

    return {"ece": expected_calibration_error(y, p), "brier": brier_score(y, p), "auc": roc_auc(y, p) if 0 < y.sum() < y.size else None}


def _evaluate(cal, z, y):
    from laanet.evaluation.metrics import sigmoid

    out = {"n_real": int((y == 0).sum()), "n_fake": int(y.sum()),
           "before": _quality(y, sigmoid(z)), "after": _quality(y, cal.probability(z))}
    for name in ("fpr5", "eer"):
        if name in cal.point_names:
            t = cal.point(name).logit
            out[name] = {"fit_fpr": cal.point(name).fpr, "fit_tpr": cal.point(name).tpr,
                         "test_fpr": float((z[y == 0] >= t).mean()), "test_tpr": float((z[y == 1] >= t).mean())}
    bands = [cal.bands.band(v) for v in z]
    out["bands"] = {kind: {b: int(sum(1 for bb, yy in zip(bands, y) if bb == b and yy == lab)) for b in ("likely real", "uncertain", "likely fake")}
                    for kind, lab in (("real", 0), ("fake", 1))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=40, help="views per held-out photo in each set")
    parser.add_argument("--out", type=Path, default=Path("calibration-heldout"))
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()

    from laanet.calibration import DataSummary, WeightsRef, fit_calibration
    from laanet.demo.heldout import build_heldout_set
    from laanet.inference.detector import Detector

    start = time.perf_counter()
    detector = Detector(device="cpu", frames=1)  # the bundled demo weights
    fit_items = build_heldout_set(detector.faces, views=args.views, seed=1, kinds=("real", "sbi"))
    test_items = build_heldout_set(detector.faces, views=args.views, seed=2, kinds=("real", "sbi", "swap"))
    fit, fit_meta = _score(detector, fit_items, args.out / "fit")
    test, test_meta = _score(detector, test_items, args.out / "test")
    scored = time.perf_counter() - start

    info = detector.weights_info
    ref = WeightsRef(info.name, info.sha256, "laanet", info.format)
    scoring = {"frames": 1, "flip_test": True, "face_backend": "mediapipe", "backend": "torch"}
    report: dict = {"views": args.views, "weights": info.name, "fit_set": len(fit.labels), "test_set": len(test.labels),
                    "skipped": {"fit": fit.skipped, "test": test.skipped}, "splits": {}}
    splits = {
        "views": (lambda m: True, lambda m: True),
        "person": (lambda m: m.source == "grace_hopper.jpg", lambda m: m.source == "biden_blue_room.jpg"),
    }
    for split, (take_fit, take_test) in splits.items():
        fmask = np.array([take_fit(m) for m in fit_meta])
        zf, yf = fit.logits[fmask], fit.labels[fmask]
        report["splits"][split] = {}
        for method in ("platt", "temperature", "isotonic"):
            data = DataSummary(f"heldout-{split}", "folder", int((yf == 0).sum()), int(yf.sum()), images=int(fmask.sum()))
            cal = fit_calibration(zf, yf, weights=ref, data=data, scoring=scoring, method=method, n_boot=args.bootstrap)
            if split == "views" and method == "platt":
                cal.save(args.out / "cal.json")
            entry = {"parameters": cal.scaler.parameters() if method != "isotonic" else {"knots": len(cal.scaler.x)},
                     "fit": cal.fit_metrics, "warnings": list(cal.warnings)}
            for fakes in ("sbi", "swap"):
                tmask = np.array([take_test(m) and m.kind in ("real", fakes) for m in test_meta])
                zt, yt = test.logits[tmask], test.labels[tmask]
                if yt.sum() and (yt == 0).sum():
                    entry[f"test_{fakes}"] = _evaluate(cal, zt, yt)
            report["splits"][split][method] = entry
    report["seconds_scoring"] = round(scored, 1)
    report["machine"] = platform.processor() or platform.machine()
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    for split, methods in report["splits"].items():
        for method, e in methods.items():
            for key in ("test_sbi", "test_swap"):
                if key in e:
                    t = e[key]
                    print(f"{split:>6} {method:>11} {key:>9}: ECE {t['before']['ece']:.3f} -> {t['after']['ece']:.3f}  "
                          f"Brier {t['before']['brier']:.3f} -> {t['after']['brier']:.3f}  AUC {t['before']['auc']:.3f}  "
                          f"fpr5 test FPR {t['fpr5']['test_fpr']:.3f} TPR {t['fpr5']['test_tpr']:.3f}  "
                          f"(n {t['n_real']}+{t['n_fake']})")
    print(f"scoring took {scored:.0f} s; report in {args.out / 'report.json'}")


if __name__ == "__main__":
    main()
