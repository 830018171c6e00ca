"""Run the app with uvicorn in a background thread (tests, notebooks, embedding in another program).

>>> with serve_in_thread(create_app(ServeSettings(InferenceOptions(weights="model.pt")))) as url:
...     httpx.get(f"{url}/health").json()["status"]
'ok'
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI

_log = logging.getLogger(__name__)


@contextmanager
def serve_in_thread(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    startup_timeout_s: float = 300.0,
    log_level: str = "warning",
) -> Iterator[str]:
    """Start uvicorn on ``host:port`` (0 = a free port) in a daemon thread; yield the base URL once the model
    is loaded and the socket accepts connections; stop the server on exit.

    Raises:
        RuntimeError: start-up failed (the model did not load) or took longer than ``startup_timeout_s``.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level=log_level))

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except SystemExit:  # uvicorn exits when start-up fails; the reason is reported below
            pass

    thread = threading.Thread(target=run, name="laanet-uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not server.started:
            if not thread.is_alive():
                reason = getattr(app.state, "startup_error", None) or "see the log"
                raise RuntimeError(f"the server failed to start: {reason}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start within {startup_timeout_s:g} s")
            time.sleep(0.02)
        url_host = f"[{host}]" if ":" in host else host
        yield f"http://{url_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
