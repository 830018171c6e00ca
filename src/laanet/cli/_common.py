"""Helpers shared by the command modules."""
from __future__ import annotations

import typer


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr and return the ``typer.Exit`` to raise (1 bad input, 2 usage)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)
