"""The paper recipe of ``docs/reproduce.md`` in miniature: every command, on synthetic datasets, in minutes.

``docs/reproduce.md`` lists the commands from the downloaded datasets to the paper's Table 1. This module runs
those same commands (read from the page, so they cannot drift apart) on miniature datasets in the official
folder layouts (:func:`laanet.data.synthetic.make_dataset`), with a few substitutions that make them fast:
the paper presets become ``cpu-tiny`` with 2 pairs per step, 128 frames per video become 2 and 32 become 1,
8 workers become 0, training stops after one step, ``best.pt`` becomes ``last.pt`` (a one-step run need not
beat its own validation) and the robustness sweep covers two perturbations at level 5. It proves that the
recipe runs end to end on this machine and shows every output file it makes; its numbers mean nothing.

Run it with ``bash scripts/mini_reproduce.sh [WORK_DIR]`` or ``python -m laanet.evaluation.mini_reproduce``;
``tests/test_eval_reproduce_doc.py`` runs it too. Blocks of the page marked ``<!-- test: skip -->``
(downloads, the authors' weights) are left out.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, Mapping

__all__ = ["DEFAULT_DOC", "SUBSTITUTIONS", "doc_commands", "make_mini_datasets", "main", "run_recipe", "to_args"]

DEFAULT_DOC = Path(__file__).resolve().parents[3] / "docs" / "reproduce.md"  # in a source checkout

_TINY = " train.batch_size=2 data.val_frames_per_video=1"
SUBSTITUTIONS: tuple[tuple[str, str], ...] = (
    ("--config paper-sbi", "--config cpu-tiny" + _TINY),
    ("--config paper-bi", "--config cpu-tiny data.method=bi" + _TINY),
    ("--frames 128", "--frames 2"),
    ("--frames 32", "--frames 1"),
    ("--workers 8", "--workers 0"),
    ("best.pt", "last.pt"),
    ("--sweep", "--sweep --sweep-types blur,compression --sweep-levels 5"),
)
_EXTRA = {"prepare": ["--no-progress"], "eval": ["--no-progress"], "train": ["--max-steps", "1", "--no-progress"]}

# Invoke = laanet's CLI arguments → (exit code, output shown to the user)
Invoke = Callable[[list[str]], tuple[int, str]]


def doc_commands(doc: str | Path = DEFAULT_DOC) -> list[str]:
    """Commands of the runnable ``bash`` blocks of ``doc``, in order (comments dropped, continuations joined)."""
    text = Path(doc).read_text(encoding="utf-8")
    commands: list[str] = []
    for match in re.finditer(r"(<!-- test: skip -->\s*\n)?```bash\n(.*?)```", text, re.S):
        if match.group(1):
            continue
        body = match.group(2).replace("\\\n", " ")
        commands += [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("#")]
    return commands


def make_mini_datasets(data_dir: str | Path) -> dict[str, str]:
    """Miniature FF++ (c0 + c23, with DFD inside), Celeb-DF v2, DFDC-Preview and WildDeepfake under ``data_dir``.

    Returns the environment variables the recipe's commands use (``FFPP``, ``CDF2``, ``DFDCP``, ``DFW``).
    """
    from laanet.data.synthetic import make_dataset

    data = Path(data_dir)
    ffpp = make_dataset("ffpp", data / "FaceForensics++", frames=3, size=160, compressions=("raw", "c23"))
    make_dataset("dfd", ffpp, frames=3, size=160)  # DFD lives inside the FF++ download
    return {
        "FFPP": str(ffpp),
        "CDF2": str(make_dataset("cdf2", data / "Celeb-DF-v2", frames=3, size=160)),
        "DFDCP": str(make_dataset("dfdcp", data / "dfdc_preview", frames=3, size=160)),
        "DFW": str(make_dataset("dfw", data / "WildDeepfake", frames=3, size=160)),
    }


def _expand(word: str, env: Mapping[str, str]) -> str:
    """``$NAME`` / ``${NAME}`` from ``env``, then from the process environment; unknown names stay as they are."""
    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        return env.get(name, os.environ.get(name, match.group(0)))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, word)


def to_args(command: str, env: Mapping[str, str]) -> list[str]:
    """One command of the page → the argument list of its miniature run (``laanet`` or ``cat`` first)."""
    for old, new in SUBSTITUTIONS:
        command = command.replace(old, new)
    args = [_expand(a, env) for a in shlex.split(command)]
    if args[0] == "laanet" and len(args) > 1:
        args += _EXTRA.get(args[1], [])
    return args


@contextlib.contextmanager
def _working_dir(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _invoke_in_process(args: list[str]) -> tuple[int, str]:
    """Run ``laanet ARGS`` in this process (one import of torch for the whole recipe); output goes to the terminal."""
    import click

    from laanet.cli import app

    try:
        code = app(args, prog_name="laanet", standalone_mode=False)  # click returns the code of a typer.Exit
    except click.exceptions.Exit as stop:
        return stop.exit_code, ""
    except click.ClickException as err:
        err.show()
        return err.exit_code, ""
    except click.exceptions.Abort:
        return 130, ""
    return code if isinstance(code, int) else 0, ""


def run_recipe(
    work: str | Path,
    *,
    doc: str | Path = DEFAULT_DOC,
    invoke: Invoke = _invoke_in_process,
    env: Mapping[str, str] | None = None,
    echo: Callable[[str], None] = lambda line: None,
) -> list[str]:
    """Run every command of ``doc`` in miniature inside ``work`` (relative paths of the page resolve there).

    Args:
        work: working folder; the mini datasets go to ``work/data`` unless ``env`` names datasets already made.
        invoke: runs one ``laanet`` command, returns (exit code, output).
        env: the dataset variables (default: :func:`make_mini_datasets` of ``work/data``).
        echo: called with each command before it runs, and with the text of each ``cat``.

    Returns:
        The commands run, as they were adapted.

    Raises:
        RuntimeError: a command failed (its exit code and output in the message), or the page holds a command
            other than ``laanet`` or ``cat``.
    """
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    commands = doc_commands(doc)
    if not commands:
        raise RuntimeError(f"{doc} holds no runnable bash block")
    env = dict(env) if env is not None else make_mini_datasets(work / "data")
    done: list[str] = []
    with _working_dir(work):
        for command in commands:
            args = to_args(command, env)
            shown = shlex.join(args)
            echo(f"$ {shown}")
            if args[0] == "cat":
                text = Path(args[1]).read_text(encoding="utf-8")
                if not text.strip():
                    raise RuntimeError(f"{args[1]} is empty")
                echo(text)
            elif args[0] == "laanet":
                code, output = invoke(args[1:])
                if code != 0:
                    raise RuntimeError(f"`{shown}` failed with exit code {code}\n{output}")
            else:
                raise RuntimeError(f"unexpected command in {doc}: {command}")
            done.append(shown)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m laanet.evaluation.mini_reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("work", nargs="?", default="runs/mini-reproduce", help="working folder (default: %(default)s)")
    parser.add_argument("--doc", default=str(DEFAULT_DOC), help="the recipe page (default: docs/reproduce.md)")
    opts = parser.parse_args(argv)
    if not Path(opts.doc).is_file():
        print(f"error: {opts.doc} not found: run from a laanet source checkout or pass --doc", file=sys.stderr)
        return 2
    work = Path(opts.work)
    if work.is_dir() and any(work.iterdir()):
        print(f"error: {work} is not empty (a previous mini run?): remove it or pass another folder", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        commands = run_recipe(opts.work, doc=opts.doc, echo=lambda line: print(line, flush=True))
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    minutes = (time.perf_counter() - start) / 60
    print(f"mini recipe done: {len(commands)} commands in {minutes:.1f} min; outputs under {Path(opts.work).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
