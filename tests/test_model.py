"""LAA-Net architecture: parameter count, shapes, switches, initialisation."""
from __future__ import annotations

import pytest
import torch

from laanet.config import ModelConfig, load_config
from laanet.models.backbone import Conv2dStaticSame
from laanet.models.laanet import LAANet, LAANetOutput, count_parameters


@pytest.fixture(scope="module")
def paper_model() -> LAANet:
    return LAANet(ModelConfig(pretrained=False)).eval()


def test_paper_parameter_count(paper_model):
    assert count_parameters(paper_model) == 27_128_786
    assert count_parameters(paper_model.backbone) == 17_548_616
    assert sum(p.numel() for p in paper_model.decoder.parameters()) == 9_369_288
    heads = {n: sum(p.numel() for p in getattr(paper_model, n).parameters()) for n in ("heatmap_head", "cls_head", "consistency_head")}
    assert heads == {"heatmap_head": 64_769, "cls_head": 64_769, "consistency_head": 81_344}
    assert sum(p.numel() for p in paper_model.decoder.deconv_4[0].parameters()) == 29_960  # shared inception


def test_paper_shapes_and_taps(paper_model):
    assert paper_model.backbone.channels == [1792, 448, 160, 56]
    assert paper_model.backbone.body.feature_info.reduction() == [8, 16, 32]
    x = torch.rand(1, 3, 384, 384) * 2 - 1
    with torch.no_grad():
        feats = paper_model.backbone(x)
        out = paper_model(x)
    assert [tuple(f.shape[1:]) for f in feats] == [(1792, 12, 12), (448, 12, 12), (160, 24, 24), (56, 48, 48)]
    assert isinstance(out, LAANetOutput)
    assert out.cls.shape == (1, 1)
    assert out.heatmap.shape == (1, 1, 96, 96)
    assert out.consistency.shape == (1, 256, 96, 96)


def test_static_padding_matches_official_380(paper_model):
    """Official pads for 380 px: at 384 only the first stage-3 depthwise conv differs from dynamic 'same'."""
    pads = {n: m.pad for n, m in paper_model.backbone.body.named_modules() if isinstance(m, Conv2dStaticSame)}
    assert pads["blocks.2.0.conv_dw"] == (2, 2, 2, 2)  # dynamic 'same' at 96 px would be (1, 2, 1, 2)
    assert pads["conv_stem"] == (0, 1, 0, 1)
    assert pads["blocks.5.0.conv_dw"] == (1, 2, 1, 2)


def test_init(paper_model):
    assert torch.allclose(paper_model.heatmap_head[3].bias, torch.tensor([-2.19]))
    assert paper_model.consistency_head[3].bias.abs().max() == 0
    torch.manual_seed(0)
    m = LAANet(ModelConfig(pretrained=False))
    w = m.decoder.deconv_2[1].weight  # ConvT 160 -> 160, 4x4
    assert abs(w.std().item() - (2 / (16 * 160)) ** 0.5) < 2e-3
    assert abs(m.consistency_head[3].weight.std().item() - (2 / 256) ** 0.5) < 5e-3


@pytest.mark.parametrize("fpn", ["efpn", "fpn", "none"])
def test_tiny_fpn_variants(fpn):
    cfg = load_config("cpu-tiny", [f"model.fpn={fpn}"]).model
    m = LAANet(cfg).eval()
    with torch.no_grad():
        out = m(torch.zeros(2, 3, 128, 128))
    assert out.cls.shape == (2, 1)
    assert out.heatmap.shape == (2, 1, 32, 32)
    assert out.consistency.shape == (2, 256, 32, 32)
    assert m.decoder.out_channels == (40 if fpn == "none" else 80)


def test_gated_fusion_formula():
    from laanet.models.decoder import ConcatFusion, GatedFusion

    u, l = torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4)
    z = GatedFusion()(u, l)
    assert torch.equal(z[:, :3], u)
    assert torch.allclose(z[:, 3:], (1 - torch.sigmoid(u)) * l)
    assert torch.allclose(ConcatFusion()(u, l)[:, :3], u.clamp(min=0))


def test_heads_off():
    cfg = load_config("cpu-tiny", ["model.heatmap_head=False", "model.consistency_head=False"]).model
    out = LAANet(cfg).eval()(torch.zeros(1, 3, 128, 128))
    assert out.heatmap is None and out.consistency is None and out.cls.shape == (1, 1)


def test_tap_dropout_only_in_training():
    m = LAANet(load_config("cpu-tiny").model)
    x = torch.rand(1, 3, 128, 128)
    m.eval()
    with torch.no_grad():
        a, b = m(x).cls, m(x).cls
    assert torch.equal(a, b)
    assert m.tap_dropout.p == 0.2


def test_official_resnet50_efpn_variant():
    """Spec §1.7: the official PoseResNet E-FPN (use_c2) has 33,238,914 parameters; heatmap 64×64 at 256 px."""
    cfg = load_config("resnet50-efpn", ["model.pretrained=false"]).model
    m = LAANet(cfg).eval()
    assert m.backbone.channels == [2048, 1024, 512, 256]
    assert count_parameters(m) == 33_238_914
    with torch.no_grad():
        out = m(torch.zeros(1, 3, 256, 256))
    assert out.cls.shape == (1, 1)
    assert out.heatmap.shape == (1, 1, 64, 64) and out.consistency.shape == (1, 256, 64, 64)


def test_bad_backbone_and_size():
    with pytest.raises(ValueError, match="input_size"):
        LAANet(ModelConfig(input_size=100, pretrained=False))
    with pytest.raises(ValueError, match="timm backbone"):
        LAANet(ModelConfig(backbone="no_such_net", pretrained=False))


def test_pretrained_backbone_from_local_file(tmp_path):
    """Users offline can point model.pretrained_path at a timm state dict; nothing is downloaded."""
    import timm

    torch.manual_seed(1)
    reference = timm.create_model("efficientnet_b0")
    path = tmp_path / "b0.pth"
    torch.save(reference.state_dict(), path)
    cfg = load_config("cpu-tiny", ["model.pretrained=true", f"model.pretrained_path={path}"]).model
    m = LAANet(cfg)
    assert torch.equal(m.backbone.body.conv_stem.weight, reference.conv_stem.weight)
    assert torch.equal(m.backbone.body.blocks[3][0].conv_pw.weight, reference.blocks[3][0].conv_pw.weight)


def test_paper_model_loads_every_imagenet_tensor_but_the_classifier(tmp_path):
    """The C5 head conv (timm conv_head/bn2, dropped by features_only) is loaded too; values equal, names aside."""
    import timm

    torch.manual_seed(3)
    reference = timm.create_model("tf_efficientnet_b4")  # random "ImageNet" classifier; nothing is downloaded
    with torch.no_grad():  # make every tensor distinguishable from a fresh init (BN stats included)
        for t in reference.state_dict().values():
            if t.is_floating_point():
                t.add_(torch.rand_like(t))
            else:
                t.fill_(7)
    path = tmp_path / "b4_imagenet.pth"
    torch.save(reference.state_dict(), path)
    m = LAANet(load_config("paper-sbi", [f"model.pretrained_path={path}"]).model)
    file_tensors = [v for k, v in reference.state_dict().items() if not k.startswith("classifier.")]
    backbone_tensors = list(m.backbone.state_dict().values())  # body (stem, bn1, blocks) then head (conv, BN)
    assert len(backbone_tensors) == len(file_tensors) == 698 + 6
    for got, want in zip(backbone_tensors, file_tensors):
        assert got.shape == want.shape and torch.equal(got, want.to(got.dtype))
    assert torch.equal(m.backbone.head[0].weight, reference.conv_head.weight)
    assert torch.equal(m.backbone.head[1].running_var, reference.bn2.running_var)
    # the head conv is frozen with the rest of the backbone
    head_params = {id(p) for p in m.backbone.head.parameters()}
    assert head_params <= {id(p) for p in m.backbone_parameters()}


def test_pretrained_offline_fails_at_once_naming_the_local_file_option(monkeypatch):
    import huggingface_hub

    from laanet.models import backbone

    monkeypatch.setattr(backbone, "_hub_reachable", lambda timeout=5.0: False)
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: None)
    monkeypatch.setattr(backbone.timm, "create_model", _no_download(backbone.timm.create_model))
    with pytest.raises(OSError, match="model.pretrained_path"):
        LAANet(load_config("cpu-tiny", ["model.pretrained=true"]).model)


def _no_download(create_model):
    def create(name, pretrained=False, **kwargs):
        assert not pretrained, "tried to download"
        return create_model(name, pretrained=False, **kwargs)

    return create


def test_inception_block_bn_bookkeeping_official_and_pw_once():
    """Official: pw(x) three times in training (BN stats move 4x per forward); pw_once: same outputs/grads, 2x."""
    from laanet.models.decoder import InceptionBlock

    torch.manual_seed(0)
    official, once = InceptionBlock(8), InceptionBlock(8, pw_once=True)
    once.load_state_dict(official.state_dict())
    x = torch.randn(2, 8, 6, 5, dtype=torch.float64) * 3 + 1
    official.double().train(), once.double().train()
    y_official, y_once = official(x), once(x)
    torch.testing.assert_close(y_official, y_once, rtol=1e-12, atol=1e-12)
    (y_official * torch.arange(y_official.numel(), dtype=x.dtype).view_as(y_official)).sum().backward()
    (y_once * torch.arange(y_once.numel(), dtype=x.dtype).view_as(y_once)).sum().backward()
    for (name, a), b in zip(official.named_parameters(), once.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12, msg=name)
    bn_official, bn_once = official.pw_block[1], once.pw_block[1]
    assert int(bn_official.num_batches_tracked) == 4 and int(bn_once.num_batches_tracked) == 2
    # running mean after x, x, x, maxpool(x) with momentum 0.1
    pw = once.pw_block[0]
    mean_x, mean_pool = pw(x).mean((0, 2, 3)), pw(official.pool(x)).mean((0, 2, 3))
    expected = 0.9**4 * 0 + (1 - 0.9**3) * 0.9 * mean_x + 0.1 * mean_pool
    torch.testing.assert_close(bn_official.running_mean, expected.detach(), rtol=1e-10, atol=1e-12)
    assert not torch.allclose(bn_official.running_mean, bn_once.running_mean)
    once.load_state_dict(official.state_dict())
    official.eval(), once.eval()
    with torch.no_grad():
        torch.testing.assert_close(official(x), once(x), rtol=0, atol=0)  # eval: one pw(x) either way


def test_inception_option_reaches_the_model():
    tiny = load_config("cpu-tiny", ["model.inception_pw_once=true"]).model
    assert LAANet(tiny).decoder.deconv_4[0].pw_once is True
    assert LAANet(load_config("cpu-tiny").model).decoder.deconv_4[0].pw_once is False
