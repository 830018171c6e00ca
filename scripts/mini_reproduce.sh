#!/usr/bin/env bash
# The paper recipe of docs/reproduce.md in miniature: every command of the page, on synthetic datasets in the
# official folder layouts, with a tiny model (cpu-tiny), fewer frames and one training step.
#
#   bash scripts/mini_reproduce.sh [WORK_DIR [--doc PAGE]]   # default WORK_DIR: runs/mini-reproduce (new or empty)
#
# Shows each command as it runs, then the Table 1 of the mini run (its numbers mean nothing: one training step
# on a handful of synthetic faces). Use it to check an installation, or to see every file the real recipe
# writes (WORK_DIR/prep, runs, eval) before spending GPU days on it. The substitutions are listed in
# src/laanet/evaluation/mini_reproduce.py; tests/test_eval_reproduce_doc.py runs the same code.
# About 5-10 minutes on 2 CPU cores. Environment: THREADS (torch/OpenMP threads, default 2).
set -euo pipefail

# PYTHON: the interpreter that has laanet installed (default: python).
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-runs/mini-reproduce}
export OMP_NUM_THREADS=${THREADS:-2}
exec "${PYTHON:-python}" -m laanet.evaluation.mini_reproduce "$WORK" --doc "$REPO/docs/reproduce.md" "${@:2}"
