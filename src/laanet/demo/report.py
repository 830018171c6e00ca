"""The demo's short report: ``report.md`` and ``report.html`` from the job's ``results.json`` dict.

Both show the same things: the model that ran, the held-out AUCs, the score of every bundled sample and of
every held-out image, with links to (HTML: thumbnails of) their heatmap overlays. Paths are relative to the
output folder, so the folder can be moved or zipped as a whole.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

__all__ = ["write_reports"]

CAVEAT = (
    "This is a demo model trained in minutes on a CPU from a handful of public-domain photos. It shows the idea "
    "of LAA-Net (real faces, pseudo-fakes, a heatmap of the blending boundary) and is **not** a forensic tool: "
    "do not use its verdicts on real media. For real use, train on FaceForensics++ (`laanet train --config "
    "paper-sbi`) or load the authors' checkpoint (`laanet detect --weights`). See docs/model-card.md."
)
OTHER_WEIGHTS = (
    "These scores come from the weights given with `--weights`. The held-out photos and the *train* roles below "
    "are those of the bundled demo model's recipe: they mean nothing for weights trained on other data."
)


def _caveat(summary: dict[str, Any]) -> str:
    return CAVEAT if summary.get("bundled_weights") else OTHER_WEIGHTS + " " + CAVEAT.split(". ", 2)[2]
KIND_NAMES = {"sbi": "SBI fakes of the held-out faces", "swap": "face swaps between the held-out faces", "all": "all fakes"}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _auc_rows(summary: dict[str, Any]) -> list[list[str]]:
    return [
        [
            KIND_NAMES.get(k["kind"], k["kind"]),
            str(k["n_real"]),
            str(k["n_fake"]),
            f"**{_fmt(k['auc'])}**",
            _fmt(k["mean_real"]),
            _fmt(k["mean_fake"]),
            _fmt(k["accuracy"]),
        ]
        for k in summary["heldout"]["aucs"]
    ]


AUC_HEADER = ["fakes", "n reals", "n fakes", "AUC", "mean P(fake) reals", "mean P(fake) fakes", "balanced acc. @ threshold"]


def _model_lines(summary: dict[str, Any]) -> list[str]:
    m = summary["model"]
    return [
        f"- weights: `{m.get('weights')}`" + (" (bundled demo weights)" if summary.get("bundled_weights") else ""),
        f"- model: {m.get('family', 'laanet')} `{m.get('model_name', '?')}`, backbone `{m.get('backbone', '?')}`, "
        f"input {m.get('input_size')} px, flip test {m.get('flip_test')}, "
        f"threshold {m.get('threshold')}, face detector {m.get('face_backend')}",
        f"- run time: {summary['seconds']:.1f} s on {summary['threads']} CPU thread(s)",
    ]


def render_markdown(summary: dict[str, Any]) -> str:
    """The Markdown report."""
    parts = ["# laanet demo", "", _caveat(summary), "", "## Model", "", *_model_lines(summary), ""]
    held = summary["heldout"]
    if held["items"]:
        parts += [
            "## Held-out test",
            "",
            f"Held-out photos (never used for training): {', '.join(held['photos'])}; {held['views']} views each. "
            "Reals are the views; SBI fakes blend each face with a transformed copy of itself (the training recipe, "
            "on unseen faces); face swaps put the other held-out face on it with `cv2.seamlessClone` (a kind of fake "
            "the model never trained on).",
            "",
            _md_table(AUC_HEADER, _auc_rows(summary)),
            "",
            _md_table(
                ["image", "kind", "P(fake)", "overlay"],
                [[f"`{r['name']}`", r["kind"], _fmt(r["score"]), f"[png]({r['overlay']})" if r["overlay"] else "no face"] for r in held["items"]],
            ),
            "",
        ]
    if summary["samples"]:
        parts += [
            "## Bundled samples (all real photos and clips)",
            "",
            "Role *train*: the demo model was trained on it (its score shows fit, not generalisation).",
            "",
            _md_table(
                ["file", "role", "P(fake)", "verdict", "overlay"],
                [
                    [
                        f"`{r['name']}`",
                        r["role"],
                        _fmt(r["score"]),
                        r["label"] or r["status"],
                        f"[png]({r['overlay']})" if r["overlay"] else "–",
                    ]
                    for r in summary["samples"]
                ],
            ),
            "",
        ]
    return "\n".join(parts)


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:10px}.card{width:200px;font-size:13px}.card img{width:200px;height:200px;object-fit:cover}
.fake{color:#b00;font-weight:bold}.real{color:#070;font-weight:bold}.note{background:#fff6d6;padding:.6em 1em;border-left:4px solid #e0b000}
"""


def _card(row: dict[str, Any], subtitle: str) -> str:
    name = html.escape(row["name"])
    score = row["score"]
    verdict = "no face" if score is None else ("fake" if score >= row["threshold"] else "real")
    cls = "fake" if verdict == "fake" else "real" if verdict == "real" else ""
    thumb = row.get("thumb") or row["overlay"]
    img = f'<a href="{html.escape(row["overlay"])}"><img src="{html.escape(thumb)}" alt="{name}"></a>' if row["overlay"] else ""
    return (
        f'<div class="card">{img}<div>{name}</div><div>{html.escape(subtitle)} · P(fake) {_fmt(score)} '
        f'<span class="{cls}">{verdict}</span></div></div>'
    )


def render_html(summary: dict[str, Any]) -> str:
    """The HTML report (thumbnails of the overlays)."""
    import re

    caveat = html.escape(_caveat(summary))
    caveat = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", caveat)
    caveat = re.sub(r"\*([^*]+)\*", r"<i>\1</i>", caveat)
    caveat = re.sub(r"`([^`]+)`", r"<code>\1</code>", caveat)
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>laanet demo</title>", f"<style>{_CSS}</style></head><body>"]
    out += ["<h1>laanet demo</h1>", f"<p class='note'>{caveat}</p>", "<h2>Model</h2><ul>"]
    out += [f"<li>{html.escape(line[2:]).replace('`', '')}</li>" for line in _model_lines(summary)]
    out.append("</ul>")
    held = summary["heldout"]
    if held["items"]:
        out.append("<h2>Held-out test</h2>")
        out.append(
            f"<p>Held-out photos (never used for training): {html.escape(', '.join(held['photos']))}; {held['views']} views each.</p>"
        )
        out.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in AUC_HEADER) + "</tr>")
        for row in _auc_rows(summary):
            out.append("<tr>" + "".join(f"<td>{html.escape(c.replace('**', ''))}</td>" for c in row) + "</tr>")
        out.append("</table>")
        for kind in ("real", "sbi", "swap"):
            rows = [r for r in held["items"] if r["kind"] == kind]
            if rows:
                out.append(f"<h3>{html.escape(kind)}</h3><div class='grid'>")
                out += [_card(r, kind) for r in rows]
                out.append("</div>")
    if summary["samples"]:
        out.append("<h2>Bundled samples</h2><p>Role <i>train</i>: the demo model was trained on it.</p><div class='grid'>")
        out += [_card(r, r["role"]) for r in summary["samples"]]
        out.append("</div>")
    out.append("</body></html>")
    return "\n".join(out)


def write_reports(out_dir: str | Path, summary: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    md, page = out / "report.md", out / "report.html"
    md.write_text(render_markdown(summary))
    page.write_text(render_html(summary))
    return md, page
