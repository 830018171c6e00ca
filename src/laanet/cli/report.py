"""``laanet report``: one self-contained HTML report of a ``laanet detect`` run."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from laanet.cli._common import fail

HELP = """Write a self-contained HTML report of a laanet detect output folder (or its results.json / results.jsonl,
or one saved result such as a laanet serve answer).

Per input: the verdict with its calibration band (or "uncalibrated"), the flags, the per-person score timeline
of videos, the heatmap overlays at the most suspicious frames (embedded), and the provenance: weights SHA-256,
options, calibration, laanet version, time, model card. One HTML file, no script, nothing fetched from the
network; it prints one input per page. Overlays are looked up inside RESULTS only.

Exit code: 0 when written; 2 when RESULTS holds no results or the report cannot be written.
"""


def report(
    results: Annotated[Path, typer.Argument(help="Output folder of laanet detect --out, its results.json(l), or one result's JSON.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Report file (default: RESULTS/report.html).")] = None,
    title: Annotated[str, typer.Option("--title", help="Heading of the report.")] = "laanet report",
    max_pictures: Annotated[int, typer.Option("--max-pictures", min=0, max=50,
                                              help="Overlays shown per input (the most suspicious frames).")] = 4,
) -> None:
    """Write an HTML report of a laanet detect run (see the command help)."""
    from laanet.inference.outputs import OutputError
    from laanet.report import ReportError, write_report

    try:
        path = write_report(results, out, title=title, max_pictures=max_pictures)
    except (ReportError, OutputError) as err:
        raise fail(str(err), code=2) from None
    typer.echo(f"wrote {path}", err=True)


def register(app: typer.Typer) -> None:
    app.command(help=HELP)(report)
