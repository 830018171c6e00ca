"""Synthetic two-person clips, one of them a pseudo-fake, with the true face boxes: to check people tracking.

Real multi-person deepfake videos cannot be shipped, so a clip is composed from two bundled photos (by default
the two held out from the demo model's training, :data:`laanet.demo.heldout.HELD_OUT`): each person's head
(a square of twice the landmarks' extent) is pasted onto a plain background, moving over the clip. One person
can be a **pseudo-fake**: their photo is self-blended (SBI, :func:`laanet.demo.heldout.sbi_on_image`) once,
before the clip is cut, so every frame shows the same blended face.

Motions (``motion``):

- ``"sway"``: each person sways around their own side of the frame (a video of two people talking);
- ``"cross"``: they walk past each other, the second in front, so that one hides the other mid-clip;
- ``"jump"``: each frame puts both people at random places (as sparse sampling of a long video with a lot of
  movement sees them): box overlap says nothing, only their faces tell who is who.

:func:`tracking_accuracy` compares the people a :class:`~laanet.inference.results.FileResult` found with the
truth: the fraction of matched faces given their person's majority id, the ID switches and the people found.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from laanet.assets import sample_path
from laanet.demo.heldout import HELD_OUT, sbi_on_image

__all__ = ["MOTIONS", "PeopleClip", "make_people_clip", "tracking_accuracy"]

MOTIONS: tuple[str, ...] = ("sway", "cross", "jump")


@dataclass
class PeopleClip:
    """A composed clip and its truth.

    Attributes:
        frames: H×W×3 uint8 RGB frames.
        boxes: ``boxes[i][p]``: person ``p``'s face box ``[x1, y1, x2, y2]`` in frame ``i`` (from the landmarks).
        photos: the photo each person comes from.
        fake: the person (0 or 1) who is a pseudo-fake, or None.
        fps: frame rate to write it at.
    """

    frames: list[np.ndarray] = field(repr=False)
    boxes: list[list[list[float]]] = field(repr=False)
    photos: tuple[str, str]
    fake: int | None
    fps: float = 25.0

    def write(self, path: str | Path, *, crf: int = 18) -> Path:
        """Encode the clip as H.264 (``crf``) at ``path``."""
        from laanet.media import write_video

        write_video(path, self.frames, fps=self.fps, crf=crf)
        return Path(path)


def _landmarks(face) -> np.ndarray:
    return np.asarray(face.landmarks81 if face.landmarks81 is not None else face.landmarks, dtype=np.float32)


def _head(image: np.ndarray, landmarks: np.ndarray, side: int) -> tuple[np.ndarray, list[float]]:
    """A square of twice the landmarks' extent around the face, resized to ``side`` px, and the face box in it."""
    lo, hi = landmarks[:68].min(0), landmarks[:68].max(0)
    centre, half = (lo + hi) / 2, float(max(hi - lo))
    scale = side / (2 * half)
    matrix = np.array([[scale, 0, side / 2 - scale * centre[0]], [0, scale, side / 2 - scale * centre[1]]])
    tile = cv2.warpAffine(image, matrix, (side, side), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    box = [float(v) for v in (*(matrix[:, :2] @ lo + matrix[:, 2]), *(matrix[:, :2] @ hi + matrix[:, 2]))]
    return tile, box


def _background(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.dstack([90 + 60 * xx / width, 110 + 40 * yy / height, 130 - 30 * xx / width])
    return np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)


def _positions(motion: str, n: int, size: tuple[int, int], side: int, rng: np.random.Generator) -> np.ndarray:
    """Top-left corner of each person's tile per frame: n × 2 people × (x, y)."""
    width, height = size
    t = np.linspace(0, 1, n)
    out = np.empty((n, 2, 2))
    if motion == "sway":
        for p, (cx, phase) in enumerate(((0.27, 0.0), (0.73, 1.3))):
            out[:, p, 0] = (cx + 0.04 * np.sin(2 * np.pi * t + phase)) * width - side / 2
            out[:, p, 1] = (0.5 + 0.03 * np.sin(4 * np.pi * t + phase)) * height - side / 2
    elif motion == "cross":
        for p, (start, end, cy) in enumerate(((0.2, 0.8, 0.46), (0.8, 0.2, 0.54))):
            out[:, p, 0] = (start + (end - start) * t) * width - side / 2
            out[:, p, 1] = cy * height - side / 2
    elif motion == "jump":
        for i in range(n):
            while True:
                xy = rng.uniform([0, 0], [width - side, height - side], size=(2, 2))
                if np.abs(xy[0] - xy[1]).max() > side:  # the two tiles do not overlap
                    break
            out[i] = xy
    else:
        raise ValueError(f"motion must be one of {', '.join(MOTIONS)}, got {motion!r}")
    return np.clip(out, [0, 0], [width - side, height - side])


def make_people_clip(
    analyzer,
    *,
    photos: tuple[str, str] = HELD_OUT,
    fake: int | None = 1,
    motion: str = "sway",
    num_frames: int = 50,
    size: tuple[int, int] = (640, 360),
    face_px: int = 110,
    seed: int = 0,
) -> PeopleClip:
    """Compose a two-person clip (module docstring).

    Args:
        analyzer: a :class:`laanet.faces.FaceAnalyzer` (finds each photo's face and landmarks).
        photos: two bundled sample photos, one person each (person 0 starts on the left).
        fake: which person is made a pseudo-fake (SBI), or None for two real people.
        motion: ``"sway"``, ``"cross"`` or ``"jump"``.
        num_frames: frames of the clip.
        size: (width, height), even numbers.
        face_px: face size (landmark extent) in pixels.
        seed: the SBI draw and the ``jump`` positions.
    """
    rng = np.random.default_rng(seed)
    tiles, face_boxes = [], []
    side = 2 * face_px
    for p, name in enumerate(photos):
        from laanet.media import read_image

        image = read_image(sample_path(name))
        face = analyzer.detect_one(image)
        if p == fake:
            image = sbi_on_image(image, _landmarks(face), rng)
        tile, box = _head(image, _landmarks(face), side)
        tiles.append(tile)
        face_boxes.append(box)
    background = _background(size, rng)
    positions = _positions(motion, num_frames, size, side, rng)
    frames, boxes = [], []
    for i in range(num_frames):
        frame = background.copy()
        frame_boxes = []
        for p in range(2):  # person 1 is drawn last: in front
            x, y = (int(round(v)) for v in positions[i, p])
            frame[y : y + side, x : x + side] = tiles[p]
            bx = face_boxes[p]
            frame_boxes.append([bx[0] + x, bx[1] + y, bx[2] + x, bx[3] + y])
        frames.append(frame)
        boxes.append(frame_boxes)
    return PeopleClip(frames=frames, boxes=boxes, photos=tuple(photos), fake=fake)


def tracking_accuracy(result, clip: PeopleClip, *, min_iou: float = 0.3) -> dict:
    """How well ``result``'s people follow the clip's true people.

    Each detected face is matched to a true face of its frame (Hungarian on IoU ≥ ``min_iou``); each true person
    is given the id most of their matched faces carry. Returns ``faces`` (detected), ``matched``, ``correct``
    (matched faces carrying their person's id; a person id given to two true people counts for one of them),
    ``accuracy`` (correct / matched), ``id_switches`` (changes of id along each true person's frames),
    ``people_found`` (distinct ids) and ``missed`` (true faces without a detection).
    """
    from scipy.optimize import linear_sum_assignment

    from laanet.inference.tracking import box_iou

    ids_of: list[list[int]] = [[], []]  # per true person, the ids of their matched faces in frame order
    faces = missed = 0
    for frame in result.frames:
        truth = clip.boxes[frame.index]
        faces += len(frame.faces)
        if not frame.faces:
            missed += len(truth)
            continue
        iou = np.array([[box_iou(f.box, t) for t in truth] for f in frame.faces])
        rows, cols = linear_sum_assignment(-iou)
        hit = [(r, c) for r, c in zip(rows, cols) if iou[r, c] >= min_iou]
        missed += len(truth) - len(hit)
        for r, c in hit:
            ids_of[c].append(frame.faces[r].person)
    majority = [max(set(ids), key=ids.count) if ids else None for ids in ids_of]
    if majority[0] is not None and majority[0] == majority[1]:  # one id for both people: only the larger share counts
        weaker = int(ids_of[0].count(majority[0]) >= ids_of[1].count(majority[1]))
        majority[weaker] = None
    matched = sum(len(ids) for ids in ids_of)
    correct = sum(ids.count(m) for ids, m in zip(ids_of, majority) if m is not None)
    switches = sum(sum(a != b for a, b in zip(ids, ids[1:])) for ids in ids_of)
    return {
        "faces": faces, "matched": matched, "correct": correct,
        "accuracy": correct / matched if matched else 0.0, "id_switches": switches,
        "people_found": len({f.person for fr in result.frames for f in fr.faces}), "missed": missed,
    }
