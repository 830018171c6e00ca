"""Write laanet's hostile test corpus (tests/hostile_corpus.py) into a folder, and list what each file is for.

    python scripts/make_hostile_corpus.py OUT/

Then e.g. ``laanet detect OUT/ --out results/`` must give every file a result (ok, no_face or error with a
message) and never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hostile_corpus import EXPECTED_STATUS, make_hostile_corpus  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write the files into (created if needed)")
    args = parser.parse_args(argv)
    files = make_hostile_corpus(args.out)
    for name, path in files.items():
        print(f"{path}  {path.stat().st_size:>9,d} B  expected: {' or '.join(sorted(EXPECTED_STATUS[name]))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
