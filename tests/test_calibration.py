"""Calibration and operating points: the fits on synthetic scores with known answers, the file, the result hook,
``laanet calibrate`` / ``detect --calibration`` / the API on the bundled samples, and eval's calibration metrics."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from laanet.calibration import (
    UNCALIBRATED, AppliedCalibration, Bands, Calibration, CalibrationError, DataSummary, IsotonicScaling, PlattScaling,
    TemperatureScaling, WeightsRef, apply_to_result, fit_bands, fit_calibration, fit_operating_points, fit_scaler,
)
from laanet.cli import app
from laanet.evaluation.metrics import (
    brier_score, expected_calibration_error, reliability_bins, sigmoid, threshold_at_fpr, tpr_at_fpr,
)
from laanet.schemas import validate

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "laanet" / "assets" / "samples"
SHA = "ab" * 32


def _bernoulli(p: np.ndarray, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(p.shape) < p).astype(np.int64)


def _two_classes(n_real: int = 1000, n_fake: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Asymmetric classes: reals N(-1, 1), fakes N(1.5, 0.7) (logits), reals first."""
    rng = np.random.default_rng(seed)
    z = np.concatenate([rng.normal(-1.0, 1.0, n_real), rng.normal(1.5, 0.7, n_fake)])
    return z, np.r_[np.zeros(n_real, np.int64), np.ones(n_fake, np.int64)]


def _calibration(z, y, **kwargs) -> Calibration:
    data = DataSummary("d", "folder", int((y == 0).sum()), int(y.sum()), images=len(y))
    return fit_calibration(z, y, weights=WeightsRef("w.pt", SHA), data=data, scoring={"frames": 32, "flip_test": True},
                           n_boot=200, **kwargs)


# ---------------------------------------------------------------------------------------------------------
# Fits with known answers
# ---------------------------------------------------------------------------------------------------------


def test_platt_recovers_a_known_slope_and_intercept():
    z = np.random.default_rng(1).normal(0.0, 2.0, 40000)
    y = _bernoulli(sigmoid(1.7 * z - 0.8), seed=2)
    platt = fit_scaler("platt", z, y)
    assert isinstance(platt, PlattScaling)
    assert platt.slope == pytest.approx(1.7, abs=0.06) and platt.intercept == pytest.approx(-0.8, abs=0.05)
    np.testing.assert_allclose(platt.probability(np.array([0.0, 1.0])), sigmoid(np.array([-0.8, 0.9])), atol=0.02)


def test_temperature_recovers_a_known_temperature_and_isotonic_is_monotone():
    z = np.random.default_rng(3).normal(0.0, 3.0, 40000)
    y = _bernoulli(sigmoid(z / 2.5), seed=4)
    temp = fit_scaler("temperature", z, y)
    assert isinstance(temp, TemperatureScaling) and temp.temperature == pytest.approx(2.5, rel=0.04)
    iso = fit_scaler("isotonic", z, y)
    assert isinstance(iso, IsotonicScaling)
    grid = np.linspace(-6, 6, 49)
    p = iso.probability(grid)
    assert (np.diff(p) >= 0).all() and p.min() >= 0 and p.max() <= 1
    np.testing.assert_allclose(p, sigmoid(grid / 2.5), atol=0.08)  # close to the truth where data is dense
    # Overconfident raw scores (the truth is z / 2.5): each map lowers the ECE a lot.
    before = expected_calibration_error(y, sigmoid(z))
    for scaler in (temp, iso, fit_scaler("platt", z, y)):
        assert expected_calibration_error(y, scaler.probability(z)) < before / 4


def test_thresholds_at_fpr_give_the_right_empirical_fpr():
    z, y = _two_classes()
    real, fake = z[y == 0], z[y == 1]
    for target in (0.01, 0.05, 0.1):
        t, fpr, tpr = threshold_at_fpr(y, z, target)
        assert fpr == pytest.approx((real >= t).mean()) and fpr <= target
        assert tpr == pytest.approx((fake >= t).mean())
        # The lowest such threshold: one score lower lets one more real through, past the target.
        lower = z[z < t].max()
        assert (real >= lower).mean() > target
    assert tpr_at_fpr(y, z, 0.05) == threshold_at_fpr(y, z, 0.05)[2]
    # The top score is real and no real may pass: the threshold is just above it, nothing is flagged.
    t, fpr, tpr = threshold_at_fpr([0, 1, 0], [0.9, 0.5, 0.1], 0.0)
    assert t > 0.9 and fpr == 0.0 and tpr == 0.0


def test_operating_points_bootstrap_intervals_contain_the_point_and_are_seeded():
    z, y = _two_classes()
    scaler = fit_scaler("platt", z, y)
    points = fit_operating_points(z, y, scaler, fprs=(0.01, 0.05), n_boot=300, seed=7)
    assert [p.name for p in points] == ["fpr1", "fpr5", "eer"]
    for p in points:
        assert p.fpr in p.fpr_ci and p.tpr in p.tpr_ci and p.score in p.threshold_ci
        assert p.tpr_ci.high - p.tpr_ci.low > 0  # a real interval, not a point
        assert p.score == pytest.approx(float(sigmoid(np.array([p.logit]))[0]))
        assert p.probability == pytest.approx(float(scaler.probability(np.array([p.logit]))[0]))
    eer = points[-1]
    assert eer.eer in eer.eer_ci and abs((1 - eer.tpr) - eer.fpr) < 0.02
    assert points[0].logit >= points[1].logit >= eer.logit  # stricter FPR, higher threshold
    again = fit_operating_points(z, y, scaler, fprs=(0.01, 0.05), n_boot=300, seed=7)
    other = fit_operating_points(z, y, scaler, fprs=(0.01, 0.05), n_boot=300, seed=8)
    assert again == points and other[1].tpr_ci != points[1].tpr_ci


def test_bands_are_ordered_and_set_by_the_error_rate():
    z, y = _two_classes()
    bands = fit_bands(z, y, 0.01)
    real, fake = z[y == 0], z[y == 1]
    assert bands.real_below < bands.fake_from and not bands.collapsed
    assert (real >= bands.fake_from).mean() <= 0.01  # at most 1 % of reals are "likely fake"
    assert (fake < bands.real_below).mean() <= 0.01  # at most 1 % of fakes are "likely real"
    assert [bands.band(v) for v in (bands.real_below - 1e-6, bands.real_below, bands.fake_from, None)] == [
        "likely real", "uncertain", "likely fake", None]
    # Perfectly separated classes: the 1 % edges would cross; both collapse onto the eer threshold.
    zs = np.r_[np.linspace(-5, -1, 200), np.linspace(1, 5, 200)]
    ys = np.r_[np.zeros(200, np.int64), np.ones(200, np.int64)]
    sep = fit_bands(zs, ys, 0.01)
    assert sep.collapsed and sep.real_below == sep.fake_from and -1 < sep.fake_from <= 1
    with pytest.raises(ValueError, match="out of order"):
        Bands(rate=0.01, real_below=1.0, fake_from=0.0)


def test_calibration_file_round_trip_warnings_and_weights_check(tmp_path):
    z, y = _two_classes(n_real=60, n_fake=50)
    cal = _calibration(z, y, method="platt")
    assert cal.default_operating_point == "fpr5" and cal.point_names == ("fpr1", "fpr5", "eer")
    assert any("fpr1" in w and "60 real files" in w for w in cal.warnings)  # 1 % of 60 reals is not one file
    assert cal.fit_metrics["after"]["ece"] < cal.fit_metrics["before"]["ece"]
    path = cal.save(tmp_path / "cal.json")
    loaded = Calibration.load(path)
    assert loaded.to_dict() == cal.to_dict() and loaded.scaler == cal.scaler
    loaded.check_weights(SHA)
    with pytest.raises(CalibrationError, match="other weights"):
        loaded.check_weights("cd" * 32, "other.pt")
    with pytest.raises(CalibrationError, match="no operating point 'fpr2'"):
        loaded.point("fpr2")
    (tmp_path / "bad.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(CalibrationError, match="not a laanet calibration file"):
        Calibration.load(tmp_path / "bad.json")
    broken = cal.to_dict()
    del broken["parameters"]
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(CalibrationError, match="malformed"):
        Calibration.load(tmp_path / "broken.json")


# ---------------------------------------------------------------------------------------------------------
# The hook on results, and the schema
# ---------------------------------------------------------------------------------------------------------


def _result(logits: list[float], threshold: float = 0.5):
    from laanet.inference.results import FaceResult, FileResult, FrameResult

    faces = [FaceResult(box=[0, 0, 10, 10], logit=z, detector_score=0.9) for z in logits]
    return FileResult(path="x.jpg", kind="image", frames=[FrameResult(index=0, time_s=None, faces=faces)],
                      threshold=threshold).finalize()


def _applied(cal: Calibration, point: str | None) -> AppliedCalibration:
    return AppliedCalibration(cal, "cal.json", "ef" * 32, None if point == "threshold" else cal.point(point or "fpr5"))


def test_results_carry_the_calibration_and_label_by_the_operating_point():
    z, y = _two_classes()
    cal = _calibration(z, y)
    fpr5, fpr1 = cal.point("fpr5"), cal.point("fpr1")
    between = (fpr5.logit + fpr1.logit) / 2  # fake at fpr5, real at fpr1
    for point, label in (("fpr5", "fake"), ("fpr1", "real")):
        result = _result([between, between - 3])
        apply_to_result(result, _applied(cal, point))
        d = result.to_dict(provenance=False)
        validate(d, "entry")
        assert d["label"] == label and d["threshold"] == cal.point(point).score
        # the people were labelled at the threshold option in finalize(): the operating point relabels them too
        assert next(p for p in d["people"] if p["id"] == d["person"])["label"] == label
        block = d["calibration"]
        assert block["calibrated"] and block["operating_point"]["name"] == point and block["label_from"] == "operating_point"
        assert block["probability"] == pytest.approx(float(cal.probability(between)[0]), abs=1e-6)
        assert block["band"] == cal.bands.band(between)
        faces = d["frames"][0]["faces"]
        assert faces[1]["calibration"]["probability"] < faces[0]["calibration"]["probability"]
    # "threshold": the label keeps the threshold option; the calibration still reports.
    result = _result([between], threshold=0.999)
    apply_to_result(result, _applied(cal, "threshold"))
    d = result.to_dict(provenance=False)
    assert d["label"] == "real" and d["threshold"] == 0.999 and d["calibration"]["operating_point"] is None
    assert d["calibration"]["label_from"] == "threshold" and d["calibration"]["probability"] is not None


def test_schema_with_and_without_calibration():
    result = _result([0.3])
    d = result.to_dict(provenance=False)
    assert d["calibration"] == UNCALIBRATED and d["calibration"]["calibrated"] is False
    validate(d, "entry")
    lying = json.loads(json.dumps(d))
    lying["calibration"]["probability"] = 0.7  # uncalibrated results must not carry a probability
    with pytest.raises(Exception, match="not of type 'null'|None"):
        validate(lying, "entry")
    z, y = _two_classes()
    apply_to_result(result, _applied(_calibration(z, y), "eer"))
    d = result.to_dict(provenance=False)
    validate(d, "entry")
    bad = json.loads(json.dumps(d))
    bad["calibration"]["band"] = "probably fake"
    with pytest.raises(Exception, match="probably fake"):
        validate(bad, "entry")
    no_face = _result([])
    apply_to_result(no_face, _applied(_calibration(z, y), "eer"))
    d = no_face.to_dict(provenance=False)
    assert d["status"] == "no_face" and d["calibration"]["probability"] is None and d["calibration"]["band"] is None
    validate(d, "entry")


# ---------------------------------------------------------------------------------------------------------
# laanet calibrate, detect --calibration and the API on the bundled samples (tiny random model)
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("labelled")
    for sub, names in (("real", ("astronaut.jpg", "obama_portrait.jpg", "obama_speech.jpg")),
                       ("fake", ("grace_hopper.jpg", "biden_blue_room.jpg"))):  # asymmetric: 3 real, 2 fake
        (root / sub).mkdir()
        for name in names:
            shutil.copy(SAMPLES / name, root / sub / name)
    return root


@pytest.fixture(scope="module")
def cal_file(labelled, tiny_weights, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cal") / "cal.json"
    res = CliRunner().invoke(app, ["calibrate", "--weights", str(tiny_weights), "--data", str(labelled), "--out", str(out),
                                   "--device", "cpu", "--bootstrap", "50", "--fpr", "0.05", "--fpr", "0.2"])
    assert res.exit_code == 0, res.output
    return out


def test_calibrate_cli_writes_the_weights_data_and_points(cal_file, tiny_weights):
    from laanet.inference.provenance import file_sha256

    d = json.loads(cal_file.read_text())
    assert d["weights"]["sha256"] == file_sha256(tiny_weights) and d["weights"]["name"] == "tiny.pt"
    assert d["weights"]["family"] == "laanet"
    assert (d["data"]["n_real"], d["data"]["n_fake"], d["data"]["images"]) == (3, 2, 5)
    assert d["method"] == "platt" and set(d["parameters"]) == {"slope", "intercept"}
    assert [p["name"] for p in d["operating_points"]] == ["fpr5", "fpr20", "eer"]
    assert d["bootstrap"]["resamples"] == 50 and d["bands"]["rate"] == 0.05 and d["laanet_version"]


def test_detect_with_calibration_on_the_samples(cal_file, tiny_weights, tmp_path):
    out = tmp_path / "out"
    args = ["detect", str(SAMPLES / "grace_hopper.jpg"), str(SAMPLES / "astronaut.jpg"), "--weights", str(tiny_weights),
            "--device", "cpu", "--out", str(out), "--no-save-heatmaps", "--calibration", str(cal_file),
            "--operating-point", "eer", "--format", "csv"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "results.json").read_text())
    validate(doc, "document")
    cal = Calibration.load(cal_file)
    eer = cal.point("eer")
    assert doc["provenance"]["calibration"]["sha256"] and doc["provenance"]["calibration"]["operating_point"] == "eer"
    assert doc["provenance"]["options"]["calibration"] == "cal.json"  # a file name, never its folder
    from laanet.inference.detector import Detector

    api = Detector(tiny_weights, device="cpu", calibration=cal_file, operating_point="eer")
    for r in doc["results"]:
        block = r["calibration"]
        assert block["calibrated"] and block["operating_point"]["name"] == "eer" and r["threshold"] == pytest.approx(eer.score)
        same = api(r["path"], keep_overlays=False)  # the API gives the same calibrated verdict
        assert block["probability"] == pytest.approx(float(cal.probability(same.logit)[0]), abs=1e-6)
        assert (r["label"], block["band"]) == (same.label, cal.bands.band(same.logit))
        assert block["band"] in ("likely fake", "uncertain", "likely real") and block["band"] in res.output
    # results.csv carries the file's and each face's calibrated probability and band
    import csv

    rows = list(csv.DictReader((out / "results.csv").open(encoding="utf-8")))
    by_path = {r["path"]: r for r in doc["results"]}
    assert rows and all(row["calibrated"] == "true" for row in rows)
    for row in rows:
        result = by_path[row["path"]]
        assert row["file_band"] == result["calibration"]["band"]
        assert float(row["file_probability"]) == pytest.approx(result["calibration"]["probability"])
        face = next(f for fr in result["frames"] for f in fr["faces"] if str(fr["index"]) == row["frame_index"])
        assert row["face_band"] == face["calibration"]["band"]
        assert float(row["face_probability"]) == pytest.approx(face["calibration"]["probability"])


def test_detector_api_with_calibration_and_refusal_of_other_weights(cal_file, tiny_weights, tmp_path):
    import torch

    from laanet.config import load_config
    from laanet.inference.detector import Detector
    from laanet.models.checkpoint import save_model
    from laanet.models.laanet import LAANet

    detector = Detector(tiny_weights, device="cpu", calibration=cal_file)
    result = detector(SAMPLES / "obama_portrait.jpg", keep_overlays=False)
    d = result.to_dict()
    validate(d, "result")
    assert d["calibration"]["calibrated"] and d["calibration"]["operating_point"]["name"] == "fpr5"  # the file's default
    assert d["provenance"]["calibration"]["file"] == "cal.json"
    info = detector.model_info  # what /health tells
    assert (info["calibration"], info["operating_point"]) == ("cal.json", "fpr5")
    assert info["decision_threshold"] == pytest.approx(d["threshold"]) and info["threshold"] == 0.5
    plain_detector = Detector(tiny_weights, device="cpu")
    assert (plain_detector.model_info["calibration"], plain_detector.model_info["decision_threshold"]) == (None, 0.5)
    plain = plain_detector(SAMPLES / "obama_portrait.jpg", keep_overlays=False).to_dict()
    validate(plain, "result")
    assert plain["calibration"]["calibrated"] is False and plain["provenance"]["calibration"] is None
    assert plain["score"] == d["score"] and plain["threshold"] == 0.5

    torch.manual_seed(4)
    other = save_model(LAANet(load_config("cpu-tiny").model), tmp_path / "other.pt")
    with pytest.raises(CalibrationError, match="other weights"):
        Detector(other, device="cpu", calibration=cal_file)
    res = CliRunner().invoke(app, ["detect", str(SAMPLES / "astronaut.jpg"), "--weights", str(other), "--device", "cpu",
                                   "--out", str(tmp_path / "o"), "--calibration", str(cal_file)])
    assert res.exit_code == 2 and "other weights" in res.output and not (tmp_path / "o").exists()
    res = CliRunner().invoke(app, ["serve", "--weights", str(other), "--calibration", str(cal_file), "--port", "0"])
    assert res.exit_code == 2 and "other weights" in res.output
    res = CliRunner().invoke(app, ["detect", str(SAMPLES / "astronaut.jpg"), "--weights", str(tiny_weights),
                                   "--out", str(tmp_path / "o"), "--calibration", str(cal_file), "--operating-point", "fpr1"])
    assert res.exit_code == 2 and "no operating point 'fpr1'" in res.output
    with pytest.raises(ValueError, match="needs a calibration"):
        Detector(tiny_weights, device="cpu", operating_point="fpr5")


def test_calibrate_refuses_one_class_data(tiny_weights, labelled, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(labelled / "real", data / "real")
    (data / "fake").mkdir()
    res = CliRunner().invoke(app, ["calibrate", "--weights", str(tiny_weights), "--data", str(data), "--out",
                                   str(tmp_path / "c.json"), "--device", "cpu"])
    assert res.exit_code == 1 and "no images or videos" in res.output


# ---------------------------------------------------------------------------------------------------------
# Eval's calibration metrics on a known case
# ---------------------------------------------------------------------------------------------------------


def test_ece_brier_and_tpr_at_fpr_on_a_known_case():
    # Bin [0.0667, 0.1333): 4 scores of 0.1, one fake; bin [0.8667, 0.9333): 6 of 0.9, five fakes.
    y = np.array([1, 0, 0, 0, 1, 1, 1, 1, 1, 0])
    p = np.array([0.1] * 4 + [0.9] * 6)
    assert expected_calibration_error(y, p) == pytest.approx(0.4 * abs(0.25 - 0.1) + 0.6 * abs(5 / 6 - 0.9))
    assert brier_score(y, p) == pytest.approx(np.mean((p - y) ** 2))
    bins = reliability_bins(y, p)
    assert bins["count"].sum() == 10 and bins["count"][1] == 4 and bins["count"][13] == 6
    assert expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0  # 1.0 falls in the last bin
    # 100 reals at 0.00, 0.01, ..., 0.99 and 5 fakes: FPR 0 % lets no real pass (threshold 0.995: one fake),
    # 1 % one real (0.99; threshold 0.985: two fakes), 5 % five reals (0.95..0.99; threshold 0.95: three fakes).
    yy = np.r_[np.zeros(100), np.ones(5)].astype(int)
    ss = np.r_[np.arange(100) / 100, [0.995, 0.985, 0.975, 0.5, 0.2]]
    assert threshold_at_fpr(yy, ss, 0.0) == (0.995, 0.0, 0.2)
    assert threshold_at_fpr(yy, ss, 0.01) == (0.985, 0.01, 0.4)
    assert threshold_at_fpr(yy, ss, 0.05) == (0.95, 0.05, 0.6)
    from laanet.evaluation.metrics import binary_metrics

    m = binary_metrics(yy, ss)
    assert m["tpr_at_fpr1"] == pytest.approx(0.4) and m["tpr_at_fpr5"] == pytest.approx(0.6)
    assert m["ece"] == pytest.approx(expected_calibration_error(yy, ss))
