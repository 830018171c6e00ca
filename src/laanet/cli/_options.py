"""The inference flags every command shares: one name, one help text and one default per option.

``detect``, ``serve``, ``demo`` and ``eval`` declare their parameters with these types, and
:func:`inference_options` turns the parsed values into a :class:`laanet.inference.options.InferenceOptions`
(weights given by URL or ``hf://`` are downloaded to the cache first, see :mod:`laanet.hub`). Defaults are read from
``InferenceOptions`` itself, so a command cannot drift from the API. Nothing here imports torch.
"""
from __future__ import annotations

import dataclasses
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from laanet.cli._common import fail
from laanet.inference.options import BACKENDS, InferenceOptions

if TYPE_CHECKING:
    from pathlib import Path

DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(InferenceOptions)}

Backend = Enum("Backend", {name: name for name in BACKENDS}, type=str)  # type: ignore[misc]

WeightsOption = Annotated[Optional[str], typer.Option(
    "--weights", "-w", metavar="PATH|URL",
    help="Checkpoint: laanet .pt, the authors' .pth, or .onnx (with --backend onnx); a path, an https:// URL "
         "(downloaded once to $LAANET_CACHE, default ~/.cache/laanet) or hf://OWNER/REPO/FILE[@REVISION] (the Hugging "
         "Face cache; HF_HUB_OFFLINE honoured). Default: the bundled demo weights.")]
RequiredWeightsOption = Annotated[str, typer.Option(
    "--weights", "-w", metavar="PATH|URL",
    help="Checkpoint: laanet .pt or the authors' .pth; a path, an https:// URL (downloaded once to the cache) or "
         "hf://OWNER/REPO/FILE[@REVISION] (the Hugging Face cache).")]
Sha256Option = Annotated[Optional[str], typer.Option(
    "--sha256", help="Expected SHA-256 of the weights file; a download that does not match is deleted and refused.")]
BackendOption = Annotated[Backend, typer.Option("--backend", help="torch (PyTorch) or onnx (ONNX Runtime, CPU).")]
DeviceOption = Annotated[str, typer.Option("--device", help="auto (CUDA when present, else CPU), cpu, cuda or cuda:N.")]
ThresholdOption = Annotated[float, typer.Option(
    "--threshold", min=0.0, max=1.0, help="P(fake) at or above which a file is labelled fake.")]
FramesOption = Annotated[int, typer.Option("--frames", min=1, help="Frames sampled evenly per video (paper: 32).")]
FlipTestOption = Annotated[bool, typer.Option(
    "--flip-test/--no-flip-test", help="Average the logits of each face crop and its mirror (the official test does).")]
FaceBackendOption = Annotated[str, typer.Option("--face-backend", help="Face detector: mediapipe or dlib.")]
BatchSizeOption = Annotated[int, typer.Option("--batch-size", min=1, help="Face crops per forward pass.")]
CalibrationOption = Annotated[Optional[str], typer.Option(
    "--calibration", metavar="CAL.json",
    help="A calibration file from laanet calibrate (made for these weights, else refused): results then give the "
         "calibrated probability, the band and the operating point, and label by that point. See docs/calibration.md.")]
OperatingPointOption = Annotated[Optional[str], typer.Option(
    "--operating-point", metavar="fpr1|fpr5|eer|threshold",
    help="With --calibration: the point whose threshold decides the label (default: the file's default, fpr5); "
         "'threshold' keeps --threshold.")]


def resolve_weights_option(weights: str | None, sha256: str | None) -> Path | None:
    """The local file for ``--weights`` (URLs downloaded, ``--sha256`` checked); None stays None.

    Exits with code 2 and a one-line message on a missing file, a failed download or a wrong SHA-256.
    """
    from laanet.hub import WeightsFetchError, resolve_weights

    if weights is None:
        if sha256 is not None:
            raise fail("--sha256 needs --weights", code=2)
        return None
    try:
        return resolve_weights(weights, sha256=sha256)
    except (FileNotFoundError, WeightsFetchError) as err:
        raise fail(str(err), code=2) from None


def inference_options(*, weights: str | None, sha256: str | None = None, **values: Any) -> InferenceOptions:
    """``InferenceOptions`` from parsed flags (enums to their values); bad values exit with code 2."""
    path = resolve_weights_option(weights, sha256)
    values = {k: v.value if isinstance(v, Enum) else v for k, v in values.items()}
    if values.get("calibration") is not None:
        check_calibration_option(values["calibration"], path, values.get("operating_point"))
    try:
        return InferenceOptions(weights=None if path is None else str(path), **values)
    except ValueError as err:
        raise fail(str(err), code=2) from None


def check_calibration_option(calibration: str, weights: Path | None, operating_point: str | None) -> None:
    """Exit with code 2 and one line unless ``--calibration`` is a calibration file made for ``weights``
    (None: the bundled demo weights) that has ``--operating-point``. Checked before any model is loaded."""
    from laanet.calibration import Calibration, CalibrationError
    from laanet.inference.detector import DefaultWeightsMissing, default_weights
    from laanet.inference.provenance import file_sha256

    try:
        cal = Calibration.load(calibration)
        path = weights if weights is not None else default_weights()
        if path.is_file():  # a missing weights file is reported when the detector is built
            cal.check_weights(file_sha256(path), path.name)
        if operating_point not in (None, "threshold"):
            cal.point(operating_point)
    except (CalibrationError, DefaultWeightsMissing) as err:
        raise fail(str(err), code=2) from None
