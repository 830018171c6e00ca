"""Throughput of ``prepare --ray`` and ``eval --ray`` on a local Ray cluster of 1 and of 2 CPUs.

    python benchmarks/ray_scale.py                       # both jobs, local baseline + Ray with 1 and 2 CPUs
    python benchmarks/ray_scale.py --clips 8 --model cpu-tiny

Each configuration runs in its own process (a fresh ``ray.init(num_cpus=N)``; the cluster start-up is not
timed, the actors' model loading is). prepare: ``--clips`` synthetic 256-px H.264 clips of a face, ``--frames``
frames each, one Ray task per clip on N CPUs (local baseline: ``--workers 0``). eval: the crops that prepare
stored, scored by N actors of 1 CPU each (local baseline: one process with torch's default threads), flip
test on, batch 8, with the paper's model (EfficientNet-B4, 384 px, random weights) or ``--model cpu-tiny``.
Prints one JSON line per configuration: items/s (clips/s and frames/s for prepare, crops/s for eval).
Nothing is downloaded; figures depend on the CPU and on what else runs on it (report both).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_inputs(work: Path, clips: int, frames: int) -> Path:
    from laanet.data.synthetic import make_clip

    root = work / "faces"
    for k in range(clips):
        make_clip(root / ("fake" if k % 2 else "real") / f"clip_{k:03d}.mp4", k, fake=bool(k % 2), frames=frames, size=256)
    return root


def make_weights(work: Path, model: str) -> Path:
    import torch

    from laanet.config import load_config
    from laanet.models.checkpoint import save_model
    from laanet.models.laanet import LAANet

    torch.manual_seed(0)
    cfg = load_config(model).model
    cfg.pretrained = False
    path = work / f"{model}.pt"
    save_model(LAANet(cfg), path)
    return path


def run_config(work: Path, cpus: int, frames: int, with_eval: bool = True) -> dict:
    """One configuration (cpus = 0: local baseline) in this process; returns its figures."""
    from laanet.data.layouts import list_sources
    from laanet.data.prepare import PrepareOptions, prepare_sources
    from laanet.evaluation.evaluate import EvalOptions, LocalScorer, load_items

    items = list_sources("folder", work / "faces")
    prep = work / f"prep-{cpus}"
    options = PrepareOptions(frames=frames, progress=False)
    eval_options = EvalOptions(frames=None, flip_test=True, split=None, batch_size=8, device="cpu")
    weights = next(work.glob("*.pt"))
    if cpus:
        import ray

        from laanet.scale.ray_cluster import RayOptions
        from laanet.scale.ray_eval import RayScorer
        from laanet.scale.ray_prepare import prepare_sources_ray

        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        start = time.perf_counter()
        summary = prepare_sources_ray(items, prep, options, RayOptions("auto", cpus=1))
        prepare_s = time.perf_counter() - start
        crops = load_items([prep], split=None)
        scorer = RayScorer(weights, work / f"eval-{cpus}", RayOptions("auto", actors=cpus, cpus=1))
    else:
        start = time.perf_counter()
        summary = prepare_sources(items, prep, options)
        prepare_s = time.perf_counter() - start
        crops = load_items([prep], split=None)
        scorer = LocalScorer(weights, "cpu")
    figures = {"workers": cpus or "local", "clips": summary.ok, "frames": summary.crops, "prepare_s": round(prepare_s, 2),
               "prepare_clips_per_s": round(summary.ok / prepare_s, 3),
               "prepare_frames_per_s": round(summary.crops / prepare_s, 2), "load_avg_1min": round(os.getloadavg()[0], 1)}
    if not with_eval:
        return figures
    start = time.perf_counter()
    scorer.predict(crops, eval_options, progress=False)
    eval_s = time.perf_counter() - start
    return {**figures, "crops": len(crops), "eval_s": round(eval_s, 2),
            "eval_crops_per_s": round(len(crops) / eval_s, 3), "model": weights.stem,
            "load_avg_1min": round(os.getloadavg()[0], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--frames", type=int, default=8, help="frames per clip (each clip has 2x as many)")
    parser.add_argument("--model", default="paper-sbi", help="preset of the scoring model (paper-sbi or cpu-tiny)")
    parser.add_argument("--configs", default="0,1,2", help="comma list: 0 = local baseline, N = Ray with N CPUs")
    parser.add_argument("--no-eval", action="store_true", help="measure prepare only")
    parser.add_argument("--_one", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--_work", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._one is not None:
        print(json.dumps(run_config(Path(args._work), args._one, args.frames, not args.no_eval)), flush=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_inputs(work, args.clips, 2 * args.frames)
        make_weights(work, args.model)
        for cpus in (int(c) for c in args.configs.split(",")):
            done = subprocess.run([sys.executable, __file__, "--_one", str(cpus), "--_work", str(work),
                                   "--frames", str(args.frames)] + (["--no-eval"] if args.no_eval else []),
                                  capture_output=True, text=True)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            print(lines[-1] if lines else json.dumps({"workers": cpus, "error": done.stderr[-800:]}), flush=True)


if __name__ == "__main__":
    main()
