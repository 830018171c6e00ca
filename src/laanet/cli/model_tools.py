"""``laanet convert``, ``laanet export``, ``laanet bench``, ``laanet info``: commands about model files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from laanet.cli._common import fail as _fail
from laanet.cli._options import RequiredWeightsOption, Sha256Option, resolve_weights_option



def convert(
    official: Path = typer.Argument(..., help="Official LAA-Net checkpoint ({'epoch', 'state_dict'}, .pth)."),
    out: Path = typer.Argument(..., help="Where to write the laanet checkpoint (.pt)."),
) -> None:
    """Convert an authors' checkpoint into a laanet checkpoint (float32, config inside)."""
    from laanet.models.checkpoint import CheckpointError, convert_official

    try:
        path = convert_official(official, out)
    except (FileNotFoundError, CheckpointError) as err:
        raise _fail(str(err), code=2) from None
    typer.echo(f"wrote {path}")

def export(
    weights: RequiredWeightsOption,
    out: Path = typer.Option(..., "--out", "-o", help="Output .onnx file."),
    sha256: Sha256Option = None,
    opset: int = typer.Option(17, "--opset", help="ONNX opset version."),
    check: bool = typer.Option(True, "--check/--no-check", help="Compare ONNX Runtime with eager on one batch."),
) -> None:
    """Export to ONNX: input 'input' (B×3×S×S in [-1, 1]); outputs 'cls', 'heatmap', 'consistency'; dynamic batch."""
    import torch

    from laanet.export.onnx import OnnxLAANet, export_onnx
    from laanet.models.checkpoint import CheckpointError, load_model

    try:
        model = load_model(resolve_weights_option(weights, sha256))
    except (FileNotFoundError, CheckpointError) as err:
        raise _fail(str(err), code=2) from None
    path = export_onnx(model, out, opset=opset)
    typer.echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MB)")
    if check:
        size = model.cfg.input_size
        x = torch.rand(2, 3, size, size) * 2 - 1
        with torch.no_grad():
            ref = model(x)
        got = OnnxLAANet(path)(x)
        diff = max((a - b).abs().max().item() for a, b in zip(ref, got) if a is not None)
        typer.echo(f"max |onnx - eager| on a random batch: {diff:.2e}")

def bench(
    weights: Optional[str] = typer.Option(None, "--weights", "-w", metavar="PATH|URL", help="Checkpoint (default: random paper model)."),
    config: str = typer.Option("paper-sbi", "--config", help="Preset for the random model when no --weights."),
    backends: str = typer.Option("torch,onnx", "--backends", help="Comma list of: torch, torch-cl, torch-bf16, onnx."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Face crops per forward pass."),
    batch: Optional[int] = typer.Option(None, "--batch", min=1, hidden=True, help="Deprecated name of --batch-size."),
    warmup: int = typer.Option(2, "--warmup", min=0),
    runs: int = typer.Option(5, "--runs", min=1),
    as_json: bool = typer.Option(False, "--json", help="One JSON line per backend."),
) -> None:
    """Time the full model on random input per backend (warm-up, then median of --runs); faces/s and peak RSS."""
    from laanet.bench import BACKENDS, run_isolated

    names = [b.strip() for b in backends.split(",") if b.strip()]
    bad = [b for b in names if b not in BACKENDS]
    if bad:
        raise _fail(f"unknown backend(s) {', '.join(bad)}; choose from {', '.join(BACKENDS)}", code=2)
    if batch is not None:
        typer.echo("warning: --batch is deprecated; use --batch-size", err=True)
        batch_size = batch
    weights_path = resolve_weights_option(weights, None)
    for name in names:
        try:
            res = run_isolated(
                name, weights=str(weights_path) if weights_path else None, config=config, batch=batch_size, warmup=warmup, runs=runs
            )
        except RuntimeError as err:
            raise _fail(str(err))
        if as_json:
            typer.echo(json.dumps(res.__dict__))
        else:
            typer.echo(
                f"{res.backend:>10}: {res.faces_per_s:7.2f} faces/s  median {res.median_s:.3f} s/batch of {res.batch} "
                f"@{res.input_size}px  peak RSS {res.peak_rss_mb:.0f} MB  threads {res.threads}"
            )

def info(weights: str = typer.Argument(..., metavar="WEIGHTS", help="laanet or official checkpoint (path or https:// URL).")) -> None:
    """Print what a weights file holds: format, config, parameter count, metadata."""
    from laanet.models.checkpoint import CheckpointError, load_model
    from laanet.models.laanet import count_parameters

    try:
        model = load_model(resolve_weights_option(weights, None))
    except (FileNotFoundError, CheckpointError) as err:
        raise _fail(str(err), code=2) from None
    typer.echo(json.dumps({**model.meta, "parameters": count_parameters(model)}, indent=2, default=str))


def register(app: typer.Typer) -> None:
    app.command()(convert)
    app.command()(export)
    app.command()(bench)
    app.command()(info)
