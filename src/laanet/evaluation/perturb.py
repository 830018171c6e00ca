"""The DeeperForensics-1.0 perturbations at levels 1-5, for robustness evaluation.

DeeperForensics-1.0 (Jiang et al., CVPR 2020, https://arxiv.org/abs/2001.03024) defines seven distortions with
five severity levels each; the LAA-Net paper reports robustness on them. The parameter tables below are the
dataset's published values; the functions are laanet's own and work on RGB ``uint8`` H×W×3 arrays.

=============  ======  ============================================  ==================================
name           DF-1.0  effect                                        level 1 … 5
=============  ======  ============================================  ==================================
saturation     CS      scale the Cb/Cr chroma around neutral          0.4, 0.3, 0.2, 0.1, 0.0
contrast       CC      multiply all pixel values (then floor)         0.85, 0.725, 0.6, 0.475, 0.35
block          BW      paste N grey (128) 8×8 blocks at random        16, 32, 48, 64, 80 blocks per 256 px
noise          GNC     Gaussian noise of variance v in YCbCr          0.001, 0.002, 0.005, 0.01, 0.05
blur           GB      Gaussian blur, kernel k, σ = k/6               7, 9, 13, 17, 21
pixelation     JPEG*   downscale by f, upscale back (bilinear)        2, 3, 4, 5, 6
compression    VC      H.264 (libx264) at constant rate factor        30, 32, 35, 38, 40
jpeg           –       JPEG at quality q (laanet extra, not DF-1.0)   90, 70, 50, 30, 10
=============  ======  ============================================  ==================================

\\* DeeperForensics' code calls its pixelation function ``jpeg_compression``; papers that follow it list
"pixelation" and "compression" (the H.264 one) among the seven. laanet keeps both under clear names and adds a
true JPEG perturbation as ``jpeg``. Differences from DF-1.0 (see docs/reproduce.md): perturbations are applied to
the stored 256×256 face crop, not to the full frame before detection, and ``compression`` encodes each crop as a
one-frame H.264 stream (an intra frame) instead of re-encoding the whole video.

Random perturbations (``block``, ``noise``) draw from a generator seeded by the caller, so a run is repeatable.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["DF1_PERTURBATIONS", "LEVELS", "PERTURBATIONS", "Perturbation", "apply_perturbations", "parse_perturbation"]

# (parameter per level 1..5, what the parameter means); the tables of the module docstring.
LEVELS: dict[str, tuple[tuple[float, ...], str]] = {
    "saturation": ((0.4, 0.3, 0.2, 0.1, 0.0), "chroma factor"),
    "contrast": ((0.85, 0.725, 0.6, 0.475, 0.35), "intensity factor"),
    "block": ((16, 32, 48, 64, 80), "8x8 blocks per 256 px"),
    "noise": ((0.001, 0.002, 0.005, 0.01, 0.05), "noise variance"),
    "blur": ((7, 9, 13, 17, 21), "kernel size"),
    "pixelation": ((2, 3, 4, 5, 6), "downscale factor"),
    "compression": ((30, 32, 35, 38, 40), "H.264 CRF"),
    "jpeg": ((90, 70, 50, 30, 10), "JPEG quality"),
}
# The seven of DeeperForensics-1.0, in the order the sweep reports them.
DF1_PERTURBATIONS: tuple[str, ...] = ("saturation", "contrast", "block", "noise", "blur", "pixelation", "compression")
_ALIASES = {"cs": "saturation", "cc": "contrast", "bw": "block", "gnc": "noise", "gb": "blur", "pxl": "pixelation",
            "vc": "compression", "block-wise": "block", "blockwise": "block", "gaussian-noise": "noise",
            "gaussian-blur": "blur", "pixelate": "pixelation"}


# --- colour conversions (full-range BT.601 YCbCr in [0, 1], chroma centred on 0.5) -------------------------------

_RGB2YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_YCC2RGB = np.linalg.inv(_RGB2YCC)


def _to_ycc(image: np.ndarray) -> np.ndarray:
    ycc = (image.astype(np.float64) / 255.0) @ _RGB2YCC.T  # H, W, 3
    ycc[..., 1:] += 0.5
    return ycc


def _from_ycc(ycc: np.ndarray) -> np.ndarray:
    ycc = ycc.copy()
    ycc[..., 1:] -= 0.5
    return (ycc @ _YCC2RGB.T) * 255.0  # float, not clipped


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


# --- the perturbations: (image H×W×3 uint8 RGB, parameter, rng) -> image ------------------------------------------

def _saturation(image: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    ycc = _to_ycc(image)
    ycc[..., 1:] = 0.5 + (ycc[..., 1:] - 0.5) * factor
    return _to_uint8(_from_ycc(ycc))


def _contrast(image: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    return np.floor(image.astype(np.float64) * factor).astype(np.uint8)  # DF-1.0 truncates


def _block(image: np.ndarray, count: float, rng: np.random.Generator) -> np.ndarray:
    out = image.copy()
    h, w = out.shape[:2]
    width = 8
    n = int(count) * max(1, min(h, w) // 256)  # DF-1.0 scales the count with the frame size
    if h <= width or w <= width:
        return out
    ys = rng.integers(0, h - width, size=n)
    xs = rng.integers(0, w - width, size=n)
    for y, x in zip(ys, xs):
        out[y : y + width, x : x + width] = 128
    return out


def _noise(image: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    ycc = _to_ycc(image)
    # DF-1.0 adds N(0, v) in studio-range YCbCr ([16, 235] / [16, 240] over 255); in full range that is a
    # standard deviation larger by 255/219 (luma) and 255/224 (chroma).
    std = np.sqrt(variance) * np.array([255.0 / 219.0, 255.0 / 224.0, 255.0 / 224.0])
    ycc += rng.standard_normal(ycc.shape) * std
    return _to_uint8(_from_ycc(ycc))


def _blur(image: np.ndarray, kernel: float, rng: np.random.Generator) -> np.ndarray:
    import cv2

    k = int(kernel)
    return cv2.GaussianBlur(image, (k, k), k / 6.0)


def _pixelation(image: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    f = int(factor)
    small = cv2.resize(image, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _jpeg(image: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def _compression(image: np.ndarray, crf: float, rng: np.random.Generator) -> np.ndarray:
    import av

    h, w = image.shape[:2]
    padded = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")  # yuv420p needs even sizes
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="matroska") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height = padded.shape[1], padded.shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(int(crf)), "preset": "medium"}
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(padded), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    buf.seek(0)
    with av.open(buf, mode="r") as container:
        decoded = next(container.decode(video=0)).to_ndarray(format="rgb24")
    return decoded[:h, :w].copy()


PERTURBATIONS: dict[str, Callable[[np.ndarray, float, np.random.Generator], np.ndarray]] = {
    "saturation": _saturation,
    "contrast": _contrast,
    "block": _block,
    "noise": _noise,
    "blur": _blur,
    "pixelation": _pixelation,
    "compression": _compression,
    "jpeg": _jpeg,
}


@dataclass(frozen=True)
class Perturbation:
    """One perturbation at one level (1 = mildest, 5 = strongest)."""

    name: str
    level: int

    def __post_init__(self) -> None:
        if self.name not in PERTURBATIONS:
            raise ValueError(f"unknown perturbation {self.name!r}; choose from {', '.join(PERTURBATIONS)}")
        if not 1 <= self.level <= 5:
            raise ValueError(f"perturbation level must be 1-5, got {self.level} for {self.name!r}")

    @property
    def parameter(self) -> float:
        return LEVELS[self.name][0][self.level - 1]

    def __str__(self) -> str:
        return f"{self.name}:{self.level}"

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Perturb an RGB uint8 H×W×3 image; returns a new array of the same shape."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an H×W×3 uint8 image, got {image.dtype} {image.shape}")
        return PERTURBATIONS[self.name](image, self.parameter, rng if rng is not None else np.random.default_rng(0))


def parse_perturbation(text: str) -> Perturbation:
    """``"blur:3"`` (or a DF-1.0 code such as ``"GB:3"``) → ``Perturbation("blur", 3)``."""
    name, sep, level = text.partition(":")
    if not sep or not level.strip().isdigit():
        raise ValueError(f"perturbation {text!r} must look like NAME:LEVEL, e.g. blur:3 (names: {', '.join(PERTURBATIONS)})")
    key = name.strip().lower()
    return Perturbation(_ALIASES.get(key, key), int(level))


def apply_perturbations(image: np.ndarray, perturbations: tuple[Perturbation, ...] | list[Perturbation], seed: int = 0) -> np.ndarray:
    """Apply ``perturbations`` in order (a composed distortion); ``seed`` fixes the random ones."""
    rng = np.random.default_rng(seed)
    for p in perturbations:
        image = p(image, rng)
    return image
