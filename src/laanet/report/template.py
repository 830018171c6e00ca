"""The report's HTML template (Jinja2, autoescaped: every value is escaped unless marked safe) and its CSS.

Self-contained: no script, no external font, style sheet or picture; a Content-Security-Policy meta tag lets the
page load nothing but its own ``data:`` pictures and inline style, so even a value that escaped escaping could
not run or fetch anything. Print: one input per page, white background, links printed with their address.
"""
from __future__ import annotations

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = """
:root { --fake: #b3261e; --real: #1e7b34; --noface: #5b5b5b; --error: #7a4b00; --uncertain: #9a6700; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif;
       color: #1b1b1b; background: #f6f6f4; margin: 0; }
main { max-width: 1000px; margin: 0 auto; padding: 16px 20px 40px; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 18px; margin: 0 0 6px; overflow-wrap: anywhere; }
h3 { font-size: 14px; margin: 14px 0 6px; text-transform: uppercase; letter-spacing: .04em; color: #444; }
a { color: #0b57d0; }
code, .mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: 4px 0; }
th, td { text-align: left; vertical-align: top; padding: 3px 8px; border-bottom: 1px solid #ddd; }
th { font-weight: 600; white-space: nowrap; }
dl.kv { display: grid; grid-template-columns: max-content minmax(0, 1fr) max-content minmax(0, 1fr);
         gap: 3px 12px; margin: 4px 0; align-items: baseline; }
dl.kv dt { color: #444; }
dl.kv dd { margin: 0; overflow-wrap: anywhere; }
dl.kv dt.wide { grid-column: 1; }
dl.kv dd.wide { grid-column: span 3; }
.meta { color: #444; }
section.input { background: #fff; border: 1px solid #d7d7d2; border-radius: 6px; padding: 14px 18px; margin: 16px 0; }
.path { color: #555; margin: 0 0 8px; }
.verdict { display: inline-block; font-weight: 700; font-size: 16px; padding: 3px 10px; border: 2px solid;
           border-radius: 4px; margin-right: 8px; }
.verdict.fake { color: var(--fake); background: #fdecea; }
.verdict.real { color: var(--real); background: #e8f5ec; }
.verdict.noface { color: var(--noface); background: #eeeeee; border-style: dashed; }
.verdict.error { color: var(--error); background: #fff3e0; border-style: dashed; }
.verdict.uncertain { color: var(--uncertain); background: #fff8e1; }
.band { display: inline-block; border: 1px solid #999; border-radius: 12px; padding: 1px 9px; font-size: 12px; }
.note { color: #444; margin: 6px 0; }
.warning { color: var(--error); }
ul.flags { margin: 4px 0; padding-left: 20px; }
ul.flags li { margin: 2px 0; }
ul.flags code { font-weight: 700; }
.none { color: #666; font-style: italic; }
tr.chosen td { font-weight: 700; }
figure { display: inline-table; margin: 4px 10px 8px 0; vertical-align: top; break-inside: avoid; }
figure img { display: block; max-width: 100%; max-height: 340px; width: auto; height: auto; border: 1px solid #ccc; }
figcaption { display: table-caption; caption-side: bottom; font-size: 12px; color: #333; padding-top: 2px; }
svg.timeline { max-width: 100%; height: auto; background: #fff; }
svg.timeline text { font-family: system-ui, "DejaVu Sans", Arial, sans-serif; fill: #222; }
.summary td.verdict-cell { font-weight: 700; }
.summary .fake { color: var(--fake); } .summary .real { color: var(--real); }
.summary .noface { color: var(--noface); } .summary .error { color: var(--error); }
.summary .uncertain { color: var(--uncertain); }
footer { color: #555; font-size: 12px; margin-top: 24px; }
img.crop { display: inline-block; vertical-align: middle; width: 64px; height: auto; margin-right: 8px; border: 1px solid #ccc; }
section.card { background: #fff; border: 1px solid #d7d7d2; border-radius: 6px; padding: 14px 18px; margin: 16px 0; }
section.card h1 { font-size: 17px; } section.card h2 { font-size: 15px; } section.card h3 { font-size: 13px; }
section.card table { font-size: 12px; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { background: #fff !important; color: #000; font-size: 11pt; }
  main { max-width: none; padding: 0; }
  section.card { break-before: page; page-break-before: always; border: none; padding: 0; }
  section.input { break-before: page; page-break-before: always; border: none; padding: 0; margin: 0;
                  background: #fff !important; }
  .verdict, .verdict.fake, .verdict.real, .verdict.noface, .verdict.error, .verdict.uncertain { background: #fff !important; }
  a { color: #000; text-decoration: underline; }
  a[href^="http"]::after { content: " (" attr(href) ")"; font-size: 9pt; overflow-wrap: anywhere; }
  figure, table, svg { break-inside: avoid; page-break-inside: avoid; }
  figure img { max-height: 250px; }
  img.crop { width: 48px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="laanet {{ version }}">
<title>{{ title }}</title>
<style>{{ css | safe }}</style>
</head>
<body>
<main>
<header>
<h1>{{ title }}</h1>
<p class="meta">{{ entries | length }} input(s){% for key, count in counts %}, {{ count }} {{ key }}{% endfor %}.
Results: <span class="mono">{{ source }}</span>{% if created %}, written {{ created }}{% endif %}.
Report made {{ made }} by laanet {{ version }}.</p>
{% if not complete %}<p class="warning" id="unfinished">Unfinished run: these results come from {{ source_name }}
(no results.json); inputs not yet scored are missing.</p>{% endif %}
<p class="note">Scores are the model's P(fake). A verdict is labelled fake at or above the threshold; with a
calibration file the band and the calibrated probability are shown. "No face found" means no verdict, not "real".</p>
<table class="summary" id="summary">
<thead><tr><th>#</th><th>input</th><th>verdict</th><th>score</th><th>band</th><th>flags</th></tr></thead>
<tbody>
{% for e in entries %}<tr>
<td>{{ loop.index }}</td><td class="mono"><a href="#{{ e.anchor }}">{{ e.name }}</a></td>
<td class="verdict-cell {{ e.verdict.css }}">{{ e.verdict.text }}</td><td>{{ e.verdict.score or "-" }}</td>
<td>{{ e.verdict.band }}</td><td>{% for code, _ in e.flags %}<code>{{ code }}</code>{% if not loop.last %}, {% endif %}{% else %}-{% endfor %}</td>
</tr>
{% endfor %}</tbody>
</table>
</header>
{% for e in entries %}
<section class="input" id="{{ e.anchor }}" data-status="{{ e.verdict.css }}">
<h2><span class="index">{{ loop.index }}.</span> <span class="name">{{ e.name }}</span></h2>
<p class="path mono">{{ e.kind }} · {{ e.path }}</p>
<p><span class="verdict {{ e.verdict.css }}">{{ e.verdict.text }}</span>
{% if e.verdict.score %}<span class="score">{{ e.verdict.score }}</span>{% endif %}
<span class="band" title="calibration band">{{ e.verdict.band }}</span></p>
{% if e.verdict.note %}<p class="note verdict-note">{{ e.verdict.note }}</p>{% endif %}
{% if e.warning %}<p class="warning">Warning: {{ e.warning }}</p>{% endif %}

<h3>Flags</h3>
{% if e.flags %}<ul class="flags">{% for code, message in e.flags %}<li><code>{{ code }}</code>{% if message %}: {{ message }}{% endif %}</li>{% endfor %}</ul>
{% else %}<p class="none">no flags{% if not e.flags_known %} (not available in these results){% endif %}</p>{% endif %}

{% if e.people %}<h3>People</h3>
<table class="people"><thead><tr><th>person</th><th>verdict</th><th>P(fake)</th><th>frames</th></tr></thead><tbody>
{% for p in e.people %}<tr{% if p.chosen %} class="chosen"{% endif %}><td>{% if p.crop %}<img class="crop" src="{{ p.crop.src }}" width="{{ p.crop.width }}" height="{{ p.crop.height }}" alt="{{ p.crop.caption }}">{% endif %}{{ p.id }}{% if p.chosen %} (file verdict){% endif %}</td><td>{{ p.verdict }}</td><td>{{ p.score }}</td><td>{{ p.frames }}</td></tr>
{% endfor %}</tbody></table>
{% if e.person_note %}<p class="note">{{ e.person_note }}</p>{% endif %}{% endif %}

{% if e.timeline or e.timeline_note %}<h3>Timeline</h3>
{% if e.timeline %}<div class="plot">{{ e.timeline | safe }}</div>{% endif %}
{% if e.timeline_note %}<p class="note">{{ e.timeline_note }}</p>{% endif %}{% endif %}

<h3>Most suspicious frames</h3>
{% for pic in e.pictures %}<figure><img src="{{ pic.src }}" width="{{ pic.width }}" height="{{ pic.height }}" alt="heatmap overlay: {{ pic.caption }}"><figcaption>{{ pic.caption }}</figcaption></figure>{% endfor %}
{% if e.pictures_note %}<p class="none">{{ e.pictures_note }}</p>{% endif %}

<h3>Provenance</h3>
<dl class="kv provenance">
{% for k, v in e.provenance %}{% set wide = v | length > 36 %}<dt{% if wide %} class="wide"{% endif %}>{{ k }}</dt><dd class="mono{% if wide %} wide{% endif %}">{{ v }}</dd>
{% endfor %}<dt class="wide">model card</dt><dd class="wide">{% if e.card %}{% if e.card.href %}<a class="card-link" href="{{ e.card.href }}">{{ e.card.ref }}</a>{% if e.card.anchor %} (in this report){% endif %}{% else %}<span class="mono">{{ e.card.ref }}</span> (in the laanet repository){% endif %}{% else %}<span class="none">not available</span>{% endif %}</dd>
{% for k, v in e.verdict.calibration_rows %}{% set wide = v | length > 36 %}<dt{% if wide %} class="wide"{% endif %}>calibration{% if k %}: {{ k }}{% endif %}</dt><dd class="mono{% if wide %} wide{% endif %}">{{ v }}</dd>
{% else %}<dt>calibration</dt><dd>not available</dd>
{% endfor %}{% if e.options %}<dt class="wide">options</dt><dd class="mono wide options">{% for k, v in e.options %}<span class="opt">{{ k }}={{ v }}</span>{% if not loop.last %} · {% endif %}{% endfor %}</dd>{% endif %}
</dl>
</section>
{% endfor %}
{% for card in cards %}
<section class="card" id="{{ card.anchor }}">
<p class="meta">Model card <span class="mono">{{ card.ref }}</span>, as in laanet {{ version }} (links into the
repository are shown as text).</p>
<div class="card-body">{{ card.html | safe }}</div>
</section>
{% endfor %}
<footer>laanet flags face manipulations with a model trained on synthetic blends; its verdict is evidence to weigh,
not proof. Read the model card of the weights for what it was trained on and where it fails.</footer>
</main>
</body>
</html>
"""
