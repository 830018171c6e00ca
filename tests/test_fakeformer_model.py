"""FakeFormer (ViT-S/8, FakeSwin): the authors' layout loads and reproduces the official outputs (fixtures made with
the official code in ``../shared/fixtures/fakeformer``), DINO position-grid resize, Swin key mapping, loader variants."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from laanet.config import FakeFormerConfig, ModelConfig, load_config, model_config_from_dict
from laanet.models.checkpoint import CheckpointError, convert_official, load_model, save_model
from laanet.models.fakeformer import FakeFormer, load_backbone_state, load_pretrained_backbone
from laanet.models.fakeformer_official import laanet_to_official, official_config, official_to_laanet
from laanet.models.family import FAMILIES, IMAGENET_MEAN, ModelOutput, Preprocess, build_model
from laanet.models.laanet import LAANetOutput, count_parameters

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "fakeformer"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"FakeFormer fixtures not present ({FIXTURES})")


@pytest.fixture(scope="module")
def io():
    return torch.load(FIXTURES / "io.pt", weights_only=True)


@pytest.fixture(scope="module")
def official():
    """The fixture checkpoint through the public loader (float32, eval)."""
    return load_model(FIXTURES / "checkpoint.pt")


@pytest.fixture(scope="module")
def official_state():
    return torch.load(FIXTURES / "checkpoint.pt", weights_only=True)["state_dict"]


def _tsv(name: str) -> list[tuple[str, tuple[int, ...], str]]:
    rows = []
    for line in (FIXTURES / name).read_text().splitlines()[1:]:
        key, shape, dtype = line.split("\t")
        rows.append((key, () if shape == "scalar" else tuple(int(s) for s in shape.split("x")), dtype))
    return rows


# ------------------------------------------------------------------------------------------------- seam, config


def test_families_and_seam_attributes():
    assert set(FAMILIES) == {"laanet", "fakeformer"}
    assert LAANetOutput is ModelOutput
    model = FakeFormer(FakeFormerConfig())
    assert model.family == "fakeformer" and model.heads == ("cls", "heatmap") and model.heatmap_size == 14
    assert model.preprocess == Preprocess(112, 256, 9, IMAGENET_MEAN, (0.229, 0.224, 0.225), "corner_affine")
    assert len(model.backbone_parameters()) == 150
    assert count_parameters(model) == 22_776_194
    assert count_parameters(model.backbone) == 21_444_480
    assert model.backbone.patch_embed.proj.padding == (2, 2)
    assert Preprocess.from_dict(model.preprocess.to_dict()) == model.preprocess
    assert FakeFormer(FakeFormerConfig(heatmap_head=False)).heads == ("cls",)


def test_config_selects_family_dataclass():
    cfg = load_config("paper-sbi", ["model.family=fakeformer", "model.arch=swin_s", "model.input_size=224"])
    assert isinstance(cfg.model, FakeFormerConfig) and cfg.model.arch == "swin_s"
    assert isinstance(load_config("paper-sbi").model, ModelConfig)
    assert isinstance(model_config_from_dict({"family": "fakeformer"}), FakeFormerConfig)
    assert isinstance(model_config_from_dict({"input_size": 256}), ModelConfig)  # format-1 config sections
    with pytest.raises(ValueError, match="family"):
        model_config_from_dict({"family": "resnet"})
    with pytest.raises(ValueError, match="unknown config key"):
        load_config("paper-sbi", ["model.family=fakeformer", "model.fpn=none"])  # an LAA-Net key


def test_vit_forward_shapes_and_padding_matters():
    torch.manual_seed(0)
    model = build_model(FakeFormerConfig()).eval()
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        out = model(x)
        x2 = x.clone()
        x2[..., 110:, :] = 5.0  # the last 2 rows are never seen with the official padding 2
        x2[..., :, 110:] = -5.0
        same = model(x2)
    assert out.cls.shape == (2, 1) and out.heatmap.shape == (2, 1, 14, 14) and out.consistency is None
    assert torch.equal(out.cls, same.cls) and torch.equal(out.heatmap, same.heatmap)


# ------------------------------------------------------------------------------------------------- ViT parity


@needs_fixtures
def test_official_checkpoint_is_recognised(official, official_state):
    keys = [row[0] for row in _tsv("keys.tsv")]
    assert list(official_state) == keys and len(keys) == 160
    assert official.meta["format"] == "official" and official.meta["family"] == "fakeformer"
    assert not official.training
    assert official.cfg.arch == "vit_s8" and official.cfg.input_size == 112
    assert count_parameters(official) == 22_776_194
    # the inverse renaming gives back exactly the official keys
    assert list(laanet_to_official(official.state_dict(), swin=False)) != []
    assert sorted(laanet_to_official(official.state_dict(), swin=False)) == sorted(keys)


@needs_fixtures
def test_parity_float64(official, io):
    model = load_model(FIXTURES / "checkpoint.pt").double()
    x = io["input"]
    assert x.dtype == torch.float64
    with torch.no_grad():
        out = model(x)
        mirrored = model(x.flip(-1))
        pooled, tokens = model.features(x)
    tol = 1e-10
    assert (out.cls - io["cls"]).abs().max() < tol
    assert (out.heatmap - io["hm"]).abs().max() < tol
    assert (pooled - io["backbone_cls_token"][:, 0]).abs().max() < tol
    assert (tokens - io["backbone_embed"]).abs().max() < tol
    # official flip test: logits averaged, the mirrored heatmap NOT flipped back
    assert ((out.cls + mirrored.cls) / 2 - io["cls_flip_mean_logit"]).abs().max() < tol
    assert ((out.heatmap + mirrored.heatmap) / 2 - io["hm_flip_mean"]).abs().max() < tol
    assert (torch.sigmoid((out.cls + mirrored.cls) / 2) - io["cls_flip_mean_prob"]).abs().max() < tol
    assert (io["hm"] - io["hm"].flip(-1)).abs().max() > 0.1  # the fixture is asymmetric: un-flipping would differ


@needs_fixtures
def test_parity_float32(official, io):
    x = io["input"].float()
    with torch.no_grad():
        out = official(x)
        mirrored = official(x.flip(-1))
    assert (out.cls.double() - io["cls"]).abs().max() < 1e-4
    assert (out.heatmap.double() - io["hm"]).abs().max() < 1e-4
    assert ((out.heatmap + mirrored.heatmap).double() / 2 - io["hm_flip_mean"]).abs().max() < 1e-4


@needs_fixtures
def test_input_is_imagenet_normalised(io):
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor((0.229, 0.224, 0.225), dtype=torch.float64).view(1, 3, 1, 1)
    x = (io["image_uint8"].permute(0, 3, 1, 2).double() / 255 - mean) / std
    assert (x - io["input"]).abs().max() < 1e-12


# ------------------------------------------------------------------------------------------------- DINO init


@needs_fixtures
def test_dino_position_grid_resize(tmp_path):
    dino = torch.load(FIXTURES / "dino_init.pt", weights_only=True)
    model = FakeFormer(FakeFormerConfig()).double()
    torch.manual_seed(1)
    blocks0 = torch.randn(384, 3, 8, 8)
    load_backbone_state(model, {"pos_embed": dino["dino_pos_embed"], "patch_embed.proj.weight": blocks0}, "dino")
    assert (model.backbone.pos_embed - dino["loaded_pos_embed"]).abs().max() <= 1e-12
    assert torch.equal(model.backbone.patch_embed.proj.weight, blocks0.double())
    # the same through model.pretrained_path (a DINO-layout file; its `head.*` is ignored)
    path = tmp_path / "dino_deitsmall8_pretrain.pth"
    torch.save({"pos_embed": dino["dino_pos_embed"], "cls_token": torch.ones(1, 1, 384), "head.weight": torch.ones(3)}, path)
    built = FakeFormer(FakeFormerConfig(pretrained_path=str(path)))
    assert (built.backbone.pos_embed.double() - dino["loaded_pos_embed"]).abs().max() < 1e-6
    assert torch.equal(built.backbone.cls_token, torch.ones(1, 1, 384))
    with pytest.raises(ValueError, match="no key fits"):
        torch.save({"foo": torch.ones(2)}, tmp_path / "bad.pth")
        load_pretrained_backbone(built, tmp_path / "bad.pth")


# ------------------------------------------------------------------------------------------------- Swin


def _official_swin_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape, dtype in _tsv("keys_swin_small.tsv"):
        if dtype == "int64":
            state[key] = torch.zeros(shape, dtype=torch.int64)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            state[key] = torch.randn(shape, generator=g) * 0.02
    return state


@needs_fixtures
def test_swin_small_official_layout_loads_strictly():
    from laanet.models.checkpoint import load_state_strict

    state = _official_swin_state()
    assert len(state) == 373
    is_param = lambda k: not (k.endswith(("running_mean", "running_var", "num_batches_tracked", "relative_position_index")))
    assert sum(v.numel() for k, v in state.items() if is_param(k)) == 54_890_060
    cfg = official_config(state)
    assert (cfg.arch, cfg.input_size, cfg.deconv_channels) == ("swin_s", 224, 384)
    model = FakeFormer(cfg)
    # the official per-stage norms norm0..norm2 (1,344 parameters) are never used by the official forward
    assert count_parameters(model) == 54_890_060 - 2 * (96 + 192 + 384)
    mapped = official_to_laanet(state, model)
    load_state_strict(model, mapped, "swin")  # every key present, none left over, every shape right
    assert torch.equal(model.backbone.norm.weight, state["backbone.norm3.weight"])
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 224, 224))
    assert out.cls.shape == (1, 1) and out.heatmap.shape == (1, 1, 14, 14) and out.consistency is None
    assert model.heatmap_size == 14
    back = laanet_to_official(mapped, swin=True)  # the renaming and the merge reorder round-trip
    dropped = [k for k in state if k not in back]
    assert all(k.endswith("relative_position_index") or k.startswith(("backbone.norm0", "backbone.norm1", "backbone.norm2")) for k in dropped)
    assert all(torch.equal(back[k], state[k]) for k in back)


def test_swin_merge_reorder_matches_unfold():
    """The official merge (nn.Unfold 2×2, channel-major) with its weights equals timm's PatchMerging with the
    mapped ones (asymmetric random input)."""
    from timm.models.swin_transformer import PatchMerging

    from laanet.models.fakeformer_official import _merge_official_to_timm

    torch.manual_seed(0)
    c = 6
    x = torch.randn(2, c, 8, 8, dtype=torch.float64)
    w = torch.randn(2 * c, 4 * c, dtype=torch.float64)
    nw, nb = torch.randn(4 * c, dtype=torch.float64), torch.randn(4 * c, dtype=torch.float64)
    u = F.unfold(x, kernel_size=2, stride=2).transpose(1, 2)  # B×(H/2·W/2)×4C, channel-major
    ref = F.linear(F.layer_norm(u, (4 * c,), nw, nb), w).reshape(2, 4, 4, 2 * c)
    merge = PatchMerging(c, 2 * c).double()
    merge.reduction.weight.data = _merge_official_to_timm(w, dim=1)
    merge.norm.weight.data, merge.norm.bias.data = _merge_official_to_timm(nw, 0), _merge_official_to_timm(nb, 0)
    got = merge(x.permute(0, 2, 3, 1))
    assert (got - ref).abs().max() < 1e-12


# ------------------------------------------------------------------------------------------------- loader variants


@needs_fixtures
def test_loader_variants(tmp_path, official, official_state, io):
    x = io["input"][:1].float()
    with torch.no_grad():
        ref = official(x).heatmap
    variants = {
        "module_optimizer_float64.pth": {
            "epoch": 3, "state_dict": {f"module.{k}": v.double() if v.is_floating_point() else v for k, v in official_state.items()},
            "optimizer": {"state": {}, "param_groups": []},
        },
        "model_float32.pth": {"model": {k: v.float() if v.is_floating_point() else v for k, v in official_state.items()}},
        "bare_float16.pth": dict(official_state),
    }
    for name, payload in variants.items():
        torch.save(payload, tmp_path / name)
        model = load_model(tmp_path / name)
        assert model.meta["format"] == "official" and model.meta["family"] == "fakeformer", name
        with torch.no_grad():
            assert (model(x).heatmap - ref).abs().max() < 1e-6, name
        (tmp_path / name).unlink()


def test_foreign_dict_gives_clear_error(tmp_path):
    torch.save({"state_dict": {"encoder.layer.0.weight": torch.ones(2)}}, tmp_path / "foreign.pth")
    with pytest.raises(CheckpointError, match=r"unknown checkpoint layout.*backbone\.\* \+ keypoint_head\.\*"):
        load_model(tmp_path / "foreign.pth")
    state = {"backbone.cls_token": torch.zeros(1, 1, 384), "keypoint_head.cls.1.weight": torch.zeros(1, 384)}
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match="unexpected shape|missing key"):
        load_model(tmp_path / "partial.pth")


@needs_fixtures
def test_convert_and_laanet_checkpoint_round_trip(tmp_path, official, io):
    out = convert_official(FIXTURES / "checkpoint.pt", tmp_path / "ff.pt")
    raw = torch.load(out, weights_only=True)
    assert raw["format_version"] == 2 and raw["family"] == "fakeformer"
    assert raw["config"]["model"]["family"] == "fakeformer"
    model = load_model(out)
    assert model.meta["format"] == "laanet" and model.meta["converted_from"] == "official"
    x = io["input"][:1].float()
    with torch.no_grad():
        assert torch.equal(model(x).cls, official(x).cls)
    with pytest.raises(CheckpointError, match="already a laanet checkpoint"):
        convert_official(out, tmp_path / "again.pt")


def test_format1_checkpoint_is_laanet(tmp_path):
    torch.manual_seed(2)
    cfg = load_config("cpu-tiny").model
    from laanet.models.laanet import LAANet

    path = save_model(LAANet(cfg), tmp_path / "tiny.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["family"] == "laanet"
    del raw["family"], raw["config"]["model"]["family"]
    raw["format_version"] = 1
    torch.save(raw, tmp_path / "v1.pt")
    model = load_model(tmp_path / "v1.pt")
    assert model.family == "laanet" and model.meta["family"] == "laanet"
    assert model.preprocess == Preprocess(cfg.input_size, 256, 5, (0.5,) * 3, (0.5,) * 3, "resize")
    assert model.heatmap_size == cfg.input_size // 4 and model.heads == ("cls", "heatmap", "consistency")


def test_fakeformer_laanet_checkpoint_round_trip(tmp_path):
    torch.manual_seed(4)
    model = FakeFormer(FakeFormerConfig(patch_padding=0)).eval()
    path = save_model(model, tmp_path / "ff.pt")
    loaded = load_model(path)
    assert isinstance(loaded, FakeFormer) and loaded.cfg.patch_padding == 0
    x = torch.randn(1, 3, 112, 112)
    with torch.no_grad():
        assert torch.equal(loaded(x).heatmap, model(x).heatmap)


def test_official_config_reads_the_architecture_from_shapes():
    z = torch.zeros
    vit_b = {"backbone.patch_embed.proj.weight": z(768, 3, 16, 16), "backbone.pos_embed": z(1, 197, 768),
             "keypoint_head.hm.1.weight": z(1, 768, 3, 3), "keypoint_head.cls.1.weight": z(1, 768)}
    cfg = official_config({f"module.{k}": v for k, v in vit_b.items()})
    assert (cfg.arch, cfg.input_size, cfg.drop_path_rate, cfg.heatmap_head) == ("vit_b16", 224, 0.3, True)
    cls_only = {"backbone.patch_embed.proj.weight": z(384, 3, 8, 8), "backbone.pos_embed": z(1, 197, 384),
                "keypoint_head.cls.1.weight": z(1, 384)}
    assert (official_config(cls_only).arch, official_config(cls_only).heatmap_head) == ("vit_s8", False)
    swin_t = {"backbone.patch_embed.projection.weight": z(96, 3, 4, 4), "keypoint_head.cls.1.weight": z(1, 768),
              **{f"backbone.stages.2.blocks.{i}.norm1.weight": z(384) for i in range(6)}}
    assert official_config(swin_t).arch == "swin_t"
    swin_t.update({f"backbone.stages.2.blocks.{i}.norm1.weight": z(384) for i in range(18)})
    assert official_config(swin_t).arch == "swin_s"
    with pytest.raises(KeyError, match="ViT-S/8"):
        official_config({**vit_b, "backbone.patch_embed.proj.weight": z(768, 3, 8, 8)})
