"""``laanet calibrate``: fit a calibration and operating points for one weights file on labelled data."""
from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from laanet.cli._common import fail
from laanet.cli._options import (
    DEFAULTS, Backend, BackendOption, BatchSizeOption, DeviceOption, FaceBackendOption, FlipTestOption, FramesOption,
    Sha256Option, WeightsOption, inference_options,
)

HELP = """Fit a calibration of the file score and its operating points on labelled data you own.

--data is a folder with real/ and fake/ sub-folders of images and/or videos (each file scored as laanet detect
scores it), or a prepared folder (laanet prepare output, index.jsonl; its crops scored as laanet eval scores
them, one score per video). The file logit is mapped to a calibrated P(fake) by Platt scaling (default),
temperature scaling or isotonic regression; the operating points are the thresholds at each --fpr (default
1 % and 5 %) with their TPR, and the equal-error point, each with bootstrap 95 % intervals; the score bands
likely fake / uncertain / likely real have their edges at the strictest --fpr and at its mirror point for
fakes. The JSON records the weights' SHA-256 (detect and serve refuse it for other weights), the data counts,
the method and its parameters. Calibrate on data like the data you will check: see docs/calibration.md.

Exit code: 0 written; 1 the data cannot be scored (missing folders, one class only); 2 bad options or weights.
"""
_log = logging.getLogger(__name__)


class Method(str, Enum):
    platt = "platt"
    temperature = "temperature"
    isotonic = "isotonic"


def calibrate(
    data: Annotated[Path, typer.Option("--data", "-d", help="real/ + fake/ folders, or a prepared folder (index.jsonl).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The calibration file to write (JSON).")],
    weights: WeightsOption = None,
    sha256: Sha256Option = None,
    method: Annotated[Method, typer.Option("--method", help="platt (default), temperature or isotonic.")] = Method.platt,
    fpr: Annotated[Optional[List[float]], typer.Option(
        "--fpr", help="Target false-positive rate of an operating point, in (0, 0.5] (repeatable; default 0.01 and 0.05).")] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=10, help="Bootstrap resamples for the intervals.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    split: Annotated[str, typer.Option("--split", help="Prepared folder only: records of this split (train, val, test) or all.")] = "all",
    backend: BackendOption = Backend(DEFAULTS["backend"]),
    device: DeviceOption = DEFAULTS["device"],
    frames: FramesOption = DEFAULTS["frames"],
    flip_test: FlipTestOption = DEFAULTS["flip_test"],
    face_backend: FaceBackendOption = DEFAULTS["face_backend"],
    batch_size: BatchSizeOption = DEFAULTS["batch_size"],
) -> None:
    """Fit a calibration and operating points (see the command help)."""
    from laanet.calibration import WeightsRef, fit_calibration
    from laanet.calibration.data import is_index, score_folder, score_index
    from laanet.cli.detect import _load_detector
    from laanet.inference.provenance import file_sha256

    if not data.is_dir():
        raise fail(f"--data {data} is not a folder", code=2)
    if split not in ("train", "val", "test", "all"):
        raise fail(f"--split must be train, val, test or all, got {split!r}", code=2)
    if out.is_dir():
        raise fail(f"--out {out} is a folder; give the calibration file's name (e.g. cal.json)", code=2)
    fprs = tuple(fpr) if fpr else (0.01, 0.05)
    bad = [f for f in fprs if not 0.0 < f <= 0.5]
    if bad:
        raise fail(f"--fpr must lie in (0, 0.5], got {bad[0]:g}", code=2)
    options = inference_options(weights=weights, sha256=sha256, backend=backend, device=device, frames=frames,
                                flip_test=flip_test, face_backend=face_backend, batch_size=batch_size)
    index = is_index(data)
    scoring = {"frames": frames, "flip_test": flip_test, "face_backend": face_backend, "backend": options.backend}
    try:
        if index:
            from laanet.inference.detector import default_weights

            if options.backend != "torch":
                raise fail("a prepared folder is scored with the torch backend (as laanet eval); drop --backend onnx", code=2)
            path = Path(options.weights) if options.weights else default_weights()
            if not path.is_file():
                raise fail(f"weights file not found: {path}", code=2)
            from laanet.models.checkpoint import CheckpointError

            try:
                scores = score_index(path, data, frames=frames, flip_test=flip_test,
                                     split=None if split == "all" else split, device=device, batch_size=batch_size)
            except CheckpointError as err:
                raise fail(str(err), code=2) from None
            scoring.pop("face_backend")
            ref = WeightsRef(name=path.name, sha256=file_sha256(path), family=scores.family or "laanet")
        else:
            detector = _load_detector(options)
            scores = score_folder(detector, data, on_file=lambda r: typer.echo(
                f"{r.status if r.status != 'ok' else 'scored':>8}  {r.path}", err=True))
            info = detector.weights_info
            family = str(detector.runner.meta.get("family", "laanet"))
            ref = WeightsRef(name=info.name, sha256=info.sha256, family=family, format=info.format)
        summary = scores.summary(data.resolve().name, "index" if index else "folder")
        cal = fit_calibration(scores.logits, scores.labels, weights=ref, data=summary, scoring=scoring,
                              method=method.value, fprs=fprs, n_boot=bootstrap, seed=seed)
    except ValueError as err:
        raise fail(str(err)) from None
    try:
        cal.save(out)
    except OSError as err:
        raise fail(f"cannot write {out}: {err.strerror or err}", code=2) from None
    for warning in cal.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(_summary(cal))
    typer.echo(f"wrote {out}", err=True)


def _summary(cal) -> str:
    d = cal.data
    fm = cal.fit_metrics
    lines = [f"{cal.method} calibration of {cal.weights.name} on {d.n} files ({d.n_real} real, {d.n_fake} fake"
             + (f"; left out: {', '.join(f'{v} {k}' for k, v in d.skipped.items())}" if d.skipped else "") + ")",
             f"  AUC {fm['auc']:.3f}; on this data ECE {fm['before']['ece']:.3f} -> {fm['after']['ece']:.3f}, "
             f"Brier {fm['before']['brier']:.3f} -> {fm['after']['brier']:.3f}"]
    for p in cal.operating_points:
        default = "  (default)" if p.name == cal.default_operating_point else ""
        rate = f"EER {p.eer:.3f} [{p.eer_ci.low:.3f}, {p.eer_ci.high:.3f}], " if p.eer is not None else ""
        lines.append(f"  {p.name:>6}: score >= {p.score:.4f} (calibrated P {p.probability:.3f}): {rate}FPR {p.fpr:.3f} "
                     f"[{p.fpr_ci.low:.3f}, {p.fpr_ci.high:.3f}], TPR {p.tpr:.3f} [{p.tpr_ci.low:.3f}, {p.tpr_ci.high:.3f}]{default}")
    b = cal.bands.to_dict(cal.scaler)
    lines.append(f"  bands ({100 * b['rate']:g} %): likely real < {b['real_below_score']:.4f} <= uncertain < "
                 f"{b['fake_from_score']:.4f} <= likely fake" + ("  (collapsed to the eer threshold)" if b["collapsed"] else ""))
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.command(help=HELP)(calibrate)
