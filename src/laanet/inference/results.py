"""Result records of ``laanet detect`` / :class:`laanet.Detector`, how scores aggregate, and how results are saved.

Aggregation (the paper's test protocol, with probabilities instead of raw logits):

- a face's score is ``sigmoid(logit)`` (with flip test: the mean of the logits of the crop and its mirror);
- a frame's score is the max over its faces (its logit is the max face logit);
- a video's score is ``sigmoid(mean of its frame logits)``; frames without a face do not count;
- **people**: the faces of a video are linked into tracks, one per person (:mod:`laanet.inference.tracking`;
  each face of an image is its own person); a person's score is ``sigmoid(mean of their face logits)``, and the
  file's verdict is its most suspicious person's (``FileResult.person``; :mod:`laanet.inference.people`). With
  one face per frame this is the video rule above;
- every result carries ``flags``: reasons the verdict may be out of scope (:mod:`laanet.inference.flags`);
- a file with no face in any frame is ``no_face``; a file that cannot be read, or whose score is not a finite
  number, is ``error`` (its score is None: JSON output never holds NaN).

**Heatmap** means one thing everywhere (API, ``results.json``, server): a face's h×w map (96×96 for the
paper's 384-px input) of P(vulnerable point), the sigmoid of the heatmap head's logits, flip-averaged with
flip test. It is in the coordinates of the network input: the 256-px face crop less a 5-px margin on each
side, resized to the input size, with h = input / 4. ``FaceResult.heatmap`` holds the array; ``save()`` and
``laanet detect`` write it as ``.npy`` (``FaceResult.heatmap_path``, the face's ``"heatmap"`` in JSON). The
**overlay** is a picture for people: the heatmaps of a frame's faces pasted back onto the frame, coloured
(``FrameResult.overlay`` / ``overlay_path``, the frame's ``"overlay"`` in JSON).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from laanet.calibration.apply import add_calibration
from laanet.inference.flags import FaceQuality, Flag
from laanet.inference.people import PersonResult, most_suspicious, people_of, person_crop_name
from laanet.inference.provenance import SCHEMA_VERSION, Provenance, utc_now


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def finite_or_none(x: float | None, digits: int = 6) -> float | None:
    """``round(x, digits)``, or None for None/NaN/inf (JSON has no NaN)."""
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def safe_stem(name: str) -> str:
    """A file-name-safe, collision-resistant stem for a result's files (``photo_1a2b3c4d``)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).stem)[:60].strip("_") or "input"
    return f"{stem}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def overlay_name(stem: str, frame_index: int) -> str:
    return f"{stem}_f{frame_index:06d}.png"


def heatmap_name(stem: str, frame_index: int, face_index: int) -> str:
    return f"{stem}_f{frame_index:06d}_face{face_index}.npy"


def timeline_name(stem: str) -> str:
    return f"{stem}_timeline.png"


@dataclass
class FaceResult:
    """One face of one frame.

    ``heatmap``: h×w float32 P(vulnerable point) in network-input coordinates (module docstring), or None
    when the model has no heatmap head.
    """

    box: list[float]  # x1, y1, x2, y2 in original-frame pixels
    logit: float
    detector_score: float
    heatmap: np.ndarray | None = field(default=None, repr=False)
    heatmap_path: str | None = None  # the .npy holding ``heatmap``, once written
    person: int | None = None  # the person (track) this face belongs to (``FileResult.people``)
    quality: FaceQuality | None = None  # size, sharpness and blockiness, for the flags

    @property
    def score(self) -> float | None:
        """P(fake) = sigmoid(logit); None if the model returned a non-finite logit."""
        return sigmoid(self.logit) if math.isfinite(self.logit) else None

    @property
    def finite(self) -> bool:
        return math.isfinite(self.logit) and (self.heatmap is None or bool(np.isfinite(self.heatmap).all()))

    def to_dict(self, *, heatmap_values: bool = False) -> dict[str, Any]:
        """JSON-ready dict; ``heatmap_values=True`` adds the map itself as nested lists (3 decimals)."""
        out: dict[str, Any] = {
            "box": [round(float(v), 1) for v in self.box],
            "score": finite_or_none(self.score),
            "logit": finite_or_none(self.logit),
            "detector_score": finite_or_none(self.detector_score, 4),
            "heatmap": self.heatmap_path,
            "heatmap_max": None if self.heatmap is None else finite_or_none(float(self.heatmap.max()), 4),
            "person": self.person,
        }
        if self.quality is not None:
            out["quality"] = self.quality.to_dict()
        if heatmap_values and self.heatmap is not None and self.finite:
            out["heatmap_values"] = np.round(self.heatmap.astype(np.float64), 3).tolist()
        return out


@dataclass
class FrameResult:
    index: int
    time_s: float | None
    faces: list[FaceResult] = field(default_factory=list)
    overlay: np.ndarray | None = field(default=None, repr=False)  # H'×W'×3 uint8 overlay, if rendered
    overlay_path: str | None = None  # the PNG holding ``overlay``, once written

    @property
    def logit(self) -> float | None:
        return max((f.logit for f in self.faces), default=None)

    @property
    def score(self) -> float | None:
        logit = self.logit
        return None if logit is None or not math.isfinite(logit) else sigmoid(logit)

    def to_dict(self, *, heatmap_values: bool = False) -> dict[str, Any]:
        return {
            "index": self.index,
            "time_s": finite_or_none(self.time_s, 3),
            "score": finite_or_none(self.score),
            "overlay": self.overlay_path,
            "faces": [f.to_dict(heatmap_values=heatmap_values) for f in self.faces],
        }


@dataclass
class FileResult:
    """The verdict on one input (image, video, array, bytes or URL), with its frames and faces.

    ``print(result)`` gives a one-line summary; :meth:`to_dict` the JSON entry (``result.schema.json``),
    :meth:`save` writes it with its overlays and raw heatmaps, :meth:`plot` draws it with matplotlib.
    """

    path: str  # the input's path, URL, or "<array>" / "<bytes>" / "<image>"
    kind: str  # "image" | "video"
    status: str = "ok"  # "ok" | "no_face" | "error"
    error: str | None = None
    frames: list[FrameResult] = field(default_factory=list)
    threshold: float = 0.5
    timeline_path: str | None = None
    provenance: Provenance | None = field(default=None, repr=False)
    people: list[PersonResult] = field(default_factory=list, repr=False)  # set by finalize()
    flags: list[Flag] = field(default_factory=list)  # set by the Detector (laanet.inference.flags)
    calibration: Any = field(default=None, repr=False)  # laanet.calibration.AppliedCalibration, or None

    @property
    def logit(self) -> float | None:
        """The most suspicious person's mean logit; without people, the mean of the frame logits."""
        if self.status == "error":
            return None
        if self.people:
            return most_suspicious(self.people).logit
        logits = [fr.logit for fr in self.frames if fr.logit is not None]
        return float(np.mean(logits)) if logits else None

    @property
    def person(self) -> int | None:
        """The id of the person the verdict comes from (the most suspicious one), or None."""
        best = most_suspicious(self.people) if self.status != "error" else None
        return None if best is None else best.id

    @property
    def score(self) -> float | None:
        logit = self.logit
        return None if logit is None or not math.isfinite(logit) else sigmoid(logit)

    @property
    def label(self) -> str | None:
        score = self.score
        return None if score is None else ("fake" if score >= self.threshold else "real")

    @property
    def faces(self) -> list[FaceResult]:
        """Every face of every frame, in order."""
        return [face for frame in self.frames for face in frame.faces]

    def finalize(self) -> FileResult:
        """Set ``status`` from the scores: ``no_face`` without faces, ``error`` for non-finite model outputs."""
        if self.status == "ok":
            if any(not face.finite for face in self.faces):
                self.status = "error"
                self.error = "the model returned a non-finite score (NaN or inf); check the weights file"
            elif self.logit is None:
                self.status = "no_face"
        self.people = people_of(self.frames, self.threshold) if self.status == "ok" else []
        return self

    def to_dict(self, *, provenance: bool = True, heatmap_values: bool = False) -> dict[str, Any]:
        """The JSON entry of this result (validates against ``result.schema.json``; never holds NaN).

        ``provenance=False`` leaves out ``schema_version`` and ``provenance`` (a results document states
        them once); ``heatmap_values=True`` inlines each face's heatmap as nested lists.
        """
        out: dict[str, Any] = {}
        if provenance:
            out["schema_version"] = SCHEMA_VERSION
        out.update(
            {
                "path": self.path,
                "kind": self.kind,
                "status": self.status,
                "error": self.error,
                "score": finite_or_none(self.score),
                "label": self.label,
                "threshold": self.threshold,
                "frames": [fr.to_dict(heatmap_values=heatmap_values) for fr in self.frames],
                "timeline": self.timeline_path,
                "flags": [flag.to_dict() for flag in self.flags],
                "person": self.person,
                "people": [p.to_dict() for p in self.people],
            }
        )
        add_calibration(out, self)  # "calibration": probability, band, operating point ({"calibrated": false} without)
        if provenance and self.provenance is not None:
            out["provenance"] = self.provenance.to_dict()
        return out

    def save(self, directory: str | os.PathLike, *, overlays: bool = True, heatmaps: bool = True) -> Path:
        """Write this result into ``directory`` and return the path of its JSON.

        Files (stem = input name + a short hash): ``STEM.json`` (:meth:`to_dict`), the overlay of each frame
        that has one (``STEM_f000012.png``), each face's raw heatmap (``STEM_f000012_face0.npy``, h×w
        float32) and, for videos, the score timeline (``STEM_timeline.png``). The paths are recorded in the
        result (``overlay_path``, ``heatmap_path``, ``timeline_path``) before the JSON is written.
        """
        from laanet.inference.render import save_rgb, save_timeline

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        stem = safe_stem(self.path)
        for frame in self.frames:
            if overlays and frame.overlay is not None:
                out = directory / overlay_name(stem, frame.index)
                save_rgb(out, frame.overlay)
                frame.overlay_path = str(out)
            if heatmaps:
                save_face_heatmaps(frame, directory, stem)
        for person in self.people:
            if overlays and person.crop is not None:
                out = directory / person_crop_name(stem, person.id)
                save_rgb(out, person.crop)
                person.crop_path = str(out)
        if self.kind == "video" and any(fr.faces for fr in self.frames):
            out = directory / timeline_name(stem)
            save_timeline(out, [fr.time_s or 0.0 for fr in self.frames], [fr.score for fr in self.frames], self.threshold, self.title)
            self.timeline_path = str(out)
        path = directory / f"{stem}.json"
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False))
        return path

    @property
    def title(self) -> str:
        """``name: fake, P(fake) = 0.973`` (or the status when there is no score)."""
        name = Path(self.path).name if not self.path.startswith("<") else self.path
        if self.score is None:
            status = "no face found, no verdict" if self.status == "no_face" else self.status
            return f"{name}: {status}" + (f" ({self.error})" if self.error else "")
        noun = "video P(fake)" if self.kind == "video" else "P(fake)"
        who = f" (person {self.person} of {len(self.people)})" if len(self.people) > 1 else ""
        return f"{name}: {self.label}, {noun} = {self.score:.3f}{who}"

    def plot(self, *, max_faces: int = 4):
        """A matplotlib figure: the overlay of the highest-scoring frame (or the face heatmaps when no overlay
        was kept) and, for videos, the per-frame score against time. Returns the ``Figure``."""
        import matplotlib.pyplot as plt

        best = max((fr for fr in self.frames if fr.score is not None), key=lambda fr: fr.score, default=None)
        panels: list[tuple[str, np.ndarray, str]] = []  # (title, image, "rgb" | "heat")
        if best is not None and best.overlay is not None:
            panels.append((f"frame {best.index}", best.overlay, "rgb"))
        elif best is not None:
            for k, face in enumerate(f for f in best.faces if f.heatmap is not None):
                if k < max_faces:
                    panels.append((f"face {k}: P(fake) {face.score:.3f}", face.heatmap, "heat"))
        video = self.kind == "video" and len(self.frames) > 1
        cols = max(1, len(panels)) + int(video)
        fig, axes = plt.subplots(1, cols, figsize=(4.2 * cols, 4.0), squeeze=False)
        axes = axes[0]
        for ax, (title, image, mode) in zip(axes, panels):
            if mode == "rgb":
                ax.imshow(image)
            else:
                im = ax.imshow(image, cmap="jet", vmin=0, vmax=1)
                fig.colorbar(im, ax=ax, fraction=0.046, label="P(vulnerable point)")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        if not panels:
            axes[0].text(0.5, 0.5, self.status, ha="center", va="center")
            axes[0].axis("off")
        if video:
            ax = axes[-1]
            if len(self.people) > 1:  # one line per person
                for person in self.people:
                    times = [fr.time_s or 0.0 for fr, _, _ in person.appearances]
                    ax.plot(times, [f.score for f in person.faces], marker="o", ms=3, label=f"person {person.id}")
            else:
                ax.plot([fr.time_s or 0.0 for fr in self.frames], [np.nan if fr.score is None else fr.score for fr in self.frames], marker="o", ms=3)
            ax.axhline(self.threshold, ls="--", lw=1, color="grey", label=f"threshold {self.threshold:g}")
            ax.set(ylim=(0, 1), xlabel="time (s)", ylabel="P(fake)")
            ax.legend(loc="upper right", fontsize=8)
        fig.suptitle(self.title, fontsize=10)
        fig.tight_layout()
        return fig

    def __repr__(self) -> str:
        score = "None" if self.score is None else f"{self.score:.3f}"
        parts = [f"path={self.path!r}", f"kind={self.kind!r}", f"status={self.status!r}", f"label={self.label!r}", f"score={score}"]
        parts += [f"frames={len(self.frames)}", f"faces={len(self.faces)}", f"people={len(self.people)}"]
        if self.person is not None:
            parts.append(f"person={self.person}")
        if self.flags:
            parts.append(f"flags={[flag.code for flag in self.flags]!r}")
        if self.error:
            parts.append(f"error={self.error!r}")
        return f"FileResult({', '.join(parts)})"


def save_face_heatmaps(frame: FrameResult, directory: Path, stem: str) -> None:
    """Write each face's heatmap of ``frame`` as ``.npy`` under ``directory`` and record the paths."""
    for k, face in enumerate(frame.faces):
        if face.heatmap is not None:
            out = directory / heatmap_name(stem, frame.index, k)
            np.save(out, face.heatmap.astype(np.float32, copy=False))
            face.heatmap_path = str(out)


class ResultList(list):
    """The results of a folder or a list of inputs (a ``list`` of :class:`FileResult`, in input order)."""

    def __init__(self, results=(), provenance: Provenance | None = None) -> None:
        super().__init__(results)
        self.provenance = provenance

    def to_dict(self, *, heatmap_values: bool = False) -> dict[str, Any]:
        """A results document (as ``laanet detect``'s ``results.json``): provenance once, then the entries."""
        return results_document([r.to_dict(provenance=False, heatmap_values=heatmap_values) for r in self], self.provenance)

    def save(self, directory: str | os.PathLike, *, overlays: bool = True, heatmaps: bool = True) -> Path:
        """Save every result (:meth:`FileResult.save`) into ``directory`` and ``results.json``; returns its path."""
        directory = Path(directory)
        for result in self:
            result.save(directory, overlays=overlays, heatmaps=heatmaps)
        path = directory / "results.json"
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False))
        return path

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for r in self:
            key = r.label or r.status
            counts[key] = counts.get(key, 0) + 1
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        return f"ResultList({len(self)} result(s){': ' + summary if summary else ''})"


def results_document(entries: list[dict[str, Any]], provenance: Provenance | None) -> dict[str, Any]:
    """``{"schema_version", "created", "provenance", "results"}``: the shape of ``results.json``.

    ``entries`` are :meth:`FileResult.to_dict` outputs made with ``provenance=False``.
    """
    return {
        "schema_version": SCHEMA_VERSION,
        "created": utc_now(),
        "provenance": None if provenance is None else provenance.to_dict(),
        "results": entries,
    }
