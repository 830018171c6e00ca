"""``laanet report`` / ``laanet detect --report``: the HTML report of a run, read as text here and opened in headless
Chromium in ``test_report_browser.py``.

The run (:func:`detect_run`): the tiny random weights over two bundled photos, a bundled clip, two copies of a
photo under hostile names (an ``<img onerror>`` file name, and a ``<script>…</script>`` path), a noise picture
without a face and a file that is not an image.
"""
from __future__ import annotations

import copy
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from laanet.assets import sample_path
from laanet.cli import app

IMG_NAME = "<img src=x onerror=alert(1)>.jpg"
SCRIPT_DIR = "<script>alert(1)<"  # with the file "script>.jpg" below it: the path holds <script>alert(1)</script>.jpg
SCRIPT_PATH = "<script>alert(1)</script>.jpg"


def detect_run(root: Path, weights: Path) -> Path:
    """``laanet detect --report`` over the inputs of the module docstring; returns the output folder."""
    from PIL import Image

    inputs = root / "in"
    (inputs / SCRIPT_DIR).mkdir(parents=True)
    shutil.copy(sample_path("obama_portrait.jpg"), inputs / "obama_portrait.jpg")
    shutil.copy(sample_path("clip_obama.mp4"), inputs / "clip_obama.mp4")
    shutil.copy(sample_path("grace_hopper.jpg"), inputs / IMG_NAME)
    shutil.copy(sample_path("astronaut.jpg"), inputs / SCRIPT_PATH)
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    Image.fromarray(noise).save(inputs / "no_face.png")
    (inputs / "broken.jpg").write_bytes(b"not an image\n" * 20)
    out = root / "out"
    args = ["detect", str(inputs), "--weights", str(weights), "--frames", "4", "--device", "cpu", "--out", str(out),
            "--report"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output  # broken.jpg cannot be read; the others are written
    assert (out / "report.html").is_file(), result.output
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_weights) -> Path:
    return detect_run(tmp_path_factory.mktemp("report"), tiny_weights)


class _Page(HTMLParser):
    """Tags, attributes and the visible text of a page, per ``<section class="input">``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.sections: list[list[str]] = []
        self.text: list[str] = []
        self._in_style = False

    BLOCKS = {"th", "td", "tr", "li", "p", "h2", "h3", "figcaption", "div", "table", "dt", "dd"}

    def _gap(self, tag: str) -> None:
        if tag in self.BLOCKS and self.sections:
            self.sections[-1].append(" ")

    def handle_starttag(self, tag, attrs):
        self._gap(tag)
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        self._in_style = tag == "style"
        if tag == "section" and "input" in (attributes.get("class") or ""):
            self.sections.append([])

    def handle_endtag(self, tag):
        self._in_style = False
        self._gap(tag)

    def handle_data(self, data):
        if self._in_style:
            return
        self.text.append(data)
        if self.sections:
            self.sections[-1].append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def section_text(page: _Page, k: int) -> str:
    return " ".join("".join(page.sections[k]).split())


def results_of(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "results.json").read_text())["results"]


def section_of(page: _Page, results: list[dict], name_part: str) -> str:
    k = next(i for i, r in enumerate(results) if name_part in r["path"])
    return section_text(page, k)


def test_report_shows_each_input_with_its_verdict(run_dir):
    results = results_of(run_dir)
    page = parse((run_dir / "report.html").read_text(encoding="utf-8"))
    assert len(page.sections) == len(results) == 6
    ok = [r for r in results if r["status"] == "ok"]
    assert len(ok) == 4
    for k, r in enumerate(results):
        text = section_text(page, k)
        if r["status"] == "ok":
            assert f"{r['label'].capitalize()} " in text
            assert f"P(fake) = {r['score']:.3f}" in text
            assert "uncalibrated" in text  # no calibration in these results
    prov = json.loads((run_dir / "results.json").read_text())["provenance"]
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert html.count(prov["weights"]["sha256"]) == len(results)  # provenance per input
    assert f"laanet version {prov['laanet_version']}" in section_text(page, 0)


def test_no_face_and_error_do_not_look_real(run_dir):
    results = results_of(run_dir)
    page = parse((run_dir / "report.html").read_text(encoding="utf-8"))
    no_face = section_of(page, results, "no_face.png")
    assert "No face found: no verdict" in no_face and "not a \"real\" result" in no_face
    assert not re.search(r"\bReal\b", no_face)
    broken = section_of(page, results, "broken.jpg")
    assert "Error: not analysed" in broken and "not a readable image" in broken
    assert not re.search(r"\bReal\b", broken)
    statuses = [attrs.get("data-status") for tag, attrs in page.tags if tag == "section"]
    assert statuses.count("noface") == 1 and statuses.count("error") == 1


def test_hostile_names_are_text(run_dir):
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    page = parse(html)
    text = " ".join(page.text)
    assert IMG_NAME in text and SCRIPT_PATH in text  # shown, as text
    assert "<script" not in html.lower()  # the report has no script at all, so the name cannot be one
    assert not any(tag == "script" for tag, _ in page.tags)
    images = [attrs for tag, attrs in page.tags if tag == "img"]
    assert images and all((a.get("src") or "").startswith("data:image/jpeg;base64,") for a in images)
    assert not any("onerror" in a for _, a in page.tags)


def test_report_is_self_contained(run_dir):
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    page = parse(html)
    csp = [a["content"] for tag, a in page.tags if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == ["default-src 'none'; img-src data:; style-src 'unsafe-inline'"]
    for tag, attrs in page.tags:
        for key in ("src", "href", "srcset", "poster", "data"):
            value = attrs.get(key)
            allowed = ("#", "https://") if tag == "a" and key == "href" else ("data:",)  # links navigate, never load
            assert value is None or value.startswith(allowed), f"<{tag} {key}={value[:60]!r}>"
    assert not any(tag in ("link", "script", "iframe", "object") for tag, _ in page.tags)
    assert "@import" not in html and "url(" not in html


def test_video_timeline_and_most_suspicious_frames(run_dir):
    results = results_of(run_dir)
    page = parse((run_dir / "report.html").read_text(encoding="utf-8"))
    k = next(i for i, r in enumerate(results) if r["kind"] == "video")
    video = section_text(page, k)
    assert "Timeline" in video
    people = results[k].get("people") or []  # with people tracking: one line per person, else the frame scores
    assert ("per-frame scores" in video) == (not people)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    svg = html.split(f'id="input-{k + 1}"')[1].split("</svg>")[0]
    assert svg.count('<polyline class="series"') == max(1, len(people))
    assert "Most suspicious frames" in video and video.count("frame ") >= 4
    # Captions: each person's representative frame first, then the other frames by score, highest first, with
    # their time.
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", html.split(f'id="input-{k + 1}"')[1].split("</section>")[0])
    by_index = {f["index"]: f for f in results[k]["frames"]}
    shown = [int(re.search(r"frame (\d+)", c).group(1)) for c in captions]
    rest = shown[len(people):]
    assert len(captions) == min(4, len(by_index)) and len(set(shown)) == len(shown)
    for person, caption in zip(sorted(people, key=lambda p: -p["score"]), captions):
        assert caption.startswith(f"person {person['id']} (P(fake) {person['score']:.3f}), frame {person['representative']['frame']}")
    assert [by_index[i]["score"] for i in rest] == sorted((by_index[i]["score"] for i in rest), reverse=True)
    assert all(f"frame {i}, {by_index[i]['time_s']:.2f} s: P(fake) {by_index[i]['score']:.3f}" in captions for i in rest)
    photo = section_of(page, results, "obama_portrait.jpg")
    assert "Timeline" not in photo  # a photo has no timeline


# ---------------------------------------------------------------------------------------------------------
# Fields of the other parts of issue 20 (people, flags, calibration, model card), as result.schema.json has them
# ---------------------------------------------------------------------------------------------------------


def _with_people(entry: dict) -> dict:
    """``entry`` (a real video result) with two people, flags, a calibration and a model card."""
    entry = copy.deepcopy(entry)
    frames = entry["frames"]
    entry["people"] = [
        {"id": 0, "score": 0.21, "logit": -1.32, "label": "real", "frames": [f["index"] for f in frames],
         "timeline": [{"frame": f["index"], "time_s": f["time_s"], "score": 0.2 + 0.01 * n} for n, f in enumerate(frames)],
         "representative": {"frame": frames[0]["index"], "face": 0, "box": [0, 0, 10, 10]}},
        {"id": 1, "score": 0.93, "logit": 2.6, "label": "fake", "frames": [f["index"] for f in frames[:3]],
         "timeline": [{"frame": f["index"], "time_s": f["time_s"], "score": 0.9 + 0.02 * n} for n, f in enumerate(frames[:3])],
         "representative": {"frame": frames[2]["index"], "face": 1, "box": [0, 0, 10, 10]}},
    ]
    entry["person"] = 1
    entry["flags"] = [{"code": "small_face", "message": "faces are smaller than 64 px (the model needs 128)"},
                      {"code": "too_many_faces", "message": "<b>3</b> faces & more"}]
    entry["calibration"] = {"calibrated": True, "probability": 0.884, "band": "likely_fake",
                            "operating_point": {"fpr": 0.01, "threshold": 0.71, "tpr": 0.62}, "file_sha256": "ab" * 32}
    entry["provenance"] = {**entry.get("provenance", {}), "model": {
        "family": "laanet", "name": "laanet-sbi", "card": "https://example.org/model-cards/laanet-sbi.md"}}
    return entry


def _render(entries: list[dict], folder: Path, **kwargs) -> str:
    from laanet.report import RunResults, render_report

    return render_report(RunResults(folder, folder / "results.json", entries), **kwargs)


def test_people_flags_calibration_and_model_card(run_dir):
    from laanet.report.timeline import STYLES

    document = json.loads((run_dir / "results.json").read_text())
    video = next(r for r in document["results"] if r["kind"] == "video")
    entry = {**_with_people(video), "provenance": {**document["provenance"], **_with_people(video)["provenance"]}}
    html = _render([entry], run_dir)
    page = parse(html)
    text = section_text(page, 0)
    assert "likely fake" in text and "calibrated probability of fake = 0.884" in text
    assert "calibration: operating point: threshold 0.71" in text and "uncalibrated" not in text
    assert "labelled at operating point n/a (threshold 0.71, FPR 1.0 %, TPR 62.0 %)" in text
    assert "small_face: faces are smaller than 64 px (the model needs 128)" in text
    assert "<b>3</b> faces & more" in text and "<b>3</b>" not in html  # escaped
    assert "The file verdict is person 1's, the most suspicious of 2." in text and "1 (file verdict)" in text
    assert "model family laanet" in text and "model name laanet-sbi" in text
    links = [a.get("href") for tag, a in page.tags if tag == "a" and not (a.get("href") or "").startswith("#")]
    assert links == ["https://example.org/model-cards/laanet-sbi.md"]
    # One line per person in the timeline, the verdict's person first (highest score) and drawn thicker.
    lines = re.findall(r'<polyline class="series" points="[^"]+" fill="none" stroke="([^"]+)" stroke-width="([^"]+)"', html)
    assert lines == [(STYLES[0][0], "2.6"), (STYLES[1][0], "1.6")]
    assert "person 1" in html and "person 0" in html
    # The first picture is person 1's representative frame (frames[2]), then the others by score.
    figures = re.findall(r"<figcaption>([^<]*)</figcaption>", html)
    rep = video["frames"][2]
    assert figures[0] == f"person 1 (P(fake) 0.930), frame {rep['index']}, {rep['time_s']:.2f} s: face P(fake) {rep['score']:.3f}"
    assert figures[1] == (f"person 0 (P(fake) 0.210), frame {video['frames'][0]['index']}, 0.00 s: "
                          f"face P(fake) {video['frames'][0]['faces'][0]['score']:.3f}")


def test_uncertain_band_and_model_card_that_is_not_a_web_link(run_dir):
    video = next(r for r in results_of(run_dir) if r["kind"] == "video")
    entry = _with_people(video)
    entry["calibration"]["band"] = "uncertain"
    entry["provenance"]["model"]["card"] = "javascript:alert(1)"
    page = parse(_render([entry], run_dir))
    assert [a.get("class") for t, a in page.tags if t == "span" and "verdict" in (a.get("class") or "")] == ["verdict uncertain"]
    assert not [a for t, a in page.tags if t == "a" and "javascript" in (a.get("href") or "")]
    assert "javascript:alert(1)" in section_text(page, 0)  # shown as text


def test_calibrated_false_says_uncalibrated(run_dir):
    photo = next(r for r in results_of(run_dir) if r["path"].endswith("obama_portrait.jpg"))
    entry = {**photo, "calibration": {"calibrated": False, "probability": None, "band": None, "operating_point": None}}
    text = section_text(parse(_render([entry], run_dir)), 0)
    assert "uncalibrated" in text and "calibration none (uncalibrated)" in text


def test_overlays_are_looked_up_only_inside_the_results_folder(run_dir, tmp_path):
    video = next(r for r in results_of(run_dir) if r["kind"] == "video")
    outside = tmp_path / "secret.png"
    shutil.copy(Path(run_dir / "heatmaps" / Path(video["frames"][0]["overlay"]).name), outside)
    entry = copy.deepcopy(video)
    for frame in entry["frames"]:
        frame["overlay"] = str(outside)  # recorded absolute path of a file outside the folder
    for person in entry.get("people") or []:
        person["representative"].update(overlay=str(outside), crop=str(outside))
    page = parse(_render([entry], run_dir))
    assert not [a for t, a in page.tags if t == "img"]
    assert "were not found in the results folder" in section_text(page, 0)
    for frame in entry["frames"]:
        frame["overlay"] = "../" + Path(video["frames"][0]["overlay"]).name  # relative, climbing out: name only
    for person in entry.get("people") or []:
        person["representative"].update(overlay=None, crop=None)
    assert len([a for t, a in parse(_render([entry], run_dir)).tags if t == "img"]) == 1  # found inside, once


def test_timeline_svg_puts_higher_scores_higher(run_dir):
    from laanet.report.timeline import Series, timeline_svg

    svg = timeline_svg([Series("a", [(0.0, 0.1), (1.0, 0.9), (3.0, 0.4)])], 0.5)
    points = re.search(r'<polyline class="series" points="([^"]+)"', svg).group(1).split()
    (x0, y0), (x1, y1), (x3, y3) = [tuple(map(float, p.split(","))) for p in points]
    assert x0 < x1 < x3 and (x1 - x0) * 2 == pytest.approx(x3 - x1, abs=0.2)  # time to scale
    assert y1 < y3 < y0  # SVG y grows downwards: P(fake) 0.9 highest
    threshold_y = float(re.search(r'class="threshold" x1="[^"]+" y1="([^"]+)"', svg).group(1))
    assert y3 > threshold_y > y1
    assert len(re.findall(r"<polyline", timeline_svg([Series("gap", [(0, 0.2), (1, None), (2, 0.3)])], None))) == 0


def test_report_cli_default_out_custom_out_and_unfinished_run(run_dir, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(run_dir, folder)
    (folder / "report.html").unlink()
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(folder)])
    assert result.exit_code == 0, result.output
    assert (folder / "report.html").is_file() and "unfinished" not in (folder / "report.html").read_text()
    (folder / "results.json").unlink()  # a run stopped part-way: only results.jsonl
    lines = (folder / "results.jsonl").read_text().splitlines()
    (folder / "results.jsonl").write_text("\n".join(lines[:3]) + "\n" + lines[3][:40])  # cut mid-line by a kill
    result = runner.invoke(app, ["report", str(folder), "--out", str(tmp_path / "partial.html"), "--title", "Case <42>"])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "partial.html").read_text()
    page = parse(html)
    assert len(page.sections) == 3 and 'id="unfinished"' in html
    assert "Case &lt;42&gt;" in html and "Case <42>" in " ".join(page.text)


@pytest.mark.parametrize("make", ["missing", "empty", "not_json"])
def test_report_cli_errors(tmp_path, make):
    target = tmp_path / "results"
    if make != "missing":
        target.mkdir()
    if make == "not_json":
        (target / "results.json").write_text("{not json")
    result = CliRunner().invoke(app, ["report", str(target)])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1, result.output


def test_model_card_is_embedded_and_linked(run_dir, tmp_path):
    cards = tmp_path / "docs" / "model-cards"
    cards.mkdir(parents=True)
    (cards / "tiny.md").write_text("# Model card: tiny\n\n| | |\n|---|---|\n| licence | Apache-2.0 <script>x</script> |\n\n"
                                   "See [training](../training.md) and [the paper](https://arxiv.org/abs/2401.13856).\n"
                                   "![figure](https://example.org/f.png)\n")
    (tmp_path / "secret.md").write_text("# secret\n")
    photo = next(r for r in results_of(run_dir) if r["path"].endswith("obama_portrait.jpg"))
    entries = []
    for ref in ("docs/model-cards/tiny.md", "docs/model-cards/../../secret.md", "docs/model-cards/tiny.md"):
        entry = copy.deepcopy(photo)
        entry["provenance"] = {"model": {"family": "laanet", "name": "tiny", "card": ref}}
        entries.append(entry)
    html = _render(entries, run_dir, card_root=tmp_path)
    page = parse(html)
    assert html.count('<section class="card" id="card-1">') == 1 and 'id="card-2"' not in html  # once, however many refer
    links = [a.get("href") for t, a in page.tags if t == "a" and "card-link" in (a.get("class") or "")]
    assert links == ["#card-1", "#card-1"]
    assert "docs/model-cards/../../secret.md (in the laanet repository)" in section_text(page, 1)
    assert "secret" not in html.split('id="card-1"')[1].split("</section>")[0]
    card = html.split('id="card-1">')[1].split("</section>")[0]
    assert "<td>Apache-2.0 &lt;script&gt;x&lt;/script&gt;</td>" in card and "<script" not in html
    assert "<span>training</span>" in card and '<a href="https://arxiv.org/abs/2401.13856">the paper</a>' in card
    assert "<img" not in card


def test_most_suspicious_frames_come_first(run_dir):
    video = copy.deepcopy(next(r for r in results_of(run_dir) if r["kind"] == "video"))
    video.pop("people", None)
    video.pop("person", None)
    for frame, score in zip(video["frames"], (0.2, 0.9, 0.5, 0.7)):
        frame["score"] = score
    html = _render([video], run_dir, max_pictures=3)
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", html)
    assert [c.rsplit(" ", 1)[1] for c in captions] == ["0.900", "0.700", "0.500"]
    assert captions[0].startswith(f"frame {video['frames'][1]['index']}, ")


def test_report_of_a_calibrated_run(run_dir, tiny_weights, tmp_path):
    """``detect --calibration --report`` end to end: the band and calibrated probability of the real results."""
    pytest.importorskip("laanet.calibration", reason="laanet.calibration (issue 20, part 1) is not in this tree")
    from laanet.calibration.file import DataSummary, WeightsRef
    from laanet.calibration.fit import fit_calibration
    from laanet.inference.provenance import file_sha256

    # Real files around logit -1, fakes around +0.8: the tiny model's logit (~0.07) lands between the band edges.
    rng = np.random.default_rng(0)
    logits = np.concatenate([rng.normal(-1.0, 0.6, 150), rng.normal(0.8, 0.6, 150)])
    labels = np.r_[np.zeros(150), np.ones(150)]
    cal = fit_calibration(logits, labels, weights=WeightsRef(tiny_weights.name, file_sha256(tiny_weights)),
                          data=DataSummary("synthetic", "folder", 150, 150), n_boot=50,
                          scoring={"frames": 4, "flip_test": True, "face_backend": "mediapipe"})
    cal_path = cal.save(tmp_path / "cal.json")
    out = tmp_path / "out"
    args = ["detect", str(sample_path("obama_portrait.jpg")), "--weights", str(tiny_weights), "--device", "cpu",
            "--calibration", str(cal_path), "--out", str(out), "--report"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    entry = results_of(out)[0]
    block = entry["calibration"]
    assert block["calibrated"] is True and block["band"]
    text = section_text(parse((out / "report.html").read_text(encoding="utf-8")), 0)
    assert f" {block['band']} " in f" {text} " and "uncalibrated" not in text
    assert f"calibrated probability of fake = {block['probability']:.3f}" in text
    op = block["operating_point"]
    assert f"labelled at operating point {op['name']} (threshold {op['threshold']:.4g}, FPR {op['fpr'] * 100:.1f} %" in text
    assert f"calibration: sha256 {file_sha256(cal_path)}" in text  # the provenance names the calibration file


def test_report_of_a_server_answer_with_inline_overlays(run_dir, tmp_path):
    """``laanet serve`` answers carry overlays as data: URLs: the report decodes and re-encodes them (only
    PNG/JPEG/WebP pictures; an SVG or bytes that are not a picture are left out)."""
    import base64

    photo = copy.deepcopy(next(r for r in results_of(run_dir) if r["path"].endswith("obama_portrait.jpg")))
    png = (run_dir / "heatmaps" / Path(photo["frames"][0]["overlay"]).name).read_bytes()
    answer = {**photo, "schema_version": "1.0", "path": "upload <1>.jpg", "people": [], "person": None,
              "provenance": json.loads((run_dir / "results.json").read_text())["provenance"]}
    answer["frames"][0]["overlay"] = "data:image/png;base64," + base64.b64encode(png).decode()
    (tmp_path / "answer.json").write_text(json.dumps(answer))
    result = CliRunner().invoke(app, ["report", str(tmp_path / "answer.json"), "--out", str(tmp_path / "a.html")])
    assert result.exit_code == 0, result.output
    page = parse((tmp_path / "a.html").read_text())
    images = [a for t, a in page.tags if t == "img"]
    assert len(images) == 1 and images[0]["src"].startswith("data:image/jpeg;base64,")  # re-encoded, not copied
    assert "upload <1>.jpg" in section_text(page, 0)
    svg = base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>').decode()
    for bad in ("data:image/svg+xml;base64," + svg, "data:image/png;base64," + base64.b64encode(b"not a png").decode()):
        answer["frames"][0]["overlay"] = bad
        page = parse(_render([answer], tmp_path))
        assert not [a for t, a in page.tags if t == "img"]


def test_control_and_bidi_characters_in_names_are_shown(run_dir):
    photo = copy.deepcopy(next(r for r in results_of(run_dir) if r["path"].endswith("obama_portrait.jpg")))
    photo["path"] = "/uploads/invoice\u202egpj.exe\n\u200b.jpg"  # shows as "invoice" + "exe.jpg" reversed otherwise
    text = section_text(parse(_render([photo], run_dir)), 0)
    assert "invoice\\u202egpj.exe\\u000a\\u200b.jpg" in text and "\u202e" not in text
