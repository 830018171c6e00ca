"""docs/reproduce.md stays runnable: its `bash` blocks run on synthetic mini-datasets with a tiny model.

The runner is :mod:`laanet.evaluation.mini_reproduce` (also ``bash scripts/mini_reproduce.sh``): every fenced
```bash block that is not preceded by ``<!-- test: skip -->`` is run, command by command, in a temporary
folder, through the CLI in this process, with the substitutions listed in that module (paper presets →
``cpu-tiny``, fewer frames, one training step ...).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from laanet.cli import app
from laanet.evaluation import mini_reproduce

DOC = Path(__file__).resolve().parents[1] / "docs" / "reproduce.md"
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "mini_reproduce.sh"


def test_doc_has_the_recipe():
    assert mini_reproduce.DEFAULT_DOC == DOC
    joined = "\n".join(mini_reproduce.doc_commands(DOC))
    for needle in ("laanet prepare ffpp", "laanet prepare cdf2", "laanet prepare dfd", "laanet prepare dfdcp",
                   "laanet prepare dfw", "--config paper-sbi", "--config paper-bi", "--sweep", "table.md"):
        assert needle in joined, needle
    text = DOC.read_text()
    assert "Deliberate differences" in text and "Budget" in text and "scripts/mini_reproduce.sh" in text


def test_script_runs_a_recipe(tmp_path):
    """scripts/mini_reproduce.sh end to end on a one-command page (the full page runs in the test below)."""
    import os
    import sys

    doc = tmp_path / "doc.md"
    doc.write_text("```bash\nlaanet prepare --help\n```\n<!-- test: skip -->\n```bash\nwget https://example.org/x\n```\n")
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(Path(mini_reproduce.__file__).parents[2])}
    result = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "work"), "--doc", str(doc)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "$ laanet prepare --help --no-progress" in result.stdout and "wget" not in result.stdout
    assert "mini recipe done: 1 commands" in result.stdout and (tmp_path / "work" / "data" / "FaceForensics++").is_dir()
    # never mixes with an earlier run; a missing page is named
    assert mini_reproduce.main([str(tmp_path / "work"), "--doc", str(doc)]) == 2
    assert mini_reproduce.main([str(tmp_path / "new"), "--doc", str(tmp_path / "missing.md")]) == 2


def test_a_failing_command_is_reported(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("```bash\nlaanet eval --weights nowhere.pt --data nowhere --out e\n```\n")
    with pytest.raises(RuntimeError, match="failed with exit code"):
        mini_reproduce.run_recipe(tmp_path / "w", doc=doc, env={})


def test_reproduce_doc_runs_on_mini_datasets(tmp_path):
    runner = CliRunner()

    def invoke(args: list[str]) -> tuple[int, str]:
        result = runner.invoke(app, args)
        return result.exit_code, result.output

    work = tmp_path / "work"
    commands = mini_reproduce.run_recipe(work, doc=DOC, invoke=invoke)
    assert any("cpu-tiny" in c for c in commands) and not any("paper-sbi" in c for c in commands)
    table = (work / "eval/bi/table.md").read_text()
    assert "| LAA-Net w/ BI (laanet) |" in table and "| LAA-Net w/ SBI (laanet) |" in table
    for column in ("FF++ AUC", "CDF2 AUC", "DFW AUC", "DFD AUC", "DFDC-P AUC"):
        assert column in table
    assert (work / "eval/sbi-robustness/sweep.png").is_file()
    assert (work / "eval/sbi-ffpp-c23/metrics.json").is_file()
