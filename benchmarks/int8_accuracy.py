"""What int8 quantisation costs in accuracy: float32 vs int8 ONNX Runtime on real faces and their SBI fakes.

For each checkpoint: export float32 (the graph ``laanet detect --backend onnx`` runs) and int8 (``laanet export
--int8``: calibrated on the bundled sample photos, ``--calib-views`` views each + an SBI fake of every view,
seed 0). Both then score a *different* draw of the same kind of images (``--views`` new random views of the six
bundled photos and a new SBI fake of each, seed 1), face crops made as ``laanet detect`` makes them, flip test
on. Printed per checkpoint (one JSON line): P(fake) differences (max, mean, 95th percentile), heatmap
probability differences, verdict agreement at 0.5, the AUC of reals vs SBI fakes for each precision, and the
time each took here. For the official-layout fixture, the float32/int8 logits on its stored input too.

    .venv/bin/python benchmarks/int8_accuracy.py [--weights a.pt b.pth ...] [--views 8] [--calib-views 4]

Default weights: the bundled demo model, and the official-layout B4 fixture when ``--weights`` names it. Either
family: crops are framed by the model's own preprocessing (``model.preprocess``: LAA-Net's resize at 384/128 px,
FakeFormer's 9-px margin and corner-aligned warp to 112 px with ImageNet normalisation), for calibration and
scoring alike; e.g. ``--weights ../shared/fixtures/fakeformer/checkpoint.pt`` (FakeFormer ViT-S/8 in the authors'
layout, random weights made with the official code).
Calibration and evaluation images are different draws of the *same six photos*: this measures numerical
agreement on realistic inputs, not generalisation to new people.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def _score(session, x: np.ndarray, batch: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Flip-test P(fake) (N,) and heatmap probabilities (N, h, w), as the detector combines them."""
    probs, heats = [], []
    for i in range(0, len(x), batch):
        chunk = x[i : i + batch]
        out = session(np.concatenate([chunk, chunk[..., ::-1]]))
        n = len(chunk)
        cls, heat = out.cls.numpy()[:, 0], out.heatmap.numpy()[:, 0]
        probs.append(_sigmoid((cls[:n] + cls[n:]) / 2))
        heats.append(_sigmoid((heat[:n] + heat[n:, :, ::-1]) / 2))
    return np.concatenate(probs), np.concatenate(heats)


def _summary(p32: np.ndarray, p8: np.ndarray, h32: np.ndarray, h8: np.ndarray, labels: np.ndarray) -> dict:
    from sklearn.metrics import roc_auc_score

    diff = np.abs(p8 - p32)
    return {
        "faces": int(len(labels)),
        "reals": int((labels == 0).sum()),
        "sbi_fakes": int((labels == 1).sum()),
        "p_fake_abs_diff_max": round(float(diff.max()), 4),
        "p_fake_abs_diff_mean": round(float(diff.mean()), 4),
        "p_fake_abs_diff_p95": round(float(np.quantile(diff, 0.95)), 4),
        "heatmap_abs_diff_max": round(float(np.abs(h8 - h32).max()), 4),
        "heatmap_abs_diff_mean": round(float(np.abs(h8 - h32).mean()), 5),
        "verdict_agreement": round(float(np.mean((p8 >= 0.5) == (p32 >= 0.5))), 4),
        "auc_float32": round(float(roc_auc_score(labels, p32)), 4),
        "auc_int8": round(float(roc_auc_score(labels, p8)), 4),
        "mean_p_fake_float32": [round(float(p32[labels == k].mean()), 4) for k in (0, 1)],
        "mean_p_fake_int8": [round(float(p8[labels == k].mean()), 4) for k in (0, 1)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", nargs="+", default=None, help="checkpoints (default: the bundled demo model)")
    parser.add_argument("--views", type=int, default=8, help="evaluation views per photo (each + its SBI fake)")
    parser.add_argument("--calib-views", type=int, default=4, help="calibration views per photo (laanet export default)")
    parser.add_argument("--all-ops", action="store_true", help="quantise every op (LAA-Net's recipe) for every family")
    args = parser.parse_args()

    from laanet.assets import SAMPLE_IMAGES
    from laanet.demo.heldout import build_heldout_set
    from laanet.export.calibration import bundled_images, face_inputs
    from laanet.export.onnx import OnnxModel, export_onnx
    from laanet.export.quantize import INFERENCE_OUTPUTS, QuantizeConfig, quantize_onnx
    from laanet.faces import FaceAnalyzer
    from laanet.inference.detector import default_weights
    from laanet.models.checkpoint import load_model

    analyzer = FaceAnalyzer()
    calib_images = bundled_images(args.calib_views, seed=0)
    items = build_heldout_set(analyzer, views=args.views, seed=1, photos=SAMPLE_IMAGES, kinds=("real", "sbi"))
    for weights in args.weights or [str(default_weights())]:
        model = load_model(weights)
        pre = model.preprocess
        calib = face_inputs(calib_images, pre, analyzer)
        kept = [(item, face_inputs([item.image], pre, analyzer)) for item in items]
        kept = [(item, x) for item, x in kept if len(x)]
        x = np.concatenate([inp for _, inp in kept])
        labels = np.array([item.label for item, _ in kept])
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            fp32 = export_onnx(model, Path(tmp) / "fp32.onnx", outputs=INFERENCE_OUTPUTS)
            t1 = time.perf_counter()
            int8 = quantize_onnx(fp32, Path(tmp) / "int8.onnx", calib,
                                 QuantizeConfig() if args.all_ops else QuantizeConfig.for_family(model.family))
            t2 = time.perf_counter()
            s32, s8 = OnnxModel(fp32), OnnxModel(int8)
            p32, h32 = _score(s32, x)
            t3 = time.perf_counter()
            p8, h8 = _score(s8, x)
            t4 = time.perf_counter()
            row = {
                "weights": os.path.basename(weights),
                "family": model.family,
                "backbone": getattr(model.cfg, "backbone", None) or getattr(model.cfg, "arch", None),
                "input_size": pre.input_size,
                "calibration_faces": int(len(calib)),
                "recipe": "all ops" if args.all_ops else f"for_family({model.family})",
                **_summary(p32, p8, h32, h8, labels),
                "seconds": {"export": round(t1 - t0, 1), "quantise": round(t2 - t1, 1), "score_float32": round(t3 - t2, 1),
                            "score_int8": round(t4 - t3, 1)},
                "int8_mb": round(int8.stat().st_size / 2**20, 1),
                "float32_mb": round(fp32.stat().st_size / 2**20, 1),
                "load_avg_1min": round(os.getloadavg()[0], 2),
            }
            fixture_io = Path(weights).with_name("io.pt")
            if fixture_io.is_file():  # the official-layout fixture: its stored input too
                import torch

                io = torch.load(fixture_io, weights_only=True)
                inp = io["input"].float().numpy()
                row["fixture_input_cls_logits"] = {
                    "official_float64": [round(float(v), 4) for v in io["cls"].flatten()],
                    "float32": [round(float(v), 4) for v in s32(inp).cls.flatten()],
                    "int8": [round(float(v), 4) for v in s8(inp).cls.flatten()],
                }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
