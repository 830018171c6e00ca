"""FakeFormer through every inference consumer: framing (9-px margin, corner-aligned affine, ImageNet
normalisation), Detector / detect / export / ONNX / eval / serve with the official-layout fixture checkpoint
(``../shared/fixtures/fakeformer``), provenance naming the family."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from laanet.assets import sample_path
from laanet.cli import app
from laanet.inference.preprocess import crop_to_input, frame_crop, heatmap_to_crop_matrix
from laanet.inference.runner import combine_outputs
from laanet.models.family import IMAGENET_MEAN, IMAGENET_STD, Preprocess

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "fakeformer"
CHECKPOINT = FIXTURES / "checkpoint.pt"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"FakeFormer fixtures not present ({FIXTURES})")
FF = Preprocess(112, 256, 9, IMAGENET_MEAN, IMAGENET_STD, "corner_affine")


def _gradient_crop(size: int = 256) -> np.ndarray:
    """An asymmetric crop: red rises left → right, green top → bottom, blue a diagonal checker."""
    y, x = np.mgrid[0:size, 0:size]
    return np.dstack([x * 255 // (size - 1), y * 255 // (size - 1), ((x // 7 + y // 5) % 2) * 200]).astype(np.uint8)


# ------------------------------------------------------------------------------------------------- framing


def test_corner_affine_framing_is_the_official_test_transform():
    crop = _gradient_crop()
    inner = crop[9:247, 9:247]
    image = frame_crop(crop, FF)
    # corner-to-corner: the first and last pixels of the 238-px inner crop land on the first and last input pixels
    assert image.shape == (112, 112, 3)
    assert (image[0, 0] == inner[0, 0]).all() and (image[-1, -1] == inner[-1, -1]).all()
    expected = cv2.warpAffine(inner, np.array([[111 / 237, 0, 0], [0, 111 / 237, 0]]), (112, 112), flags=cv2.INTER_LINEAR)
    assert np.array_equal(image, expected)
    assert not np.array_equal(image, cv2.resize(inner, (112, 112), interpolation=cv2.INTER_LINEAR))
    x = crop_to_input(crop, FF)
    ref = ((expected.astype(np.float32) / 255 - np.float32(IMAGENET_MEAN)) / np.float32(IMAGENET_STD)).transpose(2, 0, 1)
    assert x.dtype == np.float32 and x.shape == (3, 112, 112)
    np.testing.assert_array_equal(x, ref)


def test_laanet_framing_unchanged():
    crop = _gradient_crop()
    x = crop_to_input(crop, 128)  # a bare size = LAA-Net's preprocessing
    ref = cv2.resize(crop[5:251, 5:251], (128, 128), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    np.testing.assert_array_equal(x, ((ref - 0.5) / 0.5).transpose(2, 0, 1))
    assert np.array_equal(crop_to_input(crop, Preprocess(128)), x)


def test_heatmap_to_crop_matrix_follows_the_framing():
    # resize framing: pixel centres aligned (unchanged LAA-Net behaviour)
    m = heatmap_to_crop_matrix(96, 256)
    assert m[0, 0] == pytest.approx(246 / 96) and m[0, 2] == pytest.approx(5 + 0.5 * 246 / 96 - 0.5)
    # corner_affine: a cell's centre on the input (8 px per cell), through the inverse corner affine, onto the crop
    m = heatmap_to_crop_matrix(14, 256, pre=FF)
    k = 237 / 111
    assert m[0, 0] == pytest.approx(8 * k) and m[0, 2] == pytest.approx(9 + 3.5 * k)
    last = m[0, 0] * 13 + m[0, 2]
    assert 9 < m[0, 2] < last < 247  # the 14 cells stay inside the inner crop


def test_flip_test_unflips_the_mirrored_heatmap():
    """laanet averages the mirrored heatmap after flipping it back (both families); the official FakeFormer test
    does not flip it back (io.pt's hm_flip_mean), so the two differ on an asymmetric map."""
    rng = np.random.default_rng(0)
    hm = rng.normal(size=(1, 1, 14, 14)).astype(np.float32)
    mirrored = hm[..., ::-1] + 0.0
    cls = np.array([[1.0], [3.0]], np.float32)
    logits, heat = combine_outputs(cls, np.concatenate([hm, mirrored]), 1, True)
    assert logits[0] == pytest.approx(2.0)
    np.testing.assert_allclose(heat[0], 1 / (1 + np.exp(-hm[0, 0])), rtol=1e-6)


# ------------------------------------------------------------------------------------------------- with the fixture


@pytest.fixture(scope="module")
def model():
    from laanet.models.checkpoint import load_model

    return load_model(CHECKPOINT)


@pytest.fixture(scope="module")
def detector():
    from laanet import Detector

    return Detector(CHECKPOINT, device="cpu", frames=2)


@needs_fixtures
def test_detector_uses_the_models_framing(detector, model):
    from laanet.faces import crop_face
    from laanet.media import read_image
    from laanet.schemas import validate

    result = detector(sample_path("obama_portrait.jpg"))
    assert result.status == "ok"
    face = result.frames[0].faces[0]
    assert face.heatmap.shape == (14, 14)
    entry = result.to_dict()
    validate(entry, "result")
    assert entry["provenance"]["model"] == {"family": "fakeformer", "name": "fakeformer-vit-s8"}
    assert entry["provenance"]["input_size"] == 112 and entry["provenance"]["crop_size"] == 256
    assert detector.model_info["family"] == "fakeformer"
    # the same face by hand: crop → 9-px margin → corner affine → ImageNet → model, flip-averaged logits
    image = read_image(sample_path("obama_portrait.jpg"))
    faces = detector.faces.detect(image)
    crop = crop_face(image, faces[0], size=256).image
    x = torch.from_numpy(crop_to_input(crop, model.preprocess))[None]
    with torch.no_grad():
        logit = (model(x).cls + model(x.flip(-1)).cls).item() / 2
    assert face.logit == pytest.approx(logit, abs=1e-4)
    x_laanet = torch.from_numpy(crop_to_input(crop, Preprocess(112)))[None]
    with torch.no_grad():
        other = (model(x_laanet).cls + model(x_laanet.flip(-1)).cls).item() / 2
    assert abs(other - logit) > 1e-3  # LAA-Net's framing would give another score


@needs_fixtures
def test_cli_detect_export_onnx_detect(tmp_path, detector):
    runner = CliRunner()
    photo = str(sample_path("obama_portrait.jpg"))
    res = runner.invoke(app, ["detect", photo, "--weights", str(CHECKPOINT), "--out", str(tmp_path / "torch"), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "torch" / "results.json").read_text())
    assert doc["provenance"]["model"]["family"] == "fakeformer"
    torch_score = doc["results"][0]["score"]

    onnx_path = tmp_path / "ff.onnx"
    res = runner.invoke(app, ["export", "--weights", str(CHECKPOINT), "--out", str(onnx_path)])
    assert res.exit_code == 0, res.output
    import onnx

    props = {p.key: p.value for p in onnx.load(str(onnx_path), load_external_data=False).metadata_props}
    assert props["laanet_family"] == "fakeformer" and props["laanet_model_name"] == "fakeformer-vit-s8"
    assert Preprocess.from_dict(json.loads(props["laanet_preprocess"])) == FF
    from laanet.export.onnx import OnnxModel

    session = OnnxModel(onnx_path)
    assert session.output_names == ["cls", "heatmap"] and session.family == "fakeformer" and session.preprocess == FF

    res = runner.invoke(app, ["detect", photo, "--weights", str(onnx_path), "--backend", "onnx", "--out", str(tmp_path / "onnx")])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "onnx" / "results.json").read_text())
    assert doc["provenance"]["model"] == {"family": "fakeformer", "name": "fakeformer-vit-s8"}
    assert doc["results"][0]["score"] == pytest.approx(torch_score, abs=1e-4)


@needs_fixtures
def test_eval_uses_the_models_preprocess(tmp_path, model):
    from laanet.data.synthetic import make_dataset
    from laanet.evaluation.evaluate import EvalOptions, LocalScorer, load_items

    root = make_dataset("folder", tmp_path / "faces", frames=2, size=160)
    res = CliRunner().invoke(app, ["prepare", "folder", "--root", str(root), "--out", str(tmp_path / "prep"), "--frames", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "E"
    res = CliRunner().invoke(app, ["eval", "--weights", str(CHECKPOINT), "--data", str(tmp_path / "prep"), "--out", str(out),
                                   "--batch-size", "4", "--no-progress", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    protocol = json.loads((out / "metrics.json").read_text())["protocol"]
    assert protocol["input_size"] == 112 and protocol["family"] == "fakeformer" and "9 at 256" in protocol["crop_margin_px"]
    items = load_items([tmp_path / "prep"], frames=1)[:2]
    got = LocalScorer(CHECKPOINT, "cpu").predict(items, EvalOptions(flip_test=False, batch_size=2), progress=False)
    x = torch.stack([torch.from_numpy(crop_to_input(cv2.imread(str(i.file))[..., ::-1].copy(), FF)) for i in items])
    with torch.no_grad():
        np.testing.assert_allclose(got.logit, model(x).cls[:, 0].double().numpy(), atol=1e-5)


@needs_fixtures
def test_serve_health_names_the_family(tmp_path):
    import httpx

    from laanet.inference.options import InferenceOptions
    from laanet.service import ServeSettings, create_app
    from laanet.service.server import serve_in_thread

    app_ = create_app(ServeSettings(InferenceOptions(weights=CHECKPOINT, frames=2, device="cpu"), upload_dir=tmp_path))
    with serve_in_thread(app_) as url, httpx.Client(base_url=url, timeout=120) as client:
        model = client.get("/health").json()["model"]
        assert model["family"] == "fakeformer" and model["model_name"] == "fakeformer-vit-s8" and model["input_size"] == 112
        page = client.get("/static/app.js").text  # the page's script shows the family and the model name
        r = client.post("/v1/detect", files={"file": ("p.jpg", sample_path("obama_portrait.jpg").read_bytes(), "image/jpeg")})
        assert r.status_code == 200, r.text
        assert r.json()["provenance"]["model"]["family"] == "fakeformer"
    assert "m.family" in page and "m.model_name" in page and 'fakeformer: "FakeFormer"' in page
