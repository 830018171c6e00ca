"""End-to-end `Detector` time on a 10-s 720p H.264 clip at 32 frames, per model family and backend.

Decode (32 frames, seeking) + face detection + landmarks + crop + the model (flip test on: each batch holds the
faces and their mirrors, one model call) + aggregation; heatmap overlays are not written. Models
(``--models``, names of ``laanet.bench.BENCH_MODELS``): LAA-Net-B4 at 384 px and FakeFormer ViT-S/8 at 112 px by
default. The clip is a slow pan/zoom over a bundled sample photo, made here with PyAV. The model weights are
random: speed does not depend on them. ``--onnx FILE`` times that ONNX file too (e.g. ``laanet export --int8``);
``--int8`` exports and times an int8 file of every model as well.

Besides the wall time, each line has the split of time per stage (``laanet.inference.pipeline.StageTimes``):
decode and faces run in a producer thread while the model runs, so they overlap and add up to more than wall.
The 1-minute load average and the process CPU time (``cpu_s``, all threads) are printed with each line: on a
shared machine the wall figures depend on the load, the CPU time much less.

    .venv/bin/python benchmarks/detect_video.py [--models laanet-b4,fakeformer-vit-s8] [--frames 32]
        [--backends torch,onnx] [--int8] [--onnx m.onnx] [--repeat 2]
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
    parser.add_argument("--models", default="laanet-b4,fakeformer-vit-s8", help="comma list of laanet.bench.BENCH_MODELS")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--backends", default="torch,onnx")
    parser.add_argument("--no-flip-test", action="store_true")
    parser.add_argument("--onnx", default=None, help="also time this .onnx file (backend onnx), e.g. an int8 export")
    parser.add_argument("--int8", action="store_true", help="also export every model to int8 ONNX and time it")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per model and backend (each printed)")
    args = parser.parse_args()

    import torch

    from laanet.assets import sample_path
    from laanet.bench import _model_config
    from laanet.inference.detector import Detector
    from laanet.inference.pipeline import StageTimes
    from laanet.media import read_image, write_video
    from laanet.media.synthetic import pan_zoom_frames
    from laanet.models.checkpoint import save_model
    from laanet.models.family import build_model

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
        clip = tmp / "clip_720p.mp4"
        photo = read_image(sample_path("obama_portrait.jpg"))  # 640×800 portrait, face in the upper third
        head = photo[: photo.shape[1] * 9 // 16]  # 16:9 window over head and shoulders
        t0 = time.perf_counter()
        write_video(clip, pan_zoom_frames(head, size=(1280, 720), num_frames=250, zoom=(1.0, 1.1)), fps=25)
        print(f"made 10-s 720p clip in {time.perf_counter() - t0:.1f} s ({clip.stat().st_size / 1e6:.1f} MB)")
        runs = []
        for name in args.models.split(","):
            cfg = _model_config(name.strip())
            torch.manual_seed(0)
            weights = save_model(build_model(cfg).eval(), tmp / f"{name}.pt")
            runs += [(name, backend, weights) for backend in args.backends.split(",")]
            if args.int8:
                runs.append((name, "onnx", _int8_file(weights, tmp / f"{name}_int8.onnx")))
        runs += [(Path(args.onnx).stem, "onnx", Path(args.onnx))] if args.onnx else []
        for name, backend, model_file in runs:
            det = Detector(model_file, backend=backend, frames=args.frames, flip_test=not args.no_flip_test)
            next(det.detect_many([clip]))  # warm-up (and ONNX export + cache for the onnx backend)
            for _ in range(args.repeat):
                times = StageTimes()
                t0, c0 = time.perf_counter(), time.process_time()
                res = next(det.detect_many([clip], times=times))
                elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
                faces = sum(len(f.faces) for f in res.frames)
                print(json.dumps({
                    "model": name, "family": det.family, "model_name": det.model_name,
                    "backend": backend, "file": model_file.name, "seconds": round(elapsed, 2), "cpu_s": round(cpu, 2), "split_s": times.to_dict(),
                    "load_avg_1min": round(os.getloadavg()[0], 2), "frames": len(res.frames), "faces": faces,
                    "status": res.status, "input_size": det.input_size, "flip_test": not args.no_flip_test,
                    "threads": torch.get_num_threads(), "random_weights": True,
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                }), flush=True)
            del det


def _int8_file(weights: Path, out: Path) -> Path:
    """``laanet export --int8`` of a checkpoint (default calibration: bundled samples + SBI fakes)."""
    from typer.testing import CliRunner

    from laanet.cli import app

    res = CliRunner().invoke(app, ["export", "--weights", str(weights), "--out", str(out), "--int8", "--no-check"])
    if res.exit_code != 0:
        raise SystemExit(f"int8 export of {weights.name} failed: {res.output}")
    return out


if __name__ == "__main__":
    main()
