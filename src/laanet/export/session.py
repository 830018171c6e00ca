"""An ONNX Runtime session for a laanet ``.onnx`` file, in numpy only (no torch import).

``laanet export`` stores the model in the file's metadata (``laanet_family``, ``laanet_model_name``,
``laanet_preprocess``, ``laanet_config``), so the session knows the family and the preprocessing without the
checkpoint. Files exported before model families (no ``laanet_family``) are LAA-Net. Files that ONNX Runtime cannot read, or that are not laanet exports, raise
:class:`~laanet.models.errors.CheckpointError` with a message instead of ONNX Runtime's traceback.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from laanet.models.errors import CheckpointError
from laanet.models.family import Preprocess

INFERENCE_OUTPUTS = ("cls", "heatmap")  # what inference reads; without the consistency branch ~9 % less work


class OnnxSession:
    """``session.run(x)``: B×3×S×S float32 network input → ``{"cls": B×1, "heatmap": B×1×G×G, ...}``.

    Args:
        path: a ``.onnx`` written by ``laanet export``.
        threads: intra-op threads (None: ONNX Runtime's default, all cores).
    """

    def __init__(self, path: str | os.PathLike, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX file not found: {path}")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # errors only: no warnings about unused initializers
        # Idle worker threads sleep instead of busy-waiting: `laanet detect` decodes and finds faces in a second
        # thread while the model runs, and on a small or shared CPU spinning threads take its cores (measured on
        # a busy 2-core machine: the same batch used 30 % less CPU time, and finished sooner, without spinning).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own pybind types (InvalidProtobuf, Fail, ...)
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(f"{path}: not a readable ONNX model (truncated or not an .onnx file?): {first_line}") from None
        inputs = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        if inputs != ["input"] or "cls" not in self.output_names:
            raise CheckpointError(
                f"{path}: not a laanet ONNX export (inputs {inputs}, outputs {self.output_names}; expected 'input' → 'cls', "
                "'heatmap', ...); make one with `laanet export`"
            )
        props = self.session.get_modelmeta().custom_metadata_map
        try:
            self.config = json.loads(props.get("laanet_config", "{}"))
            self.meta = json.loads(props.get("laanet_meta", "{}"))
            pre = json.loads(props["laanet_preprocess"]) if "laanet_preprocess" in props else None
        except json.JSONDecodeError as err:
            raise CheckpointError(f"{path}: unreadable laanet metadata in the ONNX file: {err}") from None
        self.path = path
        self.family: str = props.get("laanet_family", "laanet")
        try:
            self.preprocess = Preprocess.from_dict(pre) if pre is not None else Preprocess(input_size=self.input_size)
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{path}: unreadable laanet_preprocess metadata: {err}") from None
        self.model_name: str = props.get("laanet_model_name") or _legacy_name(self.config)

    @property
    def input_size(self) -> int:
        size = self.config.get("input_size", self.session.get_inputs()[0].shape[-1])
        if not isinstance(size, int):
            raise CheckpointError(f"{self.path}: the ONNX input size is not fixed ({size!r}) and the file has no laanet config")
        return size

    @property
    def heatmap_size(self) -> int | None:
        """Side of the ``heatmap`` output (None when the graph has none)."""
        if "heatmap" not in self.output_names:
            return None
        side = self.session.get_outputs()[self.output_names.index("heatmap")].shape[-1]
        return side if isinstance(side, int) else None

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs by name for one batch (float32, C-contiguous input)."""
        outs = self.session.run(None, {"input": np.ascontiguousarray(x, dtype=np.float32)})
        return dict(zip(self.output_names, outs))


def _legacy_name(config: dict) -> str:
    """The model name of an LAA-Net export made before model families (from its config)."""
    backbone = str(config.get("backbone", "tf_efficientnet_b4"))
    return "laanet-" + backbone.removeprefix("tf_").replace("_", "-")
