"""int8 export: the exact graph rewrites, static quantisation of a tiny model, `laanet export --int8`."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from laanet.config import load_config
from laanet.export.graph import fold_pads_into_convs, reduce_means_to_global_pools
from laanet.models.laanet import LAANet


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def _pad_conv_model(pads, value: float = 0.0, second_user: bool = False) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    p = numpy_helper.from_array(np.array(pads, np.int64), "p")
    v = numpy_helper.from_array(np.array(value, np.float32), "v")
    nodes = [
        helper.make_node("Pad", ["x", "p", "v"], ["xp"], mode="constant"),
        helper.make_node("Conv", ["xp", "w"], ["y"], strides=[2, 2], pads=[1, 0, 0, 1]),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if second_user:
        nodes.append(helper.make_node("Relu", ["xp"], ["z"]))
        outputs.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, None))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 9, 11])], outputs, [w, p, v])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_fold_pads_into_convs_is_exact():
    x = np.random.default_rng(1).normal(size=(1, 3, 9, 11)).astype(np.float32)
    model = _pad_conv_model([0, 0, 0, 1, 0, 0, 2, 0])  # top 0, left 1, bottom 2, right 0: asymmetric on purpose
    ref = _run(model, x)
    assert fold_pads_into_convs(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Conv"]
    assert list(helper.get_attribute_value(model.graph.node[0].attribute[-1])) == [1, 1, 2, 1]
    np.testing.assert_allclose(_run(model, x), ref, atol=1e-5)


@pytest.mark.parametrize(
    "pads, value, second_user",
    [([0, 0, 0, 1, 0, 0, 2, 0], 1.0, False), ([0, 1, 0, 0, 0, 0, 0, 0], 0.0, False), ([0, 0, 1, 1, 0, 0, 1, 1], 0.0, True)],
    ids=["nonzero-fill", "channel-pad", "two-users"],
)
def test_fold_pads_leaves_what_it_cannot_fold(pads, value, second_user):
    model = _pad_conv_model(pads, value, second_user)
    assert fold_pads_into_convs(model) == 0
    assert [n.op_type for n in model.graph.node][:2] == ["Pad", "Conv"]


def test_reduce_means_to_global_pools():
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=1),
        helper.make_node("ReduceMean", ["x"], ["c"], axes=[1], keepdims=1),  # over channels: not a pool
        helper.make_node("Mul", ["x", "m"], ["y"]),
        helper.make_node("Mul", ["y", "c"], ["z"]),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5, 7])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
    )
    model = onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    x = np.random.default_rng(2).normal(size=(2, 3, 5, 7)).astype(np.float32)
    ref = _run(model, x)
    assert reduce_means_to_global_pools(model) == 1
    assert [n.op_type for n in model.graph.node] == ["GlobalAveragePool", "ReduceMean", "Mul", "Mul"]
    np.testing.assert_allclose(_run(model, x), ref, atol=1e-5)


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    cfg = load_config("cpu-tiny").model
    cfg.static_padding_size = 128  # TF-"same" Pad nodes, as in the paper B4, to exercise the Pad folding
    cfg.backbone = "tf_efficientnet_b0"
    return LAANet(cfg).eval()


@pytest.fixture(scope="module")
def int8_cli_run(tmp_path_factory, tiny_model, sample_arrays):
    """`laanet export --int8 --calibration DIR` on the tiny model (two faces): the one quantisation of this file."""
    from PIL import Image

    from laanet.cli import app
    from laanet.models.checkpoint import save_model

    tmp = tmp_path_factory.mktemp("int8")
    weights = save_model(tiny_model, tmp / "tiny.pt")
    faces = tmp / "faces"
    faces.mkdir()
    for name in ("obama_portrait.jpg", "astronaut.jpg"):
        Image.fromarray(sample_arrays[name]).save(faces / name)
    res = CliRunner().invoke(app, ["export", "-w", str(weights), "-o", str(tmp / "i8.onnx"), "--int8", "--calibration", str(faces)])
    return res, tmp / "i8.onnx", weights


def test_cli_export_int8(int8_cli_run):
    res, path, _ = int8_cli_run
    assert res.exit_code == 0, res.output
    assert "calibrating on 2 face crops" in res.output and "max |P(fake) int8 - eager float32|" in res.output
    assert path.is_file()


def test_int8_file_is_quantised_and_close(int8_cli_run, tiny_model, sample_arrays):
    import json

    from laanet.export.calibration import face_inputs
    from laanet.export.onnx import OnnxLAANet

    _, path, _ = int8_cli_run
    proto = onnx.load(str(path))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and "Pad" not in ops and "ReduceMean" not in ops
    conv_weights = [t for t in proto.graph.initializer if t.data_type == TensorProto.INT8 and len(t.dims) == 4]
    assert conv_weights, "convolution weights must be stored as int8"
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["laanet_precision"] == "int8" and json.loads(meta["laanet_config"])["input_size"] == 128
    info = json.loads(meta["laanet_quantization"])
    assert info["calibration_images"] == 2 and info["pads_folded"] == 5 and info["reduce_means_to_pools"] >= 16
    assert info["per_channel"] and info["reduce_range"]

    runner = OnnxLAANet(path)
    assert runner.output_names == ["cls", "heatmap"]
    faces = face_inputs([sample_arrays["grace_hopper.jpg"], sample_arrays["obama_speech.jpg"]], 128)  # not calibrated on
    assert faces.shape == (2, 3, 128, 128) and faces.min() >= -1 and faces.max() <= 1
    x = torch.from_numpy(faces)
    got = runner(x)
    with torch.no_grad():
        ref = tiny_model(x)
    assert got.consistency is None and got.heatmap.shape == ref.heatmap.shape
    p_diff = (torch.sigmoid(got.cls) - torch.sigmoid(ref.cls)).abs().max().item()
    h_diff = (torch.sigmoid(got.heatmap) - torch.sigmoid(ref.heatmap)).abs().max().item()
    assert 0 < p_diff < 0.05 and h_diff < 0.1  # quantised (not bit-identical) yet close


def test_quantize_rejects_bad_calibration(tmp_path):
    from laanet.export.quantize import quantize_onnx

    with pytest.raises(ValueError, match="N×3×S×S"):
        quantize_onnx(tmp_path / "x.onnx", tmp_path / "y.onnx", np.zeros((0, 3, 8, 8), np.float32))


def test_cli_export_int8_without_faces_fails_cleanly(tmp_path, int8_cli_run):
    from PIL import Image

    from laanet.cli import app

    _, _, weights = int8_cli_run
    empty = tmp_path / "empty"
    empty.mkdir()
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(empty / "grey.png")
    res = CliRunner().invoke(app, ["export", "-w", str(weights), "-o", str(tmp_path / "x.onnx"), "--int8", "--calibration", str(empty)])
    assert res.exit_code == 2 and "no face found for calibration" in res.output
    assert not (tmp_path / "x.onnx").exists()


def test_int8_keeps_the_output_logits_unclipped(tmp_path):
    """Calibrated on faces whose logits are all negative, the int8 model must still give a positive logit to a
    face that has one: quantised output nodes clip every logit to the calibration range (for uint8 it always
    includes 0, so positive logits became 0)."""
    import onnxruntime as ort

    from laanet.export.quantize import QuantizeConfig, output_head_nodes, quantize_onnx

    class Net(torch.nn.Module):  # logit = 2 (mean of channel 0) - 2 (mean of channel 1)
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 1)
            self.fc = torch.nn.Linear(4, 1)
            with torch.no_grad():
                self.conv.weight.zero_()
                self.conv.bias.zero_()
                self.conv.weight[0, 0] = self.conv.weight[1, 1] = 1.0
                self.fc.weight.copy_(torch.tensor([[2.0, -2.0, 0.0, 0.0]]))
                self.fc.bias.zero_()

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).mean((2, 3)))

    net = Net().eval()
    src = tmp_path / "net.onnx"
    torch.onnx.export(net, torch.zeros(1, 3, 8, 8), str(src), input_names=["input"], output_names=["cls"],
                      dynamic_axes={"input": {0: "b"}, "cls": {0: "b"}}, dynamo=False)
    assert output_head_nodes(onnx.load(str(src)))  # the Gemm (or MatMul + Add) that makes cls
    rng = np.random.default_rng(0)
    calibration = np.stack([rng.uniform(0.0, 0.2, (8, 8, 8)), rng.uniform(0.8, 1.0, (8, 8, 8)),
                            rng.uniform(0.0, 1.0, (8, 8, 8))], axis=1).astype(np.float32)  # logits about -1.6
    dst = quantize_onnx(src, tmp_path / "net_int8.onnx", calibration, QuantizeConfig(batch=4))
    x = np.stack([np.full((8, 8), 0.9), np.full((8, 8), 0.1), np.full((8, 8), 0.5)])[None].astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).item()  # +1.6: every input value within the calibration range
    got = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0].item()
    assert ref > 1 and abs(got - ref) < 0.1, (got, ref)
