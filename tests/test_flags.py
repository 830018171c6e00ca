"""Flags (laanet.inference.flags): each code fires on an input made to trigger it and not on the same input without
the problem; the measures behind them; no_face never reads as real."""
from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

from laanet.inference.flags import FaceQuality, FlagLimits, blockiness, file_flags, measure_face, model_face_px, sharpness
from laanet.inference.results import FaceResult, FileResult, FrameResult
from laanet.schemas import validate


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def codes(result) -> list[str]:
    return [f.code for f in result.flags]


# --- the measures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def portrait(sample_arrays, mediapipe_analyzer):
    image = sample_arrays["grace_hopper.jpg"]
    return image, mediapipe_analyzer.detect_one(image)


def test_sharpness_falls_with_blur(portrait):
    from laanet.faces import crop_face

    image, face = portrait
    sharp = sharpness(crop_face(image, face).image)
    blurred = sharpness(crop_face(cv2.GaussianBlur(image, (0, 0), 2.5), face).image)
    limit = FlagLimits().min_sharpness
    assert sharp > limit > blurred, (sharp, blurred)


def test_blockiness_sees_jpeg_blocks_on_the_frame_grid(portrait):
    image, face = portrait
    clean, heavy = blockiness(image, face.box), blockiness(jpeg(image, 10), face.box)
    limit = FlagLimits().max_blockiness
    assert clean < limit < heavy, (clean, heavy)
    shifted = jpeg(image, 10)[3:, 3:]  # the same blocks, off the 8-px grid of the frame
    box = np.asarray(face.box) - 3
    assert blockiness(shifted, box) < 1.2
    assert blockiness(image, [10, 10, 30, 30]) is None  # too small to tell


def test_measure_face_size_from_the_crop_and_the_model_input():
    crop = np.full((256, 256, 3), 128, np.uint8)
    frame = np.full((600, 600, 3), 128, np.uint8)
    matrix = np.array([[2.0, 0, -100], [0, 2.0, -100]])  # 2 crop px per frame px: the crop covers 128 frame px
    q = measure_face(frame, [100, 100, 180, 180], crop, matrix, input_size=384, margin=5)
    assert q.size_px == pytest.approx(128 / 1.5)
    assert q.input_scale == pytest.approx(2.0 * 384 / 246)
    assert measure_face(frame, [100, 100, 180, 180], crop, matrix, input_size=112, margin=5).input_scale == pytest.approx(2.0 * 112 / 246)
    assert model_face_px(384, 256, 5) == pytest.approx(256 / 1.5 * 384 / 246)
    assert model_face_px(112, 256, 9) == pytest.approx(80.3, abs=0.05)  # FakeFormer ViT-S/8: 112-px input, 9-px margin


# --- file_flags on hand-made results ------------------------------------------------------------------------

GOOD = FaceQuality(size_px=200, input_scale=1.3, sharpness=300, blockiness=1.05)


def result(kind: str, people: list[list[FaceQuality]], *, frames: int | None = None) -> FileResult:
    n = frames if frames is not None else max((len(p) for p in people), default=1)
    out = FileResult(path=f"x.{'mp4' if kind == 'video' else 'jpg'}", kind=kind,
                     frames=[FrameResult(index=i, time_s=0.1 * i) for i in range(n)])
    for person, qualities in enumerate(people, start=1):
        for i, q in enumerate(qualities):
            out.frames[i].faces.append(FaceResult(box=[100.0 * person, 0, 100.0 * person + 90, 90], logit=0.1, detector_score=1.0,
                                                  person=person, quality=q))
    return out.finalize()


def flagged(res: FileResult, requested: int = 1, **limits) -> list[str]:
    res.flags = file_flags(res, requested_frames=requested, limits=FlagLimits(**limits), face_px=266.0)
    return codes(res)


def test_clean_result_has_no_flags():
    assert flagged(result("video", [[GOOD] * 4, [GOOD] * 4]), requested=4) == []


def test_too_many_faces():
    res = result("image", [[GOOD]] * 5)
    assert flagged(res) == ["too_many_faces"] and "5 faces found, more than 4" in res.flags[0].message
    assert flagged(res, max_faces=5) == []


def test_small_face_says_the_size():
    small = FaceQuality(size_px=60, input_scale=4.4, sharpness=300, blockiness=1.0)
    res = result("video", [[GOOD] * 3, [small] * 3], frames=3)
    assert flagged(res, requested=3) == ["small_face"]
    message = res.flags[0].message
    assert "person 2 60 px (4.4×)" in message and "266 px" in message and "under 89 px" in message
    assert "person 1" not in message
    # the median decides: one small frame of three does not flag a person
    assert flagged(result("video", [[small, GOOD, GOOD]]), requested=3) == []


def test_blur_and_compression():
    blurry = FaceQuality(size_px=200, input_scale=1.3, sharpness=12, blockiness=1.0)
    blocky = FaceQuality(size_px=200, input_scale=1.3, sharpness=300, blockiness=2.3)
    assert flagged(result("image", [[blurry]])) == ["blur"]
    assert flagged(result("image", [[blocky]])) == ["compression"]
    assert flagged(result("image", [[blocky]]), max_blockiness=2.5) == []
    no_grid = FaceQuality(size_px=20, input_scale=9, sharpness=300, blockiness=None)
    assert flagged(result("image", [[no_grid]])) == ["small_face"]


def test_short_video():
    res = result("video", [[GOOD] * 3])
    assert flagged(res, requested=32) == ["short_video"] and "only 3 frame(s)" in res.flags[0].message
    assert flagged(res, requested=3) == []
    assert flagged(result("image", [[GOOD]]), requested=32) == []  # images are one frame by nature


def test_no_face_flag_and_errors():
    res = result("image", [])
    assert res.status == "no_face" and flagged(res) == ["no_face"] and "neither real nor fake" in res.flags[0].message
    err = FileResult(path="x.mp4", kind="video", status="error", error="broken").finalize()
    assert flagged(err, requested=32) == []


def test_limits_are_checked():
    with pytest.raises(ValueError, match="max_faces"):
        FlagLimits(max_faces=0)
    with pytest.raises(ValueError, match="min_sharpness"):
        FlagLimits(min_sharpness=float("nan"))


# --- through the Detector -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def detector(tiny_weights):
    from laanet.inference.detector import Detector

    return Detector(tiny_weights, frames=8, device="cpu")


def test_detector_no_face_result_does_not_look_real(detector, media_dir, tmp_path):
    from laanet.inference.folder_run import detect_to_folder

    res = detector.detect(media_dir / "no_face.png")
    assert res.status == "no_face" and res.label is None and codes(res) == ["no_face"]
    assert all(fr.overlay is None for fr in res.frames)
    assert "label=None" in repr(res) and "flags=['no_face']" in repr(res)
    d = res.to_dict()
    validate(d, "result")
    assert d["label"] is None and d["flags"][0]["code"] == "no_face"
    run = detect_to_folder(detector, [media_dir / "no_face.png"], tmp_path / "out", csv=True)
    row = next(csv.DictReader(open(run.results_csv)))
    assert row["label"] == "" and row["flags"] == "no_face" and row["status"] == "no_face"
    assert json.loads((tmp_path / "out" / "results.json").read_text())["results"][0]["label"] is None


def test_detector_short_video(detector, media_dir):
    res = detector.detect(media_dir / "face_clip.mp4", frames=64)  # a 50-frame clip
    assert "short_video" in codes(res) and "50 frame(s)" in next(f.message for f in res.flags if f.code == "short_video")
    assert "short_video" not in codes(detector.detect(media_dir / "face_clip.mp4", frames=8))


def test_detector_too_many_faces_per_call_limit(detector, sample_arrays):
    face = sample_arrays["grace_hopper.jpg"][40:440, 56:456]
    grid = np.concatenate([np.concatenate([face] * 3, axis=1)] * 2, axis=0)  # six faces
    res = detector.detect(grid)
    assert len(res.people) == 6 and res.person is not None
    assert "too_many_faces" in codes(res)
    assert "too_many_faces" not in codes(detector.detect(grid, max_faces=6))


def test_detector_blur_compression_and_small_face_from_the_model_input(detector, sample_arrays, monkeypatch):
    image = sample_arrays["grace_hopper.jpg"]  # face ≈ 200 px
    assert codes(detector.detect(image)) == []
    assert "blur" in codes(detector.detect(cv2.GaussianBlur(image, (0, 0), 3)))
    assert "compression" in codes(detector.detect(jpeg(image, 8)))
    small = cv2.resize(image, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)  # face ≈ 60 px
    assert "small_face" not in codes(detector.detect(small))  # the tiny model's 128-px input: 60 px is enough
    monkeypatch.setattr(detector.runner, "input_size", 384)  # a 384-px model (LAA-Net's) needs larger faces
    monkeypatch.setattr(detector.runner, "predict", lambda x, flip_test=False: (np.zeros(len(x), np.float32), None))
    res = detector.detect(small)
    assert "small_face" in codes(res)
    assert "266 px" in next(f.message for f in res.flags if f.code == "small_face")
