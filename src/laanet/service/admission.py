"""Who may upload and who may use the model: upload slots, analysis slots and a bounded wait queue.

A request goes through two stages:

1. **upload**: its body is streamed to disk. This holds one of ``max_uploads`` upload places and no analysis
   slot, so a client that trickles its body slows nobody else down (and ``upload_timeout_s`` cuts it off).
2. **analysis**: once the upload is complete it takes one of ``max_concurrency`` analysis slots, or waits in
   a FIFO queue of at most ``queue_size`` requests (for at most ``queue_timeout_s``).

A request that finds no room gets :class:`ServiceBusy` (503) with a ``Retry-After`` estimated from recent
analysis times. Everything here runs on the event loop (no locks); :meth:`Admission.release` must be called
there too (``loop.call_soon_threadsafe`` from another thread).
"""
from __future__ import annotations

import asyncio
import math
from collections import deque

from laanet.service.errors import ServiceBusy

DEFAULT_ANALYSIS_S = 2.0  # Retry-After estimate before any analysis has finished
MAX_RETRY_AFTER_S = 300


class Admission:
    """Upload places, analysis slots and the queue in front of them.

    Args:
        slots: analyses in flight at once (``max_concurrency``).
        queue_size: complete uploads that may wait for a slot.
        max_uploads: uploads received at once.
        threads: analyses that actually run at once (``inference_threads``), for the Retry-After estimate.
    """

    def __init__(self, slots: int, queue_size: int, max_uploads: int, threads: int = 1) -> None:
        self.slots, self.queue_size, self.max_uploads, self.threads = slots, queue_size, max_uploads, threads
        self.running = 0  # requests holding an analysis slot
        self.uploading = 0  # requests whose body is being received
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._recent_s: deque[float] = deque(maxlen=16)  # durations of the last analyses

    @property
    def queued(self) -> int:
        """Requests with a complete upload waiting for an analysis slot."""
        return len(self._waiters)

    def retry_after_s(self) -> int:
        """Seconds after which a refused client may expect room: the work ahead of it at the recent pace."""
        per_analysis = sum(self._recent_s) / len(self._recent_s) if self._recent_s else DEFAULT_ANALYSIS_S
        ahead = (self.running + self.queued) / self.threads  # analyses run ``threads`` at a time
        return int(min(MAX_RETRY_AFTER_S, max(1, math.ceil(per_analysis * max(1.0, ahead)))))

    def busy(self, why: str) -> ServiceBusy:
        seconds = self.retry_after_s()
        return ServiceBusy(f"busy: {why}; retry in about {seconds} s", headers={"Retry-After": str(seconds)})

    def begin_upload(self, *, check_queue: bool = True) -> None:
        """Take an upload place, or raise 503 (before the body is read) when the uploads or (with
        ``check_queue``; a job has its own queue) the analysis queue are full."""
        if self.uploading >= self.max_uploads:
            raise self.busy(f"{self.max_uploads} uploads already in progress")
        if check_queue and self.running >= self.slots and self.queued >= self.queue_size:
            raise self.busy(f"{self.running} analyses running and {self.queued} waiting")
        self.uploading += 1

    def end_upload(self) -> None:
        self.uploading -= 1

    async def acquire(self, timeout_s: float) -> None:
        """Take an analysis slot, waiting in the queue (FIFO) for at most ``timeout_s``; pair with :meth:`release`.

        Raises:
            ServiceBusy: the queue is full, or no slot freed up within ``timeout_s``.
        """
        if self.running < self.slots and not self._waiters:
            self.running += 1
            return
        if self.queued >= self.queue_size:
            raise self.busy(f"{self.running} analyses running and {self.queued} waiting")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout_s):
                await waiter
        except BaseException as err:  # timed out or cancelled (client gone, server stopping)
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we gave up: pass it on
            if isinstance(err, TimeoutError):
                raise self.busy(f"no analysis slot freed up within {timeout_s:g} s") from None
            raise

    def release(self, analysis_s: float | None = None) -> None:
        """Free a slot (handing it to the first waiter); ``analysis_s`` feeds the Retry-After estimate."""
        if analysis_s is not None:
            self._recent_s.append(analysis_s)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to it: ``running`` is unchanged
                return
        self.running -= 1
