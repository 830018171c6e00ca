"""End-to-end `Detector` time on a 10-s 720p H.264 clip at 32 frames, torch vs ONNX Runtime backends.

Decode (32 frames, seeking) + face detection + landmarks + crop + LAA-Net (paper B4 at 384 px, flip test on:
each batch holds the faces and their mirrors, one model call) + aggregation; heatmap overlays are not written.
The clip is a slow pan/zoom over a bundled sample photo, made here with PyAV. The model weights are random:
speed does not depend on them. ``--onnx FILE`` times that ONNX file too (e.g. ``laanet export --int8``).

Besides the wall time, each line has the split of time per stage (``laanet.inference.pipeline.StageTimes``):
decode and faces run in a producer thread while the model runs, so they overlap and add up to more than wall.
The 1-minute load average is printed with each line: on a shared machine the figures depend on it.

    .venv/bin/python benchmarks/detect_video.py [--config paper-sbi] [--frames 32] [--backends torch,onnx] [--onnx m.onnx]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="paper-sbi")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--backends", default="torch,onnx")
    parser.add_argument("--no-flip-test", action="store_true")
    parser.add_argument("--onnx", default=None, help="also time this .onnx file (backend onnx), e.g. an int8 export")
    args = parser.parse_args()

    import torch

    from laanet.assets import sample_path
    from laanet.config import load_config
    from laanet.inference.detector import Detector
    from laanet.inference.pipeline import StageTimes
    from laanet.media import read_image, write_video
    from laanet.media.synthetic import pan_zoom_frames
    from laanet.models.checkpoint import save_model
    from laanet.models.laanet import LAANet

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
        clip = tmp / "clip_720p.mp4"
        photo = read_image(sample_path("obama_portrait.jpg"))  # 640×800 portrait, face in the upper third
        head = photo[: photo.shape[1] * 9 // 16]  # 16:9 window over head and shoulders
        t0 = time.perf_counter()
        write_video(clip, pan_zoom_frames(head, size=(1280, 720), num_frames=250, zoom=(1.0, 1.1)), fps=25)
        print(f"made 10-s 720p clip in {time.perf_counter() - t0:.1f} s ({clip.stat().st_size / 1e6:.1f} MB)")
        cfg = load_config(args.config, ["model.pretrained=false"]).model
        torch.manual_seed(0)
        weights = save_model(LAANet(cfg), tmp / "model.pt")
        runs = [(backend, weights) for backend in args.backends.split(",")]
        runs += [("onnx", Path(args.onnx))] if args.onnx else []
        for backend, model_file in runs:
            det = Detector(model_file, backend=backend, frames=args.frames, flip_test=not args.no_flip_test)
            next(det.detect_many([clip]))  # warm-up (and ONNX export + cache for the onnx backend)
            times = StageTimes()
            t0 = time.perf_counter()
            res = next(det.detect_many([clip], times=times))
            elapsed = time.perf_counter() - t0
            faces = sum(len(f.faces) for f in res.frames)
            print(json.dumps({
                "backend": backend, "model": model_file.name, "seconds": round(elapsed, 2), "split_s": times.to_dict(),
                "load_avg_1min": round(os.getloadavg()[0], 2), "frames": len(res.frames), "faces": faces,
                "status": res.status, "input_size": cfg.input_size, "flip_test": not args.no_flip_test,
                "threads": torch.get_num_threads(),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }))


if __name__ == "__main__":
    main()
