"""``laanet detect``: verdicts with heatmaps for images, videos and folders."""
from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, List

import typer

from laanet.cli._common import fail
from laanet.cli._ray import RayActors, RayAddress, RayCpus, RayGpus
from laanet.cli._options import (
    DEFAULTS, Backend, BackendOption, BatchSizeOption, CalibrationOption, DeviceOption, FaceBackendOption, FlipTestOption,
    FramesOption, OperatingPointOption, Sha256Option, ThresholdOption, WeightsOption, inference_options,
)

HELP = """Score images, videos and folders (recursive) for face deepfakes.

Each face is cropped (1.5x box, aligned by the eyes, 256 px) and scored by LAA-Net; a face's score is
sigmoid(logit), with --flip-test the mean logit of the crop and its mirror. A frame's score is the max over
its faces; a video's score is sigmoid(mean of its frame logits), as in the paper; frames without a face do
not count, and a file with no face anywhere is "no_face". A file is labelled fake when its score >= --threshold.

Scores are not calibrated probabilities. With --calibration CAL.json (from laanet calibrate, for the same weights)
each result also gives the calibrated probability and a band (likely fake / uncertain / likely real), and the
label is decided by the calibration's operating point (--operating-point, default fpr5: the threshold that
flagged at most 5 % of the calibration's real files); --operating-point threshold keeps --threshold.

Writes OUT/results.jsonl as it goes (one line per input, so a run that stops part-way keeps its results), then
OUT/results.json (and OUT/results.csv with --format csv), heatmap overlays under OUT/heatmaps/ and, for videos,
a per-frame score timeline. --resume skips the inputs already in OUT/results.jsonl: a large folder can be
finished over several runs (Ctrl-C is safe).

Exit code: 0 when every input was read (no_face counts as read), 1 when any input could not be read (the others
are still written), 2 for usage errors (bad options, unusable weights, an output folder that cannot be written),
130 when interrupted (Ctrl-C), 143 when terminated (SIGTERM).
"""

_log = logging.getLogger(__name__)


class Format(str, Enum):
    json = "json"
    csv = "csv"


def _load_detector(options):
    """The Detector for ``options``; any failure to load becomes a one-line error with exit code 2."""
    from laanet.faces import FaceError
    from laanet.inference.detector import Detector

    try:
        return Detector(options)
    except (FileNotFoundError, ValueError, FaceError) as err:  # CheckpointError and DeviceError are ValueErrors
        raise fail(str(err), code=2) from None
    except Exception as err:  # noqa: BLE001 - e.g. ONNX Runtime refusing a file: say which file, no traceback
        _log.debug("loading the weights failed", exc_info=True)
        raise fail(f"cannot load the weights {options.weights or '(bundled demo weights)'}: "
                   f"{type(err).__name__}: {err}", code=2) from None


class _Terminated(KeyboardInterrupt):
    """SIGTERM (e.g. ``kill``, a batch scheduler's time limit), handled like Ctrl-C."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`_Terminated` while the run lasts (main thread only), so it ends cleanly too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _verdict_line(result: dict) -> str:
    verdict = result["label"] or result["status"]
    score = "-" if result["score"] is None else f"{result['score']:.3f}"
    cal = result.get("calibration") or {}
    band = f"  [{cal['band']}, calibrated P {cal['probability']:.3f}]" if cal.get("band") else ""
    flags = ", ".join(f["code"] for f in result.get("flags") or [])
    return (f"{verdict:>8}  {score:>6}  {result['path']}{band}" + (f"  ({result['error']})" if result["error"] else "")
            + (f"  [flags: {flags}]" if flags else ""))


def detect(
    paths: Annotated[List[Path], typer.Argument(help="Images, videos or folders.")],
    weights: WeightsOption = None,
    sha256: Sha256Option = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("laanet-output"),
    backend: BackendOption = Backend(DEFAULTS["backend"]),
    device: DeviceOption = DEFAULTS["device"],
    threshold: ThresholdOption = DEFAULTS["threshold"],
    frames: FramesOption = DEFAULTS["frames"],
    flip_test: FlipTestOption = DEFAULTS["flip_test"],
    face_backend: FaceBackendOption = DEFAULTS["face_backend"],
    batch_size: BatchSizeOption = DEFAULTS["batch_size"],
    max_faces: Annotated[int, typer.Option("--max-faces", min=1, help=(
        "More faces (people, in a video) than this flags a result too_many_faces; all are still scored."))] = DEFAULTS["max_faces"],
    calibration: CalibrationOption = None,
    operating_point: OperatingPointOption = None,
    fmt: Annotated[Format, typer.Option("--format", help="json: results.json; csv: also results.csv.")] = Format.json,
    save_heatmaps: Annotated[bool, typer.Option(
        "--save-heatmaps/--no-save-heatmaps", help="Write heatmap overlay PNGs.")] = True,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Skip inputs already in OUT/results.jsonl (finish an interrupted run).")] = False,
    report: Annotated[bool, typer.Option("--report", help="Also write OUT/report.html (laanet report).")] = False,
    ray: RayAddress = None,
    ray_actors: RayActors = 1,
    ray_cpus: RayCpus = 1.0,
    ray_gpus: RayGpus = 0.0,
) -> None:
    """Score images, videos and folders for face deepfakes (see the command help)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from laanet.inference.detector import collect_inputs
    from laanet.inference.folder_run import DetectionStopped, ResumeError, detect_to_folder
    from laanet.inference.outputs import OutputError

    options = inference_options(weights=weights, sha256=sha256, backend=backend, device=device, threshold=threshold,
                                frames=frames, flip_test=flip_test, face_backend=face_backend, batch_size=batch_size,
                                max_faces=max_faces, calibration=calibration, operating_point=operating_point)
    missing = [str(p) for p in paths if not p.exists()]
    if missing and len(missing) == len(paths):
        raise fail(f"no such file or folder: {', '.join(missing)}")
    if out.exists() and not out.is_dir():
        raise fail(f"--out {out} exists and is not a folder", code=2)
    inputs = collect_inputs(paths)
    if not inputs:
        raise fail("no images or videos found in the given paths")
    detector = _load_detector(options)
    if ray:  # the files are scored by Ray actors; the outputs are written here as without --ray
        from laanet.scale.ray_cluster import RayOptions
        from laanet.scale.ray_detect import RayDetector

        try:
            detector = RayDetector(detector, RayOptions(ray, ray_actors, ray_cpus, ray_gpus))
        except ValueError as err:
            raise fail(str(err), code=2) from None

    done = 0
    with Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), transient=False,
    ) as progress:
        task = progress.add_task("detect", total=len(inputs))

        def on_result(result: dict) -> None:
            nonlocal done
            done += 1
            progress.update(task, advance=1, description=Path(result["path"]).name[:30])
            typer.echo(_verdict_line(result))

        try:
            with _sigterm_as_interrupt():
                run = detect_to_folder(detector, inputs, out, resume=resume, save_heatmaps=save_heatmaps,
                                       csv=fmt == Format.csv, on_result=on_result)
        except KeyboardInterrupt as stop:
            progress.stop()
            typer.echo(f"{'terminated' if isinstance(stop, _Terminated) else 'interrupted'} after {done} new "
                       f"result(s); every finished input is in {out / 'results.jsonl'}. "
                       "Run the same command with --resume to finish.", err=True)
            raise typer.Exit(143 if isinstance(stop, _Terminated) else 130) from None
        except (OutputError, ResumeError) as err:
            progress.stop()
            kept = f" ({done} new result(s) are in {out / 'results.jsonl'}; finish with --resume)" if done else ""
            raise fail(f"{err}{kept}", code=2) from None
        except DetectionStopped as err:
            progress.stop()
            raise fail(f"{err}; the {done} new result(s) are in {out / 'results.jsonl'} (--resume continues)") from None
    if run.skipped:
        typer.echo(f"{run.skipped} input(s) already done in an earlier run (--resume)", err=True)
    written = f"{run.results_json}" + (f" and {run.results_csv}" if run.results_csv else "")
    typer.echo(f"wrote {written}: {len(run.results)} input(s), {run.errors} unreadable", err=True)
    if report:
        from laanet.cli.report import report as write_html

        write_html(out)
    if run.errors:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command(help=HELP)(detect)
