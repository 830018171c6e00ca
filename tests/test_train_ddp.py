"""Two gloo processes on CPU: DDP + SAM on split batches equals one process on the whole batch; rank helpers."""
from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp

from laanet.training import distributed as dist_utils
from laanet.training.engine import train_step
from laanet.training.sam import SAM


def _toy_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


def _toy_data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 5, generator=g), torch.randn(8, 1, generator=g)
    return x.expand(3, 8, 5), y.expand(3, 8, 1)  # 3 steps on the same 8 samples


def _mse(output: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {"total": torch.nn.functional.mse_loss(output, batch["target"])}


def _run(model: torch.nn.Module, xs: torch.Tensor, ys: torch.Tensor) -> list[float]:
    sam = SAM(torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=1e-4), rho=0.05)
    losses = []
    for x, y in zip(xs, ys):
        out = train_step(model, _mse, {"image": x, "target": y}, sam, grad_clip=1.0)
        losses.append(float(dist_utils.reduce_mean(out["total"])))
    return losses


def _worker(rank: int, port: int, result_path: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2")
    torch.set_num_threads(1)
    info = dist_utils.init("cpu")
    try:
        assert info.world_size == 2 and dist_utils.world_size() == 2 and dist_utils.rank() == rank
        assert dist_utils.is_main() == (rank == 0)
        mean = dist_utils.reduce_mean(torch.tensor(float(rank)))  # (0 + 1) / 2
        gathered = dist_utils.all_gather_object({"rank": rank})
        model = torch.nn.parallel.DistributedDataParallel(_toy_model())
        xs, ys = _toy_data()
        half = slice(4 * rank, 4 * rank + 4)
        losses = _run(model, xs[:, half], ys[:, half])
        if rank == 0:
            torch.save({"state": model.module.state_dict(), "losses": losses, "mean": float(mean), "gathered": gathered}, result_path)
        dist_utils.barrier()  # leave together, as the training loop does (a peer gone early can make gloo abort)
    finally:
        dist_utils.teardown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_single_process_helpers():
    assert dist_utils.init("cpu").world_size == 1
    assert dist_utils.world_size() == 1 and dist_utils.rank() == 0 and dist_utils.is_main()
    assert float(dist_utils.reduce_mean(torch.tensor(3.0))) == 3.0
    assert dist_utils.all_gather_object("x") == ["x"]


def test_two_process_gloo_sam_matches_single_process(tmp_path):
    result = tmp_path / "rank0.pt"
    mp.spawn(_worker, args=(_free_port(), str(result)), nprocs=2, join=True)
    got = torch.load(result, weights_only=True)
    assert got["mean"] == 0.5
    assert got["gathered"] == [{"rank": 0}, {"rank": 1}]

    model = _toy_model()
    xs, ys = _toy_data()
    losses = _run(model, xs, ys)
    # Both SAM passes all-reduce: 2 ranks x 4 samples take exactly the step of 1 process x 8 samples.
    for name, value in model.state_dict().items():
        torch.testing.assert_close(got["state"][name], value, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.tensor(got["losses"]), torch.tensor(losses), rtol=1e-5, atol=1e-6)
    assert losses[-1] < losses[0]


def test_torchrun_two_processes_cli(tmp_path):
    """The real command under torchrun: 2 gloo processes, DistributedSampler, checkpoint with both RNG states."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from typer.testing import CliRunner

    from laanet.cli import app

    samples = Path(__file__).resolve().parents[1] / "src" / "laanet" / "assets" / "samples"
    faces = tmp_path / "faces"
    faces.mkdir()
    for name in ("astronaut.jpg", "grace_hopper.jpg", "obama_portrait.jpg"):
        shutil.copy(samples / name, faces / name)
    prep = tmp_path / "prep"
    result = CliRunner().invoke(app, ["prepare", "folder", "--root", str(faces), "--out", str(prep), "--crop-size", "96", "--no-progress"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           "-m", "laanet", "train", "--config", "cpu-tiny", "--data", str(prep), "--out", str(out), "--max-steps", "2",
           "--device", "cpu", "--no-progress", "model.input_size=64", "train.batch_size=1", "data.frames_per_video=2",
           "data.val_fraction=0.3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "(2 steps of 1 pairs x 2 process(es))" in proc.stderr  # 4 pairs split over 2 ranks
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["step"] == 2 and len(ckpt["rng"]) == 2
    assert not any(k.startswith("module.") for k in ckpt["model"])  # saved from the unwrapped model
    assert not torch.equal(ckpt["rng"][0]["torch"], ckpt["rng"][1]["torch"])  # each rank has its own dropout stream
