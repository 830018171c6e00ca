"""laanet.faces detection and landmarks on the bundled photos, with both backends."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from laanet.faces import FaceAnalyzer, FaceBackendError, NoFaceError, flip_landmarks, inter_ocular_distance
from laanet.faces.landmarks import IBUG68_MIRROR, IBUG81_MIRROR, MESH_TO_IBUG68
from laanet.media import read_image


def _check_layout(landmarks: np.ndarray) -> None:
    """Points sit where the iBUG order says they should on an upright face."""
    assert landmarks.shape == (68, 2) and landmarks.dtype == np.float32
    assert landmarks[36, 0] < landmarks[39, 0] < landmarks[42, 0] < landmarks[45, 0]  # eyes left to right
    assert landmarks[0, 0] < landmarks[30, 0] < landmarks[16, 0]  # jaw ends either side of the nose
    assert landmarks[19, 1] < landmarks[37, 1] < landmarks[30, 1] < landmarks[62, 1] < landmarks[8, 1]  # top→bottom


def test_one_face_in_each_sample(analyzer, sample_arrays):
    for name, image in sample_arrays.items():
        faces = analyzer.detect(image)
        assert len(faces) == 1, name
        face = faces[0]
        _check_layout(face.landmarks)
        x1, y1, x2, y2 = face.box
        assert x1 < face.landmarks[30, 0] < x2 and y1 < face.landmarks[30, 1] < y2  # nose tip inside the box
        assert face.backend == analyzer.backend_name


def test_mediapipe_gives_forehead_points(mediapipe_analyzer, dlib_analyzer, sample_arrays):
    face = mediapipe_analyzer.detect_one(sample_arrays["grace_hopper.jpg"])
    assert mediapipe_analyzer.gives_forehead and face.landmarks81.shape == (81, 2)
    assert np.array_equal(face.landmarks81[:68], face.landmarks)
    forehead = face.landmarks81[68:]
    assert (np.diff(forehead[:, 0]) > 0).all()  # image-left temple → image-right temple
    assert forehead[6, 1] < face.landmarks[17:27, 1].min()  # the middle one is above the brows
    assert dlib_analyzer.detect_one(sample_arrays["grace_hopper.jpg"]).landmarks81 is None


def test_mediapipe_landmarks_agree_with_dlib(mediapipe_analyzer, dlib_analyzer, sample_arrays):
    """The FaceMesh → iBUG table lands within a few % of the inter-ocular distance of dlib's points."""
    errors = []
    for image in sample_arrays.values():
        reference = dlib_analyzer.detect_one(image).landmarks
        mapped = mediapipe_analyzer.detect_one(image).landmarks
        errors.append(np.linalg.norm(mapped - reference, axis=1).mean() / inter_ocular_distance(reference))
    assert np.mean(errors) < 0.08, errors  # measured ≈ 0.05 (docs/faces.md)
    assert len(MESH_TO_IBUG68) == 68


def test_multi_face_sorted_by_size(analyzer, media_dir):
    faces = analyzer.detect(read_image(media_dir / "multi_face.jpg"))
    assert len(faces) == 2
    assert faces[0].area > faces[1].area
    assert faces[0].box[2] < 512 < faces[1].box[0]  # Grace Hopper on the left, the astronaut on the right
    limited = FaceAnalyzer(analyzer.backend_name, max_faces=1)
    assert len(limited.detect(read_image(media_dir / "multi_face.jpg"))) == 1


def test_no_face(analyzer, media_dir):
    image = read_image(media_dir / "no_face.png")
    assert analyzer.detect(image) == []
    with pytest.raises(NoFaceError, match="no face found"):
        analyzer.detect_one(image)


def test_grayscale_and_rgba_inputs(analyzer, media_dir, sample_arrays):
    reference = analyzer.detect_one(sample_arrays["obama_portrait.jpg"])
    for name in ("grayscale.png", "rgba.png", "exif_rotated.jpg", "gray16.png"):
        face = analyzer.detect_one(read_image(media_dir / name))
        assert np.abs(face.landmarks - reference.landmarks).mean() < 0.05 * inter_ocular_distance(reference.landmarks)
    gray_array = sample_arrays["obama_portrait.jpg"].mean(axis=2).astype(np.uint8)  # 2-D array straight in
    assert len(analyzer.detect(gray_array)) == 1


def test_huge_image_detects_on_a_small_copy_and_fits_at_full_resolution(analyzer, sample_arrays):
    image = sample_arrays["astronaut.jpg"]
    reference = analyzer.detect_one(image)
    huge = cv2.resize(image, None, fx=5, fy=5, interpolation=cv2.INTER_CUBIC)  # 2560×2560
    face = analyzer.detect_one(huge)
    iod = inter_ocular_distance(reference.landmarks)
    assert np.abs(face.landmarks / 5 - reference.landmarks).mean() < 0.06 * iod


def test_small_faces_are_found_on_a_second_pass(dlib_analyzer, sample_arrays):
    image = sample_arrays["obama_portrait.jpg"]
    iod = inter_ocular_distance(dlib_analyzer.detect_one(image).landmarks)
    small = cv2.resize(image, None, fx=18 / iod, fy=18 / iod, interpolation=cv2.INTER_AREA)  # IOD 18 px
    canvas = np.full((720, 1280, 3), 128, np.uint8)
    canvas[100 : 100 + small.shape[0], 600 : 600 + small.shape[1]] = small
    assert FaceAnalyzer("dlib", small_faces=False).detect(canvas) == []
    assert len(dlib_analyzer.detect(canvas)) == 1  # small_faces=None: retried with upsampling


def test_flip_landmarks_matches_detection_on_the_flipped_image(dlib_analyzer, sample_arrays):
    image = sample_arrays["obama_portrait.jpg"]
    face = dlib_analyzer.detect_one(image)
    flipped = dlib_analyzer.detect_one(np.ascontiguousarray(image[:, ::-1]))
    predicted = flip_landmarks(face.landmarks, image.shape[1])
    assert np.abs(predicted - flipped.landmarks).mean() < 0.05 * inter_ocular_distance(face.landmarks)
    for table in (IBUG68_MIRROR, IBUG81_MIRROR):
        assert sorted(table) == list(range(len(table))) and all(table[table[i]] == i for i in range(len(table)))
    with pytest.raises(ValueError, match="68 or 81"):
        flip_landmarks(np.zeros((5, 2)), 10)


def test_bad_options():
    with pytest.raises(ValueError, match="unknown face backend"):
        FaceAnalyzer("retinaface")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="detect_max_side"):
        FaceAnalyzer("dlib", detect_max_side=10)
    assert issubclass(FaceBackendError, Exception)


@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 4000, 3), (4000, 3), (19, 400, 3), (30, 100_000, 3)])
def test_degenerate_images_have_no_face_and_leave_the_analyzer_working(analyzer, sample_arrays, shape):
    degenerate = np.full(shape, 128, np.uint8)
    assert analyzer.detect(degenerate) == []
    assert "too" in analyzer.too_small_reason(degenerate)
    with pytest.raises(NoFaceError, match=r"too (small|thin)"):
        analyzer.detect_one(degenerate)
    assert len(analyzer.detect(sample_arrays["obama_portrait.jpg"])) == 1  # the same analyzer still finds faces
    assert analyzer.too_small_reason(sample_arrays["obama_portrait.jpg"]) is None


def test_a_failing_backend_is_rebuilt(sample_arrays, monkeypatch):
    """MediaPipe's graph stays failed after one error; the analyzer must rebuild it and say what happened."""
    import laanet.faces.analyzer as analyzer_module
    from laanet.faces import FaceDetectionError

    portrait = sample_arrays["obama_portrait.jpg"]
    empty = np.zeros((0, 1, 3), np.uint8)  # what MediaPipe cannot take (a 1×1 image cut into tiles used to give it)
    broken = analyzer_module._make_backend("mediapipe")
    with pytest.raises(RuntimeError):
        broken.detect_boxes(empty)
    with pytest.raises(RuntimeError):  # without a rebuild, every later call fails
        broken.analyze(portrait, 1.0, portrait)
    broken.close()

    with FaceAnalyzer("mediapipe") as analyzer:
        failing = analyzer._backend
        monkeypatch.setattr(failing, "detect_boxes", lambda image, real=failing.detect_boxes: real(empty))
        with pytest.raises(FaceDetectionError, match=r"640×800 image \(RuntimeError: .*restarted"):
            analyzer.detect(portrait)
        assert analyzer._backend is not failing
        assert len(analyzer.detect(portrait)) == 1
