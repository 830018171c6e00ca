"""InferenceOptions validation and the one device resolver."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from laanet.device import DeviceError, resolve_device
from laanet.inference.options import InferenceOptions, field_names


def test_defaults_are_the_paper_test_protocol():
    opts = InferenceOptions()
    assert (opts.frames, opts.flip_test, opts.threshold, opts.device) == (32, True, 0.5, "auto")
    assert list(opts.to_dict()) == list(field_names())
    assert InferenceOptions.from_dict(opts.replace(frames=7).to_dict()) == opts.replace(frames=7)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("backend", "tensorrt"),
        ("device", "gpu"),
        ("device", "cuda:x"),
        ("threshold", 1.5),
        ("threshold", float("nan")),
        ("threshold", True),
        ("frames", 0),
        ("frames", 2.5),
        ("batch_size", -1),
        ("flip_test", "yes"),
        ("face_backend", "retinaface"),
        ("weights", ""),
    ],
)
def test_bad_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        InferenceOptions(**{field: value})


def test_paths_become_strings_and_unknown_names_fail():
    assert InferenceOptions(weights=Path("a/b.pt")).weights == "a/b.pt"
    with pytest.raises(TypeError, match="flip"):
        InferenceOptions().replace(flips=False)


def test_resolve_device(monkeypatch):
    import laanet.device as device

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto", backend="onnx") == "cpu"
    monkeypatch.setattr(device, "_torch_cuda_count", lambda: 0)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(DeviceError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(DeviceError, match="onnx backend runs on the CPU"):
        resolve_device("cuda", backend="onnx")
    monkeypatch.setattr(device, "_torch_cuda_count", lambda: 2)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(DeviceError, match="2 CUDA device"):
        resolve_device("cuda:2")
    with pytest.raises(DeviceError):
        resolve_device("tpu")


def test_onnx_and_cpu_resolution_does_not_import_torch():
    code = (
        "import sys; from laanet.device import resolve_device; from laanet.inference.options import InferenceOptions;"
        "InferenceOptions(backend='onnx'); assert resolve_device('auto', backend='onnx') == 'cpu';"
        "assert resolve_device('cpu') == 'cpu'; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_detector_takes_options_and_keyword_overrides(tmp_path):
    import torch

    from laanet.config import load_config
    from laanet.inference.detector import Detector
    from laanet.models.checkpoint import save_model
    from laanet.models.laanet import LAANet

    torch.manual_seed(0)
    weights = save_model(LAANet(load_config("cpu-tiny").model), tmp_path / "tiny.pt")
    det = Detector(InferenceOptions(weights=str(weights), frames=3), threshold=0.7)
    assert (det.options.frames, det.options.threshold, det.device) == (3, 0.7, "cpu" if not torch.cuda.is_available() else "cuda")
    old_style = Detector(weights, frames=5, face_backend=None)  # positional weights, None = default backend
    assert old_style.options.weights == str(weights) and old_style.frames == 5
    with pytest.raises(ValueError, match="frames"):
        Detector(weights, frames=0)
    with pytest.raises(TypeError, match="InferenceOptions"):
        Detector(42)


SHARED_FLAGS = {"--weights", "--sha256", "--backend", "--device", "--threshold", "--frames", "--flip-test",
                "--face-backend", "--batch-size"}


def test_inference_commands_share_one_set_of_flags_and_defaults():
    """detect, serve and demo take every inference flag under one name, with InferenceOptions' defaults; eval
    (prepared crops: no face detector, torch only, fixed 0.5 metric threshold) takes the rest under the same names."""
    import typer

    from laanet.cli import app
    from laanet.inference.options import InferenceOptions

    commands = typer.main.get_command(app).commands
    defaults = InferenceOptions()
    for name in ("detect", "serve", "demo", "eval"):
        params = {opt: p for p in commands[name].params for opt in p.opts}
        missing = SHARED_FLAGS - set(params)
        expected_missing = {"--backend", "--face-backend", "--threshold"} if name == "eval" else set()
        assert missing == expected_missing, (name, missing)
        assert params["--flip-test"].default is True and params["--device"].default == defaults.device, name
        if name != "demo":  # the demo samples 8 frames per bundled clip to stay quick
            assert params["--frames"].default == defaults.frames == 32, name
    for name in ("detect", "serve", "demo"):
        params = {opt: p for p in commands[name].params for opt in p.opts}
        assert params["--threshold"].default == defaults.threshold and params["--batch-size"].default == defaults.batch_size
