"""docs/reproduce.md stays runnable: its `bash` blocks run on synthetic mini-datasets with a tiny model.

Every fenced ```bash block that is not preceded by ``<!-- test: skip -->`` is run, command by command, in a
temporary folder, through the CLI in this process. The dataset variables point at mini-datasets in the official
layouts, and these substitutions make it fast: paper presets → ``cpu-tiny`` with 2 pairs per step (BI:
``data.method=bi``), 128
frames → 2 and 32 → 1, 8 workers → 0, ``best.pt`` → ``last.pt`` (a 1-step run may not beat its own validation), training
stops after one step, and the sweep covers two perturbations at level 5.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from laanet.cli import app
from laanet.data.synthetic import make_dataset

DOC = Path(__file__).resolve().parents[1] / "docs" / "reproduce.md"
TINY = " train.batch_size=2 data.val_frames_per_video=1"
SUBSTITUTIONS = (
    ("--config paper-sbi", "--config cpu-tiny" + TINY),
    ("--config paper-bi", "--config cpu-tiny data.method=bi" + TINY),
    ("--frames 128", "--frames 2"),
    ("--frames 32", "--frames 1"),
    ("--workers 8", "--workers 0"),
    ("best.pt", "last.pt"),
    ("--sweep", "--sweep --sweep-types blur,compression --sweep-levels 5"),
)
EXTRA = {"prepare": ["--no-progress"], "eval": ["--no-progress"], "train": ["--max-steps", "1", "--no-progress"]}


def doc_commands() -> list[str]:
    """Commands of the runnable bash blocks, in order (comments dropped, continuations joined)."""
    text = DOC.read_text()
    commands = []
    for match in re.finditer(r"(<!-- test: skip -->\s*\n)?```bash\n(.*?)```", text, re.S):
        if match.group(1):
            continue
        body = match.group(2).replace("\\\n", " ")
        commands += [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("#")]
    return commands


def test_doc_has_the_recipe():
    commands = doc_commands()
    joined = "\n".join(commands)
    for needle in ("laanet prepare ffpp", "laanet prepare cdf2", "laanet prepare dfd", "laanet prepare dfdcp",
                   "laanet prepare dfw", "--config paper-sbi", "--config paper-bi", "--sweep", "table.md"):
        assert needle in joined, needle
    text = DOC.read_text()
    assert "Deliberate differences" in text and "Budget" in text


@pytest.fixture()
def mini_world(tmp_path, monkeypatch) -> Path:
    data = tmp_path / "data"
    ffpp = make_dataset("ffpp", data / "FaceForensics++", frames=3, size=160, compressions=("raw", "c23"))
    make_dataset("dfd", ffpp, frames=3, size=160)  # DFD lives inside the FF++ download
    monkeypatch.setenv("FFPP", str(ffpp))
    monkeypatch.setenv("CDF2", str(make_dataset("cdf2", data / "Celeb-DF-v2", frames=3, size=160)))
    monkeypatch.setenv("DFDCP", str(make_dataset("dfdcp", data / "dfdc_preview", frames=3, size=160)))
    monkeypatch.setenv("DFW", str(make_dataset("dfw", data / "WildDeepfake", frames=3, size=160)))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def _run(command: str, runner: CliRunner, work: Path) -> None:
    import os

    for old, new in SUBSTITUTIONS:
        command = command.replace(old, new)
    args = [os.path.expandvars(a) for a in shlex.split(command)]
    if args[0] == "cat":
        assert (work / args[1]).read_text().strip(), command
        return
    assert args[0] == "laanet", f"unexpected command in docs/reproduce.md: {command}"
    args = args[1:] + EXTRA.get(args[1], [])
    result = runner.invoke(app, args)
    assert result.exit_code == 0, f"{command}\n{result.output}"


def test_reproduce_doc_runs_on_mini_datasets(mini_world):
    runner = CliRunner()
    for command in doc_commands():
        _run(command, runner, mini_world)
    table = (mini_world / "eval/bi/table.md").read_text()
    assert "| LAA-Net w/ BI (laanet) |" in table and "| LAA-Net w/ SBI (laanet) |" in table
    for column in ("FF++ AUC", "CDF2 AUC", "DFW AUC", "DFD AUC", "DFDC-P AUC"):
        assert column in table
    assert (mini_world / "eval/sbi-robustness/sweep.png").is_file()
    assert (mini_world / "eval/sbi-ffpp-c23/metrics.json").is_file()
