"""The Python API: inputs it accepts, per-call state, threads, result objects, provenance and the JSON Schema."""
from __future__ import annotations

import hashlib
import http.server
import io
import json
import math
import re
import shutil
import threading
from functools import partial

import numpy as np
import pytest

from laanet.inference.detector import Detector, NoInputsError
from laanet.inference.results import FileResult, ResultList
from laanet.schemas import validate


@pytest.fixture(scope="module")
def detector(tiny_weights):
    return Detector(tiny_weights, frames=3, device="auto")


@pytest.fixture(scope="module")
def folder(tmp_path_factory, media_dir):
    root = tmp_path_factory.mktemp("inputs")
    for name in ("multi_face.jpg", "no_face.png", "face_clip.mp4"):
        shutil.copy(media_dir / name, root / name)
    (root / "notes.txt").write_text("not media")
    return root


def test_accepts_path_array_pil_bytes_stream_and_call(detector, media_dir, sample_arrays):
    from PIL import Image

    path = media_dir / "multi_face.jpg"
    by_path = detector.detect(path)
    assert isinstance(by_path, FileResult) and by_path.status == "ok" and len(by_path.faces) >= 2
    data = path.read_bytes()
    array = np.asarray(Image.open(path).convert("RGB"))
    for source, name in [
        (str(path), str(path)),
        (array, "<array>"),
        (Image.open(path), "<image>"),
        (data, "<bytes>"),
        (io.BytesIO(data), "<stream>"),
    ]:
        res = detector(source)  # __call__ is detect
        assert res.path == name and res.kind == "image"
        assert res.score == pytest.approx(by_path.score, abs=1e-6), name


def test_video_bytes_are_read_as_a_video(detector, media_dir):
    res = detector.detect((media_dir / "face_clip.mp4").read_bytes())
    assert res.kind == "video" and res.status == "ok" and len(res.frames) == 3


def test_folder_and_list_give_a_result_list(detector, folder, media_dir):
    results = detector.detect(folder)
    assert isinstance(results, ResultList)
    assert [r.path.rsplit("/", 1)[-1] for r in results] == ["face_clip.mp4", "multi_face.jpg", "no_face.png"]
    assert [r.status for r in results] == ["ok", "ok", "no_face"]
    listed = detector.detect([media_dir / "no_face.png", media_dir / "multi_face.jpg"])
    assert [r.status for r in listed] == ["no_face", "ok"]
    assert listed[1].score == pytest.approx(results[1].score, abs=1e-6)
    assert re.fullmatch(r"ResultList\(2 result\(s\): 1 (fake|real), 1 no_face\)", repr(listed))


def test_bad_inputs_raise_clear_errors(detector, tmp_path):
    with pytest.raises(TypeError, match="numpy array.*PIL image.*bytes"):
        detector.detect(42)
    with pytest.raises(TypeError, match="dict"):
        detector.detect({"path": "x.jpg"})
    with pytest.raises(FileNotFoundError, match="typo.jpg"):
        detector.detect(tmp_path / "typo.jpg")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(NoInputsError, match="no images or videos"):
        detector.detect(tmp_path / "empty")
    with pytest.raises(NoInputsError):
        detector.detect([])
    with pytest.raises(ValueError, match="shape"):
        detector.detect(np.zeros((4, 5), np.float32)[None, None])
    with pytest.raises(TypeError, match="fixed when the Detector is built"):
        detector.detect(tmp_path, backend="onnx")
    # unreadable content is a result, not an exception
    (tmp_path / "bad.jpg").write_bytes(b"not an image" * 10)
    bad = detector.detect(tmp_path / "bad.jpg")
    assert bad.status == "error" and bad.score is None and bad.error
    assert detector.detect(b"garbage bytes" * 10).status == "error"


def test_url_input(detector, media_dir):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(media_dir))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        res = detector.detect(f"{base}/multi_face.jpg")
        assert res.status == "ok" and res.path.endswith("/multi_face.jpg")
        assert res.score == pytest.approx(detector.detect(media_dir / "multi_face.jpg").score, abs=1e-6)
        assert detector.detect(f"{base}/face_clip.mp4").kind == "video"
        missing = detector.detect(f"{base}/nothing.jpg")
        assert missing.status == "error" and "404" in missing.error
    finally:
        server.shutdown()


def test_detect_inside_detect_many_keeps_the_loops_heatmaps(detector, media_dir, sample_arrays, tmp_path):
    """Per-call options are per call: a detect() in the middle of a detect_many() run must not reset it."""
    paths = [media_dir / "multi_face.jpg", media_dir / "grayscale.png", media_dir / "face_clip.mp4"]
    seen = []
    for res in detector.detect_many(paths, heatmap_dir=tmp_path / "hm"):
        inner = detector.detect(sample_arrays["grace_hopper.jpg"], flip_test=False, threshold=0.9)
        assert inner.frames[0].overlay_path is None and inner.threshold == 0.9
        seen.append(res)
    for res in seen:
        assert res.status == "ok" and res.threshold == 0.5
        for frame in (fr for fr in res.frames if fr.faces):
            assert frame.overlay_path and (tmp_path / "hm" / frame.overlay_path.rsplit("/", 1)[-1]).is_file()
            for face in frame.faces:
                assert np.array_equal(np.load(face.heatmap_path), face.heatmap)
    assert seen[2].timeline_path


def test_per_call_options_do_not_stick(detector, sample_arrays, monkeypatch):
    img = sample_arrays["obama_portrait.jpg"]
    calls: list[bool] = []
    real_predict = detector.runner.predict

    def spy(x, *, flip_test=False):
        calls.append(flip_test)
        return real_predict(x, flip_test=flip_test)

    monkeypatch.setattr(detector.runner, "predict", spy)
    flipped = detector.detect(img)
    plain = detector.detect(img, flip_test=False)
    again = detector.detect(img)
    assert calls == [True, False, True]
    assert plain.provenance.options["flip_test"] is False and again.provenance.options["flip_test"] is True
    assert detector.options.flip_test is True and again.score == pytest.approx(flipped.score, abs=1e-7)
    strict = detector.detect(img, threshold=0.999)
    assert strict.label == "real" and strict.threshold == 0.999 and strict.score == pytest.approx(flipped.score, abs=1e-7)
    with pytest.raises(ValueError, match="threshold"):
        detector.detect(img, threshold=2)


def test_shared_by_threads(detector, sample_arrays):
    names = ["obama_portrait.jpg", "grace_hopper.jpg", "biden_blue_room.jpg", "astronaut.jpg"]
    expected = {n: detector.detect(sample_arrays[n], keep_overlays=False).score for n in names}
    got: dict[str, list[float]] = {n: [] for n in names}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for _ in range(2):
                got[name].append(detector.detect(sample_arrays[name]).score)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for name in names:
        assert got[name] == pytest.approx([expected[name]] * 2, abs=1e-6), name


def test_result_objects(detector, media_dir, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    res = detector.detect(media_dir / "face_clip.mp4")
    assert re.fullmatch(r"FileResult\(path='.*face_clip\.mp4', kind='video', status='ok', label='(fake|real)', score=0\.\d{3}, frames=3, faces=\d, people=1, person=1\)", repr(res))
    json_path = res.save(tmp_path / "saved")
    saved = json.loads(json_path.read_text())
    assert saved == json.loads(json.dumps(res.to_dict()))
    validate(saved, "result")
    frame = next(fr for fr in res.frames if fr.faces)
    assert frame.overlay_path.endswith(".png") and (tmp_path / "saved" / frame.overlay_path.rsplit("/", 1)[-1]).is_file()
    heat = np.load(frame.faces[0].heatmap_path)
    assert heat.shape == (32, 32) and heat.dtype == np.float32 and np.array_equal(heat, frame.faces[0].heatmap)
    assert saved["timeline"] and saved["frames"][0]["faces"][0]["heatmap"].endswith("_face0.npy")
    fig = res.plot()
    assert len(fig.axes) >= 2  # the overlay and the score timeline
    import matplotlib.pyplot as plt

    plt.close(fig)
    values = res.to_dict(heatmap_values=True)["frames"][0]["faces"][0]["heatmap_values"]
    assert np.allclose(values, res.frames[0].faces[0].heatmap, atol=5e-4)


def test_provenance_and_schema(detector, tiny_weights, folder, tmp_path):
    res = detector.detect(folder / "multi_face.jpg")
    d = res.to_dict()
    validate(d)
    validate(d, "result")
    prov = d["provenance"]
    assert prov["weights"] == {"name": "tiny.pt", "sha256": hashlib.sha256(tiny_weights.read_bytes()).hexdigest(), "format": "laanet"}
    assert prov["options"]["weights"] == "tiny.pt" and prov["options"]["frames"] == 3  # file name only, no folder
    assert str(tiny_weights.parent) not in json.dumps(d)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", prov["created"])
    assert d["schema_version"] == "1.1" and prov["input_size"] == 128 and prov["crop_size"] == 256
    doc_path = detector.detect(folder).save(tmp_path / "all")
    doc = json.loads(doc_path.read_text())
    validate(doc)
    validate(doc, "document")
    assert len(doc["results"]) == 3 and "provenance" not in doc["results"][0]
    import jsonschema

    broken = json.loads(json.dumps(d))
    broken["frames"][0]["faces"][0]["score"] = 1.5
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)
    del d["provenance"]
    with pytest.raises(jsonschema.ValidationError):
        validate(d, "result")


def test_non_finite_model_output_is_an_error_never_nan(detector, sample_arrays, monkeypatch):
    real_predict = detector.runner.predict

    def nan_predict(x, *, flip_test=False):
        logits, heat = real_predict(x, flip_test=flip_test)
        return np.full_like(logits, np.nan), heat

    monkeypatch.setattr(detector.runner, "predict", nan_predict)
    res = detector.detect(sample_arrays["obama_portrait.jpg"])
    assert res.status == "error" and res.score is None and res.label is None and "non-finite" in res.error
    text = json.dumps(res.to_dict(), allow_nan=False)  # raises on NaN
    assert not re.search(r"[:,\[]\s*-?(NaN|Infinity)", text)
    validate(json.loads(text))
    face = res.to_dict()["frames"][0]["faces"][0]
    assert face["score"] is None and face["logit"] is None and not math.isnan(face["detector_score"])


def test_face_detector_failures(detector, media_dir, sample_arrays, monkeypatch):
    """A frame the face detector fails on (it recovers) is a frame without faces; an image it fails on is an
    error result; a face detector that cannot recover raises, so that a caller (server, CLI) notices."""
    from laanet.faces.types import FaceBackendError, FaceDetectionError

    real_detect = detector.faces.detect
    calls = {"n": 0}

    def every_other(image):
        calls["n"] += 1
        if calls["n"] % 2:
            raise FaceDetectionError("graph failed")
        return real_detect(image)

    monkeypatch.setattr(detector.faces, "detect", every_other)
    video = detector.detect(media_dir / "face_clip.mp4")
    assert video.status == "ok" and "face detection failed on 2 of 3 frames" in video.error
    assert [bool(fr.faces) for fr in video.frames] == [False, True, False]
    calls["n"] = 0
    image = detector.detect(sample_arrays["obama_portrait.jpg"])
    assert image.status == "error" and image.error == "face detection failed: graph failed" and image.score is None

    def broken(image):
        raise FaceBackendError("mediapipe could not be rebuilt")

    monkeypatch.setattr(detector.faces, "detect", broken)
    with pytest.raises(FaceBackendError):
        detector.detect(sample_arrays["obama_portrait.jpg"])
