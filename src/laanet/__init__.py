"""laanet: LAA-Net (Localized Artifact Attention Network, CVPR 2024) deepfake detection toolkit.

Heavy imports (torch, timm) happen lazily so that ``laanet --help`` stays fast.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "LAANet", "LAANetOutput", "ModelConfig", "load_model", "save_model",
    "Detector", "InferenceOptions", "FileResult", "ResultList", "__version__",
]


def __getattr__(name: str):
    if name in ("LAANet", "LAANetOutput"):
        from laanet.models import laanet as _m

        return getattr(_m, name)
    if name == "ModelConfig":
        from laanet.config import ModelConfig

        return ModelConfig
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
