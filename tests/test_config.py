from __future__ import annotations

import dataclasses

import pytest

from laanet.config import RunConfig, config_from_dict, load_config, preset_names


def test_presets_exist_and_load():
    assert {"paper-sbi", "paper-bi", "cpu-tiny"} <= set(preset_names())
    sbi, bi = load_config("paper-sbi"), load_config("paper-bi")
    assert sbi.train.hm_weight == 100 and bi.train.hm_weight == 10
    assert sbi.model.input_size == 384 and sbi.model.fpn == "efpn"


def test_overrides_are_typed():
    cfg = load_config("paper-sbi", ["train.lr=2e-4", "model.fpn=none", "train.grad_clip=1.0", "model.pretrained=false"])
    assert cfg.train.lr == 2e-4 and cfg.model.fpn == "none" and cfg.train.grad_clip == 1.0 and cfg.model.pretrained is False
    with pytest.raises(ValueError, match="did you mean train.lr"):
        load_config("paper-sbi", ["train.lrr=1"])
    with pytest.raises(ValueError, match="fpn"):
        load_config("paper-sbi", ["model.fpn=bifpn"])
    with pytest.raises(ValueError, match="expected an integer"):
        load_config("paper-sbi", ["train.epochs=1.5"])
    with pytest.raises(ValueError, match="section.key=value"):
        load_config("paper-sbi", ["nonsense"])


def test_yaml_file_and_roundtrip(tmp_path):
    import yaml

    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump({"model": {"input_size": 256}, "train": {"epochs": 3}}))
    cfg = load_config(path)
    assert cfg.model.input_size == 256 and cfg.train.epochs == 3
    again = config_from_dict(cfg.to_dict())
    assert again == cfg
    with pytest.raises(ValueError, match="unknown config"):
        load_config("no-such-preset")
    assert isinstance(RunConfig().to_dict()["model"]["feature_indices"], list)


@pytest.mark.parametrize("name", preset_names())
def test_presets_state_only_what_differs_from_the_defaults(name):
    """Every key a preset sets differs from what it starts from: the dataclass defaults (the LAA-Net paper
    configuration; a model section of another family: that family's config defaults), or its ``base`` preset."""
    from importlib import resources

    import yaml

    from laanet.config import MODEL_CONFIGS

    data = yaml.safe_load((resources.files("laanet.presets") / f"{name}.yaml").read_text())
    base = data.pop("base", None)
    defaults = load_config(base).to_dict() if base else RunConfig().to_dict()
    resolved = load_config(name).to_dict()
    family = resolved["model"]["family"]
    if family != defaults["model"]["family"]:  # a family switch: its keys are measured against that family's defaults
        defaults["model"] = {**dataclasses.asdict(MODEL_CONFIGS[family]()), "family": defaults["model"]["family"]}
    restated = [f"{section}.{key}" for section, values in data.items() for key in values
                if resolved[section][key] == defaults[section][key]]
    assert not restated, f"preset {name} restates defaults: {restated}"
    assert data, f"preset {name} changes nothing"


def test_paper_presets_follow_the_official_training():
    """paper-sbi = the defaults + ImageNet weights; the laanet variants are off in both paper presets."""
    sbi, bi = load_config("paper-sbi"), load_config("paper-bi")
    default = RunConfig()
    default.model.pretrained = True
    assert sbi == default
    for cfg in (sbi, bi):
        assert cfg.model.inception_pw_once is False and cfg.train.best_by == "acc_loss"
        assert (cfg.train.freeze_backbone_epochs, cfg.train.sam_rho, cfg.train.lr, cfg.train.booster) == (6, 0.05, 5e-5, 4.0)
        assert cfg.train.dtype == "float64" and cfg.train.amp == "none"  # the official code trains in float64
    assert load_config("cpu-tiny").train.dtype == "float32"  # the fast laanet option for CPU runs
    assert sbi.data.frames_per_video == 8 and sbi.data.redraw_frames is False  # official SBI: drawn once
    assert bi.data.frames_per_video == 32 and bi.data.redraw_frames is True  # official BI: re-drawn every epoch


def test_fakeformer_presets_follow_the_official_vit_sbi_small_training():
    """fakeformer-vit-s8-sbi = the official vit_sbi_small.yaml as train.py executes it; the -hm preset only adds λ_hm."""
    from laanet.training.losses import FAKEFORMER_POSITIVE_WEIGHT, focal_positive_weight
    from laanet.training.schedule import lr_at

    vit = load_config("fakeformer-vit-s8-sbi")
    assert vit.model.family == "fakeformer" and vit.model.arch == "vit_s8" and vit.model.input_size == 112
    tc = vit.train
    assert (tc.epochs, tc.batch_size, tc.lr, tc.weight_decay, tc.optimizer) == (200, 32, 5e-5, 1e-4, "adam")
    assert (tc.booster, tc.start_decay, tc.freeze_backbone_epochs, tc.best_by) == (1.0, 8, 5, "acc")
    assert (tc.hm_weight, tc.cls_weight, tc.heatmap_loss, tc.dtype, tc.seed) == (0.0, 1.0, "focal", "float64", 317)
    assert focal_positive_weight(tc.focal_eps) == FAKEFORMER_POSITIVE_WEIGHT == 0.92
    assert (vit.data.frames_per_video, vit.data.redraw_frames, vit.data.distinct_frames) == (8, False, False)
    assert vit.data.target_overlap and vit.data.method == "sbi"
    lr = [lr_at(e, base_lr=tc.lr, booster=tc.booster, epochs=tc.epochs, start_decay=tc.start_decay) for e in (0, 24, 25, 100, 199)]
    assert lr[:3] == [5e-5] * 3  # constant to epoch 25, then linear to 0 at 200
    assert lr[3] == pytest.approx(2.857142857e-5, rel=1e-9) and lr[4] == pytest.approx(2.857142857e-7, rel=1e-9)
    # swin_bi_small's schedule (lr 1e-7, booster 250, start_decay 4): warm-up to 2.5e-5 at epoch 50
    assert lr_at(50, base_lr=1e-7, booster=250, epochs=200, start_decay=4) == pytest.approx(2.5e-5, rel=1e-12)
    hm = load_config("fakeformer-vit-s8-sbi-hm")
    assert hm.train.hm_weight == 10.0 and dataclasses.replace(hm.train, hm_weight=0.0) == tc and hm.model == vit.model
    swin = load_config("fakeswin-s-sbi")
    assert (swin.model.arch, swin.model.input_size) == ("swin_s", 224) and swin.train == tc
