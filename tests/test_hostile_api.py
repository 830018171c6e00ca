"""The hostile corpus (tests/hostile_corpus.py) through the Python API: a result for every input, never a crash.

Every file gets a ``FileResult`` whose status is one the corpus allows (errors say why), overlays stay capped
in size however big the photo, and the same ``Detector`` (and its face analyzer) still works afterwards.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from laanet.config import load_config
from laanet.inference.detector import Detector
from laanet.inference.render import MAX_OVERLAY_SIDE
from laanet.models.checkpoint import save_model
from laanet.models.laanet import LAANet


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    torch.manual_seed(11)
    weights = tmp_path_factory.mktemp("weights") / "tiny.pt"
    save_model(LAANet(load_config("cpu-tiny").model), weights)
    return Detector(weights, frames=2)


def test_hostile_corpus_through_the_python_api(detector, tmp_path, sample_arrays):
    from hostile_corpus import EXPECTED_STATUS, FACES, make_hostile_corpus

    files = make_hostile_corpus(tmp_path / "hostile")
    wrong, results = {}, {}
    for name, path in files.items():
        result = results[name] = detector.detect(path)  # must not raise
        if result.status not in EXPECTED_STATUS[name]:
            wrong[name] = (result.status, result.error)
        if result.status == "error":
            assert isinstance(result.error, str) and len(result.error) > 10, (name, result.error)
        if name in FACES and result.status == "ok":
            assert len(result.frames[0].faces) == FACES[name], name
        for frame in result.frames:
            if frame.overlay is not None:
                assert max(frame.overlay.shape[:2]) <= MAX_OVERLAY_SIDE, name
    assert not wrong, wrong
    huge = results["huge_8000.jpg"]
    assert huge.frames[0].overlay.shape == (MAX_OVERLAY_SIDE, MAX_OVERLAY_SIDE, 3)  # drawn capped, not at 8000 px
    box = np.array(huge.frames[0].faces[0].box)
    # The portrait's face centre (54.7 %, 24.4 % of the photo) enlarged 10× and pasted at (2666, 2000), in full-size
    # pixels: the box was found on a shrunk copy and mapped back.
    assert np.allclose([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], [2666 + 0.547 * 2560, 2000 + 0.244 * 3200], atol=150)
    for name in ("one_pixel.png", "thin_4000x3.png"):  # no face, and the result says why
        if results[name].status == "no_face":
            assert "too small" in results[name].error or "too thin" in results[name].error, results[name].error
    for name in ("bomb_20000.png", "bomb_50000.png", "bomb_float.tif"):
        assert "over the limit" in results[name].error
    # After all that, the same detector (and its MediaPipe graphs) still finds and scores faces.
    after = detector.detect(sample_arrays["obama_portrait.jpg"])
    assert after.status == "ok" and len(after.frames[0].faces) == 1
