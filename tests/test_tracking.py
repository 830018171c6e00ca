"""Linking faces across sparse frames (laanet.inference.tracking): boxes and descriptors made up, no model."""
from __future__ import annotations

import numpy as np
import pytest

from laanet.inference.tracking import TrackingConfig, box_iou, link_faces

W = 100.0  # face box side


def box(x: float, y: float = 100.0, side: float = W) -> list[float]:
    return [x, y, x + side, y + side]


def descriptors(people: list[list[int]]):
    """``describe(t, k)`` giving person ``people[t][k]`` a fixed random 128-D descriptor (0.3 noise per frame)."""
    rng = np.random.default_rng(0)
    base = {p: rng.normal(0, 0.1, 128) for p in {p for frame in people for p in frame}}
    noise = {(t, k): rng.normal(0, 0.3 / np.sqrt(128) / 2, 128) for t, frame in enumerate(people) for k in range(len(frame))}
    calls = []

    def describe(t: int, k: int) -> np.ndarray:
        calls.append((t, k))
        return base[people[t][k]] + noise[(t, k)]

    describe.calls = calls
    return describe


def same_partition(ids: list[list[int]], truth: list[list[int]]) -> bool:
    """The ids group the faces exactly as the truth does (whatever the numbers)."""
    mapping: dict[int, int] = {}
    for frame_ids, frame_truth in zip(ids, truth):
        for i, t in zip(frame_ids, frame_truth):
            if mapping.setdefault(i, t) != t:
                return False
    return len(set(mapping.values())) == len(mapping)


def test_box_iou():
    assert box_iou(box(0), box(0)) == pytest.approx(1.0)
    assert box_iou(box(0), box(50)) == pytest.approx(50 * 100 / (2 * 100 * 100 - 50 * 100))
    assert box_iou(box(0), box(300)) == 0.0


def test_two_people_moving_keep_their_ids_and_are_numbered_left_to_right():
    frames = [[box(400 - 3 * t), box(40 + 5 * t)] for t in range(12)]  # listed right person first
    ids = link_faces(frames)
    assert ids[0] == [2, 1]  # the left one is person 1
    assert all(frame == [2, 1] for frame in ids)


def test_missed_detections_and_a_late_entrance():
    frames = [[box(40)], [box(45), box(400)], [box(50)], [box(55), box(410)], [box(405), box(60)]]
    ids = link_faces(frames)
    assert ids == [[1], [1, 2], [1], [1, 2], [2, 1]]


def test_crossing_people_keep_their_ids():
    """They walk past each other; mid-way the one behind is hidden (no detection) for two samples."""
    truth, frames = [], []
    for t in range(16):
        a, b = 50 + 30 * t, 500 - 30 * t
        if 6 <= t <= 7:
            frames.append([box(b, 110)])  # b in front, a hidden
            truth.append([1])
        else:
            frames.append([box(a, 90), box(b, 110)])
            truth.append([0, 1])
    assert same_partition(link_faces(frames, describe=descriptors(truth)), truth)
    assert same_partition(link_faces(frames), truth)  # box motion alone is enough here


def test_a_sparse_jump_is_relinked_by_appearance_only():
    """One person jumps by 3 box widths between two samples: ByteTrack loses them; the descriptors re-link."""
    frames = [[box(40 + 2 * t)] for t in range(5)] + [[box(340 + 2 * t)] for t in range(5)]
    truth = [[0]] * 10
    assert link_faces(frames, describe=descriptors(truth)) == [[1]] * 10
    assert link_faces(frames) == [[1]] * 5 + [[2]] * 5  # no overlap, no descriptor: two people
    assert link_faces(frames, describe=descriptors(truth), config=TrackingConfig(appearance=False)) == [[1]] * 5 + [[2]] * 5


def test_people_swapping_places_between_samples():
    """Between two samples the two people swap sides: the boxes say "same place", the faces say otherwise."""
    frames = [[box(40), box(400)] for _ in range(6)]
    truth = [[0, 1]] * 3 + [[1, 0]] * 3
    ids = link_faces(frames, describe=descriptors(truth))
    assert same_partition(ids, truth)
    assert ids[0] == [1, 2] and ids[5] == [2, 1]
    assert not same_partition(link_faces(frames), truth)  # boxes alone get it wrong, as expected


def test_a_shot_cut_to_another_person_at_the_same_place_is_two_people():
    frames = [[box(200)] for _ in range(8)]
    truth = [[0]] * 4 + [[1]] * 4
    assert link_faces(frames, describe=descriptors(truth)) == [[1]] * 4 + [[2]] * 4
    assert link_faces(frames) == [[1]] * 8


def test_two_faces_of_one_frame_never_share_an_id():
    frames = [[box(40), box(400)], [box(40), box(400)]]
    same = lambda t, k: np.zeros(128)  # noqa: E731 - everyone looks the same
    for ids in (link_faces(frames, describe=same), link_faces([[box(40), box(45)], [box(300)]], describe=same)):
        for frame in ids:
            assert len(set(frame)) == len(frame)


def test_random_jumps_with_descriptors():
    """Both people at random places in every sample (as a long, lively video sampled 32 times)."""
    rng = np.random.default_rng(5)
    frames, truth = [], []
    for _ in range(32):
        xs = rng.permutation([40.0, 400.0])
        frames.append([box(xs[0] + rng.uniform(-30, 30)), box(xs[1] + rng.uniform(-30, 30))])
        truth.append([0, 1] if xs[0] < xs[1] else [1, 0])
    describe = descriptors(truth)
    ids = link_faces(frames, describe=describe)
    assert same_partition(ids, truth) and {i for f in ids for i in f} == {1, 2}


def test_descriptors_are_computed_once_each_and_not_for_an_empty_clip():
    frames = [[box(40 + t)] for t in range(6)]
    describe = descriptors([[0]] * 6)
    link_faces(frames, describe=describe)
    assert len(describe.calls) == len(set(describe.calls)) <= 6
    assert link_faces([[], []]) == [[], []]


def test_config_is_checked():
    with pytest.raises(ValueError, match="min_iou"):
        TrackingConfig(min_iou=0)
    with pytest.raises(ValueError, match="fallback_iou"):
        TrackingConfig(fallback_iou=1.5)


def test_matching_is_lenient_for_sparse_samples():
    """A face moving 0.8 box widths per sample (IoU 0.11 with the last box) stays one person on boxes alone
    (ByteTrack's default asks for IoU 0.2)."""
    frames = [[box(40 + 80 * t + (7 if t % 2 else 0), 100 + 25 * (t % 3))] for t in range(6)]
    assert link_faces(frames, describe=None) == [[1]] * 6
