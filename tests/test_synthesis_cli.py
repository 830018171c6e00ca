"""``laanet synth``: preview grids from a folder of photos and from a prepared index; error exits."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from laanet.cli import app

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "laanet" / "assets" / "samples"
TILE, HEADER, COLS = 160, 22, 6


def _run(*args: str):
    return CliRunner().invoke(app, ["synth", *args])


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name in ("astronaut.jpg", "grace_hopper.jpg"):
        shutil.copy(SAMPLES / name, folder / name)
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def prepared_dir(tmp_path_factory, dlib_analyzer) -> Path:
    """A minimal prepared folder: two real crops of two identities, with landmarks, in index.jsonl."""
    from laanet.data.index import IndexRecord, write_index
    from laanet.faces import crop_face
    from laanet.media import read_image

    prep = tmp_path_factory.mktemp("prep")
    records = []
    for i, name in enumerate(("astronaut", "obama_portrait")):
        image = read_image(SAMPLES / f"{name}.jpg")
        crop = crop_face(image, dlib_analyzer.detect(image)[0])
        rel = f"crops/{name}/000.png"
        (prep / rel).parent.mkdir(parents=True)
        cv2.imwrite(str(prep / rel), cv2.cvtColor(crop.image, cv2.COLOR_RGB2BGR))
        records.append(
            IndexRecord(dataset="folder", split="train", label=0, method="real", video_id=f"folder/{name}", frame=0,
                        path=rel, landmarks=crop.landmarks.tolist(), box=[0, 0, 1, 1], source=f"{name}.jpg")
        )
    write_index(prep, records)
    return prep


def test_sbi_grid_from_photo_folder(photo_dir, tmp_path) -> None:
    out = tmp_path / "grid.png"
    res = _run("--faces", str(photo_dir), "--out", str(out), "--n", "3", "--seed", "1", "--input-size", "128")
    assert res.exit_code == 0, res.output
    grid = cv2.imread(str(out))
    assert grid.shape == (HEADER + 3 * TILE, COLS * TILE, 3)
    # same seed, same grid
    again = tmp_path / "again.png"
    res = _run("--faces", str(photo_dir), "--out", str(again), "--n", "3", "--seed", "1", "--input-size", "128")
    assert res.exit_code == 0
    assert np.array_equal(cv2.imread(str(again)), grid)


def test_bi_grid_from_prepared_index(prepared_dir, tmp_path) -> None:
    out = tmp_path / "sub" / "bi.png"
    res = _run("--faces", str(prepared_dir), "--out", str(out), "--method", "bi", "--n", "2", "--input-size", "128")
    assert res.exit_code == 0, res.output
    assert cv2.imread(str(out)).shape == (HEADER + 2 * TILE, COLS * TILE, 3)


def test_errors(photo_dir, tmp_path) -> None:
    missing = _run("--faces", str(tmp_path / "nope"), "--out", str(tmp_path / "g.png"))
    assert missing.exit_code == 1 and "error:" in missing.output and "Traceback" not in missing.output
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run("--faces", str(empty), "--out", str(tmp_path / "g.png")).exit_code == 1
    assert _run("--faces", str(photo_dir), "--out", str(tmp_path / "g.png"), "--method", "xray").exit_code == 2
    assert _run("--faces", str(photo_dir), "--out", str(tmp_path / "g.gif")).exit_code == 2
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(SAMPLES / "astronaut.jpg", one / "astronaut.jpg")
    res = _run("--faces", str(one), "--out", str(tmp_path / "g.png"), "--method", "bi")
    assert res.exit_code == 1 and "two identities" in res.output


@pytest.mark.parametrize("method", ["sbi", "bi"])
def test_fakeformer_grid_shows_14x14_patch_targets(prepared_dir, tmp_path, method) -> None:
    out = tmp_path / f"ff-{method}.png"
    res = _run("--faces", str(prepared_dir), "--out", str(out), "--method", method, "--n", "2", "--family", "fakeformer")
    assert res.exit_code == 0, res.output
    grid = cv2.imread(str(out))
    assert grid.shape == (HEADER + 2 * TILE, COLS * TILE, 3)
    for row in range(2):
        top = HEADER + row * TILE
        heatmap = grid[top:top + TILE, 4 * TILE:5 * TILE]
        consistency = grid[top:top + TILE, 5 * TILE:6 * TILE]
        # a 14×14 map enlarged with nearest neighbour: at most 14 distinct rows and columns, and some signal
        assert 2 <= len(np.unique(heatmap.reshape(TILE, -1), axis=0)) <= 14
        assert 2 <= len(np.unique(heatmap.transpose(1, 0, 2).reshape(TILE, -1), axis=0)) <= 14
        assert len(np.unique(consistency.reshape(-1, 3), axis=0)) == 1  # FakeFormer has no consistency target
