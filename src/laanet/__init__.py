"""laanet: face-deepfake detection toolkit with two model families, LAA-Net (Localized Artifact Attention Network,
CVPR 2024) and FakeFormer (its authors' vulnerability-driven transformer, arXiv 2410.21964).

Heavy imports (torch, timm) happen lazily so that ``laanet --help`` stays fast.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "LAANet", "LAANetOutput", "ModelConfig", "FakeFormer", "FakeFormerConfig", "ModelOutput", "Preprocess", "FAMILIES",
    "load_model", "save_model",
    "Detector", "InferenceOptions", "FileResult", "ResultList", "__version__",
]


def __getattr__(name: str):
    if name in ("LAANet", "LAANetOutput"):
        from laanet.models import laanet as _m

        return getattr(_m, name)
    if name in ("ModelConfig", "FakeFormerConfig"):
        from laanet import config as _cfg

        return getattr(_cfg, name)
    if name == "FakeFormer":
        from laanet.models.fakeformer import FakeFormer

        return FakeFormer
    if name in ("ModelOutput", "Preprocess", "FAMILIES"):
        from laanet.models import family as _f

        return getattr(_f, name)
    if name in ("load_model", "save_model"):
        from laanet.models import checkpoint as _c

        return getattr(_c, name)
    if name == "Detector":
        from laanet.inference.detector import Detector

        return Detector
    if name == "InferenceOptions":
        from laanet.inference.options import InferenceOptions

        return InferenceOptions
    if name in ("FileResult", "ResultList"):
        from laanet.inference import results as _r

        return getattr(_r, name)
    raise AttributeError(f"module 'laanet' has no attribute {name!r}")
