"""People in a video: the faces of the sampled frames linked into tracks, one track per person.

Two steps, both on the faces of the frames sampled from one video (32 by default, spread over the whole clip):

1. **ByteTrack** (Zhang et al., ECCV 2022) through ``supervision`` (``sv.ByteTrack``) links the face boxes frame
   to frame by IoU with a Kalman motion model. Sampled frames are far apart (a 2-minute video sampled 32 times
   is one frame every 4 s), so it is configured to be lenient: a face matches a track when their IoU is at
   least :attr:`TrackingConfig.min_iou` (0.05, ByteTrack's default asks for 0.2), a lost track is kept for the
   whole clip, and every face the face detector kept counts as a confident detection (the detectors' own
   scores are on different scales: MediaPipe a probability, dlib an SVM margin).
2. **Checking** every link ByteTrack made: the two faces' descriptors (below) are compared and the track is
   cut between them when they look like two people. Overlap alone cannot be trusted: between two samples
   people swap places, and a shot cut puts another person where the last one was. (A link whose boxes overlap
   by more than :attr:`TrackingConfig.confident_iou` and touch no other face is not checked; the default 1.0
   checks them all.)
3. **Re-linking** joins the tracklets ByteTrack leaves apart when a face jumped further than its box between
   two samples, was missed in a frame, or appeared after the first frame (ByteTrack confirms a new track only
   on its second frame): two tracklets that never share a frame are one person when their faces look alike,
   by the distance of dlib's ResNet face descriptors (:mod:`laanet.faces.identity`; below
   :attr:`TrackingConfig.max_descriptor_distance`, 0.6 as dlib recommends), or, without descriptors, when the
   boxes nearest in time overlap by :attr:`TrackingConfig.fallback_iou`. Closest pairs are joined first.
   Descriptors are computed only for tracklets that could be joined (none for a clip ByteTrack tracked whole).

Why ByteTrack through ``supervision``: a maintained, MIT-licensed implementation that installs with numpy<2
(needed by MediaPipe) and without pulling ``opencv-python``; ``supervision`` 0.31 moved it to the
``trackers`` package, which needs numpy>=2, so ``supervision`` is pinned below 0.31. norfair 2.3 needs
``rich<15`` (laanet's CLI has 15).

Person ids are 1, 2, ... in order of first appearance (then left to right).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["TrackingConfig", "box_iou", "link_faces"]

Describe = Callable[[int, int], "np.ndarray | None"]  # (frame position, face position) -> descriptor or None


@dataclass(frozen=True)
class TrackingConfig:
    """How faces of sparsely sampled frames are linked (module docstring).

    Attributes:
        min_iou: ByteTrack's first association accepts a face whose IoU with the track's predicted box is at
            least this (``minimum_matching_threshold = 1 - min_iou``).
        confident_iou: a link of a track whose two faces overlap more than this (and no other face) is
            not checked by appearance (1.0: every link is checked).
        appearance: re-link tracklets by face descriptors (dlib ResNet); False: by box overlap only.
        max_descriptor_distance: tracklets whose mean descriptors are closer than this are one person.
        fallback_iou: without descriptors, tracklets whose boxes nearest in time overlap this much are one person.
        descriptors_per_track: at most this many faces of a tracklet are described (spread over it).
    """

    min_iou: float = 0.05
    confident_iou: float = 1.0
    appearance: bool = True
    max_descriptor_distance: float = 0.6
    fallback_iou: float = 0.3
    descriptors_per_track: int = 3

    def __post_init__(self) -> None:
        if not 0.0 < self.min_iou < 1.0:
            raise ValueError(f"min_iou must be in (0, 1), got {self.min_iou}")
        if not 0.0 < self.fallback_iou <= 1.0:
            raise ValueError(f"fallback_iou must be in (0, 1], got {self.fallback_iou}")
        if self.descriptors_per_track < 1:
            raise ValueError(f"descriptors_per_track must be at least 1, got {self.descriptors_per_track}")


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two ``[x1, y1, x2, y2]`` boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def link_faces(
    boxes: Sequence[Sequence[Sequence[float]]],
    *,
    describe: Describe | None = None,
    config: TrackingConfig | None = None,
) -> list[list[int]]:
    """Person id of every face of every sampled frame.

    Args:
        boxes: per sampled frame (in time order), the ``[x1, y1, x2, y2]`` boxes of its faces (a frame without
            faces is an empty list; it still counts as a step for the tracker).
        describe: ``describe(frame position, face position)`` → a face descriptor (1-D array) or None; called
            lazily, only for tracklets that could be joined. None: re-link by box overlap only.
        config: tracker settings (default :class:`TrackingConfig`).

    Returns:
        ``ids[t][k]``: the person (1, 2, ...) of face ``k`` of frame ``t``. Two faces of one frame never share
        an id.
    """
    config = config or TrackingConfig()
    tracklets = _bytetrack(boxes, config)
    describe = _cached(describe) if config.appearance and describe is not None else None
    if describe is not None:
        tracklets = _split(tracklets, boxes, describe, config)
    tracklets = _relink(tracklets, boxes, describe, config)
    # Number people by first appearance, then by the left edge of their first face.
    order = sorted(tracklets, key=lambda tr: (tr[0][0], boxes[tr[0][0]][tr[0][1]][0]))
    ids = [[0] * len(frame) for frame in boxes]
    for person, tracklet in enumerate(order, start=1):
        for t, k in tracklet:
            ids[t][k] = person
    return ids


def _bytetrack(boxes: Sequence[Sequence[Sequence[float]]], config: TrackingConfig) -> list[list[tuple[int, int]]]:
    """ByteTrack over the frames: tracklets as lists of (frame position, face position); unmatched faces alone."""
    import supervision as sv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # sv.ByteTrack: deprecated in favour of `trackers` (numpy>=2)
        tracker = sv.ByteTrack(
            track_activation_threshold=0.5,
            lost_track_buffer=max(1, len(boxes)),  # never drop a lost track within one clip
            minimum_matching_threshold=1.0 - config.min_iou,
            frame_rate=30,  # with the buffer above: max_time_lost = len(boxes) steps
            minimum_consecutive_frames=1,
        )
    by_track: dict[int, list[tuple[int, int]]] = {}
    alone: list[list[tuple[int, int]]] = []
    for t, frame in enumerate(boxes):
        xyxy = np.asarray(frame, dtype=np.float64).reshape(-1, 4)
        detections = sv.Detections(
            xyxy=xyxy, confidence=np.ones(len(xyxy)), data={"face": np.arange(len(xyxy))}
        )
        tracked = tracker.update_with_detections(detections)
        assigned = set()
        for track_id, k in zip(tracked.tracker_id, tracked.data.get("face", [])):
            by_track.setdefault(int(track_id), []).append((t, int(k)))
            assigned.add(int(k))
        alone += [[(t, k)] for k in range(len(xyxy)) if k not in assigned]
    return [tr for _, tr in sorted(by_track.items())] + alone


def _cached(describe: Describe) -> Describe:
    cache: dict[tuple[int, int], np.ndarray | None] = {}

    def cached(t: int, k: int) -> np.ndarray | None:
        if (t, k) not in cache:
            cache[(t, k)] = describe(t, k)
        return cache[(t, k)]

    cached.cache = cache  # type: ignore[attr-defined]
    return cached


def _distance(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    return None if a is None or b is None else float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


def _split(
    tracklets: list[list[tuple[int, int]]], boxes: Sequence[Sequence[Sequence[float]]], describe: Describe,
    config: TrackingConfig,
) -> list[list[tuple[int, int]]]:
    """Cut tracks between two faces that ByteTrack linked on weak overlap (or in a crowd) and that look like two people."""

    def crowded(t: int, k: int) -> bool:
        return any(j != k and box_iou(boxes[t][k], other) > 0 for j, other in enumerate(boxes[t]))

    out = []
    for tracklet in tracklets:
        tracklet = sorted(tracklet)
        piece = [tracklet[0]]
        for prev, cur in zip(tracklet, tracklet[1:]):
            weak = box_iou(boxes[prev[0]][prev[1]], boxes[cur[0]][cur[1]]) <= config.confident_iou
            if weak or crowded(*prev) or crowded(*cur):
                distance = _distance(describe(*prev), describe(*cur))
                if distance is not None and distance >= config.max_descriptor_distance:
                    out.append(piece)
                    piece = []
            piece.append(cur)
        out.append(piece)
    return out


def _relink(
    tracklets: list[list[tuple[int, int]]],
    boxes: Sequence[Sequence[Sequence[float]]],
    describe: Describe | None,
    config: TrackingConfig,
) -> list[list[tuple[int, int]]]:
    """Join tracklets that never share a frame and show one person, closest pair first (module docstring)."""
    tracklets = [sorted(tr) for tr in tracklets]

    def descriptor(tracklet: list[tuple[int, int]]) -> np.ndarray | None:
        """Mean descriptor of the faces already described and of up to ``descriptors_per_track`` spread over it."""
        if describe is None:
            return None
        n = len(tracklet)
        picks = {round(i * (n - 1) / max(1, config.descriptors_per_track - 1)) for i in range(config.descriptors_per_track)}
        known = getattr(describe, "cache", {})
        found = [describe(*key) for i, key in enumerate(tracklet) if i in picks or key in known]
        found = [np.asarray(d, dtype=np.float64) for d in found if d is not None]
        return np.mean(found, axis=0) if found else None

    def cost(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> float | None:
        """How alike two tracklets are (lower is closer), or None when they are not one person."""
        if {t for t, _ in a} & {t for t, _ in b}:
            return None
        distance = _distance(descriptor(a), descriptor(b))
        if distance is not None:
            return distance if distance < config.max_descriptor_distance else None
        (ta, ka), (tb, kb) = min(((fa, fb) for fa in a for fb in b), key=lambda p: abs(p[0][0] - p[1][0]))
        overlap = box_iou(boxes[ta][ka], boxes[tb][kb])
        return 1.0 - overlap if overlap >= config.fallback_iou else None

    while len(tracklets) > 1:
        best: tuple[float, int, int] | None = None
        for i in range(len(tracklets)):
            for j in range(i + 1, len(tracklets)):
                c = cost(tracklets[i], tracklets[j])
                if c is not None and (best is None or c < best[0]):
                    best = (c, i, j)
        if best is None:
            break
        _, i, j = best
        tracklets[i] = sorted(tracklets[i] + tracklets[j])
        del tracklets[j]
    return tracklets


def assign_people(
    frames: Sequence, detections: Sequence[Sequence], images: Sequence[np.ndarray], *, video: bool,
    describer: Callable | None = None, config: TrackingConfig | None = None,
) -> None:
    """Set ``person`` on every face of ``frames`` (``FrameResult`` list): tracks in a video, 1..n in an image.

    Args:
        frames: the file's frame results, their ``faces`` in the order of ``detections``.
        detections: per frame, the :class:`~laanet.faces.types.Face` detections the faces came from.
        images: per frame, the H×W×3 RGB image (for face descriptors).
        video: link across frames (else each face is its own person).
        describer: ``describer(image, face)`` → descriptor or None (:class:`laanet.faces.identity.FaceDescriber`).
        config: tracker settings.
    """
    if not video:
        for frame in frames:
            for k, face in enumerate(frame.faces):
                face.person = k + 1
        return
    describe = None if describer is None else (lambda t, k: describer(images[t], detections[t][k]))
    ids = link_faces([[face.box for face in frame.faces] for frame in frames], describe=describe, config=config)
    for frame, frame_ids in zip(frames, ids):
        for face, person in zip(frame.faces, frame_ids):
            face.person = person
