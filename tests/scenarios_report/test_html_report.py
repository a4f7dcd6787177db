"""The HTML report, read as a parser reads it: escaped, failures first, Wilson figures, latency, self-contained."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import av
import numpy as np
import pytest

from flow.scenarios.html_report import html_report
from flow.scenarios.latency_stats import percentile, turn_latencies
from flow.scenarios.results import Run, Scenario, Suite
from tests.scenarios_report.suites import (SCRIPT_TEXT, passing_suite, scenarios, suite, weather_run, write_speech_wav,
                                           write_stereo_wav)

VOID = {"meta", "br", "img", "input", "link", "hr", "source", "wbr", "rect", "line"}


class Page(HTMLParser):
    """Tags (checked to nest), script bodies, attributes and text of one document."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.scripts: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.text: list[str] = []
        self.rows: list[tuple[str, list[str]]] = []  # summary rows: (class, cell texts)
        self._in_script = False
        self._row: tuple[str, list[str]] | None = None
        self.feed(document)
        self.close()
        assert self.stack == [], f"unclosed: {self.stack}"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attributes += [(tag, name, value or "") for name, value in attrs]
        if tag == "script":
            self._in_script = True
            self.scripts.append("")
        if tag == "tr" and dict(attrs).get("data-scenario") is not None:
            self._row = (dict(attrs).get("class") or "", [])
        if tag in ("td",) and self._row is not None:
            self._row[1].append("")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()
        if tag == "script":
            self._in_script = False
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data
        self.text.append(data)
        if self._row is not None and self._row[1]:
            self._row[1][-1] += data


def test_a_caller_saying_script_stays_text() -> None:
    document = html_report(suite())
    page = Page(document)
    assert len(page.scripts) == 1 and "alert" not in page.scripts[0]  # only the report's own script
    assert "<script>alert" not in document
    assert "&lt;script&gt;alert(&#x27;caller&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;" in document
    assert SCRIPT_TEXT in "".join(page.text)  # and a reader sees exactly what was said


def test_names_and_files_are_escaped_in_attributes_too() -> None:
    hostile = '"><img src=x onerror=alert(1)>'
    run = Run(hostile, hostile, 1, 1, error=hostile, recording=f"/nonexistent/{hostile}.wav")
    page = Page(html_report(Suite((Scenario(hostile, hostile, 1.0, (run,)),))))
    assert not any(tag == "img" for tag, _, _ in page.attributes)
    assert not any(name.startswith("on") for _, name, _ in page.attributes)
    assert hostile in "".join(page.text)


def test_failures_come_first() -> None:
    document = html_report(suite())
    page = Page(document)
    assert [row[1][0] for row in page.rows] == ["barge in", "goodbye", "weather in Paris"]
    assert [row[0] for row in page.rows] == ["fail", "fail", "pass"]
    summary, failures, latency, passed = (document.index(f'id="{name}"') for name in ("summary", "failures", "latency", "passed"))
    assert summary < failures < latency < passed
    failed_runs = re.findall(r'<details class="run fail" id="run-(\d+)-(\d+)" open>', document)
    assert failed_runs == [("0", "4"), ("1", "1"), ("2", "0")]  # weather run 5, barge run 2, goodbye run 1
    assert document.index("weather in Paris [run 5]") < document.index("weather in Paris [run 1]")
    assert "Tolerated: 4/5 runs passed, at least 80% had to." in document


def test_the_summary_gives_rates_and_the_wilson_interval() -> None:
    rows = {row[1][0]: row[1] for row in Page(html_report(suite())).rows}
    # scenario, file, runs, passes, rate, 95 % Wilson, pass_rate, judge, verdict
    # Wilson 95 %: 4/5 -> [0.3755, 0.9638]; 1/2 -> [0.0945, 0.9055]; 0/1 -> [0, 0.7935]
    assert rows["weather in Paris"] == ["weather in Paris", "weather.yaml", "5", "4", "80%", "38% – 96%", "≥ 80%",
                                        "5/5 PASS", "PASS"]
    assert rows["barge in"] == ["barge in", "barge.yaml", "2", "1", "50%", "9% – 91%", "≥ 100%", "1/2 PASS", "FAIL"]
    assert rows["goodbye"] == ["goodbye", "weather.yaml", "1", "0", "0%", "0% – 79%", "≥ 100%", "–", "FAIL"]


def test_turn_latency_percentiles_per_turn_index() -> None:
    weather = scenarios()[0]
    first, second = turn_latencies(weather)
    assert (first.turn, first.count, first.p50, round(first.p90, 6), first.max) == (1, 5, 0.7, 1.52, 2.0)
    assert (second.turn, second.count) == (2, 5) and second.max == pytest.approx(0.45)
    assert percentile([3.0], 90) == 3.0 and percentile([1.0, 2.0], 50) == 1.5
    document = html_report(suite())
    table = document[document.index('id="latency"'):document.index('id="passed"')]
    assert "<h3>weather in Paris</h3>" in table
    assert ('<tr><td class="num">1</td><td class="num">5</td><td class="num">0.70 s</td><td class="num">1.52 s</td>'
            '<td class="num">2.00 s</td></tr>') in table
    chart = table[table.index("weather in Paris"):]
    chart = chart[chart.index("<svg"):chart.index("</svg>")]
    bars = re.findall(r'<rect x="[\d.]+" y="([\d.]+)" width="14" height="([\d.]+)"', chart)
    assert len(bars) == 6  # p50, p90, max for two turns
    heights = [float(height) for _, height in bars]
    assert heights[2] == max(heights) and heights[0] < heights[1] < heights[2]  # turn 1: p50 < p90 < max
    assert heights[1] / heights[2] == pytest.approx(1.52 / 2.0, rel=0.01)  # drawn to scale


def test_transcript_tool_calls_stubs_and_the_judge_apart() -> None:
    document = html_report(suite())
    weather5 = document[document.index('id="run-0-4"'):document.index('id="run-1-1"')]
    assert 'get_weather <span class="badge stub">stubbed</span>' in weather5
    assert "Tool: get_weather (stubbed) {&quot;city&quot;: &quot;Paris&quot;} -&gt; {&quot;forecast&quot;: &quot;sunny&quot;}" in weather5
    assert '<tr class="fail" data-turn="1">' in weather5 and '<tr class="pass" data-turn="2">' in weather5
    assert '<div class="check fail">✘ within: expected &lt;= 1.00s, got 2.00s' in weather5
    barge2 = document[document.index('id="run-1-1"'):document.index('id="run-2-0"')]
    judge = barge2[barge2.index('<div class="judge">'):]
    judge = judge[:judge.index("</div>\n")]
    assert "✘ turn 1: FAIL — the assistant confirms the booking" in judge
    assert "reason: it refused instead of booking" in judge
    turns = barge2[barge2.index('<table class="turns">'):barge2.index("</table>")]
    assert "confirms the booking" not in turns  # the judge is not among the deterministic checks
    assert "[interrupted]" in turns


OPUS_FRAME_S = 0.020
EMBEDDED = r'<audio id="audio-\d+-\d+" controls preload="metadata" src="data:audio/ogg;base64,([^"]+)">'


def wav_seconds(path: Path) -> tuple[float, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.rate, stream.channels


def decoded(data: bytes) -> tuple[str, int, np.ndarray]:
    """The embedded copy decoded by PyAV: its codec, its rate, and its samples as (channels, samples) floats."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [frame.to_ndarray() for frame in container.decode(stream)]
        return stream.codec_context.name, stream.rate, np.concatenate(frames, axis=1)


def test_the_recording_is_inside_the_page_as_ogg_opus(tmp_path: Path) -> None:
    wav = write_stereo_wav(tmp_path / "run.wav")
    document = html_report(suite(str(wav)))
    sources = re.findall(EMBEDDED, document)
    assert len(sources) == 7  # every run with a recording: 5 weather, 2 barge
    codec, rate, samples = decoded(base64.b64decode(sources[0]))
    seconds, channels = wav_seconds(wav)
    assert codec == "opus" and samples.shape[0] == channels == 2
    assert abs(samples.shape[1] / rate - seconds) <= OPUS_FRAME_S
    # the caller stays on the left (first half: 440 Hz), the assistant on the right (second half)
    half = samples.shape[1] // 2
    left_first, right_first = (np.sqrt(np.mean(channel[:half] ** 2)) for channel in samples)
    left_second, right_second = (np.sqrt(np.mean(channel[half:] ** 2)) for channel in samples)
    assert left_first > 30 * right_first and right_second > 30 * left_second
    page = Page(document)
    assert f"Recording {wav} (0.14 MB, kept on disk)" in "".join(page.text)  # the WAV is named, as text
    assert '<button class="seek" data-audio="audio-0-4" data-at="3.600">' in document


def test_a_speech_recording_is_a_small_fraction_of_its_wav(tmp_path: Path) -> None:
    wav = write_speech_wav(tmp_path / "run.wav", seconds=20.0)
    document = html_report(Suite((Scenario("weather in Paris", "weather.yaml", 0.8, (weather_run(1, str(wav)),)),)))
    (source,) = re.findall(EMBEDDED, document)
    data = base64.b64decode(source)
    wav_bytes = wav.stat().st_size
    assert len(data) < wav_bytes / 10 and len(document.encode()) < wav_bytes / 7
    _, rate, samples = decoded(data)
    assert samples.shape[0] == 2 and abs(samples.shape[1] / rate - 20.0) <= OPUS_FRAME_S


def test_the_same_recording_gives_the_same_page(tmp_path: Path) -> None:
    wav = write_stereo_wav(tmp_path / "run.wav")
    assert html_report(suite(str(wav))) == html_report(suite(str(wav)))


def test_nothing_is_fetched_from_elsewhere(tmp_path: Path) -> None:
    page = Page(html_report(suite(str(write_stereo_wav(tmp_path / "run.wav")))))
    for tag, name, value in page.attributes:
        if name in ("src", "href", "action", "srcset", "poster", "data"):
            assert value.startswith(("data:", "#")), (tag, name, value[:60])
    assert not any(tag in ("link", "iframe", "object", "embed", "img") for tag, _, _ in page.attributes)
    assert "http://" not in "".join(page.scripts) and "url(" not in html_report(passing_suite())


def test_a_missing_recording_is_said_not_hidden() -> None:
    document = html_report(suite("/nonexistent/run.wav"))
    assert "Recording /nonexistent/run.wav could not be read: No such file or directory" in document
    assert "<audio" not in document and 'class="seek"' not in document  # no button that seeks nothing


def test_a_recording_that_cannot_be_encoded_is_said(tmp_path: Path) -> None:
    damaged = tmp_path / "run.wav"
    damaged.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage, not audio" * 4)
    document = html_report(suite(str(damaged)))
    assert f"Recording {damaged} could not be put in the page: &#x27;{damaged}&#x27;" in document
    assert "<audio" not in document and 'class="seek"' not in document
