"""The ``laanet serve`` web page end to end in headless Chromium (Debian ``chromium`` + ``chromium-driver``,
driven by Selenium): upload a photo and a video, wait for the verdict, check what the page shows.

Screenshots go to ``$LAANET_SCREENSHOT_DIR`` (default: ``<tmp>/laanet-serve-screenshots``). Without Chromium
the test fails under CI (``CI`` set: ``.ci/run`` installs it) and is skipped elsewhere, with the reason.
"""
from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import pytest
from chromium_browser import chromium_driver

from laanet.assets import sample_path
from laanet.inference.options import InferenceOptions
from laanet.service import ServeSettings, create_app, load_detector
from laanet.service.server import serve_in_thread

WAIT_S = 90


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    yield from chromium_driver(page_load_timeout=WAIT_S)


@pytest.fixture(scope="module")
def browser_weights(tmp_path_factory) -> Path:
    import torch

    from laanet.config import load_config
    from laanet.models.checkpoint import save_model
    from laanet.models.laanet import LAANet

    weights = tmp_path_factory.mktemp("browser_weights") / "tiny.pt"
    torch.manual_seed(0)
    save_model(LAANet(load_config("cpu-tiny").model), weights)
    return weights


@pytest.fixture(scope="module")
def server_url(tmp_path_factory, browser_weights):
    settings = ServeSettings(InferenceOptions(weights=browser_weights, frames=4, device="cpu"),
                             jobs_dir=tmp_path_factory.mktemp("browser_jobs"))
    with serve_in_thread(create_app(settings, loader=lambda s: _GatedVideos(load_detector(s)))) as url:
        yield url


@pytest.fixture(scope="module")
def calibrated_url(tmp_path_factory, browser_weights):
    """A second server with a calibration of the same weights (fitted on synthetic logits: only the page's display
    of the calibrated answer is under test) and the fpr20 operating point deciding the labels."""
    import numpy as np

    from laanet.calibration.file import DataSummary, WeightsRef
    from laanet.calibration.fit import fit_calibration
    from laanet.inference.provenance import file_sha256

    rng = np.random.default_rng(4)
    logits = np.concatenate([rng.normal(-0.5, 0.4, 60), rng.normal(0.5, 0.4, 40)])
    labels = np.r_[np.zeros(60), np.ones(40)]
    cal = fit_calibration(logits, labels, weights=WeightsRef("tiny.pt", file_sha256(browser_weights)),
                          data=DataSummary("synthetic", "folder", 60, 40, images=100), scoring={}, fprs=(0.05, 0.2),
                          n_boot=20)
    path = cal.save(tmp_path_factory.mktemp("browser_cal") / "cal.json")
    options = InferenceOptions(weights=browser_weights, frames=4, device="cpu", calibration=path, operating_point="fpr20")
    settings = ServeSettings(options, jobs_dir=tmp_path_factory.mktemp("browser_cal_jobs"))
    with serve_in_thread(create_app(settings)) as url:
        yield url


VIDEO_GATE = threading.Event()  # cleared by a test: video analyses wait after their first frame
VIDEO_GATE.set()


class _GatedVideos:
    """The real detector; a video's analysis waits at :data:`VIDEO_GATE` after its first frame (so a test
    can see the page's progress display of a running job)."""

    def __init__(self, detector) -> None:
        self._detector = detector

    def __getattr__(self, name):
        return getattr(self._detector, name)

    def detect(self, source, *, on_frames=None, **options):
        if isinstance(source, Path) and on_frames is not None:
            seen = []

            def progress(n: int) -> None:
                on_frames(n)
                seen.append(n)
                if len(seen) == 1:
                    assert VIDEO_GATE.wait(WAIT_S), "the test never opened the gate"

            options["on_frames"] = progress
        elif on_frames is not None:
            options["on_frames"] = on_frames
        return self._detector.detect(source, **options)


@pytest.fixture(scope="module")
def screenshot_dir() -> Path:
    folder = Path(os.environ.get("LAANET_SCREENSHOT_DIR", Path(tempfile.gettempdir()) / "laanet-serve-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _upload_and_wait(driver, url: str, path: Path) -> str:
    """Open the page, choose ``path`` in the file input, wait for a verdict or an error; return the verdict."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(By.ID, "model").text.startswith("model:"))
    driver.find_element(By.ID, "file").send_keys(str(path))
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_element(By.ID, "result").is_displayed() or d.find_element(By.ID, "error").is_displayed()
    )
    error = driver.find_element(By.ID, "error")
    assert not error.is_displayed(), f"the page shows an error: {error.text}"
    return driver.find_element(By.ID, "verdict").text


def test_page_shows_verdict_score_and_face_heatmap(browser, server_url, screenshot_dir):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    verdict = _upload_and_wait(browser, server_url, sample_path("obama_portrait.jpg"))
    assert verdict in ("FAKE", "REAL")
    assert browser.find_element(By.ID, "score").text.startswith("P(fake) = 0.")
    assert "obama_portrait.jpg" in browser.find_element(By.ID, "meta").text
    # The overlay image decoded and one face crop was drawn from it.
    WebDriverWait(browser, WAIT_S).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#faces .face canvas")) == 1)
    assert browser.execute_script("return document.getElementById('overlay').naturalWidth") > 100
    assert not browser.find_element(By.ID, "timeline-box").is_displayed()  # images have no timeline
    browser.save_screenshot(str(screenshot_dir / "image.png"))


def test_page_shows_video_timeline(browser, server_url, screenshot_dir):
    from selenium.webdriver.common.by import By

    verdict = _upload_and_wait(browser, server_url, sample_path("clip_obama.mp4"))
    assert verdict in ("FAKE", "REAL")
    assert browser.find_element(By.ID, "timeline-box").is_displayed()
    points = browser.find_elements(By.CSS_SELECTOR, "#timeline circle.pt")
    assert len(points) == 4  # --frames 4
    points[0].click()  # selects the first frame: its overlay and caption are shown
    assert browser.find_element(By.ID, "frame-title").text.startswith("Heatmap overlay: frame 0 ")
    assert "4 frames sampled" in browser.find_element(By.ID, "meta").text
    browser.save_screenshot(str(screenshot_dir / "video.png"))


def test_page_follows_a_video_job_and_shows_flags(browser, server_url, screenshot_dir):
    """A video goes through POST /v1/jobs: the page shows the job's progress (held at frame 1 of 4 here), a
    cancel button, then the result; a result's ``flags`` are listed, escaped."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server_url)
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_element(By.ID, "model").text.startswith("model:"))
    VIDEO_GATE.clear()
    try:
        browser.find_element(By.ID, "file").send_keys(str(sample_path("clip_obama.mp4")))
        WebDriverWait(browser, WAIT_S).until(
            lambda d: d.find_element(By.ID, "status").text == "Analysing clip_obama.mp4: frame 1 of 4")
        bar = browser.find_element(By.ID, "progress")
        assert bar.get_attribute("value") == "1" and bar.get_attribute("max") == "4"
        assert browser.find_element(By.ID, "cancel").is_displayed()
        job_id = browser.execute_script("return JSON.parse(localStorage.getItem('laanet-job')).id")
        assert len(job_id) == 22 and job_id in browser.find_element(By.ID, "job").text
        browser.save_screenshot(str(screenshot_dir / "video_job_progress.png"))
    finally:
        VIDEO_GATE.set()
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_element(By.ID, "result").is_displayed())
    assert browser.find_element(By.ID, "status").text == "Done: clip_obama.mp4"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#timeline circle.pt")) == 4
    assert not browser.find_element(By.ID, "cancel").is_displayed() and not bar.is_displayed()
    assert browser.execute_script("return localStorage.getItem('laanet-job')") is None
    assert not browser.find_element(By.ID, "flags-box").is_displayed()  # this result has no flags
    # the job's HTML report is linked, and it is the report of this result
    report = browser.find_element(By.ID, "report")
    assert report.is_displayed() and report.get_attribute("href").endswith(f"/v1/jobs/{job_id}/report")
    import urllib.request

    with urllib.request.urlopen(report.get_attribute("href"), timeout=WAIT_S) as answer:
        html = answer.read().decode()
    assert answer.status == 200 and "laanet report: clip_obama.mp4" in html

    # Flags (added to results by the flags helper) are listed when a result has them, as text.
    browser.execute_script(
        "render(Object.assign({}, state.result, {flags: ["
        "  {code: 'small_face', message: 'faces of 40 px; the model needs 64'},"
        "  {code: 'blur', message: '<img src=x onerror=window.pwned=1>'}]}));")
    items = browser.find_elements(By.CSS_SELECTOR, "#flags li.flag")
    assert [li.get_attribute("data-code") for li in items] == ["small_face", "blur"]
    assert items[0].text == "small_face: faces of 40 px; the model needs 64"
    assert items[1].text == "blur: <img src=x onerror=window.pwned=1>"  # shown, not run
    assert browser.execute_script("return window.pwned === undefined")
    browser.save_screenshot(str(screenshot_dir / "video_job_flags.png"))


def test_page_shows_server_errors(browser, server_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    bad = tmp_path / "notes.txt"
    bad.write_text("not a picture")
    browser.get(server_url)
    browser.find_element(By.ID, "file").send_keys(str(bad))
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_element(By.ID, "error").is_displayed())
    assert browser.find_element(By.ID, "error").text.startswith("415:")
    assert not browser.find_element(By.ID, "result").is_displayed()


def test_page_shows_the_calibrated_answer_or_says_the_score_is_uncalibrated(browser, server_url, calibrated_url,
                                                                           screenshot_dir):
    import json

    from selenium.webdriver.common.by import By

    _upload_and_wait(browser, server_url, sample_path("obama_portrait.jpg"))
    assert browser.find_element(By.ID, "calibration").text.startswith("Uncalibrated score")
    assert not browser.find_element(By.ID, "report").is_displayed()  # an image answer is no job: no report link
    assert browser.find_element(By.ID, "model").text.endswith("threshold 0.5")

    verdict = _upload_and_wait(browser, calibrated_url, sample_path("grace_hopper.jpg"))
    result = json.loads(browser.find_element(By.ID, "json").get_attribute("textContent"))  # the answer as shown
    cal = result["calibration"]
    assert cal["calibrated"] and cal["operating_point"]["name"] == "fpr20"
    text = browser.find_element(By.ID, "calibration").text
    assert text.startswith(f"Calibrated P(fake) = {cal['probability']:.3f}: {cal['band']}")
    assert "operating point fpr20" in text and "cal.json" in text
    # the verdict and the threshold shown are the operating point's, not the 0.5 option
    assert verdict == result["label"].upper()
    threshold = cal["operating_point"]["threshold"]
    assert f"(threshold {threshold:.3f})" in browser.find_element(By.ID, "score").text
    # the header names the calibration and the threshold that decides labels (from /health)
    header = browser.find_element(By.ID, "model").text
    assert f"calibrated (cal.json), labels at operating point fpr20, threshold {threshold:.3f}" in header
    browser.save_screenshot(str(screenshot_dir / "calibrated.png"))
