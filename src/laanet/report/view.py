"""What the report shows of one result, read defensively from its dict (``result.schema.json``).

Every field beyond the schema's required ones may be absent (results of an older laanet, or of a build without
people tracking or calibration): what is missing is left out or shown as "not available", never guessed. The
verdict of a file without a face, or one that could not be read, is never shown as "real".
"""
from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from laanet.report.cards import Card, CardBook
from laanet.report.images import image_data_url, locate_picture
from laanet.report.timeline import Series, timeline_svg

MAX_PICTURES = 4  # overlays shown per input: the most suspicious frames
MAX_PEOPLE_PLOTTED = 12
CROP_SIDE = 112  # people's representative faces, pixels
SHOWN_IN_VERDICT = ("calibrated", "probability", "band")  # calibration fields the verdict line already gives


@dataclass
class Picture:
    caption: str
    src: str  # data: URL
    width: int
    height: int


@dataclass
class Verdict:
    """The headline of one input: ``css`` is one of fake / real / noface / error / uncertain."""

    text: str
    css: str
    score: str | None  # "P(fake) = 0.973"
    note: str | None  # why there is no verdict, or what the score means
    band: str  # the calibration band, or "uncalibrated"
    calibrated: bool
    calibration_rows: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class PersonRow:
    id: str
    verdict: str
    score: str
    frames: str
    chosen: bool
    crop: Picture | None = None  # the representative face (crop with its heatmap), when saved


@dataclass
class EntryView:
    anchor: str
    name: str
    path: str
    kind: str
    verdict: Verdict
    warning: str | None
    flags: list[tuple[str, str]]
    flags_known: bool  # the result has a "flags" field (results of older laanet versions do not)
    people: list[PersonRow] | None
    person_note: str | None
    timeline: str | None  # SVG markup (already escaped), or None
    timeline_note: str | None
    pictures: list[Picture]
    pictures_note: str | None
    provenance: list[tuple[str, str]]
    options: list[tuple[str, str]]
    card: Card | None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def _p(value: Any) -> str:
    v = _num(value)
    return "n/a" if v is None else f"{v:.3f}"


def text_of(value: Any) -> str:
    """A value as plain text for a table cell (dicts and lists as compact JSON)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return str(value)


def visible(text: str) -> str:
    """``text`` with control and format characters (newlines, bidirectional overrides such as U+202E, zero-width
    spaces) written as ``\\u202e``: a file name cannot hide or reorder what a reader sees."""
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)


def display_name(path: str) -> str:
    if path.startswith("<") and path.endswith(">") and "/" not in path:
        return path  # "<array>", "<bytes>"
    return PurePath(path.replace("\\", "/")).name or path


def _band_text(band: Any) -> str:
    return str(band).replace("_", " ") if band not in (None, "") else "not available"


def verdict_of(entry: dict[str, Any]) -> Verdict:
    status = entry.get("status")
    label = entry.get("label")
    score = _num(entry.get("score"))
    threshold = _num(entry.get("threshold"))
    calibration = entry.get("calibration") if isinstance(entry.get("calibration"), dict) else None
    calibrated = bool(calibration and calibration.get("calibrated") is True)
    band = _band_text(calibration.get("band")) if calibrated else "uncalibrated"
    rows: list[tuple[str, str]] = []
    if calibration and not calibrated:
        note = calibration.get("note")
        rows.append(("", "none (uncalibrated)" + (f": {note}" if isinstance(note, str) and note else "")))
    elif calibration:
        for key, value in calibration.items():
            if key in SHOWN_IN_VERDICT:
                continue
            if isinstance(value, dict):
                rows += [(f"{key.replace('_', ' ')}: {k}", text_of(v)) for k, v in value.items()]
            else:
                rows.append((key.replace("_", " "), text_of(value)))
    if status == "error":
        return Verdict("Error: not analysed", "error", None, visible(str(entry.get("error") or "the input could not be read")),
                       "no verdict", calibrated, rows)
    if status == "no_face" or score is None:
        note = ("No face was found in this input, so there is no verdict: this is not a \"real\" result. "
                "laanet only judges faces.")
        return Verdict("No face found: no verdict", "noface", None, note, "no verdict", calibrated, rows)
    text = {"fake": "Fake", "real": "Real"}.get(label, str(label or "unlabelled"))
    css = label if label in ("fake", "real") else "uncertain"
    if calibrated and isinstance(calibration.get("band"), str) and "uncertain" in calibration["band"]:
        css = "uncertain"
    noun = "video P(fake)" if entry.get("kind") == "video" else "P(fake)"
    score_text = f"{noun} = {score:.3f}" + (f" (threshold {threshold:.4g})" if threshold is not None else "")
    if calibrated:
        prob = _num(calibration.get("probability"))
        note = f"calibrated probability of fake = {prob:.3f}" if prob is not None else "calibrated"
        op = calibration.get("operating_point") if isinstance(calibration.get("operating_point"), dict) else None
        if op:
            rates = [f"{name} {_num(op.get(key)) * 100:.1f} %" for name, key in (("FPR", "fpr"), ("TPR", "tpr"))
                     if _num(op.get(key)) is not None]
            where = f"threshold {_num(op.get('threshold')):.4g}" if _num(op.get("threshold")) is not None else ""
            detail = ", ".join(x for x in [where, *rates] if x)
            note += f"; labelled at operating point {text_of(op.get('name', 'n/a'))}" + (f" ({detail})" if detail else "")
    else:
        note = "uncalibrated: the score is the model's output, not a probability measured on your data"
    return Verdict(text, css, score_text, note, band, calibrated, rows)


def _flags(entry: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for flag in entry.get("flags") or []:
        if isinstance(flag, dict):
            out.append((text_of(flag.get("code", "flag")), text_of(flag.get("message", ""))))
        elif isinstance(flag, str):
            out.append((flag, ""))
    return out


def _people(entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in entry.get("people") or [] if isinstance(p, dict)]


def _frames(entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in entry.get("frames") or [] if isinstance(f, dict)]


def _person_rows(entry: dict[str, Any], folder: Path) -> tuple[list[PersonRow] | None, str | None]:
    people = _people(entry)
    if not people:
        return None, None
    chosen = entry.get("person")
    rows = []
    for p in people:
        frames = p.get("frames")
        rep = p.get("representative") if isinstance(p.get("representative"), dict) else {}
        found = locate_picture(folder, rep.get("crop"))
        data = None if found is None else image_data_url(found, max_side=CROP_SIDE)
        rows.append(PersonRow(
            id=text_of(p.get("id")),
            verdict=text_of(p.get("label")) if p.get("label") else "n/a",
            score=_p(p.get("score")),
            frames=str(len(frames)) if isinstance(frames, list) else "n/a",
            chosen=chosen is not None and p.get("id") == chosen,
            crop=None if data is None else Picture(f"person {text_of(p.get('id'))}", *data),
        ))
    note = (f"The file verdict is person {text_of(chosen)}'s, the most suspicious of {len(people)}."
            if chosen is not None and len(people) > 1 else None)
    return rows, note


def _timeline(entry: dict[str, Any]) -> tuple[str | None, str | None]:
    people = sorted(_people(entry), key=lambda p: -(_num(p.get("score")) or 0.0))[:MAX_PEOPLE_PLOTTED]
    chosen = entry.get("person")
    if people:
        tracks = [(f"person {text_of(p.get('id'))}", [t for t in p.get("timeline") or [] if isinstance(t, dict)],
                   chosen is not None and p.get("id") == chosen) for p in people]
        frame_key = "frame"
    else:
        tracks = [("frame score", _frames(entry), False)]
        frame_key = "index"
    timed = all(_num(pt.get("time_s")) is not None for _, points, _ in tracks for pt in points)
    key = "time_s" if timed else frame_key
    series = [Series(label, [(_num(pt.get(key)) or 0.0, _num(pt.get("score"))) for pt in points], highlight)
              for label, points, highlight in tracks]
    points = sum(len(s.points) for s in series)
    if entry.get("kind") != "video" and not any(len(s.points) > 1 for s in series):
        return None, None  # a photo: one score per person, no timeline
    if points == 0:
        return None, "no frame was scored"
    svg = timeline_svg(series, _num(entry.get("threshold")), x_label="time (s)" if timed else "frame",
                       caption=f"P(fake) over time: {display_name(str(entry.get('path', '')))}")
    note = None if people else "per-frame scores (this result has no per-person tracks)"
    return svg, note


def _when(entry: dict[str, Any], frame: dict[str, Any], index: Any) -> str:
    """``frame 12, 0.48 s`` (videos) or ``frame 0`` (photos)."""
    time_s = _num(frame.get("time_s"))
    return f"frame {text_of(index)}" + (f", {time_s:.2f} s" if time_s is not None and entry.get("kind") == "video" else "")


def _pictures(entry: dict[str, Any], folder: Path, max_pictures: int) -> tuple[list[Picture], str | None]:
    frames = {f.get("index"): f for f in _frames(entry)}
    candidates: list[tuple[str, str | None]] = []  # (caption, recorded path)
    for p in sorted(_people(entry), key=lambda p: -(_num(p.get("score")) or 0.0)):
        rep = p.get("representative") if isinstance(p.get("representative"), dict) else {}
        frame = frames.get(rep.get("frame"), {})
        recorded = rep.get("overlay") or frame.get("overlay")
        faces = [f for f in frame.get("faces") or [] if isinstance(f, dict)]
        face = faces[rep["face"]] if isinstance(rep.get("face"), int) and 0 <= rep["face"] < len(faces) else {}
        caption = (f"person {text_of(p.get('id'))} (P(fake) {_p(p.get('score'))}), {_when(entry, frame, rep.get('frame'))}: "
                   f"face P(fake) {_p(face.get('score', frame.get('score')))}")
        candidates.append((caption, recorded))
    ranked = sorted((f for f in frames.values() if f.get("overlay")), key=lambda f: -(_num(f.get("score")) or -1.0))
    for f in ranked:
        candidates.append((f"{_when(entry, f, f.get('index'))}: P(fake) {_p(f.get('score'))}", f.get("overlay")))
    pictures: list[Picture] = []
    seen: set[Path | bytes] = set()
    missing = 0
    for caption, recorded in candidates:
        if len(pictures) >= max_pictures:
            break
        found = locate_picture(folder, recorded)
        if found is None or found in seen:
            missing += found is None and bool(recorded)
            continue
        data = image_data_url(found)
        if data is None:
            missing += 1
            continue
        seen.add(found)
        pictures.append(Picture(caption, *data))
    note = None
    if not pictures:
        note = ("no overlay was saved (laanet detect --no-save-heatmaps, or no face)" if not missing
                else "the overlay files of this result were not found in the results folder")
    return pictures, note


def _provenance_rows(prov: dict[str, Any] | None, model_info: dict[str, Any] | None,
                     cards: CardBook) -> tuple[list, list, Card | None]:
    rows: list[tuple[str, str]] = []
    options: list[tuple[str, str]] = []
    card = None
    if not prov:
        rows.append(("provenance", "not available"))
        prov = {}
    weights = prov.get("weights") if isinstance(prov.get("weights"), dict) else {}
    model = prov.get("model") if isinstance(prov.get("model"), dict) else {}
    if model:
        rows.append(("model family", text_of(model.get("family", "not available"))))
        rows.append(("model name", text_of(model.get("name", "not available"))))
    elif model_info and model_info.get("family"):
        rows.append(("model family", text_of(model_info.get("family"))))
    if weights:
        rows.append(("weights file", text_of(weights.get("name"))))
        rows.append(("weights SHA-256", text_of(weights.get("sha256"))))
        rows.append(("weights format", text_of(weights.get("format"))))
    elif model_info:
        rows.append(("weights file", text_of(model_info.get("weights"))))
        rows.append(("weights SHA-256", text_of(model_info.get("weights_sha256"))))
    for key, label in (("backend", "backend"), ("device", "device"), ("input_size", "input size (px)"),
                       ("crop_size", "face crop (px)"), ("laanet_version", "laanet version"), ("created", "time (UTC)")):
        if key in prov:
            rows.append((label, text_of(prov[key])))
    if isinstance(prov.get("calibration"), dict):
        rows += [(f"calibration: {k}", text_of(v)) for k, v in prov["calibration"].items()]
    known = {"weights", "model", "backend", "device", "input_size", "crop_size", "laanet_version", "created",
             "options", "calibration"}
    rows += [(k.replace("_", " "), text_of(v)) for k, v in prov.items() if k not in known]
    if isinstance(prov.get("options"), dict):
        options = [(str(k), text_of(v)) for k, v in prov["options"].items()]
    card_value = model.get("card")
    if isinstance(card_value, str) and card_value:
        card = cards.card(card_value)
    return rows, options, card


def entry_view(entry: dict[str, Any], index: int, folder: Path, *, document_provenance: dict | None = None,
               model_info: dict | None = None, max_pictures: int = MAX_PICTURES,
               cards: CardBook | None = None) -> EntryView:
    """The view of ``entry`` (the ``index``-th input); pictures are looked up under ``folder``."""
    path = text_of(entry.get("path", "(no path)"))
    verdict = verdict_of(entry)
    warning = visible(text_of(entry["error"])) if entry.get("status") == "ok" and entry.get("error") else None
    people, person_note = _person_rows(entry, folder)
    timeline, timeline_note = _timeline(entry)
    pictures, pictures_note = _pictures(entry, folder, max_pictures)
    prov = entry.get("provenance") if isinstance(entry.get("provenance"), dict) else document_provenance
    rows, options, card = _provenance_rows(prov, model_info, cards if cards is not None else CardBook())
    return EntryView(
        anchor=f"input-{index + 1}", name=visible(display_name(path)), path=visible(path), kind=text_of(entry.get("kind", "n/a")),
        verdict=verdict, warning=warning, flags=_flags(entry), flags_known="flags" in entry, people=people, person_note=person_note,
        timeline=timeline, timeline_note=timeline_note, pictures=pictures, pictures_note=pictures_note,
        provenance=rows, options=options, card=card,
    )
