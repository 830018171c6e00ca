"""Tracking accuracy on synthetic two-person clips (``laanet.demo.people_clip``), and whether the verdict names
the pseudo-fake person, with the bundled demo weights.

For each motion (sway, cross, jump) and seed: the clip (50 frames, 640×360, H.264 CRF 18, person 1 of 2 made
an SBI pseudo-fake) goes through ``Detector(frames=N)``; printed: faces matched to a true face, the fraction of
them carrying their person's id, ID switches, people found, the two people's scores, whether ``result.person``
is the pseudo-fake, and the seconds taken (``describe``: time in face descriptors). ``--no-appearance``
links by boxes only (ByteTrack + overlap re-linking) for comparison.

    PYTHONPATH=src python benchmarks/people_tracking.py --frames 16 --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from laanet.demo.people_clip import MOTIONS, make_people_clip, tracking_accuracy
from laanet.inference.detector import Detector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--motions", nargs="+", default=list(MOTIONS))
    parser.add_argument("--no-appearance", action="store_true")
    args = parser.parse_args()
    detector = Detector(frames=args.frames, device="cpu")
    spent = {"describe": 0.0}
    if args.no_appearance:
        detector.describer = None
    else:
        real = detector.describer

        def timed(image, face):
            start = time.perf_counter()
            try:
                return real(image, face)
            finally:
                spent["describe"] += time.perf_counter() - start

        detector.describer = timed
    totals = {"matched": 0, "correct": 0, "switches": 0, "named": 0, "clips": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for motion in args.motions:
            for seed in args.seeds:
                clip = make_people_clip(detector.faces, motion=motion, seed=seed)
                path = clip.write(Path(tmp) / f"{motion}{seed}.mp4")
                spent["describe"] = 0.0
                start = time.perf_counter()
                res = detector.detect(path)
                took = time.perf_counter() - start
                acc = tracking_accuracy(res, clip)
                votes: dict[int, list[int]] = {}
                from laanet.inference.tracking import box_iou

                for frame in res.frames:
                    for f in frame.faces:
                        ious = [box_iou(f.box, t) for t in clip.boxes[frame.index]]
                        if max(ious) > 0.3:
                            votes.setdefault(int(np.argmax(ious)), []).append(f.person)
                fake_id = max(set(votes[clip.fake]), key=votes[clip.fake].count)
                real_id = max(set(votes[1 - clip.fake]), key=votes[1 - clip.fake].count)
                scores = {p.id: p.score for p in res.people}
                named = res.person == fake_id
                print(f"{motion:<5} seed {seed}: matched {acc['matched']:>2}/{acc['faces']:>2} faces, correct id "
                      f"{acc['accuracy']:.3f}, {acc['id_switches']} switches, {acc['people_found']} people; "
                      f"fake {scores.get(fake_id, float('nan')):.3f} vs real {scores.get(real_id, float('nan')):.3f}, "
                      f"names the fake: {named}; {took:.1f} s (describe {spent['describe']:.1f} s)", flush=True)
                totals["matched"] += acc["matched"]
                totals["correct"] += acc["correct"]
                totals["switches"] += acc["id_switches"]
                totals["named"] += int(named)
                totals["clips"] += 1
    print(f"all: correct id {totals['correct']}/{totals['matched']} = {totals['correct'] / max(1, totals['matched']):.3f}, "
          f"{totals['switches']} ID switches, the fake named in {totals['named']}/{totals['clips']} clips")


if __name__ == "__main__":
    main()
