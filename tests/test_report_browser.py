"""The report of ``laanet detect --report`` opened in headless Chromium (Debian ``chromium`` + ``chromium-driver``,
driven by Selenium, as ``test_serve_browser.py``): what a person sees, that nothing runs or is fetched, and print.

Screenshots go to ``$LAANET_SCREENSHOT_DIR`` (default: ``<tmp>/laanet-report-screenshots``). Without Chromium
the test fails under CI (``CI`` set) and is skipped elsewhere, with the reason.
"""
from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from pathlib import Path

import pytest
from chromium_browser import chromium_driver
from test_report import IMG_NAME, SCRIPT_PATH, detect_run


@pytest.fixture(scope="module")
def browser():
    yield from chromium_driver(page_load_timeout=60, console_log=True)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_weights) -> Path:
    return detect_run(tmp_path_factory.mktemp("report_browser"), tiny_weights)


@pytest.fixture(scope="module")
def screenshot_dir() -> Path:
    folder = Path(os.environ.get("LAANET_SCREENSHOT_DIR", Path(tempfile.gettempdir()) / "laanet-report-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def opened(browser, run_dir):
    """The report loaded in the browser; yields the console messages logged while it loaded."""
    browser.get_log("browser")  # drop what came before
    browser.get((run_dir / "report.html").resolve().as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    return browser.get_log("browser")


def _results(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "results.json").read_text())["results"]


def test_report_shows_verdicts_and_hostile_names_as_text(browser, run_dir, opened, screenshot_dir):
    from selenium.webdriver.common.by import By

    results = _results(run_dir)
    sections = browser.find_elements(By.CSS_SELECTOR, "section.input")
    assert len(sections) == len(results) == 6
    for section, result in zip(sections, results):
        verdict = section.find_element(By.CSS_SELECTOR, ".verdict").text
        expected = {"ok": result["label"] and result["label"].capitalize(), "no_face": "No face found: no verdict",
                    "error": "Error: not analysed"}[result["status"]]
        assert verdict == expected, result["path"]
        if result["status"] == "ok":
            assert f"P(fake) = {result['score']:.3f}" in section.find_element(By.CSS_SELECTOR, ".score").text
            assert section.find_element(By.CSS_SELECTOR, ".band").text == "uncalibrated"
        else:
            assert not section.find_elements(By.CSS_SELECTOR, ".score")
    # The hostile names are shown as text: the headings and paths hold them, and no element came from them.
    headings = [s.find_element(By.CSS_SELECTOR, "h2 .name").text for s in sections]
    assert IMG_NAME in headings
    paths = " ".join(s.find_element(By.CSS_SELECTOR, ".path").text for s in sections)
    assert SCRIPT_PATH in paths
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.execute_script("return document.querySelectorAll('img:not([src^=\"data:image/jpeg\"])').length") == 0
    assert browser.execute_script("return document.querySelectorAll('[onerror]').length") == 0
    browser.save_screenshot(str(screenshot_dir / "report_top.png"))


def test_images_load_and_nothing_is_fetched(browser, run_dir, opened, screenshot_dir):
    results = _results(run_dir)
    widths = browser.execute_script("return Array.from(document.images, i => [i.complete, i.naturalWidth])")
    figures = browser.execute_script("return document.querySelectorAll('figure img').length")
    assert figures == sum(min(4, sum(1 for f in r["frames"] if f["overlay"])) for r in results) >= 4
    crops = sum(1 for r in results for p in r.get("people") or [] if p["representative"].get("crop"))
    assert len(widths) == figures + crops  # the overlays, and each person's face when results have people
    assert all(done and width > 0 for done, width in widths), widths
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('data:'))")
    assert fetched == []
    problems = [m["message"] for m in opened if m["level"] in ("SEVERE", "WARNING") or "Content Security" in m["message"]]
    assert problems == []  # no CSP violation, no failed load
    # The video's timeline is drawn: one line of per-frame scores, 4 markers, a threshold.
    video = next(k for k, r in enumerate(results) if r["kind"] == "video")
    svg = f"document.querySelectorAll('section.input')[{video}].querySelector('svg.timeline')"
    people = len(results[video].get("people") or [])
    assert browser.execute_script(f"return {svg}.querySelectorAll('polyline.series').length") == max(1, people)
    assert browser.execute_script(f"return {svg}.querySelectorAll('circle').length") >= 4
    assert browser.execute_script(f"return {svg}.getBoundingClientRect().width") > 300
    browser.execute_script(f"{svg}.scrollIntoView()")
    browser.save_screenshot(str(screenshot_dir / "report_video.png"))


def test_report_prints_one_input_per_page(browser, run_dir, opened, tmp_path):
    results = _results(run_dir)
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        styles = browser.execute_script(
            "return Array.from(document.querySelectorAll('section.input'), s => {"
            " const c = getComputedStyle(s); return [c.breakBefore, c.backgroundColor]; })")
        body = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    assert styles == [["page", "rgb(255, 255, 255)"]] * len(results)
    assert body == "rgb(255, 255, 255)"
    pdf = base64.b64decode(browser.print_page())
    (tmp_path / "report.pdf").write_bytes(pdf)
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))
    assert pdf.startswith(b"%PDF") and pages >= 1 + len(results)  # the summary, then a page (or more) per input
