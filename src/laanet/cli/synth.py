"""``laanet synth``: preview the pseudo-fakes (SBI or BI) and their targets as one grid image."""
from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path

import typer

logger = logging.getLogger(__name__)

HELP = """Draw N pseudo-fake pairs from real faces and save them as a grid image.

--faces is either a prepared folder (with index.jsonl: its real crops and their landmarks are used) or a
folder of face images (faces are detected and cropped with laanet.faces, the largest one per image). Each row
of the grid shows the real face, the pseudo-fake, the blend mask M, the boundary 4M(1-M), the vulnerable-point
heatmap and the self-consistency target. BI needs faces of at least two identities (videos, or images).
The same --seed gives the same grid. Exit code 1 when the faces cannot be read or no face is found.
"""


class Method(str, Enum):
    sbi = "sbi"
    bi = "bi"


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


def make_preview(faces_dir: Path, out: Path, *, method: str, n: int, seed: int, input_size: int) -> Path:
    """Library entry point of the command: synthesise ``n`` pairs and save the grid; returns ``out``."""
    import numpy as np

    from laanet.synthesis.bi import BIConfig, BISynthesizer, PartnerIndex, PoolFace
    from laanet.synthesis.preview import save_grid
    from laanet.synthesis.sbi import SBIConfig, SBISynthesizer

    if (faces_dir / "index.jsonl").is_file() or faces_dir.suffix == ".jsonl":
        faces = _faces_from_index(faces_dir)
    elif faces_dir.is_dir():
        faces = _faces_from_folder(faces_dir, limit=max(64, n))
    else:
        raise FileNotFoundError(f"no such folder or index: {faces_dir}")
    logger.info("%d face(s) from %s", len(faces), faces_dir)
    if method == "sbi":
        sbi = SBISynthesizer(SBIConfig(input_size=input_size))

        def synth(image, landmarks, identity, rng):  # noqa: ANN001, ARG001
            return sbi(image, landmarks, rng)
    else:
        pool = PartnerIndex(
            [PoolFace(image=img, landmarks=np.asarray(lm, np.float32)[:68], identity=ident) for img, lm, ident in faces]
        )
        if len(pool.identity_names) < 2:
            raise ValueError("BI needs faces of at least two identities (videos or images); got one")
        bi = BISynthesizer(pool, BIConfig(input_size=input_size))

        def synth(image, landmarks, identity, rng):  # noqa: ANN001
            return bi(image, landmarks, rng, identity=identity)

    pairs = []
    for i in range(n):
        image, landmarks, identity = faces[i % len(faces)]
        pairs.append(synth(image, np.asarray(landmarks, np.float32), identity, np.random.default_rng([seed, i])))
    path = save_grid(out, pairs)
    redraws = sum(p.redraws for p in pairs)
    logger.info("wrote %s: %d %s pair(s), %d re-draw(s)", path, len(pairs), method.upper(), redraws)
    return path


def register(app: typer.Typer) -> None:
    @app.command("synth", help=HELP)
    def synth(
        faces: Path = typer.Option(..., "--faces", help="Prepared folder (index.jsonl) or folder of face images."),
        out: Path = typer.Option(..., "--out", help="Grid image to write (.png or .jpg)."),
        method: Method = typer.Option(Method.sbi, "--method", help="Pseudo-fake type."),
        n: int = typer.Option(8, "--n", min=1, max=256, help="Number of pairs (rows)."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        input_size: int = typer.Option(384, "--input-size", min=32, help="Network input size (targets: /4)."),
    ) -> None:
        from laanet.faces import FaceError
        from laanet.media import MediaError
        from laanet.synthesis.sample import SynthesisError

        if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            typer.echo(f"error: --out must end in .png or .jpg, got {out.name!r}", err=True)
            raise typer.Exit(2)
        try:
            path = make_preview(faces, out, method=method.value, n=n, seed=seed, input_size=input_size)
        except (FileNotFoundError, ValueError, MediaError, FaceError, SynthesisError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from None
        typer.echo(str(path))
