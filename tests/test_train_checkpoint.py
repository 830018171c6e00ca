"""Training checkpoints: weights_only round trip, RNG states, atomic writes, clear errors."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from laanet.config import load_config
from laanet.training.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from laanet.training.sam import SAM


def _draws() -> tuple[float, float, torch.Tensor]:
    return random.random(), float(np.random.rand()), torch.rand(3)


def test_rng_capture_restore_roundtrip():
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.randn()  # leave a cached gaussian in numpy's state
    state = capture_rng()
    first = _draws()
    restore_rng(state)
    second = _draws()
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])


def test_save_load_weights_only_and_resume_optimizer(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    opt = SAM(torch.optim.Adam(model.parameters(), lr=1e-3), rho=0.05)
    model(torch.randn(5, 4)).sum().backward()
    opt.first_step()
    opt.second_step()
    cfg = load_config("cpu-tiny")
    path = tmp_path / "run" / "last.pt"
    save_checkpoint(path, model=model, config=cfg.to_dict(), optimizer=opt, lr=1e-3, epoch=2, epoch_step=3, step=11,
                    best_metric=0.75, rng=[capture_rng()], metrics={"auc": 0.75})
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]  # no temporary file left behind
    raw = torch.load(path, weights_only=True)  # must not need pickle of arbitrary objects
    assert raw["format_version"] == 1 and raw["config"]["model"]["backbone"] == "efficientnet_b0"
    state = load_checkpoint(path)
    assert (state["epoch"], state["epoch_step"], state["step"], state["best_metric"]) == (2, 3, 11, 0.75)
    fresh = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    fresh.load_state_dict(state["model"])
    for a, b in zip(fresh.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)
    opt2 = SAM(torch.optim.Adam(fresh.parameters(), lr=1e-3), rho=0.05)
    opt2.load_state_dict(state["optimizer"])
    assert torch.equal(opt2.base.state[fresh[0].weight]["exp_avg"], opt.base.state[model[0].weight]["exp_avg"])


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"format_version": 1, "model": {}, "config": {}}, tmp_path / "weights.pt")
    with pytest.raises(ValueError, match="cannot resume"):
        load_checkpoint(tmp_path / "weights.pt")
    torch.save({"format_version": 99, "model": {}}, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="format_version"):
        load_checkpoint(tmp_path / "future.pt")


def test_interrupted_write_keeps_previous_file(tmp_path, monkeypatch):
    from laanet.training import checkpoint as ckpt_module

    path = tmp_path / "last.pt"
    ckpt_module.atomic_save({"v": 1}, path)
    ckpt_module.copy_atomic(path, tmp_path / "best.pt")

    def dying_save(obj, handle):
        handle.write(b"partial bytes")
        raise KeyboardInterrupt  # killed in the middle of writing

    monkeypatch.setattr(ckpt_module.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        ckpt_module.atomic_save({"v": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"v": 1}
    assert torch.load(tmp_path / "best.pt", weights_only=True) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]
