"""Dataset layouts on synthetic mini-datasets built in each official layout; the prepared-data index."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from laanet.data.index import IndexRecord, append_records, group_by_video, read_index, write_index
from laanet.data.layouts import DATASETS, ffpp_splits, list_sources
from laanet.data.sources import even_indices
from laanet.data.synthetic import LAYOUTS, make_dataset


@pytest.fixture(scope="module")
def mini(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("mini")
    return {name: make_dataset(name, base / name, frames=3, size=128) for name in LAYOUTS}


def _summary(items):
    return sorted((i.split, i.label, i.method, i.video_id) for i in items)


def test_official_ffpp_splits_shipped():
    splits = ffpp_splits()
    assert {k: len(v) for k, v in splits.items()} == {"train": 360, "val": 70, "test": 70}
    reals = [set(v for pair in pairs for v in pair) for pairs in splits.values()]
    assert [len(r) for r in reals] == [720, 140, 140]
    assert not (reals[0] & reals[1]) and not (reals[0] & reals[2]) and not (reals[1] & reals[2])
    assert ("953", "974") in splits["test"]


def test_every_layout_lists(mini):
    assert set(LAYOUTS) == set(DATASETS)
    for name, root in mini.items():
        items = list_sources(name, root)
        assert items, name
        assert {i.label for i in items} == {0, 1}, name
        assert len({i.video_id for i in items}) == len(items), name
        for i in items:
            assert i.path.exists() and i.split in ("train", "val", "test")


def test_ffpp_splits_and_id_collision(mini):
    test = list_sources("ffpp", mini["ffpp"], split="test")
    ids = {i.video_id for i in test}
    # the same pair name under two methods stays two videos (the official code merges them)
    assert {"ffpp/Deepfakes/953_974", "ffpp/Face2Face/953_974", "ffpp/Deepfakes/974_953"} <= ids
    assert {"ffpp/original/953", "ffpp/original/974"} <= ids
    assert all(i.label == (i.method != "original") for i in test)
    train = list_sources("ffpp", mini["ffpp"], split="train", methods=["original"])
    assert _summary(train) == [("train", 0, "original", "ffpp/original/054"), ("train", 0, "original", "ffpp/original/071")]
    val = list_sources("ffpp", mini["ffpp"], split="val")
    assert {i.video_id for i in val} == {"ffpp/original/720", "ffpp/original/672"}
    with pytest.raises(FileNotFoundError, match="c23"):
        list_sources("ffpp", mini["ffpp"], compression="c23")
    with pytest.raises(ValueError, match="unknown FF\\+\\+ method"):
        list_sources("ffpp", mini["ffpp"], methods=["DeepFake"])


def test_cdf2_uses_official_test_list(mini):
    items = list_sources("cdf2", mini["cdf2"])
    split_of = {i.video_id: i.split for i in items}
    assert split_of["cdf2/Celeb-real/id0_0000"] == "test"
    assert split_of["cdf2/Celeb-real/id1_0001"] == "train"
    assert split_of["cdf2/Celeb-synthesis/id0_id1_0000"] == "test"
    assert [i.label for i in items if i.method == "Celeb-synthesis"] == [1, 1]
    assert len(list_sources("cdf2", mini["cdf2"], split="test")) == 3


def test_other_layouts(mini):
    dfd = list_sources("dfd", mini["dfd"])
    assert {i.method for i in dfd} == {"DeepFakeDetection_original", "DeepFakeDetection"}
    with pytest.raises(ValueError, match="test set only"):
        list_sources("dfd", mini["dfd"], split="train")
    dfdcp = list_sources("dfdcp", mini["dfdcp"], split="test")
    assert {(i.method, i.label) for i in dfdcp} == {("method_A", 1), ("method_B", 1), ("original_videos", 0)}
    assert len(list_sources("dfdcp", mini["dfdcp"], split="train")) == 1
    dfdc = list_sources("dfdc", mini["dfdc"])
    assert sum(i.split == "test" for i in dfdc) == 4 and sum(i.split == "train" for i in dfdc) == 2
    dfw = list_sources("dfw", mini["dfw"], split="test")
    assert all(i.precropped and i.kind == "frames" and len(i.frames) == 3 for i in dfw)
    assert len(dfw) == 4
    dfb = list_sources("deepfakebench", mini["deepfakebench"])
    assert {i.dataset for i in dfb} == {"Celeb-DF-v2"}
    assert all(i.precropped and all(f.is_file() for f in i.frames) for i in dfb)
    assert all(lm is not None for i in dfb for lm in i.landmarks)
    # the JSON file itself as --root works too
    assert len(list_sources("deepfakebench", mini["deepfakebench"] / "dataset_json/Celeb-DF-v2.json")) == len(dfb)


def test_folder_layout(mini, tmp_path):
    items = list_sources("folder", mini["folder"])
    assert _summary(items) == [
        ("test", 0, "real", "folder/real/clip_a.mp4"),
        ("test", 0, "real", "folder/real/photos/still_b.png"),
        ("test", 1, "fake", "folder/fake/clip_c.mp4"),
        ("test", 1, "fake", "folder/fake/still_d.png"),
    ]
    plain = tmp_path / "plain"
    (plain / "a").mkdir(parents=True)
    (plain / "a/x.jpg").write_bytes(b"")
    (plain / "y.mp4").write_bytes(b"")
    (plain / "notes.txt").write_text("skip me")
    unlabelled = list_sources("folder", plain, name="mine")
    assert {(i.split, i.label, i.video_id) for i in unlabelled} == {("train", 0, "mine/a/x.jpg"), ("train", 0, "mine/y.mp4")}
    only_real = tmp_path / "only_real"
    (only_real / "real").mkdir(parents=True)
    (only_real / "real/z.png").write_bytes(b"")
    assert [(i.split, i.label, i.video_id) for i in list_sources("folder", only_real)] == [("train", 0, "folder/real/z.png")]
    with pytest.raises(FileNotFoundError):
        list_sources("folder", tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images or videos"):
        list_sources("folder", tmp_path / "empty")


def test_missing_layout_files_are_clear(tmp_path):
    for name, pattern in (("cdf2", "List_of_testing_videos"), ("dfdcp", "dataset.json"), ("dfdc", "labels.csv"),
                          ("dfw", "real_test"), ("deepfakebench", "JSON")):
        with pytest.raises(FileNotFoundError, match=pattern):
            list_sources(name, tmp_path)
    with pytest.raises(ValueError, match="unknown dataset"):
        list_sources("ffhq", tmp_path)


def test_even_indices():
    assert even_indices(10, 3) == [0, 4, 9]  # evenly spaced, not the first N
    assert even_indices(4, 10) == [0, 1, 2, 3]
    assert even_indices(0, 3) == []
    assert even_indices(5, None) == [0, 1, 2, 3, 4]


def test_index_roundtrip_and_truncated_line(tmp_path):
    rec = IndexRecord("ffpp", "test", 1, "Deepfakes", "ffpp/Deepfakes/000_003", 12, "crops/x/000012.png",
                      [[1.5, 2.5]] * 68, [1.0, 2.0, 30.0, 40.0], "manipulated_sequences/x.mp4")
    other = IndexRecord("ffpp", "test", 1, "Face2Face", "ffpp/Face2Face/000_003", 3, "crops/y/000003.png")
    write_index(tmp_path, [rec])
    append_records(tmp_path, [other, rec])
    assert read_index(tmp_path) == [rec, other, rec]
    groups = group_by_video(read_index(tmp_path))
    assert list(groups) == ["ffpp/Deepfakes/000_003", "ffpp/Face2Face/000_003"]
    with (tmp_path / "index.jsonl").open("a") as fh:
        fh.write('{"dataset": "ffpp", "spl')  # a run killed mid-write
    assert len(read_index(tmp_path)) == 3
    lines = (tmp_path / "index.jsonl").read_text().splitlines()
    (tmp_path / "index.jsonl").write_text("\n".join([lines[0], "{oops", lines[1]]) + "\n")
    with pytest.raises(ValueError, match="index.jsonl:2"):
        read_index(tmp_path)
    with pytest.raises(ValueError, match="split"):
        IndexRecord.from_dict({**json.loads(rec.to_json()), "split": "dev"})
    with pytest.raises(FileNotFoundError, match="laanet prepare"):
        read_index(tmp_path / "missing")
