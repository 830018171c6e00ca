"""Static int8 quantisation of an exported model (either family) with ONNX Runtime (QDQ format, per-channel weights).

Recipe (ONNX Runtime's advice for x86 CPUs, including those without VNNI):

1. export the float graph with the outputs inference uses (``cls``, ``heatmap``: the self-consistency
   embedding, 256 channels at H/4, is a training signal only);
2. ``quant_pre_process``: shape inference and ONNX Runtime's basic graph optimisations (constant folding,
   BatchNorm folding), then the exact rewrites of :mod:`laanet.export.graph`;
3. ``quantize_static``: activations uint8 (asymmetric, min/max calibrated on face crops, see
   :mod:`laanet.export.calibration`), weights int8 per output channel with ``reduce_range`` (7-bit), which
   keeps the AVX2 ``vpmaddubsw`` path from saturating on CPUs without VNNI and so gives the same numbers on
   every x86 CPU.

The int8 file has the same inputs, outputs and metadata as the float export (plus ``laanet_precision`` =
``int8``), so :class:`laanet.export.onnx.OnnxModel` and ``laanet detect --backend onnx`` run it unchanged.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from laanet.export.graph import fold_pads_into_convs, reduce_means_to_global_pools
from laanet.export.session import INFERENCE_OUTPUTS

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuantizeConfig:
    """Static quantisation settings (defaults: the recipe in the module docstring)."""

    per_channel: bool = True
    reduce_range: bool = True  # 7-bit weights: no u8×s8 saturation on AVX2 without VNNI
    # Calibration images per ONNX Runtime call (ranges are merged across calls). B4 at 384 px, 8 images:
    # batch 1 peaked at 1.8 GB RSS in 21.9 s, batch 4 at 5.9 GB in 25.9 s.
    batch: int = 1
    # ONNX op types to quantise (None: every op ONNX Runtime can quantise). Transformers keep LayerNorm, Softmax,
    # GELU and the residual adds in float: see for_family.
    op_types: tuple[str, ...] | None = None

    @classmethod
    def for_family(cls, family: str) -> "QuantizeConfig":
        """The recipe for a model family: LAA-Net (a CNN) quantises every op; FakeFormer only the convolutions and
        matrix products (the bulk of its compute), the usual recipe for ViTs."""
        return cls(op_types=("Conv", "ConvTranspose", "MatMul", "Gemm")) if family == "fakeformer" else cls()


class _BatchReader:
    """ONNX Runtime calibration reader over an N×3×S×S array, ``batch`` images per call.

    ``set_range`` and ``__len__`` let ``quantize_static`` calibrate stride by stride (``CalibStridedMinMax``)
    and merge the min/max ranges, so memory does not grow with the number of images.
    """

    def __init__(self, inputs: np.ndarray, batch: int) -> None:
        self.batches = [np.ascontiguousarray(inputs[i : i + batch], dtype=np.float32) for i in range(0, len(inputs), batch)]
        self.set_range(0, len(self.batches))

    def __len__(self) -> int:
        return len(self.batches)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._items = iter(self.batches[start_index:end_index])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._items, None)
        return None if batch is None else {"input": batch}


def prepare_for_quantization(src: str | os.PathLike, dst: str | os.PathLike) -> dict[str, int]:
    """``quant_pre_process`` + the :mod:`laanet.export.graph` rewrites; returns what the rewrites changed."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)  # static shapes: ONNX inference suffices
    model = onnx.shape_inference.infer_shapes(onnx.load(str(dst)))
    changes = {"pads_folded": fold_pads_into_convs(model), "reduce_means_to_pools": reduce_means_to_global_pools(model)}
    onnx.save(model, str(dst))
    return changes


_LAST_LAYERS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


def output_head_nodes(model) -> list[str]:
    """Names of the nodes that compute the graph outputs, back to (and including) each output's last Conv, Gemm
    or MatMul: they stay in float.

    Quantising them would clip every output logit to the range seen in calibration, and a uint8 range always
    includes 0: calibrated on faces whose logits were all negative, a model would never say "fake" again (seen
    with the FakeFormer fixture weights: logits 1.26 / 0.73 came out 0.0 / 0.0).
    """
    producer = {out: node for node in model.graph.node for out in node.output}
    names: list[str] = []
    for output in model.graph.output:
        node, steps = producer.get(output.name), 0
        while node is not None and steps < 8:
            if node.name and node.name not in names:
                names.append(node.name)
            if node.op_type in _LAST_LAYERS:
                break
            node, steps = (producer.get(node.input[0]) if node.input else None), steps + 1
    return names


def quantize_onnx(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    calibration: np.ndarray,
    config: QuantizeConfig = QuantizeConfig(),
    *,
    note: str = "",
) -> Path:
    """Quantise the float ONNX file ``src`` into ``dst`` (int8), calibrated on ``calibration`` (N×3×S×S).

    The metadata of ``src`` is carried over, with ``laanet_precision`` = ``int8`` and ``laanet_quantization``
    (settings, number of calibration images, ``note``) added.

    Raises:
        ValueError: no calibration input, or inputs of the wrong shape.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if calibration.ndim != 4 or len(calibration) == 0 or calibration.shape[1] != 3:
        raise ValueError(f"calibration must be N×3×S×S with N ≥ 1, got shape {calibration.shape}")
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="laanet-int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        changes = prepare_for_quantization(src, prepared)
        reader = _BatchReader(calibration, config.batch)
        float_heads = output_head_nodes(onnx.load(str(prepared), load_external_data=False))
        quantize_static(
            str(prepared),
            str(dst),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=config.per_channel,
            reduce_range=config.reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=list(config.op_types) if config.op_types else None,
            nodes_to_exclude=float_heads,
            extra_options={"CalibStridedMinMax": 1},
        )
    source_meta = {p.key: p.value for p in onnx.load(str(src), load_external_data=False).metadata_props}
    model = onnx.load(str(dst))
    del model.metadata_props[:]
    info = {**asdict(config), "method": "onnxruntime static QDQ, uint8 activations (min/max), int8 weights",
            "calibration_images": int(len(calibration)), "note": note, **changes}
    for key, value in {**source_meta, "laanet_precision": "int8", "laanet_quantization": json.dumps(info)}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(dst))
    _log.info("quantised %s → %s in %.1f s (%d calibration images)", src, dst, time.perf_counter() - started, len(calibration))
    return dst


def export_int8(
    model,
    path: str | os.PathLike,
    calibration: np.ndarray,
    config: QuantizeConfig | None = None,
    *,
    opset: int = 17,
    note: str = "",
) -> Path:
    """Export ``model`` (any family) straight to an int8 ONNX file at ``path``; ``config`` None: the family's
    recipe (:meth:`QuantizeConfig.for_family`)."""
    from laanet.export.onnx import export_onnx

    config = config or QuantizeConfig.for_family(getattr(model, "family", "laanet"))

    with tempfile.TemporaryDirectory(prefix="laanet-fp32-") as tmp:
        fp32 = export_onnx(model, Path(tmp) / "model.onnx", opset=opset, outputs=INFERENCE_OUTPUTS)
        return quantize_onnx(fp32, path, calibration, config, note=note)
