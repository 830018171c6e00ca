"""``laanet serve``'s asynchronous jobs through the ASGI app (Starlette's TestClient runs the lifespan, so the
job workers run): the lifecycle with the tiny real model, and with a fake detector the tests step frame by
frame: the bounded queue and its ``Retry-After``, cancelling, unknown ids, retention, a graceful stop, and
the store's recovery after a crash. A real server process killed mid-job is in ``test_serve_jobs_process.py``.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from laanet.assets import sample_path
from laanet.inference.options import InferenceOptions
from laanet.inference.results import FaceResult, FileResult, FrameResult
from laanet.schemas import validate
from laanet.service import ServeSettings, create_app
from laanet.service.job_store import MAX_ATTEMPTS, JobsDirInUse, JobStore

CLIP = sample_path("clip_obama.mp4")
PHOTO = sample_path("obama_portrait.jpg")
WAIT_S = 60


class SteppedDetector:
    """Stands in for ``Detector``: one face per frame; a video (a path) has ``frames`` frames, an image one.

    Before each frame after the first it waits for ``gate``; ``frames_seen`` counts the frames it analysed
    (so a test sees where a cancelled job stopped). Calls the progress callback after each frame, as the
    real detector does.
    """

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.frames_seen = 0
        self.calls = 0
        self.model_info = {"weights": "fake.pt", "backend": "fake", "threshold": 0.5}

    def detect(self, source, *, frames: int = 32, on_frames: Callable[[int], None] | None = None, **_):
        self.calls += 1
        video = isinstance(source, Path)
        result = FileResult(path="<upload>", kind="video" if video else "image")
        for i in range(frames if video else 1):
            if i > 0:
                assert self.gate.wait(WAIT_S), "the test never opened the gate"
            self.frames_seen += 1
            face = FaceResult([10.0, 20.0, 60.0, 80.0], 1.5 - 0.5 * i, 0.9)
            result.frames.append(FrameResult(index=i, time_s=i / 25 if video else None, faces=[face]))
            if on_frames is not None:
                on_frames(1)
        return result.finalize()


@contextmanager
def fake_app(tmp_path: Path, detector: SteppedDetector | None = None, **settings) -> Iterator[tuple[TestClient, SteppedDetector]]:
    detector = detector or SteppedDetector()
    settings.setdefault("jobs_dir", tmp_path / "jobs")
    app = create_app(ServeSettings(InferenceOptions(frames=6), self_check=False, upload_dir=tmp_path, **settings),
                     loader=lambda s: detector)
    with TestClient(app) as client:
        try:
            yield client, detector
        except BaseException:
            detector.gate.set()  # a failed test must not leave a job waiting at the gate
            raise


def post_job(client: TestClient, path: Path = CLIP, **fields: str):
    ctype = "video/mp4" if path.suffix == ".mp4" else "image/jpeg"
    return client.post("/v1/jobs", files={"file": (path.name, path.read_bytes(), ctype)}, data=fields)


def wait_job(client, job_id: str, until: Callable[[dict], bool], what: str, *,
             timeout_s: float = WAIT_S, interval_s: float = 0.02) -> dict:
    """Poll ``GET /v1/jobs/ID`` on ``client`` (a TestClient or an httpx.Client) until ``until(body)``."""
    deadline = time.monotonic() + timeout_s
    while True:
        body = client.get(f"/v1/jobs/{job_id}").json()
        if until(body):
            return body
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {body}"
        time.sleep(interval_s)


def finished(body: dict) -> bool:
    return body["status"] in ("done", "failed", "cancelled")


def openapi_validator(document: dict, component: str):
    import jsonschema

    schema = {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


# ---------------------------------------------------------------------------------------------------------
# The lifecycle with the real (tiny) model
# ---------------------------------------------------------------------------------------------------------


def test_job_lifecycle_gives_the_detect_result(tiny_weights, tmp_path):
    jobs_dir = tmp_path / "jobs"
    app = create_app(ServeSettings(InferenceOptions(weights=tiny_weights, frames=4, device="cpu"),
                                   jobs_dir=jobs_dir, upload_dir=tmp_path))
    with TestClient(app) as client:
        submitted = post_job(client, CLIP, frames="3", flip_test="false")
        assert submitted.status_code == 202, submitted.text
        job = submitted.json()
        assert submitted.headers["location"] == f"/v1/jobs/{job['id']}"
        assert len(job["id"]) == 22 and job["status"] in ("queued", "running") and job["result"] is None
        assert job["file"] == {"name": "clip_obama.mp4", "size": CLIP.stat().st_size, "kind": "video"}

        done = wait_job(client, job["id"], finished, "the video job")
        assert done["status"] == "done", done
        assert done["progress"] == {"done": 3, "total": 3, "unit": "frames"}
        assert done["attempts"] == 1 and done["error"] is None and done["finished_at"] >= done["started_at"]
        result = done["result"]
        validate(result, "result")

        # The same answer as POST /v1/detect with the same fields (but for the time stamp).
        direct = client.post("/v1/detect", files={"file": (CLIP.name, CLIP.read_bytes(), "video/mp4")},
                             data={"frames": "3", "flip_test": "false"}).json()
        undated = [{**entry, "provenance": {k: v for k, v in entry["provenance"].items() if k != "created"}}
                   for entry in (result, direct)]
        assert undated[0] == undated[1]
        assert len(result["frames"]) == 3 and result["frames"][0]["overlay"].startswith("data:image/jpeg;base64,")

        # On disk: the result file; the upload is gone once the job finished.
        folder = jobs_dir / "files" / job["id"]
        assert sorted(p.name for p in folder.iterdir()) == ["result.json"]
        assert json.loads((folder / "result.json").read_text())["score"] == result["score"]

        # An image job, and the OpenAPI document describes the job answers (which validate against it).
        image = wait_job(client, post_job(client, PHOTO).json()["id"], finished, "the image job")
        assert image["status"] == "done" and image["result"]["kind"] == "image"
        assert image["progress"] == {"done": 1, "total": 1, "unit": "frames"}
        document = client.get("/openapi.json").json()
        assert set(document["paths"]["/v1/jobs"]) == {"post"}
        assert set(document["paths"]["/v1/jobs/{job_id}"]) == {"get", "delete"}
        post = document["paths"]["/v1/jobs"]["post"]
        assert "Location" in post["responses"]["202"]["headers"] and "Retry-After" in post["responses"]["503"]["headers"]
        fields = post["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
        assert {"file", "frames", "flip_test", "threshold", "overlays", "heatmaps"} == set(fields)
        assert "404" in document["paths"]["/v1/jobs/{job_id}"]["get"]["responses"]
        validator = openapi_validator(document, "Job")
        for body in (job, done, image):
            validator.validate(body)
        assert not validator.is_valid({**done, "status": "finished"})
        assert not validator.is_valid({**done, "result": {**result, "score": "high"}})  # the result is checked too
        assert client.get("/health").json()["jobs"] == {"queued": 0, "running": 0, "max_jobs": 64, "workers": 1}


def test_a_finished_job_has_an_html_report_and_an_unfinished_one_a_409(tmp_path):
    """GET /v1/jobs/ID/report: the laanet report of the job's result (its verdict, the file's name escaped, the
    overlay inline, a locked-down CSP); 409 while queued or running, 404 for an unknown id."""
    with fake_app(tmp_path) as (client, detector):
        detector.gate.clear()  # the video job waits after its first frame
        name = "clip<b>&i.mp4"
        job = client.post("/v1/jobs", files={"file": (name, CLIP.read_bytes(), "video/mp4")}).json()
        wait_job(client, job["id"], lambda b: b["status"] == "running", "the job to start")
        early = client.get(f"/v1/jobs/{job['id']}/report")
        assert early.status_code == 409 and early.json()["error"] == "not_done" and "retry" in early.json()["detail"]
        detector.gate.set()
        done = wait_job(client, job["id"], finished, "the video job")
        assert done["status"] == "done", done

        report = client.get(f"/v1/jobs/{job['id']}/report")
        assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
        assert report.headers["content-security-policy"] == "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
        html = report.text
        assert done["file"]["name"] == name  # the cleaned name keeps these characters
        assert "<h1>laanet report: clip&lt;b&gt;&amp;i.mp4</h1>" in html and "<b>&i" not in html
        verdict = {"fake": "Fake", "real": "Real"}[done["result"]["label"]]
        assert verdict in html and "<script" not in html.lower()
        assert client.get(f"/v1/jobs/{secrets.token_urlsafe(16)}/report").status_code == 404
        document = client.get("/openapi.json").json()
        assert {"200", "404", "409", "500"} <= set(document["paths"]["/v1/jobs/{job_id}/report"]["get"]["responses"])


def test_a_bad_upload_fails_the_job_with_the_detect_error(tmp_path):
    with fake_app(tmp_path) as (client, _):
        broken = tmp_path / "broken.mp4"
        broken.write_bytes(b"\x00\x01 not a video " * 100)
        body = wait_job(client, post_job(client, broken).json()["id"], finished, "the broken video")
        assert body["status"] == "failed" and body["result"] is None
        assert body["error"]["error"] in ("unsupported_media", "undecodable"), body
        assert str(tmp_path) not in json.dumps(body)  # no server path in the message
        # Bad form fields and types are refused at once, as /v1/detect does, and leave no job folder behind.
        assert post_job(client, PHOTO, frames="0").status_code == 422
        assert client.post("/v1/jobs", files={"file": ("a.txt", b"x", "text/plain")}).status_code == 415
        assert len(list((tmp_path / "jobs" / "files").iterdir())) == 1


# ---------------------------------------------------------------------------------------------------------
# Queue, cancel, ids, retention, stop
# ---------------------------------------------------------------------------------------------------------


def test_a_full_queue_answers_503_with_retry_after(tmp_path):
    with fake_app(tmp_path, max_jobs=2) as (client, detector):
        detector.gate.clear()  # the first job stops after its first frame
        first = post_job(client).json()
        wait_job(client, first["id"], lambda b: b["progress"]["done"] == 1, "the first frame")
        second = post_job(client).json()
        assert client.get(f"/v1/jobs/{second['id']}").json()["position"] == 0
        refused = post_job(client)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == "busy" and "job queue is full" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) >= 1
        assert len(list((tmp_path / "jobs" / "files").iterdir())) == 2  # nothing kept of the refused upload
        early = client.post("/v1/jobs", content=b"not even multipart", headers={"content-type": "text/plain"})
        assert early.status_code == 503  # refused before the body is read (else: 400)
        detector.gate.set()
        for job in (first, second):
            assert wait_job(client, job["id"], finished, "the queued jobs")["status"] == "done"
        assert post_job(client).status_code == 202  # room again


def test_cancel_a_queued_and_a_running_job_and_delete_a_finished_one(tmp_path):
    with fake_app(tmp_path) as (client, detector):
        detector.gate.clear()
        running = post_job(client).json()
        wait_job(client, running["id"], lambda b: b["progress"] == {"done": 1, "total": 6, "unit": "frames"},
                 "the running job's first frame")
        queued = post_job(client).json()
        files = tmp_path / "jobs" / "files"

        gone = client.delete(f"/v1/jobs/{queued['id']}")
        assert gone.status_code == 200 and gone.json()["status"] == "cancelled"
        assert list((files / queued["id"]).iterdir()) == []  # its upload is deleted
        assert client.get(f"/v1/jobs/{queued['id']}").json()["error"]["error"] == "cancelled"

        stopping = client.delete(f"/v1/jobs/{running['id']}")
        assert stopping.status_code == 202, stopping.text
        assert stopping.json()["status"] == "running" and stopping.json()["cancel_requested"] is True
        detector.gate.set()
        body = wait_job(client, running["id"], finished, "the cancelled job")
        assert body["status"] == "cancelled" and body["result"] is None
        assert body["progress"]["done"] == 1 and "after 1 of 6 frames" in body["error"]["detail"]
        assert detector.frames_seen == 2  # it stopped at the progress callback after the second frame
        assert detector.calls == 1  # the cancelled queued job never ran

        deleted = client.delete(f"/v1/jobs/{running['id']}")
        assert deleted.status_code == 200 and deleted.json() == {"id": running["id"], "status": "cancelled", "deleted": True}
        assert client.get(f"/v1/jobs/{running['id']}").status_code == 404
        assert not (files / running["id"]).exists()


@pytest.mark.parametrize("job_id", [
    secrets.token_urlsafe(16),  # well-formed, never issued
    "x" * 22, "a" * 500, "..%2F..%2Fjobs.sqlite3", "' OR '1'='1", "%00",
])
def test_unknown_or_guessed_ids_are_404_and_nothing_lists_jobs(tmp_path, job_id):
    with fake_app(tmp_path) as (client, _):
        mine = wait_job(client, post_job(client, PHOTO).json()["id"], finished, "a job")
        near = [mine["id"][:8], mine["id"][:-1] + ("A" if mine["id"][-1] != "A" else "B"), mine["id"].swapcase()]
        for guess in (job_id, *near):  # also a prefix, one character off, another case: exact ids only
            for method in (client.get, client.delete):
                r = method(f"/v1/jobs/{guess}")
                assert r.status_code == 404 and r.json()["error"] == "not_found", (guess, r.text)
        assert mine["id"] not in client.get("/v1/jobs").text  # no listing (405: only POST there)
        assert client.get("/v1/jobs").status_code == 405
        assert mine["id"] not in client.get("/health").text
        assert client.get(f"/v1/jobs/{mine['id']}").status_code == 200


def test_retention_purges_finished_jobs_by_count_and_age(tmp_path):
    with fake_app(tmp_path, job_keep=1) as (client, _):
        first = wait_job(client, post_job(client, PHOTO).json()["id"], finished, "job 1")
        second = wait_job(client, post_job(client, PHOTO).json()["id"], finished, "job 2")
        deadline = time.monotonic() + WAIT_S
        while client.get(f"/v1/jobs/{first['id']}").status_code != 404:  # purged after the second finished
            assert time.monotonic() < deadline, "the older job was not purged"
            time.sleep(0.02)
        assert client.get(f"/v1/jobs/{second['id']}").status_code == 200
        assert [p.name for p in (tmp_path / "jobs" / "files").iterdir()] == [second["id"]]

    store = JobStore(tmp_path / "store").open()
    try:
        ids = []
        for _ in range(4):
            job_id, folder = store.new_folder()
            (folder / "upload.jpg").write_bytes(b"x")
            store.add(job_id, filename="a.jpg", extension=".jpg", size=1, options={})
            ids.append(job_id)
        store.claim_next()
        store.finish(ids[0], "done")
        store.finish(ids[1], "failed", "undecodable", "bad")
        now = time.time()
        assert store.purge(max_age_s=3600, keep=None, now=now) == []
        assert sorted(store.purge(max_age_s=3600, keep=None, now=now + 7200)) == sorted(ids[:2])
        assert not (store.folder(ids[0])).exists() and store.get(ids[1]) is None
        assert store.get(ids[2]).status == "queued" and store.get(ids[3]).status == "queued"  # unfinished: kept
        assert store.purge(max_age_s=None, keep=0, now=now) == []
    finally:
        store.close()


def test_the_store_refuses_a_job_beyond_the_bound_in_the_same_transaction(tmp_path):
    """Two uploads that both passed the check before their body was read: the second one to finish is refused
    when it is added (the count and the insert are one transaction)."""
    store = JobStore(tmp_path).open()
    try:
        first, second = store.new_folder()[0], store.new_folder()[0]
        assert store.add(first, filename="a.jpg", extension=".jpg", size=1, options={}, max_unfinished=1) is not None
        assert store.add(second, filename="b.jpg", extension=".jpg", size=1, options={}, max_unfinished=1) is None
        assert store.get(second) is None and store.counts()["queued"] == 1
        store.finish(first, "done")
        assert store.add(second, filename="b.jpg", extension=".jpg", size=1, options={}, max_unfinished=1) is not None
    finally:
        store.close()


def test_a_graceful_stop_requeues_the_running_job_which_the_next_server_finishes(tmp_path):
    detector = SteppedDetector()
    with fake_app(tmp_path, detector) as (client, _):
        detector.gate.clear()
        job = post_job(client).json()
        wait_job(client, job["id"], lambda b: b["progress"]["done"] == 1, "the first frame")
        threading.Timer(0.5, detector.gate.set).start()  # lets it reach its next progress point during shutdown
    store = JobStore(tmp_path / "jobs").open()
    try:
        record = store.get(job["id"])
        assert record.status == "queued" and record.attempts == 0 and "stopped" in record.note
    finally:
        store.close()
    with fake_app(tmp_path) as (client, _):
        body = wait_job(client, job["id"], finished, "the resumed job")
        assert body["status"] == "done" and body["attempts"] == 1 and body["progress"]["done"] == 6
        assert "resumed" in body["note"]


# ---------------------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------------------


def _queue(store: JobStore, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        job_id, folder = store.new_folder()
        (folder / "upload.mp4").write_bytes(b"video")
        store.add(job_id, filename="c.mp4", extension=".mp4", size=5, options={"frames": 2})
        ids.append(job_id)
    return ids


def test_recovery_after_a_crash_settles_every_left_job(tmp_path):
    store = JobStore(tmp_path).open()
    ids = _queue(store, 6)
    for _ in range(4):
        store.claim_next()  # ids[0..3] running, as when the server was killed
    with store._lock:  # ids[1] was started MAX_ATTEMPTS times (it killed the server before)
        store.db.execute("UPDATE jobs SET attempts = ? WHERE id = ?", (MAX_ATTEMPTS, ids[1]))
    store.request_cancel(ids[2])
    store.result_path(ids[3]).write_text(json.dumps({"score": 0.25}))  # died after writing, before the update
    (store.folder(ids[5]) / "upload.mp4").unlink()
    (store.files / "orphan").mkdir()  # an upload the server died receiving
    store.close()  # (a crash leaves the same rows: every change above is committed)

    store = JobStore(tmp_path).open()
    try:
        outcome = store.recover()
        assert outcome == {"resumed": 1, "done": 1, "cancelled": 1, "failed": 2, "orphans": 1}
        resumed = store.get(ids[0])
        assert resumed.status == "queued" and resumed.attempts == 1 and "resumed" in resumed.note
        assert store.upload_path(resumed).is_file()
        poison = store.get(ids[1])
        assert poison.status == "failed" and poison.error_code == "interrupted" and "2 times" in poison.error
        assert store.get(ids[2]).status == "cancelled"
        assert store.get(ids[3]).status == "done" and store.read_result(ids[3]) == {"score": 0.25}
        assert store.get(ids[4]).status == "queued" and store.get(ids[4]).attempts == 0
        assert store.get(ids[5]).status == "failed" and "missing" in store.get(ids[5]).error
        assert not (store.files / "orphan").exists()
        assert store.claim_next().id == ids[0]  # the resumed job keeps its place at the head of the queue
    finally:
        store.close()


def test_a_jobs_folder_is_used_by_one_server_and_a_newer_schema_is_refused(tmp_path):
    store = JobStore(tmp_path).open()
    with pytest.raises(JobsDirInUse, match="in use"):
        JobStore(tmp_path).open()
    store.close()
    other = JobStore(tmp_path).open()  # free again
    with other._lock:
        other.db.execute("PRAGMA user_version = 99")
    other.close()
    with pytest.raises(RuntimeError, match="schema version 99"):
        JobStore(tmp_path).open()
    assert JobStore(tmp_path)._lock_file is None  # a refused open keeps no lock


# ---------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------


def test_job_retention_durations():
    from laanet.cli.serve import parse_duration

    assert parse_duration("3600") == 3600.0 and parse_duration("90m") == 5400.0
    assert parse_duration("24h") == 86400.0 and parse_duration("7d") == 7 * 86400.0
    assert parse_duration("forever") is None
    for bad in ("", "soon", "0", "-1h", "inf", "5w"):
        with pytest.raises(ValueError, match="job-retention"):
            parse_duration(bad)


def test_cli_refuses_a_bad_retention_and_a_jobs_folder_in_use(tiny_weights, tmp_path):
    from typer.testing import CliRunner

    from laanet.cli import app

    result = CliRunner().invoke(app, ["serve", "--weights", str(tiny_weights), "--job-retention", "soon"])
    assert result.exit_code == 2 and "--job-retention" in result.output
    holder = JobStore(tmp_path / "jobs").open()  # another server's folder
    try:
        result = CliRunner().invoke(app, ["serve", "--weights", str(tiny_weights), "--device", "cpu", "--port", "0",
                                          "--jobs-dir", str(tmp_path / "jobs")])
    finally:
        holder.close()
    assert result.exit_code == 2, result.output
    assert "cannot open the jobs folder" in result.output and "in use by another laanet server" in result.output
    assert "Traceback" not in result.output
