"""All rank logic of training in one place: process-group setup, rank queries, metric reduction.

``torchrun --nproc_per_node N -m laanet train ...`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; a plain
``laanet train`` sets none of them and runs as a single process (world size 1) without any process group.
The backend is NCCL when the training device is CUDA and gloo otherwise, so the multi-process path can be tested
on a CPU-only machine.
"""
from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "init", "teardown", "is_main", "rank", "world_size", "local_rank", "reduce_mean", "barrier", "all_gather_object"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from None


def init(device_type: str = "cpu", *, timeout_s: float = 1800.0) -> DistInfo:
    """Join the process group described by the torchrun environment variables (no-op for a single process).

    Args:
        device_type: "cuda" selects NCCL, anything else gloo.
        timeout_s: collective timeout.
    """
    world = _env_int("WORLD_SIZE", 1)
    info = DistInfo(rank=_env_int("RANK", 0), local_rank=_env_int("LOCAL_RANK", 0), world_size=world)
    if world <= 1:
        return DistInfo()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
        log.debug("rank %d/%d joined the %s process group", info.rank, world, backend)
    return info


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if _active() else 0


def world_size() -> int:
    return dist.get_world_size() if _active() else 1


def local_rank() -> int:
    return _env_int("LOCAL_RANK", 0) if _active() else 0


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if _active():
        dist.barrier()


def reduce_mean(value: torch.Tensor | float) -> torch.Tensor:
    """Mean of ``value`` over all ranks (returned as a new tensor; the input is left untouched)."""
    tensor = value.detach().clone() if isinstance(value, torch.Tensor) else torch.tensor(float(value))
    if _active() and world_size() > 1:
        # gloo reduces CPU tensors and NCCL CUDA tensors; move to the right side and back.
        backend = dist.get_backend()
        work = tensor.to(torch.device("cuda", torch.cuda.current_device())) if backend == "nccl" else tensor.cpu()
        work = work.to(torch.float64) if not work.is_floating_point() else work
        dist.all_reduce(work, op=dist.ReduceOp.SUM)
        tensor = (work / world_size()).to(tensor.device)
    return tensor


def all_gather_object(obj: Any) -> list[Any]:
    """``[obj_of_rank_0, obj_of_rank_1, ...]`` (just ``[obj]`` in a single process)."""
    if not (_active() and world_size() > 1):
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out
