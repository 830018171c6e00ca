"""The model-family seam: what every detector states about itself, and the one list of families.

A *family* is one detector architecture with its own config dataclass, builder and official weight layout:

- ``laanet``: LAA-Net (CVPR 2024, arXiv 2401.13856), EfficientNet-B4 + E-FPN, 384 px, a 96×96 vulnerable-point
  heatmap and a self-consistency head (:mod:`laanet.models.laanet`);
- ``fakeformer``: FakeFormer (arXiv 2410.21964) ViT-S/8 at 112 px (and ViT-B/L, FakeSwin T/S/B), a 14×14
  vulnerable-patch heatmap, no consistency head (:mod:`laanet.models.fakeformer`).

Every model carries ``family`` (str), ``preprocess`` (:class:`Preprocess`), ``heatmap_size`` (int), ``heads``
(names of the outputs it produces) and ``backbone_parameters()``; its forward returns a :class:`ModelOutput`.
Inference, export, evaluation and training read these instead of constants. :data:`FAMILIES` is a plain dict,
no registry magic; adding a family means adding one entry (see ``docs/architecture.md``).

This module imports neither torch nor timm: builders and state-dict mappings are imported when called.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal, NamedTuple

from laanet.config import FakeFormerConfig, ModelConfig

if TYPE_CHECKING:
    import torch
    from torch import nn

Framing = Literal["resize", "corner_affine"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """How a stored face crop becomes the network input (test time).

    input_size: square network input, pixels.
    crop_size: the stored face crop the margin refers to (256 px, official ``package_utils/images_crop.py``).
    margin: pixels of a ``crop_size`` crop cut on every side (5 LAA-Net, 9 FakeFormer); scaled for other crop sizes.
    mean, std: per-channel RGB normalisation of ``pixel / 255``.
    framing: ``"resize"`` = ``cv2.resize`` of the inner crop (LAA-Net's test loader); ``"corner_affine"`` =
        ``cv2.warpAffine`` bilinear with the corner-to-corner matrix, scale (input_size − 1)/(inner − 1), no offset
        (FakeFormer's test loader, official ``package_utils/transform.py``).
    """

    input_size: int
    crop_size: int = 256
    margin: int = 5
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    framing: Framing = "resize"

    def margin_for(self, crop_size: int) -> int:
        """The margin in pixels for a crop of ``crop_size`` px (``margin`` at ``self.crop_size``)."""
        return int(round(self.margin * crop_size / self.crop_size))

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Preprocess":
        """Inverse of :meth:`to_dict` (unknown keys rejected)."""
        allowed = set(cls.__dataclass_fields__)
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"preprocess: unknown key(s) {sorted(unknown)}")
        values = {k: tuple(float(x) for x in v) if k in ("mean", "std") else v for k, v in data.items()}
        return cls(**values)


class ModelOutput(NamedTuple):
    """Raw network outputs of every family, all logits / unnormalised.

    cls: B×1 real(0)/fake(1) logit.
    heatmap: B×1×G×G heatmap logits, G = ``model.heatmap_size`` (None if the model has no heatmap head).
    consistency: B×D×G×G per-pixel embedding (LAA-Net's self-consistency head; None for FakeFormer).
    """

    cls: "torch.Tensor"
    heatmap: "torch.Tensor | None"
    consistency: "torch.Tensor | None"


@dataclass(frozen=True)
class Family:
    """One model family.

    name: the ``family`` string stored in checkpoints and ONNX metadata.
    config: the family's config dataclass (``RunConfig.model`` holds one of these).
    build: config → model (an ``nn.Module`` with the attributes listed in the module docstring).
    is_official: does a state dict (``module.`` already stripped) have the authors' layout of this family?
    official_config: the config of the model an official state dict fits (architecture read from its keys/shapes).
    from_official: official state dict + built model → the model's state dict (raises ``KeyError`` on odd keys).
    official_layout: one line describing the authors' layout, for error messages.
    model_name: config → a short architecture name for results and the server page (``fakeformer-vit-s8``).
    """

    name: str
    config: type
    build: Callable[[Any], "nn.Module"]
    is_official: Callable[[dict[str, Any]], bool]
    official_config: Callable[[dict[str, Any]], Any]
    from_official: Callable[[dict[str, Any], "nn.Module"], dict[str, Any]]
    official_layout: str
    model_name: Callable[[Any], str]


def _build_laanet(cfg: ModelConfig) -> "nn.Module":
    from laanet.models.laanet import LAANet

    return LAANet(cfg)


def _laanet_is_official(state: dict[str, Any]) -> bool:
    from laanet.models.official import is_official_state_dict

    return is_official_state_dict(state)


def _laanet_official_config(state: dict[str, Any]) -> ModelConfig:
    return ModelConfig(pretrained=False)  # the released EfficientNet-B4 E-FPN configuration


def _laanet_from_official(state: dict[str, Any], model: "nn.Module") -> dict[str, Any]:
    from laanet.models.official import official_to_laanet

    return official_to_laanet(state, model)


def _build_fakeformer(cfg: FakeFormerConfig) -> "nn.Module":
    from laanet.models.fakeformer import FakeFormer

    return FakeFormer(cfg)


def _fakeformer_is_official(state: dict[str, Any]) -> bool:
    from laanet.models.fakeformer_official import is_official_state_dict

    return is_official_state_dict(state)


def _fakeformer_official_config(state: dict[str, Any]) -> FakeFormerConfig:
    from laanet.models.fakeformer_official import official_config

    return official_config(state)


def _fakeformer_from_official(state: dict[str, Any], model: "nn.Module") -> dict[str, Any]:
    from laanet.models.fakeformer_official import official_to_laanet

    return official_to_laanet(state, model)


LAANET = Family(
    name="laanet",
    config=ModelConfig,
    build=_build_laanet,
    is_official=_laanet_is_official,
    official_config=_laanet_official_config,
    from_official=_laanet_from_official,
    official_layout="LAA-Net .pth ({'epoch', 'state_dict'} with _blocks.* and deconv_* keys)",
    model_name=lambda cfg: "laanet-" + cfg.backbone.removeprefix("tf_").replace("_", "-"),
)
FAKEFORMER = Family(
    name="fakeformer",
    config=FakeFormerConfig,
    build=_build_fakeformer,
    is_official=_fakeformer_is_official,
    official_config=_fakeformer_official_config,
    from_official=_fakeformer_from_official,
    official_layout="FakeFormer/FakeSwin .pth (backbone.* and keypoint_head.* keys)",
    model_name=lambda cfg: "fakeformer-" + cfg.arch.replace("_", "-"),
)

FAMILIES: dict[str, Family] = {"laanet": LAANET, "fakeformer": FAKEFORMER}


def get_family(name: str) -> Family:
    """``FAMILIES[name]`` with a clear error for an unknown name."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}") from None


def family_of_config(cfg: Any) -> Family:
    """The family whose config dataclass ``cfg`` is."""
    for family in FAMILIES.values():
        if isinstance(cfg, family.config):
            return family
    raise TypeError(f"not a model config of any family: {type(cfg).__name__}")


def model_name(cfg: Any) -> str:
    """Short architecture name of a model config (``laanet-efficientnet-b4``, ``fakeformer-vit-s8``)."""
    return family_of_config(cfg).model_name(cfg)


def build_model(cfg: Any) -> "nn.Module":
    """Build the model of any family from its config dataclass."""
    return family_of_config(cfg).build(cfg)
