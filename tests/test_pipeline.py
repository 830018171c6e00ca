"""laanet.inference.pipeline: overlapped analysis and inference, results in input order (fake stages, no model)."""
from __future__ import annotations

import threading

import pytest

from laanet.inference.pipeline import StageTimes, run_overlapped


def _stages(faces_per_input, calls, *, gate=None):
    """Fake detector stages: input i has faces_per_input[i] faces; infer records batches and scores faces."""

    def start(item):
        return {"name": item, "scores": []}

    def analyse(state, item, emit):
        if gate is not None and item == gate[0]:
            assert gate[1].wait(10), "the model never ran while inputs were still being analysed"
        for k in range(faces_per_input[item]):
            emit((item, k))

    def infer(batch):
        calls.append([job for _, job in batch])
        for state, (item, k) in batch:
            state["scores"].append(10 * item + k)
        if gate is not None:
            gate[1].set()

    def finish(state):
        return state["name"], sorted(state["scores"])

    return dict(start=start, analyse=analyse, infer=infer, finish=finish)


def test_results_in_input_order_and_full_batches():
    faces = [2, 0, 3, 1, 0, 5]
    calls: list = []
    times = StageTimes()
    out = list(run_overlapped(range(len(faces)), batch_size=4, times=times, **_stages(faces, calls)))
    assert [name for name, _ in out] == list(range(len(faces)))
    assert [scores for _, scores in out] == [[10 * i + k for k in range(n)] for i, n in enumerate(faces)]
    assert [len(c) for c in calls] == [4, 4, 3]  # batches span inputs; only the last is short
    assert times.batches == 3 and times.faces == 11 and times.wall > 0 and times.seconds["model"] > 0


def test_model_runs_while_later_inputs_are_analysed():
    faces = [4, 4, 1]
    calls: list = []
    gate = (2, threading.Event())  # analysing input 2 waits until the model has run once
    out = list(run_overlapped(range(3), batch_size=4, **_stages(faces, calls, gate=gate)))
    assert [name for name, _ in out] == [0, 1, 2]


def test_producer_error_is_raised_in_the_caller():
    calls: list = []
    stages = _stages([1, 1, 1], calls)

    def analyse(state, item, emit):
        if item == 1:
            raise RuntimeError("decoder exploded")
        emit((item, 0))

    stages["analyse"] = analyse
    with pytest.raises(RuntimeError, match="decoder exploded"):
        list(run_overlapped(range(3), batch_size=1, **stages))


def test_closing_early_stops_the_producer():
    calls: list = []
    seen = []

    def items():
        for i in range(10_000):
            seen.append(i)
            yield i

    gen = run_overlapped(items(), batch_size=1, depth=1, **_stages([1] * 10_000, calls))
    assert next(gen)[0] == 0
    gen.close()
    assert len(seen) < 100  # the bounded queue kept the producer close behind, and it stopped


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        list(run_overlapped([], batch_size=0, **_stages([], [])))


# ---------------------------------------------------------------------------------------------------------
# The detector on the pipeline (tiny model)
# ---------------------------------------------------------------------------------------------------------


def test_detector_one_model_call_per_batch_with_flips_and_time_split(tiny_weights, media_dir, sample_arrays):
    """Faces of a video and two photos: batches span inputs, each batch (faces + mirrors) is one network call,
    results come back in input order, and the time split is filled in."""
    from laanet.inference.detector import Detector

    det = Detector(tiny_weights, backend="torch", frames=6, batch_size=4, flip_test=True)
    calls = []
    model = det.runner.model
    original = model.forward

    def counting_forward(x):  # counts calls; the logit becomes 10 × the mean pixel, so each face's score is its own
        calls.append(x.shape[0])
        return original(x)._replace(cls=10 * x.float().mean(dim=(1, 2, 3)).unsqueeze(1))

    model.forward = counting_forward
    times = StageTimes()
    portrait, astronaut = sample_arrays["obama_portrait.jpg"], sample_arrays["astronaut.jpg"]
    sources = [portrait, media_dir / "face_clip.mp4", astronaut]
    results = list(det.detect_many(sources, times=times))
    assert [r.kind for r in results] == ["image", "video", "image"]
    faces = [sum(len(f.faces) for f in r.frames) for r in results]
    assert faces == [1, 6, 1]
    # 8 faces in batches of 4: two network calls, each with the 4 faces and their 4 mirrors.
    assert calls == [8, 8] and times.batches == 2 and times.faces == 8
    assert all(f.logit == f.logit for r in results for fr in r.frames for f in fr.faces)  # every face scored (no NaN)
    assert times.seconds["decode"] > 0 and times.seconds["faces"] > 0 and times.seconds["model"] > 0
    # each face keeps its own score: the same as when its input is scored alone (batching across inputs and
    # the producer thread change nothing), and the inputs' scores differ (so the comparison can fail)
    logits = [[f.logit for fr in r.frames for f in fr.faces] for r in results]
    assert abs(logits[0][0] - logits[2][0]) > 0.05 and max(logits[1]) - min(logits[1]) > 1e-3
    for source, expected in zip(sources, logits):
        alone = det.detect(source, keep_overlays=False)
        assert [f.logit for fr in alone.frames for f in fr.faces] == pytest.approx(expected, abs=1e-5)


def test_stage_times_dict_keeps_stage_seconds_apart_from_counts():
    times = StageTimes()
    with times.measure("faces"):
        pass
    times.faces, times.batches = 7, 2
    out = times.to_dict()
    assert isinstance(out["faces"], float) and out["faces"] < 1 and out["faces_scored"] == 7 and out["model_calls"] == 2
    assert "7 faces in 2 model calls" in times.summary()
