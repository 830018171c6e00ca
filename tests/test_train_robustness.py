"""`laanet train` when things go wrong: stale temporaries, unusable `last.pt`, an unwritable run folder,
`--max-steps` beyond the configured epochs, DataLoader worker threads."""
from __future__ import annotations

import errno
import logging
import os
import pickle
import tempfile
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from laanet.cli import app
from laanet.training import checkpoint as ckpt_module
from laanet.training.checkpoint import CheckpointError, CheckpointWriteError, load_checkpoint, remove_stale_temporaries



pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def prep(train_prep) -> Path:
    return train_prep


def _train(prep: Path, out: Path, *extra: str):
    args = ["train", "--config", "cpu-tiny", "--data", str(prep), "--out", str(out), "--no-progress", *extra]
    return CliRunner().invoke(app, args)


# ------------------------------------------------------------------------------------------------ unit level
def test_remove_stale_temporaries(tmp_path):
    stale = [tmp_path / ".last.pt.k2j3h4.tmp", tmp_path / ".best.pt.x9.tmp"]
    kept = [tmp_path / "last.pt", tmp_path / ".other.pt.a.tmp", tmp_path / "notes.tmp"]
    for path in stale + kept:
        path.write_bytes(b"x")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert all(not p.exists() for p in stale) and all(p.exists() for p in kept)
    assert remove_stale_temporaries(tmp_path / "missing") == []


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-checkpoint",))


def _bad_files(folder: Path, good: Path) -> dict[str, Path]:
    data = good.read_bytes()
    files = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "garbage": bytes(range(256)) * 20,
        "raw pickle with code": pickle.dumps({"model": _RunsCode()}),
    }
    out = {}
    for name, content in files.items():
        out[name] = folder / f"{name.replace(' ', '_')}.pt"
        out[name].write_bytes(content)
    out["torch file with code"] = folder / "code.pt"
    torch.save({"format_version": 1, "model": _RunsCode()}, out["torch file with code"])
    return out


def test_load_checkpoint_rejects_bad_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    good = tmp_path / "good.pt"
    torch.save({"format_version": 1, "model": {"w": torch.zeros(2000)}}, good)
    for name, path in _bad_files(tmp_path, good).items():
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
        message = str(info.value)
        assert str(path) in message, name
        if "code" in name and "torch" in name:
            assert "not a safe checkpoint" in message and "system" in message
        elif name in ("truncated", "empty"):
            assert "truncated or damaged" in message
    data = good.read_bytes()
    for cut in (1, 64, len(data) // 10, len(data) - 200, len(data) - 1):  # every way a copy can be cut off
        (tmp_path / "cut.pt").write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated or damaged"):
            load_checkpoint(tmp_path / "cut.pt")
    assert not (tmp_path / "pwned-by-checkpoint").exists()


def test_save_failure_rescues_the_state(tmp_path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    real_mkstemp = tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):  # noqa: A002 - tempfile's own keyword
        if dir is not None and Path(dir) == out:
            raise OSError(errno.EROFS, "Read-only file system", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(ckpt_module.tempfile, "mkstemp", read_only)
    model = torch.nn.Linear(2, 1)
    with pytest.raises(CheckpointWriteError) as info:
        ckpt_module.save_checkpoint(out / "last.pt", model=model, config={}, optimizer=torch.optim.Adam(model.parameters()),
                                    lr=0.1, epoch=3, epoch_step=0, step=42, best_metric=None, rng=[])
    assert "read-only" in str(info.value) and "step 42" in str(info.value)
    rescue = info.value.rescue
    assert rescue is not None and rescue.is_file() and not (out / "last.pt").exists()
    assert load_checkpoint(rescue)["step"] == 42
    rescue.unlink()
    rescue.parent.rmdir()


def test_worker_threads(monkeypatch):
    from laanet.training.workers import describe_threads, limit_worker_threads

    import cv2

    before_cv = cv2.getNumThreads()
    try:
        torch.set_num_threads(2)
        limit_worker_threads(0)
        assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(before_cv)
    assert "2 DataLoader worker process(es) with 1 thread each" in describe_threads(2)
    assert "data.workers=0" in describe_threads(0)


# ------------------------------------------------------------------------------------------------ the command
def test_train_cli_failures_and_notes(prep, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    out = tmp_path / "run"
    out.mkdir()
    stale = out / ".last.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    # --max-steps beyond train.epochs: the run says why it stopped early; stale temporaries are removed first
    result = _train(prep, out, "--max-steps", "300", "--epochs", "1", "data.workers=1")
    assert result.exit_code == 0, result.output
    steps = torch.load(out / "last.pt", weights_only=True)["step"]
    assert f"done: {steps} steps" in result.output and steps < 300
    assert "note: stopped before --max-steps 300 because all train.epochs=1 epochs are done" in result.output
    assert "pass --epochs" in caplog.text and "1 DataLoader worker process(es) with 1 thread each" in caplog.text
    assert not stale.exists()

    # --resume from an unusable last.pt: exit 2, a message naming the file, no traceback, best.pt suggested
    good = out / "last.pt"
    saved = good.read_bytes()
    monkeypatch.chdir(tmp_path)
    for name, bad in _bad_files(tmp_path, good).items():
        if name in ("empty", "raw pickle with code"):
            continue  # covered by test_load_checkpoint_rejects_bad_files; each run here costs a second or two
        good.write_bytes(bad.read_bytes())
        result = _train(prep, out, "--resume", "--max-steps", "300", "--epochs", "2")
        assert result.exit_code == 2, (name, result.output)
        assert "error: cannot resume" in result.output and str(good) in result.output, name
        assert "best.pt" in result.output and "Traceback" not in result.output, name
        assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), name
    assert not (tmp_path / "pwned-by-checkpoint").exists()
    good.write_bytes(saved)

    # the run folder becomes unwritable mid-run: the checkpoint goes to a rescue file, exit 2
    real_mkstemp = tempfile.mkstemp
    calls = {"n": 0}

    def read_only_after_one_save(*args, dir=None, **kwargs):  # noqa: A002
        if dir is not None and Path(dir) == out:
            calls["n"] += 1
            if calls["n"] > 1:
                raise OSError(errno.EROFS, "Read-only file system", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(ckpt_module.tempfile, "mkstemp", read_only_after_one_save)
    result = _train(prep, out, "--resume", "--epochs", "3", "--max-steps", str(steps + 3), "--save-every", "1")
    assert result.exit_code == 2, result.output
    assert "cannot write the checkpoint" in result.output and "Traceback" not in result.output
    rescue = Path(result.output.split("was saved to ")[1].split(":")[0])
    assert load_checkpoint(rescue)["step"] == steps + 2  # one more step than the last save that worked
    assert load_checkpoint(good)["step"] == steps + 1
    monkeypatch.setattr(ckpt_module.tempfile, "mkstemp", real_mkstemp)

    # any other file of the run folder that cannot be written: exit 2 and a message, no traceback
    (out / "summary.csv").unlink()
    (out / "summary.csv").mkdir()
    result = _train(prep, out, "--resume", "--epochs", "5")
    assert result.exit_code == 2 and "cannot write to the run folder" in result.output, result.output
    assert "Traceback" not in result.output
