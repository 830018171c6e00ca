"""Overlapped detection: a producer thread reads inputs and finds faces while the calling thread runs the model.

On a CPU the model and the face pipeline (decode, face detection, crop) each take a good part of a video's
time; run one after the other they add up. :func:`run_overlapped` runs them at the same time: a background
thread walks the inputs in order, calls ``analyse(state, item, emit)`` for each (decode + faces + crops) and
``emit(job)`` hands every face to the calling thread as soon as it is cropped; the calling thread groups the
faces into batches of ``batch_size`` for ``infer`` and hands each input back through ``finish`` in input
order, once it is fully analysed and all its faces are scored. A bounded queue (``depth`` batches) keeps the
producer from running far ahead (memory).

Threads only: decoding (FFmpeg), face detection (MediaPipe/dlib), OpenCV, ONNX Runtime and torch release the
GIL while they compute. All bookkeeping (which faces are pending, what is finished) lives in the calling
thread; the producer only creates states and emits events.

:class:`StageTimes` records where the time goes: ``decode`` and ``faces`` (producer), ``model`` and
``overlays`` (caller), and ``wall``; with overlap their sum exceeds ``wall``.
"""
from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

STAGES = ("decode", "faces", "model", "overlays")


@dataclass
class StageTimes:
    """Seconds spent per stage (thread-safe), batches run and faces scored, and the wall time of a run."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    wall: float = 0.0
    batches: int = 0
    faces: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start

    def to_dict(self) -> dict[str, Any]:
        """Seconds per stage and ``wall``, plus ``model_calls`` and ``faces_scored``."""
        return {**{k: round(v, 3) for k, v in self.seconds.items()}, "wall": round(self.wall, 3),
                "model_calls": self.batches, "faces_scored": self.faces}

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items())
        return f"time split: {parts}; wall {self.wall:.2f} s ({self.faces} faces in {self.batches} model calls)"


class _Stop(Exception):
    """The consumer went away: the producer ends quietly."""


def run_overlapped(
    inputs: Iterable[Any],
    *,
    start: Callable[[Any], Any],
    analyse: Callable[[Any, Any, Callable[[Any], None]], None],
    infer: Callable[[list[tuple[Any, Any]]], None],
    finish: Callable[[Any], Any],
    batch_size: int,
    depth: int = 2,
    times: StageTimes | None = None,
) -> Iterator[Any]:
    """Yield ``finish(state)`` for each input, in input order, with analysis overlapping inference.

    Args:
        inputs: items to analyse, in order.
        start: ``item → state`` (producer thread): the per-input record.
        analyse: ``(state, item, emit)`` (producer thread): read the input and call ``emit(job)`` once per
            face to score. It should record its own per-input errors in ``state``; an exception it raises
            ends the run (re-raised here).
        infer: ``[(state, job), ...]`` (calling thread): score one batch (≤ ``batch_size``) and store the results.
        finish: ``state → result`` (calling thread): called once per input, in order, when all is done.
        batch_size: faces per ``infer`` call; a smaller batch only at the very end.
        depth: queue bound, in batches.
        times: adds ``model`` time (and ``wall``); ``analyse`` should measure ``decode``/``faces`` itself.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    times = times if times is not None else StageTimes()
    events: queue.Queue = queue.Queue(maxsize=max(1, depth) * batch_size + 2)
    stop = threading.Event()

    def put(event: tuple) -> None:
        while True:
            if stop.is_set():
                raise _Stop
            try:
                events.put(event, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for item in inputs:
                state = start(item)
                put(("start", state))
                analyse(state, item, lambda job, state=state: put(("job", (state, job))))
                put(("analysed", state))
            put(("end", None))
        except _Stop:
            pass
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, re-raised there
            try:
                put(("error", err))
            except _Stop:
                pass

    started = time.perf_counter()
    producer = threading.Thread(target=produce, name="laanet-analyse", daemon=True)
    producer.start()
    order: deque[Any] = deque()  # states in input order
    waiting: dict[int, int] = {}  # id(state) -> faces not yet scored
    analysed: set[int] = set()
    jobs: list[tuple[Any, Any]] = []

    def run_batch(batch: list[tuple[Any, Any]]) -> None:
        with times.measure("model"):
            infer(batch)
        times.batches += 1
        times.faces += len(batch)
        for state, _ in batch:
            waiting[id(state)] -= 1

    def ready() -> Iterator[Any]:
        while order and id(order[0]) in analysed and waiting[id(order[0])] == 0:
            state = order.popleft()
            analysed.discard(id(state))
            del waiting[id(state)]
            yield finish(state)

    try:
        while True:
            kind, payload = events.get()
            if kind == "start":
                order.append(payload)
                waiting[id(payload)] = 0
            elif kind == "job":
                jobs.append(payload)
                waiting[id(payload[0])] += 1
                if len(jobs) >= batch_size:
                    batch, jobs[:] = jobs[:batch_size], jobs[batch_size:]
                    run_batch(batch)
                    yield from ready()
            elif kind == "analysed":
                analysed.add(id(payload))
                yield from ready()
            elif kind == "error":
                raise payload
            else:  # end
                while jobs:
                    batch, jobs[:] = jobs[:batch_size], jobs[batch_size:]
                    run_batch(batch)
                yield from ready()
                break
    finally:
        stop.set()
        producer.join(timeout=5)
        times.wall += time.perf_counter() - started
