"""Render and write the report: :func:`render_report` (a string) and :func:`write_report` (a file)."""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from laanet.report.cards import CardBook
from laanet.report.load import RunResults, load_results
from laanet.report.template import CSP, CSS, TEMPLATE
from laanet.report.view import MAX_PICTURES, entry_view

REPORT_NAME = "report.html"


def _environment():
    import jinja2

    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def render_report(run: RunResults, *, title: str = "laanet report", max_pictures: int = MAX_PICTURES,
                  card_root: Path | None = None) -> str:
    """The report of ``run`` as one HTML document (no external resource; every shown value escaped).

    ``card_root``: where model cards are looked up (``docs/model-cards/`` under it); default the laanet source tree.
    """
    from laanet import __version__
    from laanet.inference.provenance import utc_now

    cards = CardBook(card_root)
    views = [entry_view(entry, k, run.folder, document_provenance=run.provenance, model_info=run.model,
                        max_pictures=max_pictures, cards=cards) for k, entry in enumerate(run.entries)]
    counts = Counter(v.verdict.text if v.verdict.css in ("fake", "real", "uncertain") else
                     {"noface": "no face", "error": "error"}[v.verdict.css] for v in views)
    template = _environment().from_string(TEMPLATE)
    return template.render(
        csp=CSP, css=CSS, title=title, version=__version__, made=utc_now(), entries=views,
        counts=sorted(((k.lower(), n) for k, n in counts.items())), source=str(run.source), source_name=run.source.name,
        created=run.created, complete=run.complete, cards=cards.embedded,
    )


def write_report(results: str | os.PathLike, out: str | os.PathLike | None = None, **kwargs) -> Path:
    """Write the report of the results in ``results`` (folder or results file) to ``out``.

    ``out`` defaults to ``report.html`` in the results folder. Written to a temporary file and renamed.
    Raises :class:`~laanet.report.load.ReportError` when there are no results, ``OutputError`` when the file
    cannot be written.
    """
    from laanet.inference.outputs import OutputError

    run = load_results(results)
    path = Path(out) if out is not None else run.folder / REPORT_NAME
    text = render_report(run, **kwargs)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from None
    return path
