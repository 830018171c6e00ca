"""MediaPipe backend: BlazeFace full-range detection + 468-point FaceMesh run on an upscaled crop.

``mediapipe==0.10.21`` is the last release whose ``mp.solutions`` bundles its models (Apache-2.0); it is
installed with ``--no-deps``. FaceMesh's own detector is the short-range BlazeFace, which misses faces that
are small in the frame, so FaceMesh is never run on the whole image: each face found by the full-range
detector is cut out (a square around its box, :data:`MESH_CONTEXT` times its size), resized to
:data:`MESH_INPUT` px and meshed there, where it is large. The 468 mesh points are then mapped to the 68 iBUG
points and the 13 forehead points (``laanet.faces.landmarks``).
"""
from __future__ import annotations

import logging

import numpy as np

from laanet.faces.crop import warp_affine
from laanet.faces.landmarks import mesh_to_ibug68, mesh_to_ibug81
from laanet.faces.native_logs import native_logs_filtered
from laanet.faces.types import Face, FaceBackendError

logger = logging.getLogger(__name__)

MESH_INPUT = 256  # side of the crop FaceMesh sees (its landmark model runs at 192)
MESH_CONTEXT = 1.8  # crop side / max(box width, box height): room for the forehead and jaw


class MediaPipeBackend:
    """BlazeFace full-range + FaceMesh on CPU. Not thread-safe: use one instance per thread.

    Args:
        min_score: BlazeFace confidence a detection must reach.
    """

    name = "mediapipe"
    gives_forehead = True

    def __init__(self, *, min_score: float = 0.5) -> None:
        try:
            import mediapipe as mp
        except ImportError as err:
            raise FaceBackendError(
                "the mediapipe backend needs 'mediapipe==0.10.21' (pip install --no-deps mediapipe==0.10.21)"
            ) from err
        if not hasattr(mp, "solutions"):
            raise FaceBackendError(
                f"mediapipe {getattr(mp, '__version__', '?')} has no bundled 'solutions' models; "
                "install mediapipe==0.10.21 (later releases download their models at run time)"
            )
        with native_logs_filtered():  # MediaPipe's C++ logs (laanet.faces.native_logs)
            self._detector = mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=min_score  # 1: the full-range model
            )
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=1, refine_landmarks=False, min_detection_confidence=0.3
            )
            # The graphs open their models in worker threads, which log as they go: run each once now (process
            # waits until the graph is idle) so that those lines fall inside this filtered window.
            blank = np.zeros((MESH_INPUT, MESH_INPUT, 3), np.uint8)
            self._detector.process(blank)
            self._mesh.process(blank)

    def close(self) -> None:
        """Release both graphs. A graph that failed re-raises its error on close: that is logged, not raised."""
        for graph in (self._detector, self._mesh):
            try:
                with native_logs_filtered():
                    graph.close()
            except (RuntimeError, ValueError) as err:
                logger.debug("closing a failed MediaPipe graph: %s", err)

    def detect_boxes(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Boxes ``[x1, y1, x2, y2]`` and scores of the faces in an H×W×3 uint8 RGB image."""
        height, width = image.shape[:2]
        with native_logs_filtered():
            result = self._detector.process(np.ascontiguousarray(image))
        boxes = []
        for detection in result.detections or []:
            rel = detection.location_data.relative_bounding_box
            box = np.array(
                [rel.xmin * width, rel.ymin * height, (rel.xmin + rel.width) * width, (rel.ymin + rel.height) * height],
                dtype=np.float32,
            )
            boxes.append((box, float(detection.score[0])))
        return boxes

    def mesh(self, image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """468×2 float32 FaceMesh points (image coordinates) for the face in ``box``, or None if not found."""
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = MESH_CONTEXT * max(box[2] - box[0], box[3] - box[1])
        if not (np.isfinite(side) and side >= 2):
            return None  # a degenerate detection: nothing to mesh
        scale = MESH_INPUT / side
        matrix = np.array([[scale, 0, MESH_INPUT / 2 - scale * cx], [0, scale, MESH_INPUT / 2 - scale * cy]])
        crop = warp_affine(image, matrix, MESH_INPUT)
        with native_logs_filtered():
            result = self._mesh.process(crop)
        if not result.multi_face_landmarks:
            return None
        points = np.array([(p.x, p.y) for p in result.multi_face_landmarks[0].landmark], np.float64) * MESH_INPUT
        return ((points - matrix[:, 2]) / scale).astype(np.float32)

    def detect_boxes_tiled(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """:meth:`detect_boxes` on the whole image and on 2×2 overlapping tiles, merged by non-maximum suppression.

        BlazeFace sees its input at 192×192, so a face 1/15 of a 1280 px frame is ~13 px to it and is missed;
        in a tile it is twice as large.
        """
        height, width = image.shape[:2]
        boxes = self.detect_boxes(image)
        tile_h, tile_w = int(height * 0.6), int(width * 0.6)
        if min(tile_h, tile_w) < 2:  # MediaPipe fails on empty inputs, and its graph then fails every later call
            return boxes
        for y0 in (0, height - tile_h):
            for x0 in (0, width - tile_w):
                tile = image[y0 : y0 + tile_h, x0 : x0 + tile_w]
                offset = np.array([x0, y0, x0, y0], np.float32)
                boxes += [(box + offset, score) for box, score in self.detect_boxes(tile)]
        return non_max_suppression(boxes)

    def analyze(
        self, detect_image: np.ndarray, scale: float, image: np.ndarray, *, small_faces: bool = False
    ) -> list[Face]:
        """Detect on ``detect_image`` (``image`` shrunk by ``scale``), mesh each face on full-res ``image``.

        ``small_faces``: also detect on 2×2 tiles (:meth:`detect_boxes_tiled`).
        """
        faces = []
        boxes = self.detect_boxes_tiled(detect_image) if small_faces else self.detect_boxes(detect_image)
        for box, score in boxes:
            full_box = box / scale
            mesh = self.mesh(image, full_box)
            if mesh is None:
                logger.debug("FaceMesh found no face in box %s (score %.2f); dropped", full_box.round(), score)
                continue
            faces.append(
                Face(box=full_box, score=score, landmarks=mesh_to_ibug68(mesh), landmarks81=mesh_to_ibug81(mesh),
                     backend=self.name)
            )
        return faces


def non_max_suppression(boxes: list[tuple[np.ndarray, float]], iou: float = 0.4) -> list[tuple[np.ndarray, float]]:
    """Keep the best-scoring box of every group overlapping by more than ``iou`` (intersection over union)."""
    kept: list[tuple[np.ndarray, float]] = []
    for box, score in sorted(boxes, key=lambda item: -item[1]):
        if all(_iou(box, other) <= iou for other, _ in kept):
            kept.append((box, score))
    return kept


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
