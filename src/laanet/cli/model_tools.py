"""``laanet convert``, ``laanet export``, ``laanet bench``, ``laanet info``: commands about model files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from laanet.cli._common import fail as _fail
from laanet.cli._options import RequiredWeightsOption, Sha256Option, resolve_weights_option



def convert(
    official: str = typer.Argument(
        ..., metavar="OFFICIAL", help="Official LAA-Net or FakeFormer/FakeSwin checkpoint ({'epoch', 'state_dict'}, {'model'} or a "
        "bare state dict, .pth): a path, an https:// URL or hf://OWNER/REPO/FILE[@REVISION]."
    ),
    out: Path = typer.Argument(..., help="Where to write the laanet checkpoint (.pt)."),
) -> None:
    """Convert an authors' checkpoint (LAA-Net or FakeFormer) into a laanet checkpoint (float32, family and config inside)."""
    from laanet.models.checkpoint import CheckpointError, convert_official

    try:
        path = convert_official(resolve_weights_option(official, None), out)
    except (FileNotFoundError, CheckpointError) as err:
        raise _fail(str(err), code=2) from None
    typer.echo(f"wrote {path}")

def export(
    weights: RequiredWeightsOption,
    out: Path = typer.Option(..., "--out", "-o", help="Output .onnx file."),
    sha256: Sha256Option = None,
    opset: int = typer.Option(17, "--opset", help="ONNX opset version."),
    check: bool = typer.Option(True, "--check/--no-check", help="Compare ONNX Runtime with eager on one batch."),
    int8: bool = typer.Option(
        False, "--int8", help="Quantise to int8 (static, calibrated on face crops; outputs 'cls' and 'heatmap' only)."
    ),
    calibration: Optional[list[Path]] = typer.Option(
        None, "--calibration", help="--int8: images/videos/folders of faces to calibrate on (default: bundled samples + SBI fakes)."
    ),
    calibration_views: int = typer.Option(4, "--calibration-views", min=1, help="--int8 on the bundled samples: views per photo."),
) -> None:
    """Export to ONNX: input 'input' (B×3×S×S, the model's normalisation); outputs the model's heads among 'cls',
    'heatmap', 'consistency'; dynamic batch; family and preprocessing in the metadata."""
    import torch

    from laanet.export.onnx import OnnxModel, export_onnx
    from laanet.models.checkpoint import CheckpointError, load_model

    try:
        model = load_model(resolve_weights_option(weights, sha256))
    except (FileNotFoundError, CheckpointError) as err:
        raise _fail(str(err), code=2) from None
    size = model.preprocess.input_size
    if int8:
        from laanet.export.calibration import CalibrationError, calibration_inputs
        from laanet.export.quantize import export_int8

        try:
            faces = calibration_inputs(model.preprocess, calibration, views=calibration_views)
        except CalibrationError as err:
            raise _fail(str(err), code=2) from None
        typer.echo(f"calibrating on {len(faces)} face crops")
        note = "bundled samples + SBI fakes" if not calibration else ", ".join(map(str, calibration))
        path = export_int8(model, out, faces, opset=opset, note=note)
        x = torch.from_numpy(faces[: min(len(faces), 8)])
    else:
        path = export_onnx(model, out, opset=opset)
        x = torch.randn(2, 3, size, size)
    typer.echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MB; {model.family}, {size} px)")
    if check:
        with torch.no_grad():
            ref = model(x)
        got = OnnxModel(path)(x)
        if int8:
            diff = (torch.sigmoid(ref.cls) - torch.sigmoid(got.cls)).abs().max().item()
            typer.echo(f"max |P(fake) int8 - eager float32| on {len(x)} calibration faces: {diff:.3f}")
        else:
            diff = max((a - b).abs().max().item() for a, b in zip(ref, got) if a is not None and b is not None)
            typer.echo(f"max |onnx - eager| on a random batch: {diff:.2e}")

def bench(
    weights: Optional[str] = typer.Option(None, "--weights", "-w", metavar="PATH|URL", help="Checkpoint (default: random paper model)."),
    config: str = typer.Option("paper-sbi", "--config", help="Preset for the random model when no --weights."),
    models: Optional[str] = typer.Option(
        None, "--models", help="Comma list of models to time side by side, random weights: laanet-b4, fakeformer-vit-s8, "
                               "fakeswin-s (laanet-tiny, fakeformer-tiny: smoke tests). Replaces --weights/--config."),
    backends: str = typer.Option("torch,onnx", "--backends", help="Comma list of: torch, torch-cl, torch-bf16, onnx, onnx-int8."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Face crops per forward pass."),
    batch: Optional[int] = typer.Option(None, "--batch", min=1, hidden=True, help="Deprecated name of --batch-size."),
    warmup: int = typer.Option(2, "--warmup", min=0),
    runs: int = typer.Option(5, "--runs", min=1),
    force: bool = typer.Option(False, "--force", help="Also run backends this CPU would only emulate (e.g. bf16)."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines: the CPU first, then one per model and backend, then the side-by-side summary."),
) -> None:
    """Time the full model on random input per model and backend (warm-up, then median of --runs); faces/s, CPU time, peak RSS.

    Prints the CPU's relevant flags first; backends whose arithmetic the CPU lacks (bf16 without
    avx512_bf16/AMX) are skipped with a note unless --force. Each model × backend runs in its own process
    (peak RSS is its own). With --models, a side-by-side table of faces/s per backend ends the output, with
    each model's ratio to the first: `laanet bench --models laanet-b4,fakeformer-vit-s8 --backends torch,onnx,onnx-int8`.
    """
    from laanet.bench import BACKENDS, BENCH_MODELS, cpu_info, run_isolated, side_by_side, skip_reason

    names = [b.strip() for b in backends.split(",") if b.strip()]
    bad = [b for b in names if b not in BACKENDS]
    if bad:
        raise _fail(f"unknown backend(s) {', '.join(bad)}; choose from {', '.join(BACKENDS)}", code=2)
    model_names = [m.strip() for m in (models or "").split(",") if m.strip()]
    bad = [m for m in model_names if m not in BENCH_MODELS]
    if bad:
        raise _fail(f"unknown model(s) {', '.join(bad)}; choose from {', '.join(BENCH_MODELS)}", code=2)
    if model_names and weights:
        raise _fail("--models times random weights; use --weights alone to time a checkpoint", code=2)
    if batch is not None:
        typer.echo("warning: --batch is deprecated; use --batch-size", err=True)
        batch_size = batch
    weights_path = resolve_weights_option(weights, None)
    cpu = cpu_info()
    if as_json:
        typer.echo(json.dumps({"cpu": {"model": cpu.model, "cores": cpu.cores, "flags": cpu.relevant_flags(),
                                       "native_bf16": cpu.native_bf16, "int8_dot": cpu.int8_dot,
                                       "onednn_max_isa": cpu.onednn_max_isa}}))
    else:
        typer.echo(cpu.describe())
        if not weights_path:
            typer.echo("random weights: speed does not depend on them (accuracy is not measured here)")
    results = []
    for model in model_names or [None]:
        for name in names:
            label = f"{model + ' ' if model else ''}{name}"
            reason = None if force else skip_reason(name, cpu)
            if reason:
                typer.echo(json.dumps({"backend": name, "model": model, "skipped": reason}) if as_json
                           else f"{label:>28}: skipped: {reason}")
                continue
            try:
                res = run_isolated(
                    name, weights=str(weights_path) if weights_path else None, config=config, batch=batch_size,
                    warmup=warmup, runs=runs, model=model,
                )
            except RuntimeError as err:
                raise _fail(str(err))
            results.append(res)
            if as_json:
                typer.echo(json.dumps(res.__dict__))
            else:
                typer.echo(
                    f"{label:>28}: {res.faces_per_s:7.2f} faces/s  median {res.median_s:.3f} s/batch of {res.batch} "
                    f"@{res.input_size}px  CPU {res.cpu_s:.2f} s/batch  peak RSS {res.peak_rss_mb:.0f} MB  threads {res.threads}  "
                    f"load {res.load_before:.1f}→{res.load_after:.1f}"
                )
    if len(model_names) > 1 and results:
        table = side_by_side(results)
        if as_json:
            typer.echo(json.dumps({"faces_per_s": table}))
        else:
            columns = list(dict.fromkeys(k for row in table.values() for k in row))
            typer.echo("faces/s side by side (same backend, same process settings):")
            typer.echo(f"{'backend':>10}  " + "  ".join(f"{c:>{max(len(c), 8)}}" for c in columns))
            for backend, row in table.items():
                cells = [(f"{row[c]:.2f}" + ("×" if " / " in c else "")) if c in row else "—" for c in columns]
                typer.echo(f"{backend:>10}  " + "  ".join(f"{v:>{max(len(c), 8)}}" for v, c in zip(cells, columns)))

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
