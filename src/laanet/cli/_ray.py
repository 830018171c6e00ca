"""The ``--ray`` options of ``laanet prepare``, ``eval`` and ``detect`` (the work itself is in ``laanet.scale``)."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

RayAddress = Annotated[Optional[str], typer.Option(
    "--ray", metavar="ADDRESS",
    help="Run on a Ray cluster: auto (this machine's cluster), HOST:PORT, ray://HOST:PORT, or local (a cluster "
         "started for this run). Needs laanet[ray]; data on shared storage (docs/scale.md).")]
RayActors = Annotated[int, typer.Option("--ray-actors", min=1, help="--ray: model actors (each loads the model once).")]
RayCpus = Annotated[float, typer.Option("--ray-cpus", min=0.01, help="--ray: CPUs per actor (prepare: per task).")]
RayGpus = Annotated[float, typer.Option("--ray-gpus", min=0.0, help="--ray: GPUs per actor (0.5 = two per GPU; 0 = CPU).")]

