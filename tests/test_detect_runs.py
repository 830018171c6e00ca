"""`laanet detect` runs that stop part-way or meet hostile input: nothing computed is lost, nothing crashes.

- Ctrl-C or SIGTERM (sent to a real subprocess) keeps every finished input in results.jsonl, exits 130 / 143 and
  says how to resume; ``--resume`` then scores only the rest.
- An input that makes the detector raise becomes an ``error`` result; the run goes on.
- The hostile corpus (tests/hostile_corpus.py) gets one line per input, the expected statuses, no traceback.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from laanet.cli import app
from laanet.config import load_config
from laanet.inference.outputs import read_results_log
from laanet.models.checkpoint import save_model
from laanet.models.laanet import LAANet

SRC = Path(__file__).resolve().parents[1] / "src"


def _copies(sample_arrays: dict, folder: Path, n: int) -> list[Path]:
    """``n`` small face photos (160 px wide, so each is quick to score)."""
    import cv2

    image = sample_arrays["grace_hopper.jpg"]
    small = cv2.resize(image, (160, 160 * image.shape[0] // image.shape[1]), interpolation=cv2.INTER_AREA)
    folder.mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"face_{i:03d}.jpg"), small[..., ::-1])
    return sorted(folder.iterdir())


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_a_stopped_run_keeps_results_and_resume_finishes(tiny_weights, sample_arrays, tmp_path, sig, code):
    inputs = _copies(sample_arrays, tmp_path / "in", 30)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "laanet", "detect", str(tmp_path / "in"), "--weights", str(tiny_weights),
           "--out", str(out), "--no-save-heatmaps", "--device", "cpu"]
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 240
    while len(read_results_log(out / "results.jsonl")) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, (stdout, stderr)
    assert "--resume" in stderr and "Traceback" not in stderr
    kept = read_results_log(out / "results.jsonl")
    assert 2 <= len(kept) < len(inputs), "the run should have been interrupted part-way"
    assert all(r["status"] == "ok" for r in kept)
    assert not (out / "results.json").exists()
    if sig != signal.SIGINT:
        return  # the resume below is the same for both signals

    res = CliRunner().invoke(app, ["detect", str(tmp_path / "in"), "--weights", str(tiny_weights), "--out", str(out),
                                   "--no-save-heatmaps"])
    assert res.exit_code == 2 and "--resume" in res.output  # a new run would have thrown the results away
    res = CliRunner().invoke(app, ["detect", str(tmp_path / "in"), "--weights", str(tiny_weights), "--out", str(out),
                                   "--no-save-heatmaps", "--resume"])
    assert res.exit_code == 0, res.output
    assert f"{len(kept)} input(s) already done" in res.output
    log = read_results_log(out / "results.jsonl")
    assert sorted(Path(r["path"]).name for r in log) == [p.name for p in inputs]  # every input exactly once
    assert [r["path"] for r in log[: len(kept)]] == [r["path"] for r in kept]  # earlier lines untouched
    payload = json.loads((out / "results.json").read_text())
    assert [Path(r["path"]).name for r in payload["results"]] == [p.name for p in inputs]


def test_an_input_that_raises_does_not_stop_the_run(tiny_weights, sample_arrays, tmp_path, monkeypatch):
    from laanet.inference.detector import Detector

    inputs = _copies(sample_arrays, tmp_path / "in", 5)
    inputs[2].rename(inputs[2].with_name("face_boom.jpg"))
    real = Detector.detect_many

    def flaky(self, paths, **kwargs):
        for result in real(self, paths, **kwargs):
            if "boom" in Path(result.path).name:
                raise RuntimeError("boom inside the model")
            yield result

    monkeypatch.setattr(Detector, "detect_many", flaky)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["detect", str(tmp_path / "in"), "--weights", str(tiny_weights), "--out", str(out)])
    assert res.exit_code == 1, res.output  # one input could not be scored; the others are
    assert "Traceback" not in res.output
    results = {Path(r["path"]).name: r for r in json.loads((out / "results.json").read_text())["results"]}
    assert len(results) == 5
    assert results["face_boom.jpg"]["status"] == "error" and "boom inside the model" in results["face_boom.jpg"]["error"]
    assert sum(r["status"] == "ok" for r in results.values()) == 4


def test_hostile_corpus_through_the_cli(tiny_weights, tmp_path):
    from hostile_corpus import EXPECTED_STATUS, make_hostile_corpus

    files = make_hostile_corpus(tmp_path / "hostile")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["detect", str(tmp_path / "hostile"), "--weights", str(tiny_weights), "--out",
                                   str(out), "--frames", "2"])
    assert res.exit_code in (0, 1), res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output
    lines = read_results_log(out / "results.jsonl")
    by_name = {Path(r["path"]).name: r for r in lines}
    assert len(lines) == len(files) and set(by_name) == set(files)  # one line per input
    wrong = {n: by_name[n]["status"] for n in files if by_name[n]["status"] not in EXPECTED_STATUS[n]}
    assert not wrong, wrong
    assert all(r["error"] for r in lines if r["status"] == "error")  # every error says why
    json.loads((out / "results.json").read_text())  # strict JSON


def test_resume_with_other_weights_is_refused(tiny_weights, sample_arrays, tmp_path):
    torch.manual_seed(6)
    other = tmp_path / "other.pt"
    save_model(LAANet(load_config("cpu-tiny").model), other)
    _copies(sample_arrays, tmp_path / "in", 2)
    out = tmp_path / "out"
    args = ["detect", str(tmp_path / "in"), "--out", str(out), "--no-save-heatmaps"]
    assert CliRunner().invoke(app, [*args, "--weights", str(tiny_weights)]).exit_code == 0
    (out / "results.json").unlink()  # as if the run had stopped part-way
    res = CliRunner().invoke(app, [*args, "--weights", str(other), "--resume"])
    assert res.exit_code == 2 and "weights_sha256" in res.output and "another --out" in res.output
    assert len(read_results_log(out / "results.jsonl")) == 2  # untouched
    res = CliRunner().invoke(app, [*args, "--weights", str(tiny_weights), "--resume"])
    assert res.exit_code == 0 and "2 input(s) already done" in res.output
