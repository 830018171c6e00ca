"""Weights by URL (laanet.hub): download once into the cache, --sha256 checks, atomic files, clear errors.

Everything is served by an http.server on 127.0.0.1 in a thread; nothing leaves the machine.
"""
from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from laanet.hub import WeightsFetchError, cache_dir, cached_path, resolve_weights

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, asymmetric content


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: dict[str, int] = {}
    files: dict[str, bytes] = {}  # /files/<name> -> content

    def do_GET(self):  # noqa: N802 - http.server's naming
        type(self).hits[self.path] = type(self).hits.get(self.path, 0) + 1
        if self.path.startswith(("/weights/", "/files/")):
            body = PAYLOAD if self.path.startswith("/weights/") else type(self).files[self.path.rsplit("/", 1)[1]]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/short.pt":  # announces more than it sends: a cut connection
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[:1000])
        else:
            self.send_error(404, "Not Found")

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAANET_CACHE", str(tmp_path / "cache"))
    _Handler.hits.clear()
    return tmp_path / "cache"


def test_download_once_then_reuse(server, cache):
    url = f"{server}/weights/model.pt"
    path = resolve_weights(url)
    assert path.read_bytes() == PAYLOAD and path.name == "model.pt"
    assert cache_dir() == cache and path.is_relative_to(cache)
    assert resolve_weights(url) == path
    assert _Handler.hits["/weights/model.pt"] == 1  # the second call used the cache
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary file left behind
    other = resolve_weights(f"{server}/weights/sub/model.pt")  # same file name, other URL: its own file
    assert other != path and other.read_bytes() == PAYLOAD


def test_sha256_checked(server):
    good = hashlib.sha256(PAYLOAD).hexdigest()
    url = f"{server}/weights/checked.pt"
    assert resolve_weights(url, sha256=good.upper()).read_bytes() == PAYLOAD
    bad_url = f"{server}/weights/bad.pt"
    with pytest.raises(WeightsFetchError, match="expected 0000"):
        resolve_weights(bad_url, sha256="0" * 64)
    assert not cached_path(bad_url).exists()  # a mismatching download is removed
    cached = resolve_weights(url)
    cached.write_bytes(b"tampered")  # a cached file that no longer matches is downloaded again
    assert resolve_weights(url, sha256=good).read_bytes() == PAYLOAD
    assert _Handler.hits["/weights/checked.pt"] == 2
    with pytest.raises(WeightsFetchError, match="64 hexadecimal"):
        resolve_weights(url, sha256="abc")


def test_local_files_and_errors(server, tmp_path):
    local = tmp_path / "w.pt"
    local.write_bytes(PAYLOAD)
    assert resolve_weights(str(local)) == local
    assert resolve_weights(local, sha256=hashlib.sha256(PAYLOAD).hexdigest()) == local
    with pytest.raises(WeightsFetchError, match="SHA-256"):
        resolve_weights(local, sha256="1" * 64)
    assert local.is_file()  # a user's own file is never deleted
    with pytest.raises(FileNotFoundError):
        resolve_weights(tmp_path / "missing.pt")
    with pytest.raises(WeightsFetchError, match="HTTP 404"):
        resolve_weights(f"{server}/nothing.pt")
    with pytest.raises(WeightsFetchError, match="stopped after 1000"):
        resolve_weights(f"{server}/short.pt")
    short_dir = cached_path(f"{server}/short.pt").parent
    assert not short_dir.exists() or not any(short_dir.iterdir())  # the partial download was removed
    with pytest.raises(WeightsFetchError, match="cannot download"):
        resolve_weights("http://127.0.0.1:9/refused.pt")  # nothing listens on the discard port


def test_cli_takes_a_weights_url(server, tmp_path, media_dir):
    import json

    import torch
    from typer.testing import CliRunner

    from laanet.cli import app
    from laanet.config import load_config
    from laanet.models.checkpoint import save_model
    from laanet.models.laanet import LAANet

    torch.manual_seed(0)
    save_model(LAANet(load_config("cpu-tiny").model), tmp_path / "tiny.pt")
    _Handler.files["tiny.pt"] = (tmp_path / "tiny.pt").read_bytes()
    digest = hashlib.sha256(_Handler.files["tiny.pt"]).hexdigest()
    res = CliRunner().invoke(app, ["detect", str(media_dir / "multi_face.jpg"), "--out", str(tmp_path / "ok"),
                                   "--weights", f"{server}/files/tiny.pt", "--sha256", digest])
    assert res.exit_code == 0, res.output
    payload = json.loads((tmp_path / "ok" / "results.json").read_text())
    assert payload["results"][0]["status"] == "ok"
    assert payload["model"]["weights"] == "tiny.pt" and payload["model"]["weights_sha256"] == digest

    bad = CliRunner().invoke(app, ["detect", str(media_dir / "multi_face.jpg"), "--out", str(tmp_path / "o"),
                                   "--weights", f"{server}/weights/x.pt", "--sha256", "f" * 64])
    assert bad.exit_code == 2 and "SHA-256" in bad.output and "Traceback" not in bad.output
    res = CliRunner().invoke(app, ["info", f"{server}/weights/x.pt"])  # downloaded, then refused as not a checkpoint
    assert res.exit_code == 2 and "Expected a laanet checkpoint" in res.output
    assert Path(cached_path(f"{server}/weights/x.pt")).read_bytes() == PAYLOAD
