"""The training data loader hands SBI the 81 landmarks (68 + forehead) when the index has them, BI the 68."""
from __future__ import annotations

from collections import OrderedDict

import cv2
import numpy as np

from laanet.config import load_config
from laanet.data.index import IndexRecord, write_index
from laanet.training.dataset import PairDataset


def _face(seed: int, size: int = 96) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured synthetic face crop, an ellipse of 68 landmarks and 13 forehead points above it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    image = np.stack([xx * 2 + seed, yy * 2, (xx + yy) % 256], axis=-1).astype(np.uint8)
    image = cv2.GaussianBlur((image + rng.integers(0, 30, image.shape)).clip(0, 255).astype(np.uint8), (5, 5), 0)
    angles = np.linspace(0, 2 * np.pi, 68, endpoint=False) + 0.01 * seed
    c = size / 2
    lm68 = np.stack([c + 0.28 * size * np.cos(angles), c + 5 + 0.3 * size * np.sin(angles)], axis=1)
    arc = np.linspace(np.pi * 0.9, np.pi * 0.1, 13)
    forehead = np.stack([c + 0.3 * size * np.cos(arc), c - 0.2 * size - 0.15 * size * np.sin(arc)], axis=1)
    return image, lm68.astype(np.float32), np.concatenate([lm68, forehead]).astype(np.float32)


class _Recorder:
    """Wraps a synthesizer and keeps the landmarks of every call."""

    def __init__(self, synthesizer) -> None:
        self.synthesizer, self.calls = synthesizer, []

    def __call__(self, image, landmarks, rng, **kwargs):
        self.calls.append(np.asarray(landmarks).copy())
        return self.synthesizer(image, landmarks, rng, **kwargs)


def test_sbi_gets_81_points_bi_gets_68(tmp_path) -> None:
    records, faces = [], {}
    for i in range(4):
        image, lm68, lm81 = _face(i)
        path = f"crops/v{i}.png"
        (tmp_path / "crops").mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        has81 = i < 3  # the last face comes from a backend without forehead points (dlib)
        records.append(IndexRecord(dataset="folder", split="train", label=0, method="real", video_id=f"v{i}", frame=0,
                                   path=path, landmarks=lm68.tolist(), landmarks81=lm81.tolist() if has81 else None))
        faces[path] = (lm68, lm81 if has81 else None)
    write_index(tmp_path, records)
    cfg = load_config("cpu-tiny", ["model.input_size=64", "data.method=mix"])
    videos = OrderedDict((r.video_id, [r]) for r in records)
    dataset = PairDataset(tmp_path, videos, cfg, frames_per_video=4, train=True, seed=0, distinct_frames=True)
    recorders = {m: _Recorder(s) for m, s in dataset.synthesizers.items()}
    dataset.synthesizers = recorders
    seen = {"sbi": [], "bi": []}
    for epoch in range(3):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            before = {m: len(r.calls) for m, r in recorders.items()}
            dataset[index]
            method = next(m for m, r in recorders.items() if len(r.calls) > before[m])
            seen[method].append((dataset.items[index].path, recorders[method].calls[-1]))
    assert seen["sbi"] and seen["bi"]
    for path, landmarks in seen["sbi"]:
        lm68, lm81 = faces[path]
        np.testing.assert_allclose(landmarks, lm81 if lm81 is not None else lm68, atol=1e-4)
    assert any(len(lm) == 81 for _, lm in seen["sbi"]) and any(len(lm) == 68 for _, lm in seen["sbi"])
    for path, landmarks in seen["bi"]:
        np.testing.assert_allclose(landmarks, faces[path][0], atol=1e-4)
