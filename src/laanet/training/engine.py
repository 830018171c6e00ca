"""One training step, one epoch, one evaluation: the functions :func:`laanet.training.loop.train` calls.

``build_optimizer`` and ``set_backbone_trainable`` set up SAM(Adam) and the warm-up freezing as the official
training does; ``train_step`` is a SAM update (two forward/backward passes) with optional AMP and gradient
clipping; ``train_one_epoch`` and ``evaluate`` return plain dicts of floats (reduced over ranks).
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from laanet.training import distributed as dist_utils
from laanet.training.sam import SAM

__all__ = ["backbone_trainable_at", "build_optimizer", "is_improvement", "set_backbone_trainable", "train_step", "train_one_epoch", "evaluate", "format_terms"]

log = logging.getLogger(__name__)


def build_optimizer(
    model: nn.Module, *, lr: float, weight_decay: float, sam_rho: float,
    betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, kind: str = "sam",
) -> SAM | torch.optim.Optimizer:
    """The optimizer of ``train.optimizer``; every parameter is in the one group.

    * ``"sam"`` (LAA-Net, ``scripts/train.py`` + ``lib/optimizers/sam.py``): Adam with L2 weight decay (added to the
      gradient, not decoupled), wrapped by SAM unless ``sam_rho`` is 0;
    * ``"adam"`` (FakeFormer: its ``optimizer: AdamW`` config builds ``torch.optim.Adam``): Adam with L2 weight
      decay, no SAM, ``sam_rho`` ignored;
    * ``"adamw"`` (laanet option): ``torch.optim.AdamW``, weight decay decoupled from the gradient.

    Frozen parameters (no gradient) get no SAM ascent, no update and no weight decay.
    """
    params = model.parameters()
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=False)
    if kind not in ("sam", "adam"):
        raise ValueError(f"train.optimizer must be 'sam', 'adam' or 'adamw', got {kind!r}")
    adam = torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=False)
    return SAM(adam, rho=sam_rho) if kind == "sam" and sam_rho > 0 else adam


def backbone_trainable_at(epoch: int, freeze_backbone_epochs: int) -> bool:
    """Whether the backbone trains in ``epoch`` (0-based): frozen for the first ``freeze_backbone_epochs``."""
    return epoch >= freeze_backbone_epochs


def set_backbone_trainable(model: nn.Module, trainable: bool) -> None:
    """Freeze or unfreeze ``model.backbone_parameters()`` (the whole backbone, C5 head conv included).

    As in the official warm-up, frozen layers stay in train mode: their BatchNorms still use batch statistics
    and update their running statistics.
    """
    for p in model.backbone_parameters():
        p.requires_grad_(trainable)


def train_step(
    model: nn.Module,
    criterion: nn.Module,
    batch: dict[str, torch.Tensor],
    optimizer: SAM | torch.optim.Optimizer,
    *,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    scaler: torch.amp.GradScaler | None = None,
    grad_clip: float | None = None,
    info: dict[str, Any] | None = None,
) -> dict[str, torch.Tensor]:
    """One optimizer update on ``batch`` (already on the device); returns the detached loss terms of pass 1.

    With SAM this is two forward/backward passes on the same batch (official
    ``lib/core_function.py``); BatchNorm running statistics
    are updated in both (the official step does not suspend them). Under DDP *both* backward passes all-reduce
    their gradients (no ``no_sync()``): every rank then ascends along the same global gradient, so N processes
    with B pairs each take the same step as one process with N·B pairs, which is the single-GPU semantics the
    paper's rho = 0.05 was tuned for. The cost is one extra all-reduce per step.

    ``info``, when given, receives ``loss_pass2`` (the detached loss terms at the SAM point ``w + e``) and
    ``grad_norm`` (‖g‖ of the SAM ascent, a float).
    """
    images = batch["image"]  # B, 3, S, S
    # pass 1: loss and gradient at w
    with autocast():
        output = model(images)
    losses = criterion(output, batch)  # in the model's dtype (float32 at least), outside autocast
    (scaler.scale(losses["total"]) if scaler is not None else losses["total"]).backward()
    if isinstance(optimizer, SAM):
        grad_norm = optimizer.first_step()  # w <- w + rho * g / ||g||
        optimizer.zero_grad(set_to_none=True)
        # pass 2: gradient at the perturbed weights (new dropout masks, BN statistics updated again, as official)
        with autocast():
            output = model(images)
        losses_2 = criterion(output, batch)
        (scaler.scale(losses_2["total"]) if scaler is not None else losses_2["total"]).backward()
        if info is not None:
            info["loss_pass2"] = {k: v.detach() for k, v in losses_2.items()}
            info["grad_norm"] = grad_norm
    base = optimizer.base if isinstance(optimizer, SAM) else optimizer
    if scaler is not None:
        scaler.unscale_(base)
    if grad_clip:
        torch.nn.utils.clip_grad_norm_([p for g in base.param_groups for p in g["params"] if p.grad is not None], grad_clip)
    if isinstance(optimizer, SAM):
        optimizer.second_step(scaler)  # restore w, then Adam step with the gradient taken at w + e
    elif scaler is not None:
        scaler.step(optimizer)
    else:
        optimizer.step()
    if scaler is not None:
        scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return {k: v.detach() for k, v in losses.items()}


def is_improvement(metrics: dict[str, float], best: dict[str, float] | None, best_by: str) -> bool:
    """Whether validation ``metrics`` make a new ``best.pt``, given the metrics of the current one (or None).

    ``best_by="acc_loss"`` (official LAA-Net): accuracy higher AND loss (``loss_total``) lower than the best's, both
    at once. ``"acc"`` (official FakeFormer): a higher accuracy. ``"auc"``: a higher AUC. Non-finite values never improve.
    """
    if best_by == "auc":
        auc = metrics["auc"]
        return math.isfinite(auc) and (best is None or auc > best["auc"])
    if best_by == "acc":
        acc = metrics["acc"]
        return math.isfinite(acc) and (best is None or acc > best["acc"])
    if best_by != "acc_loss":
        raise ValueError(f"train.best_by must be 'acc_loss', 'acc' or 'auc', got {best_by!r}")
    acc, loss = metrics["acc"], metrics.get("loss_total", float("nan"))
    if not (math.isfinite(acc) and math.isfinite(loss)):
        return False
    return best is None or (acc > best["acc"] and loss < best["loss"])


def _to_device(batch: dict[str, torch.Tensor], device: torch.device, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The batch on ``device``, its floating-point tensors (images, targets, labels) in the model's ``dtype``."""
    return {k: v.to(device, dtype=dtype if v.is_floating_point() else None, non_blocking=True) for k, v in batch.items()}


def format_terms(terms: dict[str, float]) -> str:
    names = [k for k in ("total", "heatmap", "cls", "consistency") if k in terms]
    return " ".join(f"{name}: {terms[name]:8.4f}" for name in names)


def train_one_epoch(
    model: nn.Module,
    criterion: nn.Module,
    loader: DataLoader,
    optimizer: SAM | torch.optim.Optimizer,
    *,
    epoch: int,
    epochs: int,
    first_step: int,
    epoch_step: int,
    device: torch.device,
    autocast: Callable[[], contextlib.AbstractContextManager],
    scaler: torch.amp.GradScaler | None,
    dtype: torch.dtype = torch.float32,
    grad_clip: float | None,
    max_steps: int | None,
    log_every: int,
    on_step: Callable[[int, int], None],
    writer: Any = None,
    progress: bool = False,
) -> tuple[dict[str, float], list[dict[str, float]], bool]:
    """Train until the loader ends or ``max_steps`` global steps are done.

    Args:
        first_step: global steps done before this call; epoch_step: batches of this epoch done before.
        on_step: called as ``on_step(global_step, epoch_step)`` after every update (periodic checkpoints).

    Returns:
        (mean of each loss term over this call's steps, reduced over ranks), per-step rows, whether
        ``max_steps`` stopped the epoch early.
    """
    model.train()
    lr = optimizer.param_groups[0]["lr"]
    sums: dict[str, float] = {}
    rows: list[dict[str, float]] = []
    step, n, stopped = first_step, 0, False
    total = epoch_step + len(loader)
    bar = None
    if progress and dist_utils.is_main():
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=epoch_step, desc=f"epoch {epoch + 1}/{epochs}", leave=False, dynamic_ncols=True)
    t_data, t_last = 0.0, time.perf_counter()
    redraws = 0
    for batch in loader:
        if max_steps is not None and step >= max_steps:
            stopped = True
            break
        redraws += int(batch["redraws"].sum()) if "redraws" in batch else 0
        batch = _to_device(batch, device, dtype)
        t_data += time.perf_counter() - t_last
        losses = train_step(model, criterion, batch, optimizer, autocast=autocast, scaler=scaler, grad_clip=grad_clip)
        step, n, epoch_step = step + 1, n + 1, epoch_step + 1
        terms = {k: float(dist_utils.reduce_mean(v)) for k, v in losses.items() if not k.endswith("_raw")}
        if not all(math.isfinite(v) for v in terms.values()):
            raise FloatingPointError(f"non-finite loss at step {step} (epoch {epoch}): {terms}; lower train.lr or check the data")
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v
        rows.append({"step": step, "epoch": epoch, "lr": lr, **terms})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{terms['total']:.4f}", lr=f"{lr:.2e}")
        if dist_utils.is_main() and (step % log_every == 0 or epoch_step == total):
            log.info("Train: epoch [%d/%d] step [%4d/%d] (global %d) %s  lr: %.3e  data: %.2fs",
                     epoch + 1, epochs, epoch_step, total, step, format_terms(terms), lr, t_data)
            if writer is not None:
                for k, v in terms.items():
                    writer.add_scalar(f"train/loss_{k}", v, step)
                writer.add_scalar("train/lr", lr, step)
        on_step(step, epoch_step)
        t_last = time.perf_counter()
    else:
        stopped = max_steps is not None and step >= max_steps
    if bar is not None:
        bar.close()
    means = {k: v / max(n, 1) for k, v in sums.items()}
    # Fake candidates the synthesizer rejected (empty mask, no blend) and re-drew, summed over ranks.
    means["redraws"] = float(dist_utils.reduce_mean(torch.tensor(float(redraws)))) * dist_utils.world_size()
    return means, rows, stopped


@torch.no_grad()
def evaluate(
    model: nn.Module,
    criterion: nn.Module,
    loader: DataLoader,
    *,
    device: torch.device,
    autocast: Callable[[], contextlib.AbstractContextManager],
    dtype: torch.dtype = torch.float32,
    writer: Any = None,
    step: int = 0,
    n_images: int = 4,
) -> dict[str, float]:
    """Frame-level AUC/accuracy and mean loss terms on the validation pairs (held-out reals + pseudo-fakes).

    Scores from all ranks are gathered (keyed by sample index, so DistributedSampler padding is not counted
    twice) before the AUC is computed. ``writer`` gets a grid of ``n_images`` fakes with target and predicted
    heatmaps.
    """
    from sklearn.metrics import roc_auc_score

    model.eval()
    sums: dict[str, float] = {}
    n_batches = 0
    records: list[tuple[int, float, int]] = []
    shown = False
    for batch in loader:
        batch = _to_device(batch, device, dtype)
        with autocast():
            output = model(batch["image"])
        losses = criterion(output, batch)
        for k, v in losses.items():
            if not k.endswith("_raw"):
                sums[k] = sums.get(k, 0.0) + float(v)
        n_batches += 1
        scores = output.cls.float().flatten().cpu().tolist()
        labels = batch["label"].flatten().long().cpu().tolist()
        ids = batch["index"].flatten().long().cpu().tolist()
        records.extend(zip(ids, scores, labels))
        if writer is not None and not shown and output.heatmap is not None:
            _log_heatmaps(writer, batch, output.heatmap, step, n_images, getattr(model, "preprocess", None))
            shown = True
    unique = {}
    for part in dist_utils.all_gather_object(records):
        for index, score, label in part:
            unique[index] = (score, label)
    scores = np.array([s for s, _ in unique.values()])
    labels = np.array([y for _, y in unique.values()])
    metrics = {f"loss_{k}": float(dist_utils.reduce_mean(v / max(n_batches, 1))) for k, v in sums.items()}
    metrics["auc"] = float(roc_auc_score(labels, scores)) if len(set(labels.tolist())) == 2 else float("nan")
    metrics["acc"] = float(((scores > 0) == (labels == 1)).mean()) if len(labels) else float("nan")
    metrics["n"] = float(len(labels))
    return metrics


def _log_heatmaps(
    writer: Any, batch: dict[str, torch.Tensor], heatmap_logits: torch.Tensor, step: int, n: int, preprocess: Any = None
) -> None:
    """Rows of (fake image, target heatmap, predicted heatmap) for the first ``n`` fakes of a batch; ``preprocess``
    (the model's, default mean/std 0.5) un-normalises the images."""
    import torch.nn.functional as F
    from torchvision.utils import make_grid

    fake = (batch["label"].flatten() == 1).nonzero().flatten()[:n]
    if fake.numel() == 0:
        return
    mean = torch.tensor(getattr(preprocess, "mean", (0.5, 0.5, 0.5))).view(1, 3, 1, 1)
    std = torch.tensor(getattr(preprocess, "std", (0.5, 0.5, 0.5))).view(1, 3, 1, 1)
    images = (batch["image"][fake].float().cpu() * std + mean).clamp(0, 1)  # n, 3, S, S in [0, 1]
    size = images.shape[-2:]
    target = F.interpolate(batch["heatmap"][fake].float().cpu(), size=size, mode="nearest").expand(-1, 3, -1, -1)
    pred = F.interpolate(heatmap_logits[fake].float().sigmoid().cpu(), size=size, mode="bilinear").expand(-1, 3, -1, -1)
    tiles = torch.stack([images, target, pred], dim=1).flatten(0, 1)  # 3n, 3, S, S
    writer.add_image("val/fake_target_pred", make_grid(tiles, nrow=3, padding=2), step)
