"""One laanet FakeFormer training step equals one step of the authors' training code (float64, frozen and unfrozen).

The reference ``../shared/fixtures/fakeformer/train_step.pt`` (see its README) holds one step of the official
``lib/core_function.train`` with ``configs/spatial/vit_sbi_small.yaml`` from ``checkpoint.pt`` on a fixed batch of 4,
drop-path off: ``frozen`` (epoch 0, backbone frozen) and ``unfrozen`` (epoch 5), torch.optim.Adam (the config's
"AdamW") with L2 weight decay, λ_hm = 0. ``run_fakeformer_step`` runs laanet's own loss, optimizer, freezing and
``train_step`` from the ``fakeformer-vit-s8-sbi`` preset. Bars: loss 1e-12 relative; each tensor's gradient norm and
update norm 1e-9 relative, sums within 1e-9 of their scale, the full updates of the small tensors 1e-9 of their largest.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "fakeformer"
STEP = FIXTURES / "train_step.pt"
WEIGHTS = FIXTURES / "checkpoint.pt"

pytestmark = [
    pytest.mark.slow,  # two float64 ViT-S/8 steps at 112 px (~1.5 min on 2 cores)
    pytest.mark.skipif(not (STEP.is_file() and WEIGHTS.is_file()), reason=f"FakeFormer step fixture not found in {FIXTURES}"),
]


@pytest.fixture(scope="module")
def fixture() -> dict:
    return torch.load(STEP, weights_only=True)


@pytest.fixture(scope="module")
def steps(fixture: dict) -> dict[str, dict]:
    from laanet.training.reference_fakeformer import run_fakeformer_step

    return {s: run_fakeformer_step(fixture, s, weights=str(WEIGHTS)) for s in ("frozen", "unfrozen")}


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b) if b else (0.0 if a == b else math.inf)


def compare(got: dict, ref: dict) -> tuple[dict[str, float], list[str]]:
    worst: dict[str, float] = {}
    failures: list[str] = []

    def check(name: str, err: float, bar: float, what: str) -> None:
        worst[name] = max(worst.get(name, 0.0), err)
        if not err <= bar:
            failures.append(f"{what}: {name} error {err:.3g} > {bar:g}")

    for term in ("hm", "cls", "total"):
        check("loss", _rel(got["loss"][term], float(ref["loss"][term])), 1e-12, f"loss.{term} {got['loss'][term]!r}")
    for name in ("cls_logit", "hm_logit"):
        a, b = got["outputs"][name], ref["outputs"][name].double()
        check("outputs", float((a - b).abs().max() / b.abs().max()), 1e-10, name)
    assert set(got["per_key"]) == set(ref["per_key"]), "state-dict keys differ from the official ones"
    frozen = set(ref["frozen_keys"])
    for key, r in ref["per_key"].items():
        g = got["per_key"][key]
        if r["kind"] == "param":
            check("trainable set", float(g["trainable"] != r["trainable"] or g["trainable"] == (key in frozen)), 0, key)
        if (g["grad_norm"] is None) != (r["grad_norm"] is None):
            failures.append(f"{key}: gradient {'missing' if g['grad_norm'] is None else 'present'} (official: the other)")
            continue
        if r["grad_norm"] is not None:
            check("grad_norm", _rel(g["grad_norm"], r["grad_norm"]), 1e-9, f"{key} grad_norm {g['grad_norm']} vs {r['grad_norm']}")
            scale = max(abs(r["grad_sum"]), r["grad_norm"])
            check("grad_sum", abs(g["grad_sum"] - r["grad_sum"]) / scale if scale else abs(g["grad_sum"]), 1e-9, f"{key} grad_sum")
        check("update_norm", _rel(g["update_norm"], r["update_norm"]), 1e-9, f"{key} update_norm {g['update_norm']} vs {r['update_norm']}")
        scale = max(abs(r["update_sum"]), r["update_norm"])
        check("update_sum", abs(g["update_sum"] - r["update_sum"]) / scale if scale else abs(g["update_sum"]), 1e-9, f"{key} update_sum")
        check("update_max_abs", _rel(g["update_max_abs"], r["update_max_abs"]), 1e-9, f"{key} update_max_abs")
    for key, r in ref["update_full"].items():
        a, r = got["update_full"][key], r.double()
        top = float(r.abs().max())
        check("update_full", float((a - r).abs().max()) / top if top else float(a.abs().max()), 1e-9, key)
    return worst, failures


@pytest.mark.parametrize("scenario", ["frozen", "unfrozen"])
def test_one_training_step_equals_the_official_one(scenario: str, fixture: dict, steps: dict) -> None:
    got, ref = steps[scenario], fixture["scenarios"][scenario]
    worst, failures = compare(got, ref)
    print(f"\n{scenario}: largest errors " + ", ".join(f"{k} {v:.2g}" for k, v in sorted(worst.items())))
    assert not failures, f"{len(failures)} check(s) failed, e.g.:\n" + "\n".join(failures[:15])
    assert got["n_trainable_params"] == ref["n_trainable_params"] and got["optimizer"] == "Adam"


def test_the_untrained_heatmap_head_only_decays(steps: dict) -> None:
    """λ_hm = 0: the heatmap head's gradient is exactly 0 yet Adam's L2 term moves each weight by ≈ lr."""
    for step in steps.values():
        head = step["per_key"]["keypoint_head.hm.1.weight"]
        assert head["grad_norm"] == 0.0 and head["update_norm"] > 0
        assert head["update_max_abs"] == pytest.approx(5e-5, rel=1e-2)  # lr·|g|/(|g| + eps), g = 1e-4·w
    assert steps["frozen"]["per_key"]["backbone.blocks.0.attn.qkv.weight"]["update_norm"] == 0.0
    assert steps["unfrozen"]["per_key"]["backbone.blocks.0.attn.qkv.weight"]["update_norm"] > 0


def test_scenario_settings_are_the_presets(fixture: dict) -> None:
    """The lr and optimizer settings run_fakeformer_step takes from the fixture are the preset's own."""
    from laanet.config import load_config
    from laanet.training.engine import backbone_trainable_at
    from laanet.training.schedule import lr_at

    tc = load_config("fakeformer-vit-s8-sbi").train
    for name, scenario in fixture["scenarios"].items():
        epoch = scenario["epoch"]
        assert lr_at(epoch, base_lr=tc.lr, booster=tc.booster, epochs=tc.epochs, start_decay=tc.start_decay) == scenario["lr"]
        assert backbone_trainable_at(epoch, tc.freeze_backbone_epochs) == (name == "unfrozen")
        opt = scenario["optimizer"]
        assert (opt["type"], opt["weight_decay"], opt["amsgrad"], tuple(opt["betas"]), opt["eps"]) == (
            "Adam", tc.weight_decay, False, (0.9, 0.999), 1e-8)
