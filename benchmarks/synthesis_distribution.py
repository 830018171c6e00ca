"""Joint frequencies of the SBI / BI training samples, as the training data loader draws them.

Builds the training ``PairDataset`` of the ``paper-sbi`` and ``paper-bi`` presets over a prepared folder of the
bundled samples (6 photos and 2 clips × 6 frames, MediaPipe landmarks: 68 + 13 forehead points) and calls
``__getitem__`` a few thousand times, epoch after epoch, as training does. It counts, per sample, which
albumentations transforms ran (by wrapping each leaf's ``apply_with_params``), how many landmarks the hull was
made from, and the fake's vulnerable points, then prints one table::

    python benchmarks/synthesis_distribution.py                      # 3000 SBI and 1000 BI samples
    python benchmarks/synthesis_distribution.py --prep /tmp/dist-prep --sbi 3000 --bi 1000
    PYTHONPATH=/other/checkout/src python benchmarks/synthesis_distribution.py --prep /tmp/dist-prep   # other code

It uses only what every laanet version since the synthesis rewrite has (``PairDataset.synthesizers`` and their
``_colour`` / ``_geometry`` / ``_source_transform`` pipelines), so the same script measures an older checkout.
``--prep`` keeps the prepared faces between runs (prepared once with the code on the path), so two checkouts are
compared on the same faces. Expected values of the official code (albumentations 1.1 draws every p on its own):
0 post-blend ops 17.2 %, the hflip × OneOf cells 25 % each, Downscale ×2 / ×4 25 % each, BI background with no
op 3.1 %, the 68-point subset 25 % of SBI samples.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from collections import Counter, OrderedDict
from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "laanet" / "assets" / "samples"


def prepare(prep: Path) -> None:
    """``laanet prepare folder --frames 6`` of the bundled photos and clips into ``prep`` (once)."""
    if (prep / "index.jsonl").is_file():
        return
    import tempfile

    from typer.testing import CliRunner

    from laanet.cli import app

    with tempfile.TemporaryDirectory() as root:
        for path in SAMPLES.iterdir():
            if path.suffix in (".jpg", ".mp4"):
                shutil.copy(path, Path(root) / path.name)
        args = ["prepare", "folder", "--root", root, "--out", str(prep), "--frames", "6", "--no-progress"]
        result = CliRunner().invoke(app, args)
        if result.exit_code != 0:
            sys.exit(f"prepare failed: {result.output}")


def _leaves(transform):
    from albumentations.core.composition import BaseCompose

    if isinstance(transform, BaseCompose):
        for child in transform.transforms:
            yield from _leaves(child)
    else:
        yield transform


class Recorder:
    """Which leaves of some pipelines were applied since the last :meth:`clear` (one entry per leaf call)."""

    def __init__(self) -> None:
        self.applied: dict[str, list] = {}

    def watch(self, name: str, pipeline) -> None:
        self.applied[name] = []
        applied = self.applied[name]
        for leaf in _leaves(pipeline):
            original = leaf.apply_with_params

            def wrapped(params, *args, _leaf=leaf, _original=original, **kwargs):
                if not applied or applied[-1][0] is not _leaf:  # one entry per call, not per target
                    applied.append((_leaf, dict(params)))
                return _original(params, *args, **kwargs)

            leaf.apply_with_params = wrapped

    def clear(self) -> None:
        for applied in self.applied.values():
            applied.clear()


def _dataset(prep: Path, preset: str):
    from laanet.config import load_config
    from laanet.data.index import group_by_video, read_index
    from laanet.training.dataset import PairDataset

    cfg = load_config(preset)
    records = [r for r in read_index(prep) if r.label == 0 and len(r.landmarks) >= 68]
    videos = OrderedDict(group_by_video(records))
    return PairDataset(prep, videos, cfg, frames_per_video=cfg.data.frames_per_video, train=True, seed=cfg.train.seed)


def _draw(dataset, n: int, recorder: Recorder, on_item) -> None:
    epoch, done = 0, 0
    while done < n:
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            if done == n:
                break
            recorder.clear()
            item = dataset[index]
            on_item(item)
            done += 1
        epoch += 1


def _share(counter: Counter, keys, n: int) -> str:
    return "/".join(f"{counter[k] / n:.3f}" for k in keys)


def measure_sbi(prep: Path, n: int) -> dict:
    import albumentations as A

    from laanet.synthesis import sbi as sbi_module

    dataset = _dataset(prep, "paper-sbi")
    synth = dataset.synthesizers["sbi"]
    recorder = Recorder()
    recorder.watch("colour", synth._colour)
    recorder.watch("geometry", synth._geometry)
    recorder.watch("source", synth._source_transform)
    hull_points: list[int] = []
    original_hull = sbi_module.hull_mask

    def hull(points, *args, **kwargs):
        hull_points.append(len(points))
        return original_hull(points, *args, **kwargs)

    sbi_module.hull_mask = hull
    from laanet.synthesis import pipeline as pipeline_module

    framed: list[np.ndarray] = []  # the framed real image, before the post-blend colour
    original_run = pipeline_module.run_seeded

    def run_seeded(pipeline, rng, **data):
        if pipeline is synth._colour:
            framed.append(data["image"])
        return original_run(pipeline, rng, **data)

    pipeline_module.run_seeded = run_seeded
    stats = Counter()
    ops, joint, chosen, scales, down, npos, points = Counter(), Counter(), Counter(), [], Counter(), [], Counter()
    black: dict[str, list[float]] = {}
    npos_by: dict[str, list[int]] = {}

    def on_item(item) -> None:
        colour = recorder.applied["colour"]
        geometry = [type(t).__name__ for t, _ in recorder.applied["geometry"]]
        source = recorder.applied["source"]
        stats["items"] += 1
        stats["redrawn"] += int(item["redraws"][1]) > 0
        ops[len(colour)] += 1
        flip = "HorizontalFlip" in geometry
        one_of = [g for g in geometry if g != "HorizontalFlip"]
        joint[(int(flip), int(bool(one_of)))] += 1
        for name in one_of:
            chosen[name] += 1
        for leaf, params in recorder.applied["geometry"]:
            if isinstance(leaf, A.RandomScale):
                scales.append(float(params["scale"]))
        for leaf, _ in source:
            if isinstance(leaf, A.Downscale):
                down[f"x{round(1 / leaf.scale_range[0])}"] += 1
            elif isinstance(leaf, A.Sharpen):
                down["sharpen"] += 1
        points[hull_points[-1]] += 1
        npos.append(int((item["heatmap"][1] == 1).sum()))
        kind = one_of[0] if one_of else "none"
        black.setdefault(kind, []).append(float((framed[-1] == 0).all(axis=-1).mean()))
        npos_by.setdefault(kind, []).append(npos[-1])

    _draw(dataset, n, recorder, on_item)
    sbi_module.hull_mask = original_hull
    pipeline_module.run_seeded = original_run
    scales = np.array(scales)
    return {
        "SBI samples": n,
        "post-blend colour/JPEG ops per pair, share with 0/1/2/3/4": _share(ops, range(5), n),
        "pairs with no post-blend op": f"{ops[0] / n:.3f}",
        "hflip × (crop/scale/erase) OneOf, share 00/01/10/11": _share(joint, [(0, 0), (0, 1), (1, 0), (1, 1)], n),
        "OneOf choice crop/scale/erase (share of samples)": _share(chosen, ["RandomFractionCrop", "RandomScale", _erase_name(chosen)], n),
        "RandomScale samples with scale > 1": f"{(scales > 1).mean():.3f} (range {scales.min():.3f}-{scales.max():.3f})" if len(scales) else "none",
        "source transform Downscale ×2 / ×4 / Sharpen": _share(down, ["x2", "x4", "sharpen"], n),
        "hull from 68 points (subset or 68 given)": f"{points[68] / n:.3f}",
        "mean npos (vulnerable points per fake)": f"{np.mean(npos):.1f}",
        "mean npos, RandomScale samples": f"{np.mean(npos_by['RandomScale']):.1f}" if "RandomScale" in npos_by else "-",
        "black share of the framed real (before colour), crop / scale / erase samples": "/".join(
            f"{np.mean(black[k]):.3f}" if k in black else "-" for k in ("RandomFractionCrop", "RandomScale", _erase_name(black))
        ),
        "SBI samples with a re-drawn fake": f"{stats['redrawn'] / n:.3f}",
    }


def _erase_name(seen) -> str:
    return "ReferenceErasing" if "ReferenceErasing" in seen else "Erasing"


def measure_bi(prep: Path, n: int) -> dict:
    dataset = _dataset(prep, "paper-bi")
    synth = dataset.synthesizers["bi"]
    recorder = Recorder()
    recorder.watch("background", synth._colour)
    ops, npos = Counter(), []

    def on_item(item) -> None:
        ops[len(recorder.applied["background"])] += 1
        npos.append(int((item["heatmap"][1] == 1).sum()))

    _draw(dataset, n, recorder, on_item)
    return {
        "BI samples": n,
        "BI background colour ops per sample, share with 0/1/2/3/4/5/6": _share(ops, range(7), n),
        "BI samples with no background op": f"{ops[0] / n:.3f}",
        "BI mean npos": f"{np.mean(npos):.1f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prep", type=Path, default=Path("/tmp/laanet-synthesis-distribution"), help="prepared folder (made once)")
    parser.add_argument("--sbi", type=int, default=3000, help="SBI training samples")
    parser.add_argument("--bi", type=int, default=1000, help="BI training samples")
    parser.add_argument("--json", action="store_true", help="one JSON line instead of the table")
    args = parser.parse_args()
    import cv2

    import laanet

    cv2.setNumThreads(1)
    prepare(args.prep)
    start = time.perf_counter()
    rows = {"code": str(Path(laanet.__file__).resolve().parents[2])}
    if args.sbi:
        rows.update(measure_sbi(args.prep, args.sbi))
    if args.bi:
        rows.update(measure_bi(args.prep, args.bi))
    rows["seconds"] = f"{time.perf_counter() - start:.0f}"
    rows["machine"] = f"{platform.processor() or platform.machine()}, python {platform.python_version()}"
    if args.json:
        print(json.dumps(rows))
        return
    width = max(len(k) for k in rows)
    print(f"| {'metric':<{width}} | value |\n|{'-' * (width + 2)}|-------|")
    for key, value in rows.items():
        print(f"| {key:<{width}} | {value} |")


if __name__ == "__main__":
    main()
