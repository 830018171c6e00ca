"""End-to-end `Detector` time on a 10-s 720p H.264 clip at 32 frames, torch vs ONNX Runtime backends.

Decode (32 frames, seeking) + face detection + landmarks + crop + LAA-Net (paper B4 at 384 px, flip test on)
+ aggregation; heatmap overlays are not written. The clip is a slow pan/zoom over a bundled sample photo,
made here with PyAV. The model weights are random: speed does not depend on them.

    .venv/bin/python benchmarks/detect_video.py [--config paper-sbi] [--frames 32] [--backends torch,onnx]
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
    args = parser.parse_args()

    import torch

    from laanet.assets import sample_path
    from laanet.config import load_config
    from laanet.inference.detector import Detector
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
        for backend in args.backends.split(","):
            det = Detector(weights, backend=backend, frames=args.frames, flip_test=not args.no_flip_test)
            det.detect(clip)  # warm-up (and ONNX export + cache for the onnx backend)
            t0 = time.perf_counter()
            res = det.detect(clip)
            elapsed = time.perf_counter() - t0
            faces = sum(len(f.faces) for f in res.frames)
            print(json.dumps({
                "backend": backend, "seconds": round(elapsed, 2), "frames": len(res.frames), "faces": faces,
                "status": res.status, "input_size": cfg.input_size, "flip_test": not args.no_flip_test,
                "threads": torch.get_num_threads(),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }))


if __name__ == "__main__":
    main()
