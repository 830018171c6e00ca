"""Peak memory (max RSS) of one `laanet detect` process over big photos and the hostile corpus.

Writes, into a temporary folder: ``--copies`` 8000×8000 JPEG photos with a face (64 MP, ~1.3 MB each), one
12000×9000 photo (108 MP, the largest phone photos; under the 120 MP default pixel limit) and the whole hostile
corpus (``tests/hostile_corpus.py``: decompression bombs, 1×1 and 4000×3 images, truncated files...). Then runs
``laanet detect FOLDER --out OUT`` (overlays written) in a child process and reports the child's peak resident
memory from ``wait4``, with the statuses it wrote. Issue target: under 2.5 GB.

    .venv/bin/python benchmarks/detect_memory.py [--copies 4] [--backend torch] [--no-corpus]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _photo(side_w: int, side_h: int, path: Path) -> None:
    import cv2
    import numpy as np

    from laanet.assets import sample_path
    from laanet.media import read_image

    face = read_image(sample_path("obama_portrait.jpg"))
    canvas = np.full((side_h, side_w, 3), 110, np.uint8)
    big = cv2.resize(face, None, fx=0.45 * side_h / face.shape[0], fy=0.45 * side_h / face.shape[0])
    top, left = side_h // 5, side_w // 3
    canvas[top : top + big.shape[0], left : left + big.shape[1]] = big
    cv2.imwrite(str(path), canvas[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="8000×8000 photos in the folder")
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--no-corpus", action="store_true", help="big photos only")
    args = parser.parse_args()

    from hostile_corpus import make_hostile_corpus

    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "in", Path(tmp) / "out"
        folder.mkdir()
        for i in range(args.copies):
            _photo(8000, 8000, folder / f"big_{i}.jpg")
        _photo(12000, 9000, folder / "phone_108mp.jpg")
        if not args.no_corpus:
            make_hostile_corpus(folder / "hostile")
        size_mb = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6
        command = [sys.executable, "-m", "laanet", "detect", str(folder), "--out", str(out), "--backend", args.backend]
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "XDG_CACHE_HOME": str(Path(tmp) / "cache")})
        stderr = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
        results = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else {}
        files = results.get("files", results.get("results", []))
        overlays = sorted((out / "heatmaps").glob("*.png")) if (out / "heatmaps").is_dir() else []
        print(json.dumps({
            "inputs": len(list(p for p in folder.rglob("*") if p.is_file())), "input_mb": round(size_mb, 1),
            "exit_code": os.waitstatus_to_exitcode(status), "seconds": round(elapsed, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024), "statuses": dict(Counter(f.get("status") for f in files)),
            "largest_overlay_px": max((_png_size(p) for p in overlays), default=None), "backend": args.backend,
        }))
        if b"Traceback" in stderr:
            print(stderr.decode(errors="replace")[-3000:], file=sys.stderr)


def _png_size(path: Path) -> list[int]:
    import struct

    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return [width, height]


if __name__ == "__main__":
    main()
