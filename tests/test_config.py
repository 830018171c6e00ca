from __future__ import annotations

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
    """Every key a preset sets differs from the dataclass default (the defaults are the paper configuration)."""
    from importlib import resources

    import yaml

    data = yaml.safe_load((resources.files("laanet.presets") / f"{name}.yaml").read_text())
    defaults = RunConfig().to_dict()
    resolved = load_config(name).to_dict()
    restated = [f"{section}.{key}" for section, values in data.items() for key in values
                if resolved[section][key] == defaults[section][key]]
    assert not restated, f"preset {name} restates defaults: {restated}"


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
