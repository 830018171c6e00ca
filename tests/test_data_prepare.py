"""``laanet prepare``: crops + index from synthetic datasets, resume, failure summary, parallel workers, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from laanet.cli import app
from laanet.data.index import read_index
from laanet.data.layouts import list_sources
from laanet.data.prepare import LOG_NAME, PrepareOptions, prepare_sources
from laanet.data.synthetic import make_dataset

OPTS = PrepareOptions(frames=2, crop_size=128, progress=False)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("datasets")
    return {name: make_dataset(name, base / name, frames=3, size=160) for name in ("folder", "ffpp", "dfw")}


def test_folder_prepare_stores_crops_and_index(datasets, tmp_path):
    prep = tmp_path / "prep"
    summary = prepare_sources(list_sources("folder", datasets["folder"]), prep, OPTS)
    assert (summary.ok, summary.no_face, summary.failed) == (4, 0, 0)
    records = read_index(prep)
    assert summary.crops == len(records) == 2 + 1 + 2 + 1  # 2 frames per clip, 1 per still
    import cv2

    for r in records:
        crop = cv2.imread(str(prep / r.path))
        assert crop.shape == (128, 128, 3)
        lms = np.asarray(r.landmarks)
        assert lms.shape == (68, 2) and (lms > 0).all() and (lms < 128).all()
        assert r.box[2] > r.box[0] and r.box[3] > r.box[1]
        assert r.split == "test" and r.dataset == "folder" and r.source
        assert r.landmarks81 is None or np.asarray(r.landmarks81).shape == (81, 2)  # MediaPipe adds the forehead
    assert {r.frame for r in records if r.video_id.endswith("clip_a.mp4")} == {0, 2}  # first and last: evenly spaced


def test_resume_skips_finished_and_drops_partial(datasets, tmp_path):
    prep = tmp_path / "prep"
    items = list_sources("folder", datasets["folder"])
    prepare_sources(items, prep, OPTS)
    first = read_index(prep)
    again = prepare_sources(items, prep, OPTS)
    assert (again.skipped, again.ok, again.crops) == (4, 0, 0)
    assert read_index(prep) == first
    # a run killed after writing a source's records but before its log line: that source is redone once
    log = (prep / LOG_NAME).read_text().splitlines()
    (prep / LOG_NAME).write_text("\n".join(log[:-1]) + "\n")
    redo = prepare_sources(items, prep, OPTS)
    assert (redo.skipped, redo.ok) == (3, 1)
    after = read_index(prep)
    assert len(after) == len(first) and sorted(r.path for r in after) == sorted(r.path for r in first)
    with pytest.raises(ValueError, match="crop_size 128 -> 64"):
        prepare_sources(items, prep, PrepareOptions(frames=2, crop_size=64, progress=False))


def test_failures_are_summarised_not_raised(tmp_path):
    root = tmp_path / "bad"
    (root / "real").mkdir(parents=True)
    (root / "real/broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    (root / "real/empty.mp4").write_bytes(b"")
    import cv2

    cv2.imwrite(str(root / "real/noise.png"), np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8))
    (root / "fake").mkdir()
    summary = prepare_sources(list_sources("folder", root), tmp_path / "prep", OPTS)
    assert (summary.ok, summary.no_face, summary.failed) == (0, 1, 2)
    text = "\n".join(summary.lines())
    assert "noise.png" in text and "broken.mp4" in text and "empty.mp4" in text
    log = [json.loads(line) for line in (tmp_path / "prep" / LOG_NAME).read_text().splitlines()]
    assert sorted(e["status"] for e in log) == ["failed", "failed", "no_face"]
    # failed sources are retried on the next run, no-face ones are not
    rerun = prepare_sources(list_sources("folder", root), tmp_path / "prep", OPTS)
    assert (rerun.skipped, rerun.failed) == (1, 2)


def test_ffpp_ids_do_not_collide_and_precropped(datasets, tmp_path):
    prep = tmp_path / "prep"
    dlib = PrepareOptions(frames=2, crop_size=128, detector="dlib", progress=False)
    prepare_sources(list_sources("ffpp", datasets["ffpp"], split="test"), prep, dlib, compression="c0")
    assert all(len(r.landmarks) == 68 and r.landmarks81 is None for r in read_index(prep))  # dlib: no forehead
    ids = {r.video_id for r in read_index(prep)}
    assert {"ffpp/Deepfakes/953_974", "ffpp/Face2Face/953_974"} <= ids
    assert len(ids) == 6
    # pre-cropped DFW frames are stored resized, without detection, into the same prepared folder
    prepare_sources(list_sources("dfw", datasets["dfw"], split="test"), prep, OPTS)
    dfw = [r for r in read_index(prep) if r.dataset == "dfw"]
    assert len(dfw) == 4 * 2 and all(r.landmarks == [] and r.box == [0.0, 0.0, 160.0, 160.0] for r in dfw)
    assert json.loads((prep / "prepare.json").read_text())["ffpp"]["compression"] == "c0"


def test_parallel_workers_match_serial(datasets, tmp_path):
    items = list_sources("folder", datasets["folder"])
    prepare_sources(items, tmp_path / "serial", OPTS)
    parallel = PrepareOptions(frames=2, crop_size=128, workers=2, progress=False)
    summary = prepare_sources(items, tmp_path / "parallel", parallel)
    assert summary.ok == 4
    key = lambda r: (r.video_id, r.frame)  # noqa: E731
    serial = sorted(read_index(tmp_path / "serial"), key=key)
    par = sorted(read_index(tmp_path / "parallel"), key=key)
    assert [(r.video_id, r.frame, r.landmarks) for r in serial] == [(r.video_id, r.frame, r.landmarks) for r in par]


def test_cli_prepare(datasets, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["prepare", "folder", "--root", str(datasets["folder"]), "--out", str(tmp_path / "p"),
                              "--frames", "1", "--crop-size", "96", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "4 prepared" in res.output and len(read_index(tmp_path / "p")) == 4
    res = runner.invoke(app, ["prepare", "cdf2", "--root", str(tmp_path / "missing"), "--out", str(tmp_path / "q")])
    assert res.exit_code == 1 and "error: dataset root not found" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["prepare", "folder", "--root", str(datasets["folder"]), "--out", str(tmp_path / "q"),
                              "--face-backend", "retinaface"])
    assert res.exit_code == 1 and "unknown face detector" in res.output
    res = runner.invoke(app, ["prepare", "folder", "--root", str(datasets["folder"]), "--out", str(tmp_path / "q"),
                              "--detector", "retinaface"])  # the old name still works, with a warning
    assert res.exit_code == 1 and "unknown face detector" in res.output and "deprecated" in res.output
    res = runner.invoke(app, ["prepare", "ffhq", "--root", str(tmp_path), "--out", str(tmp_path / "q")])
    assert res.exit_code == 2
    res = runner.invoke(app, ["prepare", "folder", "--root", str(tmp_path), "--out", str(tmp_path / "q"), "--methods", "original"])
    assert res.exit_code == 2 and "ffpp only" in res.output


def test_frames_per_split_default_to_the_official_counts(datasets, tmp_path):
    assert [PrepareOptions().frames_for(s) for s in ("train", "val", "test")] == [128, 32, 32]
    assert PrepareOptions(frames=5).frames_for("train") == 5
    with pytest.raises(ValueError, match="at least 1"):
        PrepareOptions(frames_per_split={"train": 0}).check()
    items = list_sources("ffpp", datasets["ffpp"], methods=["original"])  # 2 real videos per split, 3 frames each
    per_split = PrepareOptions(frames_per_split={"train": 3, "val": 1, "test": 2}, crop_size=128, progress=False)
    prep = tmp_path / "prep"
    prepare_sources(items, prep, per_split, compression="c0")
    counts: dict[str, list[int]] = {}
    for r in read_index(prep):
        counts.setdefault(r.split, []).append(r.frame)
    assert {s: len(frames) for s, frames in counts.items()} == {"train": 6, "val": 2, "test": 4}
    assert json.loads((prep / "prepare.json").read_text())["ffpp"]["frames_per_video"] == {"train": 3, "val": 1, "test": 2}
    # resuming with another count for a split already prepared is refused; the same counts resume
    other = PrepareOptions(frames_per_split={"train": 2, "val": 1, "test": 2}, crop_size=128, progress=False)
    with pytest.raises(ValueError, match="frames per train video 3 -> 2"):
        prepare_sources(items, prep, other, compression="c0")
    assert prepare_sources(items, prep, per_split, compression="c0").skipped == 6
    # one count for every split
    prepare_sources(items, tmp_path / "one", PrepareOptions(frames=1, crop_size=128, progress=False), compression="c0")
    assert len(read_index(tmp_path / "one")) == 6


def test_cli_prepare_frame_options(datasets, tmp_path):
    runner = CliRunner()
    args = ["prepare", "ffpp", "--root", str(datasets["ffpp"]), "--methods", "original", "--split", "val",
            "--crop-size", "96", "--no-progress"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert "frames per video: 32 (val)" in res.output and len(read_index(tmp_path / "a")) == 2 * 3
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "b"), "--eval-frames", "2"])
    assert res.exit_code == 0 and "frames per video: 2 (val)" in res.output and len(read_index(tmp_path / "b")) == 2 * 2
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "b"), "--frames", "1"])
    assert res.exit_code == 1 and "frames per val video 2 -> 1" in res.output and "Traceback" not in res.output
