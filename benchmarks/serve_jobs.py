"""Job throughput of ``laanet serve``: jobs per minute for photos and for a short clip, with 1 and 2 job workers.

A server runs in this process (uvicorn on loopback, :func:`laanet.service.server.serve_in_thread`) with the
given weights (default: the bundled demo weights) and a fresh jobs folder. For each worker count, ``--photos``
photo jobs (the bundled samples, in turn) and then ``--clips`` clip jobs (``clip_obama.mp4``, 3 s, ``--frames``
frames each) are all submitted at once through ``POST /v1/jobs``, then polled one after the other every
0.2 s; the time from the first submission to the last job done gives jobs/min. ``workers=N`` also runs N inference threads (with one thread a second worker
would only wait for it). Each line also gives the median time to get the 202 (upload + queueing) and the
1-minute load average: on a shared machine the figures depend on it.

    .venv/bin/python benchmarks/serve_jobs.py [--weights W] [--backend torch] [--workers 1,2] [--photos 12] [--clips 4]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

POLL_S = 0.2


def run(url: str, files: list[Path], fields: dict[str, str]) -> dict:
    import httpx

    with httpx.Client(base_url=url, timeout=600) as client:
        began = time.perf_counter()
        ids, submit_s = [], []
        for path in files:
            t0 = time.perf_counter()
            ctype = "video/mp4" if path.suffix == ".mp4" else "image/jpeg"
            r = client.post("/v1/jobs", files={"file": (path.name, path.read_bytes(), ctype)}, data=fields)
            r.raise_for_status()
            submit_s.append(time.perf_counter() - t0)
            ids.append(r.json()["id"])
        for job_id in ids:  # one poll at a time, as a client would (a poll storm would slow the server)
            while (body := client.get(f"/v1/jobs/{job_id}").json())["status"] in ("queued", "running"):
                time.sleep(POLL_S)
            if body["status"] != "done":
                raise RuntimeError(f"job {job_id} {body['status']}: {body['error']}")
        wall = time.perf_counter() - began
    return {"jobs": len(ids), "wall_s": round(wall, 2), "jobs_per_min": round(60 * len(ids) / wall, 1),
            "submit_median_s": round(statistics.median(submit_s), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="default: the bundled demo weights")
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8, help="frames per clip job")
    args = parser.parse_args()

    from laanet.assets import sample_images, sample_path
    from laanet.inference.detector import default_weights
    from laanet.inference.options import InferenceOptions
    from laanet.service import ServeSettings, create_app
    from laanet.service.server import serve_in_thread

    weights = Path(args.weights) if args.weights else default_weights()
    photos = [p for p in sample_images() if p.suffix == ".jpg"]
    clip = sample_path("clip_obama.mp4")
    for workers in (int(w) for w in args.workers.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            settings = ServeSettings(
                InferenceOptions(weights=weights, backend=args.backend, device="cpu"),
                jobs_dir=Path(tmp) / "jobs", job_workers=workers, inference_threads=workers, max_concurrency=4,
            )
            with serve_in_thread(create_app(settings)) as url:
                run(url, photos[:1], {"overlays": "false"})  # warm-up
                for kind, files, fields in (
                    ("photo", [photos[i % len(photos)] for i in range(args.photos)], {}),
                    ("clip", [clip] * args.clips, {"frames": str(args.frames)}),
                ):
                    if not files:
                        continue
                    load = os.getloadavg()[0]
                    figures = run(url, files, fields)
                    print(json.dumps({"kind": kind, "workers": workers, "weights": weights.name,
                                      "backend": args.backend, **({"frames": args.frames} if kind == "clip" else {}),
                                      **figures, "load_1min_before": round(load, 1),
                                      "load_1min_after": round(os.getloadavg()[0], 1)}), flush=True)


if __name__ == "__main__":
    main()
