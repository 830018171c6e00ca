"""``laanet serve``: the HTTP API over a real uvicorn server on loopback, with a real HTTP client (httpx).

A server with a tiny random LAA-Net (real detection on the bundled samples) and the CLI. Admission (slow
uploads, the queue, 503s) and the health monitor are tested with fake detectors in ``test_serve_load.py``.
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
from laanet.inference.options import InferenceOptions
from laanet.schemas import validate
from laanet.service import ServeSettings, create_app
from laanet.service.server import serve_in_thread

LIMIT_MB = 1.0
LIMIT = int(LIMIT_MB * 2**20)
RESULT_KEYS = {"schema_version", "path", "kind", "status", "error", "score", "label", "threshold", "frames", "timeline",
               "calibration", "provenance"} | {"flags", "person", "people"}  # one result (result.schema.json)
FACE_KEYS = {"box", "score", "logit", "detector_score", "heatmap", "heatmap_max"} | {"person", "quality"}


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
    # Metadata a trained checkpoint carries: /health must show neither the paths nor the command line.
    save_model(LAANet(load_config("cpu-tiny").model), path, source="/secret/runs/last.pt",
               trained_with="laanet train --data /secret/data --out /secret/runs")
    return path


@pytest.fixture(scope="module")
def upload_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve_uploads")


@pytest.fixture(scope="module")
def real_server(tiny_weights, upload_dir):
    """(app, base URL) of a server with the tiny model; 1 MiB upload limit, 4 frames per video."""
    app = create_app(ServeSettings(InferenceOptions(weights=tiny_weights, frames=4, device="cpu"), max_upload_mb=LIMIT_MB, upload_dir=upload_dir))
    with serve_in_thread(app) as url:
        yield app, url


@pytest.fixture()
def client(real_server):
    with httpx.Client(base_url=real_server[1], timeout=120) as c:
        yield c


def jpeg_bytes(name: str = "obama_portrait.jpg") -> bytes:
    return sample_path(name).read_bytes()


def assert_serving(client: httpx.Client) -> None:
    assert client.get("/health").status_code == 200


# ---------------------------------------------------------------------------------------------------------
# Real model
# ---------------------------------------------------------------------------------------------------------


def test_health_reports_the_loaded_model(client, tiny_weights):
    r = client.get("/health")
    body = r.json()
    assert r.status_code == 200 and body["status"] == "ok" and body["problem"] is None
    assert body["model"]["backend"] == "torch" and body["model"]["input_size"] == 128
    assert body["model"]["weights"] == "tiny.pt"  # file name only: no server path is disclosed
    assert body["limits"]["max_upload_mb"] == LIMIT_MB and body["limits"]["default_frames"] == 4
    assert body["self_check"]["enabled"] and body["self_check"]["last_run"]  # checked at start-up
    # Neither the command line that trained the weights nor any server path.
    assert "/secret" not in r.text and "laanet train" not in r.text and str(tiny_weights.parent) not in r.text


def test_detect_image_matches_the_detector(client, real_server, upload_dir):
    app, _ = real_server
    r = client.post("/v1/detect", files={"file": ("../../etc/Obama Portrait.JPG", jpeg_bytes(), "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == RESULT_KEYS
    validate(body, "result")
    assert body["path"] == "Obama Portrait.JPG" and body["kind"] == "image" and body["status"] == "ok"
    face = body["frames"][0]["faces"][0]
    assert set(face) == FACE_KEYS

    # Same numbers as the Python API on the same file (run on the server's own inference thread).
    direct = app.state.worker.submit(app.state.detector.detect, sample_path("obama_portrait.jpg")).result().to_dict()
    assert body["score"] == direct["score"] and body["label"] == direct["label"]
    assert face["box"] == direct["frames"][0]["faces"][0]["box"]
    assert face["score"] == direct["frames"][0]["faces"][0]["score"]

    # The overlay is a decodable JPEG; overlay_scale maps the face box onto it.
    assert face["heatmap"] is None  # the raw map's file: the server stores none
    overlay_url = body["frames"][0]["overlay"]
    assert overlay_url.startswith("data:image/jpeg;base64,")
    jpeg = base64.b64decode(overlay_url.split(",", 1)[1])
    overlay = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    source = cv2.imread(str(sample_path("obama_portrait.jpg")))
    scale = body["frames"][0]["overlay_scale"]
    assert overlay.shape[1] == pytest.approx(source.shape[1] * scale, abs=1)
    assert overlay.shape[0] == pytest.approx(source.shape[0] * scale, abs=1)
    assert list(upload_dir.iterdir()) == []  # the request's temporary folder is gone


def _openapi_validator(document: dict, component: str):
    """A validator for one ``components/schemas`` entry of an OpenAPI 3.1 document (JSON Schema 2020-12)."""
    import jsonschema

    schema = {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_openapi_describes_the_responses_and_real_ones_validate(client, tiny_weights):
    document = client.get("/openapi.json").json()
    detect = document["paths"]["/v1/detect"]["post"]
    ok = detect["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/Result"}
    assert {"400", "408", "413", "415", "422", "500", "503"} <= set(detect["responses"])
    assert "Retry-After" in detect["responses"]["503"]["headers"]
    fields = detect["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert set(fields) == {"file", "frames", "flip_test", "threshold", "overlays", "heatmaps"}
    assert {"Result", "Frame", "Face", "Provenance", "Error", "Health"} <= set(document["components"]["schemas"])

    r = client.post("/v1/detect", files={"file": ("p.jpg", jpeg_bytes(), "image/jpeg")}, data={"heatmaps": "1"})
    assert r.status_code == 200, r.text
    body = r.json()
    result_validator = _openapi_validator(document, "Result")
    result_validator.validate(body)
    assert str(tiny_weights.parent) not in r.text and "/secret" not in r.text  # provenance: file names only
    assert body["provenance"]["weights"]["name"] == "tiny.pt"
    broken = {**body, "frames": [{**body["frames"][0], "score": "high"}]}
    assert not result_validator.is_valid(broken)  # the published schema does constrain the answer
    _openapi_validator(document, "Health").validate(client.get("/health").json())
    error = client.post("/v1/detect", files={"file": ("a.txt", b"x", "text/plain")})
    _openapi_validator(document, "Error").validate(error.json())


def test_per_request_threshold_and_raw_heatmaps(client):
    files = {"file": ("p.jpg", jpeg_bytes(), "image/jpeg")}
    low = client.post("/v1/detect", files=files, data={"threshold": "0", "overlays": "0", "heatmaps": "true"}).json()
    high = client.post("/v1/detect", files=files, data={"threshold": "1", "overlays": "0"}).json()
    assert low["threshold"] == 0.0 and low["label"] == "fake" and low["provenance"]["options"]["threshold"] == 0.0
    assert high["threshold"] == 1.0 and high["label"] == "real" and high["score"] == low["score"]
    face = low["frames"][0]["faces"][0]
    values = np.array(face["heatmap_values"])
    assert values.shape == (32, 32)  # the raw map: a quarter of the 128-px network input
    assert values.max() == pytest.approx(face["heatmap_max"], abs=1e-3)
    assert face["heatmap"] is None  # no file on the server
    assert "heatmap_values" not in high["frames"][0]["faces"][0]  # only when asked for
    bad = client.post("/v1/detect", files=files, data={"threshold": "nan"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_field"


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
    assert all(f["overlay"] is None for f in body["frames"])
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


def test_multipart_boundary_too_long_is_400(client):
    boundary = "b" * 300  # python-multipart refuses boundaries over 256 characters: that was a 500
    body = f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n".encode()
    body += jpeg_bytes() + f"\r\n--{boundary}--\r\n".encode()
    r = client.post("/v1/detect", content=body, headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 400 and r.json()["error"] == "bad_request" and "boundary" in r.json()["detail"]
    assert_serving(client)


def test_long_file_name_keeps_its_extension(client):
    name = "portrait of a man, " * 12 + "final.JPG"  # 237 characters
    r = client.post("/v1/detect", files={"file": (name, jpeg_bytes(), "image/jpeg")}, data={"overlays": "0"})
    assert r.status_code == 200, r.text
    path = r.json()["path"]
    assert len(path) == 120 and path.startswith("portrait of a man, ") and path.endswith("\u2026.JPG")
    long_png = client.post("/v1/detect", files={"file": ("x" * 300 + ".png", b"", "application/octet-stream")})
    assert long_png.status_code == 422 and long_png.json()["error"] == "undecodable"  # a .png, not "unsupported"


def test_hostile_corpus_gets_json_answers_never_500(tiny_weights, tmp_path):
    """Every file of the hostile corpus (1x1 and 4000x3 images, decompression bombs, an 8000x8000 photo,
    truncated, empty and mislabelled files) gets a 2xx/4xx JSON answer that agrees with the corpus' expected
    statuses; afterwards the server still detects, and /health is ok with no failed request."""
    from hostile_corpus import ERROR, EXPECTED_STATUS, make_hostile_corpus

    corpus = make_hostile_corpus(tmp_path / "hostile")
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    app = create_app(ServeSettings(InferenceOptions(weights=tiny_weights, frames=2, device="cpu"), max_upload_mb=4, upload_dir=uploads))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=300) as c:
        for name, path in corpus.items():
            files = {"file": (name, path.read_bytes(), "application/octet-stream")}
            r = c.post("/v1/detect", files=files, data={"overlays": "1"})
            assert r.status_code < 500 and r.headers["content-type"] == "application/json", (name, r.text[:300])
            body = r.json()
            if r.status_code == 200:
                assert body["status"] in EXPECTED_STATUS[name], (name, body["status"], body["error"])
            else:
                assert ERROR in EXPECTED_STATUS[name] and body["detail"], (name, r.status_code, body)
            if name.startswith("bomb_"):  # refused from the declared size, before decoding
                assert r.status_code == 413 and body["error"] == "too_many_pixels", (name, body)
                assert "hostile" not in body["detail"] and str(uploads) not in body["detail"]
        r = c.post("/v1/detect", files={"file": ("g.jpg", jpeg_bytes("grace_hopper.jpg"), "image/jpeg")})
        assert r.status_code == 200 and r.json()["status"] == "ok"
        health = c.get("/health").json()
        assert health["status"] == "ok" and health["failed_requests"] == 0, health
    assert list(uploads.iterdir()) == []


def test_a_broken_face_detector_is_noticed_and_the_model_reloaded(client, real_server):
    """A face backend that starts failing (as MediaPipe did after a 1x1 image) gives one 500; the self-check
    then fails, the detector is reloaded, and the server serves again with /health saying what happened."""
    app, _ = real_server
    broken = app.state.detector

    def fail(image):
        raise RuntimeError("CalculatorGraph::Run() failed in /secret/mediapipe/graph.cc")

    broken.faces.detect = fail
    r = client.post("/v1/detect", files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")}, data={"overlays": "0"})
    assert r.status_code == 500 and r.json()["error"] == "internal"
    assert app.state.detector is not broken  # reloaded
    health = client.get("/health")
    body = health.json()
    assert health.status_code == 200 and body["status"] == "ok", body
    assert body["reloads"] == 1 and body["failed_requests"] == 1
    assert "CalculatorGraph" in body["last_failure"]["detail"] and "/secret" not in health.text
    again = client.post("/v1/detect", files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")}, data={"overlays": "0"})
    assert again.status_code == 200 and again.json()["status"] == "ok"


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


def test_weights_with_non_finite_values_stop_start_up(tmp_path):
    """All-NaN weights used to load, answer 500 to every request and say "ok" in /health: start-up fails with
    a clear message (which ``laanet serve`` prints before exiting 1, see test_cli_bad_weights_exit_1)."""
    import torch

    from laanet.config import load_config
    from laanet.models.checkpoint import save_model
    from laanet.models.laanet import LAANet

    model = LAANet(load_config("cpu-tiny").model)
    with torch.no_grad():
        for param in model.parameters():
            param.fill_(float("nan"))
    app = create_app(ServeSettings(InferenceOptions(weights=save_model(model, tmp_path / "nan.pt"), device="cpu"), upload_dir=tmp_path))
    with pytest.raises(RuntimeError, match="(?i)non-finite"):
        with serve_in_thread(app, startup_timeout_s=120):
            pass


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
         "--frames", "2", "--max-concurrency", "2", "--queue-size", "3", "--upload-timeout", "30",
         "--jobs-dir", str(tmp_path / "jobs")],
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
                "max_upload_mb": 50.0, "max_concurrency": 2, "queue_size": 3, "max_uploads": 32,
                "upload_timeout_s": 30.0, "max_frames": 128, "default_frames": 2, "default_flip_test": True,
            }
            files = {"file": ("g.jpg", jpeg_bytes("grace_hopper.jpg"), "image/jpeg")}
            r = c.post("/v1/detect", files=files, data={"overlays": "false"})
            assert r.status_code == 200 and r.json()["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "Traceback" not in out and "Application shutdown complete" in out
