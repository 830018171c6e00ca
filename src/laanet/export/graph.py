"""Exact rewrites of an exported LAA-Net ONNX graph that make it cheaper to run, above all once quantised.

Both rewrites keep the numerics (up to float rounding) and need a graph whose constants are already folded
(``onnxruntime.quantization.shape_inference.quant_pre_process`` or an ORT basic-optimised model):

- :func:`fold_pads_into_convs`: the EfficientNet "same" padding is a zero ``Pad`` in front of five strided
  convolutions; ONNX ``Conv`` takes asymmetric ``pads`` itself. In an int8 graph each ``Pad`` otherwise costs a
  dequantise/quantise round trip of a full activation map (~15 % of the int8 run time on B4 at 384 px).
- :func:`reduce_means_to_global_pools`: the squeeze-excite blocks average with ``ReduceMean`` over H and W,
  which ONNX Runtime cannot run in int8; ``GlobalAveragePool`` is the same operation and has an int8 kernel.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


def _initializers(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    return {t.name: t for t in graph.initializer}


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    out: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            out.setdefault(name, []).append(node)
    return out


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _set_attr(node: onnx.NodeProto, name: str, value) -> None:
    for i, a in enumerate(node.attribute):
        if a.name == name:
            del node.attribute[i]
            break
    node.attribute.append(onnx.helper.make_attribute(name, value))


def _zero_spatial_pads(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> list[int] | None:
    """The H/W pads ``[top, left, bottom, right]`` of a constant zero 4-D ``Pad``, or None if it is not one."""
    if (_attr(node, "mode", b"constant") or b"constant") not in (b"constant", "constant"):
        return None
    if len(node.input) < 2 or node.input[1] not in inits:
        return None
    if len(node.input) > 2 and node.input[2]:
        if node.input[2] not in inits or np.any(numpy_helper.to_array(inits[node.input[2]]) != 0):
            return None
    if len(node.input) > 3 and node.input[3]:  # explicit axes: not produced by the exporters used here
        return None
    pads = numpy_helper.to_array(inits[node.input[1]]).astype(np.int64).tolist()
    if len(pads) != 8 or any(p < 0 for p in pads) or pads[0] or pads[1] or pads[4] or pads[5]:
        return None
    return [pads[2], pads[3], pads[6], pads[7]]


def fold_pads_into_convs(model: onnx.ModelProto) -> int:
    """Merge each zero ``Pad`` (H/W only) whose sole consumer is a ``Conv`` into that Conv's ``pads``.

    Edits ``model`` in place; returns how many ``Pad`` nodes were removed.
    """
    graph = model.graph
    inits, consumers = _initializers(graph), _consumers(graph)
    outputs = {o.name for o in graph.output}
    removed = []
    for node in graph.node:
        if node.op_type != "Pad" or node.output[0] in outputs:
            continue
        users = consumers.get(node.output[0], [])
        if len(users) != 1 or users[0].op_type != "Conv":
            continue
        conv = users[0]
        if (_attr(conv, "auto_pad", b"NOTSET") or b"NOTSET") not in (b"NOTSET", "NOTSET") or conv.input[0] != node.output[0]:
            continue
        extra = _zero_spatial_pads(node, inits)
        if extra is None:
            continue
        own = list(_attr(conv, "pads", [0, 0, 0, 0]))
        _set_attr(conv, "pads", [a + b for a, b in zip(own, extra)])
        conv.input[0] = node.input[0]
        removed.append(node)
    for node in removed:
        graph.node.remove(node)
    return len(removed)


def _ranks(graph: onnx.GraphProto) -> dict[str, int]:
    """Known tensor ranks (graph inputs, outputs and shape-inferred ``value_info``)."""
    infos = list(graph.input) + list(graph.output) + list(graph.value_info)
    return {v.name: len(v.type.tensor_type.shape.dim) for v in infos if v.type.tensor_type.HasField("shape")}


def reduce_means_to_global_pools(model: onnx.ModelProto) -> int:
    """Replace ``ReduceMean`` over axes (2, 3) with ``keepdims=1`` of a 4-D tensor by ``GlobalAveragePool``.

    The input's rank must be known (run ONNX shape inference first); the ``axes`` attribute (opset < 18) and
    the ``axes`` input initializer (opset ≥ 18) are both read. Edits ``model`` in place; returns how many
    nodes were replaced.
    """
    graph = model.graph
    inits, ranks = _initializers(graph), _ranks(graph)
    count = 0
    for i, node in enumerate(list(graph.node)):
        if node.op_type != "ReduceMean" or _attr(node, "keepdims", 1) != 1 or ranks.get(node.input[0]) != 4:
            continue
        axes = _attr(node, "axes")
        if axes is None and len(node.input) > 1 and node.input[1] in inits:
            axes = numpy_helper.to_array(inits[node.input[1]]).tolist()
        if axes is None or sorted(int(a) % 4 for a in axes) != [2, 3]:
            continue
        pool = onnx.helper.make_node("GlobalAveragePool", [node.input[0]], list(node.output), name=node.name + "_gap")
        graph.node.remove(node)
        graph.node.insert(i, pool)
        count += 1
    return count
