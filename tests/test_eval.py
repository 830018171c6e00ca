"""``laanet eval``: folder prepare + eval end to end with a tiny model, flip test, perturbations, sweep, tables."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from laanet.cli import app
from laanet.data.index import IndexRecord, write_index
from laanet.data.synthetic import make_dataset
from laanet.evaluation.evaluate import EvalOptions, compute_metrics, load_items, predict
from laanet.inference.preprocess import crop_to_input
from laanet.evaluation.report import paper_table
from laanet.models.checkpoint import load_model

METRIC_KEYS = {"auc", "ap", "ar", "mf1", "f1", "eer", "acc", "n", "n_real", "n_fake", "tpr_at_fpr1", "tpr_at_fpr5", "ece", "brier"}


@pytest.fixture(scope="module")
def prep(tmp_path_factory) -> Path:
    """A `folder` dataset prepared with the CLI (2 frames per clip)."""
    base = tmp_path_factory.mktemp("e2e")
    root = make_dataset("folder", base / "faces", frames=3, size=160)
    res = CliRunner().invoke(app, ["prepare", "folder", "--root", str(root), "--out", str(base / "prep"),
                                   "--frames", "2", "--no-progress"])
    assert res.exit_code == 0, res.output
    return base / "prep"


def test_folder_prepare_then_eval_end_to_end(prep, tiny_weights, tmp_path):
    """Also: eval's defaults are the paper's test protocol, as laanet detect's (32 frames per video, flip test)."""
    out = tmp_path / "E"
    res = CliRunner().invoke(app, ["eval", "--weights", str(tiny_weights), "--data", str(prep), "--out", str(out),
                                   "--perturb", "blur:2", "--batch-size", "4", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "video level (4 videos)" in res.output
    with (out / "predictions.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:4] == ["video_id", "frame", "label", "score"]
    assert len(rows) == 6 and {r["label"] for r in rows} == {"0", "1"}
    for r in rows:
        assert float(r["score"]) == pytest.approx(1 / (1 + np.exp(-float(r["logit"]))), abs=1e-5)
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["frame"]) == METRIC_KEYS and set(metrics["video"]) == METRIC_KEYS
    assert metrics["frame"]["n"] == 6 and metrics["video"]["n"] == 4
    assert metrics["protocol"]["flip_test"] is True and metrics["protocol"]["perturbations"] == ["blur:2"]
    assert metrics["protocol"]["frames_per_video"] == 32
    assert metrics["protocol"]["input_size"] == 128
    assert (out / "roc.png").stat().st_size > 1000
    assert "| Model |" in (out / "table.md").read_text()
    # Calibration outputs: ECE/Brier of the frame scores as in predictions.csv, the table and the diagram.
    from laanet.evaluation.metrics import brier_score, expected_calibration_error

    labels, scores = [int(r["label"]) for r in rows], [float(r["score"]) for r in rows]
    assert metrics["frame"]["ece"] == pytest.approx(expected_calibration_error(labels, scores), abs=1e-5)
    assert metrics["frame"]["brier"] == pytest.approx(brier_score(labels, scores), abs=1e-5)
    assert "TPR @ FPR 1 %" in (out / "calibration.md").read_text() and "ECE" in res.output
    assert (out / "reliability.png").stat().st_size > 1000


def test_flip_test_is_mean_of_logits_and_frames_selection(prep, tiny_weights):
    model = load_model(tiny_weights)
    items = load_items([prep], frames=1)
    assert len(items) == 4  # one crop per video
    plain = predict(model, items, EvalOptions(batch_size=3, flip_test=False), progress=False)
    flipped = predict(model, items, EvalOptions(batch_size=3, flip_test=True), progress=False)
    import cv2

    x = torch.stack([torch.from_numpy(crop_to_input(cv2.imread(str(i.file))[..., ::-1].copy(), 128).copy()) for i in items])
    with torch.inference_mode():
        manual = (model(x).cls[:, 0] + model(torch.flip(x, dims=[3])).cls[:, 0]) / 2
    np.testing.assert_allclose(flipped.logit, manual.double().numpy(), atol=1e-5)
    assert not np.allclose(plain.logit, flipped.logit)


def test_video_ids_and_per_method_metrics(tmp_path):
    """Records with the same pair name under two methods stay two videos; per-method metrics pair fakes with all reals."""
    import cv2

    recs = []
    for vid, label, method in (("ffpp/original/953", 0, "original"), ("ffpp/original/974", 0, "original"),
                               ("ffpp/Deepfakes/953_974", 1, "Deepfakes"), ("ffpp/Face2Face/953_974", 1, "Face2Face")):
        for f in range(2):
            rel = f"crops/{vid}/{f:06d}.png"
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(tmp_path / rel), np.full((32, 32, 3), 40 * f, np.uint8))
            recs.append(IndexRecord("ffpp", "test", label, method, vid, f, rel))
    write_index(tmp_path, recs)
    items = load_items([tmp_path])
    from laanet.evaluation.evaluate import Predictions

    preds = Predictions([i.record.video_id for i in items], np.array([i.record.frame for i in items]),
                        np.array([i.record.label for i in items]), np.array([-2.0, -1.0, -1.0, 0.0, 1.0, 3.0, 0.5, 0.5]),
                        [i.record.dataset for i in items], [i.record.method for i in items])
    m = compute_metrics(preds)
    assert m["video"]["n"] == 4 and m["video"]["n_fake"] == 2  # not merged into one "000_003" video
    assert set(m["datasets"]["ffpp"]["methods"]) == {"Deepfakes", "Face2Face"}
    assert m["datasets"]["ffpp"]["methods"]["Deepfakes"]["video"]["n"] == 3
    assert m["video"]["auc"] == 1.0


def test_sweep_outputs_and_compare_table(prep, tiny_weights, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["eval", "-w", str(tiny_weights), "-d", str(prep), "-o", str(tmp_path / "A"), "--frames", "1",
                              "--sweep", "--sweep-types", "noise,compression", "--sweep-levels", "1,5", "--name", "tiny A",
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    sweep = json.loads((tmp_path / "A/sweep.json").read_text())["results"]
    assert [(r["perturbation"], r["level"]) for r in sweep] == [("none", 0)] + [
        (p, lv) for p in ("noise", "compression") for lv in (1, 5)]
    assert "| noise |" in (tmp_path / "A/sweep.md").read_text()
    assert (tmp_path / "A/sweep.png").stat().st_size > 1000
    with (tmp_path / "A/sweep.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 5 * 2 * 2  # (clean + 4) × (all, folder) × (frame, video)
    res = runner.invoke(app, ["eval", "-w", str(tiny_weights), "-d", str(prep), "-o", str(tmp_path / "B"), "--frames", "1",
                              "--compare", str(tmp_path / "A"), "--name", "tiny B", "--no-progress"])
    assert res.exit_code == 0, res.output
    table = (tmp_path / "B/table.md").read_text()
    assert "| tiny B |" in table and "| tiny A |" in table and "LAA-Net w/ SBI (paper)" in table


def test_paper_table_layout():
    entry = {"video": {"auc": 0.9, "ap": 0.8, "ar": 0.7, "mf1": 0.75}}
    table = paper_table([("ours", {"datasets": {"dfdcp": entry, "cdf2": entry, "ffpp": entry}})])
    header = table.splitlines()[0]
    assert header.index("FF++ AUC") < header.index("CDF2 AUC") < header.index("DFDC-P AUC")
    assert "FF++ AP" not in header  # FF++ shows AUC only, as in the paper
    assert "| ours | 90.00 | 90.00 | 80.00 | 70.00 | 75.00 |" in table
    assert "| LAA-Net w/ SBI (paper) | 99.96 | 95.40 | 97.64 | – | – | 86.94 | 97.70 | – | – |" in table


def test_cli_eval_errors(prep, tiny_weights, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["eval", "-w", str(tiny_weights), "-d", str(tmp_path / "none"), "-o", str(tmp_path / "E")])
    assert res.exit_code == 1 and "no prepared index" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["eval", "-w", str(tmp_path / "missing.pt"), "-d", str(prep), "-o", str(tmp_path / "E")])
    assert res.exit_code == 2 and "weights file not found" in res.output
    (tmp_path / "junk.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    res = runner.invoke(app, ["eval", "-w", str(tmp_path / "junk.pt"), "-d", str(prep), "-o", str(tmp_path / "E")])
    assert res.exit_code == 2 and "Expected a laanet checkpoint" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["eval", "-w", str(tiny_weights), "-d", str(prep), "-o", str(tmp_path / "E"), "--device", "tpu"])
    assert res.exit_code == 2
    (tmp_path / "a_file").write_text("")
    res = runner.invoke(app, ["eval", "-w", str(tiny_weights), "-d", str(prep), "-o", str(tmp_path / "a_file" / "E")])
    assert res.exit_code == 2 and "cannot write" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["eval", "-w", str(tiny_weights), "-d", str(prep), "-o", str(tmp_path / "E"), "--perturb", "blur:9"])
    assert res.exit_code == 2 and "1-5" in res.output
    res = runner.invoke(app, ["eval", "-w", str(tiny_weights), "-d", str(prep), "-o", str(tmp_path / "E"), "--sweep-levels", "2"])
    assert res.exit_code == 2 and "need --sweep" in res.output
    res = runner.invoke(app, ["eval", "-w", str(tiny_weights), "-d", str(prep), "-o", str(tmp_path / "E"), "--split", "dev"])
    assert res.exit_code == 2
    import shutil

    shutil.copytree(prep, tmp_path / "copy")  # the same videos twice (like FF++ c0 and c23) must not merge
    res = runner.invoke(app, ["eval", "-w", str(tiny_weights), "-d", str(prep), "-d", str(tmp_path / "copy"), "-o", str(tmp_path / "E")])
    assert res.exit_code == 1 and "evaluate them separately" in res.output


def test_calibrate_on_a_prepared_folder_then_eval_with_it(prep, tiny_weights, tmp_path):
    """``laanet calibrate`` on an index scores videos as eval does; ``eval --calibration`` reports ECE after it."""
    from laanet.calibration import Calibration

    cal_path = tmp_path / "cal.json"
    res = CliRunner().invoke(app, ["calibrate", "--weights", str(tiny_weights), "--data", str(prep), "--out", str(cal_path),
                                   "--device", "cpu", "--bootstrap", "20"])
    assert res.exit_code == 0, res.output
    cal = Calibration.load(cal_path)
    assert cal.data.kind == "index" and (cal.data.n_real, cal.data.n_fake) == (2, 2)
    out = tmp_path / "E"
    res = CliRunner().invoke(app, ["eval", "--weights", str(tiny_weights), "--data", str(prep), "--out", str(out),
                                   "--calibration", str(cal_path), "--no-progress"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    # calibrate scored the same videos as eval, the same way: the same logits, so the same calibrated ECE/Brier
    assert metrics["calibrated"]["video"]["ece"] == pytest.approx(cal.fit_metrics["after"]["ece"], abs=1e-9)
    assert metrics["calibrated"]["video"]["brier"] == pytest.approx(cal.fit_metrics["after"]["brier"], abs=1e-9)
    assert metrics["video"]["ece"] == pytest.approx(cal.fit_metrics["before"]["ece"], abs=1e-9)
    assert metrics["calibrated"]["method"] == "platt" and "After calibration" in (out / "calibration.md").read_text()
    assert (out / "reliability_calibrated.png").stat().st_size > 1000

    torch.manual_seed(5)
    from laanet.config import load_config
    from laanet.models.checkpoint import save_model
    from laanet.models.laanet import LAANet

    other = save_model(LAANet(load_config("cpu-tiny").model), tmp_path / "other.pt")
    res = CliRunner().invoke(app, ["eval", "--weights", str(other), "--data", str(prep), "--out", str(tmp_path / "F"),
                                   "--calibration", str(cal_path), "--no-progress"])
    assert res.exit_code == 2 and "other weights" in res.output
