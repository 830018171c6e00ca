"""``laanet demo``: the whole idea in a couple of minutes, offline, with the bundled weights and samples."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from laanet.cli._common import fail as _fail

HELP = """Run the demo: detect on the bundled sample photos and clips, and on pseudo-fakes made from two held-out
faces (SBI fakes and cv2.seamlessClone face swaps), then write heatmap overlays, OUT/report.md,
OUT/report.html and OUT/results.json with every score and the held-out AUCs.

Uses the bundled demo weights unless --weights is given. The demo model is a toy trained on a CPU from a
handful of photos (docs/model-card.md), not a forensic tool.
"""


def register(app: typer.Typer) -> None:
    @app.command(help=HELP)
    def demo(
        out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Output folder."),
        weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="Checkpoint to run instead of the bundled demo weights."),
        views: int = typer.Option(8, "--views", min=1, help="Views per held-out photo (each: one real, one SBI fake, one swap)."),
        frames: int = typer.Option(8, "--frames", min=1, help="Frames sampled per bundled clip."),
        seed: int = typer.Option(0, "--seed", help="Seed of the held-out views and fakes."),
        samples: bool = typer.Option(True, "--samples/--no-samples", help="Also score the bundled samples."),
        face_backend: Optional[str] = typer.Option(None, "--face-backend", help="Face detector backend (dlib or mediapipe)."),
    ) -> None:
        from laanet.demo.job import DemoOptions, run_demo
        from laanet.faces import FaceError
        from laanet.inference.detector import DefaultWeightsMissing
        from laanet.media import MediaError

        if out.exists() and not out.is_dir():
            raise _fail(f"--out {out} exists and is not a folder", code=2)
        options = DemoOptions(out_dir=out, weights=weights, views=views, frames=frames, seed=seed, samples=samples, face_backend=face_backend)
        try:
            summary = run_demo(options)
        except DefaultWeightsMissing as err:
            raise _fail(f"{err} (or reinstall laanet: the demo weights ship in laanet/weights/demo.pt)")
        except (FileNotFoundError, ValueError, MediaError, FaceError) as err:
            raise _fail(str(err))
        for kind, auc in summary.aucs.items():
            typer.echo(f"held-out AUC ({kind}): {'n/a' if auc is None else f'{auc:.3f}'}")
        typer.echo(f"report: {summary.report_md}  {summary.report_html}")
