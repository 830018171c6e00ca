"""Runs of `laanet detect` that stop part-way lose nothing: results.jsonl, resume, write errors, strict JSON.

The library pieces (laanet.inference.outputs, laanet.inference.folder_run) run here with a fake detector, so the
tests are fast and exact; tests/test_detect.py runs the real command.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from laanet.inference.folder_run import DetectionStopped, ResumeError, detect_to_folder
from laanet.inference.outputs import OutputError, ResultsLog, dumps, read_results_log, write_csv, write_json
from laanet.inference.results import FaceResult, FileResult, FrameResult

needs_non_root = pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions")


class FakeDetector:
    """Scores file ``i_<n>.jpg`` with logit n/10; raises on names in ``bad`` (alone or in a batch)."""

    batch_size = 4

    def __init__(self, bad=(), stop_after=None, threshold=0.5):
        self.bad, self.stop_after, self.calls, self.scored = set(bad), stop_after, [], []
        self.model_info = {"weights": "fake.pt", "weights_sha256": "ab" * 32, "flip_test": True, "threshold": threshold}

    def detect_many(self, paths, *, heatmap_dir=None, on_frames=None):
        paths = [Path(p) for p in paths]
        self.calls.append([p.name for p in paths])
        for start in range(0, len(paths), self.batch_size):
            batch = paths[start : start + self.batch_size]
            if any(p.name in self.bad for p in batch):  # a batch holding a bad input fails as a whole
                raise RuntimeError("boom")
            for p in batch:
                if self.stop_after is not None and len(self.scored) >= self.stop_after:
                    raise KeyboardInterrupt
                self.scored.append(p.name)
                n = int(p.stem.split("_")[1])
                face = FaceResult([0.0, 0.0, 1.0, 1.0], n / 10, 0.9)
                yield FileResult(path=str(p), kind="image", frames=[FrameResult(0, None, [face])]).finalize()


def _inputs(tmp_path: Path, n: int) -> list[Path]:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(n):
        (folder / f"i_{i}.jpg").write_bytes(b"x")
        paths.append(folder / f"i_{i}.jpg")
    return paths


def test_json_never_holds_nan(tmp_path):
    payload = {"score": float("nan"), "frames": [{"score": float("inf"), "logit": -float("inf")}], "ok": 0.5}
    text = dumps(payload)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"score": None, "frames": [{"score": None, "logit": None}], "ok": 0.5}
    write_json(tmp_path / "r.json", payload)
    assert json.loads((tmp_path / "r.json").read_text())["score"] is None
    face = FaceResult([0.0, 0.0, 1.0, 1.0], float("nan"), 0.9)
    result = FileResult(path="x.jpg", kind="image", frames=[FrameResult(0, None, [face])])
    assert "NaN" not in dumps(result.to_dict())


def test_results_log_appends_flushes_and_survives_a_cut_line(tmp_path):
    path = tmp_path / "results.jsonl"
    log = ResultsLog(path)
    log.write({"path": "a", "score": 0.25})
    assert read_results_log(path) == [{"path": "a", "score": 0.25}]  # flushed before close
    log.close()
    with open(path, "a") as fh:
        fh.write('{"path": "b", "sco')  # a kill in the middle of a line
    assert [r["path"] for r in read_results_log(path)] == ["a"]
    with ResultsLog(path, append=True) as log:
        log.write({"path": "c"})
    assert [r["path"] for r in read_results_log(path)] == ["a", "c"]
    assert path.read_text().count("\n") == 2
    with ResultsLog(path) as log:  # a fresh log empties the file
        pass
    assert read_results_log(path) == []


def test_run_writes_every_result_in_order(tmp_path):
    paths = _inputs(tmp_path, 6)
    seen = []
    run = detect_to_folder(FakeDetector(), paths, tmp_path / "out", save_heatmaps=False, csv=True, on_result=seen.append)
    assert run.scored == 6 and run.skipped == 0 and run.errors == 0
    payload = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [Path(r["path"]).name for r in payload["results"]] == [p.name for p in paths]
    assert math.isclose(payload["results"][3]["score"], 1 / (1 + math.exp(-0.3)), rel_tol=1e-5)
    assert payload["model"]["weights"] == "fake.pt"
    assert len(read_results_log(tmp_path / "out" / "results.jsonl")) == 6 and len(seen) == 6
    assert (tmp_path / "out" / "results.csv").read_text().count("\n") == 7


def test_interrupt_keeps_results_and_resume_finishes(tmp_path):
    paths = _inputs(tmp_path, 10)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        detect_to_folder(FakeDetector(stop_after=4), paths, out, save_heatmaps=False)
    kept = read_results_log(out / "results.jsonl")
    assert [Path(r["path"]).name for r in kept] == [f"i_{i}.jpg" for i in range(4)]
    assert not (out / "results.json").exists()
    with pytest.raises(ResumeError, match="--resume"):  # forgetting --resume must not wipe the 4 results
        detect_to_folder(FakeDetector(), paths, out, save_heatmaps=False)
    assert len(read_results_log(out / "results.jsonl")) == 4
    detector = FakeDetector()
    run = detect_to_folder(detector, paths, out, resume=True, save_heatmaps=False)
    assert run.skipped == 4 and run.scored == 6
    assert detector.scored == [f"i_{i}.jpg" for i in range(4, 10)]  # nothing scored twice
    log = read_results_log(out / "results.jsonl")
    assert sorted(Path(r["path"]).name for r in log) == sorted(p.name for p in paths)
    payload = json.loads((out / "results.json").read_text())
    assert [Path(r["path"]).name for r in payload["results"]] == [p.name for p in paths]
    again = detect_to_folder(FakeDetector(), paths, out, resume=True, save_heatmaps=False)  # nothing left to do
    assert again.scored == 0 and again.skipped == 10
    fresh = detect_to_folder(FakeDetector(), paths[:3], out, save_heatmaps=False)  # a finished run may be replaced
    assert fresh.scored == 3 and len(read_results_log(out / "results.jsonl")) == 3


def test_resume_refuses_other_options(tmp_path):
    paths = _inputs(tmp_path, 4)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        detect_to_folder(FakeDetector(stop_after=2), paths, out, save_heatmaps=False)
    with pytest.raises(ResumeError, match="threshold 0.5 -> 0.7"):
        detect_to_folder(FakeDetector(threshold=0.7), paths, out, resume=True, save_heatmaps=False)


def test_an_input_that_raises_becomes_an_error_result(tmp_path):
    paths = _inputs(tmp_path, 9)
    detector = FakeDetector(bad={"i_5.jpg"})
    run = detect_to_folder(detector, paths, tmp_path / "out", save_heatmaps=False)
    by_name = {Path(r["path"]).name: r for r in run.results}
    assert len(by_name) == 9 and run.errors == 1
    assert by_name["i_5.jpg"]["status"] == "error" and "boom" in by_name["i_5.jpg"]["error"]
    assert all(r["status"] == "ok" for n, r in by_name.items() if n != "i_5.jpg")
    assert sorted(detector.scored) == sorted(n for n in by_name if n != "i_5.jpg")
    assert len(detector.scored) == 8  # each good input scored once


def test_a_broken_detector_stops_the_run(tmp_path):
    paths = _inputs(tmp_path, 30)
    with pytest.raises(DetectionStopped, match="boom"):
        detect_to_folder(FakeDetector(bad={p.name for p in paths}), paths, tmp_path / "out", save_heatmaps=False)
    assert len(read_results_log(tmp_path / "out" / "results.jsonl")) >= 1  # what was recorded stays


def test_unwritable_outputs_are_output_errors(tmp_path):
    paths = _inputs(tmp_path, 2)
    (tmp_path / "a_file").write_text("")
    with pytest.raises(OutputError, match="cannot write"):  # --out below a file
        detect_to_folder(FakeDetector(), paths, tmp_path / "a_file" / "out", save_heatmaps=False)
    out = tmp_path / "out"
    out.mkdir()
    (out / "heatmaps").write_text("")  # heatmaps/ cannot be made
    with pytest.raises(OutputError, match="heatmaps"):
        detect_to_folder(FakeDetector(), paths, out)

    def block_results_json(result):  # results.json becomes unwritable during the run
        (out / "results.json").mkdir(exist_ok=True)
        (out / "results.json" / "x").write_text("")

    with pytest.raises(OutputError, match="results.json"):
        detect_to_folder(FakeDetector(), paths, out, save_heatmaps=False, on_result=block_results_json)
    assert len(read_results_log(out / "results.jsonl")) == 2  # the results are in results.jsonl
    with pytest.raises(OutputError, match="results.json"):  # found before scoring anything
        detect_to_folder(FakeDetector(), paths, out, resume=True, save_heatmaps=False)
    with pytest.raises(OutputError):
        write_csv(tmp_path / "missing" / "r.csv", [])


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_an_output_error():
    log = ResultsLog("/dev/full", append=True)
    with pytest.raises(OutputError, match="/dev/full"):
        log.write({"path": "a"})


@needs_non_root
def test_read_only_folders_are_output_errors(tmp_path):
    paths = _inputs(tmp_path, 2)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="cannot write"):
            detect_to_folder(FakeDetector(), paths, locked / "out", save_heatmaps=False)
        with pytest.raises(OutputError, match="cannot write"):
            detect_to_folder(FakeDetector(), paths, locked, save_heatmaps=False)
    finally:
        locked.chmod(0o755)
