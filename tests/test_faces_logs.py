"""MediaPipe's C++ log lines never reach the terminal; other output written meanwhile still does."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from laanet.faces.native_logs import strip_native_records

NATIVE_LINE = re.compile(r"^(?:[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\]|INFO: Created TensorFlow Lite|WARNING: All log messages)", re.M)

SCRIPT = r"""
import sys, threading
import numpy as np
from laanet.assets import sample_path
from laanet.faces import FaceAnalyzer, FaceDetectionError
from laanet.media import read_image

image = read_image(sample_path("obama_portrait.jpg"))
with FaceAnalyzer("mediapipe") as analyzer:
    print("faces", len(analyzer.detect(image)))
    chatter = threading.Thread(target=lambda: [print(f"other thread {i}", file=sys.stderr) for i in range(200)])
    chatter.start()
    for _ in range(3):
        analyzer.detect(image)
    chatter.join()
    backend = analyzer._backend
    backend.detect_boxes_tiled = lambda small: backend.detect_boxes(np.zeros((0, 1, 3), np.uint8))
    try:
        analyzer.detect(np.zeros((64, 64, 3), np.uint8))  # a failing graph logs E0000 lines
    except FaceDetectionError:
        print("failure reported")
    print("faces after", len(analyzer.detect(image)))
print("done", file=sys.stderr)
"""


def _run(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {**os.environ, **extra_env}
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)


def test_mediapipe_logs_are_silenced_in_a_new_process():
    shown = _run({"LAANET_NATIVE_LOGS": "1"})  # filter off: the lines this test looks for do appear
    assert len(NATIVE_LINE.findall(shown.stderr)) >= 3, shown.stderr
    quiet = _run({})
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.split("\n")[:3] == ["faces 1", "failure reported", "faces after 1"]
    assert not NATIVE_LINE.findall(quiet.stderr), quiet.stderr
    assert "Calculator::Process" not in quiet.stderr  # continuation lines of the E0000 record go too
    lines = quiet.stderr.splitlines()
    assert [line for line in lines if line.startswith("other thread")] == [f"other thread {i}" for i in range(200)]
    assert lines[-1] == "done"


def test_strip_native_records_keeps_everything_else():
    text = (
        b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
        b"mine 1\n"  # banners are one line: this is someone else's
        b"W0000 00:00:1796136420.651397    8853 inference_feedback_manager.cc:114] Feedback manager\n"
        b"INFO:     127.0.0.1:5000 - \"GET /health HTTP/1.1\" 200 OK\n"
        b"E0000 00:00:1796136420.755268    8843 calculator_graph.cc:928] INTERNAL: Run() failed:\n"
        b"Calculator::Process() for node \"x\" failed\n"
        b"WARNING:laanet.inference:something\n"
        b"I1201 14:55:02.123456 12 graph.cc:10] glog-style timestamp\n"
        b"Traceback (most recent call last):\n"
    )
    assert strip_native_records(text) == (
        b"mine 1\n"
        b"INFO:     127.0.0.1:5000 - \"GET /health HTTP/1.1\" 200 OK\n"
        b"WARNING:laanet.inference:something\n"
        b"Traceback (most recent call last):\n"
    )


def test_laanet_detect_prints_no_mediapipe_lines(tmp_path):
    import torch

    from laanet.assets import sample_path
    from laanet.config import load_config
    from laanet.models.checkpoint import save_model
    from laanet.models.laanet import LAANet

    torch.manual_seed(0)
    weights = save_model(LAANet(load_config("cpu-tiny").model), tmp_path / "tiny.pt")
    command = [sys.executable, "-m", "laanet", "detect", str(sample_path("obama_portrait.jpg")),
               str(sample_path("clip_obama.mp4")), "--weights", str(weights), "--frames", "2", "--out", str(tmp_path / "out")]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "results.json").is_file()
    assert not NATIVE_LINE.findall(run.stderr) and "Traceback" not in run.stderr, run.stderr
