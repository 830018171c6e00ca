"""``--ray`` on ``laanet prepare``, ``eval`` and ``detect``: the same files as the local path, resumable.

One local Ray cluster (``ray.init(num_cpus=2)``) serves the whole module; the commands reach it with
``--ray auto`` (``laanet.scale.ray_cluster.connect`` reuses a running connection). Inputs: copies of the bundled
samples (photos and clips), a synthetic mini ``folder`` dataset and a DeepfakeBench-style pre-cropped one.
"""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from laanet.cli import app
from laanet.data.synthetic import make_dataset

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "laanet" / "assets" / "samples"
SRC = Path(__file__).resolve().parents[1] / "src"


def test_without_ray_flag_ray_is_never_imported(tmp_path):
    """prepare, eval and detect without --ray, and importing laanet.scale, leave ``ray`` out of sys.modules."""
    root = tmp_path / "faces" / "real"
    root.mkdir(parents=True)
    shutil.copy(SAMPLES / "grace_hopper.jpg", root)
    script = f"""
import sys, torch
from typer.testing import CliRunner
from laanet.cli import app
from laanet.config import load_config
from laanet.models.checkpoint import save_model
from laanet.models.laanet import LAANet
import laanet.scale, laanet.scale.ray_cluster, laanet.scale.ray_prepare, laanet.scale.ray_eval, laanet.scale.ray_detect
save_model(LAANet(load_config("cpu-tiny").model), "{tmp_path}/w.pt")
run = lambda *a: CliRunner().invoke(app, list(a))
for args in (["prepare", "folder", "--root", "{tmp_path}/faces", "--out", "{tmp_path}/prep", "--no-progress"],
             ["eval", "--weights", "{tmp_path}/w.pt", "--data", "{tmp_path}/prep", "--out", "{tmp_path}/ev", "--no-progress"],
             ["detect", "{root}", "--weights", "{tmp_path}/w.pt", "--out", "{tmp_path}/det"]):
    res = run(*args)
    assert res.exit_code == 0, (args[0], res.output)
    assert "ray" not in sys.modules, args[0]
print("no ray")
"""
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0 and "no ray" in done.stdout, done.stdout[-2000:] + done.stderr[-3000:]


ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'laanet[ray]')")


@pytest.fixture(scope="module")
def cluster():
    """A local 2-CPU Ray cluster for the module (start-up is paid once)."""
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """A cpu-tiny model whose classifier is scaled up, so that different faces get clearly different logits."""
    import torch

    from laanet.config import load_config
    from laanet.models.checkpoint import save_model
    from laanet.models.laanet import LAANet

    torch.manual_seed(0)
    model = LAANet(load_config("cpu-tiny").model)
    with torch.no_grad():
        model.cls_head[-1].weight.mul_(400.0)
    path = tmp_path_factory.mktemp("w") / "tiny.pt"
    save_model(model, path)
    return path


@pytest.fixture(scope="module")
def faces_root(tmp_path_factory) -> Path:
    """A ``folder`` dataset: synthetic clips and stills, bundled photos and clips, and one broken video."""
    root = make_dataset("folder", tmp_path_factory.mktemp("faces") / "root", frames=3, size=160)
    for name, label in (("astronaut.jpg", "real"), ("obama_portrait.jpg", "fake"), ("clip_obama.mp4", "fake")):
        shutil.copy(SAMPLES / name, root / label / name)
    (root / "fake" / "broken.mp4").write_bytes(b"\x00\x01 not a video " * 64)
    return root


def _invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _prepare(root: Path, out: Path, *extra: str, dataset: str = "folder"):
    return _invoke("prepare", dataset, "--root", root, "--out", out, "--frames", "2", "--crop-size", "128",
                   "--no-progress", *extra)


def _crops(prep: Path) -> list[Path]:
    return sorted(p.relative_to(prep) for p in (prep / "crops").rglob("*.png") if p.is_file())


def _log(prep: Path) -> dict[str, str]:
    lines = (prep / "prepare_log.jsonl").read_text().splitlines()
    return {e["video_id"]: e["status"] for e in map(json.loads, lines)}


@pytest.fixture(scope="module")
def prep_local(faces_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prep") / "local"
    res = _prepare(faces_root, out)
    assert res.exit_code == 0, res.output
    return out


# -- prepare ---------------------------------------------------------------------------------------------------


def test_prepare_on_ray_matches_local_and_resumes(cluster, faces_root, prep_local, tmp_path):
    out = tmp_path / "ray"
    res = _prepare(faces_root, out, "--ray", "auto")
    assert res.exit_code == 0, res.output
    assert "8 sources: 0 already done, 7 prepared" in res.output and "1 failed" in res.output
    assert "failed: folder/fake/broken" in res.output  # the failure summary names the source
    assert sorted((out / "index.jsonl").read_text().splitlines()) == sorted((prep_local / "index.jsonl").read_text().splitlines())
    assert _log(out) == _log(prep_local)
    crops = _crops(out)
    assert len(crops) == 10 and crops == _crops(prep_local)
    for rel in crops:
        assert (out / rel).read_bytes() == (prep_local / rel).read_bytes(), rel

    # Resume: a rerun skips the finished sources and retries only the failed one.
    res = _prepare(faces_root, out, "--ray", "auto")
    assert res.exit_code == 0, res.output
    assert "8 sources: 7 already done, 0 prepared" in res.output and "1 failed" in res.output
    assert len((out / "index.jsonl").read_text().splitlines()) == len((prep_local / "index.jsonl").read_text().splitlines())


def test_prepare_on_ray_precropped_frames_with_landmarks(cluster, tmp_path):
    """DeepfakeBench layout: folders of pre-cropped frames with landmark files (paths made absolute for workers)."""
    root = make_dataset("deepfakebench", tmp_path / "dfb", frames=3)
    local, remote = tmp_path / "local", tmp_path / "ray"
    for out, extra in ((local, ()), (remote, ("--ray", "auto"))):
        res = _prepare(root, out, *extra, dataset="deepfakebench")
        assert res.exit_code == 0, res.output
    records = sorted((remote / "index.jsonl").read_text().splitlines())
    assert records == sorted((local / "index.jsonl").read_text().splitlines())
    assert all(json.loads(r)["landmarks"] for r in records)


# -- eval ------------------------------------------------------------------------------------------------------


def _eval(weights: Path, prep: Path, out: Path, *extra: str):
    return _invoke("eval", "--weights", weights, "--data", prep, "--out", out, "--flip-test", "--perturb", "blur:2",
                   "--batch-size", "3", "--split", "all", "--no-progress", *extra)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


@contextmanager
def one_thread():
    """torch on one thread, as in a Ray actor with one CPU (Ray sets OMP_NUM_THREADS from --ray-cpus).

    The thread count can change a float32 sum's rounding (a logit's last bit); with the same count, the local
    and the Ray path give the same bits.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def eval_local(weights, prep_local, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "local"
    with one_thread():
        res = _eval(weights, prep_local, out)
    assert res.exit_code == 0, res.output
    return out


def _same_eval(a: Path, b: Path) -> None:
    assert (a / "predictions.csv").read_text() == (b / "predictions.csv").read_text()
    ma, mb = json.loads((a / "metrics.json").read_text()), json.loads((b / "metrics.json").read_text())
    for m in (ma, mb):
        for key in ("seconds", "device"):
            m["protocol"].pop(key)
    assert ma == mb


def test_eval_on_ray_is_identical_and_resumes(cluster, weights, prep_local, eval_local, tmp_path):
    logits = np.array([float(r["logit"]) for r in _rows(eval_local / "predictions.csv")])
    assert len(logits) == 10 and np.ptp(logits) > 1e-3  # distinct faces get distinct scores (at 6 decimals)

    out = tmp_path / "ray"
    res = _eval(weights, prep_local, out, "--ray", "auto", "--ray-actors", "2")
    assert res.exit_code == 0, res.output
    _same_eval(eval_local, out)  # the same crops in the same batches, on as many threads: the same logits
    lines = (out / "scores.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["fingerprint"]["batch_size"] == 3
    assert len(lines) == 1 + len(logits)
    # predictions.csv rounds to 6 decimals; scores.jsonl has the full float64 logits: equal to the local ones.
    from laanet.evaluation.evaluate import EvalOptions, LocalScorer, load_items
    from laanet.evaluation.perturb import Perturbation

    items = load_items([prep_local], split=None)
    with one_thread():
            exact = LocalScorer(weights, "cpu").predict(items, EvalOptions(batch_size=3, flip_test=True, split=None,
                                                    perturbations=(Perturbation("blur", 2),)), progress=False).logit
    on_ray = {e["key"]: e["logit"] for e in map(json.loads, lines[1:])}
    assert [on_ray[f"blur:2|{it.root}|{it.record.path}"] for it in items] == exact.tolist()

    # Resume: scores found in scores.jsonl are used, not recomputed (a planted value comes through), and a
    # line cut off by a kill is ignored (that crop's batch is scored again, in the same composition).
    local_rows = _rows(eval_local / "predictions.csv")
    first, last = (f"blur:2|{it.root}|{it.record.path}" for it in (items[0], items[-1]))  # predictions' order
    entries = [json.loads(line) for line in lines[1:]]
    assert {e["key"] for e in entries} >= {first, last}
    planted = [{**e, "logit": 7.25} if e["key"] == first else e for e in entries if e["key"] != last]
    cut = json.dumps(next(e for e in entries if e["key"] == last))[:25]
    (out / "scores.jsonl").write_text("\n".join([lines[0]] + [json.dumps(e) for e in planted] + [cut]))
    res = _eval(weights, prep_local, out, "--ray", "auto")
    assert res.exit_code == 0, res.output
    new = [r["logit"] for r in _rows(out / "predictions.csv")]
    assert float(new[0]) == 7.25 and new[1:] == [r["logit"] for r in local_rows[1:]]
    after = (out / "scores.jsonl").read_text().splitlines()
    assert after[len(planted) + 1] == cut and json.loads(after[-1])["key"] == last  # the cut batch, scored again


def test_eval_on_ray_reports_unreadable_crops_and_keeps_scores(cluster, weights, prep_local, eval_local, tmp_path):
    prep = tmp_path / "prep"
    shutil.copytree(prep_local, prep)
    records = [json.loads(line) for line in (prep / "index.jsonl").read_text().splitlines()]
    missing = prep / records[-1]["path"]
    moved = missing.with_suffix(".bak")
    missing.rename(moved)
    out = tmp_path / "ray"
    res = _eval(weights, prep, out, "--ray", "auto")
    assert res.exit_code == 1
    assert "1 of" in res.output and "could not be scored" in res.output and records[-1]["path"] in res.output
    assert not (out / "predictions.csv").exists()
    kept = len((out / "scores.jsonl").read_text().splitlines()) - 1
    assert 0 < kept < len(records)
    moved.rename(missing)
    res = _eval(weights, prep, out, "--ray", "auto")
    assert res.exit_code == 0, res.output
    assert _rows(out / "predictions.csv") and [r["logit"] for r in _rows(out / "predictions.csv")] == [
        r["logit"] for r in _rows(eval_local / "predictions.csv")]


# -- detect ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def detect_inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("detect_in")
    for name in ("astronaut.jpg", "grace_hopper.jpg", "obama_speech.jpg", "clip_astronaut.mp4"):
        shutil.copy(SAMPLES / name, folder / name)
    make_dataset("folder", folder / "mini", frames=3, size=160)
    (folder / "broken.jpg").write_bytes(b"not an image" * 10)
    return folder


FLOATS = ("score", "logit", "heatmap_max")  # compared separately, to 1e-5


def _strip_scores(value):
    """A result without its float scores, with the files it wrote (overlays, heatmaps) by name only."""
    if isinstance(value, dict):
        return {k: None if k in FLOATS else _strip_scores(v) for k, v in value.items() if k != "timeline"}
    if isinstance(value, list):
        return [_strip_scores(v) for v in value]
    if isinstance(value, str) and "/heatmaps/" in value:
        return Path(value).name
    return value


def _face_values(results: list[dict], key: str = "logit") -> list[float]:
    return [f.get(key) for r in results for fr in r["frames"] for f in fr["faces"]]


def test_detect_on_ray_matches_local_and_resumes(cluster, weights, detect_inputs, tmp_path):
    args = ("detect", detect_inputs, "--weights", weights, "--frames", "2", "--batch-size", "4", "--device", "cpu")
    local, remote = tmp_path / "local", tmp_path / "ray"
    res = _invoke(*args, "--out", local)
    assert res.exit_code == 1, res.output  # broken.jpg cannot be read; the others are written
    res = _invoke(*args, "--out", remote, "--ray", "auto", "--ray-actors", "2")
    assert res.exit_code == 1, res.output
    a, b = (json.loads((d / "results.json").read_text()) for d in (local, remote))
    assert b["model"] == a["model"]
    assert [r["path"] for r in b["results"]] == [r["path"] for r in a["results"]]  # input order
    assert [_strip_scores(r) for r in b["results"]] == [_strip_scores(r) for r in a["results"]]
    logits = _face_values(a["results"])
    assert len(logits) >= 8 and np.ptp(logits) > 1e-3
    np.testing.assert_allclose(_face_values(b["results"]), logits, atol=1e-5, rtol=0)  # batches differ (docstring)
    if "heatmap_max" in a["results"][0]["frames"][0]["faces"][0]:
        np.testing.assert_allclose(_face_values(b["results"], "heatmap_max"), _face_values(a["results"], "heatmap_max"),
                                   atol=1e-5, rtol=0)
    assert {r["status"] for r in b["results"]} == {"ok", "error"}
    names = sorted(p.name for p in (remote / "heatmaps").iterdir())
    assert names and names == sorted(p.name for p in (local / "heatmaps").iterdir())

    # --resume: the files in results.jsonl are kept as they are (a planted score comes through), the rest redone.
    lines = (remote / "results.jsonl").read_text().splitlines()
    kept = [json.loads(line) for line in lines[:3]]
    kept[0]["score"] = 0.123456
    (remote / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    (remote / "results.json").unlink()
    res = _invoke(*args, "--out", remote, "--ray", "auto", "--resume")
    assert res.exit_code == 1, res.output
    c = json.loads((remote / "results.json").read_text())["results"]
    assert [r["path"] for r in c] == [r["path"] for r in a["results"]]
    planted = next(r for r in c if r["path"] == kept[0]["path"])
    assert planted["score"] == 0.123456
    assert [_strip_scores(r) for r in c] == [_strip_scores(r) for r in a["results"]]


# -- options ---------------------------------------------------------------------------------------------------


def test_ray_options_and_cli_errors(tmp_path):
    from laanet.scale.ray_cluster import RayOptions

    with pytest.raises(ValueError, match="--ray-actors"):
        RayOptions("auto", actors=0)
    with pytest.raises(ValueError, match="--ray-gpus"):
        RayOptions("auto", gpus=-1)
    with pytest.raises(ValueError, match="--ray-gpus 1"):
        RayOptions("auto").check_device("cuda")
    res = _invoke("prepare", "folder", "--root", tmp_path, "--out", tmp_path / "o", "--ray", "auto", "--ray-cpus", "0")
    assert res.exit_code == 2


def test_ray_flag_without_ray_installed_is_a_clear_error(prep_local, faces_root, weights, monkeypatch, tmp_path):
    """--ray where Ray cannot be imported: one line naming the extra, no traceback, nothing written."""
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    results = {
        "prepare": _prepare(faces_root, tmp_path / "p", "--ray", "auto"),
        "eval": _eval(weights, prep_local, tmp_path / "e", "--ray", "auto"),
        "detect": _invoke("detect", SAMPLES / "astronaut.jpg", "--weights", weights, "--out", tmp_path / "d", "--ray", "auto"),
    }
    for command, res in results.items():
        assert res.exit_code in (1, 2), (command, res.output)
        assert "laanet[ray]" in res.output and "Traceback" not in res.output, (command, res.output)
    assert not (tmp_path / "p" / "index.jsonl").exists() and not (tmp_path / "e" / "predictions.csv").exists()

