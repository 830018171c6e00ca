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


# --- hf://OWNER/REPO/FILE[@REVISION]: a Hugging Face cache laid out by hand in tmp, HF_HUB_OFFLINE=1, no network ---

COMMIT_MAIN = "a" * 39 + "1"
COMMIT_V1 = "b" * 39 + "2"
MAIN_BYTES = b"main:" + bytes(range(255, -1, -1)) * 16  # asymmetric content, different per revision
V1_BYTES = b"v1:" + bytes(range(256)) * 16


def _fill_hub_cache(root: Path, repo: str, files: dict[str, dict[str, bytes]], refs: dict[str, str]) -> Path:
    """The standard hub cache layout: models--OWNER--REPO/{refs/<ref>, blobs/<sha256>, snapshots/<commit>/FILE}."""
    repo_dir = root / ("models--" + repo.replace("/", "--"))
    for commit, entries in files.items():
        for name, data in entries.items():
            blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
            blob.parent.mkdir(parents=True, exist_ok=True)
            blob.write_bytes(data)
            link = repo_dir / "snapshots" / commit / name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(Path(*[".."] * (len(Path(name).parts) + 1), "blobs", blob.name))
    for ref, commit in refs.items():
        (repo_dir / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (repo_dir / "refs" / ref).write_text(commit)
    return repo_dir


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """An offline Hugging Face cache in tmp with 10Ring/FakeFormer at main (COMMIT_MAIN) and the tag v1."""
    from huggingface_hub import constants

    root = tmp_path / "hf" / "hub"
    _fill_hub_cache(root, "10Ring/FakeFormer",
                    {COMMIT_MAIN: {"w.pt": MAIN_BYTES, "sub/x.pt": V1_BYTES}, COMMIT_V1: {"w.pt": V1_BYTES}},
                    {"main": COMMIT_MAIN, "v1": COMMIT_V1})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read at import: a running process sees it there
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(root))
    return root


def test_hf_from_the_cache_offline(hf_cache):
    path = resolve_weights("hf://10Ring/FakeFormer/w.pt")
    assert path.read_bytes() == MAIN_BYTES
    assert path.is_relative_to(hf_cache / "models--10Ring--FakeFormer" / "snapshots" / COMMIT_MAIN)
    assert resolve_weights("hf://10Ring/FakeFormer/sub/x.pt").read_bytes() == V1_BYTES  # a file in a folder
    good = hashlib.sha256(MAIN_BYTES).hexdigest()
    assert resolve_weights("hf://10Ring/FakeFormer/w.pt", sha256=good.upper()) == path
    with pytest.raises(WeightsFetchError, match=f"SHA-256 is {good}, expected 1111"):
        resolve_weights("hf://10Ring/FakeFormer/w.pt", sha256="1" * 64)
    assert path.read_bytes() == MAIN_BYTES  # the shared cache is left alone


def test_hf_revision(hf_cache):
    assert resolve_weights("hf://10Ring/FakeFormer/w.pt@v1").read_bytes() == V1_BYTES  # a tag (refs/v1)
    assert resolve_weights("hf://10Ring/FakeFormer@v1/w.pt").read_bytes() == V1_BYTES  # huggingface_hub's form
    assert resolve_weights(f"hf://10Ring/FakeFormer/w.pt@{COMMIT_MAIN}").read_bytes() == MAIN_BYTES  # a commit
    assert resolve_weights("hf://10Ring/FakeFormer/w.pt@main").read_bytes() == MAIN_BYTES
    with pytest.raises(WeightsFetchError, match="not in the Hugging Face cache"):
        resolve_weights("hf://10Ring/FakeFormer/sub/x.pt@v1")  # in main only


def test_hf_offline_not_cached_is_one_clear_line(hf_cache):
    with pytest.raises(WeightsFetchError) as info:
        resolve_weights("hf://10Ring/FakeFormer/ViTSmall112_model_best.pth@v2")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("hf://10Ring/FakeFormer/ViTSmall112_model_best.pth@v2: not in the Hugging Face cache")
    assert str(hf_cache) in msg and "HF_HUB_OFFLINE" in msg
    assert "`hf download 10Ring/FakeFormer ViTSmall112_model_best.pth --revision v2`" in msg
    with pytest.raises(WeightsFetchError, match="not in the Hugging Face cache"):
        resolve_weights("hf://someone/else/w.pt")  # a repository the cache never saw


@pytest.mark.parametrize("spec, why", [
    ("hf://10Ring/FakeFormer", "no file named"),
    ("hf://10Ring/FakeFormer@v1", "no file named"),
    ("hf://10Ring", "namespace/name"),
    ("hf://10Ring/FakeFormer/w.pt@", "empty file name or revision"),
    ("hf://10Ring/FakeFormer@v1/w.pt@v2", "two revisions"),
])
def test_hf_malformed(spec, why):
    with pytest.raises(WeightsFetchError, match=why) as info:
        resolve_weights(spec)
    assert "expected hf://OWNER/REPO/FILE[@REVISION]" in str(info.value)


def test_cli_takes_hf_weights_offline(hf_cache, tmp_path, media_dir):
    import json

    import torch
    from typer.testing import CliRunner

    from laanet.cli import app
    from laanet.config import load_config
    from laanet.models.checkpoint import save_model
    from laanet.models.laanet import LAANet

    torch.manual_seed(0)
    data = save_model(LAANet(load_config("cpu-tiny").model), tmp_path / "tiny.pt").read_bytes()
    _fill_hub_cache(hf_cache, "team/detectors", {COMMIT_V1: {"tiny.pt": data}}, {"v1": COMMIT_V1})
    digest = hashlib.sha256(data).hexdigest()
    res = CliRunner().invoke(app, ["detect", str(media_dir / "multi_face.jpg"), "--out", str(tmp_path / "ok"),
                                   "--weights", "hf://team/detectors/tiny.pt@v1", "--sha256", digest])
    assert res.exit_code == 0, res.output
    payload = json.loads((tmp_path / "ok" / "results.json").read_text())
    assert payload["results"][0]["status"] == "ok"
    assert payload["model"]["weights"] == "tiny.pt" and payload["model"]["weights_sha256"] == digest
    res = CliRunner().invoke(app, ["info", "hf://team/detectors/tiny.pt@v1"])
    assert res.exit_code == 0 and json.loads(res.output)["format"] == "laanet"
    res = CliRunner().invoke(app, ["detect", str(media_dir / "multi_face.jpg"), "--out", str(tmp_path / "no"),
                                   "--weights", "hf://team/detectors/tiny.pt"])  # main was never cached
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "not in the Hugging Face cache" in res.output and "hf download team/detectors tiny.pt" in res.output


def test_hf_honours_hf_home_in_a_new_process(tmp_path):
    """HF_HOME and HF_HUB_OFFLINE set in the environment of a fresh interpreter (as a user sets them)."""
    import os
    import subprocess
    import sys

    _fill_hub_cache(tmp_path / "home" / "hub", "10Ring/FakeFormer", {COMMIT_MAIN: {"w.pt": MAIN_BYTES}},
                    {"main": COMMIT_MAIN})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1")
    code = "from laanet.hub import resolve_weights; import sys; print(resolve_weights(sys.argv[1]))"
    out = subprocess.run([sys.executable, "-c", code, "hf://10Ring/FakeFormer/w.pt"], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert Path(out).read_bytes() == MAIN_BYTES and Path(out).is_relative_to(tmp_path / "home" / "hub")
    bad = subprocess.run([sys.executable, "-c", code, "hf://10Ring/FakeFormer/w.pt@v9"], env=env, capture_output=True,
                         text=True)
    assert bad.returncode != 0 and str(tmp_path / "home" / "hub") in bad.stderr


FAKEFORMER_FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "fakeformer" / "checkpoint.pt"


@pytest.mark.skipif(not FAKEFORMER_FIXTURE.is_file(), reason=f"FakeFormer fixture not present ({FAKEFORMER_FIXTURE})")
def test_convert_from_the_hub_cache(hf_cache, tmp_path):
    """`laanet convert hf://10Ring/FakeFormer/…` on an authors'-layout file in the (offline) Hugging Face cache."""
    import json

    from typer.testing import CliRunner

    from laanet.cli import app

    name = "TopDownDetector_ViTSmall112_hm0_8SBI_model_best.pth"
    _fill_hub_cache(hf_cache, "10Ring/FakeFormer", {COMMIT_V1: {name: FAKEFORMER_FIXTURE.read_bytes()}}, {})
    res = CliRunner().invoke(app, ["convert", f"hf://10Ring/FakeFormer/{name}@{COMMIT_V1}", str(tmp_path / "ff.pt")])
    assert res.exit_code == 0, res.output
    info = CliRunner().invoke(app, ["info", str(tmp_path / "ff.pt")])
    assert info.exit_code == 0 and json.loads(info.output)["family"] == "fakeformer"
    res = CliRunner().invoke(app, ["convert", f"hf://10Ring/FakeFormer/{name}", str(tmp_path / "no.pt")])  # main lacks it
    assert res.exit_code == 2 and "not in the Hugging Face cache" in res.output


def test_python_api_takes_hf_weights(hf_cache, tmp_path, media_dir):
    """``Detector("hf://…")`` and ``load_model("hf://…")`` fetch through the same cache as ``--weights``."""
    import torch

    from laanet import Detector, load_model
    from laanet.config import load_config
    from laanet.models.checkpoint import save_model
    from laanet.models.laanet import LAANet

    torch.manual_seed(0)
    data = save_model(LAANet(load_config("cpu-tiny").model), tmp_path / "tiny.pt").read_bytes()
    _fill_hub_cache(hf_cache, "team/detectors", {COMMIT_V1: {"tiny.pt": data}}, {"v1": COMMIT_V1})
    model = load_model("hf://team/detectors/tiny.pt@v1")
    assert model.family == "laanet" and Path(model.meta["path"]).is_relative_to(hf_cache)
    detector = Detector("hf://team/detectors/tiny.pt@v1")
    result = detector(media_dir / "multi_face.jpg")
    assert result.status == "ok" and result.provenance.weights.name == "tiny.pt"
    assert result.provenance.weights.sha256 == hashlib.sha256(data).hexdigest()
    with pytest.raises(WeightsFetchError, match="not in the Hugging Face cache"):
        Detector("hf://team/detectors/tiny.pt")  # main was never cached
