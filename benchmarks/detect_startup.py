"""Wall time of `laanet` commands in a new process: --version, detect --help, and one photo end to end.

What a user waits for when they type the command: interpreter start, imports, loading the weights and the face
detector, one photo, writing results.json. Each command runs ``--repeats`` times in a fresh process (median
reported); the ONNX model is exported once beforehand (the bundled demo weights, or ``--weights``), both
as a ``.onnx`` file and into the onnx backend's cache, so the timed ONNX runs do not include the export. CPU
time (user + system, all threads) is printed too: on a busy machine it is the better guide to the idle wall
time. A cold disk cache makes the first run slower: the median hides it.

    .venv/bin/python benchmarks/detect_startup.py [--weights W.pt] [--repeats 3]

Prints one JSON line per command: {"command", "median_s", "runs_s", "median_cpu_s", "imports_torch"}.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROBE = "import sys, runpy; sys.argv = ['laanet', *sys.argv[1:]]; " \
        "import atexit; atexit.register(lambda: print('IMPORTS_TORCH', 'torch' in sys.modules, file=sys.stderr)); " \
        "runpy.run_module('laanet', run_name='__main__')"


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float, bool]:
    """(wall seconds, CPU seconds user + system, whether torch was imported) of one new process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"laanet {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, "IMPORTS_TORCH True" in proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="laanet/official checkpoint (default: the bundled demo weights)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from laanet.assets import sample_path
    from laanet.inference.detector import default_weights

    weights = Path(args.weights) if args.weights else default_weights()
    photo = str(sample_path("grace_hopper.jpg"))
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "LAANET_CACHE": str(Path(tmp) / "cache"), "XDG_CACHE_HOME": str(Path(tmp) / "xdg")}
        onnx = Path(tmp) / "model.onnx"
        subprocess.run([sys.executable, "-m", "laanet", "export", "--weights", str(weights), "--out", str(onnx),
                        "--no-check"], check=True, capture_output=True, env=env)
        commands = {
            "laanet --version": ["--version"],
            "laanet detect --help": ["detect", "--help"],
            "laanet detect photo.jpg --backend onnx (exported .onnx)": [
                "detect", photo, "--weights", str(onnx), "--backend", "onnx", "--out", str(Path(tmp) / "o1")],
            "laanet detect photo.jpg --backend onnx (checkpoint, export cached)": [
                "detect", photo, "--weights", str(weights), "--backend", "onnx", "--out", str(Path(tmp) / "o3")],
            "laanet detect photo.jpg (torch)": ["detect", photo, "--weights", str(weights), "--out", str(Path(tmp) / "o2")],
        }
        # The first onnx run on a checkpoint exports it into the cache (with torch); the timed runs reuse it.
        timed(commands["laanet detect photo.jpg --backend onnx (checkpoint, export cached)"], env)
        for name, cmd in commands.items():
            runs = [timed(cmd, env) for _ in range(args.repeats)]
            print(json.dumps({"command": name, "median_s": round(statistics.median(r[0] for r in runs), 2),
                              "runs_s": [round(r[0], 2) for r in runs],
                              "median_cpu_s": round(statistics.median(r[1] for r in runs), 2),
                              "imports_torch": any(r[2] for r in runs)}))


if __name__ == "__main__":
    main()
