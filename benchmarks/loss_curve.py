"""Train a preset on a prepared folder and plot the per-step loss terms (docs/img/train_loss_cpu_tiny.png).

    laanet prepare folder --root src/laanet/assets/samples --out prep-samples --frames 8 --crop-size 160
    python benchmarks/loss_curve.py --data prep-samples --out runs/curve --epochs 40 --png docs/img/train_loss_cpu_tiny.png

Writes OUT (a normal run folder), OUT/history.json (one row per optimizer step) and the PNG: each loss term per
step (faint) with a moving average, the learning rate, and the validation AUC per epoch.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path


def moving_average(values: list[float], window: int) -> list[float]:
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--config", default="cpu-tiny")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--png", default="docs/img/train_loss_cpu_tiny.png")
    parser.add_argument("--window", type=int, default=20, help="moving-average window (steps)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from laanet.config import load_config
    from laanet.training.loop import train

    cfg = load_config(args.config, [f"train.epochs={args.epochs}", *args.overrides])
    t0 = time.perf_counter()
    result = train(cfg, data_dir=args.data, out_dir=args.out, progress=False)
    seconds = time.perf_counter() - t0
    history = result.history
    Path(args.out, "history.json").write_text(json.dumps({"steps": history, "epochs": result.epochs, "seconds": seconds}))

    steps = [r["step"] for r in history]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, colour in (("total", "black"), ("heatmap", "tab:red"), ("consistency", "tab:blue")):
        values = [r[name] for r in history]
        axes[0].plot(steps, values, color=colour, alpha=0.2, lw=0.8)
        axes[0].plot(steps, moving_average(values, args.window), color=colour, lw=1.8, label=f"{name} (weighted)")
    axes[0].set(xlabel="optimizer step", ylabel="loss", title=f"{args.config}: weighted loss terms")
    axes[0].legend()
    cls = [r["cls"] for r in history]
    axes[1].plot(steps, cls, color="tab:green", alpha=0.2, lw=0.8)
    axes[1].plot(steps, moving_average(cls, args.window), color="tab:green", lw=1.8, label="cls BCE")
    axes[1].axhline(0.6931, color="gray", ls="--", lw=1, label="log 2 (chance)")
    axes[1].set(xlabel="optimizer step", ylabel="loss", title="classification term")
    axes[1].legend()
    epoch_steps = [r["step"] for r in result.epochs]
    axes[2].plot(epoch_steps, [r["val_auc"] for r in result.epochs], "o-", color="tab:purple", label="val AUC (frames)")
    axes[2].set(xlabel="optimizer step", ylabel="AUC", ylim=(0, 1.02), title="validation (held-out real video + SBI fakes)")
    lr_ax = axes[2].twinx()
    lr_ax.plot(steps, [r["lr"] for r in history], color="tab:orange", lw=1, label="lr")
    lr_ax.set_ylabel("learning rate")
    axes[2].legend(loc="lower left")
    lr_ax.legend(loc="lower right")
    fig.suptitle(f"laanet train --config {args.config}: {len(steps)} steps in {seconds / 60:.1f} min on this machine")
    fig.tight_layout()
    Path(args.png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.png, dpi=110)
    first, last = history[: args.window], history[-args.window :]
    summary = {k: [round(sum(r[k] for r in first) / len(first), 3), round(sum(r[k] for r in last) / len(last), 3)]
               for k in ("total", "heatmap", "cls", "consistency")}
    print(json.dumps({"steps": len(steps), "minutes": round(seconds / 60, 1), f"mean of first/last {args.window} steps": summary,
                      "val_auc_per_epoch": [round(r["val_auc"], 3) for r in result.epochs]}))


if __name__ == "__main__":
    main()
