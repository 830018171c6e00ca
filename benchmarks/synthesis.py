"""Pseudo-fake throughput of one worker process: (real, fake) pairs per second, targets included.

Each pair is what a training ``Dataset.__getitem__`` does after reading the crop: synthesis at the crop size
(256 px), margin crop, joint geometry, framing to the network input, colour, heatmap/consistency targets, and
``to_arrays()`` (float32 CHW in [-1, 1]). OpenCV runs single-threaded (``cv2.setNumThreads(1)``), as in a
DataLoader worker, so the number is per core::

    python benchmarks/synthesis.py                       # SBI and BI at the paper's 384-px input
    python benchmarks/synthesis.py --input-size 128      # cpu-tiny
    python benchmarks/synthesis.py --method sbi --pairs 400
    python benchmarks/synthesis.py --family fakeformer   # FakeFormer: SBI pairs at 112 px, BI single images at 224

With ``--family fakeformer`` the BI rows are single images as the official FakeFormer BI loader gives them (a fake
with p 0.5, else the real face alone; ``pairs`` then counts images).

Faces: the photos bundled in ``laanet/assets/samples`` (cropped with laanet.faces; not timed).
Prints one JSON line per method.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "laanet" / "assets" / "samples"


def load_faces() -> list[tuple[np.ndarray, np.ndarray, str]]:
    from laanet.faces import FaceAnalyzer, crop_face
    from laanet.media import read_image

    analyzer = FaceAnalyzer("dlib")
    faces = []
    for path in sorted(SAMPLES.glob("*.jpg")):
        image = read_image(path)
        found = analyzer.detect(image)
        if found:
            crop = crop_face(image, found[0])
            faces.append((crop.image, crop.landmarks, path.stem))
    return faces


def bench(synth, faces, pairs: int, warmup: int, *, bi: bool, single: bool = False) -> dict:
    def one(i: int):
        image, lm, ident = faces[i % len(faces)]
        rng = np.random.default_rng([0, i])
        if single:
            pair = synth.single(image, lm, rng, fake=bool(i % 2), identity=ident)
        else:
            pair = synth(image, lm, rng, identity=ident) if bi else synth(image, lm, rng)
        return pair, pair.to_arrays()

    for i in range(warmup):
        one(i)
    times, redraws = [], 0
    for i in range(pairs):
        t0 = time.perf_counter()
        pair, _ = one(warmup + i)
        times.append(time.perf_counter() - t0)
        redraws += pair.redraws
    t = np.array(times)
    return {
        "pairs": pairs,
        "pairs_per_s": round(pairs / t.sum(), 1),
        "ms_per_pair_mean": round(1e3 * t.mean(), 2),
        "ms_per_pair_p50": round(1e3 * float(np.median(t)), 2),
        "ms_per_pair_p95": round(1e3 * float(np.percentile(t, 95)), 2),
        "redraws": redraws,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=["sbi", "bi", "both"], default="both")
    parser.add_argument("--input-size", type=int, default=None, help="default: 384 (laanet), 112 SBI / 224 BI (fakeformer)")
    parser.add_argument("--family", choices=["laanet", "fakeformer"], default="laanet")
    parser.add_argument("--pairs", type=int, default=200, help="timed pairs per method")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="cv2.setNumThreads (1 = one DataLoader worker)")
    args = parser.parse_args()

    import cv2

    cv2.setNumThreads(args.threads)
    from laanet.bench import cpu_info
    from laanet.synthesis.bi import BIConfig, BISynthesizer, PartnerIndex, PoolFace
    from laanet.synthesis.fakeformer_bi import FakeFormerBIConfig, FakeFormerBISynthesizer
    from laanet.synthesis.fakeformer_sbi import FakeFormerSBIConfig, FakeFormerSBISynthesizer
    from laanet.synthesis.sbi import SBIConfig, SBISynthesizer

    faces = load_faces()
    fakeformer = args.family == "fakeformer"
    common = {"family": args.family, "crop": int(faces[0][0].shape[0]), "faces": len(faces),
              "cv2_threads": args.threads, "cpu": platform.processor() or platform.machine(), "cpu_flags": cpu_info().relevant_flags()}
    if args.method in ("sbi", "both"):
        size = args.input_size or (112 if fakeformer else 384)
        if fakeformer:
            synth = FakeFormerSBISynthesizer(FakeFormerSBIConfig(sbi=SBIConfig(input_size=size), heatmap_size=14))
        else:
            synth = SBISynthesizer(SBIConfig(input_size=size))
        sizes = {"input_size": size, "heatmap_size": 14 if fakeformer else size // 4}
        print(json.dumps({"method": "sbi", **sizes, **common, **bench(synth, faces, args.pairs, args.warmup, bi=False)}))
    if args.method in ("bi", "both"):
        size = args.input_size or (224 if fakeformer else 384)
        pool = PartnerIndex([PoolFace(img, lm, ident) for img, lm, ident in faces])
        if fakeformer:
            config = FakeFormerBIConfig(bi=BIConfig(input_size=size), heatmap_size=14)
            synth = FakeFormerBISynthesizer(pool, config)
        else:
            synth = BISynthesizer(pool, BIConfig(input_size=size))
        sizes = {"input_size": size, "heatmap_size": 14 if fakeformer else size // 4}
        row = bench(synth, faces, args.pairs, args.warmup, bi=True, single=fakeformer)
        print(json.dumps({"method": "bi-single" if fakeformer else "bi", **sizes, **common, **row}))


if __name__ == "__main__":
    main()
