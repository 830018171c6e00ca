"""`laanet detect` and the Detector API, end to end on the bundled samples with a tiny random model."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from laanet.cli import app
from laanet.inference.detector import DefaultWeightsMissing, Detector, default_weights
from laanet.inference.results import sigmoid
from laanet.schemas import validate


@pytest.fixture(scope="module")
def detector(tiny_weights):
    return Detector(tiny_weights, frames=4)


def test_image_result(detector, sample_arrays):
    res = detector.detect(sample_arrays["obama_portrait.jpg"])
    assert res.status == "ok" and res.kind == "image"
    face = res.frames[0].faces[0]
    assert face.heatmap.shape == (32, 32) and 0 <= face.heatmap.min() and face.heatmap.max() <= 1
    assert math.isclose(res.score, sigmoid(face.logit), rel_tol=1e-9)
    assert res.label == ("fake" if res.score >= 0.5 else "real")
    assert res.frames[0].overlay.shape == sample_arrays["obama_portrait.jpg"].shape
    d = res.to_dict()
    assert set(d) >= {"path", "kind", "status", "error", "score", "label", "frames"}
    assert 0 < d["score"] < 1  # a probability, never the raw logit


def test_multi_face_frame_takes_max(detector, media_dir):
    res = detector.detect(media_dir / "multi_face.jpg")
    faces = res.frames[0].faces
    assert len(faces) >= 2
    assert math.isclose(res.frames[0].score, max(f.score for f in faces), rel_tol=1e-9)


def test_grayscale_rgba_16bit(detector, media_dir):
    for name in ("grayscale.png", "rgba.png", "rgb16.png"):
        assert detector.detect(media_dir / name).status == "ok", name


def test_no_face_and_errors(detector, media_dir):
    assert detector.detect(media_dir / "no_face.png").status == "no_face"
    bad = detector.detect(media_dir / "not_an_image.jpg")
    assert bad.status == "error" and bad.error and bad.score is None
    assert detector.detect(media_dir / "empty.jpg").status == "error"


def test_video_score_is_sigmoid_of_mean_frame_logit(detector, media_dir):
    res = detector.detect(media_dir / "face_clip.mp4")
    assert res.kind == "video" and res.status == "ok"
    logits = [fr.logit for fr in res.frames if fr.logit is not None]
    assert 1 <= len(logits) <= 4
    assert math.isclose(res.score, sigmoid(float(np.mean(logits))), rel_tol=1e-9)


def test_truncated_video_keeps_frames(detector, media_dir):
    res = detector.detect(media_dir / "truncated.mp4")
    assert res.status in ("ok", "no_face", "error")
    if res.status == "ok":
        assert res.frames


def test_flip_test_changes_nothing_for_symmetric_input(tiny_weights):
    det = Detector(tiny_weights, flip_test=True)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 128, 128)).astype(np.float32)
    x = (x + x[..., ::-1]) / 2  # mirror-symmetric input
    a, _ = det.runner.predict(x, flip_test=True)
    b, _ = det.runner.predict(x, flip_test=False)
    assert np.allclose(a, b, atol=1e-5)


def test_onnx_backend_matches_torch(tiny_weights, sample_arrays, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    img = sample_arrays["grace_hopper.jpg"]
    a = Detector(tiny_weights).detect(img)
    b = Detector(tiny_weights, backend="onnx").detect(img)
    assert abs(a.score - b.score) < 1e-3
    assert np.abs(a.frames[0].faces[0].heatmap - b.frames[0].faces[0].heatmap).max() < 1e-3


def test_default_weights_or_clear_error():
    try:
        path = default_weights()
    except DefaultWeightsMissing as err:
        assert "--weights" in str(err)
    else:
        assert path.is_file()


def test_cli_folder_json_csv(tiny_weights, media_dir, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name in ("multi_face.jpg", "no_face.png", "face_clip.mp4", "not_an_image.jpg"):
        shutil.copy(media_dir / name, inputs / name)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app, ["detect", str(inputs), "--weights", str(tiny_weights), "--out", str(out), "--frames", "3", "--format", "csv"]
    )
    assert res.exit_code == 1, res.output  # one unreadable input
    payload = json.loads((out / "results.json").read_text())
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in payload["results"]}
    assert by_name["not_an_image.jpg"]["status"] == "error"
    assert by_name["no_face.png"]["status"] == "no_face" and by_name["no_face.png"]["score"] is None
    video = by_name["face_clip.mp4"]
    assert video["kind"] == "video" and video["status"] == "ok" and len(video["frames"]) == 3
    assert (out / "heatmaps").is_dir() and video["timeline"].endswith("_timeline.png")
    frame = by_name["multi_face.jpg"]["frames"][0]
    assert frame["overlay"].endswith(".png") and (out / "heatmaps" / frame["overlay"].rsplit("/", 1)[-1]).is_file()
    heat = np.load(frame["faces"][0]["heatmap"])  # the raw heatmap of the face, beside its overlay
    assert heat.shape == (32, 32) and heat.max() == pytest.approx(frame["faces"][0]["heatmap_max"], abs=1e-4)
    assert payload["model"]["backend"] == "torch"
    validate(payload, "document")  # results.json: provenance once, then the entries
    assert payload["provenance"]["weights"]["name"] == "tiny.pt" and payload["provenance"]["options"]["frames"] == 3
    for line in (out / "results.jsonl").read_text().splitlines():
        validate(json.loads(line), "result")  # each line stands alone, with its provenance
    rows = (out / "results.csv").read_text().strip().splitlines()
    assert rows[0].startswith("path,kind,status") and len(rows) >= 1 + 2 + 3 + 2
    assert "Traceback" not in res.output


def test_cli_usage_errors(tiny_weights, tmp_path, sample_arrays):
    runner = CliRunner()
    res = runner.invoke(app, ["detect", str(tmp_path / "missing.jpg"), "--weights", str(tiny_weights)])
    assert res.exit_code == 1 and "no such file" in res.output
    res = runner.invoke(app, ["detect", str(tmp_path), "--weights", str(tiny_weights), "--threshold", "2"])
    assert res.exit_code == 2
    res = runner.invoke(app, ["detect", str(tmp_path), "--weights", str(tmp_path / "nope.pt")])
    assert res.exit_code == 2 and "not found" in res.output


def test_cli_refuses_unusable_weights_and_outputs(tiny_weights, tmp_path, media_dir):
    """Exit code 2 with one clear line (no traceback) for weights, options and output folders that cannot work."""
    runner = CliRunner()
    image = str(media_dir / "multi_face.jpg")
    (tmp_path / "junk.pt").write_bytes(b"\x80\x04junk, not a checkpoint")
    (tmp_path / "junk.onnx").write_bytes(b"not an onnx model at all")
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    cases = {
        "junk weights": (["--weights", str(tmp_path / "junk.pt")], "Expected a laanet checkpoint"),
        "junk onnx": (["--weights", str(tmp_path / "junk.onnx"), "--backend", "onnx"], "junk.onnx"),
        "onnx file, torch backend": (["--weights", str(tmp_path / "junk.onnx")], "backend"),
        "device": (["--weights", str(tiny_weights), "--device", "tpu"], "device"),
        "face backend": (["--weights", str(tiny_weights), "--face-backend", "retinaface"], "face_backend"),
        "sha256": (["--weights", str(tiny_weights), "--sha256", "0" * 64], "SHA-256"),
        "--out is a file": (["--weights", str(tiny_weights), "--out", str(a_file)], "not a folder"),
        "--out below a file": (["--weights", str(tiny_weights), "--out", str(a_file / "out")], "cannot write"),
    }
    for name, (args, needle) in cases.items():
        res = runner.invoke(app, ["detect", image, *args])
        assert res.exit_code == 2, (name, res.output)
        assert needle in res.output and "Traceback" not in res.output, (name, res.output)
        assert "weights_only=False" not in res.output


def test_paste_heatmap_lands_on_the_face(detector, sample_arrays):
    from laanet.faces import crop_face
    from laanet.inference.preprocess import paste_heatmap

    img = sample_arrays["obama_portrait.jpg"]
    face = detector.faces.detect(img)[0]
    crop = crop_face(img, face, size=256)
    ones = np.ones((32, 32), np.float32)
    pasted = paste_heatmap(ones, crop.matrix, 256, img.shape[:2])
    ys, xs = np.nonzero(pasted > 0.5)
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    assert abs(xs.mean() - cx) < 0.15 * face.width and abs(ys.mean() - cy) < 0.3 * face.height
    area = (pasted > 0.5).sum()
    assert 1.5**2 * face.area * 0.6 < area < 1.5**2 * face.area * 1.6  # the 1.5x crop, minus the 5-px margin
