"""A picture of what the network is trained on: one row per pair, six columns.

Columns: real, fake (with hull type and blend ratio), blend mask M, boundary T = 4M(1−M), vulnerable-point
heatmap, self-consistency target. Maps at heatmap size are enlarged with nearest-neighbour so single pixels
stay visible. :func:`make_preview` is the whole of ``laanet synth``: faces in, grid image out.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from laanet.synthesis.sample import SynthesizedPair

__all__ = ["COLUMNS", "make_preview", "render_grid", "save_grid"]

logger = logging.getLogger(__name__)

COLUMNS = ("real", "fake", "mask M", "boundary T", "heatmap", "consistency")
_HEADER = 22  # px of the title row
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _tile(image: np.ndarray, size: int, interpolation: int) -> np.ndarray:
    return cv2.resize(image, (size, size), interpolation=interpolation)


def _gray(values: np.ndarray, size: int) -> np.ndarray:
    """[0, 1] float or uint8 map → size×size×3 uint8 gray."""
    v = values.astype(np.float32)
    if values.dtype == np.uint8:
        v = v / 255.0
    g = np.clip(v * 255.0, 0, 255).astype(np.uint8)
    return np.repeat(_tile(g, size, cv2.INTER_NEAREST)[..., None], 3, axis=2)


def _colour(values: np.ndarray, size: int, colormap: int) -> np.ndarray:
    """[0, 1] float map → size×size×3 uint8 RGB through an OpenCV colormap."""
    g = np.clip(values.astype(np.float32) * 255.0, 0, 255).astype(np.uint8)
    bgr = cv2.applyColorMap(_tile(g, size, cv2.INTER_NEAREST), colormap)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    out = tile.copy()
    cv2.putText(out, text, (4, out.shape[0] - 6), _FONT, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (4, out.shape[0] - 6), _FONT, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _caption(pair: SynthesizedPair) -> str:
    info = pair.info
    parts = [str(info.get("hull", ""))]
    if "blend_ratio" in info:
        parts.append(f"r={info['blend_ratio']:g}")
    if info.get("redraws"):
        parts.append(f"redraws={info['redraws']}")
    return " ".join(p for p in parts if p)


def render_grid(pairs: Sequence[SynthesizedPair], *, tile: int = 160) -> np.ndarray:
    """Grid image, H×W×3 uint8 RGB: a title row, then one row of six tiles per pair."""
    if not pairs:
        raise ValueError("render_grid needs at least one pair")
    rows = []
    header = np.full((_HEADER, tile * len(COLUMNS), 3), 32, np.uint8)
    for j, name in enumerate(COLUMNS):
        cv2.putText(header, name, (j * tile + 6, _HEADER - 7), _FONT, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    rows.append(header)
    for pair in pairs:
        tiles = [
            _tile(pair.real, tile, cv2.INTER_AREA),
            _label(_tile(pair.fake, tile, cv2.INTER_AREA), _caption(pair)),
            _gray(pair.mask, tile),
            _gray(pair.boundary, tile),
            _colour(pair.fake_targets.heatmap[0], tile, cv2.COLORMAP_INFERNO),
            _colour(pair.fake_targets.consistency[0], tile, cv2.COLORMAP_VIRIDIS),
        ]
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


def save_grid(path: str | Path, pairs: Sequence[SynthesizedPair], *, tile: int = 160) -> Path:
    """Render :func:`render_grid` and write it (PNG/JPEG by extension); parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = render_grid(pairs, tile=tile)
    if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise ValueError(f"could not write {path} (unsupported extension {path.suffix!r}?)")
    return path


def _faces_from_index(prep: Path) -> list[tuple]:
    """(image, landmarks, identity) of the real crops of a prepared folder."""
    from laanet.data.index import index_path, read_index
    from laanet.media import read_image

    records = [r for r in read_index(prep) if r.label == 0 and len(r.landmarks) >= 68]
    if not records:
        raise ValueError(f"{index_path(prep)} lists no real face crop with landmarks")
    root = index_path(prep).parent
    return [(read_image(root / r.path), r.landmarks, r.video_id) for r in records]


def _faces_from_folder(folder: Path, limit: int) -> list[tuple]:
    """(crop, landmarks, identity) of the largest face of each image in ``folder`` (non-recursive)."""
    from laanet.faces import FaceAnalyzer, crop_face
    from laanet.media import IMAGE_EXTENSIONS, MediaError, read_image

    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not paths:
        raise FileNotFoundError(f"no image files in {folder}")
    analyzer = FaceAnalyzer()
    faces = []
    for path in paths[:limit]:
        try:
            image = read_image(path)
        except MediaError as err:
            logger.warning("skipping %s: %s", path.name, err)
            continue
        found = analyzer.detect(image)
        if not found:
            logger.warning("no face in %s", path.name)
            continue
        crop = crop_face(image, found[0])
        faces.append((crop.image, crop.landmarks, path.stem))
    if not faces:
        raise ValueError(f"no face found in the {len(paths)} image(s) of {folder}")
    return faces


def make_preview(
    faces_dir: Path, out: Path, *, method: str, n: int, seed: int, input_size: int, family: str = "laanet",
    heatmap_size: int = 14,
) -> Path:
    """Synthesise ``n`` pseudo-fake pairs from the faces of ``faces_dir`` and save their grid to ``out`` (``laanet synth``).

    ``faces_dir`` is a prepared folder (its ``index.jsonl`` real crops and landmarks are used) or a folder of face
    images (the largest face of each is detected and cropped). ``method`` is ``"sbi"`` or ``"bi"`` (BI needs two
    identities); ``family`` ``"laanet"`` (LAA-Net's loaders, targets at ``input_size / 4``) or ``"fakeformer"``
    (FakeFormer's loaders, :mod:`laanet.synthesis.fakeformer_sbi` / :mod:`~laanet.synthesis.fakeformer_bi`, targets
    on the ``heatmap_size``² token grid). Pair ``i`` is drawn with ``numpy.random.default_rng([seed, i])``.
    Returns ``out``.
    """
    import numpy as np

    from laanet.synthesis.bi import BIConfig, BISynthesizer, PartnerIndex, PoolFace
    from laanet.synthesis.sbi import SBIConfig, SBISynthesizer

    if family not in ("laanet", "fakeformer"):
        raise ValueError(f"family must be 'laanet' or 'fakeformer', got {family!r}")
    if (faces_dir / "index.jsonl").is_file() or faces_dir.suffix == ".jsonl":
        faces = _faces_from_index(faces_dir)
    elif faces_dir.is_dir():
        faces = _faces_from_folder(faces_dir, limit=max(64, n))
    else:
        raise FileNotFoundError(f"no such folder or index: {faces_dir}")
    logger.info("%d face(s) from %s", len(faces), faces_dir)
    if method == "sbi":
        if family == "fakeformer":
            from laanet.synthesis.fakeformer_sbi import FakeFormerSBIConfig, FakeFormerSBISynthesizer

            sbi = FakeFormerSBISynthesizer(
                FakeFormerSBIConfig(sbi=SBIConfig(input_size=input_size), heatmap_size=heatmap_size)
            )
        else:
            sbi = SBISynthesizer(SBIConfig(input_size=input_size))

        def synth(image, landmarks, identity, rng):  # noqa: ANN001, ARG001
            return sbi(image, landmarks, rng)
    else:
        pool = PartnerIndex(
            [PoolFace(image=img, landmarks=np.asarray(lm, np.float32)[:68], identity=ident) for img, lm, ident in faces]
        )
        if len(pool.identity_names) < 2:
            raise ValueError("BI needs faces of at least two identities (videos or images); got one")
        if family == "fakeformer":
            from laanet.synthesis.fakeformer_bi import FakeFormerBIConfig, FakeFormerBISynthesizer

            bi_config = BIConfig(input_size=input_size)
            bi = FakeFormerBISynthesizer(pool, FakeFormerBIConfig(bi=bi_config, heatmap_size=heatmap_size))
        else:
            bi = BISynthesizer(pool, BIConfig(input_size=input_size))

        def synth(image, landmarks, identity, rng):  # noqa: ANN001
            return bi(image, landmarks, rng, identity=identity)

    pairs = []
    for i in range(n):
        image, landmarks, identity = faces[i % len(faces)]
        pairs.append(synth(image, np.asarray(landmarks, np.float32), identity, np.random.default_rng([seed, i])))
    path = save_grid(out, pairs)
    redraws = sum(p.redraws for p in pairs)
    logger.info("wrote %s: %d %s %s pair(s), %d re-draw(s)", path, len(pairs), family, method.upper(), redraws)
    return path
