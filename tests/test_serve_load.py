"""``laanet serve`` under load and failure, with fake detectors whose speed and health the tests control:
slow (trickling) uploads, the analysis queue and its 503s, the event loop kept free, and the health monitor.

Each test starts its own server (a fake detector loads at once), on loopback, with short timeouts.
"""
from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from laanet.assets import sample_path
from laanet.inference.results import FaceResult, FileResult, FrameResult
from laanet.service import ServeSettings, create_app
from laanet.service.server import serve_in_thread

INFER_THREAD = "laanet-infer_0"


class FakeDetector:
    """Stands in for ``Detector``: answers one face with logit ``logit`` once ``gate`` is open.

    Records the shape of every input (the start-up self-check's probe first) and the thread it ran on.
    """

    def __init__(self, logit: float = 2.0) -> None:
        self.frames, self.flip_test, self.threshold = 32, True, 0.5
        self.logit = logit
        self.gate = threading.Event()
        self.gate.set()
        self.running = threading.Event()  # set while a detection waits at the gate
        self.waiting = 0  # detections waiting at the gate now
        self._lock = threading.Lock()
        self.shapes: list[tuple[int, ...]] = []
        self.threads: list[str] = []
        self.broken: str | None = None  # an error message: every call raises it
        self.model_info = {
            "weights": "/secret/dir/fake.pt", "path": "/secret/dir/fake.pt", "backend": "fake", "threshold": 0.5,
            "trained_with": "laanet train --data /secret/data",
        }

    def detect(self, source, **options):
        self.shapes.append(tuple(getattr(source, "shape", ())))
        self.threads.append(threading.current_thread().name)
        if self.broken:
            raise RuntimeError(self.broken)
        with self._lock:
            self.waiting += 1
        self.running.set()
        assert self.gate.wait(30), "the test never opened the gate"
        with self._lock:
            self.waiting -= 1
        self.running.clear()
        result = FileResult(path="<array>", kind="image")
        result.frames.append(FrameResult(index=0, time_s=None, faces=[FaceResult([1, 2, 30, 40], self.logit, 0.9)]))
        return result.finalize()


@contextmanager
def fake_server(
    tmp_path: Path, detector: FakeDetector | None = None, loader: Callable | None = None, **settings
) -> Iterator[tuple[object, str, FakeDetector]]:
    """(app, base URL, the detector in use) of a server whose loader returns ``detector`` (or calls ``loader``)."""
    detector = detector or FakeDetector()
    upload_dir = tmp_path / "uploads"
    upload_dir.mkdir(exist_ok=True)
    app = create_app(ServeSettings(upload_dir=upload_dir, **settings),
                     loader=loader or (lambda s: detector))
    with serve_in_thread(app) as url:
        yield app, url, app.state.detector
    assert list(upload_dir.iterdir()) == []  # every request's temporary folder is gone


def jpeg(name: str = "obama_portrait.jpg") -> bytes:
    return sample_path(name).read_bytes()


def post_image(url: str, name: str = "obama_portrait.jpg", timeout: float = 30) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=timeout) as c:
        return c.post("/v1/detect", files={"file": (name, jpeg(name), "image/jpeg")}, data={"overlays": "0"})


def in_thread(fn: Callable, *args) -> tuple[threading.Thread, dict]:
    out: dict = {}
    thread = threading.Thread(target=lambda: out.setdefault("value", fn(*args)), daemon=True)
    thread.start()
    return thread, out


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def health(url: str) -> httpx.Response:
    return httpx.get(f"{url}/health", timeout=30)


class Trickler:
    """A raw-socket client that sends a detect request's headers, then its body one byte every ``period_s``."""

    def __init__(self, url: str, period_s: float = 0.1) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.period_s, self.stop = period_s, threading.Event()
        head = (b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="slow.jpg"\r\n'
                b"Content-Type: image/jpeg\r\n\r\n")
        self.body = head + jpeg() + b"\r\n--XyZ--\r\n"
        self.sock.sendall(
            b"POST /v1/detect HTTP/1.1\r\nHost: test\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
            b"Content-Length: %d\r\n\r\n" % len(self.body)
        )
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        for i in range(len(self.body)):
            if self.stop.wait(self.period_s):
                return
            try:
                self.sock.sendall(self.body[i : i + 1])
            except OSError:  # the server closed the connection
                return

    def has_answer(self) -> bool:
        self.sock.setblocking(False)
        try:
            return bool(self.sock.recv(1, socket.MSG_PEEK))
        except BlockingIOError:
            return False
        finally:
            self.sock.setblocking(True)

    def read_all(self) -> bytes:
        data = b""
        try:
            while more := self.sock.recv(65536):
                data += more
        except ConnectionResetError:  # our trickle hit the closed socket: the answer was read before
            pass
        return data

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


# ---------------------------------------------------------------------------------------------------------
# Slow uploads
# ---------------------------------------------------------------------------------------------------------


def test_trickling_uploads_hold_no_analysis_slot(tmp_path):
    """Four clients sending a byte every 0.1 s used to hold every slot (every other request got 503). Now they
    only hold upload places: a normal request is analysed at once while they are still sending."""
    with fake_server(tmp_path, max_concurrency=1, queue_size=0, upload_timeout_s=60) as (app, url, fake):
        tricklers = [Trickler(url) for _ in range(4)]
        try:
            wait_for(lambda: health(url).json()["uploading"] == 4, "4 uploads in progress")
            state = health(url).json()
            assert state["in_progress"] == 0 and state["queued"] == 0
            r = post_image(url)
            assert r.status_code == 200, r.text
            assert r.json()["score"] == pytest.approx(1 / (1 + math.exp(-2.0)), abs=1e-6)
            # The answer did not wait for the trickling uploads: they are all still sending, unanswered.
            assert not any(t.has_answer() for t in tricklers)
            assert health(url).json()["uploading"] == 4
        finally:
            for t in tricklers:
                t.close()
        wait_for(lambda: health(url).json()["uploading"] == 0, "closed uploads to be dropped")


def test_an_upload_that_does_not_arrive_in_time_gets_408_and_is_closed(tmp_path):
    with fake_server(tmp_path, upload_timeout_s=1.0) as (app, url, fake):
        trickler = Trickler(url, period_s=0.05)
        try:
            reply = trickler.read_all()  # the server answers, then closes the connection
        finally:
            trickler.close()
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert b'"upload_timeout"' in reply and b"connection: close" in reply.lower()
        assert len(fake.shapes) == 1  # the start-up self-check only: the partial upload never reached the model
        assert post_image(url).status_code == 200


# ---------------------------------------------------------------------------------------------------------
# Analysis slots and the queue
# ---------------------------------------------------------------------------------------------------------


def test_inference_runs_off_the_event_loop_on_one_thread(tmp_path):
    with fake_server(tmp_path) as (app, url, fake):
        fake.gate.clear()
        slow, out = in_thread(post_image, url)
        assert fake.running.wait(20)
        t0 = time.perf_counter()
        state = health(url)
        health_s = time.perf_counter() - t0
        fake.gate.set()
        slow.join(30)
    assert state.status_code == 200 and state.json()["in_progress"] == 1
    assert health_s < 5.0  # answered while the detector was busy: inference is not on the event loop
    assert out["value"].status_code == 200 and out["value"].json()["path"] == "obama_portrait.jpg"
    assert set(fake.threads) == {INFER_THREAD}  # the self-check and every detection on the one thread


def test_inference_threads_share_the_detector(tmp_path):
    with fake_server(tmp_path, max_concurrency=2, inference_threads=2) as (app, url, fake):
        fake.gate.clear()
        requests = [in_thread(post_image, url) for _ in range(2)]
        wait_for(lambda: fake.waiting == 2, "both requests to run at once")
        assert health(url).json()["in_progress"] == 2
        fake.gate.set()
        for thread, _ in requests:
            thread.join(30)
    assert [out["value"].status_code for _, out in requests] == [200, 200]
    assert set(fake.threads[1:]) == {"laanet-infer_0", "laanet-infer_1"}  # after the self-check


def test_requests_queue_in_order_then_503_with_retry_after(tmp_path):
    """1 slot + a queue of 2: three requests are accepted and run in arrival order; the fourth gets 503."""
    names = ["obama_portrait.jpg", "grace_hopper.jpg", "astronaut.jpg"]
    with fake_server(tmp_path, max_concurrency=1, queue_size=2) as (app, url, fake):
        fake.gate.clear()
        first, out0 = in_thread(post_image, url, names[0])
        assert fake.running.wait(20)
        second, out1 = in_thread(post_image, url, names[1])
        wait_for(lambda: health(url).json()["queued"] == 1, "the second request to queue")
        third, out2 = in_thread(post_image, url, names[2])
        wait_for(lambda: health(url).json()["queued"] == 2, "the third request to queue")

        refused = post_image(url, "biden_blue_room.jpg")
        assert refused.status_code == 503 and refused.json()["error"] == "busy"
        assert int(refused.headers["retry-after"]) >= 1
        fake.gate.set()
        for thread in (first, second, third):
            thread.join(30)
    assert [out["value"].status_code for out in (out0, out1, out2)] == [200, 200, 200]
    from laanet.media import read_image

    expected = [read_image(sample_path(n)).shape for n in names]
    assert fake.shapes[1:] == expected  # after the self-check's probe: first come, first served


def test_a_request_waits_at_most_queue_timeout(tmp_path):
    with fake_server(tmp_path, max_concurrency=1, queue_size=4, queue_timeout_s=0.5) as (app, url, fake):
        fake.gate.clear()
        first, out = in_thread(post_image, url)
        assert fake.running.wait(20)
        late = post_image(url)
        assert late.status_code == 503 and "0.5 s" in late.json()["detail"] and late.headers["retry-after"]
        assert health(url).json()["queued"] == 0  # the timed-out request left the queue
        fake.gate.set()
        first.join(30)
        assert out["value"].status_code == 200
        assert post_image(url).status_code == 200  # its slot was freed


def test_a_client_that_leaves_the_queue_is_not_analysed(tmp_path):
    with fake_server(tmp_path, max_concurrency=1, queue_size=4) as (app, url, fake):
        fake.gate.clear()
        first, out = in_thread(post_image, url)
        assert fake.running.wait(20)
        with pytest.raises(httpx.ReadTimeout):  # the client gives up while queued and closes its connection
            post_image(url, "grace_hopper.jpg", timeout=1.5)
        wait_for(lambda: health(url).json()["queued"] == 0, "the server to drop the request of the gone client")
        fake.gate.set()
        first.join(30)
        assert out["value"].status_code == 200
        assert post_image(url, "astronaut.jpg").status_code == 200
    assert len(fake.shapes) == 3  # the self-check, the first request and the last: never the one that left


def test_eight_clients_on_two_slots_are_all_served(tmp_path):
    """The issue's scenario (8 clients, few slots) used to give 46 of 50 requests a 503: with a queue none do."""
    with fake_server(tmp_path, max_concurrency=2, queue_size=8) as (app, url, fake):
        def client() -> list[int]:
            return [post_image(url).status_code for _ in range(3)]

        threads = [in_thread(client) for _ in range(8)]
        for thread, _ in threads:
            thread.join(60)
    assert [code for _, out in threads for code in out["value"]] == [200] * 24


def test_images_over_max_pixels_get_413_before_decoding(tmp_path):
    with fake_server(tmp_path, max_pixels=400_000) as (app, url, fake):
        r = post_image(url)  # 640x800 = 512,000 px
        assert r.status_code == 413 and r.json()["error"] == "too_many_pixels" and "obama_portrait.jpg" in r.json()["detail"]
        assert post_image(url, "grace_hopper.jpg").status_code == 200  # 512x600 = 307,200 px
    assert len(fake.shapes) == 2  # the self-check and grace_hopper.jpg: the big one never reached the model


# ---------------------------------------------------------------------------------------------------------
# Health
# ---------------------------------------------------------------------------------------------------------


def test_health_hides_paths_and_the_training_command(tmp_path):
    with fake_server(tmp_path) as (app, url, fake):
        r = health(url)
    assert r.status_code == 200 and r.json()["model"] == {"weights": "fake.pt", "backend": "fake", "threshold": 0.5}
    assert "/secret" not in r.text and "laanet train" not in r.text


def test_a_crash_on_one_input_is_a_500_and_the_model_stays_in_use(tmp_path):
    """The self-check after the failure passes: the failure was the input's, no reload."""
    loads = []

    class CrashOnce(FakeDetector):
        def detect(self, source, **options):
            if getattr(source, "shape", (0,))[0] == 800:  # the 640x800 portrait only
                raise ValueError("cannot handle /secret/tmp/laanet-upload-x/upload.jpg")
            return super().detect(source)

    def loader(settings):
        loads.append(CrashOnce())
        return loads[-1]

    with fake_server(tmp_path, loader=loader) as (app, url, _):
        r = post_image(url)
        assert r.status_code == 500
        assert r.json() == {"error": "internal", "detail": "internal server error (see the server log)"}
        body = health(url).json()
        assert body["status"] == "ok" and body["failed_requests"] == 1 and body["reloads"] == 0
        assert body["last_failure"]["detail"] == "ValueError: cannot handle upload.jpg"  # no server path
        assert post_image(url, "grace_hopper.jpg").status_code == 200
    assert len(loads) == 1


def test_a_detector_broken_for_good_makes_health_503_and_requests_503(tmp_path):
    """The model starts giving NaN (as all-NaN weights did): the request gets 500, the self-check fails, the
    reload gives a broken model again: /health says so (503) and requests get 503, not a 500 each."""
    detectors = [FakeDetector(), FakeDetector(logit=float("nan"))]
    with fake_server(tmp_path, loader=lambda s: detectors.pop(0)) as (app, url, fake):
        fake.logit = float("nan")
        r = post_image(url)
        assert r.status_code == 500
        state = health(url)
        assert state.status_code == 503 and state.json()["status"] == "error"
        assert "non-finite" in state.json()["problem"] and state.json()["reloads"] == 0
        refused = post_image(url)
        assert refused.status_code == 503 and refused.json()["error"] == "model_unavailable"
        assert "non-finite" in refused.json()["detail"] and int(refused.headers["retry-after"]) >= 1


def test_a_detector_that_recovers_when_reloaded(tmp_path):
    detectors = [FakeDetector(), FakeDetector()]
    loads = list(detectors)
    with fake_server(tmp_path, loader=lambda s: loads.pop(0)) as (app, url, fake):
        fake.broken = "face graph failed"
        assert post_image(url).status_code == 500
        body = health(url).json()
        assert body["status"] == "ok" and body["reloads"] == 1 and "face graph failed" in body["last_failure"]["detail"]
        assert post_image(url).status_code == 200
        assert app.state.detector is detectors[1] and len(detectors[1].shapes) == 2  # its self-check + the request


def test_startup_refuses_a_detector_that_fails_its_self_check(tmp_path):
    bad = FakeDetector(logit=float("nan"))
    app = create_app(ServeSettings(upload_dir=tmp_path), loader=lambda s: bad)
    with pytest.raises(RuntimeError, match="non-finite"):
        with serve_in_thread(app):
            pass
    assert "non-finite" in app.state.startup_error


def test_health_runs_the_self_check_periodically(tmp_path):
    with fake_server(tmp_path, health_check_interval_s=0.2) as (app, url, fake):
        time.sleep(0.3)
        fake.broken = "the face detector stopped working"
        health(url)  # starts a check in the background (it does not wait for it)
        wait_for(lambda: health(url).status_code == 503, "/health to notice the broken detector")
        assert "stopped working" in health(url).json()["problem"]
