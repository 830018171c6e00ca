"""laanet.evaluation.metrics against scikit-learn, and the paper's AR / mF1 / video-level definitions."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from laanet.evaluation.metrics import (
    average_precision,
    binary_metrics,
    equal_error_rate,
    frame_and_video_metrics,
    roc_auc,
    roc_curve,
    sigmoid,
    video_level,
)


def _cases(n_cases: int = 60):
    rng = np.random.default_rng(7)
    for _ in range(n_cases):
        n = int(rng.integers(2, 80))
        y = rng.integers(0, 2, n)
        y[0], y[1] = 0, 1  # both classes
        s = np.round(rng.random(n), int(rng.integers(1, 4)))  # coarse rounding makes ties
        yield y, s


def test_auc_ap_roc_match_sklearn():
    for y, s in _cases():
        assert roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
        assert average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
        fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
        ours = roc_curve(y, s)
        np.testing.assert_allclose(ours[0], fpr)
        np.testing.assert_allclose(ours[1], tpr)


def test_ar_f1_acc_match_sklearn():
    for y, s in _cases():
        m = binary_metrics(y, s)
        pred = (s >= 0.5).astype(int)
        assert m["ar"] == pytest.approx(skm.recall_score(y, pred, average="macro"))
        assert m["f1"] == pytest.approx(skm.f1_score(y, pred, zero_division=0))
        assert m["acc"] == pytest.approx(skm.accuracy_score(y, pred))
        assert m["mf1"] == pytest.approx(2 * m["ap"] * m["ar"] / (m["ap"] + m["ar"]))
        assert (m["n"], m["n_real"], m["n_fake"]) == (y.size, int((y == 0).sum()), int(y.sum()))


def test_eer_is_where_fpr_equals_fnr():
    from scipy.interpolate import interp1d
    from scipy.optimize import brentq

    for y, s in _cases():
        fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
        # the usual recipe: the root of 1 - TPR(x) - x on the piecewise-linear ROC curve
        reference = brentq(lambda x: 1.0 - float(interp1d(fpr, tpr)(x)) - x, 0.0, 1.0)
        assert equal_error_rate(y, s) == pytest.approx(reference, abs=1e-6)
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert equal_error_rate([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert equal_error_rate([0, 1], [0.5, 0.5]) == pytest.approx(0.5)


def test_single_class_gives_none_not_crash():
    m = binary_metrics([1, 1, 1], [0.2, 0.7, 0.9])
    assert m["auc"] is None and m["ap"] is None and m["eer"] is None and m["mf1"] is None
    assert m["acc"] == pytest.approx(2 / 3) and m["ar"] == pytest.approx(2 / 3)


def test_bad_input_raises_valueerror():
    with pytest.raises(ValueError, match="differ in length"):
        binary_metrics([0, 1], [0.5])
    with pytest.raises(ValueError, match="NaN"):
        binary_metrics([0, 1], [0.5, float("nan")])
    with pytest.raises(ValueError, match="0 \\(real\\) or 1"):
        binary_metrics([0, 2], [0.5, 0.5])
    with pytest.raises(ValueError, match="no samples"):
        binary_metrics([], [])


def test_video_level_is_sigmoid_of_mean_logit():
    ids = ["a", "a", "b", "b", "c"]
    labels = [0, 0, 1, 1, 1]
    logits = [-4.0, 2.0, 3.0, 5.0, -0.5]
    vids, vlab, vlog = video_level(ids, labels, logits)
    assert vids == ["a", "b", "c"]
    np.testing.assert_array_equal(vlab, [0, 1, 1])
    np.testing.assert_allclose(vlog, [-1.0, 4.0, -0.5])
    out = frame_and_video_metrics(ids, labels, logits)
    assert out["video"]["n"] == 3 and out["frame"]["n"] == 5
    assert out["video"]["acc"] == pytest.approx(2 / 3)
    # the mean of logits, not of probabilities: these frames average to p > 0.5 but to a negative logit
    frames = np.array([-10.0, 1.0, 1.0, 1.0])
    assert sigmoid(frames).mean() > 0.5
    out = frame_and_video_metrics(["v"] * 4, [1] * 4, frames)
    assert out["video"]["acc"] == 0.0 and out["frame"]["acc"] == 0.75


def test_video_label_conflict_raises():
    with pytest.raises(ValueError, match="both real and fake"):
        video_level(["x", "x"], [0, 1], [0.0, 1.0])


def test_sigmoid_is_stable():
    z = np.array([-1000.0, 0.0, 1000.0])
    np.testing.assert_allclose(sigmoid(z), [0.0, 0.5, 1.0])


def test_roc_plot_legend_gives_each_curves_auc(tmp_path):
    from laanet.evaluation.evaluate import Predictions
    from laanet.evaluation.report import plot_roc, roc_figure

    # Two datasets: "cdf2" separates perfectly at video level (AUC 100), "dfd" is partly inverted (AUC 25).
    videos = ["a", "a", "b", "b", "c", "d", "e", "f"]
    label = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    logit = np.array([-2.0, -1.0, 1.0, 3.0, 2.0, -1.0, 1.0, -3.0])
    dataset = ["cdf2"] * 4 + ["dfd"] * 4
    preds = Predictions(videos, np.zeros(8, int), label, logit, dataset, ["m"] * 8)
    fig = roc_figure(preds, "test")
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts == [
        "cdf2 video: AUC 100.00 % (2 videos)", "cdf2 frame: AUC 100.00 % (4 frames)",
        "dfd video: AUC 25.00 % (4 videos)", "dfd frame: AUC 25.00 % (4 frames)",
    ]
    assert plot_roc(tmp_path / "roc.png", preds).stat().st_size > 1000
    one_class = Predictions(["a"], np.zeros(1, int), np.array([1]), np.array([0.5]), ["x"], ["m"])
    assert roc_figure(one_class) is None and plot_roc(tmp_path / "none.png", one_class) is None
