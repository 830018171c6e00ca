"""``laanet demo``: the whole idea in a couple of minutes, offline, with the bundled weights and samples."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from laanet.cli._common import fail
from laanet.cli._options import (
    DEFAULTS,
    Backend,
    BackendOption,
    BatchSizeOption,
    DeviceOption,
    FaceBackendOption,
    FlipTestOption,
    Sha256Option,
    ThresholdOption,
    WeightsOption,
    inference_options,
)

HELP = """Run the demo: detect on the bundled sample photos and clips, and on pseudo-fakes made from two held-out
faces (SBI fakes and cv2.seamlessClone face swaps), then write heatmap overlays, OUT/report.md,
OUT/report.html and OUT/results.json with every score and the held-out AUCs.

Uses the bundled demo weights unless --weights is given. The demo model is a toy trained on a CPU from a
handful of photos (docs/model-card.md), not a forensic tool.
"""


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("demo-output"),
    weights: WeightsOption = None,
    sha256: Sha256Option = None,
    views: Annotated[int, typer.Option(
        "--views", min=1, help="Views per held-out photo (each: one real, one SBI fake, one swap).")] = 8,
    frames: Annotated[int, typer.Option(
        "--frames", min=1, help="Frames sampled per bundled clip (8 keeps the demo quick).")] = 8,
    backend: BackendOption = Backend(DEFAULTS["backend"]),
    device: DeviceOption = DEFAULTS["device"],
    threshold: ThresholdOption = DEFAULTS["threshold"],
    flip_test: FlipTestOption = DEFAULTS["flip_test"],
    batch_size: BatchSizeOption = DEFAULTS["batch_size"],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the held-out views and fakes.")] = 0,
    samples: Annotated[bool, typer.Option("--samples/--no-samples", help="Also score the bundled samples.")] = True,
    face_backend: FaceBackendOption = DEFAULTS["face_backend"],
) -> None:
    """Run the demo (see the command help)."""
    from laanet.demo.job import DemoOptions, run_demo
    from laanet.faces import FaceError
    from laanet.inference.detector import DefaultWeightsMissing
    from laanet.media import MediaError

    if out.exists() and not out.is_dir():
        raise fail(f"--out {out} exists and is not a folder", code=2)
    inference = inference_options(weights=weights, sha256=sha256, backend=backend, device=device, frames=frames,
                                  threshold=threshold, flip_test=flip_test, face_backend=face_backend,
                                  batch_size=batch_size)
    options = DemoOptions(out_dir=out, inference=inference, views=views, seed=seed, samples=samples)
    try:
        summary = run_demo(options)
    except DefaultWeightsMissing as err:
        raise fail(f"{err} (or reinstall laanet: the demo weights ship in laanet/weights/demo.pt)", code=2) from None
    except (FileNotFoundError, ValueError) as err:  # bad weights (CheckpointError is a ValueError) or options
        raise fail(str(err), code=2) from None
    except (MediaError, FaceError) as err:
        raise fail(str(err)) from None
    except OSError as err:
        raise fail(f"cannot write the demo output in {out}: {err}", code=2) from None
    for kind, auc in summary.aucs.items():
        typer.echo(f"held-out AUC ({kind}): {'n/a' if auc is None else f'{auc:.3f}'}")
    typer.echo(f"report: {summary.report_md}  {summary.report_html}")


def register(app: typer.Typer) -> None:
    app.command(help=HELP)(demo)
