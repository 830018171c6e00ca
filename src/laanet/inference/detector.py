"""The Python API behind ``laanet detect``: files in, verdicts with heatmaps out.

>>> from laanet import Detector
>>> result = Detector().detect("photo.jpg")          # or a video, or an H×W×3 RGB array
>>> result.status, result.score, result.label          # ('ok', 0.93, 'fake')
>>> result.frames[0].faces[0].heatmap.shape            # (96, 96) vulnerable-point heatmap of that face

Faces of many frames and files are batched together for throughput; results come back in input order.
"""
from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from laanet.device import resolve_device
from laanet.inference.options import InferenceOptions
from laanet.inference.preprocess import crop_to_input
from laanet.inference.render import OverlayFace, overlay_canvas, render_overlay, save_rgb, save_timeline
from laanet.inference.results import FaceResult, FileResult, FrameResult
from laanet.inference.runner import BACKENDS, OnnxRunner, TorchRunner
from laanet.media import MediaError, media_kind, read_image, read_video_frames, to_rgb_uint8
from laanet.media.image import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

_log = logging.getLogger(__name__)
CROP_SIZE = 256  # stored face-crop size (spec §3.1); the network input is resized from it


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


def collect_inputs(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand folders (recursively, images and videos by extension, sorted); files are kept as given."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(
                sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS)
            )
        else:
            out.append(p)  # missing or unsupported files become "error" results, not exceptions
    return out


@dataclass
class _Pending:
    """One input file on its way through detection → batched inference → rendering."""

    result: FileResult
    images: dict[int, tuple[np.ndarray, float]] = field(default_factory=dict)  # frame pos -> (overlay canvas, scale)
    crops: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)  # (frame pos, face pos) -> crop matrix
    waiting: int = 0  # faces not yet scored
    analysed: bool = False


def _option_property(name: str) -> property:
    """``detector.<name>`` reads ``detector.options.<name>``; assigning replaces the options (validated)."""

    def set_option(self: Detector, value: Any) -> None:
        self.options = self.options.replace(**{name: value})

    return property(lambda self: getattr(self.options, name), set_option, doc=f"Shorthand for ``options.{name}``.")


class Detector:
    """LAA-Net deepfake detector over images, videos and arrays.

    ``Detector(options)`` or ``Detector(weights=..., backend=..., ...)``: keyword overrides are applied on top
    of ``options`` (default :class:`InferenceOptions`), so ``Detector("model.pt", frames=8)`` works as before.
    See :class:`~laanet.inference.options.InferenceOptions` for every option and its default.
    """

    def __init__(self, options: InferenceOptions | str | os.PathLike | None = None, **overrides: Any) -> None:
        from laanet.faces import FaceAnalyzer

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
        path = Path(options.weights) if options.weights is not None else default_weights()
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}")
        if options.backend == "onnx":
            self.runner = OnnxRunner(path)
        else:
            if path.suffix == ".onnx":
                raise ValueError(f"{path} is an ONNX file; use backend='onnx'")
            from laanet.models.checkpoint import load_model

            self.runner = TorchRunner(load_model(path), device=self.device)
        self.weights = path
        self.faces = FaceAnalyzer(backend=options.face_backend)
        self._heatmap_dir: Path | None = None  # per run: where overlays go
        self._on_frames: Callable[[int], None] | None = None  # per run: progress callback

    frames = _option_property("frames")
    flip_test = _option_property("flip_test")
    threshold = _option_property("threshold")
    batch_size = _option_property("batch_size")

    @property
    def model_info(self) -> dict:
        """What was loaded, for results.json."""
        meta = {k: v for k, v in self.runner.meta.items() if k != "config"}
        return {
            "weights": str(self.weights),
            "backend": self.runner.name,
            "input_size": self.runner.input_size,
            "flip_test": self.flip_test,
            "threshold": self.threshold,
            "frames_per_video": self.frames,
            "face_backend": getattr(self.faces, "backend_name", None),
            **{k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool, type(None)))},
        }

    # -- public API ----------------------------------------------------------------------------------------------

    def detect(self, source: str | os.PathLike | np.ndarray) -> FileResult:
        """One image, video or RGB array → :class:`FileResult` (heatmaps and overlays kept as arrays)."""
        if isinstance(source, np.ndarray):
            self._heatmap_dir, self._on_frames = None, None
            state = _Pending(FileResult(path="<array>", kind="image", threshold=self.threshold))
            return next(self._run([(state, lambda: [(0, None, to_rgb_uint8(source))])], keep_overlays=True))
        return next(self.detect_many([source], keep_overlays=True))

    def detect_many(
        self,
        paths: Iterable[str | os.PathLike],
        *,
        heatmap_dir: str | os.PathLike | None = None,
        keep_overlays: bool = False,
        on_frames: Callable[[int], None] | None = None,
    ) -> Iterator[FileResult]:
        """Yield one :class:`FileResult` per input file, in order; folders are expanded recursively.

        ``heatmap_dir``: write overlay PNGs (and video timelines) there and record their paths.
        ``on_frames(n)``: progress callback, called as frames are analysed.
        """
        self._heatmap_dir = Path(heatmap_dir) if heatmap_dir is not None else None
        self._on_frames = on_frames
        items = []
        for path in collect_inputs(paths):
            state = _Pending(FileResult(path=str(path), kind="image", threshold=self.threshold))
            items.append((state, self._frame_loader(path, state.result)))
        yield from self._run(items, keep_overlays=keep_overlays)

    # -- pipeline ------------------------------------------------------------------------------------------------

    def _frame_loader(self, path: Path, result: FileResult) -> Callable[[], list[tuple[int, float | None, np.ndarray]]]:
        def load() -> list[tuple[int, float | None, np.ndarray]]:
            result.kind = media_kind(path)
            if result.kind == "image":
                return [(0, None, read_image(path))]
            sample = read_video_frames(path, self.frames)
            if sample.error:
                result.error = f"video stream broke after {len(sample.frames)} of {sample.requested} frames: {sample.error}"
            return [(f.index, f.time_s, f.image) for f in sample.frames]

        return load

    def _run(self, items, *, keep_overlays: bool) -> Iterator[FileResult]:
        queue: deque[_Pending] = deque()
        jobs: list[tuple[_Pending, int, int, np.ndarray]] = []  # (state, frame pos, face pos, network input)
        for state, load in items:
            queue.append(state)
            self._analyse(state, load, jobs)
            while len(jobs) >= self.batch_size:
                self._infer(jobs[: self.batch_size])
                del jobs[: self.batch_size]
            yield from self._drain(queue, keep_overlays)
        while jobs:
            self._infer(jobs[: self.batch_size])
            del jobs[: self.batch_size]
        yield from self._drain(queue, keep_overlays)

    def _analyse(self, state: _Pending, load, jobs: list) -> None:
        from laanet.faces import FaceError, crop_face

        result = state.result
        try:
            frames = load()
        except (MediaError, ValueError) as err:
            result.status, result.error = "error", str(err)
            state.analysed = True
            return
        input_size = self.runner.input_size
        for pos, (index, time_s, image) in enumerate(frames):
            frame = FrameResult(index=index, time_s=time_s)
            result.frames.append(frame)
            try:
                faces = self.faces.detect(image)
            except FaceError as err:
                _log.warning("%s frame %d: face detection failed: %s", result.path, index, err)
                faces = []
            for k, face in enumerate(faces):
                crop = crop_face(image, face, size=CROP_SIZE)
                frame.faces.append(FaceResult(box=[float(v) for v in face.box], logit=float("nan"), detector_score=float(face.score)))
                state.crops[(pos, k)] = crop.matrix
                jobs.append((state, pos, k, crop_to_input(crop.image, input_size)))
                state.waiting += 1
            if faces:
                state.images[pos] = overlay_canvas(image)  # capped size: big frames are not held until rendered
            if self._on_frames is not None:
                self._on_frames(1)
        state.analysed = True

    def _infer(self, batch: list) -> None:
        x = np.stack([job[3] for job in batch])  # B, 3, S, S
        logits, heat = self.runner.predict(x, flip_test=self.flip_test)
        for i, (state, pos, k, _) in enumerate(batch):
            face = state.result.frames[pos].faces[k]
            face.logit = float(logits[i])
            face.heatmap = None if heat is None else heat[i]
            state.waiting -= 1

    def _drain(self, queue: deque[_Pending], keep_overlays: bool) -> Iterator[FileResult]:
        while queue and queue[0].analysed and queue[0].waiting == 0:
            state = queue.popleft()
            self._render(state, keep_overlays)
            yield state.result.finalize()

    def _render(self, state: _Pending, keep_overlays: bool) -> None:
        result = state.result
        if not (keep_overlays or self._heatmap_dir):
            return
        stem = _safe_stem(result.path)
        for pos, (canvas, scale) in state.images.items():
            frame = result.frames[pos]
            faces = [OverlayFace(f.box, f.score, f.heatmap, state.crops[(pos, k)], CROP_SIZE) for k, f in enumerate(frame.faces)]
            overlay = render_overlay(canvas, faces, self.threshold, frame_scale=scale)
            if keep_overlays:
                frame.overlay = overlay
            if self._heatmap_dir:
                out = self._heatmap_dir / f"{stem}_f{frame.index:06d}.png"
                save_rgb(out, overlay)
                for face in frame.faces:
                    face.heatmap_path = str(out)
        if self._heatmap_dir and result.kind == "video" and result.frames:
            out = self._heatmap_dir / f"{stem}_timeline.png"
            save_timeline(
                out,
                [fr.time_s or 0.0 for fr in result.frames],
                [fr.score for fr in result.frames],
                self.threshold,
                f"{Path(result.path).name}: video P(fake) = {result.score:.3f}" if result.score is not None else Path(result.path).name,
            )
            result.timeline_path = str(out)
        state.images.clear()


def _safe_stem(path: str) -> str:
    """A file-name-safe, collision-resistant stem for a result's overlays."""
    import hashlib
    import re

    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem)[:60] or "input"
    return f"{name}_{hashlib.sha1(path.encode()).hexdigest()[:8]}"
