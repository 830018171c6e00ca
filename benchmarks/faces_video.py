"""Face pipeline benchmark: decode + detect + landmarks + crop on a 720p H.264 clip made here with PyAV.

    python benchmarks/faces_video.py                 # the video benchmark (both backends)
    python benchmarks/faces_video.py --backends      # + backend comparison on the bundled photos
    python benchmarks/faces_video.py --fit-mapping   # + refit the FaceMesh → iBUG table (docs/faces.md)

Everything it needs ships with laanet (sample photos) or is generated; nothing is downloaded. Numbers are
wall-clock medians over ``--repeats`` runs, in one process, on whatever CPU this runs on.
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from laanet.assets import sample_images, sample_path
from laanet.faces import BACKENDS, FaceAnalyzer, crop_face, inter_ocular_distance
from laanet.media import pan_zoom_frames, probe_video, read_image, sample_video_frames, write_video


def make_clip(path: Path, seconds: float = 10.0, fps: int = 25) -> Path:
    """A 1280×720 H.264 clip: slow pan/zoom/roll over a 16:9 scene made from a bundled portrait.

    The scene is the portrait scaled to 720 px high, centred on a blurred, stretched copy of itself; the face
    box is about 160 px, the size of a face in a 720p talking-head video.
    """
    photo = read_image(sample_path("obama_portrait.jpg"))
    scene = cv2.GaussianBlur(cv2.resize(photo, (1280, 720)), (0, 0), 15)
    portrait = cv2.resize(photo, (576, 720), interpolation=cv2.INTER_AREA)
    scene[:, 352:928] = portrait
    frames = pan_zoom_frames(
        scene, size=(1280, 720), num_frames=int(seconds * fps), zoom=(1.0, 1.15), shift=(0.05, 0.03)
    )
    write_video(path, frames, fps=fps, crf=23)
    return path


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_video(clip: Path, repeats: int) -> None:
    import av

    info = probe_video(clip)
    print(f"\nclip: {info.width}x{info.height} {info.codec}, {info.frame_count} frames, {info.duration_s:.1f} s, "
          f"{clip.stat().st_size / 1e6:.1f} MB")

    def decode_all():
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                frame.to_ndarray(format="rgb24")

    seconds = _median_time(decode_all, repeats)
    print(f"decode every frame to RGB:       {info.frame_count / seconds:7.1f} frames/s")
    seconds = _median_time(lambda: sample_video_frames(clip, 32), repeats)
    print(f"sample_video_frames(n=32):       {seconds * 1000:7.0f} ms per video ({32 / seconds:.1f} frames/s)")
    frames = sample_video_frames(clip, 32)
    for backend in BACKENDS:
        with FaceAnalyzer(backend) as analyzer:
            analyzer.detect(frames[0].image)  # warm-up
            found = []

            def detect_only():
                found.clear()
                found.extend(analyzer.detect(f.image) for f in frames)

            t_detect = _median_time(detect_only, repeats) / len(frames)
            t_crop = _median_time(lambda: [crop_face(f.image, fs[0]) for f, fs in zip(frames, found) if fs], repeats)
            t_crop /= max(1, sum(1 for fs in found if fs))

            def pipeline():
                for frame in sample_video_frames(clip, 32):
                    for face in analyzer.detect(frame.image)[:1]:
                        crop_face(frame.image, face)

            t_all = _median_time(pipeline, repeats)
            hits = sum(1 for fs in found if len(fs) == 1)
            print(f"[{backend:9s}] detect+landmarks {t_detect * 1000:6.1f} ms/frame, "
                  f"crop {t_crop * 1000:4.1f} ms/face, "
                  f"faces found in {hits}/32 frames | 32-frame pipeline (decode+detect+landmarks+crop): "
                  f"{t_all:5.2f} s per video = {32 / t_all:5.1f} frames/s")


def bench_backends(repeats: int) -> None:
    photos = {p.name: read_image(p) for p in sample_images()}
    analyzers = {name: FaceAnalyzer(name, small_faces=False) for name in BACKENDS}
    reference = {k: analyzers["dlib"].detect(v)[0].landmarks for k, v in photos.items()}
    print("\nper-photo speed (detect + landmarks, one face, 512-800 px), faces found, error vs dlib (% IOD):")
    for name, analyzer in analyzers.items():
        times, counts, errors = [], [], []
        for key, image in photos.items():
            analyzer.detect(image)
            times.append(_median_time(lambda: analyzer.detect(image), repeats))
            faces = analyzer.detect(image)
            counts.append(len(faces))
            iod = inter_ocular_distance(reference[key])
            errors.append(np.linalg.norm(faces[0].landmarks - reference[key], axis=1).mean() / iod * 100)
        print(f"  {name:9s} {np.median(times) * 1000:5.1f} ms median, faces per photo {counts}, "
              f"mean error {np.mean(errors):.1f} %")
    print("\nsmall faces: photo shrunk to a given inter-ocular distance on a 1280x720 grey frame (found / 6):")
    iods = {k: inter_ocular_distance(v) for k, v in reference.items()}
    options = [(n, s) for n in BACKENDS for s in (False, True)]
    print("  IOD px " + "".join(f"{n + (' +small' if s else ''):>18s}" for n, s in options))
    small_analyzers = {(n, s): FaceAnalyzer(n, small_faces=s) for n, s in options}
    for target in (12, 15, 20, 25, 30, 40):
        row = []
        for option in options:
            hits = 0
            for key, image in photos.items():
                scale = target / iods[key]
                small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)[:720, :1280]
                canvas = np.full((720, 1280, 3), 128, np.uint8)
                canvas[: small.shape[0], : small.shape[1]] = small
                hits += len(small_analyzers[option].detect(canvas)) >= 1
            row.append(hits)
        print(f"  {target:6d} " + "".join(f"{h:>18d}" for h in row))
    print("\nin-plane roll (found / 6):")
    for angle in (15, 30, 45, 60):
        row = []
        for name in BACKENDS:
            hits = 0
            for image in photos.values():
                h, w = image.shape[:2]
                matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
                turned = cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
                hits += len(small_analyzers[(name, False)].detect(turned)) >= 1
            row.append(f"{name} {hits}")
        print(f"  {angle:3d}°  " + ", ".join(row))


def fit_mapping() -> None:
    """Refit the FaceMesh → iBUG table from dlib on augmented sample photos; print it and its error."""
    from laanet.faces.dlib_backend import DlibBackend
    from laanet.faces.mediapipe_backend import MediaPipeBackend

    dlib_backend, mesh_backend = DlibBackend(), MediaPipeBackend()
    names, ibug, mesh = [], [], []
    for path in sample_images():
        base = read_image(path)
        for flip, angle, scale in itertools.product((False, True), (-12, -6, 0, 6, 12), (1.0, 0.7)):
            image = np.ascontiguousarray(base[:, ::-1]) if flip else base
            h, w = image.shape[:2]
            image = cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale), (w, h),
                                   borderMode=cv2.BORDER_REFLECT)
            boxes = mesh_backend.detect_boxes(image)
            if not boxes:
                continue
            points = mesh_backend.mesh(image, boxes[0][0])
            candidates = dlib_backend.detect_boxes(image)
            if points is None or not candidates:
                continue
            box = min(candidates, key=lambda c: np.abs(c[0] - boxes[0][0]).sum())[0]
            landmarks = dlib_backend.landmarks(image, box)
            left, right = landmarks[[36, 39]].mean(0), landmarks[[42, 45]].mean(0)
            iod = np.linalg.norm(right - left)
            if np.linalg.norm(points[None] - landmarks[:, None], axis=2).min(1).mean() > 0.3 * iod:
                continue  # mismatched faces
            a = np.arctan2(*(right - left)[::-1])
            rot = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
            centre = (left + right) / 2
            names.append(path.name)
            ibug.append((landmarks - centre) @ rot.T / iod)
            mesh.append((points - centre) @ rot.T / iod)
    ibug, mesh, names = np.array(ibug), np.array(mesh), np.array(names)
    print(f"\n{len(names)} dlib/FaceMesh pairs from {len(set(names))} photos")
    mean_mesh = mesh.mean(0)
    mirror = np.array([np.argmin(np.linalg.norm(mean_mesh - [-p[0], p[1]], axis=1)) for p in mean_mesh])
    from laanet.faces.landmarks import IBUG68_MIRROR

    def fit(rows):
        table = {}
        for k in range(68):
            if k in table:
                continue
            k2 = IBUG68_MIRROR[k]
            top = np.argsort(np.linalg.norm(mesh[rows] - ibug[rows][:, k : k + 1], axis=2).mean(0))[:10]
            cands = [(int(a),) for a in top] + [
                tuple(sorted((int(a), int(b)))) for a, b in itertools.combinations(top, 2)
                if np.linalg.norm(mean_mesh[a] - mean_mesh[b]) < 0.12
            ]
            if k2 == k:
                cands = [c for c in cands if set(mirror[list(c)]) == set(c)] or [(int(top[0]),)]

            def err(point, c):
                return np.linalg.norm(mesh[rows][:, list(c)].mean(1) - ibug[rows][:, point], axis=1).mean()

            best = min(cands, key=lambda c: err(k, c) + err(k2, tuple(int(mirror[v]) for v in c)) + 0.01 * (len(c) - 1))
            table[k], table[k2] = best, tuple(int(mirror[v]) for v in best)
        return [table[k] for k in range(68)]

    def apply(table, rows):
        return np.stack([mesh[rows][:, list(c)].mean(1) for c in table], 1)

    table = fit(np.arange(len(names)))
    print("MESH_TO_IBUG68 =", [c[0] if len(c) == 1 else c for c in table])
    errors = []
    for name in np.unique(names):
        held = names == name
        errors.append(np.linalg.norm(apply(fit(np.where(~held)[0]), np.where(held)[0]) - ibug[held], axis=2))
    errors = np.concatenate(errors) * 100
    print(f"leave-one-photo-out error vs dlib: mean {errors.mean():.1f} % IOD, median {np.median(errors):.1f} %")
    for region, (a, b) in dict(jaw=(0, 17), brows=(17, 27), nose=(27, 36), eyes=(36, 48), mouth=(48, 68)).items():
        print(f"  {region:6s} {errors[:, a:b].mean():5.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the generated clip")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", action="store_true", help="also compare the backends on the sample photos")
    parser.add_argument("--fit-mapping", action="store_true", help="also refit the FaceMesh → iBUG table")
    args = parser.parse_args()
    print(f"cv2 threads: {cv2.getNumThreads()}")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        clip = make_clip(Path(tmp) / "clip_720p.mp4", seconds=args.seconds)
        print(f"made the 720p clip with PyAV in {time.perf_counter() - start:.1f} s")
        bench_video(clip, args.repeats)
    if args.backends:
        bench_backends(args.repeats)
    if args.fit_mapping:
        fit_mapping()


if __name__ == "__main__":
    main()
