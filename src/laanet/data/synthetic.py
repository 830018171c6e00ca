"""Tiny synthetic datasets in each official layout, made from the bundled sample faces.

No deepfake dataset can ship with laanet, so tests, docs and demos build miniature copies of the real layouts:
a few short clips (a slow pan and zoom over a face photo, see ``laanet.media.pan_zoom_frames``) per folder,
with the same folder names, file names and split/label files as the downloads. "Fake" clips are made from a
different photo with a blended-in patch; they are not deepfakes, only stand-ins with the right labels.

    >>> root = make_dataset("ffpp", tmp_path / "ffpp")      # doctest: +SKIP
    >>> list_sources("ffpp", root, split="test")             # doctest: +SKIP
"""
from __future__ import annotations

import csv
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = ["LAYOUTS", "face_photos", "make_clip", "make_dataset"]

LAYOUTS: tuple[str, ...] = ("ffpp", "cdf2", "dfd", "dfdcp", "dfdc", "dfw", "deepfakebench", "folder")
# Official FF++ pairs used by the mini FF++ (one per split, so every split file is exercised).
MINI_FFPP_PAIRS = {"train": ("071", "054"), "val": ("720", "672"), "test": ("953", "974")}
_PHOTOS = ("obama_portrait.jpg", "grace_hopper.jpg", "biden_blue_room.jpg", "obama_speech.jpg", "obama_blue_room.jpg")


@lru_cache(maxsize=1)
def face_photos(size: int = 256) -> tuple[np.ndarray, ...]:
    """Face-centred square RGB crops (``size``×``size``, the face about half the width) of the sample photos."""
    import cv2
    import dlib

    from laanet.media import read_image

    detector = dlib.get_frontal_face_detector()
    folder = resources.files("laanet.assets") / "samples"
    out = []
    for name in _PHOTOS:
        image = read_image(Path(str(folder / name)))
        boxes, scores, _ = detector.run(image, 0, 0.0)
        if not boxes:
            continue
        b = boxes[int(np.argmax(scores))]
        cx, cy, side = (b.left() + b.right()) / 2, (b.top() + b.bottom()) / 2, 2.0 * max(b.width(), b.height())
        matrix = np.array([[size / side, 0, size / 2 - cx * size / side], [0, size / side, size / 2 - cy * size / side]])
        out.append(cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT_101))
    if len(out) < 2:
        raise RuntimeError("the bundled sample photos are missing (laanet/assets/samples)")
    return tuple(out)


def _still(seed: int, fake: bool, size: int) -> np.ndarray:
    import cv2

    photos = face_photos()
    image = cv2.resize(photos[seed % len(photos)], (size, size), interpolation=cv2.INTER_AREA)
    if fake:  # blend the centre of another face in, so real and fake clips differ a little
        other = cv2.resize(photos[(seed + 1) % len(photos)], (size, size), interpolation=cv2.INTER_AREA)
        yy, xx = np.mgrid[:size, :size] / size - 0.5
        mask = np.clip(1.6 - 8 * (xx**2 + yy**2) * 2, 0, 1)[..., None] * 0.5
        image = (image * (1 - mask) + other * mask).astype(np.uint8)
    return image


def make_clip(path: str | Path, seed: int = 0, *, fake: bool = False, frames: int = 4, size: int = 192) -> Path:
    """Write a ``frames``-frame H.264 clip of a face (``size`` px square) to ``path``."""
    from laanet.media import pan_zoom_frames, write_video

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    still = _still(seed, fake, size)
    write_video(path, pan_zoom_frames(still, size=(size, size), num_frames=frames, zoom=(1.0, 1.06)), fps=25)
    return path


def _png(path: Path, image: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image[..., ::-1])


def make_dataset(
    layout: str,
    root: str | Path,
    *,
    frames: int = 4,
    size: int = 192,
    compressions: tuple[str, ...] = ("raw",),
) -> Path:
    """Build a miniature ``layout`` dataset under ``root`` (see the module docstring); returns ``root``.

    ``compressions``: FF++/DFD only, the quality folders to fill (``raw`` = c0, ``c23``, ``c40``).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    clip = lambda rel, seed, fake=False: make_clip(root / rel, seed, fake=fake, frames=frames, size=size)  # noqa: E731
    if layout == "ffpp":
        for c in compressions:
            for s, (a, b) in MINI_FFPP_PAIRS.items():
                clip(f"original_sequences/youtube/{c}/videos/{a}.mp4", 0)
                clip(f"original_sequences/youtube/{c}/videos/{b}.mp4", 1)
                if s == "test":  # the id-collision case: the same pair name under two methods
                    for k, method in enumerate(("Deepfakes", "Face2Face")):
                        clip(f"manipulated_sequences/{method}/{c}/videos/{a}_{b}.mp4", 2 + k, True)
                        clip(f"manipulated_sequences/{method}/{c}/videos/{b}_{a}.mp4", 3 + k, True)
    elif layout == "cdf2":
        clip("Celeb-real/id0_0000.mp4", 0)
        clip("Celeb-real/id1_0001.mp4", 1)
        clip("YouTube-real/00000.mp4", 2)
        clip("Celeb-synthesis/id0_id1_0000.mp4", 3, True)
        clip("Celeb-synthesis/id1_id0_0001.mp4", 4, True)
        (root / "List_of_testing_videos.txt").write_text(
            "1 Celeb-real/id0_0000.mp4\n1 YouTube-real/00000.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n"
        )
    elif layout == "dfd":  # FF++'s layout: build it into an FF++ root to have both, as downloaded
        for c in compressions:
            clip(f"original_sequences/actors/{c}/videos/01__talking_still.mp4", 0)
            clip(f"original_sequences/actors/{c}/videos/02__talking_still.mp4", 1)
            clip(f"manipulated_sequences/DeepFakeDetection/{c}/videos/01_02__talking_still__ABCD1234.mp4", 2, True)
            clip(f"manipulated_sequences/DeepFakeDetection/{c}/videos/02_01__talking_still__EFGH5678.mp4", 3, True)
    elif layout == "dfdcp":
        meta = {}
        for rel, label, s, seed in (
            ("original_videos/100/100_A.mp4", "real", "test", 0),
            ("original_videos/101/101_B.mp4", "real", "test", 1),
            ("method_A/100/100_101/100_101_A_001.mp4", "fake", "test", 2),
            ("method_B/101/101_100/101_100_B_001.mp4", "fake", "test", 3),
            ("method_A/102/102_103/102_103_A_001.mp4", "fake", "train", 4),
        ):
            clip(rel, seed, label == "fake")
            meta[rel] = {"label": label, "set": s}
        (root / "dataset.json").write_text(json.dumps(meta, indent=1))
    elif layout == "dfdc":
        with (root / "labels.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["filename", "label"])
            for k, (name, label) in enumerate((("aaaa.mp4", 0), ("bbbb.mp4", 1), ("cccc.mp4", 0), ("dddd.mp4", 1))):
                clip(f"test_videos/{name}", k, bool(label))
                writer.writerow([name, label])
        clip("dfdc_train_part_0/eeee.mp4", 4)
        clip("dfdc_train_part_0/ffff.mp4", 5, True)
        (root / "dfdc_train_part_0/metadata.json").write_text(json.dumps({
            "eeee.mp4": {"label": "REAL", "split": "train"},
            "ffff.mp4": {"label": "FAKE", "split": "train", "original": "eeee.mp4"},
        }))
    elif layout == "dfw":
        for k, (top, fake) in enumerate((("real_test", False), ("fake_test", True), ("real_train", False), ("fake_train", True))):
            for seq in range(2):
                still = _still(k + seq, fake, size)
                for f in range(frames):
                    _png(root / f"{top}/{10 + k}/{top.split('_')[0]}/{seq}/{f}.png", np.roll(still, 2 * f, axis=1))
    elif layout == "deepfakebench":
        index: dict = {"Celeb-DF-v2": {}}
        for label_name, fake, names in (("CelebDFv2_real", False, ("id0_0000", "00001")), ("CelebDFv2_fake", True, ("id0_id1_0000",))):
            videos = {}
            for k, name in enumerate(names):
                still = _still(k, fake, 256)
                paths = []
                for f in range(frames):
                    rel = f"Celeb-DF-v2/{label_name}/frames/{name}/{f:03d}.png"
                    _png(root / rel, still)
                    lms = (root / rel.replace("/frames/", "/landmarks/")).with_suffix(".npy")
                    lms.parent.mkdir(parents=True, exist_ok=True)
                    np.save(lms, np.tile(np.linspace(60, 200, 81)[:, None], (1, 2)).astype(np.int32))
                    paths.append("./datasets\\" + rel.replace("/", "\\"))  # DeepfakeBench writes Windows paths
                videos[name] = {"label": label_name, "frames": paths}
            index["Celeb-DF-v2"][label_name] = {"test": videos}
        (root / "dataset_json").mkdir(exist_ok=True)
        (root / "dataset_json/Celeb-DF-v2.json").write_text(json.dumps(index, indent=1))
    elif layout == "folder":
        clip("real/clip_a.mp4", 0)
        _png(root / "real/photos/still_b.png", _still(1, False, size))
        clip("fake/clip_c.mp4", 2, True)
        _png(root / "fake/still_d.png", _still(3, True, size))
    else:
        raise ValueError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    return root
