"""``laanet models``: the weight sets laanet knows (:mod:`laanet.weights.catalog`), each with its model card."""
from __future__ import annotations

import json
import sys
from typing import Optional

import typer

from laanet.cli._common import fail


def _reported(entry) -> str:
    if not entry.reported:
        return "—"
    return ", ".join(f"{m.benchmark} {m.auc:.2f}" for m in entry.reported)


def models(
    name: Optional[str] = typer.Argument(None, help="Show everything about one weight set (e.g. laanet-b4-sbi)."),
    as_json: bool = typer.Option(False, "--json", help="JSON: a list of weight sets (or one, with NAME)."),
) -> None:
    """List the weight sets laanet knows: family, input size, source, licence, reported AUCs, model card."""
    from rich.console import Console
    from rich.table import Table

    from laanet.weights.catalog import CATALOG, get

    try:
        entries = [get(name)] if name else list(CATALOG)
    except KeyError as err:
        raise fail(err.args[0], code=2) from None
    if as_json:
        data = [e.to_dict() for e in entries]
        typer.echo(json.dumps(data[0] if name else data, indent=2))
        return
    console = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160)  # pipes and logs: no wrapping
    if name:
        entry = entries[0]
        table = Table(title=entry.title, show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value")
        for key, value in entry.to_dict().items():
            if key == "reported":
                value = _reported(entry)
            elif isinstance(value, (list, tuple)):
                value = "\n".join(map(str, value)) or "—"
            table.add_row(key, "—" if value is None else str(value))
        console.print(table)
        return
    table = Table(title="Weight sets laanet knows")
    table.add_column("name", no_wrap=True)
    table.add_column("family", no_wrap=True)
    table.add_column("input", no_wrap=True)
    table.add_column("where")
    table.add_column("licence")
    table.add_column("CDF2 AUC %", justify="right")
    table.add_column("card (docs/model-cards/)", no_wrap=True)
    for e in entries:
        cdf2 = next((f"{m.auc:.2f}" for m in e.reported if m.benchmark == "CDF2"), "—")
        table.add_row(e.name, e.family, f"{e.input_size} px", e.where, e.licence.split(" (")[0], cdf2, f"{e.name}.md")
    console.print(table)
    console.print("Authors' figures as they report them (CDF2 = Celeb-DF v2, video level); `laanet models NAME` for "
                  "the rest of a card, --json for all of it.")


def register(app: typer.Typer) -> None:
    app.command()(models)
