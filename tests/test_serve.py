"""``laanet serve``: the HTTP API over a real uvicorn server on loopback, with a real HTTP client (httpx).

Two servers per module: one with a tiny random LAA-Net (real detection on the bundled samples), one with a
fake detector whose speed the tests control (concurrency limit, event loop kept free, errors).
"""
from __future__ import annotations

import base64
import socket
import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from laanet.assets import sample_path
from laanet.service import ServeSettings, create_app
from laanet.service.deps import get_detector
from laanet.service.server import serve_in_thread

LIMIT_MB = 1.0
LIMIT = int(LIMIT_MB * 2**20)
RESULT_KEYS = {"path", "kind", "status", "error", "score", "label", "frames"}  # one results.json entry
FACE_KEYS = {"box", "score", "logit", "detector_score", "heatmap"}


# ---------------------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    import torch

    from laanet.config import load_config
    from laanet.models.checkpoint import save_model
    from laanet.models.laanet import LAANet

    path = tmp_path_factory.mktemp("serve_weights") / "tiny.pt"
    torch.manual_seed(0)
    save_model(LAANet(load_config("cpu-tiny").model), path)
    return path


@pytest.fixture(scope="module")
def upload_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve_uploads")


@pytest.fixture(scope="module")
def real_server(tiny_weights, upload_dir):
    """(app, base URL) of a server with the tiny model; 1 MiB upload limit, 4 frames per video."""
    app = create_app(ServeSettings(weights=tiny_weights, frames=4, max_upload_mb=LIMIT_MB, upload_dir=upload_dir))
    with serve_in_thread(app) as url:
        yield app, url


@pytest.fixture()
def client(real_server):
    with httpx.Client(base_url=real_server[1], timeout=120) as c:
        yield c


class FakeDetector:
    """Stands in for ``Detector``: answers a fixed result after ``delay_s``, records where it ran."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.frames, self.flip_test, self.threshold = 32, True, 0.5
        self.delay_s = delay_s
        self.started = threading.Event()
        self.threads: list[str] = []
        self.model_info = {"weights": "/secret/dir/fake.pt", "backend": "fake", "threshold": 0.5}

    def detect(self, source):
        from laanet.inference.results import FaceResult, FileResult, FrameResult

        self.threads.append(threading.current_thread().name)
        self.started.set()
        time.sleep(self.delay_s)
        result = FileResult(path="<array>", kind="image")
        result.frames.append(FrameResult(index=0, time_s=None, faces=[FaceResult([1, 2, 30, 40], 2.0, 0.9)]))
        return result.finalize()


class FailingDetector(FakeDetector):
    def detect(self, source):
        raise RuntimeError("boom")


@pytest.fixture(scope="module")
def fake_server(tmp_path_factory):
    """(app, base URL, detector) of a server with a slow fake detector and max_concurrency=1."""
    fake = FakeDetector(delay_s=3.0)
    folder = tmp_path_factory.mktemp("fake_uploads")
    app = create_app(ServeSettings(weights=None, max_concurrency=1, upload_dir=folder), loader=lambda s: fake)
    with serve_in_thread(app) as url:
        yield app, url, fake


def jpeg_bytes(name: str = "obama_portrait.jpg") -> bytes:
    return sample_path(name).read_bytes()


def assert_serving(client: httpx.Client) -> None:
    assert client.get("/health").status_code == 200


# ---------------------------------------------------------------------------------------------------------
# Real model
# ---------------------------------------------------------------------------------------------------------


def test_health_reports_the_loaded_model(client):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["model"]["backend"] == "torch" and body["model"]["input_size"] == 128
    assert body["model"]["weights"] == "tiny.pt"  # file name only: no server path is disclosed
    assert body["limits"]["max_upload_mb"] == LIMIT_MB and body["limits"]["default_frames"] == 4


def test_detect_image_matches_the_detector(client, real_server, upload_dir):
    app, _ = real_server
    r = client.post("/v1/detect", files={"file": ("../../etc/Obama Portrait.JPG", jpeg_bytes(), "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == RESULT_KEYS
    assert body["path"] == "Obama Portrait.JPG" and body["kind"] == "image" and body["status"] == "ok"
    face = body["frames"][0]["faces"][0]
    assert set(face) == FACE_KEYS

    # Same numbers as the Python API on the same file (run on the server's own inference thread).
    direct = app.state.worker.submit(app.state.detector.detect, sample_path("obama_portrait.jpg")).result().to_dict()
    assert body["score"] == direct["score"] and body["label"] == direct["label"]
    assert face["box"] == direct["frames"][0]["faces"][0]["box"]
    assert face["score"] == direct["frames"][0]["faces"][0]["score"]

    # The overlay is a decodable JPEG; overlay_scale maps the face box onto it.
    assert face["heatmap"].startswith("data:image/jpeg;base64,")
    jpeg = base64.b64decode(face["heatmap"].split(",", 1)[1])
    overlay = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    source = cv2.imread(str(sample_path("obama_portrait.jpg")))
    scale = body["frames"][0]["overlay_scale"]
    assert overlay.shape[1] == pytest.approx(source.shape[1] * scale, abs=1)
    assert overlay.shape[0] == pytest.approx(source.shape[0] * scale, abs=1)
    assert list(upload_dir.iterdir()) == []  # the request's temporary folder is gone


def test_detect_video_with_options(client):
    r = client.post(
        "/v1/detect",
        files={"file": ("clip.mp4", sample_path("clip_obama.mp4").read_bytes(), "video/mp4")},
        data={"frames": "3", "flip_test": "false", "overlays": "false"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "video" and body["status"] == "ok" and len(body["frames"]) == 3
    times = [f["time_s"] for f in body["frames"]]
    assert times == sorted(times) and times[0] == 0.0
    assert all(face["heatmap"] is None for f in body["frames"] for face in f["faces"])
    assert "Server-Timing" in r.headers


def test_file_type_from_content_type_when_the_name_has_no_extension(client):
    files = {"file": ("blob", jpeg_bytes("grace_hopper.jpg"), "image/jpeg")}
    r = client.post("/v1/detect", files=files, data={"overlays": "0"})
    assert r.status_code == 200, r.text
    assert r.json()["path"] == "blob" and r.json()["kind"] == "image"


@pytest.mark.parametrize(
    ("files", "data", "status", "code"),
    [
        ({"file": ("notes.txt", b"hello", "text/plain")}, {}, 415, "unsupported_media"),
        ({"file": ("photo.jpg", b"this is not an image\n" * 50, "image/jpeg")}, {}, 415, "unsupported_media"),
        ({"file": ("clip.mp4", b"\x00\x01 definitely not a video " * 100, "video/mp4")}, {}, 415, "unsupported_media"),
        ({"file": ("empty.jpg", b"", "image/jpeg")}, {}, 422, "undecodable"),
        ({"file": ("cut.jpg", jpeg_bytes()[:3000], "image/jpeg")}, {}, 422, "undecodable"),
        ({"other": ("x.jpg", b"abc", "image/jpeg")}, {}, 400, "bad_request"),
        (None, {"frames": "3"}, 400, "missing_file"),
        ({"file": ("a.jpg", b"abc", "image/jpeg")}, {"frames": "0"}, 422, "invalid_field"),
        ({"file": ("a.jpg", b"abc", "image/jpeg")}, {"frames": "many"}, 422, "invalid_field"),
        ({"file": ("a.jpg", b"abc", "image/jpeg")}, {"flip_test": "maybe"}, 422, "invalid_field"),
        ({"file": ("a.jpg", b"abc", "image/jpeg")}, {"frame": "8"}, 422, "invalid_field"),
    ],
    ids=["text", "garbage-jpg", "garbage-mp4", "empty", "truncated", "wrong-field", "no-file", "frames-0",
         "frames-nan", "flip-bad", "unknown-field"],
)
def test_bad_uploads_answer_json_errors_and_the_server_keeps_serving(client, upload_dir, files, data, status, code):
    if files is None:  # multipart with fields only
        r = client.post("/v1/detect", files={"frames": (None, "3")})
    else:
        r = client.post("/v1/detect", files=files, data=data)
    assert r.status_code == status, r.text
    assert r.json()["error"] == code and r.json()["detail"]
    assert "serve_uploads" not in r.text and "/tmp" not in r.text  # no server path in messages
    assert_serving(client)
    assert list(upload_dir.iterdir()) == []


def test_not_multipart_and_two_files_are_400(client):
    r = client.post("/v1/detect", content=jpeg_bytes(), headers={"content-type": "image/jpeg"})
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    two = [("file", ("a.jpg", b"abc", "image/jpeg")), ("file", ("b.jpg", b"abc", "image/jpeg"))]
    r = client.post("/v1/detect", files=two)
    assert r.status_code == 400 and "one file" in r.json()["detail"]
    assert client.get("/nope").json()["error"] == "not_found"


def _multipart_head(name: str = "big.jpg") -> bytes:
    disposition = f'Content-Disposition: form-data; name="file"; filename="{name}"'
    return f"--XyZ\r\n{disposition}\r\nContent-Type: image/jpeg\r\n\r\n".encode()


def test_upload_limit_streamed_body_gets_413(client, upload_dir):
    sent = []

    def body():  # a chunked body (no Content-Length) of 8 MiB against a 1 MiB limit
        yield _multipart_head()
        for _ in range(128):
            sent.append(65536)
            yield b"\xff" * 65536
        yield b"\r\n--XyZ--\r\n"

    r = client.post("/v1/detect", content=body(), headers={"content-type": "multipart/form-data; boundary=XyZ"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert sum(sent) > 4 * LIMIT
    assert list(upload_dir.iterdir()) == []
    assert_serving(client)  # same connection, still usable


def _read_reply(sock: socket.socket) -> bytes:
    """One HTTP/1.1 response (headers and Content-Length body) from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            return data
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next((int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        more = sock.recv(65536)
        if not more:
            break
        body += more
    return head + b"\r\n\r\n" + body


def test_upload_limit_is_checked_while_streaming(real_server, upload_dir):
    """Raw socket: the 413 arrives while the body is still incomplete (the server did not wait for the end)."""
    host, port = real_server[1].removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/detect HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=XyZ\r\n\r\n"
        )
        head = _multipart_head()
        sock.sendall(b"%x\r\n%s\r\n" % (len(head), head))
        chunk = b"\xff" * 65536
        for _ in range(2 * LIMIT // len(chunk)):  # twice the limit, and never the final chunk
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        reply = _read_reply(sock)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b'"too_large"' in reply
    time.sleep(0.2)
    assert list(upload_dir.iterdir()) == []


def test_declared_content_length_over_the_limit_is_refused_before_reading(real_server):
    host, port = real_server[1].removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/detect HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000000\r\n"
            b"Content-Type: multipart/form-data; boundary=XyZ\r\n\r\n"
        )
        reply = _read_reply(sock)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_web_page_and_static_files(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert 'id="file"' in r.text and "default-src 'self'" in r.headers["content-security-policy"]
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    assert "/v1/detect" in client.get("/openapi.json").json()["paths"]


# ---------------------------------------------------------------------------------------------------------
# Fake detector: concurrency, event loop, errors
# ---------------------------------------------------------------------------------------------------------


def test_inference_runs_off_the_event_loop_and_the_limit_answers_503(fake_server):
    app, url, fake = fake_server
    fake.started.clear()
    results: dict[str, httpx.Response] = {}

    def slow_request() -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            results["slow"] = c.post("/v1/detect", files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")})

    worker = threading.Thread(target=slow_request)
    worker.start()
    assert fake.started.wait(20)
    with httpx.Client(base_url=url, timeout=30) as c:
        t0 = time.perf_counter()
        health = c.get("/health")
        health_s = time.perf_counter() - t0
        busy = c.post("/v1/detect", files={"file": ("b.jpg", jpeg_bytes(), "image/jpeg")})
        worker.join(30)
        after = c.post("/v1/detect", files={"file": ("c.jpg", jpeg_bytes(), "image/jpeg")})

    assert health.status_code == 200 and health.json()["in_progress"] == 1
    assert health_s < 1.0  # answered while the detector was busy: inference is not on the event loop
    assert health.json()["model"]["weights"] == "fake.pt"
    assert busy.status_code == 503 and busy.json()["error"] == "busy" and busy.headers["retry-after"]
    assert results["slow"].status_code == 200 and after.status_code == 200
    slow = results["slow"].json()
    assert slow["path"] == "a.jpg" and slow["score"] == pytest.approx(0.880797, abs=1e-6)  # sigmoid(2.0)
    assert set(fake.threads) == {"laanet-infer_0"}  # every detection on the one inference thread
    assert list(app.state.settings.upload_dir.iterdir()) == []


def test_detector_crash_is_a_500_and_the_server_survives(fake_server):
    app, url, _ = fake_server
    app.dependency_overrides[get_detector] = lambda: FailingDetector()
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            r = c.post("/v1/detect", files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")})
            assert r.status_code == 500
            assert r.json() == {"error": "internal", "detail": "internal server error (see the server log)"}
            assert c.get("/health").status_code == 200
    finally:
        app.dependency_overrides.clear()
    assert list(app.state.settings.upload_dir.iterdir()) == []


# ---------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------


def test_cli_without_weights_and_no_bundled_weights_exits_2(monkeypatch):
    from laanet.cli import app
    from laanet.inference import detector

    def missing():
        raise detector.DefaultWeightsMissing("no bundled default weights in this installation; pass --weights PATH")

    monkeypatch.setattr(detector, "default_weights", missing)
    result = CliRunner().invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 2
    assert "--weights" in result.output and "Traceback" not in result.output


def test_cli_bad_weights_exit_2(tmp_path):
    from laanet.cli import app

    result = CliRunner().invoke(app, ["serve", "--weights", str(tmp_path / "missing.pt")])
    assert result.exit_code == 2 and "not found" in result.output
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(app, ["serve", "--weights", str(corrupt), "--port", "0"])
    assert result.exit_code == 2 and "cannot load the model" in result.output
    result = CliRunner().invoke(app, ["serve", "--weights", str(corrupt), "--device", "tpu"])
    assert result.exit_code == 2


def test_cli_serves_until_interrupted(tiny_weights, tmp_path):
    """``laanet serve`` in a subprocess: /health and a detection answer; Ctrl-C stops it cleanly (exit 130, the
    shell's code for an interrupted command, and no traceback)."""
    import signal
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "laanet", "serve", "--weights", str(tiny_weights), "--port", str(port),
         "--frames", "2", "--max-concurrency", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
    )
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
        with httpx.Client(base_url=url, timeout=60) as c:
            while True:
                assert proc.poll() is None, proc.stdout.read()
                try:
                    health = c.get("/health")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "laanet serve did not start"
                    time.sleep(0.2)
            assert health.json()["limits"] == {
                "max_upload_mb": 50.0, "max_concurrency": 2, "max_frames": 128, "default_frames": 2,
                "default_flip_test": True,
            }
            files = {"file": ("g.jpg", jpeg_bytes("grace_hopper.jpg"), "image/jpeg")}
            r = c.post("/v1/detect", files=files, data={"overlays": "false"})
            assert r.status_code == 200 and r.json()["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "Traceback" not in out and "Application shutdown complete" in out
