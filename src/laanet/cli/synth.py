"""``laanet synth``: preview the pseudo-fakes (SBI or BI) and their targets as one grid image."""
from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

HELP = """Draw N pseudo-fake pairs from real faces and save them as a grid image.

--faces is either a prepared folder (with index.jsonl: its real crops and their landmarks are used) or a
folder of face images (faces are detected and cropped with laanet.faces, the largest one per image). Each row
of the grid shows the real face, the pseudo-fake, the blend mask M, the boundary 4M(1-M), the vulnerable-point
heatmap and the self-consistency target. BI needs faces of at least two identities (videos, or images).
--family fakeformer draws FakeFormer's training samples instead: its SBI or BI loader at 112 px (ViT-S/8;
--input-size 224 for FakeSwin) with the 14x14 vulnerable-patch heatmap (no consistency target).
The same --seed gives the same grid. Exit code 1 when the faces cannot be read or no face is found.
"""


class Family(str, Enum):
    laanet = "laanet"
    fakeformer = "fakeformer"


class Method(str, Enum):
    sbi = "sbi"
    bi = "bi"


def synth(
    faces: Path = typer.Option(..., "--faces", help="Prepared folder (index.jsonl) or folder of face images."),
    out: Path = typer.Option(..., "--out", help="Grid image to write (.png or .jpg)."),
    method: Method = typer.Option(Method.sbi, "--method", help="Pseudo-fake type."),
    n: int = typer.Option(8, "--n", min=1, max=256, help="Number of pairs (rows)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    input_size: int = typer.Option(None, "--input-size", min=32,
                                   help="Network input size [default: 384 laanet (targets /4), 112 fakeformer (14x14)]."),
    family: Family = typer.Option(Family.laanet, "--family", help="Whose training samples: LAA-Net's or FakeFormer's."),
) -> None:
    from laanet.faces import FaceError
    from laanet.media import MediaError
    from laanet.synthesis.preview import make_preview
    from laanet.synthesis.sample import SynthesisError

    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        typer.echo(f"error: --out must end in .png or .jpg, got {out.name!r}", err=True)
        raise typer.Exit(2)
    try:
        size = input_size or (112 if family is Family.fakeformer else 384)
        path = make_preview(faces, out, method=method.value, n=n, seed=seed, input_size=size, family=family.value)
    except (FileNotFoundError, ValueError, MediaError, FaceError, SynthesisError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.command("synth", help=HELP)(synth)
