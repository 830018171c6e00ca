"""``laanet detect``: verdicts with heatmaps for images, videos and folders."""
from __future__ import annotations

import csv
import json
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

HELP = """Score images, videos and folders (recursive) for face deepfakes.

Each face is cropped (1.5x box, aligned by the eyes, 256 px) and scored by LAA-Net; a face's score is
sigmoid(logit), with --flip-test the mean logit of the crop and its mirror. A frame's score is the max over
its faces; a video's score is sigmoid(mean of its frame logits), as in the paper; frames without a face do
not count, and a file with no face anywhere is "no_face". A file is labelled fake when its score >= --threshold.

Writes OUT/results.json (and OUT/results.csv with --format csv), heatmap overlays under OUT/heatmaps/ and, for
videos, a per-frame score timeline. Exit code: 0 when every input was read (no_face counts as read), 1 when
any input could not be read (the others are still written), 2 for usage errors.
"""


class Backend(str, Enum):
    torch = "torch"
    onnx = "onnx"


class Format(str, Enum):
    json = "json"
    csv = "csv"


CSV_FIELDS = [
    "path", "kind", "status", "file_score", "label", "frame_index", "time_s", "frame_score",
    "face_index", "x1", "y1", "x2", "y2", "face_score", "heatmap", "error",
]


def write_csv(path: Path, results: list[dict]) -> None:
    """One row per face per frame; files without faces get one row with empty face fields."""
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for r in results:
            base = {"path": r["path"], "kind": r["kind"], "status": r["status"], "file_score": r["score"], "label": r["label"], "error": r["error"]}
            rows = 0
            for fr in r["frames"]:
                for k, face in enumerate(fr["faces"]):
                    x1, y1, x2, y2 = face["box"]
                    writer.writerow({**base, "frame_index": fr["index"], "time_s": fr["time_s"], "frame_score": fr["score"],
                                     "face_index": k, "x1": x1, "y1": y1, "x2": x2, "y2": y2,
                                     "face_score": face["score"], "heatmap": face["heatmap"]})
                    rows += 1
            if not rows:
                writer.writerow(base)


def register(app: typer.Typer) -> None:
    @app.command(help=HELP)
    def detect(
        paths: List[Path] = typer.Argument(..., help="Images, videos or folders."),
        weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="Checkpoint (laanet, official, or .onnx). Default: bundled demo weights."),
        out: Path = typer.Option(Path("laanet-output"), "--out", "-o", help="Output folder."),
        frames: int = typer.Option(32, "--frames", min=1, help="Frames sampled evenly per video."),
        backend: Backend = typer.Option(Backend.torch, "--backend", help="Inference backend."),
        device: str = typer.Option("cpu", "--device", help="cpu or cuda (torch backend)."),
        flip_test: bool = typer.Option(True, "--flip-test/--no-flip-test", help="Average logits with the mirrored crop."),
        threshold: float = typer.Option(0.5, "--threshold", min=0.0, max=1.0, help="P(fake) at or above which a file is fake."),
        fmt: Format = typer.Option(Format.json, "--format", help="json: results.json; csv: also results.csv."),
        save_heatmaps: bool = typer.Option(True, "--save-heatmaps/--no-save-heatmaps", help="Write heatmap overlay PNGs."),
        batch_size: int = typer.Option(8, "--batch-size", min=1, help="Faces per forward pass."),
        face_backend: Optional[str] = typer.Option(None, "--face-backend", help="Face detector backend (default: laanet.faces default)."),
    ) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from laanet.faces import FaceError
        from laanet.inference.detector import Detector, collect_inputs
        from laanet.models.checkpoint import CheckpointError

        if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
            typer.echo(f"error: --device must be cpu or cuda, got {device!r}", err=True)
            raise typer.Exit(2)
        missing = [str(p) for p in paths if not p.exists()]
        if missing and len(missing) == len(paths):
            typer.echo(f"error: no such file or folder: {', '.join(missing)}", err=True)
            raise typer.Exit(1)
        try:
            detector = Detector(
                weights, backend=backend.value, device=device, frames=frames, flip_test=flip_test,
                threshold=threshold,
                batch_size=batch_size, face_backend=face_backend,
            )
        except (FileNotFoundError, CheckpointError, FaceError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1)
        except ValueError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2)

        inputs = collect_inputs(paths)
        if not inputs:
            typer.echo("error: no images or videos found in the given paths", err=True)
            raise typer.Exit(1)
        out.mkdir(parents=True, exist_ok=True)
        results: list[dict] = []
        with Progress(
            TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=__import__("rich.console", fromlist=["Console"]).Console(stderr=True), transient=False,
        ) as progress:
            task = progress.add_task("detect", total=len(inputs))
            for res in detector.detect_many(inputs, heatmap_dir=out / "heatmaps" if save_heatmaps else None):
                results.append(res.to_dict())
                progress.update(task, advance=1, description=Path(res.path).name[:30])
        payload = {"model": detector.model_info, "results": results}
        (out / "results.json").write_text(json.dumps(payload, indent=2))
        if fmt == Format.csv:
            write_csv(out / "results.csv", results)
        errors = [r for r in results if r["status"] == "error"]
        for r in results:
            verdict = r["label"] or r["status"]
            score = "-" if r["score"] is None else f"{r['score']:.3f}"
            typer.echo(f"{verdict:>8}  {score:>6}  {r['path']}" + (f"  ({r['error']})" if r["error"] else ""))
        typer.echo(f"wrote {out / 'results.json'}" + (f" and {out / 'results.csv'}" if fmt == Format.csv else ""), err=True)
        if errors:
            raise typer.Exit(1)
