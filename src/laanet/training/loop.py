"""The training loop of both model families, top to bottom (the recipe of the official ``scripts/train.py`` of
LAA-Net and of FakeFormer; ``model.family`` in the config picks the model, its data pipeline and heatmap grid).

One process (CPU or one GPU)::

    laanet train --config paper-sbi --data PREP --out runs/sbi

Many GPUs on one machine (one process per GPU, DistributedDataParallel, ``train.batch_size`` pairs, or images with ``data.bi_single_images``, per GPU)::

    torchrun --nproc_per_node 4 -m laanet train --config paper-sbi --data PREP --out runs/sbi

:func:`train` runs: distributed init → seed → device and autocast → model → data → optimizer → resume →
for each epoch {``train_one_epoch``, ``evaluate``, checkpoint} → teardown (the step/epoch/evaluation functions
live in :mod:`laanet.training.engine`).

Reproducibility: every random draw of the data pipeline is a pure function of ``(seed, epoch, item)`` (see
:mod:`laanet.training.dataset`); shuffling and loader workers use generators seeded by ``(seed, epoch)``; the
global RNGs (dropout, drop-path) are saved in each checkpoint. So ``--resume`` continues exactly where a run
stopped, even from a mid-epoch checkpoint (``--save-every K``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import csv
import logging
import math
import random
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler
from torch.utils.data.distributed import DistributedSampler

from laanet.config import RunConfig, config_from_dict
from laanet.training import distributed as dist_utils
from laanet.training.checkpoint import capture_rng, copy_atomic, load_checkpoint, restore_rng, save_checkpoint
from laanet.training.checkpoint import remove_stale_temporaries
from laanet.training.engine import (
    backbone_trainable_at,
    build_optimizer,
    evaluate,
    format_terms,
    is_improvement,
    set_backbone_trainable,
    train_one_epoch,
)
from laanet.training.workers import busy_machine_hint, describe_threads, limit_worker_threads
from laanet.training.schedule import lr_at

__all__ = ["TrainResult", "train", "resolve_device", "autocast_context"]

log = logging.getLogger(__name__)

LAST, BEST = "last.pt", "best.pt"


@dataclass
class TrainResult:
    """What a finished (or stopped) run did; also written to ``OUT/summary.csv`` and TensorBoard."""

    out_dir: Path
    epoch: int  # next epoch to run
    step: int  # global optimizer steps done
    best_metric: float | None  # validation AUC of best.pt
    history: list[dict[str, float]] = field(default_factory=list)  # one row per optimizer step of this call
    epochs: list[dict[str, float]] = field(default_factory=list)  # one row per validation of this call


# ----------------------------------------------------------------------------------------------------------------
# small helpers


def resolve_device(name: str | None) -> torch.device:
    """``None``/"auto" → CUDA when available, else CPU; otherwise ``torch.device(name)`` (checked)."""
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r}: training supports cpu and cuda only")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def autocast_context(device: torch.device, amp: str) -> Callable[[], contextlib.AbstractContextManager]:
    """A factory of the autocast context: bf16/fp16 on CUDA, nothing (float32) otherwise."""
    if amp == "none":
        return contextlib.nullcontext
    if device.type != "cuda":
        log.warning("train.amp=%s ignored on %s: mixed precision is used on CUDA only; training in float32", amp, device)
        return contextlib.nullcontext
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    return lambda: torch.autocast(device_type="cuda", dtype=dtype)


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around ``model`` when running with several processes, else ``model`` itself.

    Called again whenever the set of trainable parameters changes (backbone unfreezing): DDP registers its
    gradient hooks for the parameters that require grad at construction time.
    """
    if dist_utils.world_size() == 1:
        return model
    # Depthwise conv weights (C×1×k×k) get gradients whose stride on the size-1 dim differs from the weight's;
    # the memory layout is the same, so DDP's "grad strides do not match bucket view strides" warning is noise.
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


class SkipSampler(Sampler[int]):
    """The indices of ``sampler`` after the first ``skip`` (to continue an epoch from a mid-epoch checkpoint)."""

    def __init__(self, sampler: Sampler[int], skip: int) -> None:
        self.sampler, self.skip = sampler, skip

    def __iter__(self) -> Iterator[int]:
        for i, index in enumerate(self.sampler):
            if i >= self.skip:
                yield index

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.skip)  # type: ignore[arg-type]


def _loader(dataset, sampler, *, batch_size: int, workers: int, drop_last: bool, seed: int, device: torch.device) -> DataLoader:
    from laanet.training.dataset import collate_pairs

    generator = torch.Generator().manual_seed(seed)  # worker base seeds never touch the global torch RNG
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_pairs,
        pin_memory=device.type == "cuda",
        drop_last=drop_last,
        generator=generator,
        persistent_workers=False,
        worker_init_fn=limit_worker_threads if workers > 0 else None,  # one thread per worker: no oversubscription
    )


# ----------------------------------------------------------------------------------------------------------------
# the run


def _check_resume_config(cfg: RunConfig, saved: dict[str, Any], path: Path) -> None:
    """The model must be the checkpoint's; other differences are allowed but reported."""
    old = config_from_dict(saved)
    if type(old.model) is not type(cfg.model):
        raise ValueError(f"cannot resume {path}: the checkpoint is a {getattr(old.model, 'family', 'laanet')} model, "
                         f"the config a {getattr(cfg.model, 'family', 'laanet')} one")
    if old.model != cfg.model:
        diff = [f"model.{k}: {getattr(old.model, k)!r} -> {getattr(cfg.model, k)!r}"
                for k in cfg.model.__dataclass_fields__ if getattr(old.model, k) != getattr(cfg.model, k)]
        raise ValueError(f"cannot resume {path}: the model config differs from the checkpoint's ({'; '.join(diff)})")
    for section in ("data", "train"):
        a, b = getattr(old, section), getattr(cfg, section)
        for k in a.__dataclass_fields__:
            if getattr(a, k) != getattr(b, k):
                log.warning("resume: %s.%s changed from %r to %r", section, k, getattr(a, k), getattr(b, k))


def _write_summary(path: Path, row: dict[str, float]) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def train(
    cfg: RunConfig,
    *,
    data_dir: str | Path,
    out_dir: str | Path,
    resume: bool = False,
    device: str | None = None,
    progress: bool = False,
    tensorboard: bool = True,
) -> TrainResult:
    """Train a model of ``cfg.model``'s family on the real faces of the prepared folder ``data_dir``; write
    checkpoints to ``out_dir``.

    Args:
        cfg: the resolved run configuration (``train.epochs``, ``train.max_steps``, ... included).
        data_dir: a prepared folder (``PREP/index.jsonl``).
        out_dir: run folder: ``last.pt``, ``best.pt``, ``config.yaml``, ``summary.csv``, ``tb/``.
        resume: continue from ``out_dir/last.pt``; without it an existing ``last.pt`` is an error.
        device: "auto", "cpu", "cuda" or "cuda:N" (under torchrun each process uses ``cuda:LOCAL_RANK``).
        progress: show a progress bar (rank 0).
        tensorboard: write TensorBoard events under ``out_dir/tb`` (rank 0).
    """
    import yaml

    from laanet.models.family import build_model
    from laanet.training.dataset import build_datasets
    from laanet.training.losses import build_criterion

    out_dir = Path(out_dir)
    tc = cfg.train
    last_path = out_dir / LAST
    if resume and not last_path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {last_path}")
    if not resume and last_path.is_file():
        raise FileExistsError(f"{out_dir} already holds a run ({LAST}); pass --resume to continue it or choose another --out")
    remove_stale_temporaries(out_dir)  # left by a save that was killed part-way
    ckpt = load_checkpoint(last_path) if resume else None  # a bad checkpoint fails before any data or model work

    # 1) distributed init: one process per device under torchrun, nothing otherwise
    device_ = resolve_device(device)
    info = dist_utils.init(device_.type)
    try:
        if device_.type == "cuda" and info.world_size > 1:
            device_ = torch.device("cuda", info.local_rank)
        main = info.is_main

        # 2) seed: each rank draws its own dropout masks; the data pipeline seeds itself per item
        seed_everything(tc.seed + info.rank)

        # 3) device and autocast: float32 by default (float64 on request, as official), bf16/fp16 autocast on
        #    CUDA only; GradScaler for fp16 only
        if tc.dtype == "float64" and tc.amp != "none":
            raise ValueError(f"train.amp={tc.amp} needs train.dtype=float32 (float64 trains without autocast)")
        dtype = torch.float64 if tc.dtype == "float64" else torch.float32
        autocast = autocast_context(device_, tc.amp)
        use_scaler = device_.type == "cuda" and tc.amp == "fp16"
        scaler = torch.amp.GradScaler("cuda") if use_scaler else None

        # 4) model of the run's family (a resumed run takes every weight from the checkpoint: no pretrained
        #    download); it states the heatmap grid and normalisation the data must have
        model_cfg = dataclasses.replace(cfg.model, pretrained=False) if resume else cfg.model
        try:
            model = build_model(model_cfg).to(device_, dtype)
        except OSError as err:  # e.g. huggingface_hub cannot download the pretrained weights offline
            if "model.pretrained_path" in str(err):
                raise FileNotFoundError(str(err)) from err
            name = getattr(cfg.model, "backbone", None) or getattr(cfg.model, "arch", "?")
            raise FileNotFoundError(f"cannot load the pretrained backbone weights of {name!r} ({err}); "
                                    "pass model.pretrained_path=FILE or model.pretrained=false") from err
        criterion = build_criterion(tc)

        # 5) data: real faces of the train split; validation = held-out real videos + their pseudo-fakes, with the
        #    model's heatmap size and normalisation
        train_set, val_set = build_datasets(data_dir, cfg, heatmap_size=model.heatmap_size, preprocess=model.preprocess)
        train_sampler = DistributedSampler(train_set, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=tc.seed, drop_last=True)
        val_sampler = DistributedSampler(val_set, num_replicas=info.world_size, rank=info.rank, shuffle=False, drop_last=False)
        val_loader = _loader(val_set, val_sampler, batch_size=tc.batch_size, workers=cfg.data.workers, drop_last=False, seed=tc.seed, device=device_)
        steps_per_epoch = len(train_sampler) // tc.batch_size
        unit = "images" if train_set.single_images else "pairs"  # what one item (and train.batch_size) counts
        if steps_per_epoch == 0:
            raise ValueError(f"{len(train_set)} training {unit} per epoch on {info.world_size} process(es) make no batch of "
                             f"train.batch_size={tc.batch_size}; lower train.batch_size or raise data.frames_per_video")
        if main:
            log.info("data: %d training %s per epoch (%d steps of %d %s x %d process(es)), %d validation %s",
                     len(train_set), unit, steps_per_epoch, tc.batch_size, unit, info.world_size, len(val_set), unit)
            log.info("threads: %s", describe_threads(cfg.data.workers))
            if (hint := busy_machine_hint()) is not None:
                log.warning("threads: %s", hint)
            if tc.max_steps is not None and tc.max_steps > tc.epochs * steps_per_epoch:
                log.warning("train.max_steps=%d is more than the %d steps of train.epochs=%d (%d per epoch): the run "
                            "ends after epoch %d; pass --epochs %d to reach max_steps", tc.max_steps,
                            tc.epochs * steps_per_epoch, tc.epochs, steps_per_epoch, tc.epochs,
                            math.ceil(tc.max_steps / steps_per_epoch))

        # 6) optimizer (train.optimizer): SAM over Adam (LAA-Net), Adam with L2 decay (FakeFormer) or AdamW
        optimizer = build_optimizer(model, lr=tc.lr, weight_decay=tc.weight_decay, sam_rho=tc.sam_rho, kind=tc.optimizer)

        # 7) resume
        start_epoch, epoch_step, step = 0, 0, 0
        best: dict[str, float] | None = None  # validation auc/acc/loss of best.pt
        if ckpt is not None:
            _check_resume_config(cfg, ckpt["config"], last_path)
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            if scaler is not None and ckpt.get("scaler"):
                scaler.load_state_dict(ckpt["scaler"])
            start_epoch, epoch_step, step = ckpt["epoch"], ckpt["epoch_step"], ckpt["step"]
            best = ckpt.get("best")
            if best is None and ckpt["best_metric"] is not None:  # checkpoints before train.best_by: AUC only
                best = {"auc": ckpt["best_metric"], "acc": -math.inf, "loss": math.inf}
            states = ckpt["rng"]
            if len(states) != info.world_size:
                log.warning("checkpoint holds RNG states of %d process(es), this run has %d: the resumed run is not "
                            "bit-identical to an uninterrupted one", len(states), info.world_size)
            restore_rng(states[info.rank % len(states)])
            if main:
                log.info("resumed %s: epoch %d, step %d of the epoch, global step %d, best so far %s",
                         last_path, start_epoch, epoch_step, step, best)
        elif main:
            out_dir.mkdir(parents=True, exist_ok=True)
        if main:
            (out_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        writer = None
        if main and tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out_dir / "tb"), purge_step=step + 1 if resume else None)

        command = " ".join(["laanet", *sys.argv[1:]]) if Path(sys.argv[0]).name in ("laanet", "__main__.py") else " ".join(sys.argv)

        def checkpoint(path: Path, epoch: int, epoch_step: int, step: int, metrics: dict[str, float] | None = None) -> None:
            rng = dist_utils.all_gather_object(capture_rng())  # every rank's generators, in rank order
            if main:
                save_checkpoint(path, model=model, config=cfg.to_dict(), optimizer=optimizer,
                                lr=optimizer.param_groups[0]["lr"], epoch=epoch, epoch_step=epoch_step, step=step,
                                best_metric=None if best is None else best["auc"], best=best, rng=rng, scaler=scaler,
                                metrics=metrics, command=command)

        # 8) epochs
        result = TrainResult(out_dir=out_dir, epoch=start_epoch, step=step, best_metric=None if best is None else best["auc"])
        trainable: bool | None = None
        net = model
        for epoch in range(start_epoch, tc.epochs):
            if tc.max_steps is not None and step >= tc.max_steps:
                break
            lr = lr_at(epoch, base_lr=tc.lr, booster=tc.booster, epochs=tc.epochs, start_decay=tc.start_decay)  # per epoch
            for group in optimizer.param_groups:
                group["lr"] = lr
            if trainable != backbone_trainable_at(epoch, tc.freeze_backbone_epochs):
                trainable = backbone_trainable_at(epoch, tc.freeze_backbone_epochs)
                set_backbone_trainable(model, trainable)
                net = wrap_model(model, device_)
                if main:
                    log.info("epoch %d: backbone %s", epoch + 1, "trainable" if trainable else "frozen")
            train_set.set_epoch(epoch)  # new augmentation draws; new frames with data.redraw_frames
            val_set.set_epoch(epoch)  # new validation pseudo-fakes (official), unless data.fixed_validation
            train_sampler.set_epoch(epoch)
            sampler = SkipSampler(train_sampler, epoch_step * tc.batch_size) if epoch_step else train_sampler
            loader = _loader(train_set, sampler, batch_size=tc.batch_size, workers=cfg.data.workers, drop_last=True,
                             seed=tc.seed * 1000 + epoch * 100 + info.rank, device=device_)

            def on_step(global_step: int, done: int, epoch: int = epoch) -> None:
                if tc.save_every and global_step % tc.save_every == 0 and done < steps_per_epoch:
                    checkpoint(last_path, epoch, done, global_step)

            t0 = time.perf_counter()
            train_means, rows, stopped = train_one_epoch(
                net, criterion, loader, optimizer, epoch=epoch, epochs=tc.epochs, first_step=step, epoch_step=epoch_step,
                device=device_, autocast=autocast, scaler=scaler, dtype=dtype, grad_clip=tc.grad_clip, max_steps=tc.max_steps,
                log_every=tc.log_every, on_step=on_step, writer=writer, progress=progress)
            step, epoch_step = step + len(rows), epoch_step + len(rows)
            result.history.extend(rows)
            finished = epoch_step >= steps_per_epoch

            metrics = evaluate(model, criterion, val_loader, device=device_, autocast=autocast, dtype=dtype, writer=writer,
                               step=step)
            if main:
                log.info("Train: epoch [%d/%d] mean %s  (synthesis re-drew %d fake candidate(s))", epoch + 1, tc.epochs,
                         format_terms(train_means), int(train_means["redraws"]))
                log.info("Val: epoch [%d/%d] AUC: %.4f  acc: %.4f  loss: %.4f  (%d images)%s", epoch + 1, tc.epochs,
                         metrics["auc"], metrics["acc"], metrics.get("loss_total", float("nan")), int(metrics["n"]),
                         "" if finished else f"  [stopped at step {epoch_step}/{steps_per_epoch} of the epoch]")
            improved = is_improvement(metrics, best, tc.best_by)
            if improved:
                best = {"auc": metrics["auc"], "acc": metrics["acc"], "loss": metrics.get("loss_total", math.nan)}
            next_epoch, next_epoch_step = (epoch + 1, 0) if finished else (epoch, epoch_step)
            checkpoint(last_path, next_epoch, next_epoch_step, step, metrics)
            if improved and main:
                copy_atomic(last_path, out_dir / BEST)  # best.pt = last.pt at its best moment
            row = {"epoch": epoch + 1, "step": step, "lr": lr, "seconds": round(time.perf_counter() - t0, 2),
                   **{f"train_{k}": v for k, v in train_means.items()}, **{f"val_{k}": v for k, v in metrics.items()}}
            result.epochs.append(row)
            if main:
                _write_summary(out_dir / "summary.csv", row)
                if writer is not None:
                    writer.add_scalar("val/auc", metrics["auc"], step)
                    writer.add_scalar("val/acc", metrics["acc"], step)
                    for k, v in metrics.items():
                        if k.startswith("loss_"):
                            writer.add_scalar(f"val/{k}", v, step)
                    writer.flush()
            result.epoch, result.step = next_epoch, step
            result.best_metric = None if best is None else best["auc"]
            epoch_step = next_epoch_step
            if stopped:
                break
        if writer is not None:
            writer.close()
        dist_utils.barrier()
        return result
    finally:
        # 9) teardown
        dist_utils.teardown()
