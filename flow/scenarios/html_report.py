"""``voxflow test --report``: one self-contained HTML file a person can open, mail or attach to CI.

Nothing is fetched when it opens (no CDN, no font, no script from elsewhere): the styles and a
few lines of script are inline, the latency chart is inline SVG, and each run's stereo recording
is inside the page as a base64 ``data:`` URI, played by the browser's own ``<audio>`` element.
The page carries a compressed copy (Ogg Opus, :func:`audio.io.compressed_copy`): a 30 s run is a
2.9 MB WAV but about 0.2 MB in the page, so a 20-run suite is a 3.8 MB page one can mail. The
WAV stays the evidence on disk; the page names its path as text and links nothing outside itself.

Failures come first: the summary lists failing scenarios before passing ones, and the failed runs
follow it, open, before the latency section and the passing runs (folded). Every text that came
from a run (transcripts, tool arguments, file names, reasons) is escaped: a caller may say
``<script>``. The judge's checks are graded by a model and never decide a run, so they are shown
apart from the deterministic checks, with the judge's reason.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterable
from pathlib import Path

from audio.base.errors import VoxflowError
from audio.io import compressed_copy
from flow.scenarios.latency_stats import TurnLatency, turn_latencies
from flow.scenarios.results import Check, Run, Scenario, Suite, Turn
from flow.scenarios.run_transcript import transcript_lines

STUB_BADGE = ' <span class="badge stub">stubbed</span>'

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1180px;padding:16px 24px;color:#1d232a;background:#fff}
h1{font-size:22px;margin:4px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d7dde3;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
.meta{color:#56606b;margin:2px 0 12px}
table{border-collapse:collapse;margin:6px 0 10px}
th,td{border:1px solid #d7dde3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f2f5f8;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.verdict{font-weight:700;padding:1px 6px;border-radius:3px;white-space:nowrap}
.pass .verdict,.verdict.pass{color:#fff;background:#1f7a3a}.fail .verdict,.verdict.fail{color:#fff;background:#b3261e}
tr.fail td{background:#fdecea}
details.run{border:1px solid #d7dde3;border-radius:4px;margin:10px 0;padding:6px 10px}
details.run.fail{border-color:#b3261e;border-left-width:5px}
details.run>summary{cursor:pointer;font-weight:600}
.first-failure{color:#b3261e;font-family:ui-monospace,monospace;white-space:pre-wrap;margin:6px 0}
.check{font-family:ui-monospace,monospace;font-size:12.5px;white-space:pre-wrap}
.check.fail{color:#b3261e;font-weight:600}.check.pass{color:#1f7a3a}
.judge{background:#f5f2fb;border-left:4px solid #6b4fa8;padding:4px 10px;margin:8px 0}
.judge .check{color:#3b2d63}
.badge{font-size:11px;padding:0 5px;border-radius:3px;background:#e8e2f5;color:#4a3a80;margin-left:4px}
.badge.stub{background:#fff1c2;color:#6b5200}
.transcript{font-family:ui-monospace,monospace;font-size:12.5px;white-space:pre-wrap;background:#f7f9fb;padding:6px 8px;margin:6px 0}
.transcript .tool{color:#6b5200}.transcript .assistant{color:#134a8e}
.missing{color:#8a5a00}
button.seek{font:inherit;font-size:11px;padding:0 4px;cursor:pointer}
audio{width:100%;max-width:720px;margin:4px 0}
svg text{font:11px system-ui,sans-serif;fill:#1d232a}
"""

# seek buttons: jump the run's recording to the evidence of a check
_SCRIPT = """
document.querySelectorAll('button.seek').forEach(function (button) {
  button.addEventListener('click', function () {
    var audio = document.getElementById(button.dataset.audio);
    if (!audio) return;
    audio.currentTime = parseFloat(button.dataset.at);
    audio.play();
  });
});
"""


def html_report(suite: Suite) -> str:
    """The whole report as one HTML document; recordings are read from the paths the runs name."""
    runs = [(s_index, r_index, scenario, run) for s_index, scenario in enumerate(suite.scenarios)
            for r_index, run in enumerate(scenario.runs)]
    failed = [entry for entry in runs if not entry[3].passed]
    passed = [entry for entry in runs if entry[3].passed]
    verdict = "PASSED" if suite.passed else "FAILED"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>voxflow test: {verdict} ({len(suite.scenarios)} scenarios)</title>",
        f"<style>{_STYLE}</style></head><body>",
        f'<header><h1>voxflow test <span class="verdict {"pass" if suite.passed else "fail"}">{verdict}</span></h1>',
        f'<p class="meta">{_e(_meta(suite))}</p></header>',
        _summary(suite),
    ]
    if failed:
        parts.append(f'<section id="failures"><h2>Failed runs ({len(failed)})</h2>')
        parts += [_run(run, scenario, s_index, r_index, open_=True) for s_index, r_index, scenario, run in failed]
        parts.append("</section>")
    parts.append(_latency(suite))
    if passed:
        parts.append(f'<section id="passed"><h2>Passed runs ({len(passed)})</h2>')
        parts += [_run(run, scenario, s_index, r_index, open_=False) for s_index, r_index, scenario, run in passed]
        parts.append("</section>")
    parts += [f"<script>{_SCRIPT}</script>", "</body></html>", ""]
    return "\n".join(parts)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _meta(suite: Suite) -> str:
    bits = [f"provider {suite.provider}", f"transport {suite.transport}", f"-j {suite.jobs}"]
    if suite.shard:
        bits.append(f"shard {suite.shard}")
    if suite.started_at:
        bits.append(f"started {suite.started_at}")
    bits.append(f"took {suite.duration_s:.1f} s")
    runs = sum(len(scenario.runs) for scenario in suite.scenarios)
    passing = sum(scenario.passed for scenario in suite.scenarios)
    bits.append(f"{passing}/{len(suite.scenarios)} scenarios met their pass rate, {runs} runs")
    return " · ".join(bits)


def _ordered(suite: Suite) -> list[tuple[int, Scenario]]:
    """Failing scenarios first, each group in the suite's order."""
    indexed = list(enumerate(suite.scenarios))
    return [entry for entry in indexed if not entry[1].passed] + [entry for entry in indexed if entry[1].passed]


def _judged(scenario: Scenario) -> list[Check]:
    return [check for run in scenario.runs for turn in run.turns for check in turn.checks if not check.deterministic]


def _summary(suite: Suite) -> str:
    rows = []
    for index, scenario in _ordered(suite):
        low, high = scenario.interval
        judged = _judged(scenario)
        judge = f"{sum(check.passed for check in judged)}/{len(judged)} PASS" if judged else "–"
        state = "pass" if scenario.passed else "fail"
        rows.append(
            f'<tr class="{state}" data-scenario="{index}"><td>{_e(scenario.name)}</td><td>{_e(scenario.file)}</td>'
            f'<td class="num">{len(scenario.runs)}</td><td class="num">{scenario.passes}</td>'
            f'<td class="num">{scenario.rate:.0%}</td>'
            f'<td class="num wilson">{low:.0%} – {high:.0%}</td>'
            f'<td class="num">≥ {scenario.pass_rate:.0%}</td><td>{judge}</td>'
            f'<td><span class="verdict">{"PASS" if scenario.passed else "FAIL"}</span></td></tr>')
    return ('<section id="summary"><h2>Summary</h2><table><thead><tr><th>scenario</th><th>file</th><th>runs</th>'
            '<th>passes</th><th>rate</th><th>95 % Wilson interval</th><th>pass_rate</th><th>judge</th>'
            f'<th>verdict</th></tr></thead><tbody>{"".join(rows)}</tbody></table></section>')


def _latency(suite: Suite) -> str:
    parts = ['<section id="latency"><h2>Turn latency</h2>',
             '<p class="meta">End of the caller\'s speech to the first reply audio, per turn, across each '
             "scenario's runs.</p>"]
    shown = False
    for _, scenario in _ordered(suite):
        rows = turn_latencies(scenario)
        if not rows:
            continue
        shown = True
        cells = "".join(
            f'<tr><td class="num">{row.turn}</td><td class="num">{row.count}</td><td class="num">{row.p50:.2f} s</td>'
            f'<td class="num">{row.p90:.2f} s</td><td class="num">{row.max:.2f} s</td></tr>' for row in rows)
        parts.append(f"<h3>{_e(scenario.name)}</h3>"
                     '<table class="latency"><thead><tr><th>turn</th><th>runs</th><th>p50</th><th>p90</th><th>max</th>'
                     f"</tr></thead><tbody>{cells}</tbody></table>{latency_chart(rows, scenario.name)}")
    if not shown:
        parts.append('<p class="missing">No turn latency was measured.</p>')
    parts.append("</section>")
    return "".join(parts)


def latency_chart(rows: list[TurnLatency], title: str) -> str:
    """Grouped bars (p50, p90, max) per turn, as inline SVG with its own axis in seconds."""
    top = max(row.max for row in rows)
    scale_max = _nice_ceiling(top)
    left, right, upper, lower, plot_h, group_w, bar_w = 48, 12, 14, 34, 150, 64, 16
    width = left + right + group_w * len(rows) + 110
    height = upper + plot_h + lower
    colours = (("p50", "#4f8fd6"), ("p90", "#e0a030"), ("max", "#b3261e"))
    out = [f'<svg class="chart" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="turn latency of {_e(title)}">']

    def y_of(value: float) -> float:
        return upper + plot_h - plot_h * value / scale_max

    for tick in range(5):
        value = scale_max * tick / 4
        y = y_of(value)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right - 110}" y2="{y:.1f}" stroke="#e3e8ed"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:.2g} s</text>')
    for position, row in enumerate(rows):
        x0 = left + group_w * position + (group_w - 3 * bar_w) / 2
        for offset, (name, colour) in enumerate(colours):
            value = getattr(row, name)
            y = y_of(value)
            out.append(f'<rect x="{x0 + offset * bar_w:.1f}" y="{y:.1f}" width="{bar_w - 2}" '
                       f'height="{upper + plot_h - y:.1f}" fill="{colour}"><title>turn {row.turn} {name} '
                       f"{value:.2f} s</title></rect>")
        out.append(f'<text x="{left + group_w * position + group_w / 2:.1f}" y="{upper + plot_h + 16}" '
                   f'text-anchor="middle">turn {row.turn}</text>')
    out.append(f'<line x1="{left}" y1="{upper + plot_h}" x2="{width - right - 110}" y2="{upper + plot_h}" stroke="#56606b"/>')
    legend_x = width - 100
    for offset, (name, colour) in enumerate(colours):
        y = upper + 8 + offset * 18
        out.append(f'<rect x="{legend_x}" y="{y - 9}" width="12" height="12" fill="{colour}"/>'
                   f'<text x="{legend_x + 18}" y="{y + 1}">{name}</text>')
    out.append("</svg>")
    return "".join(out)


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value`` (a round axis top)."""
    if value <= 0:
        return 1.0
    base = 10.0 ** math.floor(math.log10(value))
    return next(base * step for step in (1, 2, 2.5, 5, 10) if base * step >= value * (1 - 1e-9))


def _run(run: Run, scenario: Scenario, s_index: int, r_index: int, *, open_: bool) -> str:
    state = "pass" if run.passed else "fail"
    audio_id = f"audio-{s_index}-{r_index}"
    head = (f'<details class="run {state}" id="run-{s_index}-{r_index}"{" open" if open_ else ""}>'
            f'<summary><span class="verdict">{"PASS" if run.passed else "FAIL"}</span> {_e(scenario.name)} '
            f'[run {run.run}] <span class="meta">{_e(scenario.file)} · seed {run.seed} · {run.duration_s:.1f} s'
            "</span></summary>")
    parts = [head]
    first = run.first_failure
    if first is not None:
        parts.append(f'<div class="first-failure">{_e(first)}</div>')
        if scenario.passed:
            parts.append(f'<p class="meta tolerated">Tolerated: {scenario.passes}/{len(scenario.runs)} runs passed, '
                         f"at least {scenario.pass_rate:.0%} had to.</p>")
    recording, playable = _recording(run, audio_id)
    parts.append(recording)
    seek_to = audio_id if playable else None
    parts.append(_turns(run.turns, seek_to))
    judged = [(turn, check) for turn in run.turns for check in turn.checks if not check.deterministic]
    if judged:
        parts.append('<div class="judge"><b>Judge</b> <span class="meta">graded by a model; reported apart, '
                     "it does not decide the run</span>")
        parts += [_check(turn, check, seek_to) for turn, check in judged]
        parts.append("</div>")
    parts.append(_transcript(run))
    parts.append("</details>")
    return "\n".join(parts)


def _recording(run: Run, audio_id: str) -> tuple[str, bool]:
    """The run's recording inside the page as Ogg Opus (and True), or a note saying why there is none."""
    if not run.recording:
        return '<p class="missing">No recording was kept for this run.</p>', False
    path = Path(run.recording)
    try:
        size = path.stat().st_size
        data = compressed_copy(path)
    except OSError as error:
        return f'<p class="missing">Recording {_e(run.recording)} could not be read: {_e(error.strerror or error)}</p>', False
    except VoxflowError as error:
        return (f'<p class="missing">Recording {_e(run.recording)} could not be put in the page: {_e(error)}</p>',
                False)
    encoded = base64.b64encode(data).decode("ascii")
    return (f'<p class="meta">Recording <span class="path">{_e(run.recording)}</span> ({size / 1e6:.2f} MB, '
            "kept on disk): caller on the left, assistant on the right. "
            f"In this page as Ogg Opus ({len(data) / 1e6:.2f} MB).</p>"
            f'<audio id="{audio_id}" controls preload="metadata" src="data:audio/ogg;base64,{encoded}"></audio>'), True


def _turns(turns: Iterable[Turn], audio_id: str | None) -> str:
    rows = []
    for turn in turns:
        state = "pass" if turn.passed else "fail"
        latency = f"{turn.latency_s:.2f} s" if turn.latency_s is not None else "–"
        if turn.talk_over_s:  # both audible at once: a barge-in, a backchannel, or talking over each other
            latency += f'<div class="meta">talk-over {turn.talk_over_s:.2f} s</div>'
        reply = _e(turn.reply) + (' <span class="badge">[interrupted]</span>' if turn.interrupted else "")
        heard = f'<div class="meta">heard: {_e(turn.heard)}</div>' if turn.heard else ""
        tools = "".join(
            f'<div class="check">{_e(call.name)}{STUB_BADGE if call.stubbed else ""} '
            f"{_e(json.dumps(call.arguments, ensure_ascii=False, sort_keys=True))} → {_e(call.output)}</div>"
            for call in turn.tool_calls)
        checks = "".join(_check(turn, check, audio_id) for check in turn.checks if check.deterministic)
        rows.append(f'<tr class="{state}" data-turn="{turn.index}"><td class="num">{turn.index}</td>'
                    f"<td>{_e(turn.said)}{heard}</td><td>{reply}</td><td class=\"num\">{latency}</td>"
                    f"<td>{tools or '–'}</td><td>{checks or '–'}</td></tr>")
    if not rows:
        return '<p class="missing">No turn was played.</p>'
    return ('<table class="turns"><thead><tr><th>turn</th><th>caller</th><th>reply</th><th>latency</th>'
            f'<th>tool calls</th><th>checks</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _check(turn: Turn, check: Check, audio_id: str | None) -> str:
    """One check as a line; with a recording in the page, its time is a button that seeks there."""
    state = "pass" if check.passed else "fail"
    mark = "✔" if check.passed else "✘"
    seek = ""
    if check.at_s is not None and audio_id is not None:
        seek = (f' <button class="seek" data-audio="{audio_id}" data-at="{check.at_s:.3f}">'
                f"▶ {check.at_s:.2f} s</button>")
    if check.deterministic:
        text = f"{mark} {check.kind}: expected {check.expected}, got {check.actual}"
    else:
        text = f"{mark} turn {turn.index}: {'PASS' if check.passed else 'FAIL'} — {check.expected}"
    reason = f"\n  reason: {check.reason}" if check.reason else ""
    return f'<div class="check {state}">{_e(text)}{_e(reason)}{seek}</div>'


def _transcript(run: Run) -> str:
    lines = transcript_lines(run)
    if not lines:
        return ""
    body = "\n".join(f'<span class="{_e(line.role)}">{_e(line.as_text())}</span>' for line in lines)
    return f'<h3>Transcript</h3><div class="transcript">{body}</div>'
