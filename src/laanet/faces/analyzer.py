"""``FaceAnalyzer``: faces with 68 iBUG landmarks from one image, whichever backend finds them.

Detection runs on a copy of the image shrunk to at most ``detect_max_side`` px (huge photos stay fast);
landmarks are then fitted, and crops cut, on the full-resolution image.

Hostile input never leaves the analyzer broken:
- an image too small (or too thin, once shrunk) to hold a face has none: ``detect`` returns ``[]`` without
  calling the backend (MediaPipe raises on inputs under 2 px and its graph then fails every later call);
- any other failure inside a backend is raised as :class:`FaceDetectionError` after the backend has been
  rebuilt, so the next call works.
"""
from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from laanet.faces.crop import DEFAULT_CROP_SIZE, FaceCrop, crop_face
from laanet.faces.types import Face, FaceBackendError, FaceDetectionError, NoFaceError
from laanet.media.image import downscale, to_rgb_uint8

logger = logging.getLogger(__name__)

BackendName = Literal["dlib", "mediapipe"]
BACKENDS: tuple[str, ...] = ("dlib", "mediapipe")
DEFAULT_BACKEND: BackendName = "mediapipe"  # why: docs/faces.md ("Choosing the default backend")
DEFAULT_DETECT_MAX_SIDE = 1280
MIN_IMAGE_SIDE = 8  # px: below this (on either side, at full size or once shrunk) no face is looked for


class FaceAnalyzer:
    """Detect faces and their landmarks (68 iBUG points; 81 with MediaPipe) in RGB images.

    Models load once, in the constructor. An instance is not thread-safe: use one per thread or process.
    After a backend failure (:class:`FaceDetectionError`) the models are loaded again, so the instance stays
    usable.

    Args:
        backend: "dlib" (HOG + 68-point predictor, the paper's convention) or "mediapipe" (BlazeFace
            full-range + FaceMesh mapped to iBUG, with forehead points).
        detect_max_side: detection runs on the image shrunk to this long side (landmarks stay full-res).
        min_size: faces whose box is smaller than this many pixels (full resolution) are dropped.
        max_faces: keep at most this many faces, largest first (None: all).
        small_faces: look harder for small faces (dlib: the HOG detector upsamples the image once, finding
            boxes down to ~40 px instead of ~80; MediaPipe: BlazeFace also runs on 2×2 overlapping tiles).
            About 4× slower. ``None`` (default): only when the normal pass finds nothing; ``True``: always;
            ``False``: never.

    Raises:
        ValueError: unknown backend or bad option.
        FaceBackendError: the backend's package or model file is missing.
    """

    def __init__(
        self,
        backend: BackendName = DEFAULT_BACKEND,
        *,
        detect_max_side: int = DEFAULT_DETECT_MAX_SIDE,
        min_size: int = 20,
        max_faces: int | None = None,
        small_faces: bool | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown face backend {backend!r}; choose one of {BACKENDS}")
        if detect_max_side < 64:
            raise ValueError(f"detect_max_side must be at least 64, got {detect_max_side}")
        if max_faces is not None and max_faces < 1:
            raise ValueError(f"max_faces must be ≥ 1 or None, got {max_faces}")
        self.backend_name = backend
        self.detect_max_side = detect_max_side
        self.min_size = min_size
        self.max_faces = max_faces
        self.small_faces = small_faces
        self._backend = _make_backend(backend)

    @property
    def gives_forehead(self) -> bool:
        """Whether faces carry ``landmarks81`` (the 13 forehead points)."""
        return self._backend.gives_forehead

    def detect(self, image: np.ndarray) -> list[Face]:
        """All faces in ``image``, largest first.

        Args:
            image: H×W×3 uint8 RGB (grayscale, RGBA, 16-bit and float arrays are converted).

        Returns:
            Faces in ``image``'s pixel coordinates; an empty list when there is none, including when the image
            is too small to hold one (:meth:`too_small_reason` says why).

        Raises:
            FaceDetectionError: the backend failed on this image; it has been rebuilt, later calls work.
            FaceBackendError: the backend failed and could not be rebuilt.
        """
        image = to_rgb_uint8(image)
        small, scale = downscale(image, self.detect_max_side)
        reason = _too_small(image.shape, small.shape, self.min_size)
        if reason is not None:
            logger.debug("no face looked for: %s", reason)
            return []
        faces = self._analyze(small, scale, image, small_faces=bool(self.small_faces))
        if not faces and self.small_faces is None:
            faces = self._analyze(small, scale, image, small_faces=True)
        faces = [f for f in faces if min(f.width, f.height) >= self.min_size]
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces[: self.max_faces] if self.max_faces else faces

    def too_small_reason(self, image: np.ndarray) -> str | None:
        """Why :meth:`detect` will not look for a face in ``image`` (too small or too thin), or None."""
        height, width = image.shape[:2]
        scale = min(1.0, self.detect_max_side / max(height, width, 1))
        small = (max(1, round(height * scale)), max(1, round(width * scale)))
        return _too_small((height, width), small, self.min_size)

    def detect_one(self, image: np.ndarray) -> Face:
        """The largest face in ``image``.

        Raises:
            NoFaceError: no face found (the message says when the image is too small to hold one).
        """
        faces = self.detect(image)
        if not faces:
            reason = self.too_small_reason(image)
            raise NoFaceError(reason or f"no face found in the {image.shape[1]}×{image.shape[0]} image ({self.backend_name})")
        return faces[0]

    def detect_and_crop(
        self, image: np.ndarray, size: int = DEFAULT_CROP_SIZE, **crop_options
    ) -> list[tuple[Face, FaceCrop]]:
        """Faces and their crops (:func:`laanet.faces.crop_face` with ``crop_options``), largest first."""
        image = to_rgb_uint8(image)
        return [(face, crop_face(image, face, size, **crop_options)) for face in self.detect(image)]

    def close(self) -> None:
        """Release the backend's resources (MediaPipe graphs)."""
        if hasattr(self._backend, "close"):
            self._backend.close()

    def _analyze(self, small: np.ndarray, scale: float, image: np.ndarray, *, small_faces: bool) -> list[Face]:
        """The backend's ``analyze``; on any failure, rebuild the backend and raise :class:`FaceDetectionError`."""
        try:
            return self._backend.analyze(small, scale, image, small_faces=small_faces)
        except Exception as err:  # noqa: BLE001 - a backend may raise anything (MediaPipe: RuntimeError, cv2.error)
            logger.debug("%s face backend failed on a %d×%d image (%s); rebuilding it",
                           self.backend_name, image.shape[1], image.shape[0], _one_line(err))
            self._rebuild()
            raise FaceDetectionError(
                f"face detection failed on the {image.shape[1]}×{image.shape[0]} image "
                f"({type(err).__name__}: {_one_line(err)}); the {self.backend_name} backend was restarted"
            ) from err

    def _rebuild(self) -> None:
        """Replace a backend whose state may be broken (a MediaPipe graph stays failed after one error)."""
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the old backend is being discarded anyway
            logger.debug("closing the failed backend raised", exc_info=True)
        self._backend = _make_backend(self.backend_name)

    def __enter__(self) -> FaceAnalyzer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _too_small(full_shape: tuple[int, ...], small_shape: tuple[int, ...], min_size: int) -> str | None:
    """Why an image of ``full_shape`` (detected at ``small_shape``) cannot hold a face, or None if it can."""
    height, width = full_shape[:2]
    floor = max(MIN_IMAGE_SIDE, min_size)
    if min(height, width) < floor:
        return f"the image is {width}×{height} px, too small to hold a face (under {floor} px on a side)"
    if min(small_shape[:2]) < MIN_IMAGE_SIDE:
        return (f"the image is {width}×{height} px, too thin to look for faces in (under {MIN_IMAGE_SIDE} px on its "
                f"short side once shrunk to {max(small_shape[:2])} px for detection)")
    return None


def _one_line(err: BaseException, limit: int = 300) -> str:
    text = " ".join(str(err).split()) or "no message"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _make_backend(name: str):
    if name == "dlib":
        from laanet.faces.dlib_backend import DlibBackend

        return DlibBackend()
    if name == "mediapipe":
        from laanet.faces.mediapipe_backend import MediaPipeBackend

        return MediaPipeBackend()
    raise FaceBackendError(f"unknown face backend {name!r}")  # pragma: no cover (checked by the caller)
