"""Connecting to a Ray cluster, and the options every ``--ray`` job shares.

``--ray`` takes what ``ray.init(address=...)`` takes, plus ``local``:

- ``auto``: the cluster this machine belongs to (``ray start`` was run here, or ``RAY_ADDRESS`` is set);
- ``HOST:PORT`` (the head node's GCS port, 6379 by default) or ``ray://HOST:10001`` (Ray Client);
- ``local``: a throw-away cluster on this machine only, started for the run and stopped at its end.

If Ray is already initialised in this process (a notebook, a test), that connection is used as it is.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from types import ModuleType

logger = logging.getLogger(__name__)

__all__ = ["RayOptions", "RayUnavailable", "connect", "import_ray", "max_in_flight"]

INSTALL_HINT = "pip install 'laanet[ray]'"


class RayUnavailable(ValueError):
    """Ray is not installed, or the cluster cannot be reached."""


@dataclass(frozen=True)
class RayOptions:
    """Where and with which resources a job runs on Ray.

    Args:
        address: ``auto``, ``local``, ``HOST:PORT`` or ``ray://HOST:PORT`` (module docstring).
        actors: model actors for ``eval`` and ``detect`` (each loads the model once); ``prepare`` ignores it and
            runs one task per video on every free CPU.
        cpus: CPUs declared per actor (``eval``, ``detect``) or per task (``prepare``); Ray sets the worker's
            ``OMP_NUM_THREADS`` from it.
        gpus: GPUs declared per model actor (fractions share a GPU, e.g. 0.5 = two actors per GPU); 0 runs
            the model on the CPU. ``prepare`` uses no GPU.
    """

    address: str = "auto"
    actors: int = 1
    cpus: float = 1.0
    gpus: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.address, str) or not self.address.strip():
            raise ValueError("--ray needs an address: auto, local, HOST:PORT or ray://HOST:PORT")
        if isinstance(self.actors, bool) or not isinstance(self.actors, int) or self.actors < 1:
            raise ValueError(f"--ray-actors must be an integer of at least 1, got {self.actors!r}")
        if not (isinstance(self.cpus, (int, float)) and math.isfinite(self.cpus) and self.cpus > 0):
            raise ValueError(f"--ray-cpus must be a number above 0, got {self.cpus!r}")
        if not (isinstance(self.gpus, (int, float)) and math.isfinite(self.gpus) and self.gpus >= 0):
            raise ValueError(f"--ray-gpus must be a number of at least 0, got {self.gpus!r}")

    def check_device(self, device: str) -> None:
        """A CUDA device needs GPUs declared per actor (Ray hides the GPUs from actors that declare none)."""
        if device.startswith("cuda") and self.gpus <= 0:
            raise ValueError(f"--device {device} on Ray needs GPUs per actor: add --ray-gpus 1 (or a fraction)")

    def describe(self) -> str:
        return f"ray {self.address}: {self.actors} actor(s) x {self.cpus:g} CPU, {self.gpus:g} GPU"


def import_ray() -> ModuleType:
    """``import ray``, or a :class:`RayUnavailable` that says how to install it."""
    try:
        import ray
    except ImportError as err:
        raise RayUnavailable(f"--ray needs Ray, which is not installed ({err}); {INSTALL_HINT}") from None
    return ray


def connect(address: str) -> ModuleType:
    """Connect this process to the Ray cluster at ``address`` (module docstring); returns the ``ray`` module."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    kwargs = {"logging_level": logging.WARNING, "log_to_driver": True}
    try:
        if address == "local":
            ray.init(include_dashboard=False, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as err:
        hint = " (start one with `ray start --head`, or use --ray local)" if address == "auto" else ""
        raise RayUnavailable(f"cannot connect to the Ray cluster at {address!r}{hint}: {err}") from None
    resources = ray.cluster_resources()
    logger.info("Ray cluster: %g CPU, %g GPU, %d node(s)", resources.get("CPU", 0), resources.get("GPU", 0),
                len([n for n in ray.nodes() if n.get("Alive")]))
    return ray


def max_in_flight(ray: ModuleType, cpus_per_task: float) -> int:
    """How many tasks to keep submitted at once: two per task slot the cluster has now (at least 2)."""
    slots = ray.cluster_resources().get("CPU", 1) / cpus_per_task
    return max(2, int(2 * slots))
