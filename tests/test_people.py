"""People in results: per-person scores, the verdict from the most suspicious person, and two-person clips
through the Detector (one person a pseudo-fake) with a scorer that knows who is who, and with the demo weights."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from laanet.inference.outputs import write_csv
from laanet.inference.results import FaceResult, FileResult, FrameResult, sigmoid
from laanet.schemas import validate


def face(logit: float, person: int | None, x: float = 0.0) -> FaceResult:
    return FaceResult(box=[x, 0.0, x + 50.0, 50.0], logit=logit, detector_score=0.9, person=person)


def video(per_frame: list[list[tuple[float, int | None]]]) -> FileResult:
    frames = [FrameResult(index=10 * i, time_s=0.4 * i, faces=[face(l, p, 100.0 * k) for k, (l, p) in enumerate(faces)])
              for i, faces in enumerate(per_frame)]
    return FileResult(path="clip.mp4", kind="video", frames=frames).finalize()


def test_person_score_is_the_mean_logit_and_the_verdict_the_most_suspicious_person():
    # person 1 has the most suspicious single frame (logit 2) but a mean of 0; person 2 a steady 0.5.
    res = video([[(2.0, 1), (0.5, 2)], [(-1.0, 1), (0.5, 2)], [(-1.0, 1), (0.5, 2)]])
    one, two = res.people
    assert (one.id, two.id) == (1, 2)
    assert one.logit == pytest.approx(0.0) and one.score == pytest.approx(0.5)
    assert two.score == pytest.approx(sigmoid(0.5))
    assert res.person == 2 and res.score == pytest.approx(sigmoid(0.5))  # not the frame-max rule: sigmoid(1.0)
    d = res.to_dict(provenance=False)
    assert d["person"] == 2 and d["score"] == pytest.approx(sigmoid(0.5), abs=1e-6)
    p1 = d["people"][0]
    assert p1["frames"] == [0, 10, 20]
    assert [t["frame"] for t in p1["timeline"]] == [0, 10, 20]
    assert [t["time_s"] for t in p1["timeline"]] == [0.0, 0.4, 0.8]
    assert p1["timeline"][0]["score"] == pytest.approx(sigmoid(2.0), abs=1e-6)
    assert p1["representative"]["frame"] == 0 and p1["representative"]["face"] == 0  # its most suspicious face
    assert d["people"][1]["representative"]["face"] == 1
    validate(d, "entry")


def test_one_person_per_frame_is_the_paper_video_rule():
    res = video([[(1.5, 1)], [(-0.5, 1)], [], [(0.2, 1)]])
    assert res.score == pytest.approx(sigmoid(np.mean([1.5, -0.5, 0.2])))
    assert res.to_dict()["people"][0]["frames"] == [0, 10, 30]


def test_faces_without_a_person_are_people_of_their_own_and_errors_have_none():
    res = video([[(0.3, None), (1.0, None)]])
    assert [p.id for p in res.people] == [1, 2] and res.person == 2
    bad = FileResult(path="x.mp4", kind="video", status="error", error="broken").finalize()
    assert bad.people == [] and bad.person is None and bad.to_dict()["people"] == []


def test_no_face_is_never_real(tmp_path):
    res = FileResult(path="empty.png", kind="image", frames=[FrameResult(index=0, time_s=None)]).finalize()
    assert res.status == "no_face" and res.label is None and res.score is None and res.person is None
    assert "label=None" in repr(res) and "real" not in repr(res)
    assert "no face" in res.title and "real" not in res.title
    d = res.to_dict()
    assert d["label"] is None
    rows = list(csv.DictReader(open(write_csv(tmp_path / "r.csv", [d]))))
    assert rows[0]["label"] == "" and rows[0]["status"] == "no_face"


def test_schema_people_and_flags():
    import jsonschema

    res = video([[(0.4, 1), (0.9, 2)], [(0.1, 1)]])
    d = res.to_dict(provenance=False)
    d["flags"] = [{"code": "blur", "message": "m"}]
    validate(d, "entry")
    for change in (
        lambda e: e["people"][0].update(id=0),
        lambda e: e["people"][0].pop("timeline"),
        lambda e: e["people"][0]["timeline"][0].update(score=1.5),
        lambda e: e.update(flags=[{"code": "blur"}]),
        lambda e: e.update(person="1"),
        lambda e: e["frames"][0]["faces"][0].update(person=0),
    ):
        broken = json.loads(json.dumps(d))
        change(broken)
        with pytest.raises(jsonschema.ValidationError):
            validate(broken, "entry")


# ---------------------------------------------------------------------------------------------------------
# Two-person clips through the Detector
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def detector(tiny_weights):
    from laanet.inference.detector import Detector

    return Detector(tiny_weights, frames=10, device="cpu")


@pytest.fixture(scope="module")
def clips(detector, tmp_path_factory):
    from laanet.demo.people_clip import make_people_clip

    folder = tmp_path_factory.mktemp("people")
    out = {}
    for motion, fake in (("cross", 1), ("jump", 0)):
        clip = make_people_clip(detector.faces, motion=motion, fake=fake, num_frames=40, seed=1)
        out[motion] = (clip, clip.write(folder / f"{motion}.mp4"))
    return out


def _templates(detector, clip) -> list[np.ndarray]:
    """Each person's network input, cut from a frame where both are apart, by the detector's own pipeline."""
    from laanet.faces import crop_face
    from laanet.inference.preprocess import crop_to_input
    from laanet.inference.tracking import box_iou

    frame = clip.frames[0]
    faces = detector.faces.detect(frame)
    out = []
    for truth in clip.boxes[0]:
        best = max(faces, key=lambda f: box_iou(f.box, truth))
        out.append(crop_to_input(crop_face(frame, best).image, detector.input_size))
    return out


def _scorer_knowing(detector, clip):
    """A stand-in for the model: logit +2.5 for a face that looks like the pseudo-fake person, -2.5 otherwise."""
    import cv2

    small = lambda x: cv2.resize(np.ascontiguousarray(x.transpose(1, 2, 0)), (16, 16), interpolation=cv2.INTER_AREA)  # noqa: E731
    templates = [small(t) for t in _templates(detector, clip)]

    def predict(x, *, flip_test=False):
        logits = []
        for item in x:
            nearest = int(np.argmin([np.abs(small(item) - t).mean() for t in templates]))
            logits.append(2.5 if nearest == clip.fake else -2.5)
        return np.array(logits, np.float32), None

    return predict


def _true_ids(result, clip) -> dict[int, int]:
    """True person (0/1) → the id most of their faces got."""
    from laanet.inference.tracking import box_iou

    votes: dict[int, list[int]] = {0: [], 1: []}
    for frame in result.frames:
        for f in frame.faces:
            ious = [box_iou(f.box, t) for t in clip.boxes[frame.index]]
            if max(ious) > 0.3:
                votes[int(np.argmax(ious))].append(f.person)
    return {p: max(set(v), key=v.count) for p, v in votes.items()}


@pytest.mark.parametrize("motion", ["cross", "jump"])
def test_two_person_clip_names_the_pseudo_fake_person(detector, clips, motion, monkeypatch, tmp_path):
    from laanet.demo.people_clip import tracking_accuracy

    clip, path = clips[motion]
    monkeypatch.setattr(detector.runner, "predict", _scorer_knowing(detector, clip))
    res = detector.detect(path)
    acc = tracking_accuracy(res, clip)
    assert acc["accuracy"] == 1.0 and acc["id_switches"] == 0 and acc["people_found"] == 2, acc
    ids = _true_ids(res, clip)
    fake_id, real_id = ids[clip.fake], ids[1 - clip.fake]
    assert fake_id != real_id
    assert res.person == fake_id and res.label == "fake" and res.score == pytest.approx(sigmoid(2.5), abs=1e-5)
    people = {p.id: p for p in res.people}
    assert people[fake_id].label == "fake" and people[real_id].label == "real"
    assert f"person {fake_id} of 2" in res.title
    saved = json.loads(res.save(tmp_path).read_text())
    validate(saved, "result")
    assert saved["person"] == fake_id and len(saved["people"]) == 2
    rep = next(p for p in saved["people"] if p["id"] == fake_id)["representative"]
    assert rep["crop"].endswith(f"_person{fake_id}.png") and rep["overlay"].endswith(".png")
    assert sorted({f["person"] for fr in saved["frames"] for f in fr["faces"]}) == sorted(ids.values())


def test_person_pictures_and_csv(detector, clips, monkeypatch, tmp_path):
    from laanet.inference.folder_run import detect_to_folder

    clip, path = clips["cross"]
    monkeypatch.setattr(detector.runner, "predict", _scorer_knowing(detector, clip))
    res = detector.detect(path)
    assert all(p.crop is not None and p.crop.shape == (detector.crop_size, detector.crop_size, 3) for p in res.people)
    run = detect_to_folder(detector, [path], tmp_path / "out", csv=True, save_heatmaps=True)
    rows = list(csv.DictReader(open(run.results_csv)))
    fake_id = _true_ids(res, clip)[clip.fake]
    assert {r["file_person"] for r in rows} == {str(fake_id)}
    assert {r["person"] for r in rows} == {"1", "2"}
    assert any((tmp_path / "out" / "heatmaps").glob("*_person1.png"))


def test_demo_weights_name_the_pseudo_fake_person(clips):
    """The bundled demo model, not a stand-in: it scores this clip's SBI person higher (on the 50-frame clip of the
    same seed, benchmarks/people_tracking.py measured 0.925 vs 0.332 over 16 frames). Not every blend is caught:
    seed 0's is weak, and the demo model misses it in one of three motions (docs/results.md)."""
    from laanet.inference.detector import Detector

    clip, path = clips["cross"]
    res = Detector(frames=8, device="cpu").detect(path)
    fake_id = _true_ids(res, clip)[clip.fake]
    assert res.person == fake_id, [(p.id, p.score) for p in res.people]
    assert math.isfinite(res.score)


def test_plot_draws_one_line_per_person():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = video([[(0.4, 1), (0.9, 2)], [(0.1, 1), (1.2, 2)]]).plot()
    labels = [line.get_label() for line in fig.axes[-1].get_lines()]
    plt.close(fig)
    assert labels[:2] == ["person 1", "person 2"]
