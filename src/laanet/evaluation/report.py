"""Evaluation outputs: ``predictions.csv``, ``metrics.json``, ROC plot, paper-style tables, the sweep plot."""
from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from laanet.evaluation.evaluate import Predictions
from laanet.evaluation.metrics import ECE_BINS, TARGET_FPRS, reliability_bins, roc_auc, roc_curve, sigmoid, video_level

logger = logging.getLogger(__name__)

__all__ = [
    "PAPER_TABLE1",
    "calibration_table",
    "plot_reliability",
    "reliability_figure",
    "paper_table",
    "plot_roc",
    "roc_figure",
    "plot_sweep",
    "sweep_table",
    "write_metrics",
    "write_predictions",
]

# Table-1 column per dataset name found in an index (laanet names and DeepfakeBench names).
TABLE_COLUMNS: dict[str, str] = {
    "ffpp": "FF++", "FaceForensics++": "FF++",
    "cdf2": "CDF2", "Celeb-DF-v2": "CDF2",
    "dfw": "DFW",
    "dfd": "DFD", "DeepFakeDetection": "DFD",
    "dfdcp": "DFDC-P", "DFDCP": "DFDC-P",
    "dfdc": "DFDC (full)", "DFDC": "DFDC (full)",
}
COLUMN_ORDER = ("FF++", "CDF2", "DFW", "DFD", "DFDC-P", "DFDC (full)")
# The paper's video-level Table 1 as published in the official README (github.com/10Ring/LAA-Net), percent.
# The paper's "DFDC" column is DFDC-Preview (official issue #3). AR and mF1 are in the paper but not in any
# source we could read: left blank.
PAPER_TABLE1: dict[str, dict[str, dict[str, float]]] = {
    "LAA-Net w/ BI (paper)": {"FF++": {"auc": 99.95}, "CDF2": {"auc": 86.28, "ap": 91.93}, "DFW": {"auc": 57.13, "ap": 56.89},
                              "DFD": {"auc": 99.51, "ap": 99.80}, "DFDC-P": {"auc": 69.69, "ap": 93.67}},
    "LAA-Net w/ SBI (paper)": {"FF++": {"auc": 99.96}, "CDF2": {"auc": 95.40, "ap": 97.64}, "DFW": {"auc": 80.03, "ap": 81.08},
                               "DFD": {"auc": 98.43, "ap": 99.40}, "DFDC-P": {"auc": 86.94, "ap": 97.70}},
}
TABLE_METRICS = ("auc", "ap", "ar", "mf1")
_METRIC_LABELS = {"auc": "AUC", "ap": "AP", "ar": "AR", "mf1": "mF1"}


def write_predictions(path: str | Path, preds: Predictions) -> Path:
    """``video_id, frame, label, score, logit, dataset, method`` per crop; score = sigmoid(logit)."""
    path = Path(path)
    scores = sigmoid(preds.logit)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["video_id", "frame", "label", "score", "logit", "dataset", "method"])
        for i in range(len(preds.video_id)):
            w.writerow([preds.video_id[i], int(preds.frame[i]), int(preds.label[i]), f"{scores[i]:.6f}",
                        f"{preds.logit[i]:.6f}", preds.dataset[i], preds.method[i]])
    return path


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_metrics(path: str | Path, metrics: dict[str, Any]) -> Path:
    path = Path(path)
    path.write_text(json.dumps(_clean(metrics), indent=2) + "\n")
    return path


def plot_roc(path: str | Path, preds: Predictions, title: str = "") -> Path | None:
    """Save :func:`roc_figure` to ``path``; None (and no file) when no dataset has both classes."""
    import matplotlib.pyplot as plt

    fig = roc_figure(preds, title)
    if fig is None:
        return None
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def roc_figure(preds: Predictions, title: str = ""):
    """Video-level (solid) and frame-level (dashed) ROC curves, one colour per dataset, as a matplotlib Figure.

    Each legend entry gives its curve's AUC (%) and how many videos or frames it covers. Returns None when no
    dataset has both real and fake samples.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    names = np.array(preds.dataset)
    for k, name in enumerate(dict.fromkeys(preds.dataset)):
        sub = preds.subset(names == name)
        ids, vlab, vlog = video_level(sub.video_id, sub.label, sub.logit)
        for level, labels, scores, count, style in (
            ("video", vlab, sigmoid(vlog), f"{len(ids)} videos", {}),
            ("frame", sub.label, sigmoid(sub.logit), f"{sub.label.size} frames", {"linestyle": "--", "alpha": 0.6}),
        ):
            if len(set(np.asarray(labels).tolist())) < 2:
                continue  # one class only: no curve
            fpr, tpr, _ = roc_curve(labels, scores)
            auc = 100 * roc_auc(labels, scores)
            ax.plot(fpr, tpr, color=f"C{k % 10}", label=f"{name} {level}: AUC {auc:.2f} % ({count})", **style)
    if not ax.lines:
        plt.close(fig)
        logger.warning("no dataset has both real and fake samples: no ROC plot")
        return None
    ax.plot([0, 1], [0, 1], color="0.7", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01), title=title or "ROC")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def paper_table(rows: Sequence[tuple[str, dict[str, Any]]], *, with_paper: bool = True, level: str = "video") -> str:
    """A Markdown table laid out like the paper's Table 1 (AUC / AP / AR / mF1 per test set, in %).

    ``rows``: (model name, metrics.json content) pairs. Columns are the datasets present in any row, in the paper's
    order, then any others. FF++ shows AUC only, as in the paper. The paper's own rows are added for comparison.
    """
    per_row: list[tuple[str, dict[str, dict[str, Any]]]] = []
    columns: list[str] = []
    for name, metrics in rows:
        cells = {}
        for ds, entry in (metrics.get("datasets") or {}).items():
            col = TABLE_COLUMNS.get(ds, ds)
            cells[col] = entry[level]
            if col not in columns:
                columns.append(col)
        per_row.append((name, cells))
    columns.sort(key=lambda c: (COLUMN_ORDER.index(c) if c in COLUMN_ORDER else len(COLUMN_ORDER), c))
    metrics_of = {c: (("auc",) if c == "FF++" else TABLE_METRICS) for c in columns}
    head = ["Model"] + [f"{c} {_METRIC_LABELS[m]}" for c in columns for m in metrics_of[c]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, cells in per_row:
        vals = [_pct(cells.get(c, {}).get(m)) for c in columns for m in metrics_of[c]]
        lines.append("| " + " | ".join([name] + vals) + " |")
    if with_paper:
        for name, cells in PAPER_TABLE1.items():
            vals = [("–" if cells.get(c, {}).get(m) is None else f"{cells[c][m]:.2f}") for c in columns for m in metrics_of[c]]
            lines.append("| " + " | ".join([name] + vals) + " |")
    note = (f"\n{level.capitalize()}-level, %. mF1 = 2·AP·AR/(AP+AR) (the paper's definition); AR = macro recall at 0.5. "
            "The paper's \"DFDC\" is DFDC-Preview (DFDC-P). \"–\": not measured / not published.\n")
    return "\n".join(lines) + "\n" + note


def sweep_table(results: list[dict[str, Any]], *, metric: str = "auc", level: str = "video") -> str:
    """Markdown: one row per perturbation, one column per level (0 = clean), ``metric`` in % (all datasets pooled)."""
    clean = next((r for r in results if r["perturbation"] == "none"), None)
    names = list(dict.fromkeys(r["perturbation"] for r in results if r["perturbation"] != "none"))
    levels = sorted({r["level"] for r in results if r["perturbation"] != "none"})
    head = ["Perturbation", "0 (clean)"] + [str(lv) for lv in levels] + ["mean 1-5"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    base = _pct(clean["metrics"][level][metric]) if clean else "–"
    for name in names:
        vals = {r["level"]: r["metrics"][level][metric] for r in results if r["perturbation"] == name}
        got = [v for v in vals.values() if v is not None]
        mean = sum(got) / len(got) if got else None
        lines.append("| " + " | ".join([name, base] + [_pct(vals.get(lv)) for lv in levels] + [_pct(mean)]) + " |")
    return "\n".join(lines) + f"\n\n{level.capitalize()}-level {metric.upper()} (%), all evaluated datasets pooled.\n"


def plot_sweep(path: str | Path, results: list[dict[str, Any]], *, metric: str = "auc", level: str = "video") -> Path:
    """AUC against perturbation level, one line per perturbation (level 0 = clean)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clean = next((r["metrics"][level][metric] for r in results if r["perturbation"] == "none"), None)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for name in dict.fromkeys(r["perturbation"] for r in results if r["perturbation"] != "none"):
        pts = sorted((r["level"], r["metrics"][level][metric]) for r in results if r["perturbation"] == name)
        if clean is not None:
            pts = [(0, clean)] + pts
        xs = [p[0] for p in pts if p[1] is not None]
        ys = [100 * p[1] for p in pts if p[1] is not None]
        ax.plot(xs, ys, marker="o", label=name)
    ax.set(xlabel="perturbation level (0 = clean)", ylabel=f"{level} {metric.upper()} (%)", xticks=range(0, 6),
           title="Robustness to DeeperForensics-1.0 perturbations")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def _levels(preds: Predictions, probability=sigmoid) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(level, labels, P(fake)) for the frame and the video level (all datasets pooled); ``probability`` maps
    logits to P(fake) (default the sigmoid; a calibration's ``probability`` for calibrated values)."""
    _, vlab, vlog = video_level(preds.video_id, preds.label, preds.logit)
    return [("frame", np.asarray(preds.label), probability(preds.logit)), ("video", vlab, probability(vlog))]


def reliability_figure(preds: Predictions, title: str = "", bins: int = ECE_BINS, probability=sigmoid):
    """Reliability diagrams of P(fake), frame and video level side by side (all datasets pooled).

    Each panel: the share of fakes against the mean P(fake) per equal-width bin (``bins``, 15 by default, the
    bins of the ECE), the diagonal of perfect calibration, and under it the count per bin; the title gives the
    ECE and the Brier score. ``probability``: logits → P(fake) (default the sigmoid, the uncalibrated score).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from laanet.evaluation.metrics import brier_score, expected_calibration_error

    fig, axes = plt.subplots(2, 2, figsize=(9, 5.5), dpi=100, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for col, (level, labels, probs) in enumerate(_levels(preds, probability)):
        r = reliability_bins(labels, probs, bins)
        centres = (r["edges"][:-1] + r["edges"][1:]) / 2
        full = r["count"] > 0
        ax, hist = axes[0, col], axes[1, col]
        ax.plot([0, 1], [0, 1], color="0.7", linewidth=0.8, label="perfect calibration")
        ax.bar(centres[full], r["frac_fake"][full], width=1 / bins, alpha=0.35, edgecolor="C0", label="share of fakes")
        ax.plot(r["mean_prob"][full], r["frac_fake"][full], marker="o", color="C0", label="per bin (at its mean P)")
        ece, brier = expected_calibration_error(labels, probs, bins), brier_score(labels, probs)
        ax.set(xlim=(0, 1), ylim=(0, 1.02), ylabel="share of fakes",
               title=f"{level} level (n={labels.size}): ECE {ece:.3f}, Brier {brier:.3f}")
        ax.legend(loc="upper left", fontsize=8)
        hist.bar(centres, r["count"], width=1 / bins, color="0.5")
        hist.set(xlabel=f"P(fake) ({bins} equal-width bins)", ylabel="count")
    fig.suptitle(title or "Reliability", fontsize=10)
    fig.tight_layout()
    return fig


def plot_reliability(path: str | Path, preds: Predictions, title: str = "", probability=sigmoid) -> Path:
    """Save :func:`reliability_figure` to ``path`` (PNG)."""
    import matplotlib.pyplot as plt

    fig = reliability_figure(preds, title, probability=probability)
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def calibration_table(metrics: dict[str, Any]) -> str:
    """Markdown: TPR at each target FPR, EER, ECE and Brier, frame and video level, overall then per dataset."""
    fprs = [f"tpr_at_fpr{100 * f:g}" for f in TARGET_FPRS]
    head = ["Set", "Level", "n (real / fake)"] + [f"TPR @ FPR {100 * f:g} %" for f in TARGET_FPRS] + ["EER", "ECE", "Brier"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    scopes = [("all", metrics)] + list((metrics.get("datasets") or {}).items())
    for name, entry in scopes:
        for level in ("frame", "video"):
            m = entry[level]
            cells = [name, level, f"{m['n']} ({m['n_real']} / {m['n_fake']})"] + [_pct(m.get(k)) for k in fprs]
            cells += [_pct(m.get("eer")), f"{m['ece']:.4f}", f"{m['brier']:.4f}"]
            lines.append("| " + " | ".join(cells) + " |")
    note = (f"\nTPR and EER in %. TPR @ FPR x %: the highest TPR among the ROC points whose FPR is at most x % (not "
            f"interpolated). ECE: expected calibration error of the uncalibrated P(fake) = sigmoid(logit) over "
            f"{ECE_BINS} equal-width bins of [0, 1], Σ (n_b / N) |share of fakes − mean P(fake)|; Brier: mean "
            "(P(fake) − label)². Reliability diagram: reliability.png.\n")
    out = "\n".join(lines) + "\n" + note
    cal = metrics.get("calibrated")
    if cal:
        out += (f"\n## After calibration ({cal['method']}, {cal['file']})\n\n| Level | ECE before | ECE after | Brier before | "
                "Brier after |\n|---|---|---|---|---|\n")
        for level in ("frame", "video"):
            out += (f"| {level} | {metrics[level]['ece']:.4f} | {cal[level]['ece']:.4f} | {metrics[level]['brier']:.4f} | "
                    f"{cal[level]['brier']:.4f} |\n")
        out += ("\nCalibrated P(fake) of each video's mean logit (and, at frame level, of each crop's logit through the "
                "same file-level map). Reliability diagram: reliability_calibrated.png.\n")
    return out
