"""``laanet serve``: the detector as an HTTP API and a web page (FastAPI + uvicorn)."""
from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

HELP = (
    "Serve the detector over HTTP: a web page at / and a JSON API.\n\n"
    "GET /health answers once the model is loaded. POST /v1/detect takes a multipart 'file' (image or video) with "
    "optional 'frames', 'flip_test' and 'overlays' fields and returns the same JSON as one results.json entry of "
    "'laanet detect', with heatmap overlays as JPEG data URLs.\n\n"
    "Uploads over --max-upload-mb get 413 as soon as the limit is passed; unsupported files 415, undecodable ones "
    "422. One model instance runs on one worker thread; --max-concurrency requests are admitted at once "
    "(uploading or waiting), more get 503 with Retry-After.\n\n"
    "Listens on 127.0.0.1 by default. There is no authentication: put a proxy in front before exposing it. "
    "See docs/serve.md."
)


class Backend(str, Enum):
    torch = "torch"
    onnx = "onnx"


class _HideStartupTraceback(logging.Filter):
    """uvicorn logs the lifespan's traceback when the model fails to load; the CLI prints one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ModelLoadError" not in record.getMessage()


def register(app: typer.Typer) -> None:
    @app.command(help=HELP)
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
        port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port."),
        weights: Optional[Path] = typer.Option(
            None, "--weights", "-w", help="Checkpoint (laanet, official, or .onnx). Default: bundled demo weights."
        ),
        backend: Backend = typer.Option(Backend.torch, "--backend", help="Inference backend."),
        device: str = typer.Option("cpu", "--device", help="cpu or cuda (torch backend)."),
        max_upload_mb: float = typer.Option(
            50.0, "--max-upload-mb", min=0.001, help="Largest accepted upload, MiB."
        ),
        frames: int = typer.Option(
            32, "--frames", min=1, help="Frames sampled per video unless a request says otherwise."
        ),
        max_concurrency: int = typer.Option(
            4, "--max-concurrency", min=1, help="Detect requests admitted at once; more get 503."
        ),
        threshold: float = typer.Option(
            0.5, "--threshold", min=0.0, max=1.0, help="P(fake) at or above which a file is fake."
        ),
        face_backend: Optional[str] = typer.Option(
            None, "--face-backend", help="Face detector backend (default: laanet.faces default)."
        ),
    ) -> None:
        import uvicorn

        from laanet.inference.detector import default_weights
        from laanet.service import ServeSettings, create_app

        if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
            typer.echo(f"error: --device must be cpu or cuda, got {device!r}", err=True)
            raise typer.Exit(2)
        if weights is None:
            try:
                weights = default_weights()
            except FileNotFoundError as err:
                typer.echo(f"error: {err}", err=True)
                raise typer.Exit(1)
        elif not weights.is_file():
            typer.echo(f"error: weights file not found: {weights}", err=True)
            raise typer.Exit(1)
        try:
            settings = ServeSettings(
                weights=weights, backend=backend.value, device=device, frames=frames, threshold=threshold,
                face_backend=face_backend, max_upload_mb=max_upload_mb, max_concurrency=max_concurrency,
                max_frames=max(128, frames),
            )
        except ValueError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2)

        service = create_app(settings)
        logging.getLogger("uvicorn.error").addFilter(_HideStartupTraceback())
        server = uvicorn.Server(uvicorn.Config(service, host=host, port=port, lifespan="on", log_level="info"))
        try:
            server.run()  # returns on Ctrl-C / SIGTERM
        except SystemExit as stop:  # uvicorn exits by itself when start-up fails (address in use, lifespan)
            if stop.code not in (None, 0) and not service.state.startup_error:
                typer.echo("error: the server could not start (see the log above)", err=True)
                raise typer.Exit(1) from None
        if service.state.startup_error:
            typer.echo(f"error: cannot load the model: {service.state.startup_error}", err=True)
            raise typer.Exit(1)
        if not server.started:
            typer.echo("error: the server did not start (see the log above)", err=True)
            raise typer.Exit(1)
