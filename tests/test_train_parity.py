"""One laanet training step equals one step of the authors' training code (float64, both warm-up scenarios).

The reference ``../shared/fixtures/train_step/official_step.pt`` (see its README) holds one SAM(Adam) step of
the official code from ``official_b4/checkpoint.pt`` on a fixed batch of 4, dropout and drop-connect off:
``frozen`` (epoch 0, backbone frozen) and ``unfrozen`` (epoch 6). ``run_official_step`` runs laanet's real
loss, optimizer, freezing and ``train_step``; the bars are the README's:

- loss terms of both passes and ``grad_norm_first_step``: 1e-6 relative; pass-1 outputs 1e-6 of the largest;
- per key: ``update_norm`` and ``grad2_norm`` 1e-4 relative; ``update_sum`` / ``grad2_sum`` within
  1e-4 · max(|ref|, ref norm); ``num_batches_tracked`` and the trainable set exact;
- ``head_update``: max |Δ| ≤ 1e-4 · max |ref| per tensor;
- keys whose reference gradient is float64 rounding noise: no gradient check, updates at 1e-2.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures"
STEP = FIXTURES / "train_step" / "official_step.pt"
WEIGHTS = FIXTURES / "official_b4" / "checkpoint.pt"

pytestmark = [
    pytest.mark.slow,  # two float64 B4 SAM steps at 384 px (one per scenario, shared by the tests of this module)
    pytest.mark.skipif(not (STEP.is_file() and WEIGHTS.is_file()), reason="official step fixture not found"),
]


@pytest.fixture(scope="module")
def fixture() -> dict:
    return torch.load(STEP, weights_only=True)


def _run(fixture: dict, scenario: str) -> dict:
    from laanet.training.reference import run_official_step

    return run_official_step(fixture, scenario, weights=str(WEIGHTS))


@pytest.fixture(scope="module")
def frozen_step(fixture: dict) -> dict:
    return _run(fixture, "frozen")


@pytest.fixture(scope="module")
def unfrozen_step(fixture: dict) -> dict:
    return _run(fixture, "unfrozen")


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b) if b else (0.0 if a == b else math.inf)


def compare_step(got: dict, ref: dict, ref_outputs: dict) -> tuple[dict[str, float], list[str]]:
    """(largest error of each check, relative to its bar's scale; list of failures) of one scenario."""
    worst: dict[str, float] = {}
    failures: list[str] = []

    def check(name: str, err: float, bar: float, what: str) -> None:
        worst[name] = max(worst.get(name, 0.0), err)
        if not err <= bar:
            failures.append(f"{what}: {name} error {err:.3g} > {bar:g}")

    for p in ("loss_pass1", "loss_pass2"):
        for term in ("hm", "cls", "cstency", "total"):
            check("loss", _rel(got[p][term], ref[p][term]), 1e-6, f"{p}.{term} {got[p][term]} vs {ref[p][term]}")
    check("grad_norm_first_step", _rel(got["grad_norm_first_step"], ref["grad_norm_first_step"]), 1e-6,
          f"grad_norm_first_step {got['grad_norm_first_step']} vs {ref['grad_norm_first_step']}")
    for name in ("cls_logit", "hm_logit"):
        a, b = got["outputs_pass1"][name].double(), ref_outputs[name].double()
        check("outputs_pass1", float((a - b).abs().max() / b.abs().max()), 1e-6, name)

    assert set(got["per_key"]) == set(ref["per_key"]), "state-dict keys differ from the official ones"
    for key, r in ref["per_key"].items():
        g = got["per_key"][key]
        if r["kind"] == "param":
            check("trainable set", float(g["trainable"] != r["trainable"]), 0, f"{key} trainable {g['trainable']}")
        if key.endswith("num_batches_tracked"):
            check("num_batches_tracked", abs(g["update_sum"] - r["update_sum"]), 0,
                  f"{key} moved {g['update_sum']} vs {r['update_sum']}")
            continue
        bar = 1e-2 if r["grad_is_rounding_noise"] else 1e-4
        kind = "rounding-noise update" if r["grad_is_rounding_noise"] else "update"
        if r["kind"] == "param" and not r["trainable"]:  # a frozen parameter must not move at all
            check("frozen stays", g["update_norm"], 0, f"{key} frozen but moved")
            continue
        check(f"{kind}_norm", _rel(g["update_norm"], r["update_norm"]) if r["update_norm"] else g["update_norm"],
              bar, f"{key} update_norm {g['update_norm']} vs {r['update_norm']}")
        scale = max(abs(r["update_sum"]), r["update_norm"])
        check(f"{kind}_sum", abs(g["update_sum"] - r["update_sum"]) / scale if scale else abs(g["update_sum"]), bar,
              f"{key} update_sum {g['update_sum']} vs {r['update_sum']}")
        if r["grad2_norm"] is None or r["grad_is_rounding_noise"]:
            continue
        check("grad2_norm", _rel(g["grad2_norm"], r["grad2_norm"]), 1e-4, f"{key} grad2_norm {g['grad2_norm']} vs {r['grad2_norm']}")
        scale = max(abs(r["grad2_sum"]), r["grad2_norm"])
        check("grad2_sum", abs(g["grad2_sum"] - r["grad2_sum"]) / scale, 1e-4,
              f"{key} grad2_sum {g['grad2_sum']} vs {r['grad2_sum']}")

    assert set(got["head_update"]) == set(ref["head_update"])
    for key, b in ref["head_update"].items():
        a, b = got["head_update"][key].double(), b.double()
        noise = ref["per_key"][key]["grad_is_rounding_noise"]
        check("head_update (rounding-noise keys)" if noise else "head_update",
              float((a - b).abs().max() / b.abs().max()) if b.abs().max() > 0 else float(a.abs().max()),
              1e-2 if noise else 1e-4, key)
    return worst, failures


@pytest.mark.parametrize("scenario", ["frozen", "unfrozen"])
def test_one_training_step_equals_the_official_one(scenario: str, fixture: dict, request) -> None:
    got = request.getfixturevalue(f"{scenario}_step")
    ref = fixture["scenarios"][scenario]
    worst, failures = compare_step(got, ref, fixture["outputs_pass1"])
    print(f"\n{scenario}: largest errors " + ", ".join(f"{k} {v:.2g}" for k, v in sorted(worst.items())))
    assert not failures, f"{len(failures)} check(s) failed, e.g.:\n" + "\n".join(failures[:15])
    assert got["n_trainable_params"] == ref["n_trainable_params"]


def test_official_bookkeeping_of_the_step(fixture: dict, frozen_step: dict, unfrozen_step: dict) -> None:
    """The quirks the step depends on, named: inception BN +8, head conv frozen in warm-up, BN stats move."""
    for step in (frozen_step, unfrozen_step):
        assert step["per_key"]["deconv_4.0.pw_block.1.num_batches_tracked"]["update_sum"] == 8
        assert step["per_key"]["inception_block.pw_block.1.num_batches_tracked"]["update_sum"] == 8
        assert step["per_key"]["deconv_1.0.1.num_batches_tracked"]["update_sum"] == 2
        assert step["per_key"]["_bn1.num_batches_tracked"]["update_sum"] == 2
    frozen = frozen_step["per_key"]
    assert not frozen["_conv_head.weight"]["trainable"] and frozen["_conv_head.weight"]["update_norm"] == 0
    assert frozen["_bn1.running_mean"]["update_norm"] > 0  # frozen BN still in train mode
    assert unfrozen_step["per_key"]["_conv_head.weight"]["update_norm"] > 0


def test_schedule_and_optimizer_settings_are_the_presets(fixture: dict) -> None:
    """The scenario's lr and optimizer settings, which run_official_step takes as given, are paper-sbi's own."""
    from laanet.config import load_config
    from laanet.training.schedule import lr_at

    tc = load_config("paper-sbi").train
    for scenario in fixture["scenarios"].values():
        assert lr_at(scenario["epoch"], base_lr=tc.lr, booster=tc.booster, epochs=tc.epochs) == pytest.approx(scenario["lr"], rel=1e-12)
        opt = scenario["optimizer"]
        assert (opt["base"], opt["weight_decay"], opt["rho"], opt["amsgrad"]) == ("Adam", tc.weight_decay, tc.sam_rho, False)
        assert tuple(opt["betas"]) == (0.9, 0.999) and opt["eps"] == 1e-8
    assert (fixture["loss_weights"]["hm_lmda"], fixture["loss_weights"]["cls_lmda"], fixture["loss_weights"]["cstency_lmda"]) == (
        tc.hm_weight, tc.cls_weight, tc.cst_weight)


def test_official_key_names_invert_the_checkpoint_mapping() -> None:
    """laanet_to_official_names is the exact inverse of official_to_laanet, duplicated inception keys included."""
    from laanet.models.checkpoint import read_checkpoint
    from laanet.models.laanet import LAANet
    from laanet.config import ModelConfig
    from laanet.models.official import laanet_to_official_names, official_to_laanet

    official = read_checkpoint(WEIGHTS)["state_dict"]
    model = LAANet(ModelConfig())
    names = laanet_to_official_names(model)
    forward = official_to_laanet(official, model)
    assert sorted(o for os_ in names.values() for o in os_) == sorted(official)
    for key, officials in names.items():
        for o in officials:
            assert torch.equal(forward[key], official[o])
    assert names["decoder.deconv_4.0.pw_block.1.weight"] == ["deconv_4.0.pw_block.1.weight", "inception_block.pw_block.1.weight"]
