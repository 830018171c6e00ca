"""Jobs survive the server: a real ``laanet serve`` process (tiny weights) is killed with SIGKILL in the middle
of a job and restarted on the same ``--jobs-dir``. The finished result is still there, byte for byte; the
interrupted job runs again (its second attempt, with a note saying so) and the job queued behind it runs too.
"""
from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from test_serve_jobs import finished, wait_job

from laanet.assets import sample_path

CLIP = sample_path("clip_obama.mp4")  # 75 frames; 30 of them take long enough to be killed in the middle of
PHOTO = sample_path("grace_hopper.jpg")
START_S = 180
WAIT_S = 180

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(weights: Path, jobs_dir: Path, log: Path) -> tuple[subprocess.Popen, httpx.Client]:
    port = _free_port()
    out = open(log, "ab")  # a file, not a pipe: the access log of the polling would fill a pipe
    proc = subprocess.Popen(
        [sys.executable, "-m", "laanet", "serve", "--weights", str(weights), "--port", str(port), "--device", "cpu",
         "--frames", "2", "--jobs-dir", str(jobs_dir), "--job-workers", "1"],
        stdout=out, stderr=subprocess.STDOUT, cwd=jobs_dir.parent,
    )
    out.close()
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    deadline = time.monotonic() + START_S
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if client.get("/health").status_code == 200:
                return proc, client
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "laanet serve did not start:\n" + log.read_text()
        time.sleep(0.2)


def post(client: httpx.Client, path: Path, **fields: str) -> str:
    ctype = "video/mp4" if path.suffix == ".mp4" else "image/jpeg"
    r = client.post("/v1/jobs", files={"file": (path.name, path.read_bytes(), ctype)}, data=fields)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def wait(client: httpx.Client, job_id: str, until: Callable[[dict], bool], what: str) -> dict:
    return wait_job(client, job_id, until, what, timeout_s=WAIT_S, interval_s=0.05)


def test_sigkill_mid_job_then_restart_keeps_results_and_resumes_the_job(tiny_weights, tmp_path):
    jobs_dir, log = tmp_path / "jobs", tmp_path / "serve.log"
    proc, client = start_server(tiny_weights, jobs_dir, log)
    try:
        photo = wait(client, post(client, PHOTO), finished, "the photo job")
        assert photo["status"] == "done"
        video = post(client, CLIP, frames="30")
        queued = post(client, PHOTO, overlays="false")
        running = wait(client, video, lambda b: b["status"] == "running" and b["progress"]["done"] >= 1,
                       "the video job to start")
        assert running["progress"]["total"] == 30
        proc.send_signal(signal.SIGKILL)  # no shutdown code runs
        proc.wait(timeout=30)
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    # What the killed server left: the video job still "running" (it was killed mid-job), the next one queued.
    with sqlite3.connect(jobs_dir / "jobs.sqlite3") as db:
        left = dict(db.execute("SELECT id, status FROM jobs").fetchall())
    assert left == {photo["id"]: "done", video: "running", queued: "queued"}

    proc, client = start_server(tiny_weights, jobs_dir, log)
    try:
        again = client.get(f"/v1/jobs/{photo['id']}").json()
        assert again == photo  # the finished result, exactly as it was answered before the crash
        resumed = wait(client, video, finished, "the resumed video job")
        assert resumed["status"] == "done", resumed
        assert resumed["attempts"] == 2 and "resumed" in resumed["note"]
        assert resumed["progress"] == {"done": 30, "total": 30, "unit": "frames"}
        assert len(resumed["result"]["frames"]) == 30 and resumed["result"]["kind"] == "video"
        after = wait(client, queued, finished, "the job queued behind it")
        assert after["status"] == "done" and after["attempts"] == 1
        assert os.listdir(jobs_dir / "files" / video) == ["result.json"]  # the upload is gone once done
    finally:
        client.close()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert "Traceback" not in log.read_text()
