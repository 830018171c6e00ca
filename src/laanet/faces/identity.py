"""Face descriptors for telling people apart: dlib's ResNet face recognition model (128-D, 0.6 = same person).

The model file ships with ``face_recognition_models`` (a laanet dependency, also used for dlib's landmarks):
``dlib_face_recognition_resnet_model_v1.dat``, 99.38 % on LFW as dlib reports. Two descriptors of one person
are usually less than 0.6 apart (Euclidean), of two people more. laanet uses it only to link the faces of one
person across the frames of a video (:mod:`laanet.inference.tracking`); it needs the face's 68 landmarks,
which every :class:`~laanet.faces.types.Face` from :class:`~laanet.faces.FaceAnalyzer` has.
"""
from __future__ import annotations

import threading
import warnings

import numpy as np

from laanet.faces.types import Face, FaceBackendError

__all__ = ["FaceDescriber"]

_MODEL = None
_MODEL_LOCK = threading.Lock()


def _model():
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            try:
                import dlib

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # face_recognition_models imports the deprecated pkg_resources
                    import face_recognition_models
                _MODEL = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
            except (ImportError, RuntimeError) as err:
                raise FaceBackendError(f"dlib's face recognition model cannot be loaded: {err}") from err
        return _MODEL


class FaceDescriber:
    """``describe(image, face)`` → 128-D float32 descriptor, or None for a face without 68 landmarks.

    One model per process, loaded on the first call; calls are serialised (dlib's network is not re-entrant).
    """

    _lock = threading.Lock()

    def __call__(self, image: np.ndarray, face: Face) -> np.ndarray | None:
        if face.landmarks is None or len(face.landmarks) != 68:
            return None
        import dlib

        x1, y1, x2, y2 = (int(round(float(v))) for v in face.box)
        shape = dlib.full_object_detection(
            dlib.rectangle(x1, y1, x2, y2), [dlib.point(int(round(x)), int(round(y))) for x, y in face.landmarks]
        )
        model = _model()
        with self._lock:
            return np.asarray(model.compute_face_descriptor(np.ascontiguousarray(image), shape), dtype=np.float32)
