"""Where asynchronous jobs live: a SQLite database (standard library ``sqlite3``, WAL mode) and a folder per job.

Layout of the jobs folder (``ServeSettings.jobs_dir``)::

    jobs.sqlite3            one row per job (schema version in ``PRAGMA user_version``)
    lock                    held (``flock``) by the one server using the folder
    files/<id>/upload.<ext> the uploaded file, until the job finishes
    files/<id>/result.json  the finished result (the same JSON as ``POST /v1/detect`` answers)

A finished result is written to ``result.json.part``, flushed to disk and renamed before the row says
``done``, and the database runs with ``synchronous=FULL``: a crash (even of the machine) after a job is reported
done loses nothing, and a crash between the rename and the row update is repaired on the next start (the job
is marked done from its file). Every method takes the store's lock: the one connection is shared by the event
loop and the inference threads.
"""
from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DB_NAME = "jobs.sqlite3"
LOCK_NAME = "lock"
FILES = "files"
RESULT_NAME = "result.json"
UPLOAD_STEM = "upload"
STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
ID_BYTES = 16  # secrets.token_urlsafe(16): 128 random bits, 22 characters
_ID_RE = re.compile(r"[A-Za-z0-9_-]{22}")
MAX_ATTEMPTS = 2  # a job the server died running twice is failed, not run a third time

_SCHEMA = """
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- queue order
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    filename TEXT NOT NULL,      -- the client's file name, cleaned (display only)
    extension TEXT NOT NULL,     -- picks the decoder; the upload is files/<id>/upload<extension>
    size INTEGER NOT NULL,       -- bytes
    options TEXT NOT NULL,       -- the request's validated options (JSON)
    created_at REAL NOT NULL,    -- UNIX time
    started_at REAL,
    finished_at REAL,
    progress_done INTEGER NOT NULL DEFAULT 0,
    progress_total INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,  -- times the job was started
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,             -- failed / cancelled: the error code (as the API's "error" field)
    error TEXT,                  -- and the reason, for people
    note TEXT                    -- e.g. "resumed after a server restart"
);
CREATE INDEX jobs_status ON jobs (status, seq);
"""


class JobsDirInUse(RuntimeError):
    """Another server already uses this jobs folder."""


@dataclass(frozen=True)
class JobRecord:
    """One row of the ``jobs`` table (times are UNIX seconds)."""

    seq: int
    id: str
    status: str
    filename: str
    extension: str
    size: int
    options: dict[str, Any]
    created_at: float
    started_at: float | None
    finished_at: float | None
    progress_done: int
    progress_total: int | None
    attempts: int
    cancel_requested: bool
    error_code: str | None
    error: str | None
    note: str | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def new_job_id() -> str:
    """An unguessable job id: 128 random bits, URL-safe base64 (22 characters)."""
    return secrets.token_urlsafe(ID_BYTES)


def valid_job_id(job_id: str) -> bool:
    """Whether ``job_id`` has the form of an id this store makes (anything else is answered 404 unseen)."""
    return bool(_ID_RE.fullmatch(job_id))


class JobStore:
    """The jobs database and folder. Open with :meth:`open`; close with :meth:`close`.

    Args:
        root: the jobs folder (created if missing).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.files = self.root / FILES
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._lock_file: Any = None

    # -- opening -------------------------------------------------------------------------------------------

    def open(self) -> JobStore:
        """Create or open the folder and the database; take the folder's lock.

        Raises:
            JobsDirInUse: another server holds the folder's lock.
            RuntimeError: the database was written by a newer laanet (unknown schema version).
            OSError, sqlite3.DatabaseError: the folder or the database cannot be used.
        """
        self.files.mkdir(parents=True, exist_ok=True)
        self._take_folder_lock()
        try:
            db = sqlite3.connect(self.root / DB_NAME, check_same_thread=False, isolation_level=None, timeout=30)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:  # a new database (one transaction: a crash leaves none or all of it)
                db.executescript("BEGIN;" + _SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
            elif version != SCHEMA_VERSION:
                db.close()
                raise RuntimeError(
                    f"{self.root / DB_NAME}: jobs database schema version {version}; this laanet reads version "
                    f"{SCHEMA_VERSION} (use another --jobs-dir, or the laanet that wrote it)"
                )
            self._db = db
        except BaseException:
            self._release_folder_lock()
            raise
        return self

    def _take_folder_lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # not on POSIX: no cross-process guard
            return
        handle = open(self.root / LOCK_NAME, "a+")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise JobsDirInUse(f"jobs folder {self.root} is in use by another laanet server") from None
        self._lock_file = handle

    def _release_folder_lock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the flock
            self._lock_file = None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
        self._release_folder_lock()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the job store is not open")
        return self._db

    # -- paths ---------------------------------------------------------------------------------------------

    def folder(self, job_id: str) -> Path:
        return self.files / job_id

    def upload_path(self, job: JobRecord) -> Path:
        return self.folder(job.id) / f"{UPLOAD_STEM}{job.extension}"

    def result_path(self, job_id: str) -> Path:
        return self.folder(job_id) / RESULT_NAME

    def new_folder(self) -> tuple[str, Path]:
        """A fresh job id and its (new, empty) folder, for the upload to be streamed into."""
        job_id = new_job_id()
        folder = self.folder(job_id)
        folder.mkdir()
        return job_id, folder

    # -- rows ----------------------------------------------------------------------------------------------

    def add(self, job_id: str, *, filename: str, extension: str, size: int, options: dict[str, Any],
            max_unfinished: int | None = None) -> JobRecord | None:
        """Queue a job whose upload is already in its folder; None when ``max_unfinished`` jobs are already
        queued or running (checked and inserted in one transaction)."""
        with self._lock, _transaction(self.db):
            if max_unfinished is not None and self._count_unfinished() >= max_unfinished:
                return None
            self.db.execute(
                "INSERT INTO jobs (id, status, filename, extension, size, options, created_at) "
                "VALUES (?, 'queued', ?, ?, ?, ?, ?)",
                (job_id, filename, extension, size, json.dumps(options), time.time()),
            )
        return self.get(job_id)

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _record(row) if row is not None else None

    def _count_unfinished(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')").fetchone()[0]

    def counts(self) -> dict[str, int]:
        """Jobs per status."""
        with self._lock:
            rows = self.db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {status: 0 for status in STATUSES} | {row[0]: row[1] for row in rows}

    def position(self, job: JobRecord) -> int:
        """Queued jobs ahead of ``job`` (0: it is next)."""
        with self._lock:
            return self.db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND seq < ?", (job.seq,)
            ).fetchone()[0]

    def claim_next(self) -> JobRecord | None:
        """The oldest queued job, now ``running`` (its ``attempts`` counted); None when none is queued."""
        with self._lock, _transaction(self.db):
            row = self.db.execute("SELECT id FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            self.db.execute(
                "UPDATE jobs SET status = 'running', started_at = ?, attempts = attempts + 1, progress_done = 0 "
                "WHERE id = ?", (time.time(), row[0]),
            )
        return self.get(row[0])

    def set_progress(self, job_id: str, done: int, total: int | None) -> None:
        with self._lock:
            self.db.execute("UPDATE jobs SET progress_done = ?, progress_total = ? WHERE id = ?", (done, total, job_id))

    def cancel_queued(self, job_id: str) -> bool:
        """Cancel ``job_id`` if it is still queued (its upload is deleted); whether it was."""
        with self._lock, _transaction(self.db):
            changed = self.db.execute(
                "UPDATE jobs SET status = 'cancelled', finished_at = ?, cancel_requested = 1, error_code = 'cancelled', "
                "error = 'cancelled before it started' WHERE id = ? AND status = 'queued'", (time.time(), job_id),
            ).rowcount
        if changed:
            self._remove_upload(job_id)
        return bool(changed)

    def request_cancel(self, job_id: str) -> bool:
        """Record that the running job ``job_id`` must stop (kept across a restart); whether it is running."""
        with self._lock:
            return bool(self.db.execute(
                "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = 'running'", (job_id,)
            ).rowcount)

    def save_result(self, job_id: str, entry: dict[str, Any]) -> None:
        """Write the result file (flushed and renamed into place), then mark the job ``done``."""
        path = self.result_path(job_id)
        part = path.with_name(path.name + ".part")
        with open(part, "w", encoding="utf-8") as out:
            json.dump(entry, out, allow_nan=False, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, path)
        _fsync_dir(path.parent)
        self.finish(job_id, "done")

    def finish(self, job_id: str, status: str, code: str | None = None, reason: str | None = None) -> None:
        """Mark ``job_id`` finished (``done``, ``failed`` or ``cancelled``); its upload is deleted."""
        if status not in FINISHED:
            raise ValueError(f"not a final status: {status!r}")
        with self._lock:
            self.db.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, error_code = ?, error = ?, "
                "progress_done = CASE WHEN ? = 'done' THEN COALESCE(progress_total, progress_done) ELSE progress_done END "
                "WHERE id = ?", (status, time.time(), code, reason, status, job_id),
            )
        self._remove_upload(job_id)

    def requeue(self, job_id: str, note: str, *, count_attempt: bool) -> None:
        """Put a running job back in the queue (at its old place); ``count_attempt=False``: the interrupted
        run does not count towards :data:`MAX_ATTEMPTS` (a graceful stop, not a crash)."""
        with self._lock:
            self.db.execute(
                "UPDATE jobs SET status = 'queued', started_at = NULL, progress_done = 0, note = ?, "
                "attempts = attempts - ? WHERE id = ? AND status = 'running'",
                (note, 0 if count_attempt else 1, job_id),
            )

    def delete(self, job_id: str) -> bool:
        """Forget a finished job: its row, result and folder; whether it existed and was finished."""
        with self._lock:
            changed = self.db.execute(
                "DELETE FROM jobs WHERE id = ? AND status IN ('done', 'failed', 'cancelled')", (job_id,)
            ).rowcount
        if changed:
            shutil.rmtree(self.folder(job_id), ignore_errors=True)
        return bool(changed)

    def read_result(self, job_id: str) -> dict[str, Any]:
        with open(self.result_path(job_id), encoding="utf-8") as f:
            return json.load(f)

    def _remove_upload(self, job_id: str) -> None:
        for path in self.folder(job_id).glob(f"{UPLOAD_STEM}*"):
            path.unlink(missing_ok=True)

    # -- start-up and retention ----------------------------------------------------------------------------

    def recover(self) -> dict[str, int]:
        """After a (re)start: settle the jobs a previous server left behind. Returns counts per outcome.

        - a ``running`` job whose result file is complete is ``done`` (the server died after writing it);
        - a ``running`` job whose cancellation was asked for is ``cancelled``;
        - a ``running`` job started :data:`MAX_ATTEMPTS` times is ``failed`` (``interrupted``): the server died
          each time it ran it, and the file may be what kills it;
        - other ``running`` jobs are re-queued at their old place, with a note; they run again from the start;
        - a ``queued`` job whose upload is missing is ``failed``; a ``done`` job whose result file is missing
          is ``failed`` (neither should happen unless files are removed by hand);
        - folders without a job (an upload the server died receiving) are deleted.
        """
        outcome = dict.fromkeys(("resumed", "done", "cancelled", "failed", "orphans"), 0)
        for job in self._select("status = 'running'"):
            if self._result_complete(job.id):
                self.finish(job.id, "done")
                outcome["done"] += 1
            elif job.cancel_requested:
                self.finish(job.id, "cancelled", "cancelled", "cancelled while running (the server stopped meanwhile)")
                outcome["cancelled"] += 1
            elif job.attempts >= MAX_ATTEMPTS:
                self.finish(job.id, "failed", "interrupted",
                            f"the server stopped {job.attempts} times while analysing this file; it is not tried again")
                outcome["failed"] += 1
            else:
                self.requeue(job.id, "resumed: the server stopped while this job was running, so it ran again",
                             count_attempt=True)
                outcome["resumed"] += 1
        for job in self._select("status = 'queued'"):
            if not self.upload_path(job).is_file():
                self.finish(job.id, "failed", "internal", "the uploaded file is missing from the jobs folder")
                outcome["failed"] += 1
        for job in self._select("status = 'done'"):
            if not self._result_complete(job.id):
                with self._lock:
                    self.db.execute("UPDATE jobs SET status = 'failed', error_code = 'internal', "
                                    "error = 'the result file is missing from the jobs folder' WHERE id = ?", (job.id,))
                outcome["failed"] += 1
        with self._lock:
            known = {row[0] for row in self.db.execute("SELECT id FROM jobs")}
        for folder in self.files.iterdir():
            if folder.name in known:
                continue
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
            else:
                folder.unlink(missing_ok=True)
            outcome["orphans"] += 1
        return outcome

    def purge(self, max_age_s: float | None, keep: int | None, now: float | None = None) -> list[str]:
        """Delete finished jobs older than ``max_age_s`` (since they finished) and all but the ``keep`` most
        recently finished ones, with their files; the ids deleted."""
        now = time.time() if now is None else now
        clauses, args = [], []
        if max_age_s is not None:
            clauses.append("finished_at < ?")
            args.append(now - max_age_s)
        if keep is not None:
            clauses.append("id NOT IN (SELECT id FROM jobs WHERE status IN ('done', 'failed', 'cancelled') "
                           "ORDER BY finished_at DESC, seq DESC LIMIT ?)")
            args.append(keep)
        if not clauses:
            return []
        with self._lock, _transaction(self.db):
            where = "status IN ('done', 'failed', 'cancelled') AND (" + " OR ".join(clauses) + ")"
            ids = [row[0] for row in self.db.execute(f"SELECT id FROM jobs WHERE {where}", args)]
            self.db.execute(f"DELETE FROM jobs WHERE {where}", args)
        for job_id in ids:
            shutil.rmtree(self.folder(job_id), ignore_errors=True)
        if ids:
            _log.info("purged %d finished job(s)", len(ids))
        return ids

    def _select(self, where: str) -> list[JobRecord]:
        with self._lock:
            return [_record(row) for row in self.db.execute(f"SELECT * FROM jobs WHERE {where} ORDER BY seq")]

    def _result_complete(self, job_id: str) -> bool:
        try:
            self.read_result(job_id)
        except (OSError, ValueError):
            return False
        return True


def _record(row: sqlite3.Row) -> JobRecord:
    values = dict(row)
    values["options"] = json.loads(values["options"])
    values["cancel_requested"] = bool(values["cancel_requested"])
    return JobRecord(**values)


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error); a no-op inside ``executescript``."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
