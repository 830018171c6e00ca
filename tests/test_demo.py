"""The demo: face swaps, the held-out set, AUC scoring, the demo job and ``laanet demo`` (tiny models only)."""
from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from laanet.cli import app
from laanet.config import load_config
from laanet.demo.heldout import HELD_OUT, TRAIN_SAMPLES, build_heldout_set, make_view, sbi_on_image
from laanet.demo.job import DemoOptions, run_demo
from laanet.demo.scoring import score_kinds
from laanet.inference.options import InferenceOptions
from laanet.demo.swap import face_swap, similarity_transform
from laanet.models.checkpoint import save_model
from laanet.models.laanet import LAANet


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A random 0.6 M-parameter LAA-Net at 64 px: exercises the pipeline, predicts nothing."""
    torch.manual_seed(0)
    cfg = load_config("cpu-tiny", ["model.backbone=mobilenetv3_small_050", "model.input_size=64", "model.head_channels=32"])
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    save_model(LAANet(cfg.model), path)
    return path


def test_held_out_photos_are_not_training_samples():
    assert len(HELD_OUT) >= 2
    assert not set(HELD_OUT) & set(TRAIN_SAMPLES)


def test_similarity_transform_recovers_a_known_one():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, size=(20, 2))
    angle, scale, shift = 0.3, 1.7, np.array([5.0, -8.0])
    rot = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    matrix = similarity_transform(src, src @ rot.T + shift)
    np.testing.assert_allclose(matrix, np.hstack([rot, shift[:, None]]), atol=1e-9)
    with pytest.raises(ValueError):
        similarity_transform(src, src[:5])


def test_face_swap_changes_only_the_face(sample_arrays, dlib_analyzer):
    target, donor = sample_arrays["grace_hopper.jpg"], sample_arrays["biden_blue_room.jpg"]
    t_face, d_face = dlib_analyzer.detect_one(target), dlib_analyzer.detect_one(donor)
    result = face_swap(target, t_face.landmarks, donor, d_face.landmarks)
    assert result.image.shape == target.shape and result.image.dtype == np.uint8
    diff = np.abs(result.image.astype(int) - target).max(axis=2)
    inside = result.mask > 0
    assert diff[inside].mean() > 5  # another face was pasted
    # seamlessClone solves inside the mask's bounding box only; outside the mask the change is small
    x, y, w, h = cv2.boundingRect(result.mask)
    outside_box = np.ones_like(inside)
    outside_box[y - 1 : y + h + 1, x - 1 : x + w + 1] = False
    assert diff[outside_box].max() == 0
    assert diff[~inside].mean() < 1.0
    x1, y1, x2, y2 = t_face.box
    ys, xs = np.nonzero(inside)
    assert x1 - 5 <= xs.mean() <= x2 + 5 and y1 - 5 <= ys.mean() <= y2 + 5


def test_face_swap_rejects_bad_landmarks(sample_arrays):
    image = sample_arrays["grace_hopper.jpg"]
    with pytest.raises(ValueError, match="68"):
        face_swap(image, np.zeros((5, 2)), image, np.zeros((5, 2)))


def test_sbi_on_image_blends_inside_the_face_window(sample_arrays, dlib_analyzer):
    image = sample_arrays["grace_hopper.jpg"]
    face = dlib_analyzer.detect_one(image)
    fake = sbi_on_image(image, face.landmarks, np.random.default_rng(1))
    changed = np.abs(fake.astype(int) - image).max(axis=2) > 0
    assert changed.any()
    ys, xs = np.nonzero(changed)
    x1, y1, x2, y2 = face.box
    w, h = x2 - x1, y2 - y1
    assert xs.min() >= x1 - w and xs.max() <= x2 + w and ys.min() >= y1 - h and ys.max() <= y2 + h


def test_make_view_is_seeded_and_view0_is_identity(sample_arrays):
    image = sample_arrays["astronaut.jpg"]
    assert np.array_equal(make_view(image, np.random.default_rng(0), identity=True), image)
    a = make_view(image, np.random.default_rng(5))
    b = make_view(image, np.random.default_rng(5))
    assert np.array_equal(a, b) and a.shape == image.shape and not np.array_equal(a, image)


def test_heldout_set_layout(dlib_analyzer):
    items = build_heldout_set(dlib_analyzer, views=2, seed=3)
    assert len(items) == 2 * len(HELD_OUT) * 3
    assert {it.source for it in items} == set(HELD_OUT)
    assert sorted(it.kind for it in items).count("real") == 2 * len(HELD_OUT)
    for it in items:
        assert it.label == (0 if it.kind == "real" else 1)
        assert (it.donor is not None) == (it.kind == "swap") and it.donor != it.source
    with pytest.raises(ValueError):
        build_heldout_set(dlib_analyzer, views=0)
    with pytest.raises(ValueError, match="two"):
        build_heldout_set(dlib_analyzer, views=1, photos=HELD_OUT[:1])


def test_score_kinds_matches_sklearn():
    rows = [{"kind": "real", "score": s} for s in (0.1, 0.4, 0.6)] + [{"kind": "real", "score": None}]
    rows += [{"kind": "sbi", "score": s} for s in (0.5, 0.9)] + [{"kind": "swap", "score": s} for s in (0.05, 0.3)]
    by = {k.kind: k for k in score_kinds(rows)}
    assert by["sbi"].auc == pytest.approx(5 / 6) and by["sbi"].n_real == 3 and by["sbi"].no_face == 1
    assert by["swap"].auc == pytest.approx(1 / 6)
    assert by["all"].n_fake == 4 and by["all"].auc == pytest.approx(0.5)
    assert by["sbi"].accuracy == pytest.approx(0.5 * (2 / 3 + 1.0))
    empty = score_kinds([{"kind": "real", "score": None}, {"kind": "sbi", "score": 0.7}])[0]
    assert math.isnan(empty.auc) and empty.to_dict()["auc"] is None


def test_demo_job_with_a_tiny_model(tiny_weights, tmp_path):
    out = tmp_path / "demo"
    summary = run_demo(DemoOptions(out_dir=out, inference=InferenceOptions(weights=str(tiny_weights), frames=1, face_backend="dlib"), views=1))
    data = json.loads(summary.results_json.read_text())
    assert data["bundled_weights"] is False
    assert {k["kind"] for k in data["heldout"]["aucs"]} == {"sbi", "swap", "all"}
    assert set(summary.aucs) == {"sbi", "swap", "all"}
    items = data["heldout"]["items"]
    assert len(items) == 3 * len(HELD_OUT)
    for row in items:
        assert (out / row["image"]).is_file()
        assert row["score"] is not None and (out / row["overlay"]).is_file() and (out / row["thumb"]).is_file()
    roles = {r["name"]: r["role"] for r in data["samples"]}
    assert all(roles[n] == "held-out" for n in HELD_OUT) and all(roles[n] == "train" for n in TRAIN_SAMPLES)
    md = summary.report_md.read_text()
    assert "Held-out test" in md and "given with `--weights`" in md
    assert "<img" in summary.report_html.read_text()


def test_demo_cli_reports_aucs_and_errors(tiny_weights, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["demo", "--out", str(tmp_path / "o"), "--weights", str(tiny_weights), "--views", "1",
                              "--no-samples", "--face-backend", "dlib"])
    assert res.exit_code == 0, res.output
    assert "held-out AUC (sbi)" in res.output and (tmp_path / "o" / "report.html").is_file()
    res = runner.invoke(app, ["demo", "--out", str(tmp_path / "x"), "--weights", str(tmp_path / "missing.pt")])
    assert res.exit_code == 2 and "not found" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["demo", "--views", "0"])
    assert res.exit_code == 2


def _bundled_weights():
    from laanet.inference.detector import DefaultWeightsMissing, default_weights

    try:
        return default_weights()
    except DefaultWeightsMissing:
        return None


@pytest.mark.skipif(_bundled_weights() is None, reason="no bundled demo weights in this checkout")
def test_bundled_weights_are_small_and_run_the_demo(tmp_path):
    from laanet.models.checkpoint import load_model

    path = _bundled_weights()
    assert path.stat().st_size < 25 * 2**20
    model = load_model(path)
    assert model.meta.get("name") == "laanet-demo" and set(model.meta["held_out"].split(",")) == set(HELD_OUT)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # stored float16, loaded float32
    summary = run_demo(DemoOptions(out_dir=tmp_path / "demo", views=1, samples=False, kinds=("real", "sbi")))
    data = json.loads(summary.results_json.read_text())
    assert data["bundled_weights"] is True and "not** a forensic tool" in summary.report_md.read_text()
    scores = {r["name"]: r["score"] for r in data["heldout"]["items"]}
    assert all(s is not None and 0.0 <= s <= 1.0 for s in scores.values())
