"""``laanet train``: train LAA-Net on the real faces of a prepared folder (one CPU, one GPU or torchrun)."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

import typer

from laanet.cli._common import fail as _fail

_EPILOG = (
    "Examples:  laanet train --config cpu-tiny --data prep --out runs/tiny --max-steps 3 | "
    "laanet train --config paper-sbi --data prep --out runs/sbi train.lr=1e-4 data.workers=8 | "
    "torchrun --nproc_per_node 4 -m laanet train --config paper-sbi --data prep --out runs/sbi"
)



def register(app: typer.Typer) -> None:
    @app.command(epilog=_EPILOG)
    def train(
        overrides: Optional[list[str]] = typer.Argument(None, help="Config overrides, e.g. train.lr=1e-4 data.workers=4."),
        config: str = typer.Option("paper-sbi", "--config", "-c", help="Preset (cpu-tiny, paper-sbi, paper-bi, fakeformer-vit-s8-sbi, fakeformer-vit-s8-sbi-hm, fakeswin-s-sbi, fakeswin-s-bi) or YAML file."),
        data: Path = typer.Option(..., "--data", "-d", help="Prepared folder (PREP/index.jsonl, from `laanet prepare`)."),
        out: Path = typer.Option(..., "--out", "-o", help="Run folder: last.pt, best.pt, config.yaml, summary.csv, tb/."),
        max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help="Stop after this many optimizer steps in total."),
        epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Number of epochs (sets train.epochs)."),
        save_every: Optional[int] = typer.Option(None, "--save-every", min=1, help="Also write last.pt every K steps."),
        resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last.pt."),
        device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N (torchrun: cuda:LOCAL_RANK)."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    ) -> None:
        """Train LAA-Net from real faces with on-the-fly pseudo-fakes; checkpoints load with `detect --weights`."""
        if os.environ.get("RANK", "0") != "0":
            logging.getLogger().setLevel(logging.WARNING)  # one voice: rank 0 logs at INFO, the others warn only
        from laanet.config import load_config

        extra = list(overrides or [])
        if epochs is not None:
            extra.append(f"train.epochs={epochs}")
        if max_steps is not None:
            extra.append(f"train.max_steps={max_steps}")
        if save_every is not None:
            extra.append(f"train.save_every={save_every}")
        try:
            cfg = load_config(config, extra)
        except ValueError as err:
            raise _fail(str(err), code=2)
        except FileNotFoundError as err:
            raise _fail(str(err), code=2)

        from laanet.media import MediaError
        from laanet.training.checkpoint import CheckpointError, CheckpointWriteError
        from laanet.training.loop import train as run_training

        from tqdm.contrib.logging import logging_redirect_tqdm

        try:
            with logging_redirect_tqdm():  # log lines print above the progress bar instead of through it
                result = run_training(cfg, data_dir=data, out_dir=out, resume=resume, device=device, progress=progress)
        except CheckpointError as err:
            raise _fail(_unusable_checkpoint_message(err, out), code=2)
        except CheckpointWriteError as err:
            raise _fail(str(err), code=2)
        except (FileNotFoundError, FileExistsError, ValueError, FloatingPointError, MediaError) as err:
            raise _fail(str(err))
        except OSError as err:  # e.g. the run folder cannot be written (read-only, full, removed) outside a checkpoint save
            raise _fail(_os_error_message(err, out), code=2)
        if os.environ.get("RANK", "0") == "0":
            best = "n/a" if result.best_metric is None else f"{result.best_metric:.4f}"
            typer.echo(f"done: {result.step} steps, next epoch {result.epoch + 1}, best val AUC {best}; weights: {out / 'last.pt'}")
            if cfg.train.max_steps is not None and result.step < cfg.train.max_steps and result.epoch >= cfg.train.epochs:
                typer.echo(f"note: stopped before --max-steps {cfg.train.max_steps} because all train.epochs="
                           f"{cfg.train.epochs} epochs are done; pass a larger --epochs to run more steps", err=True)


def _os_error_message(err: OSError, out: Path) -> str:
    """What to tell the user about an ``OSError`` that stopped the run (most often: the run folder)."""
    reason = err.strerror or str(err)
    if err.filename and Path(out).resolve() in Path(err.filename).resolve().parents:
        return (f"cannot write to the run folder {out} ({err.filename}): {reason}; "
                f"{out / 'last.pt'} holds the last checkpoint that was saved")
    return f"{err.filename}: {reason}" if err.filename else reason


def _unusable_checkpoint_message(err: Exception, out: Path) -> str:
    """The error for a checkpoint that cannot be resumed from, with what the user can do about it."""
    message = f"cannot resume: {err}"
    best = out / "best.pt"
    if best.is_file() and str(best) not in str(err):
        message += f". {best} holds the state of the best validation so far: copy it to {out / 'last.pt'} to resume from there"
    return message
