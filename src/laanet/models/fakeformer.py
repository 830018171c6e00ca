"""FakeFormer: a timm ViT (or Swin) with a class-token classifier and a vulnerable-patch heatmap head.

Paper: "Efficient Vulnerability-Driven Transformers for Generalisable Deepfake Detection" (FakeFormer), Nguyen et
al., arXiv 2410.21964; journal version LAA-X, arXiv 2604.04086. Behaviour follows the official code
(github.com/10Ring/LAA-Former: ``models/networks/detectors/topdown.py``, ``backbones/vit.py``, ``backbones/swin.py``,
``heads/hm_simple_head.py``):

- ViT (headline: ViT-S/8 at 112 px, 22,776,194 parameters): timm ``vit_small_patch8_224`` at ``img_size=112`` with
  the official patch-embedding padding 2 (so the image's last 2 rows/columns are never seen). The final-norm
  class token → ``cls`` Linear; the 196 patch tokens → B×384×14×14 (row-major) → heatmap head.
- FakeSwin T/S/B at 224 px (Swin-S: 54,890,060 parameters): timm ``swin_*_patch4_window7_224`` with
  ``always_partition=True`` (the official Swin also shifts the windows of its last, 7×7, stage); the final-norm
  7×7 map → mean → ``cls``; → ConvTranspose2d 4×4 stride 2 + BN + ReLU (14×14) → heatmap head.
- Heatmap head (``hm``): conv3×3 (no bias) + BN + ReLU + conv3×3 → B×1×G×G logits. No consistency head.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from laanet.config import FakeFormerConfig
from laanet.models.family import IMAGENET_MEAN, IMAGENET_STD, ModelOutput, Preprocess

_log = logging.getLogger(__name__)
TEST_MARGIN = 9  # pixels of the 256-px crop cut per side at test time (official datasets/fakesformer_sbi.py)


@dataclass(frozen=True)
class Arch:
    """One backbone: the timm model, its token width, and the official default size / pretrained weights."""

    timm_name: str
    kind: str  # "vit" | "swin"
    width: int
    patch: int  # ViT patch size; Swin total stride 32
    input_size: int
    pretrained_tag: str  # timm pretrained tag the official init corresponds to


ARCHS: dict[str, Arch] = {
    "vit_s8": Arch("vit_small_patch8_224", "vit", 384, 8, 112, "dino"),
    "vit_b16": Arch("vit_base_patch16_224", "vit", 768, 16, 224, "dino"),
    "vit_l16": Arch("vit_large_patch16_224", "vit", 1024, 16, 224, "mae"),
    "swin_t": Arch("swin_tiny_patch4_window7_224", "swin", 768, 32, 224, "ms_in1k"),
    "swin_s": Arch("swin_small_patch4_window7_224", "swin", 768, 32, 224, "ms_in22k"),
    "swin_b": Arch("swin_base_patch4_window7_224", "swin", 1024, 32, 224, "ms_in22k"),
}


class PatchHeatmapHead(nn.Module):
    """Official ``TopdownHeatmapSimpleHead`` heatmap branch: [deconv 4×4/2 + BN + ReLU] → conv3×3 (no bias) + BN +
    ReLU → conv3×3 → 1 channel.

    in: B×C×g×g token map → out: B×1×G×G logits (G = g, or 2g with the deconv).
    """

    def __init__(self, in_channels: int, deconv_channels: int | None = None) -> None:
        super().__init__()
        if deconv_channels:
            self.deconv = nn.Sequential(
                nn.ConvTranspose2d(in_channels, deconv_channels, 4, stride=2, padding=1, output_padding=0, bias=False),
                nn.BatchNorm2d(deconv_channels),
                nn.ReLU(inplace=True),
            )
            ch = deconv_channels
        else:
            self.deconv = nn.Identity()
            ch = in_channels
        self.conv = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(inplace=True))
        self.out = nn.Conv2d(ch, 1, 3, padding=1)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Official init (mmcv ``normal_init``/``constant_init``): convs N(0, 0.001), bias 0; BN weight 1, bias 0."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.conv(self.deconv(x)))


def _create_backbone(arch: Arch, cfg: FakeFormerConfig) -> nn.Module:
    import timm

    if arch.kind == "vit":
        model = timm.create_model(
            arch.timm_name, pretrained=False, img_size=cfg.input_size, num_classes=0, drop_path_rate=cfg.drop_path_rate
        )
        # The official patch embedding pads by 2 for every patch size (backbones/vit.py); timm's does not pad.
        model.patch_embed.proj.padding = (cfg.patch_padding, cfg.patch_padding)
        return model
    return timm.create_model(
        arch.timm_name, pretrained=False, img_size=cfg.input_size, num_classes=0, drop_path_rate=cfg.drop_path_rate,
        always_partition=True,
    )


class FakeFormer(nn.Module):
    """FakeFormer ViT / FakeSwin for one square input size; see :class:`laanet.config.FakeFormerConfig`.

    Attributes of the family seam: ``family`` ("fakeformer"), ``preprocess`` (ImageNet normalisation, 9-px test
    margin, corner-aligned affine), ``heatmap_size`` (14 for the shipped configs), ``heads``.
    """

    family = "fakeformer"

    def __init__(self, cfg: FakeFormerConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or FakeFormerConfig()
        if cfg.arch not in ARCHS:
            raise ValueError(f"unknown FakeFormer arch {cfg.arch!r}; known: {', '.join(ARCHS)}")
        self.cfg = cfg
        self.arch = arch = ARCHS[cfg.arch]
        if arch.kind == "swin" and (cfg.input_size % 32 or cfg.input_size < 224):
            raise ValueError(f"FakeSwin needs an input size that is a multiple of 32 and >= 224, got {cfg.input_size}")
        if arch.kind == "vit" and not 0 <= cfg.patch_padding < arch.patch:
            raise ValueError(f"patch_padding must be in [0, {arch.patch}), got {cfg.patch_padding}")
        self.backbone = _create_backbone(arch, cfg)
        if arch.kind == "vit":
            self.grid_size = (cfg.input_size + 2 * cfg.patch_padding - arch.patch) // arch.patch + 1
            if self.grid_size != self.backbone.patch_embed.grid_size[0]:
                raise ValueError(f"patch_padding {cfg.patch_padding} changes the token grid at {cfg.input_size} px")
            deconv = None
        else:
            self.grid_size = cfg.input_size // 32
            deconv = cfg.deconv_channels or 384
        self.cls_head = nn.Linear(arch.width, 1)
        self.heatmap_head = PatchHeatmapHead(arch.width, deconv) if cfg.heatmap_head else None
        self.heatmap_size = self.grid_size * (2 if deconv else 1)
        self.heads: tuple[str, ...] = ("cls", "heatmap") if cfg.heatmap_head else ("cls",)
        self.preprocess = Preprocess(
            input_size=cfg.input_size, crop_size=256, margin=TEST_MARGIN, mean=IMAGENET_MEAN, std=IMAGENET_STD,
            framing="corner_affine",
        )
        if cfg.pretrained_path:
            load_pretrained_backbone(self, cfg.pretrained_path)
        elif cfg.pretrained:
            load_timm_pretrained(self)

    def backbone_parameters(self) -> list[nn.Parameter]:
        """Parameters frozen during the first training epochs (the whole transformer; official ``preset_model``)."""
        return list(self.backbone.parameters())

    def disable_stochastic_layers(self) -> None:
        """Switch off drop-path (stochastic depth) for deterministic training steps."""
        from timm.layers import DropPath

        for m in self.backbone.modules():
            if isinstance(m, DropPath):
                m.drop_prob = 0.0

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: B×3×S×S → (pooled B×C: ViT final-norm class token / Swin mean of the final map,
        token map B×C×g×g: ViT patch tokens row-major / Swin final map)."""
        f = self.backbone.forward_features(x)
        if self.arch.kind == "vit":
            b, n, c = f.shape
            g = self.grid_size
            return f[:, 0], f[:, 1:].transpose(1, 2).reshape(b, c, g, g)
        return f.mean(dim=(1, 2)), f.permute(0, 3, 1, 2)  # timm Swin: B×g×g×C

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """x: B×3×S×S, RGB, (pixel/255 − ImageNet mean)/std → :class:`ModelOutput` (cls B×1, heatmap B×1×G×G, None)."""
        pooled, tokens = self.features(x)
        heatmap = self.heatmap_head(tokens) if self.heatmap_head is not None else None
        return ModelOutput(cls=self.cls_head(pooled), heatmap=heatmap, consistency=None)


def resize_pos_embed(pos_embed: torch.Tensor, grid_size: int, num_prefix_tokens: int = 1) -> torch.Tensor:
    """1×(P+n²)×C → 1×(P+g²)×C: prefix (class) positions kept, the n×n grid resized to g×g bicubic,
    ``align_corners=False``, no antialiasing (official ``models/utils/utils.py`` ``load_checkpoint``).
    Computed in the input's dtype."""
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    n = int(round(grid.shape[1] ** 0.5))
    if n * n != grid.shape[1]:
        raise ValueError(f"position embedding has {grid.shape[1]} grid positions, not a square")
    if n == grid_size:
        return pos_embed
    c = grid.shape[-1]
    grid = grid.reshape(1, n, n, c).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(grid_size, grid_size), mode="bicubic", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, grid_size * grid_size, c)
    return torch.cat([prefix, grid], dim=1)


def _unwrap(obj: dict) -> dict:
    for key in ("state_dict", "model", "teacher"):
        if key in obj and isinstance(obj[key], dict) and all(isinstance(k, str) for k in obj[key]):
            return obj[key]
    return obj


def load_backbone_state(model: FakeFormer, state: dict[str, torch.Tensor], source: str) -> list[str]:
    """Load a pretrained backbone state dict (DINO / MAE ViT layout = timm's names; original Swin layout) into
    ``model.backbone`` non-strictly, as the official ``load_checkpoint(strict=False)``; returns the missing keys."""
    state = {k.removeprefix("module.").removeprefix("backbone."): v for k, v in state.items()}
    if model.arch.kind == "vit":
        if "pos_embed" in state:
            state["pos_embed"] = resize_pos_embed(state["pos_embed"], model.grid_size)
    else:
        from timm.models.swin_transformer import checkpoint_filter_fn

        state = checkpoint_filter_fn(state, model.backbone)
        # Official quirk (swin.py / utils.py swin_converter): the original final `norm` has no counterpart
        # (norm0..norm3), so the final norm keeps its default init.
        state = {k: v for k, v in state.items() if not k.startswith("norm.")}
    own = model.backbone.state_dict()
    usable = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not usable:
        raise ValueError(f"{source}: no key fits the {model.arch.timm_name} backbone (expected a DINO/MAE ViT or Swin state dict)")
    missing, _ = model.backbone.load_state_dict({k: v.to(own[k].dtype) for k, v in usable.items()}, strict=False)
    skipped = sorted(set(state) - set(usable))
    if skipped:
        _log.info("%s: %d pretrained key(s) not used: %s", source, len(skipped), ", ".join(skipped[:6]))
    if missing:
        _log.info("%s: %d backbone key(s) keep their init: %s", source, len(missing), ", ".join(missing[:6]))
    return list(missing)


def load_pretrained_backbone(model: FakeFormer, path: str | Path) -> list[str]:
    """Initialise the backbone from a local DINO / MAE / Swin checkpoint (``model.pretrained_path``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model.pretrained_path: file not found: {path}")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return load_backbone_state(model, _unwrap(obj), str(path))


def load_timm_pretrained(model: FakeFormer) -> list[str]:
    """Initialise the backbone from timm's hub weights by name (``vit_small_patch8_224.dino``, ...; needs internet or
    the Hugging Face cache), resized as the official loader does (bicubic, no antialias)."""
    import timm

    name = f"{model.arch.timm_name}.{model.arch.pretrained_tag}"
    try:
        ref = timm.create_model(name, pretrained=True, num_classes=0)
    except Exception as err:  # network, missing cache, ...
        raise RuntimeError(
            f"could not fetch timm weights {name!r} ({type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}); "
            "set model.pretrained_path to a local file or model.pretrained=false"
        ) from None
    return load_backbone_state(model, ref.state_dict(), name)
