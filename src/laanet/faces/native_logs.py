"""Keep MediaPipe's C++ log lines off the terminal.

MediaPipe 0.10.21 logs through absl and TensorFlow Lite straight to file descriptor 2 ("INFO: Created
TensorFlow Lite XNNPACK delegate", "WARNING: All log messages before absl::InitializeLog()", ``W0000 ...
inference_feedback_manager.cc``, ``E0000 ... calculator_graph.cc`` on a failed frame). No environment variable
reaches those loggers (``GLOG_minloglevel``, ``TF_CPP_MIN_LOG_LEVEL`` and ``ABSL_MIN_LOG_LEVEL`` were tried: they
change nothing), so :func:`native_logs_filtered` points fd 2 at a temporary file while MediaPipe code runs, then
writes back to the real stderr every line that is not part of one of those log records: output of other threads
(Python logging, a web server's access log) is delayed by a few milliseconds, not lost. (A record's
continuation lines are the lines after it that do not look like the start of another record, such as
``INFO:``, ``Traceback`` or a date.)

Windows of several threads overlap safely: the first to enter redirects, the last to leave restores.
Set ``LAANET_NATIVE_LOGS=1`` to see MediaPipe's lines again (debugging).
"""
from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

SHOW_ENV = "LAANET_NATIVE_LOGS"
# absl/glog records ("W0000 00:00:1796136420.651397    8853 file.cc:114] ..."), which may run over several lines.
_RECORD = re.compile(rb"^[IWEF]\d{4} [\d:.]+ +\d+ [^\]\s]+:\d+\] ")
# TensorFlow Lite's and absl's one-line banners.
_BANNER = re.compile(rb"^(?:INFO|WARNING|ERROR): (?:Created TensorFlow Lite|All log messages before absl::InitializeLog)")
# Lines that start a record of someone else; anything else right after an absl record continues it.
_OTHER_RECORD = re.compile(rb"^(?:Traceback |[A-Z]+:|\d{4}-\d\d-\d\d|\[)")

_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None
_sink = None


@contextmanager
def native_logs_filtered() -> Iterator[None]:
    """While inside, MediaPipe's native log records written to fd 2 are dropped (see the module docstring)."""
    if os.environ.get(SHOW_ENV, "") not in ("", "0"):
        yield
        return
    _enter()
    try:
        yield
    finally:
        _leave()


def _enter() -> None:
    global _depth, _saved_fd, _sink
    with _lock:
        if _depth == 0:
            try:
                sys.stderr.flush()
            except (AttributeError, ValueError, OSError):
                pass
            try:
                sink = tempfile.TemporaryFile()
                saved = os.dup(2)
                os.dup2(sink.fileno(), 2)
            except OSError as err:  # no fd 2, no temp dir: leave stderr alone
                logger.debug("cannot filter native logs: %s", err)
                _depth += 1
                return
            _saved_fd, _sink = saved, sink
        _depth += 1


def _leave() -> None:
    global _depth, _saved_fd, _sink
    with _lock:
        _depth -= 1
        if _depth > 0 or _saved_fd is None:
            return
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError, OSError):
            pass
        os.dup2(_saved_fd, 2)
        os.close(_saved_fd)
        sink, _saved_fd, _sink = _sink, None, None
    sink.seek(0)
    kept = strip_native_records(sink.read())
    sink.close()
    if kept:
        os.write(2, kept)


def strip_native_records(data: bytes) -> bytes:
    """``data`` without MediaPipe's log records (each with its continuation lines)."""
    kept, dropping = [], False
    for line in data.splitlines(keepends=True):
        if _RECORD.match(line):
            dropping = True
        elif _BANNER.match(line) or (dropping and not _OTHER_RECORD.match(line)):
            continue
        else:
            dropping = False
        if not dropping:
            kept.append(line)
    return b"".join(kept)
