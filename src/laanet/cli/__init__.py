"""The ``laanet`` command line: one module per command, joined here.

Each command module defines its commands as plain module-level functions and a ``register(app)`` that adds
them; torch and friends are imported inside command bodies, so ``laanet --help`` and ``laanet --version`` stay
fast (tests/test_cli_startup.py).
"""
from __future__ import annotations

import logging

import typer

app = typer.Typer(
    name="laanet",
    help="LAA-Net deepfake detection: detect, prepare, train, eval, export, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from laanet import __version__

        typer.echo(f"laanet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level (with tracebacks)."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print laanet's version and exit."
    ),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def _register_all() -> None:
    # One module per command group; each import is cheap (torch is imported inside the commands).
    import importlib

    for name in ("calibrate", "demo", "detect", "eval", "model_tools", "models", "prepare", "report", "serve", "synth", "train"):
        try:
            module = importlib.import_module(f"laanet.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"laanet.cli.{name}":
                continue
            raise
        module.register(app)


_register_all()


def main() -> None:
    app()
