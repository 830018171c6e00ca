"""``laanet eval``: frame- and video-level metrics of a model on prepared test sets, with perturbations."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from laanet.cli._common import fail as _fail
from laanet.cli._options import (
    DEFAULTS, DeviceOption, FlipTestOption, RequiredWeightsOption, Sha256Option, resolve_weights_option,
)
from laanet.cli._ray import RayActors, RayAddress, RayCpus, RayGpus

_EPILOG = (
    "Defaults follow the paper's test protocol, as laanet detect: 32 crops per video, flip test on. "
    "Examples:  laanet eval --weights runs/sbi/best.pt --data prep/cdf2 --out eval/cdf2 | "
    "laanet eval --weights W --data prep/ffpp-c0-test --data prep/cdf2 --out eval/all --perturb blur:3 | "
    "laanet eval --weights W --data prep/cdf2 --out eval/sweep --sweep"
)



def eval_command(
    weights: RequiredWeightsOption,
    data: list[Path] = typer.Option(..., "--data", "-d", help="Prepared folder (repeat for several test sets)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: predictions.csv, metrics.json, roc.png, table.md."),
    sha256: Sha256Option = None,
    frames: Annotated[Optional[int], typer.Option(
        "--frames", "-n", min=1,
        help="Crops per video, evenly spaced among the stored ones (paper: 32; --all-frames: every one).")] = DEFAULTS["frames"],
    all_frames: bool = typer.Option(False, "--all-frames", help="Score every stored crop of each video (overrides --frames)."),
    flip_test: FlipTestOption = DEFAULTS["flip_test"],
    perturb: Optional[list[str]] = typer.Option(None, "--perturb", help="NAME:LEVEL (1-5), repeatable, applied in order: saturation, contrast, block, noise, blur, pixelation, compression, jpeg."),
    sweep: bool = typer.Option(False, "--sweep", help="Also score every perturbation at levels 1-5: sweep.md, sweep.csv, sweep.png."),
    sweep_types: Optional[str] = typer.Option(None, "--sweep-types", help="Comma list of perturbations for --sweep (default: the seven of DeeperForensics-1.0)."),
    sweep_levels: Optional[str] = typer.Option(None, "--sweep-levels", help="Comma list of levels for --sweep (default: 1,2,3,4,5)."),
    split: str = typer.Option("test", "--split", help="Records of this split (train, val, test) or 'all'."),
    batch_size: int = typer.Option(32, "--batch-size", "-b", min=1, help="Face crops per forward pass."),
    workers: int = typer.Option(0, "--workers", "-j", min=0, help="DataLoader worker processes."),
    device: DeviceOption = DEFAULTS["device"],
    name: Optional[str] = typer.Option(None, "--name", help="Row name in table.md (default: the weights file name)."),
    compare: Optional[list[Path]] = typer.Option(None, "--compare", help="Earlier eval folder whose row to add to table.md (repeatable)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random perturbations (block, noise)."),
    margin: Optional[int] = typer.Option(None, "--margin", min=0, help="Pixels cut from each side of the stored crop before resizing (default: as laanet detect, 5 at 256)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    calibration: Optional[Path] = typer.Option(None, "--calibration", help="A laanet calibrate file for these weights: also the ECE and Brier score after calibration."),
    ray: RayAddress = None,
    ray_actors: RayActors = 1,
    ray_cpus: RayCpus = 1.0,
    ray_gpus: RayGpus = 0.0,
) -> None:
    """Score prepared face crops; write per-crop predictions and frame/video AUC, AP, AR, mF1, F1, EER, ACC."""
    from laanet.evaluation.evaluate import EvalOptions
    from laanet.evaluation.perturb import DF1_PERTURBATIONS, Perturbation, parse_perturbation

    if split not in ("train", "val", "test", "all"):
        raise _fail(f"--split must be train, val, test or all, got {split!r}", code=2)
    try:
        perturbations = tuple(parse_perturbation(p) for p in (perturb or []))
        types = tuple(t.strip() for t in sweep_types.split(",") if t.strip()) if sweep_types else DF1_PERTURBATIONS
        levels = tuple(int(v) for v in sweep_levels.split(",") if v.strip()) if sweep_levels else (1, 2, 3, 4, 5)
        for t in types:
            for lv in levels:
                Perturbation(t, lv)  # validates the name and the level
    except ValueError as err:
        raise _fail(f"bad perturbation option: {err}", code=2)
    if (sweep_types or sweep_levels) and not sweep:
        raise _fail("--sweep-types and --sweep-levels need --sweep", code=2)

    from laanet.device import DeviceError, check_device_name
    from laanet.calibration import CalibrationError
    from laanet.evaluation.run import run_eval
    from laanet.media import MediaError
    from laanet.models.checkpoint import CheckpointError

    try:
        check_device_name(device)
    except DeviceError as err:
        raise _fail(str(err), code=2) from None
    weights_path = resolve_weights_option(weights, sha256)
    options = EvalOptions(frames=None if all_frames else frames, flip_test=flip_test, perturbations=perturbations,
                          split=None if split == "all" else split, batch_size=batch_size, workers=workers,
                          device=device, seed=seed, margin=margin)
    try:
        scorer = None
        if ray:  # crops scored by Ray actors; the outputs are written here as without --ray
            from laanet.scale.ray_cluster import RayOptions
            from laanet.scale.ray_eval import RayScorer

            scorer = RayScorer(weights_path, out, RayOptions(ray, ray_actors, ray_cpus, ray_gpus), device)
        metrics = run_eval(weights_path, data, out, options, name=name, compare=compare or (), sweep=sweep,
                           sweep_types=types, sweep_levels=levels, progress=progress, scorer=scorer, calibration=calibration)
    except (CheckpointError, DeviceError, CalibrationError) as err:
        raise _fail(str(err), code=2) from None
    except (FileNotFoundError, ValueError, MediaError) as err:
        raise _fail(str(err)) from None
    except OSError as err:  # --out cannot be made or written (a file in the way, read-only, full disk)
        raise _fail(f"cannot write the eval output in {out}: {err.strerror or err}", code=2) from None
    video, frame = metrics["video"], metrics["frame"]

    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{100 * v:.2f}"

    typer.echo(f"video level ({video['n']} videos): AUC {pct(video['auc'])}  AP {pct(video['ap'])}  "
               f"AR {pct(video['ar'])}  mF1 {pct(video['mf1'])}  EER {pct(video['eer'])}  ACC {pct(video['acc'])}")
    typer.echo(f"frame level ({frame['n']} crops): AUC {pct(frame['auc'])}  AP {pct(frame['ap'])}  ACC {pct(frame['acc'])}")
    for level, m in (("video", video), ("frame", frame)):
        typer.echo(f"{level} level: TPR@FPR1% {pct(m['tpr_at_fpr1'])}  TPR@FPR5% {pct(m['tpr_at_fpr5'])}  "
                   f"ECE {m['ece']:.4f} (15 bins)  Brier {m['brier']:.4f}"
                   + (f"; calibrated: ECE {metrics['calibrated'][level]['ece']:.4f}  Brier "
                      f"{metrics['calibrated'][level]['brier']:.4f}" if "calibrated" in metrics else ""))
    typer.echo(f"written: {out}/metrics.json, predictions.csv, roc.png, table.md, calibration.md, reliability.png"
               + (", sweep.*" if sweep else ""))


def register(app: typer.Typer) -> None:
    app.command("eval", epilog=_EPILOG)(eval_command)
