"""``laanet prepare``: detect, align and crop the faces of a dataset once, and write ``OUT/index.jsonl``."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from laanet.cli._common import fail as _fail
from laanet.cli._ray import RayAddress, RayCpus
from laanet.cli._options import DEFAULTS

_EPILOG = (
    "Examples:  laanet prepare folder --root my_faces --out prep | "
    "laanet prepare ffpp --root FaceForensics++ --out prep/ffpp-c0-train --split train --methods original --workers 8 | "
    "laanet prepare cdf2 --root Celeb-DF-v2 --out prep/cdf2 --split test | "
    "laanet prepare folder --root my_videos --out prep/mine --frames 16"
)


class Dataset(str, Enum):
    ffpp = "ffpp"
    cdf2 = "cdf2"
    dfd = "dfd"
    dfdcp = "dfdcp"
    dfdc = "dfdc"
    dfw = "dfw"
    deepfakebench = "deepfakebench"
    folder = "folder"


class Split(str, Enum):
    train = "train"
    val = "val"
    test = "test"


class Compression(str, Enum):
    c0 = "c0"
    c23 = "c23"
    c40 = "c40"



def prepare(
    dataset: Dataset = typer.Argument(..., help="Dataset layout under --root."),
    root: Path = typer.Option(..., "--root", "-r", help="The dataset as downloaded (deepfakebench: its JSON file or folder)."),
    out: Path = typer.Option(..., "--out", "-o", help="Prepared folder: crops/, index.jsonl, prepare_log.jsonl."),
    frames: Optional[int] = typer.Option(None, "--frames", "-n", min=1, help="Frames per video, evenly spaced, for every split (default: --train-frames / --eval-frames)."),
    train_frames: int = typer.Option(128, "--train-frames", min=1, help="Frames per training video (official: 128)."),
    eval_frames: int = typer.Option(32, "--eval-frames", min=1, help="Frames per validation/test video (official: 32)."),
    split: Optional[Split] = typer.Option(None, "--split", help="Only this split (default: every split the dataset has)."),
    workers: int = typer.Option(0, "--workers", "-j", min=0, help="Parallel processes (0: in this process)."),
    compression: Compression = typer.Option(Compression.c0, "--compression", help="FF++/DFD/DeepfakeBench quality: c0 (raw), c23, c40."),
    methods: Optional[str] = typer.Option(None, "--methods", help="FF++ only: comma list of original and/or methods (default: original + the four)."),
    crop_size: int = typer.Option(256, "--crop-size", min=16, help="Side of the stored face crops (paper: 256)."),
    face_backend: str = typer.Option(DEFAULTS["face_backend"], "--face-backend", help="Face detector: mediapipe or dlib."),
    detector: Optional[str] = typer.Option(None, "--detector", hidden=True, help="Deprecated name of --face-backend."),
    name: Optional[str] = typer.Option(None, "--name", help="folder only: dataset name in the index (default: folder)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    ray: RayAddress = None,
    ray_cpus: RayCpus = 1.0,
) -> None:
    """Sample frames, detect and crop faces, and index them (resumable: a rerun skips finished videos)."""
    from laanet.data.layouts import list_sources
    from laanet.data.prepare import PrepareOptions, prepare_sources
    from laanet.faces import FaceBackendError

    if detector is not None:
        typer.echo("warning: --detector is deprecated; use --face-backend", err=True)
        face_backend = detector
    method_list = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    if method_list and dataset is not Dataset.ffpp:
        raise _fail("--methods applies to ffpp only", code=2)
    try:
        items = list_sources(dataset.value, root, split=split.value if split else None,
                             compression=compression.value, methods=method_list, name=name)
        if not items:
            raise ValueError(f"no {dataset.value} sources of split {split.value if split else 'any'} under {root}")
        per_split = {"train": train_frames, "val": eval_frames, "test": eval_frames}
        options = PrepareOptions(frames=frames, frames_per_split=per_split, crop_size=crop_size, workers=workers,
                                 detector=face_backend, progress=progress)
        counts = {name: options.frames_for(name) for name in sorted({item.split for item in items})}
        typer.echo("frames per video: " + ", ".join(f"{n} ({name})" for name, n in counts.items()), err=True)
        if ray:  # one Ray task per source instead of --workers processes
            from laanet.scale.ray_cluster import RayOptions
            from laanet.scale.ray_prepare import prepare_sources_ray

            summary = prepare_sources_ray(items, out, options, RayOptions(ray, cpus=ray_cpus), compression=compression.value)
        else:
            summary = prepare_sources(items, out, options, compression=compression.value)
    except (FileNotFoundError, ValueError, FaceBackendError) as err:
        raise _fail(str(err))
    for line in summary.lines():
        typer.echo(line, err=True)
    if summary.ok == 0 and summary.skipped == 0:
        raise _fail(f"no face crop was stored in {out}")
    typer.echo(f"prepared: {out / 'index.jsonl'}")


def register(app: typer.Typer) -> None:
    app.command(epilog=_EPILOG)(prepare)
