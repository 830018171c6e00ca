"""The Python API behind ``laanet detect``: files in, verdicts with heatmaps out.

>>> from laanet import Detector
>>> detector = Detector()                              # bundled demo weights; Detector("laanet_sbi.pt", backend="onnx")
>>> result = detector("photo.jpg")                     # a path, URL, folder, array, PIL image, bytes, or a list
>>> result.status, result.label, result.score          # ('ok', 'fake', 0.93)
>>> result.frames[0].faces[0].heatmap.shape            # (96, 96) P(vulnerable point) of that face
>>> result.save("out/"); fig = result.plot()           # overlays + raw heatmaps + JSON; a matplotlib figure

Faces of many frames and files are batched together for throughput; results come back in input order. A
detector holds no per-call state: per-call options are arguments, and one instance can be shared by threads
(face detection and the model each run under a lock; the rest of a call runs concurrently).
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from laanet.calibration.apply import apply_to_result, load_for_weights
from laanet.device import resolve_device
from laanet.inference.options import InferenceOptions
from laanet.inference.pipeline import StageTimes, run_overlapped
from laanet.inference.provenance import Provenance, WeightsInfo, file_sha256
from laanet.inference.results import (
    FaceResult,
    FileResult,
    FrameResult,
    ResultList,
    overlay_name,
    safe_stem,
    save_face_heatmaps,
    timeline_name,
)
from laanet.inference.sources import ACCEPTED, Input, NoInputsError, collect_inputs, expand, iter_inputs
from laanet.media import MediaError

__all__ = ["ACCEPTED", "DefaultWeightsMissing", "Detector", "NoInputsError", "collect_inputs", "default_weights"]
_log = logging.getLogger(__name__)
PER_CALL_OPTIONS = ("frames", "flip_test", "threshold", "batch_size", "max_faces")  # the rest fix what the detector loads


class DefaultWeightsMissing(FileNotFoundError):
    """No bundled demo weights in this installation."""


def default_weights() -> Path:
    """The demo weights shipped inside the package (``laanet/weights/demo.pt``)."""
    path = Path(str(resources.files("laanet") / "weights" / "demo.pt"))
    if not path.is_file():
        raise DefaultWeightsMissing(
            "no bundled default weights in this installation; pass --weights PATH (a laanet or official LAA-Net checkpoint)"
        )
    return path


@dataclass(frozen=True)
class _Run:
    """Everything one ``detect``/``detect_many`` call needs beyond the detector: nothing of it is shared."""

    options: InferenceOptions
    provenance: Provenance
    heatmap_dir: Path | None = None
    keep_overlays: bool = False
    on_frames: Callable[[int], None] | None = None
    times: StageTimes = field(default_factory=StageTimes)  # where the time went (decode, faces, model, overlays)

    @property
    def render(self) -> bool:
        return self.keep_overlays or self.heatmap_dir is not None


@dataclass
class _Pending:
    """One input on its way through detection → batched inference → rendering."""

    result: FileResult
    images: dict[int, tuple[np.ndarray, float]] = field(default_factory=dict)  # frame pos -> (overlay canvas, scale)
    crops: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)  # (frame pos, face pos) -> crop matrix


def _option_property(name: str) -> property:
    """``detector.<name>`` reads ``detector.options.<name>``; assigning replaces the options (validated)."""

    def set_option(self: Detector, value: Any) -> None:
        self.options = self.options.replace(**{name: value})

    return property(lambda self: getattr(self.options, name), set_option, doc=f"Shorthand for ``options.{name}``.")


def _local_weights(spec: str) -> Path:
    """A local file for ``spec``: a path as is; an ``https://`` URL or ``hf://OWNER/REPO/FILE[@REV]`` fetched once
    into its cache (:func:`laanet.hub.resolve_weights`; offline and not cached: ``WeightsFetchError``, one line)."""
    from laanet.hub import is_hf, is_url, resolve_weights

    return resolve_weights(spec) if is_url(spec) or is_hf(spec) else Path(spec)


class Detector:
    """Deepfake detector (either model family) over images, videos, folders, arrays, bytes and URLs.

    ``Detector(options)`` or ``Detector(weights=..., backend=..., ...)``: keyword overrides are applied on top
    of ``options`` (default :class:`InferenceOptions`), so ``Detector("model.pt", frames=8)`` works as before.
    See :class:`~laanet.inference.options.InferenceOptions` for every option and its default.

    Raises:
        ValueError: a bad option (the message names it); ``laanet.device.DeviceError`` for an unusable device.
        FileNotFoundError: the weights file does not exist.
        laanet.models.errors.CheckpointError: the weights file is unreadable, does not fit, or holds NaN/inf.
    """

    def __init__(self, options: InferenceOptions | str | os.PathLike | None = None, **overrides: Any) -> None:
        from laanet.faces import DEFAULT_CROP_SIZE, FaceAnalyzer

        if isinstance(options, (str, os.PathLike)):  # Detector("weights.pt", ...) as before
            overrides = {"weights": options, **overrides}
            options = None
        elif options is not None and not isinstance(options, InferenceOptions):
            raise TypeError(f"Detector(options): expected InferenceOptions, a weights path or None, got {type(options).__name__}")
        if overrides.get("face_backend", "") is None:  # None meant "the default" in earlier versions
            overrides.pop("face_backend")
        options = (options or InferenceOptions()).replace(**overrides)
        self.options = options
        self.device = resolve_device(options.device, backend=options.backend)
        path = _local_weights(options.weights) if options.weights is not None else default_weights()
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}" + (" (a folder)" if path.is_dir() else ""))
        sha256 = file_sha256(path)
        if options.backend == "onnx":
            from laanet.inference.runner import OnnxRunner

            self.runner = OnnxRunner(path, sha256=sha256)
        else:
            if path.suffix == ".onnx":
                raise ValueError(f"weights: {path} is an ONNX file; use backend='onnx' (--backend onnx)")
            from laanet.inference.runner import TorchRunner
            from laanet.models.checkpoint import load_model

            self.runner = TorchRunner(load_model(path), device=self.device)
        self.weights = path
        fmt = "onnx" if path.suffix == ".onnx" else str(self.runner.meta.get("format", "laanet"))
        self.weights_info = WeightsInfo(name=path.name, sha256=sha256, format=fmt)
        # The model's test-time preprocessing (input size, margin, normalisation, framing) and stored crop side.
        self.preprocess = self.runner.preprocess
        self.crop_size = self.preprocess.crop_size if self.preprocess.crop_size else DEFAULT_CROP_SIZE
        self.calibration = None if options.calibration is None else load_for_weights(  # CalibrationError: other weights
            options.calibration, weights_sha256=sha256, weights_name=path.name, operating_point=options.operating_point,
            options=options.to_dict())
        self.faces = FaceAnalyzer(backend=options.face_backend)
        self._faces_lock = threading.Lock()  # FaceAnalyzer is not thread-safe
        self._model_lock = threading.Lock()  # one forward pass at a time (they would only split the cores)
        from laanet.faces.identity import FaceDescriber
        from laanet.inference.tracking import TrackingConfig

        self.describer = FaceDescriber()  # links a person's faces across a video's frames (laanet.inference.tracking)
        self.tracking = TrackingConfig()  # how (None describer: by boxes only)

    frames = _option_property("frames")
    flip_test = _option_property("flip_test")
    threshold = _option_property("threshold")
    batch_size = _option_property("batch_size")

    @property
    def input_size(self) -> int:
        """Network input side in pixels (the model's ``preprocess.input_size``)."""
        return self.runner.input_size

    @property
    def family(self) -> str:
        """The model family (``laanet`` or ``fakeformer``)."""
        return self.runner.family

    @property
    def model_name(self) -> str:
        """A short name of the architecture (e.g. ``laanet-efficientnet_b4``, ``fakeformer-vit_s8``)."""
        return self.runner.model_name

    def provenance(self, options: InferenceOptions | None = None) -> Provenance:
        """Where results of this detector come from (with ``options``, default this detector's), stamped now."""
        return Provenance(
            weights=self.weights_info,
            backend=self.runner.name,
            device=self.device,
            input_size=self.input_size,
            crop_size=self.crop_size,
            options=(options or self.options).to_dict(),
            model={"family": self.family, "name": self.model_name},
            calibration=None if self.calibration is None else self.calibration.provenance(),
        )

    @property
    def model_info(self) -> dict:
        """What was loaded, as a flat dict (kept for older callers; :meth:`provenance` is the full record)."""
        meta = {k: v for k, v in self.runner.meta.items() if k not in ("config", "onnx", "path")}
        return {
            "weights": self.weights.name,
            "weights_sha256": self.weights_info.sha256,
            "backend": self.runner.name,
            "device": self.device,
            "input_size": self.input_size,
            "family": self.family,
            "model_name": self.model_name,
            "flip_test": self.flip_test,
            "threshold": self.threshold,
            # with a calibration: its file, the operating point and the score threshold that decides labels
            "calibration": None if self.calibration is None else self.calibration.file_name,
            "operating_point": None if self.calibration is None or self.calibration.operating_point is None
            else self.calibration.operating_point.name,
            "decision_threshold": self.threshold if self.calibration is None
            else round(self.calibration.decision_threshold(self.threshold), 6),
            "frames_per_video": self.frames,
            "face_backend": self.options.face_backend,
            **{k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool, type(None)))},
        }

    def __repr__(self) -> str:
        o = self.options
        return (
            f"Detector(weights={self.weights.name!r}, backend={o.backend!r}, device={self.device!r}, "
            f"threshold={o.threshold}, frames={o.frames}, flip_test={o.flip_test}, face_backend={o.face_backend!r})"
        )

    # -- public API ----------------------------------------------------------------------------------------------

    def __call__(self, source: Any, **kwargs: Any) -> FileResult | ResultList:
        """Same as :meth:`detect`."""
        return self.detect(source, **kwargs)

    def detect(
        self,
        source: Any,
        *,
        heatmap_dir: str | os.PathLike | None = None,
        keep_overlays: bool = True,
        on_frames: Callable[[int], None] | None = None,
        **options: Any,
    ) -> FileResult | ResultList:
        """Score one input, or every file of a folder or list.

        Args:
            source: a path or URL to an image or video, a folder, an RGB array, a PIL image, bytes, a binary
                file object, or a list of these (see :mod:`laanet.inference.sources`).
            heatmap_dir: also write overlays (PNG), raw heatmaps (``.npy``) and video timelines there.
            keep_overlays: keep each frame's overlay as an array (``FrameResult.overlay``).
            on_frames: progress callback, called with 1 as each frame is analysed.
            **options: per-call values of ``frames``, ``flip_test``, ``threshold`` or ``batch_size``.

        Returns:
            A :class:`FileResult` for one input; a :class:`ResultList` (a list, in input order) for a folder
            or a list. A file that cannot be decoded gives ``status="error"`` with a message, not an exception.

        Raises:
            TypeError: ``source`` is none of the accepted types.
            FileNotFoundError: a path that does not exist.
            NoInputsError: a folder (or list) with no image or video.
        """
        run = self._new_run(options, heatmap_dir=heatmap_dir, keep_overlays=keep_overlays, on_frames=on_frames)
        inputs, batch = expand(source, strict=True)
        if batch and not inputs:
            raise NoInputsError("nothing to detect: the list is empty")
        results = list(self._run(inputs, run))
        return ResultList(results, provenance=run.provenance) if batch else results[0]

    def detect_many(
        self,
        sources: Iterable[Any],
        *,
        heatmap_dir: str | os.PathLike | None = None,
        keep_overlays: bool = False,
        on_frames: Callable[[int], None] | None = None,
        times: StageTimes | None = None,
        **options: Any,
    ) -> Iterator[FileResult]:
        """Yield one :class:`FileResult` per input, in order, as they finish (folders expanded recursively).

        Takes the same sources and options as :meth:`detect`; meant for long runs: an input that does not
        exist or cannot be read gives an ``error`` result instead of an exception, and nothing is held in
        memory beyond the current batch (``keep_overlays=False`` by default). ``times``: a
        :class:`~laanet.inference.pipeline.StageTimes` to add this run's seconds per stage to.
        """
        run = self._new_run(
            options, heatmap_dir=heatmap_dir, keep_overlays=keep_overlays, on_frames=on_frames, times=times or StageTimes()
        )
        yield from self._run(iter_inputs(sources, strict=False), run)

    # -- pipeline ------------------------------------------------------------------------------------------------

    def _new_run(self, overrides: dict[str, Any], **kwargs: Any) -> _Run:
        fixed = sorted(set(overrides) - set(PER_CALL_OPTIONS))
        if fixed:
            raise TypeError(
                f"per-call options are {', '.join(PER_CALL_OPTIONS)}; {', '.join(fixed)} is fixed when the Detector is built"
            )
        options = self.options.replace(**overrides) if overrides else self.options
        heatmap_dir = kwargs.pop("heatmap_dir")
        return _Run(
            options=options,
            provenance=self.provenance(options),
            heatmap_dir=None if heatmap_dir is None else Path(heatmap_dir),
            **kwargs,
        )

    def _run(self, inputs: Iterable[Input], run: _Run) -> Iterator[FileResult]:
        """Results in input order; reading and face finding run in a producer thread while the model runs here
        (:mod:`laanet.inference.pipeline`)."""

        def start(item: Input) -> _Pending:
            return _Pending(FileResult(path=item.name, kind=item.kind_hint, threshold=run.options.threshold, provenance=run.provenance))

        try:
            yield from run_overlapped(
                inputs,
                start=start,
                analyse=lambda state, item, emit: self._analyse(state, item, emit, run),
                infer=lambda batch: self._infer(batch, run),
                finish=lambda state: self._finish(state, run),
                batch_size=run.options.batch_size,
                times=run.times,
            )
        finally:
            _log.debug("%s", run.times.summary())

    def _analyse(self, state: _Pending, item: Input, emit: Callable[[Any], None], run: _Run) -> None:
        """Read the input's frames, find and crop its faces, and ``emit`` each for the model (producer thread)."""
        result = state.result
        try:
            with run.times.measure("decode"):
                result.kind, frames, result.error = item.load(run.options.frames)
        except (MediaError, OSError, ValueError) as err:
            result.status, result.error = "error", str(err)
            return
        with run.times.measure("faces"):
            self._find_faces(state, frames, emit, run)

    def _find_faces(self, state: _Pending, frames: list, emit: Callable[[Any], None], run: _Run) -> None:
        """Detect and crop the faces of each frame; ``emit((face result, network input))`` for each. Each face gets
        its quality measures (``laanet.inference.flags``) and, once all frames are read, its person
        (``laanet.inference.tracking``).

        A frame on which the face detector fails (it recovers by itself) counts as a frame without faces; a
        file on whose every frame it fails is an ``error``. A detector that cannot recover
        (``FaceBackendError``) and unexpected exceptions propagate: the caller must know the detector is broken.
        """
        from laanet.faces import FaceBackendError, FaceError, crop_face
        from laanet.inference.flags import measure_face
        from laanet.inference.preprocess import crop_to_input, margin_for
        from laanet.inference.render import overlay_canvas
        from laanet.inference.tracking import assign_people

        result = state.result
        failed: list[str] = []
        too_small: list[str] = []  # why a frame could not hold a face (e.g. a 1×1 image), for the no_face message
        detections: list[list] = []  # per frame, the face detections (for linking people)
        for pos, (index, time_s, image) in enumerate(frames):
            frame = FrameResult(index=index, time_s=time_s)
            result.frames.append(frame)
            try:
                with self._faces_lock:
                    faces = self.faces.detect(image)
            except FaceBackendError:
                raise
            except FaceError as err:
                _log.warning("%s frame %d: face detection failed: %s", result.path, index, err)
                failed.append(str(err))
                faces = []
            detections.append(faces)
            if not faces and (reason := self.faces.too_small_reason(image)):
                too_small.append(reason)
            for k, face in enumerate(faces):
                crop = crop_face(image, face, size=self.crop_size)
                scored = FaceResult(box=[float(v) for v in face.box], logit=float("nan"), detector_score=float(face.score))
                scored.quality = measure_face(image, face.box, crop.image, crop.matrix, self.input_size, margin_for(self.crop_size, self.preprocess))
                frame.faces.append(scored)
                state.crops[(pos, k)] = crop.matrix
                emit((scored, crop_to_input(crop.image, self.preprocess)))
            if faces and run.render:
                state.images[pos] = overlay_canvas(image)  # capped size: big frames are not held until rendered
            if run.on_frames is not None:
                run.on_frames(1)
        assign_people(result.frames, detections, [image for _, _, image in frames], video=result.kind == "video",
                      describer=self.describer, config=self.tracking)
        if too_small and not any(frame.faces for frame in result.frames):
            note = f"no face can be found: {too_small[0]}"
            result.error = f"{result.error}; {note}" if result.error else note
        if failed and len(failed) == len(frames):
            result.status, result.error = "error", f"face detection failed: {failed[0]}"
        elif failed:
            note = f"face detection failed on {len(failed)} of {len(frames)} frames ({failed[0]})"
            result.error = f"{result.error}; {note}" if result.error else note

    def _infer(self, batch: list[tuple[_Pending, tuple[FaceResult, np.ndarray]]], run: _Run) -> None:
        """One model call for a batch of faces (with ``flip_test`` their mirrors ride in the same call)."""
        x = np.stack([x for _, (_, x) in batch])  # B, 3, S, S
        with self._model_lock:
            logits, heat = self.runner.predict(x, flip_test=run.options.flip_test)
        for i, (_, (face, _)) in enumerate(batch):
            face.logit = float(logits[i])
            face.heatmap = None if heat is None else heat[i]

    def _finish(self, state: _Pending, run: _Run) -> FileResult:
        from laanet.inference.flags import FlagLimits, file_flags, model_face_px
        from laanet.inference.preprocess import margin_for

        state.result.finalize()
        face_px = model_face_px(self.input_size, self.crop_size, margin_for(self.crop_size, self.preprocess))
        state.result.flags = file_flags(state.result, requested_frames=run.options.frames,
                                        limits=FlagLimits(max_faces=run.options.max_faces), face_px=face_px)
        apply_to_result(state.result, self.calibration)  # calibrated probability, band, operating-point threshold
        if state.result.status == "ok":
            with run.times.measure("overlays"):
                self._render(state, run)
        state.images.clear()
        return state.result

    def _render(self, state: _Pending, run: _Run) -> None:
        """Overlays (kept and/or written), raw heatmaps and the video timeline, as ``run`` asks."""
        from laanet.inference.render import OverlayFace, render_overlay, save_rgb, save_timeline

        result = state.result
        stem = safe_stem(result.path)
        for pos, (canvas, scale) in state.images.items():
            frame = result.frames[pos]
            faces = [
                OverlayFace(f.box, f.score, f.heatmap, state.crops[(pos, k)], self.crop_size, self.preprocess)
                for k, f in enumerate(frame.faces)
            ]
            overlay = render_overlay(canvas, faces, result.threshold, frame_scale=scale)
            if run.keep_overlays:
                frame.overlay = overlay
            if run.heatmap_dir is not None:
                out = run.heatmap_dir / overlay_name(stem, frame.index)
                save_rgb(out, overlay)
                frame.overlay_path = str(out)
                save_face_heatmaps(frame, run.heatmap_dir, stem)
        self._render_people(state, run, stem)
        if run.heatmap_dir is not None and result.kind == "video" and result.frames:
            out = run.heatmap_dir / timeline_name(stem)
            times = [fr.time_s or 0.0 for fr in result.frames]
            save_timeline(out, times, [fr.score for fr in result.frames], result.threshold, result.title)
            result.timeline_path = str(out)

    def _render_people(self, state: _Pending, run: _Run, stem: str) -> None:
        """Each person's representative face as a picture (crop + heatmap), kept and/or written."""
        from laanet.inference.people import person_crop_name, person_picture
        from laanet.inference.preprocess import margin_for
        from laanet.inference.render import save_rgb

        result = state.result
        positions = {id(frame): pos for pos, frame in enumerate(result.frames)}
        for person in result.people:
            frame, k, face = person.representative
            pos = positions[id(frame)]
            if pos not in state.images:
                continue
            canvas, scale = state.images[pos]
            picture = person_picture(canvas, scale, state.crops[(pos, k)], self.crop_size, margin_for(self.crop_size, self.preprocess),
                                     face, result.threshold, self.preprocess)
            if run.keep_overlays:
                person.crop = picture
            if run.heatmap_dir is not None:
                out = run.heatmap_dir / person_crop_name(stem, person.id)
                save_rgb(out, picture)
                person.crop_path = str(out)
