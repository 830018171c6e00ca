"""Typed configuration: dataclasses, YAML presets shipped in the package, and ``key=value`` overrides.

A run is described by one :class:`RunConfig` (``model``, ``data``, ``train``). Presets live in
``laanet/presets/*.yaml`` (a preset may start from another with a top-level ``base: NAME``);
``load_config("paper-sbi", ["train.lr=2e-4", "model.fpn=none"])`` resolves one.
Every override is parsed with :func:`ast.literal_eval` (falling back to the raw string) and checked against
the field's type; an unknown key fails and names the nearest valid keys.
"""
from __future__ import annotations

import ast
import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

FpnKind = Literal["efpn", "fpn", "none"]
Layout = Literal["laanet", "pose_resnet"]


@dataclass
class ModelConfig:
    """Architecture of one LAA-Net. Defaults are the paper configuration (official
    ``configs/efn4_fpn_sbi_adv.yaml``)."""

    family: Literal["laanet"] = "laanet"  # model family (laanet.models.family.FAMILIES)
    backbone: str = "tf_efficientnet_b4"  # any timm model that supports features_only
    # Indices into the backbone's feature_info for the C3, C4, C5-1 taps (stride 8, 16, 32). The C5 tap is an
    # extra 1x1 conv + BN + act on top of the last one (EfficientNet's head conv, as in the official B4).
    feature_indices: tuple[int, int, int] = (2, 3, 4)
    head_channels: int = 1792  # channels of the C5 head conv
    # Static TF-"same" padding computed for this input size, as the official backbone does
    # (``models/networks/efficientNet.py`` keeps the 380 px of B4 although the model runs at 384 px).
    # None = timm's dynamic "same" padding. Only affects timm "tf_*" models (those with Conv2dSame).
    static_padding_size: int | None = 380
    layout: Layout = "laanet"  # laanet: B4 E-FPN; pose_resnet: the official ResNet-50 variant (mrsa_resnet.py)
    fpn: FpnKind = "efpn"  # efpn: gated fusion; fpn: plain concat of ReLU(U) and L; none: no lateral inputs
    heatmap_head: bool = True
    consistency_head: bool = True
    head_conv: int = 64  # hidden width of each head (official head_conv)
    consistency_dim: int = 256  # per-pixel embedding size of the consistency head
    # laanet option: evaluate the inception block's shared point-wise conv+BN once per forward and reuse it. Same
    # outputs and gradients; its BN running stats then move 2x per forward instead of the official 4x.
    inception_pw_once: bool = False
    tap_dropout: float = 0.4  # element-wise dropout on the four taps in training (B4's dropout_rate)
    drop_path_rate: float = 0.2  # backbone drop-connect, scaled linearly with block index
    input_size: int = 384  # square network input (pixels); outputs are input_size / 4
    pretrained: bool = False  # load ImageNet weights for the backbone (needs internet or pretrained_path)
    pretrained_path: str | None = None  # local file with backbone weights (timm state dict)


FakeFormerArch = Literal["vit_s8", "vit_b16", "vit_l16", "swin_t", "swin_s", "swin_b"]


@dataclass
class FakeFormerConfig:
    """Architecture of one FakeFormer (arXiv 2410.21964; official code github.com/10Ring/LAA-Former). Defaults are
    the headline model, official ``configs/spatial/vit_sbi_small.yaml``: ViT-S/8 at 112 px, 14×14 heatmap.

    ``arch``: vit_s8 (timm ``vit_small_patch8_224``, DINO init), vit_b16 / vit_l16 (``vit_sbi_base/large.yaml``, 224 px),
    swin_t / swin_s / swin_b (FakeSwin, ``swin_sbi_*.yaml``, 224 px, timm ``swin_*_patch4_window7_224``).
    """

    family: Literal["fakeformer"] = "fakeformer"
    arch: FakeFormerArch = "vit_s8"
    input_size: int = 112  # square network input; 224 for vit_b16/vit_l16 and the Swins
    # Zero padding of the ViT patch-embedding conv: 2 in the official code for every patch size (the first patch
    # row/column sees 2 zero rows, the image's last 2 rows/columns are never seen); 0 = timm's/the original ViT.
    patch_padding: int = 2
    drop_path_rate: float = 0.2  # stochastic depth, linspace(0, rate) over the blocks (0.3 vit_b16, 0 vit_l16)
    heatmap_head: bool = True  # the 14×14 vulnerable-patch head ("hm"); False: cls only (binary ViT baseline)
    # FakeSwin only: channels of the one 4×4 stride-2 deconv before the heatmap head (384 SBI configs, 768 BI).
    # None: 384 for the Swins; the ViTs have no deconv.
    deconv_channels: int | None = None
    pretrained: bool = False  # DINO (ViT) / ImageNet-22k (Swin) backbone weights from timm by name (needs internet)
    pretrained_path: str | None = None  # local backbone weights in the DINO / original Swin layout


@dataclass
class DataConfig:
    """What the training data loader produces (official ``datasets/face_forensic_sbi.py`` and
    ``datasets/face_forensic_hm.py``)."""

    method: Literal["sbi", "bi", "mix"] = "sbi"  # mix: SBI or BI per pair, p 0.5 each (one heatmap weight)
    frames_per_video: int = 8  # training frames per video
    # False: the frames are drawn once for the whole run (official SBI loader); True: re-drawn every epoch (the
    # paper's "dynamically selected"; official BI loader; laanet option for SBI).
    redraw_frames: bool = False
    # False: each video's frames are drawn with replacement, so a frame can come twice (official
    # ``random.choices`` in ``datasets/common.py``); True: distinct frames when the video has enough (laanet option).
    distinct_frames: bool = False
    val_frames_per_video: int = 8
    # False: the validation pseudo-fakes (and their augmentation) are synthesised anew every epoch, as the official
    # loaders do; True: drawn once, so every epoch is validated on the same pairs (laanet option).
    fixed_validation: bool = False
    crop_size: int = 256  # stored face-crop size (official ``package_utils/images_crop.py``)
    val_fraction: float = 0.15  # held-out real videos for validation when the index has no val split
    workers: int = 2
    quantize: Literal["truncate", "round"] = "truncate"  # uint8 cast of blend and boundary map (official: truncate)
    sbi_frame_before_geometry: bool = True  # official SBI framing; False: frame after the crop/scale augmentation
    # False: the official corner-to-corner framing affine, scale (out−1)/(W−1), zero offset (the 96-px targets sit
    # up to ±1.5 input px off the 384-px image at its edges, none at the centre); True: scale out/W with pixel areas
    # onto pixel areas, targets exactly on the image (laanet option).
    pixel_aligned_framing: bool = False
    # The geometry's RandomScale resamples boundary map and mask with nearest neighbour (official); True: bilinear
    # (laanet option; lower boundary peaks, fewer vulnerable points in scaled samples).
    scale_mask_linear: bool = False
    # The erasing box is 2-33 % of a fixed 257² square (for 256-px crops), placed anywhere in it and clipped to the
    # image (official); True: 2-33 % of the image and always inside it (albumentations Erasing, laanet option).
    erase_relative_to_image: bool = False
    # SBI's landmark flip x → W − x (official, one pixel off the mirrored face); True: x → W − 1 − x (laanet option).
    exact_landmark_flip: bool = False
    # FakeFormer only: True = the patch map is a point sample of the boundary on the token grid (official
    # TARGET_OVERLAP: True, the ViT-S/Swin-S/T configs); False = the official non-overlap path of the ViT-B/L configs,
    # block means on an (input/G)² grid drawn into the G×G heatmap (a bug, kept to reproduce those configs).
    target_overlap: bool = True
    # BI only. False: every item is a (real, BI fake) pair, half of each batch fake (laanet); True: every item is one
    # image, a BI fake with p 0.5 or else the real face alone, as the official BI loaders give them (LAA-Net
    # ``datasets/face_forensic_hm.py``, FakeFormer ``datasets/fakesformer_bi.py``); train.batch_size then counts images.
    bi_single_images: bool = False


@dataclass
class TrainConfig:
    """Optimisation (official ``scripts/train.py``)."""

    epochs: int = 100
    batch_size: int = 8  # items per step and process: real/fake pairs (16 images), or images with data.bi_single_images
    lr: float = 5e-5  # base lr; warm-up to lr*booster at epochs//start_decay, then linear decay to 0
    booster: float = 4.0
    start_decay: int = 4  # the peak (end of warm-up, start of decay) is at epoch epochs // start_decay
    # "sam": SAM(rho = sam_rho) over Adam (LAA-Net; sam_rho 0 = plain Adam); "adam": torch.optim.Adam with L2 weight
    # decay (FakeFormer: its "AdamW" config builds Adam); "adamw": decoupled weight decay (laanet option).
    optimizer: Literal["sam", "adam", "adamw"] = "sam"
    weight_decay: float = 1e-4
    sam_rho: float = 0.05  # 0 disables SAM (plain Adam)
    freeze_backbone_epochs: int = 6
    hm_weight: float = 100.0  # 10 for BI
    cls_weight: float = 1.0
    cst_weight: float = 100.0
    heatmap_loss: Literal["focal", "mse"] = "focal"  # mse: 0.5·mean((logit − target)²) (some FakeFormer configs)
    focal_eps: float = 0.35  # focal positive weight (1 − ε) + 0.2ε: LAA-Net 0.35 (0.72), FakeFormer 0.1 (0.92)
    grad_clip: float | None = None
    amp: Literal["none", "bf16", "fp16"] = "none"  # autocast on CUDA only; float32 otherwise
    # Parameters, inputs and losses: float64 as the official code trains (the paper setting), or float32
    # (laanet option: several times faster, allows amp; cpu-tiny and the demo use it).
    dtype: Literal["float32", "float64"] = "float64"
    seed: int = 317
    max_steps: int | None = None
    save_every: int | None = None
    log_every: int = 10
    # best.pt: "acc_loss" = when validation accuracy rises AND validation loss falls, both at once (official
    # LAA-Net); "acc" = when validation accuracy rises (official FakeFormer); "auc" = highest validation AUC (laanet option).
    best_by: Literal["acc_loss", "acc", "auc"] = "acc_loss"


MODEL_CONFIGS: dict[str, type] = {"laanet": ModelConfig, "fakeformer": FakeFormerConfig}  # by family name


@dataclass
class RunConfig:
    # ``model.family`` picks the dataclass (laanet: ModelConfig, fakeformer: FakeFormerConfig).
    model: ModelConfig | FakeFormerConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(dataclasses.asdict(self))


def _to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def preset_names() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in resources.files("laanet.presets").iterdir() if p.name.endswith(".yaml"))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``, section by section (nested mappings merged, other values replaced)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read_yaml(name_or_path: str | Path, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A preset or YAML file as a dict; a top-level ``base: PRESET`` is read first and the file applied on top of it."""
    data = _read_one_yaml(name_or_path)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or base in _seen or len(_seen) > 8:
        raise ValueError(f"config {name_or_path}: bad base {base!r} (a preset name or YAML file, no cycles)")
    return _merge(_read_yaml(base, (*_seen, str(name_or_path))), data)


def _read_one_yaml(name_or_path: str | Path) -> dict[str, Any]:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        text = path.read_text()
    else:
        res = resources.files("laanet.presets") / f"{name_or_path}.yaml"
        if not res.is_file():
            raise ValueError(f"unknown config {str(name_or_path)!r}: not a YAML file and not a preset ({', '.join(preset_names())})")
        text = res.read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"config {name_or_path}: top level must be a mapping")
    return data


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check/convert ``value`` against the annotation ``tp`` (str annotations resolved by the caller)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        if value not in args:
            raise ValueError(f"{key}: {value!r} is not one of {list(args)}")
        return value
    if origin in (typing.Union, types.UnionType):
        if isinstance(value, str) and value.lower() in ("none", "null") and type(None) in args:
            return None
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except (TypeError, ValueError) as err:
                errors.append(str(err))
        raise ValueError(f"{key}: {value!r} does not match {tp}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key}: expected a sequence, got {value!r}")
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner, key) for v in value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if isinstance(value, bool):
            return value
        raise ValueError(f"{key}: expected true/false, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ValueError(f"{key}: expected a number, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{key}: expected an integer, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"{key}: expected a string, got {value!r}")
    return value


def _apply(obj: Any, values: dict[str, Any], prefix: str) -> None:
    hints = typing.get_type_hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    for key, value in values.items():
        full = f"{prefix}{key}"
        if key not in names:
            near = difflib.get_close_matches(key, names, n=3)
            hint = f"; did you mean {', '.join(prefix + n for n in near)}?" if near else f"; valid: {', '.join(names)}"
            raise ValueError(f"unknown config key {full!r}{hint}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict) and "family" in value and hasattr(current, "family"):
            current = _switch_family(obj, key, current, value["family"], full)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ValueError(f"{full}: expected a mapping")
            _apply(current, value, f"{full}.")
        else:
            setattr(obj, key, _coerce(value, hints[key], full))


def _switch_family(obj: Any, key: str, current: Any, family: Any, full: str) -> Any:
    """A model section naming another family gets that family's default config (then its keys are applied)."""
    if family == current.family:
        return current
    if family not in MODEL_CONFIGS:
        raise ValueError(f"{full}.family: {family!r} is not one of {list(MODEL_CONFIGS)}")
    new = MODEL_CONFIGS[family]()
    setattr(obj, key, new)
    return new


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like section.key=value")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw  # a bare word: _coerce maps none/null/true/false where the field type wants it
    return key.strip().split("."), value


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    cfg = RunConfig()
    _apply(cfg, data, "")
    return cfg


def load_config(name_or_path: str | Path = "paper-sbi", overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Resolve a preset name or YAML file plus ``section.key=value`` overrides into a :class:`RunConfig`."""
    cfg = config_from_dict(_read_yaml(name_or_path))
    for text in overrides:
        path, value = parse_override(text)
        nested: Any = value
        for part in reversed(path):
            nested = {part: nested}
        _apply(cfg, nested, "")
    return cfg


def model_config_from_dict(data: dict[str, Any]) -> ModelConfig | FakeFormerConfig:
    """A model section (``{"family": ..., ...}``; no family = laanet) → that family's config dataclass."""
    family = data.get("family", "laanet")
    if family not in MODEL_CONFIGS:
        raise ValueError(f"model.family: {family!r} is not one of {list(MODEL_CONFIGS)}")
    cfg = MODEL_CONFIGS[family]()
    _apply(cfg, data, "model.")
    return cfg
