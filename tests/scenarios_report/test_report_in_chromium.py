"""The HTML report in a real headless Chromium: the summary and a failing turn on the first screen, the recording plays.

The page loads from a file with nothing fetched from the network (every request the browser
makes is recorded: the page's own file, then only ``data:`` URIs), the ``<audio>`` element decodes the
Ogg Opus copy of the real stereo WAV embedded in the page (its duration is the WAV's), and the screenshot's pixels
show the summary's red FAIL badge and the failing turn's row in its failure colour. A check's time
button moves the run's recording to the evidence.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flow.scenarios.html_report import html_report
from tests.scenarios_report.browser import CHROMIUM, Chromium, png_pixels
from tests.scenarios_report.suites import suite, write_stereo_wav

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120),
              pytest.mark.skipif(shutil.which("chromium") is None and not Path(CHROMIUM).exists(),
                                 reason="Debian's chromium is not installed (.ci/run installs it)")]

WIDTH, HEIGHT = 1280, 1400
FAIL_RED = (179, 38, 30)  # .verdict on a failed row: #b3261e
FAIL_ROW = (253, 236, 234)  # tr.fail td: #fdecea

GEOMETRY = """
(() => {
  const box = (element) => { const r = element.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height}; };
  return {
    summary: box(document.querySelector('#summary table')),
    badge: box(document.querySelector('#summary tr.fail .verdict')),
    failingTurn: box(document.querySelector('#failures tr.fail[data-turn] td')),
    failingText: document.querySelector('#failures tr.fail[data-turn]').innerText,
  };
})()
"""

AUDIO = """
new Promise((resolve) => {
  const audio = document.querySelector('audio');
  const report = () => resolve({duration: audio.duration, error: audio.error && audio.error.code,
                                 readyState: audio.readyState, source: audio.currentSrc.slice(0, 28)});
  if (audio.readyState >= 1) { report(); return; }
  audio.addEventListener('loadedmetadata', report);
  audio.addEventListener('error', report);
  audio.load();
})
"""


SEEK = """
new Promise((resolve) => {
  const button = document.querySelector('button.seek[data-audio="audio-0-4"][data-at="3.600"]');
  const audio = document.getElementById('audio-0-4');
  audio.addEventListener('seeked', () => resolve({at: audio.currentTime, readyState: audio.readyState}), {once: true});
  button.click();
})
"""


def colour_near(pixel: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


async def test_the_report_opens_in_chromium(tmp_path: Path) -> None:
    wav = write_stereo_wav(tmp_path / "run.wav", seconds=4.0)
    page_file = tmp_path / "report.html"
    page_file.write_text(html_report(suite(str(wav))), encoding="utf-8")
    browser = Chromium(tmp_path / "profile", WIDTH, HEIGHT)
    try:
        await browser.start()
        await browser.call("Network.enable")
        await browser.call("Page.enable")
        await browser.call("Page.navigate", url=page_file.as_uri())
        await browser.wait_event("Page.loadEventFired")

        audio = await browser.evaluate(AUDIO)
        assert audio["error"] is None and audio["readyState"] >= 1, audio
        assert audio["source"] == "data:audio/ogg;base64,T2dnUw", audio  # "OggS": the compressed copy
        assert audio["duration"] == pytest.approx(4.0, abs=0.01)
        # a check's time button puts the run's recording at the evidence, decoded there
        seeked = await browser.evaluate(SEEK)
        assert seeked["at"] == pytest.approx(3.6, abs=0.01) and seeked["readyState"] >= 2, seeked

        where = await browser.evaluate(GEOMETRY)
        assert "within: expected <= 1.00s, got 2.00s" in where["failingText"]
        for name in ("summary", "badge", "failingTurn"):  # on the first screen, without scrolling
            box = where[name]
            assert 0 <= box["y"] and box["y"] + box["h"] <= HEIGHT and box["w"] > 0, (name, box)

        shot = await browser.screenshot()
        (tmp_path / "report.png").write_bytes(shot)
        pixels = png_pixels(shot)
        assert (len(pixels[0]), len(pixels)) == (WIDTH, HEIGHT)
        badge, row = where["badge"], where["failingTurn"]
        badge_pixel = pixels[int(badge["y"] + badge["h"] / 2)][int(badge["x"] + 2)]
        row_pixel = pixels[int(row["y"] + 3)][int(row["x"] + 3)]
        assert colour_near(badge_pixel, FAIL_RED), badge_pixel
        assert colour_near(row_pixel, FAIL_ROW, 4), row_pixel

        requested = [event["params"]["request"]["url"] for event in browser.events
                     if event["method"] == "Network.requestWillBeSent"]
        assert requested[0] == page_file.as_uri()
        assert all(url.startswith("data:") for url in requested[1:]), [url[:80] for url in requested]
    finally:
        await browser.close()
    assert browser.process is not None and browser.process.poll() is not None
