"""A self-contained HTML report of a ``laanet detect`` run, for a person to read, print and attach to a case.

``laanet report RESULTS_DIR`` (or ``laanet detect --report``) writes ``report.html``: per input the verdict with its
calibration band, the flags, the per-person score timeline, the overlays at the most suspicious frames and the
provenance (weights SHA-256, options, calibration, laanet version, time, model card). One file, no script, no
network: pictures are embedded as ``data:`` URLs and plots as inline SVG. See ``docs/report.md``.

Modules: :mod:`~laanet.report.load` (read the results folder), :mod:`~laanet.report.view` (what is shown of one
result), :mod:`~laanet.report.timeline` (the SVG plot), :mod:`~laanet.report.images` (embedded pictures),
:mod:`~laanet.report.template` and :mod:`~laanet.report.html` (the page).
"""
from __future__ import annotations

from laanet.report.html import REPORT_NAME, render_report, write_report
from laanet.report.load import ReportError, RunResults, load_results

__all__ = ["REPORT_NAME", "ReportError", "RunResults", "load_results", "render_report", "write_report"]
